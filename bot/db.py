"""The bot's database: subscriptions, articles already fanned out, every digest delivery, and which
article each answer or digest message is about (for follow-up questions).

SQLAlchemy 2 (asyncio) models on SQLite (default, a file in the data dir) or PostgreSQL
(`NEWSQA_DATABASE_URL`). Tables are prefixed `bot_` so they can share a database with the retrieval
core. The schema carries an explicit version (`bot_schema_version`); `init_db` creates missing
tables, applies the migrations in `MIGRATIONS` in order, and refuses a database written by a newer
bot.

A `Delivery` row exists once per (chat, kind, ref) — `UNIQUE(chat_id, kind, ref)` — where `ref` is the
article id for new-article digests and the local date for daily digests, so a digest can never be
recorded, and therefore never sent, twice.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    Integer,
    String,
    UniqueConstraint,
    event,
    insert,
    select,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from retriever.database import prepare_sqlite_file, sqlite_pragmas

SCHEMA_VERSION = 2

# Delivery kinds and states.
KIND_ARTICLE = "article"
KIND_DAILY = "daily"
PENDING = "pending"  # recorded, not yet sent
SENDING = "sending"  # claimed by a sender; reset to pending at start-up (the sender was interrupted)
SENT = "sent"
FAILED = "failed"  # given up: chat blocked us, or too many errors
SKIPPED = "skipped"  # nothing to send any more (article removed, subscription ended)


class SchemaError(RuntimeError):
    """The database was written by a newer version of the bot, or cannot be migrated."""


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Aware UTC datetimes on every backend (SQLite keeps no time zone; stored as naive UTC)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


_ID = BigInteger().with_variant(Integer(), "sqlite")  # SQLite only autoincrements INTEGER PRIMARY KEY


class Base(DeclarativeBase):
    pass


class SchemaVersion(Base):
    __tablename__ = "bot_schema_version"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    applied_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Subscription(Base):
    """One chat's subscription: digests of new articles, optionally a daily digest at a local time."""

    __tablename__ = "bot_subscriptions"

    chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    chat_type: Mapped[str] = mapped_column(String(16), default="private")
    language: Mapped[str] = mapped_column(String(8), default="de")
    active: Mapped[bool] = mapped_column(Boolean, default=True, index=True)
    # Articles indexed after this instant are delivered; older ones are not.
    since: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    daily_time: Mapped[str | None] = mapped_column(String(5), default=None)  # "HH:MM", local
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Berlin")
    # When the current daily time was set: daily slots before it are not owed.
    daily_since: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)
    deactivated_reason: Mapped[str | None] = mapped_column(String(200), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class FannedOutArticle(Base):
    """An article whose new-article deliveries have been recorded for every subscriber."""

    __tablename__ = "bot_articles"

    article_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    title: Mapped[str] = mapped_column(String(400), default="")
    indexed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    recipients: Mapped[int] = mapped_column(Integer, default=0)
    fanned_out_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Delivery(Base):
    """One digest for one chat; exactly one row per (chat_id, kind, ref)."""

    __tablename__ = "bot_deliveries"
    __table_args__ = (UniqueConstraint("chat_id", "kind", "ref", name="uq_bot_deliveries_once"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    chat_id: Mapped[int] = mapped_column(BigInteger, index=True)
    kind: Mapped[str] = mapped_column(String(16))  # KIND_ARTICLE or KIND_DAILY
    ref: Mapped[str] = mapped_column(String(128))  # article id, or the local date "YYYY-MM-DD"
    article_id: Mapped[str | None] = mapped_column(String(128), default=None)  # what the digest shows
    status: Mapped[str] = mapped_column(String(16), default=PENDING, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    message_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    error: Mapped[str | None] = mapped_column(String(300), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)


class MessageArticle(Base):
    """Which article a message of the bot (an answer or a digest) is about, so that a reply to it,
    or a short follow-up after an answer, is asked about that article; kept across restarts."""

    __tablename__ = "bot_message_articles"

    chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    message_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    article_id: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(16), default="answer")  # "answer" | "digest"
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)


async def _v2_message_articles(conn: AsyncConnection) -> None:
    """Version 2 adds `bot_message_articles`; `create_all` has just created it."""


# version -> coroutine that upgrades a database at `version - 1` to `version`.
MIGRATIONS: dict[int, Callable[[AsyncConnection], Awaitable[None]]] = {2: _v2_message_articles}


def create_engine(url: str) -> AsyncEngine:
    """An async engine for `url`; for SQLite, creates the parent directory and enables WAL."""
    if prepare_sqlite_file(url):
        engine = create_async_engine(url)
        event.listen(engine.sync_engine, "connect", sqlite_pragmas)
        return engine
    return create_async_engine(url, pool_pre_ping=True)


async def init_db(engine: AsyncEngine) -> int:
    """Create or upgrade the schema; returns the schema version now in force."""
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
        version = (
            await conn.execute(select(SchemaVersion.version).order_by(SchemaVersion.version.desc()))
        ).first()
        current = version[0] if version else None
        if current is None:
            await conn.execute(insert(SchemaVersion).values(version=SCHEMA_VERSION, applied_at=utcnow()))
            return SCHEMA_VERSION
        if current > SCHEMA_VERSION:
            raise SchemaError(
                f"the bot database has schema version {current}, newer than this bot's {SCHEMA_VERSION}; "
                "upgrade newsqa or point NEWSQA_DATABASE_URL at another database"
            )
        for target in range(current + 1, SCHEMA_VERSION + 1):
            migrate = MIGRATIONS.get(target)
            if migrate is None:
                raise SchemaError(f"no migration from bot schema version {target - 1} to {target}")
            await migrate(conn)
            await conn.execute(insert(SchemaVersion).values(version=target, applied_at=utcnow()))
        return SCHEMA_VERSION
