"""Questions: any plain text in a private chat, or addressed to the bot in a group.

Shows "typing", runs the pipeline in a worker thread, and replies with the answer and its numbered
citations (see `bot.formatting.format_answer`), split into several messages when long.

A reply to one of the bot's answers or digests, and in a private chat a short question right after
an answer, is asked about that article first (`bot.conversation`). Each answer's messages are
recorded with the article they cite, so that works after a restart too. An admin's message that is
just a link, in a private chat, is an article to index (`bot.handlers.admin.index_link`).
"""

from __future__ import annotations

import logging
import re

from telegram import Message, MessageEntity, Update
from telegram.constants import ChatAction, ChatType
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from bot.conversation import Conversations, article_id_in_text, is_short_follow_up
from bot.formatting import format_answer
from bot.handlers.admin import index_link
from bot.handlers.common import is_private, lang_of, send_parts
from bot.services import services
from bot.texts import t
from retriever.web import is_url

logger = logging.getLogger(__name__)


def addressed_text(message: Message, bot_id: int, bot_username: str) -> str | None:
    """In a group: the text without the bot's @mention when the message mentions or replies to the
    bot, else None (the message is meant for someone else)."""
    text = message.text or ""
    replied = message.reply_to_message
    is_reply = replied is not None and replied.from_user is not None and replied.from_user.id == bot_id
    mention = f"@{bot_username}".lower()
    mentioned = False
    for entity, value in message.parse_entities([MessageEntity.MENTION, MessageEntity.TEXT_MENTION]).items():
        if (entity.type == MessageEntity.MENTION and value.lower() == mention) or (
            entity.type == MessageEntity.TEXT_MENTION and entity.user is not None and entity.user.id == bot_id
        ):
            mentioned = True
    if not mentioned and mention in text.lower():
        mentioned = True  # clients that send no entity
    if not (mentioned or is_reply):
        return None
    return re.sub(re.escape(mention) + r"\b", " ", text, flags=re.IGNORECASE)


async def question(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer a question with cited sentences."""
    message = update.effective_message
    chat = update.effective_chat
    if message is None or chat is None:
        return
    text = message.text or ""
    if not is_private(update):
        addressed = addressed_text(message, context.bot.id, context.bot.username)
        if addressed is None:
            return
        text = addressed
    text = " ".join(text.split())
    if is_private(update) and is_url(text) and " " not in text:
        await index_link(update, context, text)  # a link alone: an article to index (admins)
        return
    lang = lang_of(update)
    found = services(context)
    if not text:
        await message.reply_html(t(lang, "empty_question"))
        return
    if len(text) > found.settings.max_question_chars:
        await message.reply_html(
            t(lang, "question_too_long", length=len(text), limit=found.settings.max_question_chars)
        )
        return
    try:
        await context.bot.send_chat_action(chat.id, ChatAction.TYPING)
    except TelegramError as exc:  # cosmetic: answer anyway
        logger.debug("typing indicator failed: %s", exc)
    conversations = Conversations(found.repo)
    article_id = await _context_article(message, context, conversations, text)
    answer = await found.qa.ask(text, article_id) if article_id else await found.qa.ask(text)
    found.counters.questions += 1
    if answer.answer is None:
        found.counters.abstained += 1
    sent = await send_parts(message, format_answer(answer, lang), quote=not is_private(update))
    if answer.citations:
        await conversations.record(chat.id, [m.message_id for m in sent], answer.citations[0].article_id)


async def _context_article(
    message: Message, context: ContextTypes.DEFAULT_TYPE, conversations: Conversations, text: str
) -> str | None:
    """The article a question is about: the one of the bot's message it replies to, or, for a short
    question in a private chat, the one of the chat's last answer."""
    replied = message.reply_to_message
    if replied is not None and replied.from_user is not None and replied.from_user.id == context.bot.id:
        return await conversations.article_of_message(
            message.chat_id, replied.message_id
        ) or article_id_in_text(replied.text)
    if message.chat.type == ChatType.PRIVATE and is_short_follow_up(text):
        return await conversations.recent_answer(message.chat_id)
    return None
