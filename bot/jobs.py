"""JobQueue jobs: picking up newly indexed articles, and daily digests.

- `refresh_job` runs every `NEWSQA_REFRESH_INTERVAL` seconds (counted from the end of the previous
  run): it re-reads the index (so articles indexed by the CLI in another process show up), records
  a delivery of each new article for its subscribers, and starts the sender for what is pending.
- One `daily_job` per subscriber with a daily time, at that local time (`run_daily` with the
  subscriber's time zone). They live in memory only, so `rebuild_daily_jobs` recreates them from the
  database at start-up and records a catch-up digest for a slot missed while the bot was down.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from typing import Any
from zoneinfo import ZoneInfo

from telegram.ext import Application, ContextTypes, Job, JobQueue

from bot.feeds import mark_quiet_articles, optional_runtime
from bot.repository import SubscriptionInfo
from bot.services import services

logger = logging.getLogger(__name__)

REFRESH_JOB = "newsqa-refresh"


def local_day(timezone: str, now: dt.datetime | None = None) -> str:
    """Today's date in `timezone`, as `YYYY-MM-DD`."""
    return (now or dt.datetime.now(dt.UTC)).astimezone(ZoneInfo(timezone)).date().isoformat()


def daily_job_name(chat_id: int) -> str:
    return f"newsqa-daily:{chat_id}"


_HHMM = re.compile(r"([01]?[0-9]|2[0-3]):([0-5][0-9])", re.ASCII)


def parse_hhmm(value: str) -> dt.time | None:
    """`"07:30"` -> time(7, 30); None for anything that is not a valid 24-hour HH:MM (or H:MM)."""
    match = _HHMM.fullmatch(value.strip())
    return dt.time(int(match.group(1)), int(match.group(2))) if match else None


async def refresh_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    """Pick up articles indexed elsewhere and send their digests; then schedule the next run (a
    chain of one-off jobs, so a slow pass is never overlapped by the next)."""
    found = services(context)
    try:
        if await found.qa.refresh():
            logger.info("The index was changed by another process")
        runtime = optional_runtime(context)
        if runtime is not None:  # a feed's first poll is indexed, not announced (bot.feeds)
            await mark_quiet_articles(found, runtime.registry)
        await found.broadcaster.fan_out_new_articles()
        found.broadcaster.kick()
    except Exception:
        logger.exception("Checking for new articles failed; trying again at the next refresh")
    finally:
        if context.application.running and context.job_queue is not None:
            context.job_queue.run_once(refresh_job, found.settings.refresh_interval, name=REFRESH_JOB)


async def daily_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    """Record today's daily digest for one chat and send it."""
    job = context.job
    if job is None or job.chat_id is None:
        return
    found = services(context)
    subscription = await found.repo.get_subscription(job.chat_id)
    if subscription is None or not subscription.active or not subscription.daily_time:
        unschedule_daily(context.job_queue, job.chat_id)
        return
    if await found.broadcaster.record_daily(job.chat_id, local_day(subscription.timezone)):
        found.broadcaster.kick()


def schedule_daily(job_queue: JobQueue[Any] | None, subscription: SubscriptionInfo) -> Job[Any] | None:
    """(Re)create the daily job of a subscription; removes it when the subscription has none."""
    unschedule_daily(job_queue, subscription.chat_id)
    if job_queue is None or not subscription.active or not subscription.daily_time:
        return None
    at = parse_hhmm(subscription.daily_time)
    if at is None:
        logger.error("Chat %s has an invalid daily time %r", subscription.chat_id, subscription.daily_time)
        return None
    return job_queue.run_daily(
        daily_job,
        time=at.replace(tzinfo=ZoneInfo(subscription.timezone)),
        chat_id=subscription.chat_id,
        name=daily_job_name(subscription.chat_id),
        job_kwargs={"misfire_grace_time": 3600, "coalesce": True},
    )


def unschedule_daily(job_queue: JobQueue[Any] | None, chat_id: int) -> None:
    if job_queue is None:
        return
    for job in job_queue.get_jobs_by_name(daily_job_name(chat_id)):
        job.schedule_removal()


def next_daily_run(job_queue: JobQueue[Any] | None, chat_id: int) -> dt.datetime | None:
    """When the chat's daily job runs next, or None when it has none."""
    if job_queue is None:
        return None
    for job in job_queue.get_jobs_by_name(daily_job_name(chat_id)):
        if not job.removed and job.next_t is not None:
            return job.next_t
    return None


async def resync_daily_job(application: Application[Any, Any, Any, Any, Any, Any], chat_id: int) -> None:
    """Make the chat's daily job match its subscription in the database."""
    subscription = await services(application).repo.get_subscription(chat_id)
    if subscription is None:
        unschedule_daily(application.job_queue, chat_id)
    else:
        schedule_daily(application.job_queue, subscription)


def missed_slot(subscription: SubscriptionInfo, now: dt.datetime) -> str | None:
    """The local date of the latest daily slot before `now` that the subscription is owed, if any."""
    at = parse_hhmm(subscription.daily_time or "")
    if at is None or subscription.daily_since is None:
        return None
    zone = ZoneInfo(subscription.timezone)
    local_now = now.astimezone(zone)
    slot = dt.datetime.combine(local_now.date(), at, tzinfo=zone)
    if slot > local_now:
        slot = dt.datetime.combine(local_now.date() - dt.timedelta(days=1), at, tzinfo=zone)
    if slot <= subscription.daily_since:
        return None
    return slot.date().isoformat()


async def rebuild_daily_jobs(application: Application[Any, Any, Any, Any, Any, Any]) -> int:
    """Recreate every daily job from the database; record digests of slots missed while down.
    Returns the number of daily jobs scheduled."""
    found = services(application)
    now = dt.datetime.now(dt.UTC)
    scheduled = 0
    for subscription in await found.repo.daily_subscriptions():
        if schedule_daily(application.job_queue, subscription) is not None:
            scheduled += 1
        day = missed_slot(subscription, now)
        owed = day is not None and not await found.repo.has_daily(subscription.chat_id, day)
        if owed and day is not None and await found.broadcaster.record_daily(subscription.chat_id, day):
            logger.info("Recorded the daily digest of %s missed by chat %s", day, subscription.chat_id)
    logger.info("Rebuilt %d daily digest job(s)", scheduled)
    return scheduled


def start_refresh_job(application: Application[Any, Any, Any, Any, Any, Any]) -> Job[Any] | None:
    """Start the chain of refresh jobs (the first one right away)."""
    if application.job_queue is None:
        return None
    for job in application.job_queue.get_jobs_by_name(REFRESH_JOB):
        job.schedule_removal()
    return application.job_queue.run_once(refresh_job, 0.0, name=REFRESH_JOB)
