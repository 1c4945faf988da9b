"""Small helpers shared by the handlers: reply language, admin check, sending split replies."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from zoneinfo import ZoneInfo

from telegram import InlineKeyboardMarkup, Message, Update
from telegram.constants import ChatType
from telegram.ext import ContextTypes

from bot.services import services
from bot.texts import Lang, language_of


def lang_of(update: Update) -> Lang:
    return language_of(update.effective_user)


def is_private(update: Update) -> bool:
    return update.effective_chat is not None and update.effective_chat.type == ChatType.PRIVATE


def is_admin(update: Update, context: ContextTypes.DEFAULT_TYPE) -> bool:
    user = update.effective_user
    return user is not None and user.id in services(context).settings.admin_ids


async def send_parts(
    message: Message,
    parts: Sequence[str],
    markup: InlineKeyboardMarkup | None = None,
    quote: bool = False,
) -> list[Message]:
    """Reply with each HTML part in turn; `markup` goes on the last one, `quote` on the first."""
    sent: list[Message] = []
    for number, part in enumerate(parts):
        sent.append(
            await message.reply_html(
                part,
                do_quote=quote and number == 0,
                reply_markup=markup if number == len(parts) - 1 else None,
            )
        )
    return sent


def local_time(value: dt.datetime, timezone: str, lang: Lang) -> str:
    local = value.astimezone(ZoneInfo(timezone))
    return local.strftime("%d.%m.%Y %H:%M" if lang == "de" else "%Y-%m-%d %H:%M")
