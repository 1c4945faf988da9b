"""Reading and writing the bot's database: subscriptions and the delivery ledger.

All methods are short transactions and return plain frozen dataclasses, never live ORM objects.
The delivery ledger follows a record / claim / confirm pattern:

1. `fan_out` (new article) and `record_daily` (daily slot) insert `pending` rows; the UNIQUE key
   makes a second insert for the same digest a no-op.
2. `claim` moves one row `pending -> sending` with a conditional UPDATE, so only one sender owns it.
3. `mark_sent` / `mark_failed` / `mark_skipped` / `release` confirm the outcome.

`reset_in_flight` turns rows left `sending` by a process that died mid-send back into `pending`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.db import (
    FAILED,
    KIND_ARTICLE,
    KIND_DAILY,
    PENDING,
    SENDING,
    SENT,
    SKIPPED,
    Delivery,
    FannedOutArticle,
    Subscription,
    utcnow,
)
from retriever.models import ArticleInfo

_KEEP = object()


@dataclass(frozen=True)
class SubscriptionInfo:
    chat_id: int
    chat_type: str
    language: str
    active: bool
    since: dt.datetime
    daily_time: str | None
    timezone: str
    daily_since: dt.datetime | None
    deactivated_reason: str | None

    @classmethod
    def of(cls, row: Subscription) -> SubscriptionInfo:
        return cls(
            chat_id=row.chat_id,
            chat_type=row.chat_type,
            language=row.language,
            active=row.active,
            since=row.since,
            daily_time=row.daily_time,
            timezone=row.timezone,
            daily_since=row.daily_since,
            deactivated_reason=row.deactivated_reason,
        )


@dataclass(frozen=True)
class PendingDelivery:
    id: int
    chat_id: int


@dataclass(frozen=True)
class ClaimedDelivery:
    id: int
    chat_id: int
    kind: str
    ref: str
    article_id: str | None
    attempts: int
    language: str


@dataclass(frozen=True)
class DeliveryInfo:
    id: int
    chat_id: int
    kind: str
    ref: str
    article_id: str | None
    status: str
    attempts: int
    error: str | None


def parse_indexed_at(value: str) -> dt.datetime:
    """ArticleInfo.indexed_at (ISO 8601) as an aware UTC datetime; naive values are taken as UTC."""
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return utcnow()
    return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed.astimezone(dt.UTC)


class Repository:
    """Async access to subscriptions and deliveries."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        # The two service messages of one migration are handled at the same time (concurrent updates).
        self._migrating = asyncio.Lock()

    def session(self) -> AsyncSession:
        return self._sessions()

    def _insert(self, table: type[Delivery] | type[Subscription]):  # type: ignore[no-untyped-def]
        dialect = self.engine.dialect.name
        if dialect == "postgresql":
            return postgresql.insert(table).on_conflict_do_nothing()
        if dialect == "sqlite":
            return sqlite.insert(table).on_conflict_do_nothing()
        raise NotImplementedError(f"unsupported database {dialect!r} (use SQLite or PostgreSQL)")

    # -- subscriptions -------------------------------------------------------------------------

    async def get_subscription(self, chat_id: int) -> SubscriptionInfo | None:
        async with self.session() as session:
            row = await session.get(Subscription, chat_id)
            return SubscriptionInfo.of(row) if row else None

    async def subscribe(
        self,
        chat_id: int,
        *,
        chat_type: str,
        language: str,
        timezone: str,
        daily_time: str | object | None = _KEEP,
    ) -> tuple[SubscriptionInfo, bool]:
        """Activate (or update) a subscription; returns it and whether it was newly activated.

        A new or re-activated subscription gets `since = now`, so only articles indexed from now on
        are delivered. `daily_time` None switches the daily digest off; leaving it out keeps it."""
        now = utcnow()
        async with self.session() as session, session.begin():
            row = await session.get(Subscription, chat_id, with_for_update=True)
            created = row is None or not row.active
            if row is None:
                row = Subscription(chat_id=chat_id, since=now, created_at=now, timezone=timezone)
                session.add(row)
            if created:
                row.active = True
                row.since = now
                row.deactivated_reason = None
                if daily_time is _KEEP:
                    daily_time = None
            row.chat_type = chat_type
            row.language = language
            if daily_time is not _KEEP:
                new_time = daily_time if isinstance(daily_time, str) else None
                if new_time != row.daily_time or timezone != row.timezone or created:
                    row.daily_since = now if new_time else None
                row.daily_time = new_time
                if new_time:
                    row.timezone = timezone
            row.updated_at = now
            await session.flush()
            return SubscriptionInfo.of(row), created

    async def unsubscribe(self, chat_id: int, reason: str = "unsubscribed") -> bool:
        """Deactivate; returns whether it was active. Pending deliveries to the chat are skipped."""
        async with self.session() as session, session.begin():
            result = await session.execute(
                update(Subscription)
                .where(Subscription.chat_id == chat_id, Subscription.active.is_(True))
                .values(active=False, deactivated_reason=reason[:200], updated_at=utcnow())
            )
            await session.execute(
                update(Delivery)
                .where(Delivery.chat_id == chat_id, Delivery.status == PENDING)
                .values(status=SKIPPED, error=reason[:300], updated_at=utcnow())
            )
            return (result.rowcount or 0) > 0  # type: ignore[attr-defined]

    async def migrate_chat(self, old_chat_id: int, new_chat_id: int) -> bool:
        """Move a group's subscription and pending deliveries to its new supergroup id; returns whether
        anything moved. Idempotent: Telegram announces a migration twice (migrate_to_chat_id in the old
        group, migrate_from_chat_id in the new supergroup), often in one batch, and handlers run
        concurrently; the lock serialises them here and the insert-or-ignore guards against another
        process (a second bot, the same database)."""
        async with self._migrating, self.session() as session, session.begin():
            # A write first: it takes SQLite's write lock (PostgreSQL: the row lock) before anything is
            # read, so a second process reads the old row only after the first one committed.
            touched = await session.execute(
                update(Subscription).where(Subscription.chat_id == old_chat_id).values(updated_at=utcnow())
            )
            if not touched.rowcount:  # type: ignore[attr-defined]
                return False
            old = await session.get(Subscription, old_chat_id, populate_existing=True)
            if old is None or old.deactivated_reason == f"migrated to {new_chat_id}":
                return False
            await session.execute(
                self._insert(Subscription).values(
                    chat_id=new_chat_id,
                    chat_type="supergroup",
                    language=old.language,
                    active=old.active,
                    since=old.since,
                    daily_time=old.daily_time,
                    timezone=old.timezone,
                    daily_since=old.daily_since,
                    created_at=old.created_at,
                    updated_at=utcnow(),
                )
            )
            new = await session.get(Subscription, new_chat_id, with_for_update=True, populate_existing=True)
            assert new is not None
            if old.active and not new.active:
                new.active, new.since, new.daily_time, new.timezone, new.daily_since = (
                    True,
                    old.since,
                    old.daily_time,
                    old.timezone,
                    old.daily_since,
                )
            old.active = False
            old.deactivated_reason = f"migrated to {new_chat_id}"
            await session.flush()
            existing = set(
                (
                    await session.execute(
                        select(Delivery.kind, Delivery.ref).where(Delivery.chat_id == new_chat_id)
                    )
                ).all()
            )
            rows = (
                await session.execute(
                    select(Delivery).where(
                        Delivery.chat_id == old_chat_id, Delivery.status.in_((PENDING, SENDING))
                    )
                )
            ).scalars()
            for row in rows:
                if (row.kind, row.ref) in existing:
                    row.status, row.error = SKIPPED, f"migrated to {new_chat_id}"
                else:
                    row.chat_id = new_chat_id
            return True

    async def daily_subscriptions(self) -> list[SubscriptionInfo]:
        async with self.session() as session:
            rows = await session.scalars(
                select(Subscription).where(
                    Subscription.active.is_(True), Subscription.daily_time.is_not(None)
                )
            )
            return [SubscriptionInfo.of(r) for r in rows]

    async def subscription_counts(self) -> dict[str, int]:
        async with self.session() as session:
            active = (
                await session.scalar(
                    select(func.count()).select_from(Subscription).where(Subscription.active.is_(True))
                )
                or 0
            )
            daily = (
                await session.scalar(
                    select(func.count())
                    .select_from(Subscription)
                    .where(Subscription.active.is_(True), Subscription.daily_time.is_not(None))
                )
                or 0
            )
            inactive = (
                await session.scalar(
                    select(func.count()).select_from(Subscription).where(Subscription.active.is_(False))
                )
                or 0
            )
            return {"active": active, "daily": daily, "inactive": inactive}

    # -- deliveries ----------------------------------------------------------------------------

    async def unseen_articles(self, articles: Sequence[ArticleInfo]) -> list[ArticleInfo]:
        """The articles whose deliveries have not been recorded yet, oldest first."""
        if not articles:
            return []
        async with self.session() as session:
            seen = set(
                await session.scalars(
                    select(FannedOutArticle.article_id).where(
                        FannedOutArticle.article_id.in_([a.article_id for a in articles])
                    )
                )
            )
        unseen = [a for a in articles if a.article_id not in seen]
        return sorted(unseen, key=lambda a: parse_indexed_at(a.indexed_at))

    async def fan_out(self, article: ArticleInfo) -> int:
        """Record a pending delivery of `article` for every active subscriber who subscribed before
        it was indexed, and mark the article fanned out; all in one transaction. Returns the number
        of deliveries recorded (0 when another sender did it already)."""
        indexed_at = parse_indexed_at(article.indexed_at)
        async with self.session() as session, session.begin():
            if await session.get(FannedOutArticle, article.article_id) is not None:
                return 0
            chat_ids = list(
                await session.scalars(
                    select(Subscription.chat_id).where(
                        Subscription.active.is_(True), Subscription.since < indexed_at
                    )
                )
            )
            now = utcnow()
            if chat_ids:
                await session.execute(
                    self._insert(Delivery),
                    [
                        {
                            "chat_id": chat_id,
                            "kind": KIND_ARTICLE,
                            "ref": article.article_id,
                            "article_id": article.article_id,
                            "status": PENDING,
                            "attempts": 0,
                            "created_at": now,
                            "updated_at": now,
                        }
                        for chat_id in chat_ids
                    ],
                )
            session.add(
                FannedOutArticle(
                    article_id=article.article_id,
                    title=article.title[:400],
                    indexed_at=indexed_at,
                    recipients=len(chat_ids),
                    fanned_out_at=now,
                )
            )
            return len(chat_ids)

    async def record_daily(self, chat_id: int, day: str, article_id: str | None) -> bool:
        """Record the daily digest of `day` (local date) for a chat; False if already recorded."""
        now = utcnow()
        async with self.session() as session, session.begin():
            exists = await session.scalar(
                select(Delivery.id).where(
                    Delivery.chat_id == chat_id, Delivery.kind == KIND_DAILY, Delivery.ref == day
                )
            )
            if exists is not None:
                return False
            result = await session.execute(
                self._insert(Delivery).values(
                    chat_id=chat_id,
                    kind=KIND_DAILY,
                    ref=day,
                    article_id=article_id,
                    status=PENDING,
                    attempts=0,
                    created_at=now,
                    updated_at=now,
                )
            )
            return (result.rowcount or 0) > 0  # type: ignore[attr-defined]

    async def has_daily(self, chat_id: int, day: str) -> bool:
        async with self.session() as session:
            found = await session.scalar(
                select(Delivery.id).where(
                    Delivery.chat_id == chat_id, Delivery.kind == KIND_DAILY, Delivery.ref == day
                )
            )
            return found is not None

    async def reset_in_flight(self) -> int:
        """Rows a dead process left `sending` go back to `pending`."""
        async with self.session() as session, session.begin():
            result = await session.execute(
                update(Delivery).where(Delivery.status == SENDING).values(status=PENDING, updated_at=utcnow())
            )
            return result.rowcount or 0  # type: ignore[attr-defined]

    async def pending(self, limit: int = 10_000) -> list[PendingDelivery]:
        """Pending deliveries with their chats, in the order they were recorded (delivery id)."""
        async with self.session() as session:
            rows = await session.execute(
                select(Delivery.id, Delivery.chat_id)
                .where(Delivery.status == PENDING)
                .order_by(Delivery.id)
                .limit(limit)
            )
            return [PendingDelivery(id=row.id, chat_id=row.chat_id) for row in rows]

    async def claim(self, delivery_id: int) -> ClaimedDelivery | None:
        """Take a pending delivery (`pending -> sending`); None if someone else has it or it is done.
        A delivery to a chat whose subscription has ended is skipped instead."""
        async with self.session() as session, session.begin():
            result = await session.execute(
                update(Delivery)
                .where(Delivery.id == delivery_id, Delivery.status == PENDING)
                .values(status=SENDING, attempts=Delivery.attempts + 1, updated_at=utcnow())
            )
            if not result.rowcount:  # type: ignore[attr-defined]
                return None
            row = (
                await session.execute(
                    select(Delivery, Subscription)
                    .join(Subscription, Subscription.chat_id == Delivery.chat_id, isouter=True)
                    .where(Delivery.id == delivery_id)
                )
            ).one()
            delivery, subscription = row
            if subscription is None or not subscription.active:
                delivery.status, delivery.error = SKIPPED, "subscription ended"
                return None
            return ClaimedDelivery(
                id=delivery.id,
                chat_id=delivery.chat_id,
                kind=delivery.kind,
                ref=delivery.ref,
                article_id=delivery.article_id,
                attempts=delivery.attempts,
                language=subscription.language,
            )

    async def _finish(self, delivery_id: int, **values: object) -> None:
        async with self.session() as session, session.begin():
            await session.execute(
                update(Delivery).where(Delivery.id == delivery_id).values(updated_at=utcnow(), **values)
            )

    async def mark_sent(self, delivery_id: int, message_id: int | None, chat_id: int | None = None) -> None:
        values: dict[str, object] = {
            "status": SENT,
            "message_id": message_id,
            "sent_at": utcnow(),
            "error": None,
        }
        if chat_id is not None:
            values["chat_id"] = chat_id
        await self._finish(delivery_id, **values)

    async def mark_failed(self, delivery_id: int, error: str) -> None:
        await self._finish(delivery_id, status=FAILED, error=error[:300])

    async def mark_skipped(self, delivery_id: int, reason: str) -> None:
        await self._finish(delivery_id, status=SKIPPED, error=reason[:300])

    async def release(self, delivery_id: int, error: str) -> None:
        """Give a claimed delivery back (a transient error); it is tried again later."""
        await self._finish(delivery_id, status=PENDING, error=error[:300])

    async def delivery_status(self, delivery_id: int) -> str | None:
        async with self.session() as session:
            return await session.scalar(select(Delivery.status).where(Delivery.id == delivery_id))

    async def delivery_counts(self) -> dict[str, int]:
        async with self.session() as session:
            rows = await session.execute(select(Delivery.status, func.count()).group_by(Delivery.status))
            counts = {status: 0 for status in (PENDING, SENDING, SENT, FAILED, SKIPPED)}
            counts.update({status: count for status, count in rows.all()})
            return counts

    async def deliveries(self, chat_id: int | None = None) -> list[DeliveryInfo]:
        async with self.session() as session:
            query = select(Delivery).order_by(Delivery.id)
            if chat_id is not None:
                query = query.where(Delivery.chat_id == chat_id)
            return [
                DeliveryInfo(r.id, r.chat_id, r.kind, r.ref, r.article_id, r.status, r.attempts, r.error)
                for r in await session.scalars(query)
            ]

    async def is_fanned_out(self, article_id: str) -> bool:
        async with self.session() as session:
            return await session.get(FannedOutArticle, article_id) is not None

    async def mark_articles_seen(self, articles: Sequence[ArticleInfo]) -> None:
        """Record articles as fanned out without deliveries (used for the index found at first start)."""
        async with self.session() as session, session.begin():
            for article in articles:
                if await session.get(FannedOutArticle, article.article_id) is None:
                    session.add(
                        FannedOutArticle(
                            article_id=article.article_id,
                            title=article.title[:400],
                            indexed_at=parse_indexed_at(article.indexed_at),
                            recipients=0,
                        )
                    )
