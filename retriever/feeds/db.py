"""The feed registry: feeds and every entry seen, in the bot's database (SQLAlchemy, synchronous).

The tables live next to the bot's `bot_*` tables in the database of `NEWSQA_DATABASE_URL` (by
default `NEWSQA_DOCUMENT_STORE`'s PostgreSQL, else `bot.sqlite3` in the data dir), so `newsqa feeds`
and the bot share one registry; they are prefixed `newsqa_` and created by whoever opens them first.

An entry row is unique per (feed, key), key = sha256 of the entry's GUID (else its link). The article
an entry brings is indexed under the entry's identity (`entry_source`: its GUID, else its link and
the text's hash), not under the link alone: entries that share one link (a video page, a paywall: the
feed's own text is used) are separate articles, not replacements of each other. Its life:
`pending` (recorded from the feed document, in the same transaction that stores the feed's new
ETag/Last-Modified, so a crash never loses one) -> `indexing` (claimed; the article id and content hash
are written before the article goes into the index) -> `indexed` | `duplicate` | `failed`.
`announce` is False for the entries found by a feed's first successful poll: they are indexed but
not sent to subscribers as new (see `quiet_article_ids`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Boolean,
    DateTime,
    Dialect,
    Engine,
    ForeignKey,
    Integer,
    MetaData,
    String,
    UniqueConstraint,
    create_engine,
    delete,
    event,
    func,
    select,
    update,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from sqlalchemy.types import TypeDecorator

from retriever.database import prepare_sqlite_file, sqlite_pragmas, sync_database_url
from retriever.settings import Settings

PENDING = "pending"
INDEXING = "indexing"
INDEXED = "indexed"
DUPLICATE = "duplicate"
FAILED = "failed"
DONE = (INDEXED, DUPLICATE, FAILED)
STALE_CLAIM = dt.timedelta(minutes=10)  # an `indexing` row older than this was left by a dead process


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class _UTC(TypeDecorator[dt.datetime]):
    """Aware UTC datetimes on every backend (SQLite keeps no time zone)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        return None if value is None else value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        return None if value is None else value.replace(tzinfo=dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData()


class Feed(Base):
    __tablename__ = "newsqa_feeds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    url: Mapped[str] = mapped_column(String(2000), unique=True)
    title: Mapped[str] = mapped_column(String(400), default="")
    added_at: Mapped[dt.datetime] = mapped_column(_UTC(), default=utcnow)
    etag: Mapped[str | None] = mapped_column(String(400), default=None)
    last_modified: Mapped[str | None] = mapped_column(String(100), default=None)
    last_polled_at: Mapped[dt.datetime | None] = mapped_column(_UTC(), default=None)
    last_ok_at: Mapped[dt.datetime | None] = mapped_column(_UTC(), default=None)
    next_poll_at: Mapped[dt.datetime | None] = mapped_column(_UTC(), default=None)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(400), default=None)


class FeedEntry(Base):
    __tablename__ = "newsqa_feed_entries"
    __table_args__ = (UniqueConstraint("feed_id", "key", name="uq_newsqa_feed_entries_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    feed_id: Mapped[int] = mapped_column(ForeignKey("newsqa_feeds.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(64))
    guid: Mapped[str] = mapped_column(String(1000), default="")
    link: Mapped[str] = mapped_column(String(2000), default="")
    title: Mapped[str] = mapped_column(String(400), default="")
    published: Mapped[str] = mapped_column(String(10), default="")  # YYYY-MM-DD from the feed
    summary: Mapped[str] = mapped_column(String(20000), default="")  # the feed's own text (fallback)
    status: Mapped[str] = mapped_column(String(16), default=PENDING, index=True)
    announce: Mapped[bool] = mapped_column(Boolean, default=True)
    article_id: Mapped[str | None] = mapped_column(String(128), default=None, index=True)
    content_hash: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(String(400), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(_UTC(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(_UTC(), default=utcnow)


@dataclass(frozen=True)
class FeedInfo:
    id: int
    url: str
    title: str
    added_at: dt.datetime
    last_polled_at: dt.datetime | None
    last_ok_at: dt.datetime | None
    next_poll_at: dt.datetime | None
    failures: int
    last_error: str | None
    etag: str | None
    last_modified: str | None
    entries: int = 0  # entries indexed from this feed

    @classmethod
    def of(cls, row: Feed, entries: int = 0) -> FeedInfo:
        return cls(
            row.id,
            row.url,
            row.title,
            row.added_at,
            row.last_polled_at,
            row.last_ok_at,
            row.next_poll_at,
            row.failures,
            row.last_error,
            row.etag,
            row.last_modified,
            entries,
        )


@dataclass(frozen=True)
class EntryInfo:
    id: int
    feed_id: int
    link: str
    title: str
    published: str
    summary: str
    status: str
    announce: bool
    article_id: str | None
    attempts: int
    guid: str = ""
    error: str | None = None


def _entry_info(row: FeedEntry) -> EntryInfo:
    return EntryInfo(
        row.id,
        row.feed_id,
        row.link,
        row.title,
        row.published,
        row.summary,
        row.status,
        row.announce,
        row.article_id,
        row.attempts,
        row.guid,
        row.error,
    )


@dataclass(frozen=True)
class NewEntry:
    """One entry as read from a feed document."""

    key: str
    guid: str
    link: str
    title: str
    published: str
    summary: str


def entry_key(guid: str, link: str, title: str) -> str:
    return hashlib.sha256((guid or link or title).strip().encode("utf-8")).hexdigest()


def entry_source(guid: str, link: str, body: str) -> str:
    """The source an entry's article is indexed under (a changed text from the same source replaces
    the earlier one): the link itself when the GUID is the link, else the link with the GUID, or
    without a GUID the link with the text's hash. Readable, since it is shown as an article's source."""
    guid = guid.strip()
    if guid == link:
        return link
    identity = guid if guid else f"sha256:{content_hash(body)[:16]}"
    return f"{link} (feed entry {identity[:500]})"


def content_hash(text: str) -> str:
    """Same text, however it is spaced, same hash: one story under two links is one article."""
    return hashlib.sha256(" ".join(text.split()).casefold().encode("utf-8")).hexdigest()


def database_url(settings: Settings) -> str:
    """The bot's database (`Settings.app_database_url`) with the synchronous driver."""
    return sync_database_url(settings.app_database_url)


def open_engine(url: str) -> Engine:
    if prepare_sqlite_file(url):
        engine = create_engine(url)
        event.listen(engine, "connect", sqlite_pragmas)
    else:
        engine = create_engine(url, pool_pre_ping=True)
    Base.metadata.create_all(engine)
    return engine


class FeedRegistry:
    """Feeds and their entries. Every method is one short transaction; results are plain data."""

    def __init__(self, url: str | Engine) -> None:
        self.engine = open_engine(url) if isinstance(url, str) else url
        if not isinstance(url, str):
            Base.metadata.create_all(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> FeedRegistry:
        return cls(database_url(settings))

    def close(self) -> None:
        self.engine.dispose()

    def _session(self) -> Session:
        return self._sessions()

    # -- feeds ----------------------------------------------------------------------------------

    def add(self, url: str) -> tuple[FeedInfo, bool]:
        """Register a feed; returns it and whether it is new (the same URL twice is one feed)."""
        with self._session() as session, session.begin():
            row = session.scalar(select(Feed).where(Feed.url == url))
            if row is not None:
                return FeedInfo.of(row), False
            row = Feed(url=url, added_at=utcnow(), failures=0)
            session.add(row)
            session.flush()
            return FeedInfo.of(row), True

    def remove(self, feed_id: int) -> FeedInfo | None:
        """Forget a feed and its entries; the articles it brought stay indexed."""
        with self._session() as session, session.begin():
            row = session.get(Feed, feed_id)
            if row is None:
                return None
            info = FeedInfo.of(row)
            session.execute(delete(FeedEntry).where(FeedEntry.feed_id == feed_id))
            session.delete(row)
            return info

    def get(self, feed_id: int) -> FeedInfo | None:
        with self._session() as session:
            row = session.get(Feed, feed_id)
            return FeedInfo.of(row) if row else None

    def feeds(self) -> list[FeedInfo]:
        with self._session() as session:
            counts = dict(
                session.execute(
                    select(FeedEntry.feed_id, func.count())
                    .where(FeedEntry.status == INDEXED)
                    .group_by(FeedEntry.feed_id)
                ).all()
            )
            rows = session.scalars(select(Feed).order_by(Feed.id))
            return [FeedInfo.of(r, counts.get(r.id, 0)) for r in rows]

    def due(self, now: dt.datetime | None = None) -> list[FeedInfo]:
        now = now or utcnow()
        return [f for f in self.feeds() if f.next_poll_at is None or f.next_poll_at <= now]

    def record_ok(
        self,
        feed_id: int,
        *,
        title: str | None,
        etag: str | None,
        last_modified: str | None,
        entries: Sequence[NewEntry],
        next_poll_at: dt.datetime,
    ) -> int:
        """A successful fetch: store the validators and the entries not seen before, in one
        transaction. Entries of the feed's first successful poll are recorded `announce=False`.
        Returns the number of new entries."""
        now = utcnow()
        with self._session() as session, session.begin():
            feed = session.get(Feed, feed_id, with_for_update=True)
            if feed is None:
                return 0  # removed meanwhile
            first = feed.last_ok_at is None
            known = set(
                session.scalars(
                    select(FeedEntry.key).where(
                        FeedEntry.feed_id == feed_id, FeedEntry.key.in_([e.key for e in entries])
                    )
                )
            )
            added = 0
            for entry in entries:
                if entry.key in known:
                    continue
                known.add(entry.key)
                session.add(
                    FeedEntry(
                        feed_id=feed_id,
                        key=entry.key,
                        guid=entry.guid[:1000],
                        link=entry.link[:2000],
                        title=entry.title[:400],
                        published=entry.published[:10],
                        summary=entry.summary[:20000],
                        status=PENDING,
                        announce=not first,
                        attempts=0,
                        created_at=now,
                        updated_at=now,
                    )
                )
                added += 1
            if title:
                feed.title = title[:400]
            if etag is not None or last_modified is not None or entries:
                feed.etag, feed.last_modified = (etag or None), (last_modified or None)
            feed.last_polled_at = feed.last_ok_at = now
            feed.failures, feed.last_error, feed.next_poll_at = 0, None, next_poll_at
            return added

    def record_not_modified(self, feed_id: int, next_poll_at: dt.datetime) -> None:
        now = utcnow()
        with self._session() as session, session.begin():
            session.execute(
                update(Feed)
                .where(Feed.id == feed_id)
                .values(
                    last_polled_at=now, last_ok_at=now, failures=0, last_error=None, next_poll_at=next_poll_at
                )
            )

    def record_failure(self, feed_id: int, error: str, backoff: Any) -> FeedInfo | None:
        """A failed fetch: count it, keep the error, and poll again after `backoff(failures)`."""
        now = utcnow()
        with self._session() as session, session.begin():
            feed = session.get(Feed, feed_id, with_for_update=True)
            if feed is None:
                return None
            feed.failures += 1
            feed.last_error = error[:400]
            feed.last_polled_at = now
            feed.next_poll_at = now + backoff(feed.failures)
            return FeedInfo.of(feed)

    # -- entries --------------------------------------------------------------------------------

    def pending(self, feed_id: int, limit: int) -> list[EntryInfo]:
        """Entries still to be indexed, oldest first (a stale claim counts as pending)."""
        stale = utcnow() - STALE_CLAIM
        with self._session() as session:
            rows = session.scalars(
                select(FeedEntry)
                .where(
                    FeedEntry.feed_id == feed_id,
                    (FeedEntry.status == PENDING)
                    | ((FeedEntry.status == INDEXING) & (FeedEntry.updated_at < stale)),
                )
                .order_by(FeedEntry.id)
                .limit(limit)
            )
            return [_entry_info(r) for r in rows]

    def claim(self, entry_id: int) -> bool:
        """`pending -> indexing` (or a stale claim taken over); False when another poller has it."""
        stale = utcnow() - STALE_CLAIM
        with self._session() as session, session.begin():
            result = session.execute(
                update(FeedEntry)
                .where(
                    FeedEntry.id == entry_id,
                    (FeedEntry.status == PENDING)
                    | ((FeedEntry.status == INDEXING) & (FeedEntry.updated_at < stale)),
                )
                .values(status=INDEXING, attempts=FeedEntry.attempts + 1, updated_at=utcnow())
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def indexed_with_hash(self, digest: str) -> str | None:
        """The article id of an entry already indexed (or being indexed) with this content."""
        with self._session() as session:
            return session.scalar(
                select(FeedEntry.article_id)
                .where(
                    FeedEntry.content_hash == digest,
                    FeedEntry.status.in_((INDEXED, INDEXING)),
                    FeedEntry.article_id.is_not(None),
                )
                .limit(1)
            )

    def set_article(self, entry_id: int, article_id: str, digest: str) -> None:
        """Written before the article is indexed, so whoever sees the article can find its entry."""
        self._update(entry_id, article_id=article_id, content_hash=digest)

    def finish(
        self, entry_id: int, status: str, article_id: str | None = None, error: str | None = None
    ) -> None:
        values: dict[str, Any] = {"status": status, "error": error[:400] if error else None}
        if article_id is not None:
            values["article_id"] = article_id
        self._update(entry_id, **values)

    def release(self, entry_id: int, error: str, max_attempts: int) -> str:
        """A failed try: back to pending, or `failed` after `max_attempts` tries. Returns the status."""
        with self._session() as session, session.begin():
            row = session.get(FeedEntry, entry_id)
            if row is None:
                return FAILED
            row.status = FAILED if row.attempts >= max_attempts else PENDING
            row.error = error[:400]
            row.updated_at = utcnow()
            return row.status

    def _update(self, entry_id: int, **values: Any) -> None:
        with self._session() as session, session.begin():
            session.execute(
                update(FeedEntry).where(FeedEntry.id == entry_id).values(updated_at=utcnow(), **values)
            )

    def quiet_article_ids(self, article_ids: Iterable[str]) -> set[str]:
        """Of these articles, those that came from a feed's first poll and must not be announced
        (and were not also brought by an entry that is announced)."""
        ids = list(dict.fromkeys(article_ids))
        if not ids:
            return set()
        with self._session() as session:
            rows = session.execute(
                select(FeedEntry.article_id, FeedEntry.announce).where(FeedEntry.article_id.in_(ids))
            ).all()
        quiet = {a for a, announce in rows if not announce}
        loud = {a for a, announce in rows if announce}
        return quiet - loud

    def entries(self, feed_id: int | None = None) -> list[EntryInfo]:
        with self._session() as session:
            query = select(FeedEntry).order_by(FeedEntry.id)
            if feed_id is not None:
                query = query.where(FeedEntry.feed_id == feed_id)
            return [_entry_info(r) for r in session.scalars(query)]
