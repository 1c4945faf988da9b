"""Digest fan-out: recording who gets which digest, and sending the recorded digests.

Recording (`fan_out_new_articles`, `record_daily`) writes one `pending` row per chat and digest to
the delivery ledger; the UNIQUE key makes it idempotent. Sending (`drain`) claims each pending row
(`pending -> sending`), sends, and confirms (`sent`/`failed`/`skipped`), paced to
`NEWSQA_BROADCAST_RATE` messages per second below Telegram's 30 per second, and every request also
goes through the application's `AIORateLimiter`. Chats are served concurrently, each chat's digests
one after the other in the order they were recorded.

When the application stops, `drain` stops claiming rows and lets the sends in flight finish, so a
restart sends each remaining `pending` row exactly once. Only a process killed while a request is
in flight leaves a row `sending`; it is sent again at the next start (at-least-once for that
request, the only case where Telegram gives no way to tell).

Errors while sending: `RetryAfter` -> wait the given time and retry; `Forbidden` (blocked, kicked)
or "chat not found" -> deactivate the subscription; `ChatMigrated` -> move the subscription to the
new supergroup id and send there; network errors -> retry a few times, then leave the row pending
for the next pass (failed after `MAX_ATTEMPTS` passes).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiolimiter import AsyncLimiter
from telegram import InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest, ChatMigrated, Forbidden, NetworkError, RetryAfter, TelegramError
from telegram.ext import Application
from telegram.warnings import PTBDeprecationWarning

from bot.db import KIND_DAILY, SENDING
from bot.formatting import format_digest
from bot.qa import AsyncQA
from bot.repository import ClaimedDelivery, Repository
from bot.texts import normalise_lang, t
from retriever.models import Digest

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 5  # passes over a delivery before it is marked failed
SEND_TRIES = 4  # tries of one message within a pass (network errors, RetryAfter)
MAX_RETRY_AFTER = 300.0  # seconds; longer waits release the row for a later pass
GONE_CHAT_ERRORS = ("chat not found", "user not found", "bot was kicked", "have no rights to send")

UNSUBSCRIBE_DATA = "unsub"
SUBSCRIBE_DATA = "sub"


def retry_seconds(exc: RetryAfter) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value: Any = exc.retry_after
    return value.total_seconds() if isinstance(value, dt.timedelta) else float(value)


def unsubscribe_keyboard(lang: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    t(normalise_lang(lang), "button_unsubscribe"), callback_data=UNSUBSCRIBE_DATA
                )
            ]
        ]
    )


@dataclass
class BroadcastReport:
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    deactivated: int = 0
    migrated: int = 0
    retried: int = 0
    released: int = 0
    started: float = field(default_factory=time.monotonic)
    finished: float = 0.0

    @property
    def seconds(self) -> float:
        return (self.finished or time.monotonic()) - self.started


class Broadcaster:
    """Records and sends digests to subscribers."""

    def __init__(
        self,
        application: Application[Any, Any, Any, Any, Any, Any],
        repo: Repository,
        qa: AsyncQA,
        rate: float = 25.0,
        concurrency: int = 32,
        is_running: Callable[[], bool] | None = None,
        on_chat_changed: Callable[[int], Awaitable[None]] | None = None,
    ) -> None:
        self.application = application
        # Told when a chat was deactivated or moved, so the owner of the daily jobs can resync them
        # (the jobs module depends on the broadcaster, never the other way round).
        self._on_chat_changed = on_chat_changed
        self.repo = repo
        self.qa = qa
        self.concurrency = concurrency
        self._pacer = AsyncLimiter(1, 1.0 / rate)  # evenly spaced, no bursts
        self._is_running = is_running or (lambda: application.running)
        self._fanout_lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._again = False
        self._digests: dict[str, asyncio.Future[Digest]] = {}
        self.last_report: BroadcastReport | None = None

    # -- recording ----------------------------------------------------------------------------

    async def fan_out_new_articles(self) -> int:
        """Record a delivery of each not yet fanned-out article to its subscribers."""
        async with self._fanout_lock:
            articles = await self.qa.articles()
            recorded = 0
            for article in await self.repo.unseen_articles(articles):
                count = await self.repo.fan_out(article)
                recorded += count
                logger.info(
                    "Article %s (%r) recorded for %d subscriber(s)", article.article_id, article.title, count
                )
            return recorded

    async def record_daily(self, chat_id: int, day: str) -> bool:
        """Record the daily digest of local date `day` for a chat (of the newest article)."""
        articles = await self.qa.articles()
        if not articles:
            logger.info("Daily digest for chat %s skipped: no articles", chat_id)
            return False
        recorded = await self.repo.record_daily(chat_id, day, articles[0].article_id)
        if recorded:
            logger.info("Daily digest %s recorded for chat %s", day, chat_id)
        return recorded

    # -- sending ------------------------------------------------------------------------------

    def kick(self) -> None:
        """Send whatever is pending, in the background (one sender task at a time). Does nothing
        while the application is stopping: what is pending is sent after the next start."""
        if not self._is_running():
            return
        if self._task is not None and not self._task.done():
            self._again = True
            return
        self._task = self.application.create_task(self._drain_loop(), name="newsqa-broadcast")

    async def wait_idle(self) -> None:
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)

    async def _drain_loop(self) -> None:
        while True:
            self._again = False
            try:
                await self.drain()
            except Exception:
                logger.exception("Broadcast pass failed; pending deliveries stay pending")
                return
            if not self._again or not self._is_running():
                return

    async def drain(self) -> BroadcastReport:
        """Send every pending delivery; stops claiming new ones when the application stops.

        Chats are served concurrently, but each chat's deliveries one after the other in the order
        they were recorded: one worker takes a whole chat's queue, so its digests arrive in order.
        A delivery left pending (rate limited, network) holds back the rest of its chat's queue
        until a later pass, which keeps that order too."""
        report = BroadcastReport()
        pending = await self.repo.pending()
        if pending:
            logger.info("Sending %d pending digest(s)", len(pending))
            by_chat: dict[int, list[int]] = {}
            for delivery in pending:  # ordered by delivery id, so each chat's list is too
                by_chat.setdefault(delivery.chat_id, []).append(delivery.id)
            chats: asyncio.Queue[list[int]] = asyncio.Queue()
            for delivery_ids in by_chat.values():
                chats.put_nowait(delivery_ids)

            async def worker() -> None:
                while self._is_running():
                    try:
                        delivery_ids = chats.get_nowait()
                    except asyncio.QueueEmpty:
                        return
                    await self._deliver_in_order(delivery_ids, report)

            await asyncio.gather(*(worker() for _ in range(min(self.concurrency, len(by_chat)))))
            self._digests.clear()
        report.finished = time.monotonic()
        self.last_report = report
        if pending:
            logger.info(
                "Broadcast pass: %d sent, %d failed, %d skipped, %d deactivated, %d left pending in %.1f s",
                report.sent,
                report.failed,
                report.skipped,
                report.deactivated,
                report.released,
                report.seconds,
            )
        return report

    async def _deliver_in_order(self, delivery_ids: list[int], report: BroadcastReport) -> None:
        """Send one chat's deliveries sequentially; stop at the first one left pending."""
        for delivery_id in delivery_ids:
            if not self._is_running():
                return
            try:
                settled = await self.deliver(delivery_id, report)
            except Exception:
                logger.exception("Delivery %s failed unexpectedly; it stays pending", delivery_id)
                await self.repo.release(delivery_id, "internal error")
                report.released += 1
                settled = False
            if not settled:
                return  # the later digests of this chat wait for this one (next pass)

    async def _digest(self, article_id: str | None) -> Digest:
        key = article_id or ""
        future = self._digests.get(key)
        if future is None:
            future = asyncio.get_running_loop().create_future()
            self._digests[key] = future
            try:
                future.set_result(await self.qa.digest(article_id))
            except BaseException as exc:
                future.set_exception(exc)
                del self._digests[key]
                future.exception()  # retrieved: no "never retrieved" warning
                raise
        return await asyncio.shield(future)

    async def render(self, delivery: ClaimedDelivery) -> list[str]:
        """The messages of a delivery; raises KeyError when its article is gone."""
        lang = normalise_lang(delivery.language)
        if delivery.kind == KIND_DAILY:
            try:
                digest = await self._digest(delivery.article_id)
            except KeyError:
                digest = await self._digest(None)
            day = dt.date.fromisoformat(delivery.ref)
            header = t(
                lang, "digest_daily_header", day=day.strftime("%d.%m.%Y" if lang == "de" else "%Y-%m-%d")
            )
        else:
            digest = await self._digest(delivery.article_id or delivery.ref)
            header = t(lang, "digest_new_header")
        return format_digest(digest, lang, header=header)

    async def deliver(self, delivery_id: int, report: BroadcastReport | None = None) -> bool:
        """Claim, send and confirm one delivery. False when it was left pending for a later pass."""
        report = report or BroadcastReport()
        claimed = await self.repo.claim(delivery_id)
        if claimed is None:
            return True
        try:
            messages = await self.render(claimed)
        except KeyError:
            await self.repo.mark_skipped(claimed.id, "article no longer indexed")
            report.skipped += 1
            return True
        chat_id = claimed.chat_id
        markup = unsubscribe_keyboard(claimed.language)
        part = 0
        tries = 0
        message_id: int | None = None
        while part < len(messages):
            tries += 1
            try:
                await self._pacer.acquire()
                sent = await self.application.bot.send_message(
                    chat_id, messages[part], reply_markup=markup if part == len(messages) - 1 else None
                )
                message_id = sent.message_id
                part += 1
                tries = 0
            except RetryAfter as exc:
                wait = retry_seconds(exc)
                report.retried += 1
                if tries >= SEND_TRIES or wait > MAX_RETRY_AFTER or not await self._sleep(wait):
                    return await self._give_back(claimed, f"rate limited ({wait:.0f} s)", report)
                logger.warning("RetryAfter %.1f s while sending to chat %s; waiting", wait, chat_id)
            except ChatMigrated as exc:
                new_chat_id = int(exc.new_chat_id)
                logger.info("Chat %s migrated to %s; moving its subscription", chat_id, new_chat_id)
                await self.repo.migrate_chat(chat_id, new_chat_id)
                await self._reschedule(new_chat_id, old_chat_id=chat_id)
                report.migrated += 1
                chat_id = new_chat_id
                if await self.repo.delivery_status(claimed.id) != SENDING:
                    report.skipped += 1  # the supergroup had this digest already
                    return True
                if tries >= SEND_TRIES:
                    return await self._give_back(claimed, "chat migrated repeatedly", report)
            except Forbidden as exc:
                await self._deactivate(claimed, chat_id, f"forbidden: {exc.message}", report)
                return True
            except BadRequest as exc:
                if any(marker in exc.message.lower() for marker in GONE_CHAT_ERRORS):
                    await self._deactivate(claimed, chat_id, f"gone: {exc.message}", report)
                else:
                    logger.error("Telegram refused a digest for chat %s: %s", chat_id, exc.message)
                    await self.repo.mark_failed(claimed.id, f"bad request: {exc.message}")
                    report.failed += 1
                return True
            except NetworkError as exc:  # includes TimedOut
                report.retried += 1
                if tries >= SEND_TRIES or not await self._sleep(min(2.0**tries, 30.0)):
                    return await self._give_back(claimed, f"network: {exc.message}", report)
            except TelegramError as exc:
                logger.error("Sending a digest to chat %s failed: %s", chat_id, exc)
                return await self._give_back(claimed, f"telegram: {exc}", report)
        await self.repo.mark_sent(claimed.id, message_id, chat_id=chat_id)
        report.sent += 1
        return True

    async def _sleep(self, seconds: float) -> bool:
        """Sleep, waking early when the application stops; False if it stopped."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if not self._is_running():
                return False
            await asyncio.sleep(min(left, 0.25))
        return self._is_running()

    async def _give_back(self, claimed: ClaimedDelivery, error: str, report: BroadcastReport) -> bool:
        """Leave a delivery pending for a later pass, or fail it after `MAX_ATTEMPTS` passes; returns
        True when it is settled (failed), False when it stays pending."""
        if claimed.attempts >= MAX_ATTEMPTS:
            logger.error(
                "Giving up digest %s for chat %s after %d passes: %s",
                claimed.id,
                claimed.chat_id,
                claimed.attempts,
                error,
            )
            await self.repo.mark_failed(claimed.id, error)
            report.failed += 1
            return True
        await self.repo.release(claimed.id, error)
        report.released += 1
        return False

    async def _deactivate(
        self, claimed: ClaimedDelivery, chat_id: int, reason: str, report: BroadcastReport
    ) -> None:
        logger.info("Deactivating the subscription of chat %s (%s)", chat_id, reason)
        await self.repo.mark_failed(claimed.id, reason)
        await self.repo.unsubscribe(chat_id, reason=reason)
        await self._reschedule(chat_id)
        report.failed += 1
        report.deactivated += 1

    async def _reschedule(self, chat_id: int, old_chat_id: int | None = None) -> None:
        """Bring the daily jobs in line with the database after a chat was deactivated or moved."""
        if self._on_chat_changed is None:
            return
        if old_chat_id is not None:
            await self._on_chat_changed(old_chat_id)
        await self._on_chat_changed(chat_id)
