"""The per-process objects every handler and job needs, kept in `application.bot_data`.

`services(context)` returns them typed: settings, the async retrieval core, the database
repository, the digest broadcaster and a few counters for `/stats`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncEngine
from telegram.ext import Application, CallbackContext

from bot.qa import AsyncQA
from bot.repository import Repository
from bot.settings import BotSettings

if TYPE_CHECKING:
    from bot.broadcast import Broadcaster

SERVICES_KEY = "newsqa"


@dataclass
class Counters:
    questions: int = 0
    abstained: int = 0
    started_at: float = field(default_factory=time.monotonic)


@dataclass
class Services:
    settings: BotSettings
    qa: AsyncQA
    engine: AsyncEngine
    repo: Repository
    broadcaster: Broadcaster
    counters: Counters = field(default_factory=Counters)


def services(
    source: CallbackContext[Any, Any, Any, Any] | Application[Any, Any, Any, Any, Any, Any],
) -> Services:
    """The Services of the application behind a handler/job context or the application itself."""
    application = source if isinstance(source, Application) else source.application
    found = application.bot_data.get(SERVICES_KEY)
    if not isinstance(found, Services):
        raise RuntimeError(
            "newsqa services are not set up; build the application with bot.app.build_application"
        )
    return found
