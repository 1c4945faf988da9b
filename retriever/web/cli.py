"""`newsqa index https://…`: links on the command line are fetched, extracted and indexed.

`retriever.cli.cmd_index` hands the arguments that are links to `index_urls`; files and folders
stay with it. A running bot picks the new articles up at its next refresh and sends their digests.
Each link that cannot be indexed (a refused or malformed URL, a fetch error, no article text) is one
`error: URL: reason` line and the exit status 1; the other links and files still go in.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from retriever.web import FetchError, is_url

if TYPE_CHECKING:
    from retriever.indexer import Progress


def split_urls(args: Sequence[str]) -> tuple[list[str], list[str]]:
    """(links, everything else)."""
    return [a for a in args if is_url(a)], [a for a in args if not is_url(a)]


def index_urls(
    service: Callable[[], Any],
    urls: Sequence[str],
    *,
    stop: Callable[[], bool] | None = None,
    progress: Callable[[str], Progress | None] | None = None,
) -> int:
    """Index each link; prints one line per link. Returns the exit code (1 when any failed).
    `stop()` is asked before each link (SIGTERM); `progress(url)` gives the link's progress display."""
    qa = service()
    failed = 0
    for url in urls:
        if stop is not None and stop():
            break
        try:
            result = qa.index_url(url, progress(url) if progress else None)
        except (FetchError, ValueError) as exc:  # ValueError: ArticleError
            failed += 1
            print(f"error: {exc}", file=sys.stderr, flush=True)
            continue
        print(f"{url}: {result.describe()}", flush=True)
    return 1 if failed else 0
