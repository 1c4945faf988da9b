"""The retrieval core as the bot sees it: `NewsQA`'s blocking calls, run off the event loop.

The bot holds one `AsyncQA` per process (in `application.bot_data`). Every call runs in a worker
thread via `asyncio.to_thread`; writes (indexing, refresh) are serialised by a lock so two uploads
never index concurrently. Nothing here knows how the pipeline works.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Protocol

from retriever.ingest import Article
from retriever.models import Answer, ArticleInfo, Digest, IndexResult
from retriever.settings import Settings
from retriever.web import FetchLimits, fetch_article


class NewsQALike(Protocol):
    """The part of `retriever.service.NewsQA` the bot uses."""

    def warm_up(self) -> None: ...

    def ask(self, question: str, article_id: str | None = None) -> Answer: ...

    def index_article(self, article: Article) -> IndexResult: ...

    def index_file(self, path: Path) -> IndexResult: ...

    def index_text(self, text: str, source: str) -> IndexResult: ...

    def articles(self) -> list[ArticleInfo]: ...

    def digest(self, article_id: str | None = None) -> Digest: ...

    def refresh(self) -> bool: ...


def create_newsqa(settings: Settings) -> NewsQALike:
    """The real pipeline (imported lazily: it pulls in haystack and torch)."""
    from retriever.service import NewsQA

    return NewsQA(settings)


class AsyncQA:
    """Async wrapper: each call runs the blocking core in a thread."""

    def __init__(self, qa: NewsQALike) -> None:
        self.qa = qa
        self._write_lock = asyncio.Lock()

    async def warm_up(self) -> None:
        await asyncio.to_thread(self.qa.warm_up)

    async def ask(self, question: str, article_id: str | None = None) -> Answer:
        """`article_id`: a follow-up about that article, which is asked first."""
        if article_id is None:
            return await asyncio.to_thread(self.qa.ask, question)
        return await asyncio.to_thread(self.qa.ask, question, article_id)

    async def articles(self) -> list[ArticleInfo]:
        return await asyncio.to_thread(self.qa.articles)

    async def digest(self, article_id: str | None = None) -> Digest:
        return await asyncio.to_thread(self.qa.digest, article_id)

    async def index_text(self, text: str, source: str) -> IndexResult:
        async with self._write_lock:
            return await asyncio.to_thread(self.qa.index_text, text, source)

    async def index_url(self, url: str, limits: FetchLimits) -> IndexResult:
        """Fetch, extract and index a link (raises retriever.web.FetchError)."""

        def fetch_and_index() -> IndexResult:
            return self.qa.index_article(fetch_article(url, limits=limits).article)

        async with self._write_lock:
            return await asyncio.to_thread(fetch_and_index)

    async def refresh(self) -> bool:
        async with self._write_lock:
            return await asyncio.to_thread(self.qa.refresh)
