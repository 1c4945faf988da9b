"""The error handler: log with context, tell the user something short and true, never a traceback."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.error import Forbidden, NetworkError, TelegramError
from telegram.ext import ContextTypes

from bot.texts import language_of, t

logger = logging.getLogger(__name__)


def describe(update: object) -> str:
    """Where an error happened, without message contents (they may be personal)."""
    if not isinstance(update, Update):
        return "no update" if update is None else type(update).__name__
    parts = [f"update {update.update_id}"]
    if update.effective_chat:
        parts.append(f"chat {update.effective_chat.id} ({update.effective_chat.type})")
    if update.effective_user:
        parts.append(f"user {update.effective_user.id}")
    message = update.effective_message
    if message is not None:
        if message.text and message.text.startswith("/"):
            parts.append(f"command {message.text.split()[0][:40]!r}")
        elif message.text is not None:
            parts.append(f"text of {len(message.text)} chars")
        elif message.effective_attachment is not None:
            parts.append(type(message.effective_attachment).__name__.lower())
    if update.callback_query is not None:
        parts.append(f"button {str(update.callback_query.data)[:40]!r}")
    return ", ".join(parts)


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log the error and, when it happened in a chat, apologise there."""
    error = context.error
    if isinstance(error, NetworkError) and not isinstance(update, Update):
        logger.warning("Network problem talking to Telegram: %s", error)
        return
    logger.error("Error while handling %s", describe(update), exc_info=error)
    if not isinstance(update, Update) or isinstance(error, Forbidden):
        return
    lang = language_of(update.effective_user)
    try:
        if update.callback_query is not None:
            await update.callback_query.answer(t(lang, "error")[:200])
        elif update.effective_chat is not None:
            await context.bot.send_message(update.effective_chat.id, t(lang, "error"))
    except TelegramError as exc:
        logger.warning("Could not tell chat about the error: %s", exc)
