"""Helpers of the bot tests and benchmark: settings for a bot on the fake server, running the real
Application in the current event loop, sample articles, the environment of a bot subprocess."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from fake_telegram import FakeTelegram
from telegram import Update

from bot.app import NewsQAApplication, build_application, post_init, post_shutdown
from bot.settings import BotSettings
from retriever.settings import Settings

ADMIN_ID = 4242
REPO_ROOT = Path(__file__).resolve().parents[2]

ARTICLE_TEMPLATE = """date 2024-05 {title}

{body}
"""


def article_text(title: str, topic: str, sentences: int = 6) -> str:
    """A small, valid article about `topic` (distinct titles give distinct article ids)."""
    body = " ".join(
        f"Der {topic} Bericht nennt in Absatz {n} neue Zahlen zu {topic} und den Folgen für die Region."
        for n in range(1, sentences + 1)
    )
    return ARTICLE_TEMPLATE.format(title=title, body=body)


def bot_settings(fake: FakeTelegram, data_dir: Path, **overrides: Any) -> BotSettings:
    settings = BotSettings(
        token=fake.token,
        base_url=fake.base_url,
        admin_ids=frozenset({ADMIN_ID}),
        database_url=f"sqlite+aiosqlite:///{data_dir / 'bot.sqlite3'}",
        refresh_interval=0.2,
        broadcast_rate=200.0,
        poll_timeout=0.5,
        core=Settings(data_dir=data_dir),
    )
    return replace(settings, **overrides)


@asynccontextmanager
async def run_application(settings: BotSettings, qa: Any) -> AsyncIterator[NewsQAApplication]:
    """Run the real Application with long polling, as `run_polling` does, inside the test's loop."""
    application = build_application(settings, qa=qa)
    await application.initialize()
    try:
        await post_init(application)
        assert application.updater is not None
        await application.updater.start_polling(
            timeout=dt.timedelta(seconds=settings.poll_timeout), allowed_updates=Update.ALL_TYPES
        )
        await application.start()
        yield application
    finally:
        if application.updater is not None and application.updater.running:
            await application.updater.stop()
        if application.running:
            await application.stop()
        await application.shutdown()
        await post_shutdown(application)


def subprocess_env(fake: FakeTelegram, data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "NEWSQA_"))}
    env.update(
        {
            "TELEGRAM_BOT_TOKEN": fake.token,
            "TELEGRAM_BASE_URL": fake.base_url,
            "NEWSQA_DATA_DIR": str(data_dir),
            "NEWSQA_ADMIN_IDS": str(ADMIN_ID),
            "NEWSQA_REFRESH_INTERVAL": "0.3",
            "NEWSQA_POLL_TIMEOUT": "2",
            "NEWSQA_BROADCAST_RATE": "200",
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "PYTHONPATH": str(REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", ""),
        }
    )
    env.update(extra)
    return env
