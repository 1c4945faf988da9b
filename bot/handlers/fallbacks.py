"""Everything that is not a question or a known command, and chat membership changes.

- Unknown commands, stickers, photos, voice, other media and empty messages get a short reply
  saying what the bot can do (in groups only when addressed to the bot).
- A group upgraded to a supergroup moves its subscription to the new chat id.
- A bot that was blocked, kicked or removed deactivates the chat's subscription.
"""

from __future__ import annotations

import logging

from telegram import ChatMember, Update
from telegram.ext import ContextTypes

from bot.handlers.common import is_private, lang_of
from bot.jobs import resync_daily_job, unschedule_daily
from bot.services import services
from bot.texts import t

logger = logging.getLogger(__name__)


def _addressed_to_bot(update: Update, context: ContextTypes.DEFAULT_TYPE) -> bool:
    if is_private(update):
        return True
    message = update.effective_message
    if message is None:
        return False
    replied = message.reply_to_message
    return replied is not None and replied.from_user is not None and replied.from_user.id == context.bot.id


async def unknown_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A /command the bot does not have (in groups: only `/cmd@thisbot`)."""
    message = update.effective_message
    if message is None or not message.text:
        return
    command = message.text.split()[0]
    name, _, target = command.partition("@")
    if target and target.lower() != context.bot.username.lower():
        return  # meant for another bot
    if not target and not is_private(update):
        return
    await message.reply_html(t(lang_of(update), "unknown_command", command=name[:64]))


async def unsupported_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Stickers, photos, voice, other media, empty text: say what the bot understands."""
    message = update.effective_message
    if message is None or not _addressed_to_bot(update, context):
        return
    lang = lang_of(update)
    if message.document is not None:
        await message.reply_html(t(lang, "document_hint"))
    elif message.text is not None:  # an empty text message
        await message.reply_html(t(lang, "empty_question"))
    else:
        await message.reply_html(t(lang, "unsupported_message"))


async def chat_migrated(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A group became a supergroup: move its subscription to the new id."""
    message = update.effective_message
    if message is None:
        return
    if message.migrate_to_chat_id:
        old, new = message.chat_id, message.migrate_to_chat_id
    elif message.migrate_from_chat_id:
        old, new = message.migrate_from_chat_id, message.chat_id
    else:
        return
    if await services(context).repo.migrate_chat(old, new):
        logger.info("Chat %s migrated to %s; subscription moved", old, new)
        await resync_daily_job(context.application, old)
        await resync_daily_job(context.application, new)


async def membership_changed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The bot was blocked, kicked or removed: deactivate the chat's subscription."""
    change = update.my_chat_member
    if change is None:
        return
    if change.new_chat_member.status in (ChatMember.BANNED, ChatMember.LEFT):
        chat_id = change.chat.id
        if await services(context).repo.unsubscribe(chat_id, reason=f"bot {change.new_chat_member.status}"):
            logger.info("Bot %s in chat %s; subscription deactivated", change.new_chat_member.status, chat_id)
        unschedule_daily(context.job_queue, chat_id)
