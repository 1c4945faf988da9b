"""Fixtures of the bot tests: the real NewsQA (loaded once), the fake Bot API server, a running bot."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pytest
from bot_testkit import bot_settings, run_application
from fake_telegram import FakeTelegram
from sqlalchemy.engine import make_url

from bot.app import NewsQAApplication
from bot.db import create_engine, init_db
from bot.repository import Repository
from retriever.database import async_database_url
from retriever.service import NewsQA
from retriever.settings import Settings


@pytest.fixture
def pg_database_url(pg_url: str) -> str:
    """A fresh database on the session's server (tests/conftest.py), as an asyncpg SQLAlchemy URL."""
    pytest.importorskip("asyncpg", reason="PostgreSQL tests need the postgres extra")
    import psycopg

    name = f"bot_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(async_database_url(pg_url)).set(database=name)
    return url.render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def qa_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("newsqa-data")


@pytest.fixture(scope="session")
def newsqa(qa_data_dir: Path) -> NewsQA:
    """The real retrieval core, shared by the in-process tests (models load once)."""
    qa = NewsQA(Settings(data_dir=qa_data_dir))
    qa.warm_up()
    return qa


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


RunBot = Callable[..., AbstractAsyncContextManager[NewsQAApplication]]


@pytest.fixture
def run_bot(fake: FakeTelegram, newsqa: NewsQA, tmp_path: Path) -> RunBot:
    """`async with run_bot(**setting_overrides) as app:` a bot on the fake server and the shared core."""

    def start(qa: Any = None, **overrides: Any) -> AbstractAsyncContextManager[NewsQAApplication]:
        return run_application(bot_settings(fake, tmp_path, **overrides), qa if qa is not None else newsqa)

    return start


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def repo(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Repository]:
    """The repository on SQLite, and on PostgreSQL when a server can be started."""
    if request.param == "postgres":
        url = request.getfixturevalue("pg_database_url")
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 'nested' / 'bot.sqlite3'}"
    engine = create_engine(url)
    await init_db(engine)
    yield Repository(engine)
    await engine.dispose()
