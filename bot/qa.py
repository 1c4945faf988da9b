"""The retrieval core as the bot sees it: `NewsQA`'s blocking calls, run off the event loop.

The bot holds one `AsyncQA` per process (in `application.bot_data`). Every call runs in a worker
thread via `asyncio.to_thread`; writes (indexing, refresh) are serialised by a lock so two uploads
never index concurrently. Nothing here knows how the pipeline works.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Protocol

from retriever.models import Answer, ArticleInfo, Digest, IndexResult
from retriever.settings import Settings


class NewsQALike(Protocol):
    """The part of `retriever.service.NewsQA` the bot uses."""

    def warm_up(self) -> None: ...

    def ask(self, question: str) -> Answer: ...

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

    async def ask(self, question: str) -> Answer:
        return await asyncio.to_thread(self.qa.ask, question)

    async def articles(self) -> list[ArticleInfo]:
        return await asyncio.to_thread(self.qa.articles)

    async def digest(self, article_id: str | None = None) -> Digest:
        return await asyncio.to_thread(self.qa.digest, article_id)

    async def index_text(self, text: str, source: str) -> IndexResult:
        async with self._write_lock:
            return await asyncio.to_thread(self.qa.index_text, text, source)

    async def refresh(self) -> bool:
        async with self._write_lock:
            return await asyncio.to_thread(self.qa.refresh)
