"""The bot's side of RSS/Atom feeds: the registry and poller of `retriever.feeds`, the polling job,
and which feed articles are announced to subscribers.

`feed_job` runs every `NEWSQA_FEED_INTERVAL` seconds (default 900): one pass of the poller in a
worker thread over the feeds that are due (a failing feed waits longer each time), then the digests
of the new articles are recorded and sent like those of any new article. A pass never overlaps
another; `/feed_add` starts one for the new feed at once.

A feed's first poll indexes its current entries but does not announce them: subscribers would
otherwise get a flood of old news. Such an article is recorded as already fanned out in the bot's
delivery ledger (`bot_articles`) before it enters the index, so no concurrent fan-out can send it.
An article indexed by `newsqa feeds poll` in another process is found by `mark_quiet_articles`,
which `refresh_job` runs before each fan-out.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from telegram.ext import Application, ContextTypes

from bot.services import Services, services
from retriever.database import sync_database_url
from retriever.feeds.db import FeedRegistry
from retriever.feeds.poller import FeedPoller, PollReport
from retriever.indexer import article_info
from retriever.ingest import Article
from retriever.web.fetch import FetchLimits

logger = logging.getLogger(__name__)

FEEDS_KEY = "newsqa-feeds"
FEED_JOB = "newsqa-feeds"

AnyApplication = Application[Any, Any, Any, Any, Any, Any]


@dataclass
class FeedRuntime:
    registry: FeedRegistry
    poller: FeedPoller
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    last_report: PollReport | None = None

    def close(self) -> None:
        self.poller.close()
        self.registry.close()


def optional_runtime(source: ContextTypes.DEFAULT_TYPE | AnyApplication) -> FeedRuntime | None:
    application = source if isinstance(source, Application) else source.application
    runtime = application.bot_data.get(FEEDS_KEY)
    return runtime if isinstance(runtime, FeedRuntime) else None


def feed_runtime(source: ContextTypes.DEFAULT_TYPE | AnyApplication) -> FeedRuntime:
    runtime = optional_runtime(source)
    if runtime is None:
        raise RuntimeError("feeds are not set up; post_init of bot.app starts them")
    return runtime


async def setup_feeds(application: AnyApplication) -> FeedRuntime:
    """Open the registry (same database as the bot) and create the poller; start the job."""
    found = services(application)
    core = found.settings.core
    registry = await asyncio.to_thread(FeedRegistry, sync_database_url(found.settings.database_url))
    limits = FetchLimits(timeout=core.fetch_timeout, allow_private=core.allow_private_urls)
    poller = FeedPoller(
        registry,
        lambda article: found.qa.qa.index_article(article),  # type: ignore[attr-defined]
        limits,
        interval=core.feed_interval,
    )
    runtime = FeedRuntime(registry, poller)
    application.bot_data[FEEDS_KEY] = runtime
    if application.job_queue is not None:
        for job in application.job_queue.get_jobs_by_name(FEED_JOB):
            job.schedule_removal()
        application.job_queue.run_repeating(feed_job, interval=core.feed_interval, first=1.0, name=FEED_JOB)
    return runtime


async def close_feeds(application: AnyApplication) -> None:
    runtime = application.bot_data.pop(FEEDS_KEY, None)
    if isinstance(runtime, FeedRuntime):
        await asyncio.to_thread(runtime.close)


async def poll_feeds(
    application: AnyApplication, feed_ids: list[int] | None = None, wait: bool = False
) -> PollReport | None:
    """One pass (due feeds, or just `feed_ids`); None when a pass is already running, unless `wait`:
    then this one runs after it."""
    found = services(application)
    runtime = feed_runtime(application)
    if runtime.lock.locked() and not wait:
        return None
    loop = asyncio.get_running_loop()

    def before_index(article: Article, announce: bool) -> None:
        if not announce:  # runs in the worker thread: hand the write to the event loop and wait
            future = asyncio.run_coroutine_threadsafe(
                found.repo.mark_articles_seen([article_info(article)]), loop
            )
            future.result(timeout=60)

    async with runtime.lock:
        report = await asyncio.to_thread(runtime.poller.poll, False, feed_ids, before_index)
        runtime.last_report = report
    if report.indexed:
        logger.info(
            "Feeds: %d polled, %d articles indexed (%d announced) in %.1f s",
            len(report.feeds),
            len(report.indexed),
            len(report.announced),
            report.seconds,
        )
        await announce(found, runtime.registry)
    return report


async def mark_quiet_articles(found: Services, registry: FeedRegistry) -> int:
    """Record as fanned out the unseen articles that a feed's first poll brought (maybe indexed by
    `newsqa feeds poll` in another process), so they are never announced."""
    unseen = await found.repo.unseen_articles(await found.qa.articles())
    if not unseen:
        return 0
    quiet = await asyncio.to_thread(registry.quiet_article_ids, [a.article_id for a in unseen])
    if quiet:
        await found.repo.mark_articles_seen([a for a in unseen if a.article_id in quiet])
    return len(quiet)


async def announce(found: Services, registry: FeedRegistry) -> None:
    """Record and send the digests of new articles (after the quiet ones are set aside)."""
    await mark_quiet_articles(found, registry)
    await found.broadcaster.fan_out_new_articles()
    found.broadcaster.kick()


async def feed_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    try:
        await poll_feeds(context.application)
    except Exception:
        logger.exception("Polling the feeds failed; trying again at the next interval")
