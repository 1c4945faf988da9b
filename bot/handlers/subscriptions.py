"""Subscriptions: /subscribe [HH:MM] [time zone], /unsubscribe, and the subscribe/unsubscribe buttons.

In a group only its administrators may end the group's subscription (checked with getChatMember).
"""

from __future__ import annotations

import logging

from telegram import CallbackQuery, Chat, ChatMember, Update
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from bot.broadcast import unsubscribe_keyboard
from bot.handlers.commands import subscribe_keyboard
from bot.handlers.common import lang_of
from bot.jobs import parse_hhmm, schedule_daily, unschedule_daily
from bot.repository import SubscriptionInfo
from bot.services import services
from bot.settings import SettingsError, check_timezone
from bot.texts import Lang, t

DAILY_OFF_WORDS = frozenset({"aus", "off", "none", "nein", "no", "stop"})
_KEEP = object()

logger = logging.getLogger(__name__)


async def may_unsubscribe(update: Update, context: ContextTypes.DEFAULT_TYPE) -> bool:
    """Anyone in a private chat; in a group only its creator and administrators (including an
    anonymous administrator, who writes as the group itself)."""
    chat = update.effective_chat
    if chat is None or chat.type not in (Chat.GROUP, Chat.SUPERGROUP):
        return True
    message = update.message
    if message is not None and message.sender_chat is not None and message.sender_chat.id == chat.id:
        return True
    user = update.effective_user
    if user is None:
        return False
    try:
        member = await context.bot.get_chat_member(chat.id, user.id)
    except TelegramError as exc:  # cannot check: keep the subscription
        logger.warning("Could not check whether user %s administers chat %s: %s", user.id, chat.id, exc)
        return False
    return member.status in (ChatMember.OWNER, ChatMember.ADMINISTRATOR)


def _confirmation(lang: Lang, subscription: SubscriptionInfo, created: bool, daily_off: bool) -> str:
    lines = [t(lang, "subscribed" if created else "subscribed_already")]
    if subscription.daily_time:
        lines.append(t(lang, "subscribed_daily", time=subscription.daily_time, tz=subscription.timezone))
    elif daily_off:
        lines.append(t(lang, "daily_off"))
    return "\n".join(lines)


async def subscribe(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Subscribe to digests of new articles; with HH:MM also to a daily digest at that local time."""
    message = update.effective_message
    chat = update.effective_chat
    if message is None or chat is None:
        return
    lang = lang_of(update)
    found = services(context)
    args = context.args or []
    if len(args) > 2:
        await message.reply_html(t(lang, "subscribe_usage"))
        return
    current = await found.repo.get_subscription(chat.id)
    timezone = current.timezone if current is not None and current.daily_time else found.settings.timezone
    daily: str | object | None = _KEEP
    if args and args[0].lower() in DAILY_OFF_WORDS:
        if len(args) > 1:
            await message.reply_html(t(lang, "subscribe_usage"))
            return
        daily = None
    elif args:
        at = parse_hhmm(args[0])
        if at is None:
            await message.reply_html(t(lang, "subscribe_bad_time", value=args[0][:40]))
            return
        daily = at.strftime("%H:%M")
        if len(args) == 2:
            try:
                timezone = check_timezone(args[1])
            except SettingsError:
                await message.reply_html(t(lang, "subscribe_bad_tz", value=args[1][:60]))
                return
    kwargs = {} if daily is _KEEP else {"daily_time": daily}
    subscription, created = await found.repo.subscribe(
        chat.id, chat_type=chat.type, language=lang, timezone=timezone, **kwargs
    )
    schedule_daily(context.job_queue, subscription)
    await message.reply_html(
        _confirmation(lang, subscription, created, daily_off=daily is None),
        reply_markup=unsubscribe_keyboard(lang),
    )


async def unsubscribe(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """End the chat's subscription (new-article and daily digests)."""
    message = update.effective_message
    chat = update.effective_chat
    if message is None or chat is None:
        return
    lang = lang_of(update)
    if not await may_unsubscribe(update, context):
        await message.reply_html(t(lang, "unsubscribe_admins_only"))
        return
    was_active = await services(context).repo.unsubscribe(chat.id)
    unschedule_daily(context.job_queue, chat.id)
    if was_active:
        await message.reply_html(t(lang, "unsubscribed"), reply_markup=subscribe_keyboard(lang))
    else:
        await message.reply_html(t(lang, "not_subscribed"))


async def _button_in_chat(update: Update) -> tuple[CallbackQuery, Chat, Lang] | None:
    """The pressed button, its chat and the user's language; None (the press answered as outdated)
    when the message it sits under can no longer be edited."""
    query = update.callback_query
    if query is None:
        return None
    lang = lang_of(update)
    chat = update.effective_chat
    if chat is None or query.message is None or not query.message.is_accessible:
        await query.answer(t(lang, "callback_outdated"))
        return None
    return query, chat, lang


async def subscribe_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The 🔔 button under a digest or a status message."""
    pressed = await _button_in_chat(update)
    if pressed is None:
        return
    query, chat, lang = pressed
    subscription, _ = await services(context).repo.subscribe(
        chat.id, chat_type=chat.type, language=lang, timezone=services(context).settings.timezone
    )
    schedule_daily(context.job_queue, subscription)
    await query.answer(t(lang, "callback_subscribed"))
    await query.edit_message_reply_markup(unsubscribe_keyboard(lang))


async def unsubscribe_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The 🔕 button under a digest or a confirmation."""
    pressed = await _button_in_chat(update)
    if pressed is None:
        return
    query, chat, lang = pressed
    if not await may_unsubscribe(update, context):
        await query.answer(t(lang, "callback_admins_only"), show_alert=True)
        return
    await services(context).repo.unsubscribe(chat.id)
    unschedule_daily(context.job_queue, chat.id)
    await query.answer(t(lang, "callback_unsubscribed"))
    await query.edit_message_reply_markup(subscribe_keyboard(lang))
