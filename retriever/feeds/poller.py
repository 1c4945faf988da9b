"""One pass over the feeds: fetch each (conditional GET), record new entries, index them.

Per feed: GET with If-None-Match / If-Modified-Since; 304 -> nothing new. Otherwise feedparser reads
the document (RSS 0.9x/1.0/2.0, Atom); anything it does not recognise as a feed is an error. The
newest `max_entries` entries not seen before are recorded `pending` together with the new
validators. Then each pending entry is claimed, its link fetched and extracted (the feed's own text
is the fallback when the page holds no article text), checked against the content hashes of
entries already indexed (one story under two links is one article), and indexed with the link as
its source. A failing feed (HTTP error, timeout, not a feed, a page over the byte or time cap)
gets its error recorded and is polled again after an exponential back-off; the other feeds go on.
A failing entry is tried again at the next passes, `max_attempts` times in all; an entry whose link
can never be fetched (none, malformed, `file:`/`javascript:`, a private address) is refused once.
An entry's article is indexed under the entry's identity (`db.entry_source`), not its link alone.

The pass is blocking (fetching, embedding); the bot runs it in a worker thread. Fetching feed
documents runs a few at a time; indexing runs one article at a time (the embedder is the limit).
"""

from __future__ import annotations

import calendar
import datetime as dt
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from retriever.feeds.db import (
    DUPLICATE,
    FAILED,
    INDEXED,
    EntryInfo,
    FeedInfo,
    FeedRegistry,
    NewEntry,
    content_hash,
    entry_key,
    entry_source,
)
from retriever.ingest import Article
from retriever.models import IndexResult
from retriever.web import fetch_article
from retriever.web.charset import decode_page
from retriever.web.extract import NoArticleError, extract_page, page_article
from retriever.web.fetch import FEED_TYPES, Fetcher, FetchError, FetchLimits, RefusedURLError, check_url

logger = logging.getLogger(__name__)

MAX_ENTRIES = 50  # new entries recorded per feed per pass, and entries indexed per feed per pass
MAX_ATTEMPTS = 3
MAX_BACKOFF = dt.timedelta(hours=24)
REFUSED = "refused"  # an outcome, recorded as `failed` at once: the link can never be fetched


class FeedError(FetchError):
    """A feed URL that does not give a feed."""


@dataclass(frozen=True)
class EntryOutcome:
    feed_id: int
    entry_id: int
    link: str
    title: str
    status: str  # indexed | duplicate | failed | retry | refused
    article_id: str | None = None
    announce: bool = True
    error: str | None = None
    result: IndexResult | None = None


@dataclass(frozen=True)
class FeedOutcome:
    feed_id: int
    url: str
    status: str  # ok | not_modified | failed
    new_entries: int = 0
    error: str | None = None


@dataclass
class PollReport:
    feeds: list[FeedOutcome] = field(default_factory=list)
    entries: list[EntryOutcome] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def indexed(self) -> list[EntryOutcome]:
        return [e for e in self.entries if e.status == INDEXED]

    @property
    def announced(self) -> list[EntryOutcome]:
        """Entries whose articles are new to the index and are to be sent to subscribers."""
        return [
            e
            for e in self.indexed
            if e.announce and e.result is not None and e.result.status in ("added", "replaced")
        ]


def parse_feed(body: bytes, url: str, content_type: str = "") -> tuple[str, list[NewEntry]]:
    """(title, entries) of a feed document, in document order; FeedError when it is not a feed."""
    import feedparser  # only when a feed is read

    # Decoded here by the declared charset (errors replaced, UTF-8 when none is declared, as XML
    # says), and handed on as clean UTF-8: feedparser, meeting one invalid byte, re-reads the whole
    # feed as windows-1252 and every umlaut of its titles and texts turns into mojibake. (Bytes, not
    # str: feedparser opens a str that names a URL or a file.)
    text = decode_page(body, content_type, default="utf-8")
    parsed: Any = feedparser.parse(
        text.encode("utf-8"),
        response_headers={"content-location": url, "content-type": "application/xml; charset=utf-8"},
    )
    if not parsed.get("version") and not parsed.entries:
        reason = parsed.get("bozo_exception")
        raise FeedError(f"{url}: not an RSS or Atom feed" + (f" ({reason})" if reason else ""))
    entries: list[NewEntry] = []
    for item in parsed.entries:
        link = str(item.get("link") or "").strip()
        guid = str(item.get("id") or "").strip()
        title = " ".join(str(item.get("title") or "").split())
        if not (link or guid or title):
            continue
        stamp = item.get("published_parsed") or item.get("updated_parsed")
        published = (
            dt.datetime.fromtimestamp(calendar.timegm(stamp), dt.UTC).date().isoformat() if stamp else ""
        )
        content = item.get("content") or []
        summary = str(content[0].get("value", "")) if content else str(item.get("summary") or "")
        entries.append(NewEntry(entry_key(guid, link, title), guid, link, title, published, summary))
    return " ".join(str(parsed.feed.get("title") or "").split()), entries


def backoff(failures: int, interval: float) -> dt.timedelta:
    """interval × 2^failures, at most a day: a dead feed is asked rarely, a hiccup soon again."""
    return min(dt.timedelta(seconds=interval * 2 ** min(failures, 12)), MAX_BACKOFF)


class FeedPoller:
    """Polls the registered feeds and indexes their new entries through `index`."""

    def __init__(
        self,
        registry: FeedRegistry,
        index: Callable[[Article], IndexResult],
        limits: FetchLimits | None = None,
        interval: float = 900.0,
        max_entries: int = MAX_ENTRIES,
        max_attempts: int = MAX_ATTEMPTS,
        fetch_workers: int = 4,
    ) -> None:
        self.registry = registry
        self.index = index
        self.fetcher = Fetcher(limits)
        self.interval = interval
        self.max_entries = max_entries
        self.max_attempts = max_attempts
        self.fetch_workers = fetch_workers

    def close(self) -> None:
        self.fetcher.close()

    # -- one pass -------------------------------------------------------------------------------

    def poll(
        self,
        force: bool = False,
        feed_ids: list[int] | None = None,
        before_index: Callable[[Article, bool], None] | None = None,
        on_entry: Callable[[EntryOutcome], None] | None = None,
    ) -> PollReport:
        """Poll the feeds that are due (all of them with `force`, or those in `feed_ids`).
        `before_index(article, announce)` runs before each new article enters the index."""
        started = time.monotonic()
        report = PollReport()
        feeds = self.registry.feeds() if force or feed_ids else self.registry.due()
        if feed_ids is not None:
            feeds = [f for f in feeds if f.id in feed_ids]
        if feeds:
            with ThreadPoolExecutor(max_workers=min(self.fetch_workers, len(feeds))) as pool:
                report.feeds = list(pool.map(self._poll_feed, feeds))
        for feed in feeds:
            for entry in self.registry.pending(feed.id, self.max_entries):
                outcome = self._index_entry(entry, before_index)
                if outcome is None:
                    continue
                report.entries.append(outcome)
                if on_entry is not None:
                    on_entry(outcome)
        report.seconds = time.monotonic() - started
        return report

    def _poll_feed(self, feed: FeedInfo) -> FeedOutcome:
        started = dt.datetime.now(dt.UTC)
        # a little early, so a job running every `interval` finds the feed due again
        next_poll = started + dt.timedelta(seconds=self.interval * 0.9)
        headers = {"Accept": "application/rss+xml, application/atom+xml, application/xml;q=0.9, */*;q=0.5"}
        if feed.etag:
            headers["If-None-Match"] = feed.etag
        if feed.last_modified:
            headers["If-Modified-Since"] = feed.last_modified
        try:
            result = self.fetcher.get(feed.url, accept=FEED_TYPES, headers=headers, what="feed")
            if result.not_modified:
                self.registry.record_not_modified(feed.id, next_poll)
                return FeedOutcome(feed.id, feed.url, "not_modified")
            title, entries = parse_feed(result.body, result.url, result.content_type)
            added = self.registry.record_ok(
                feed.id,
                title=title,
                etag=result.headers.get("etag"),
                last_modified=result.headers.get("last-modified"),
                # newest first in a feed: keep the newest, record them oldest first
                entries=list(reversed(entries[: self.max_entries])),
                next_poll_at=next_poll,
            )
            return FeedOutcome(feed.id, feed.url, "ok", new_entries=added)
        except Exception as exc:  # one feed's failure, whatever it is, never stops the others
            error = str(exc) if isinstance(exc, FetchError) else f"{type(exc).__name__}: {exc}"
            if not isinstance(exc, FetchError):
                logger.exception("Polling feed %s failed unexpectedly", feed.url)
            failed = self.registry.record_failure(feed.id, error, lambda n: backoff(n, self.interval))
            logger.warning(
                "Feed %s failed (%d in a row): %s", feed.url, failed.failures if failed else 0, error
            )
            return FeedOutcome(feed.id, feed.url, "failed", error=error)

    def _article(self, entry: EntryInfo) -> Article:
        try:
            return fetch_article(
                entry.link, self.fetcher, fallback_title=entry.title, fallback_date=entry.published
            ).article
        except NoArticleError:
            if not entry.summary.strip():
                raise
            # the page has no article text (a video, a paywall stub); the feed's own text may
            page = extract_page(
                f"<html><body><article>{entry.summary}</article></body></html>",
                entry.link,
                entry.title,
                entry.published,
            )
            return page_article(page, check_url(entry.link, allow_private=True))

    def _index_entry(
        self, entry: EntryInfo, before_index: Callable[[Article, bool], None] | None
    ) -> EntryOutcome | None:
        if not self.registry.claim(entry.id):
            return None  # another poller has it
        done = {
            "feed_id": entry.feed_id,
            "entry_id": entry.id,
            "link": entry.link,
            "announce": entry.announce,
        }
        try:
            if not entry.link:
                raise RefusedURLError(f"entry {entry.title[:80]!r} has no link")
            article = self._article(entry)
            digest = content_hash(article.body)
            same = self.registry.indexed_with_hash(digest)
            if same is not None:
                self.registry.finish(entry.id, DUPLICATE, article_id=same, error=None)
                return EntryOutcome(title=article.title, status=DUPLICATE, article_id=same, **done)
            # the entry is the article's identity: entries sharing a link must not replace each other
            article = replace(article, source=entry_source(entry.guid, article.source, article.body))
            self.registry.set_article(entry.id, article.article_id, digest)
            if before_index is not None:
                before_index(article, entry.announce)
            result = self.index(article)
        except RefusedURLError as exc:  # no later pass can fetch this link: refused once, not retried
            self.registry.finish(entry.id, FAILED, error=str(exc))
            logger.info("Entry %s refused: %s", entry.link, exc)
            return EntryOutcome(title=entry.title, status=REFUSED, error=str(exc), **done)
        except Exception as exc:
            error = str(exc) if isinstance(exc, (FetchError, ValueError)) else f"{type(exc).__name__}: {exc}"
            if not isinstance(exc, (FetchError, ValueError)):
                logger.exception("Indexing %s failed unexpectedly", entry.link)
            status = self.registry.release(entry.id, error, self.max_attempts)
            logger.info("Entry %s: %s (%s)", entry.link, error, status)
            return EntryOutcome(
                title=entry.title, status=FAILED if status == FAILED else "retry", error=error, **done
            )
        article_id = result.article.article_id
        self.registry.finish(entry.id, INDEXED, article_id=article_id)
        return EntryOutcome(
            title=result.article.title, status=INDEXED, article_id=article_id, result=result, **done
        )
