"""`newsqa index https://…`: links on the command line are fetched, extracted and indexed.

`retriever.cli.cmd_index` hands the arguments that are links to `index_urls`; files and folders
stay with it. A running bot picks the new articles up at its next refresh and sends their digests.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any

from retriever.web import FetchError, is_url


def split_urls(args: Sequence[str]) -> tuple[list[str], list[str]]:
    """(links, everything else)."""
    return [a for a in args if is_url(a)], [a for a in args if not is_url(a)]


def index_urls(service: Callable[[], Any], urls: Sequence[str]) -> int:
    """Index each link; prints one line per link. Returns the exit code (1 when any failed)."""
    qa = service()
    failed = 0
    for url in urls:
        try:
            result = qa.index_url(url)
        except (FetchError, ValueError) as exc:  # ValueError: ArticleError
            failed += 1
            print(f"error: {exc}", file=sys.stderr)
            continue
        print(f"{url}: {result.describe()}")
    return 1 if failed else 0
