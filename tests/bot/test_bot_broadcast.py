"""Unit tests of the digest sender: concurrency across chats, delivery order within a chat."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any, cast

from telegram.error import RetryAfter

from bot.broadcast import Broadcaster
from bot.repository import PendingDelivery, Repository
from retriever.models import ArticleInfo, Citation, Digest

CHATS = (101, 102, 103)
ARTICLES = ("a", "b", "c")


def article(article_id: str, minutes_from_now: float) -> ArticleInfo:
    indexed = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=minutes_from_now)
    return ArticleInfo(article_id, f"Titel {article_id}", "2024-05", 1, "x.txt", indexed.isoformat())


class FakeQA:
    async def digest(self, article_id: str | None = None) -> Digest:
        info = article(article_id or "a", 0)
        return Digest(info, (Citation(1, info.article_id, info.title, info.date, 1, "Kernsatz."),))


class FakeBot:
    """Records (chat, article) in the order the sends complete; `hold` makes a send wait until its
    condition holds, `fail` makes one send raise."""

    def __init__(self) -> None:
        self.arrived: list[tuple[int, str]] = []
        self.hold: dict[tuple[int, str], Callable[[], bool]] = {}
        self.fail: dict[tuple[int, str], Exception] = {}
        self._arrival = asyncio.Condition()

    async def send_message(self, chat_id: int, text: str, reply_markup: Any = None) -> Any:
        key = (chat_id, next(a for a in ARTICLES if f"Titel {a}" in text))
        if (error := self.fail.pop(key, None)) is not None:
            raise error
        async with self._arrival:
            if (ready := self.hold.get(key)) is not None:
                await asyncio.wait_for(self._arrival.wait_for(ready), timeout=5)
            self.arrived.append(key)
            self._arrival.notify_all()
        return SimpleNamespace(message_id=len(self.arrived))

    def to(self, chat_id: int) -> list[str]:
        return [ref for chat, ref in self.arrived if chat == chat_id]


async def record_deliveries(repo: Repository) -> None:
    """Three digests to each of three chats; delivery ids interleave the chats (a: 1-3, b: 4-6, ...)."""
    for chat in CHATS:
        await repo.subscribe(chat, chat_type="private", language="de", timezone="Europe/Berlin")
    for ref in ARTICLES:
        assert await repo.fan_out(article(ref, +1)) == len(CHATS)


def broadcaster(repo: Repository, bot: FakeBot) -> Broadcaster:
    application = cast(Any, SimpleNamespace(bot=bot, running=True))
    return Broadcaster(application, repo, cast(Any, FakeQA()), rate=1000.0, concurrency=8)


async def test_pending_lists_each_delivery_with_its_chat_in_recorded_order(repo: Repository) -> None:
    await record_deliveries(repo)
    pending = await repo.pending()
    assert [p.id for p in pending] == sorted(p.id for p in pending)
    assert all(isinstance(p, PendingDelivery) for p in pending)
    assert [sorted(p.chat_id for p in pending[i : i + 3]) for i in (0, 3, 6)] == [list(CHATS)] * 3


async def test_each_chat_gets_its_digests_in_order_while_other_chats_go_ahead(repo: Repository) -> None:
    await record_deliveries(repo)
    bot = FakeBot()
    # The first digest of the first chat is slow: it arrives once the other chats have all theirs.
    bot.hold[(CHATS[0], "a")] = lambda: all(len(bot.to(chat)) == len(ARTICLES) for chat in CHATS[1:])
    report = await broadcaster(repo, bot).drain()
    # Sent one by one (old behaviour: "b" and "c" overtook the slow "a" of the first chat) ...
    assert {chat: bot.to(chat) for chat in CHATS} == {chat: list(ARTICLES) for chat in CHATS}
    # ... and the other chats did not wait for the slow one.
    assert bot.arrived[-len(ARTICLES) :] == [(CHATS[0], ref) for ref in ARTICLES]
    assert report.sent == len(CHATS) * len(ARTICLES) and report.released == 0
    assert await repo.pending() == []


async def test_a_digest_left_pending_holds_back_the_later_ones_of_its_chat(repo: Repository) -> None:
    await record_deliveries(repo)
    bot = FakeBot()
    bot.fail[(CHATS[0], "a")] = RetryAfter(3600)  # too long to wait: left for the next pass
    first = await broadcaster(repo, bot).drain()
    assert bot.to(CHATS[0]) == [] and all(bot.to(chat) == list(ARTICLES) for chat in CHATS[1:])
    assert first.released == 1 and {p.chat_id for p in await repo.pending()} == {CHATS[0]}
    second = await broadcaster(repo, bot).drain()
    assert bot.to(CHATS[0]) == list(ARTICLES)
    assert second.sent == len(ARTICLES) and await repo.pending() == []
