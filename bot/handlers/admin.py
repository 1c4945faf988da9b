"""Admin-only commands (`NEWSQA_ADMIN_IDS`): /index with an attached .txt/.md article or a link,
and /stats.

Everyone else gets a polite refusal. An article is indexed from a document captioned `/index`, by
replying `/index` to a message with the document, from `/index https://…`, or from a private message
that is just a link (the page is fetched safely and its article extracted, see `retriever.web`).
A newly indexed article's digest goes to the subscribers right away.
"""

from __future__ import annotations

import logging
import time
from pathlib import PurePosixPath

from telegram import Document, Message, Update
from telegram.constants import ChatAction
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from bot.conversation import Conversations
from bot.handlers.common import is_admin, lang_of
from bot.services import services
from bot.texts import Lang, t
from retriever.ingest import ArticleError
from retriever.models import IndexResult
from retriever.web import FetchError, FetchLimits, is_url

logger = logging.getLogger(__name__)

ARTICLE_SUFFIXES = frozenset({".txt", ".md"})


async def _refuse(message: Message, lang: Lang) -> None:
    await message.reply_html(t(lang, "admin_only"))


async def index_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """`/index` sent as a reply to a document (or with no document: how to use it)."""
    message = update.effective_message
    if message is None:
        return
    lang = lang_of(update)
    if not is_admin(update, context):
        await _refuse(message, lang)
        return
    args = context.args or []
    if args and is_url(args[0]):
        if len(args) > 1:
            await message.reply_html(t(lang, "index_usage"))
            return
        await index_link(update, context, args[0])
        return
    replied = message.reply_to_message
    document = message.document or (replied.document if replied is not None else None)
    if document is None:
        await message.reply_html(t(lang, "index_usage"))
        return
    await _index_document(update, context, message, document, lang)


async def index_link(update: Update, context: ContextTypes.DEFAULT_TYPE, url: str) -> None:
    """Fetch a link, index its article and send its digest to the subscribers."""
    message = update.effective_message
    if message is None:
        return
    lang = lang_of(update)
    if not is_admin(update, context):
        await message.reply_html(t(lang, "link_admins_only"))
        return
    found = services(context)
    try:
        await context.bot.send_chat_action(message.chat_id, ChatAction.TYPING)
    except TelegramError as exc:  # cosmetic
        logger.debug("typing indicator failed: %s", exc)
    try:
        core = found.settings.core
        limits = FetchLimits(timeout=core.fetch_timeout, allow_private=core.allow_private_urls)
        result = await found.qa.index_url(url, limits)
    except (FetchError, ArticleError) as exc:
        await message.reply_html(t(lang, "index_link_error", error=str(exc)[:500]))
        return
    logger.info("Admin indexed link %s: %s (%s)", url[:200], result.status, result.article.article_id)
    await _report_indexed(context, message, result, lang)


async def index_document(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A document captioned `/index`."""
    message = update.effective_message
    if message is None or message.document is None:
        return
    lang = lang_of(update)
    if not is_admin(update, context):
        await _refuse(message, lang)
        return
    await _index_document(update, context, message, message.document, lang)


async def _index_document(
    update: Update, context: ContextTypes.DEFAULT_TYPE, message: Message, document: Document, lang: Lang
) -> None:
    found = services(context)
    name = PurePosixPath(document.file_name or "").name or "?"
    if PurePosixPath(name).suffix.lower() not in ARTICLE_SUFFIXES:
        await message.reply_html(t(lang, "index_bad_type", name=name[:100]))
        return
    limit = found.settings.max_upload_bytes
    if document.file_size is not None and document.file_size > limit:
        await message.reply_html(t(lang, "index_too_large", size=document.file_size, limit=limit))
        return
    await context.bot.send_chat_action(message.chat_id, ChatAction.UPLOAD_DOCUMENT)
    telegram_file = await document.get_file()
    data = bytes(await telegram_file.download_as_bytearray())
    if len(data) > limit:
        await message.reply_html(t(lang, "index_too_large", size=len(data), limit=limit))
        return
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        await message.reply_html(t(lang, "index_not_utf8", name=name[:100]))
        return
    try:
        result = await found.qa.index_text(text, name)
    except ArticleError as exc:
        await message.reply_html(t(lang, "index_error", error=str(exc)[:500]))
        return
    article = result.article
    logger.info(
        "Admin %s indexed %r: %s (%s)",
        update.effective_user.id if update.effective_user else "?",
        name,
        result.status,
        article.article_id,
    )
    await _report_indexed(context, message, result, lang)


async def _report_indexed(
    context: ContextTypes.DEFAULT_TYPE, message: Message, result: IndexResult, lang: Lang
) -> None:
    """Tell the admin what indexing did; send a new article's digest to the subscribers. A reply to
    the confirmation is a question about the article."""
    found = services(context)
    article = result.article
    values = {"title": article.title, "article_id": article.article_id, "sentences": article.sentence_count}
    key = {"added": "index_added", "replaced": "index_replaced", "unchanged": "index_unchanged"}.get(
        result.status, "index_duplicate"
    )
    sent = await message.reply_html(t(lang, key, replaced=result.replaced or "", **values))
    await Conversations(found.repo).record(message.chat_id, [sent.message_id], article.article_id, "digest")
    if result.status in ("added", "replaced"):
        await found.broadcaster.fan_out_new_articles()
        found.broadcaster.kick()


def _uptime(seconds: float) -> str:
    minutes, _ = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    return f"{days}d {hours:02d}:{minutes:02d}" if days else f"{hours:02d}:{minutes:02d}"


async def stats(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Numbers for admins: articles, subscriptions, deliveries, questions."""
    message = update.effective_message
    if message is None:
        return
    lang = lang_of(update)
    if not is_admin(update, context):
        await _refuse(message, lang)
        return
    found = services(context)
    articles = await found.qa.articles()
    subscriptions = await found.repo.subscription_counts()
    deliveries = await found.repo.delivery_counts()
    await message.reply_html(
        t(
            lang,
            "stats",
            articles=len(articles),
            sentences=sum(a.sentence_count for a in articles),
            active=subscriptions["active"],
            daily=subscriptions["daily"],
            inactive=subscriptions["inactive"],
            sent=deliveries["sent"],
            pending=deliveries["pending"] + deliveries["sending"],
            failed=deliveries["failed"],
            questions=found.counters.questions,
            abstained=found.counters.abstained,
            uptime=_uptime(time.monotonic() - found.counters.started_at),
        )
    )
