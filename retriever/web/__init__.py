"""Articles from the web: fetching a link safely (`fetch`) and extracting its article (`extract`).

`fetch_article(url)` is what `/index https://…`, `newsqa index https://…` and the feed poller use.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from retriever.ingest import Article
from retriever.web.charset import decode_page
from retriever.web.extract import NoArticleError, extract_page, page_article
from retriever.web.fetch import (
    HTML_TYPES,
    Fetcher,
    FetchError,
    FetchLimits,
    InvalidURLError,
    RefusedURLError,
    UnsafeURLError,
    check_url,
)

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


@dataclass(frozen=True)
class FetchedArticle:
    article: Article
    fetch_seconds: float
    extract_seconds: float


def fetch_article(
    url: str,
    fetcher: Fetcher | None = None,
    limits: FetchLimits | None = None,
    fallback_title: str = "",
    fallback_date: str = "",
) -> FetchedArticle:
    """Fetch a page and extract its article; the source is the URL as given (not the redirect target),
    so the same link always maps to the same source. Raises FetchError (NoArticleError for a page
    without article text)."""
    own = fetcher is None
    client = fetcher or Fetcher(limits)
    try:
        started = time.perf_counter()
        result = client.get(url, accept=HTML_TYPES, what="page")
        fetched = time.perf_counter()
        text = decode_page(result.body, result.content_type)  # the declared charset, not a guess
        page = extract_page(text, result.url, fallback_title, fallback_date)
        article = page_article(page, check_url(url, allow_private=True))
        return FetchedArticle(article, fetched - started, time.perf_counter() - fetched)
    finally:
        if own:
            client.close()


def is_url(value: str) -> bool:
    """Whether a command-line or chat argument is meant as a link (`scheme://…`; only http and https
    are then fetched, the others refused with a clear message)."""
    return _SCHEME.match(value.strip()) is not None


__all__ = [
    "FetchError",
    "FetchLimits",
    "FetchedArticle",
    "Fetcher",
    "InvalidURLError",
    "NoArticleError",
    "RefusedURLError",
    "UnsafeURLError",
    "check_url",
    "fetch_article",
    "is_url",
]
