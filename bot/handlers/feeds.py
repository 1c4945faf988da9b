"""Feed commands for admins: /feeds, /feed_add URL, /feed_remove ID.

The registry is shared with `newsqa feeds` (the bot's database). /feed_add polls the new feed at
once in the background: its current entries are indexed without being announced (see `bot.feeds`).
"""

from __future__ import annotations

import asyncio
import logging

from telegram import Message, Update
from telegram.ext import ContextTypes

from bot.feeds import feed_runtime, poll_feeds
from bot.formatting import Block, pack
from bot.handlers.common import is_admin, lang_of, local_time, send_parts
from bot.services import services
from bot.texts import Lang, t
from retriever.feeds.cli import parse_feed_id
from retriever.feeds.db import FeedInfo
from retriever.web.fetch import FetchError, check_url

logger = logging.getLogger(__name__)


async def _admin_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> tuple[Message, Lang] | None:
    message = update.effective_message
    if message is None:
        return None
    lang = lang_of(update)
    if not is_admin(update, context):
        await message.reply_html(t(lang, "admin_only"))
        return None
    return message, lang


def _state(feed: FeedInfo, lang: Lang, timezone: str) -> str:
    if feed.failures:
        when = local_time(feed.next_poll_at, timezone, lang) if feed.next_poll_at else "?"
        return t(lang, "feed_state_failing", failures=feed.failures, when=when, error=feed.last_error or "")
    if feed.last_polled_at is None:
        return t(lang, "feed_state_new")
    return t(
        lang, "feed_state_ok", articles=feed.entries, when=local_time(feed.last_polled_at, timezone, lang)
    )


def format_feeds(feeds: list[FeedInfo], lang: Lang, timezone: str, interval: float) -> list[str]:
    if not feeds:
        return [t(lang, "feeds_empty")]
    blocks = [Block(before=t(lang, "feeds_header", count=len(feeds)))]
    for feed in feeds:
        line = t(lang, "feed_line", id=feed.id, title=feed.title or "–", url=feed.url)
        blocks.append(Block(before=f"{line}\n{_state(feed, lang, timezone)}", gap=True))
    blocks.append(Block(before=t(lang, "feeds_footer", minutes=round(interval / 60)), gap=True))
    return pack(blocks)


async def feeds(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The registered feeds: title, URL, articles brought, last poll or last error."""
    checked = await _admin_message(update, context)
    if checked is None:
        return
    message, lang = checked
    found = services(context)
    registered = await asyncio.to_thread(feed_runtime(context).registry.feeds)
    parts = format_feeds(registered, lang, found.settings.timezone, found.settings.core.feed_interval)
    await send_parts(message, parts)


async def feed_add(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Register a feed and poll it now."""
    checked = await _admin_message(update, context)
    if checked is None:
        return
    message, lang = checked
    args = context.args or []
    if len(args) != 1:
        await message.reply_html(t(lang, "feed_add_usage"))
        return
    found = services(context)
    try:
        url = check_url(args[0], found.settings.core.allow_private_urls)
    except FetchError as exc:
        await message.reply_html(t(lang, "feed_add_refused", error=str(exc)[:300]))
        return
    feed, new = await asyncio.to_thread(feed_runtime(context).registry.add, url)
    if not new:
        await message.reply_html(t(lang, "feed_exists", id=feed.id))
        return
    logger.info("Feed %s added: %s", feed.id, url)
    await message.reply_html(t(lang, "feed_added", id=feed.id, url=url))
    context.application.create_task(_first_poll(context, feed.id), update=update, name=f"feed-{feed.id}")


async def _first_poll(context: ContextTypes.DEFAULT_TYPE, feed_id: int) -> None:
    """Poll the new feed now (right after a pass that is running, if any)."""
    await poll_feeds(context.application, [feed_id], wait=True)


async def feed_remove(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Forget a feed; its articles stay indexed."""
    checked = await _admin_message(update, context)
    if checked is None:
        return
    message, lang = checked
    args = context.args or []
    if len(args) != 1:
        await message.reply_html(t(lang, "feed_remove_usage"))
        return
    feed_id = parse_feed_id(args[0])
    removed = await asyncio.to_thread(feed_runtime(context).registry.remove, feed_id) if feed_id else None
    if removed is None:
        await message.reply_html(t(lang, "feed_unknown", value=args[0][:40]))
        return
    logger.info("Feed %s removed: %s", removed.id, removed.url)
    await message.reply_html(t(lang, "feed_removed", id=removed.id, url=removed.url))
