"""Information commands: /start, /help, /articles, /digest [id], /status, and the digest buttons."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import ContextTypes

from bot.broadcast import SUBSCRIBE_DATA
from bot.formatting import escape, format_articles, format_digest
from bot.handlers.common import is_admin, lang_of, local_time, send_parts
from bot.jobs import next_daily_run
from bot.services import services
from bot.texts import ADMIN_COMMANDS, COMMANDS, Lang, t

DIGEST_DATA_PREFIX = "digest:"
MAX_DIGEST_BUTTONS = 8


def subscribe_keyboard(lang: Lang) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(t(lang, "button_subscribe"), callback_data=SUBSCRIBE_DATA)]]
    )


def help_text(lang: Lang, bot_username: str, admin: bool) -> str:
    lines = [t(lang, "help_header", bot=bot_username)]
    lines += [f"/{name} – {escape(descriptions[lang])}" for name, descriptions in COMMANDS.items()]
    lines += ["", t(lang, "help_subscribe")]
    if admin:
        lines += ["", t(lang, "help_admin")]
        lines += [f"/{name} – {escape(descriptions[lang])}" for name, descriptions in ADMIN_COMMANDS.items()]
    return "\n".join(lines)


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Greet and explain in two sentences."""
    if update.effective_message is None:
        return
    user = update.effective_user
    name = user.first_name if user else ""
    await update.effective_message.reply_html(t(lang_of(update), "start", name=name))


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """List the commands (admin commands for admins only)."""
    if update.effective_message is None:
        return
    text = help_text(lang_of(update), context.bot.username, is_admin(update, context))
    await update.effective_message.reply_html(text)


async def articles(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """List the indexed articles with their ids, with a digest button per article."""
    message = update.effective_message
    if message is None:
        return
    lang = lang_of(update)
    found = await services(context).qa.articles()
    buttons = [
        InlineKeyboardButton(
            t(lang, "button_digest", n=number), callback_data=DIGEST_DATA_PREFIX + article.article_id
        )
        for number, article in enumerate(found[:MAX_DIGEST_BUTTONS], start=1)
        if len((DIGEST_DATA_PREFIX + article.article_id).encode()) <= 64
    ]
    markup = (
        InlineKeyboardMarkup([buttons[i : i + 4] for i in range(0, len(buttons), 4)]) if buttons else None
    )
    await send_parts(message, format_articles(found, lang), markup=markup)


async def _send_digest(update: Update, context: ContextTypes.DEFAULT_TYPE, article_id: str | None) -> None:
    message = update.effective_message
    chat = update.effective_chat
    if message is None or chat is None:
        return
    lang = lang_of(update)
    found = services(context)
    if article_id is None and not await found.qa.articles():
        await message.reply_html(t(lang, "no_articles"))
        return
    try:
        digest = await found.qa.digest(article_id)
    except KeyError:
        await message.reply_html(t(lang, "digest_unknown", article_id=(article_id or "")[:100]))
        return
    subscription = await found.repo.get_subscription(chat.id)
    markup = None if subscription is not None and subscription.active else subscribe_keyboard(lang)
    await send_parts(message, format_digest(digest, lang), markup=markup)


async def digest(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Digest of the newest article, or of the article whose id is given."""
    if update.effective_message is None:
        return
    args = context.args or []
    if len(args) > 1:
        found = await services(context).qa.articles()
        example = found[0].article_id if found else "abc123"
        await update.effective_message.reply_html(t(lang_of(update), "digest_usage", example=example))
        return
    await _send_digest(update, context, args[0] if args else None)


async def digest_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A digest button of /articles was pressed."""
    query = update.callback_query
    if query is None or query.data is None:
        return
    await query.answer()
    if query.message is None or not query.message.is_accessible:
        return
    await _send_digest(update, context, query.data.removeprefix(DIGEST_DATA_PREFIX))


async def status(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """What this chat is subscribed to, and when the next daily digest comes."""
    message = update.effective_message
    chat = update.effective_chat
    if message is None or chat is None:
        return
    lang = lang_of(update)
    found = services(context)
    subscription = await found.repo.get_subscription(chat.id)
    lines = [t(lang, "status_header")]
    if subscription is None or not subscription.active:
        lines.append(t(lang, "not_subscribed"))
    else:
        lines.append(
            t(lang, "status_active", since=local_time(subscription.since, subscription.timezone, lang))
        )
        if subscription.daily_time:
            next_run = next_daily_run(context.job_queue, chat.id)
            if next_run is None:
                lines.append(
                    t(
                        lang,
                        "status_daily_unscheduled",
                        time=subscription.daily_time,
                        tz=subscription.timezone,
                    )
                )
            else:
                lines.append(
                    t(
                        lang,
                        "status_daily",
                        time=subscription.daily_time,
                        tz=subscription.timezone,
                        next=local_time(next_run, subscription.timezone, lang),
                    )
                )
        else:
            lines.append(t(lang, "status_no_daily"))
    lines.append(t(lang, "status_articles", count=len(await found.qa.articles())))
    markup = None if subscription is not None and subscription.active else subscribe_keyboard(lang)
    await message.reply_html("\n".join(lines), reply_markup=markup)
