"""Telegram update handlers, one small module per concern; `register` wires them to the application."""

from __future__ import annotations

from typing import Any

from telegram import Update
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot.broadcast import SUBSCRIBE_DATA, UNSUBSCRIBE_DATA
from bot.handlers import admin, commands, errors, fallbacks, feeds, questions, subscriptions
from bot.handlers.common import lang_of
from bot.texts import t


async def _outdated_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    if update.callback_query is not None:
        await update.callback_query.answer(t(lang_of(update), "callback_outdated"))


def register(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Add every handler and the error handler, most specific first."""
    new_messages = filters.UpdateType.MESSAGE  # edited messages are not asked again
    for name, callback in (
        ("start", commands.start),
        ("help", commands.help_command),
        ("articles", commands.articles),
        ("digest", commands.digest),
        ("status", commands.status),
        ("subscribe", subscriptions.subscribe),
        ("unsubscribe", subscriptions.unsubscribe),
        ("index", admin.index_command),
        ("feeds", feeds.feeds),
        ("feed_add", feeds.feed_add),
        ("feed_remove", feeds.feed_remove),
        ("stats", admin.stats),
    ):
        application.add_handler(CommandHandler(name, callback, filters=new_messages))
    application.add_handler(
        MessageHandler(
            new_messages & filters.Document.ALL & filters.CaptionRegex(r"^/index(@\w+)?(\s|$)"),
            admin.index_document,
        )
    )
    application.add_handler(MessageHandler(filters.StatusUpdate.MIGRATE, fallbacks.chat_migrated))
    application.add_handler(MessageHandler(new_messages & filters.COMMAND, fallbacks.unknown_command))
    application.add_handler(
        MessageHandler(new_messages & filters.TEXT & ~filters.COMMAND, questions.question)
    )
    application.add_handler(
        MessageHandler(
            new_messages & ~filters.StatusUpdate.ALL & ~filters.COMMAND, fallbacks.unsupported_message
        )
    )
    application.add_handler(
        CallbackQueryHandler(subscriptions.subscribe_button, pattern=f"^{SUBSCRIBE_DATA}$")
    )
    application.add_handler(
        CallbackQueryHandler(subscriptions.unsubscribe_button, pattern=f"^{UNSUBSCRIBE_DATA}$")
    )
    application.add_handler(
        CallbackQueryHandler(commands.digest_button, pattern=f"^{commands.DIGEST_DATA_PREFIX}")
    )
    application.add_handler(CallbackQueryHandler(_outdated_button))
    application.add_handler(ChatMemberHandler(fallbacks.membership_changed, ChatMemberHandler.MY_CHAT_MEMBER))
    application.add_error_handler(errors.on_error)
