"""Conversation context: which article a question is about.

- A question sent as a reply to one of the bot's answers or digests is about that message's article:
  answers are recorded in `bot_message_articles` when sent; digests sent to subscribers are in the
  delivery ledger (`bot_deliveries.message_id`); any other digest shows its id ("ID abc123…").
- In a private chat, a short question right after an answer ("Und was sagte Biden?", "Wann war
  das?") is about the previous answer's article.

Either way the retriever asks that article first, and all articles when it does not say or when
another article matches the question far better (`retriever.service.FOLLOW_UP_MARGIN`).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from bot.db import Delivery, MessageArticle, utcnow
from bot.repository import Repository

# A follow-up is short: a longer question stands on its own.
FOLLOW_UP_WORDS = 8
FOLLOW_UP_WINDOW = dt.timedelta(minutes=10)
_DIGEST_ID = re.compile(r"\b(?:ID|id)\s+([0-9a-f]{12})\b")


def article_id_in_text(text: str | None) -> str | None:
    """The article id a digest shows ("… · ID 693e6b00da0f")."""
    match = _DIGEST_ID.search(text or "")
    return match.group(1) if match else None


def is_short_follow_up(question: str) -> bool:
    return 0 < len(question.split()) <= FOLLOW_UP_WORDS


class Conversations:
    """Reads and writes `bot_message_articles` (and reads the delivery ledger)."""

    def __init__(self, repo: Repository) -> None:
        self.repo = repo

    async def record(
        self, chat_id: int, message_ids: Iterable[int], article_id: str, kind: str = "answer"
    ) -> None:
        rows = [
            {
                "chat_id": chat_id,
                "message_id": message_id,
                "article_id": article_id,
                "kind": kind,
                "created_at": utcnow(),
            }
            for message_id in message_ids
        ]
        if not rows:
            return
        dialect = postgresql if self.repo.engine.dialect.name == "postgresql" else sqlite
        async with self.repo.session() as session, session.begin():
            await session.execute(dialect.insert(MessageArticle).on_conflict_do_nothing(), rows)

    async def article_of_message(self, chat_id: int, message_id: int) -> str | None:
        async with self.repo.session() as session:
            found = await session.scalar(
                select(MessageArticle.article_id).where(
                    MessageArticle.chat_id == chat_id, MessageArticle.message_id == message_id
                )
            )
            if found is None:
                found = await session.scalar(
                    select(Delivery.article_id).where(
                        Delivery.chat_id == chat_id, Delivery.message_id == message_id
                    )
                )
            return found

    async def recent_answer(self, chat_id: int, within: dt.timedelta = FOLLOW_UP_WINDOW) -> str | None:
        """The article of the chat's last answer, when it came less than `within` ago."""
        async with self.repo.session() as session:
            return await session.scalar(
                select(MessageArticle.article_id)
                .where(
                    MessageArticle.chat_id == chat_id,
                    MessageArticle.kind == "answer",
                    MessageArticle.created_at >= utcnow() - within,
                )
                .order_by(MessageArticle.created_at.desc())
                .limit(1)
            )
