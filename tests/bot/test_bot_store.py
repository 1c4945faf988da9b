"""Unit tests of the bot's database: schema version, the delivery ledger, subscriptions, settings."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import insert, update

from bot.db import SCHEMA_VERSION, SchemaError, SchemaVersion, create_engine, init_db
from bot.jobs import missed_slot, parse_hhmm
from bot.repository import Repository, SubscriptionInfo
from bot.settings import BotSettings, SettingsError, parse_admin_ids
from retriever.database import async_database_url
from retriever.models import ArticleInfo


def article(article_id: str, minutes_from_now: float) -> ArticleInfo:
    indexed = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=minutes_from_now)
    return ArticleInfo(article_id, f"Titel {article_id}", "2024-05", 5, "x.txt", indexed.isoformat())


async def test_schema_version_is_recorded_and_newer_databases_are_refused(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite3'}")
    assert await init_db(engine) == SCHEMA_VERSION
    assert await init_db(engine) == SCHEMA_VERSION  # idempotent
    async with engine.begin() as conn:
        await conn.execute(insert(SchemaVersion).values(version=SCHEMA_VERSION + 1))
    with pytest.raises(SchemaError, match="newer than this bot"):
        await init_db(engine)
    await engine.dispose()


async def test_fan_out_records_each_digest_once_and_only_for_earlier_subscribers(repo: Repository) -> None:
    old = article("old", -60)
    await repo.subscribe(1, chat_type="private", language="de", timezone="Europe/Berlin")
    await repo.subscribe(2, chat_type="private", language="en", timezone="Europe/Berlin")
    await repo.subscribe(3, chat_type="private", language="de", timezone="Europe/Berlin")
    await repo.unsubscribe(3)
    new = article("new", +1)
    assert await repo.unseen_articles([new, old]) == [old, new]  # oldest first
    assert await repo.fan_out(old) == 0  # indexed before anyone subscribed
    assert await repo.fan_out(new) == 2
    assert await repo.fan_out(new) == 0  # a second fan-out records nothing
    assert await repo.unseen_articles([new, old]) == []
    deliveries = await repo.deliveries()
    assert sorted((d.chat_id, d.ref, d.status) for d in deliveries) == [
        (1, "new", "pending"),
        (2, "new", "pending"),
    ]


async def test_claim_is_exclusive_and_confirmations_stick(repo: Repository) -> None:
    await repo.subscribe(1, chat_type="private", language="en", timezone="Europe/Berlin")
    await repo.fan_out(article("a", +1))
    (pending,) = await repo.pending()
    delivery_id = pending.id
    claims = await asyncio.gather(*(repo.claim(delivery_id) for _ in range(5)))
    winners = [c for c in claims if c is not None]
    assert len(winners) == 1 and winners[0].language == "en" and winners[0].attempts == 1
    assert await repo.pending() == []
    assert await repo.reset_in_flight() == 1  # a crash mid-send: back to pending
    claimed = await repo.claim(delivery_id)
    assert claimed is not None and claimed.attempts == 2
    await repo.mark_sent(delivery_id, 99)
    assert await repo.claim(delivery_id) is None
    assert (await repo.delivery_counts())["sent"] == 1


async def test_daily_records_once_per_day(repo: Repository) -> None:
    assert await repo.record_daily(5, "2024-05-01", "a")
    assert not await repo.record_daily(5, "2024-05-01", "b")
    assert await repo.record_daily(5, "2024-05-02", "b")
    assert await repo.has_daily(5, "2024-05-01") and not await repo.has_daily(5, "2024-05-03")


async def test_unsubscribe_skips_pending_and_resubscribe_starts_fresh(repo: Repository) -> None:
    first, created = await repo.subscribe(1, chat_type="private", language="de", timezone="Europe/Berlin")
    assert created
    await repo.fan_out(article("a", +1))
    assert await repo.unsubscribe(1)
    assert not await repo.unsubscribe(1)
    assert [d.status for d in await repo.deliveries(1)] == ["skipped"]
    await asyncio.sleep(0.01)
    again, created = await repo.subscribe(1, chat_type="private", language="de", timezone="Europe/Berlin")
    assert created and again.since > first.since


async def test_daily_time_keep_set_and_clear(repo: Repository) -> None:
    sub, _ = await repo.subscribe(
        1, chat_type="private", language="de", timezone="Europe/Vienna", daily_time="07:30"
    )
    assert (sub.daily_time, sub.timezone) == ("07:30", "Europe/Vienna") and sub.daily_since is not None
    kept, created = await repo.subscribe(1, chat_type="private", language="de", timezone="Europe/Berlin")
    assert not created and kept.daily_time == "07:30" and kept.timezone == "Europe/Vienna"
    cleared, _ = await repo.subscribe(
        1, chat_type="private", language="de", timezone="Europe/Berlin", daily_time=None
    )
    assert cleared.daily_time is None and cleared.daily_since is None
    assert await repo.daily_subscriptions() == []


async def test_migrate_chat_moves_subscription_and_pending_deliveries(repo: Repository) -> None:
    await repo.subscribe(-5, chat_type="group", language="de", timezone="Europe/Berlin", daily_time="08:00")
    await repo.fan_out(article("a", +1))
    assert await repo.migrate_chat(-5, -1005)
    old, new = await repo.get_subscription(-5), await repo.get_subscription(-1005)
    assert old is not None and not old.active
    assert new is not None and new.active and new.daily_time == "08:00" and new.chat_type == "supergroup"
    assert [d.chat_id for d in await repo.deliveries()] == [-1005]
    assert not await repo.migrate_chat(-7, -1007)


async def test_subscription_counts(repo: Repository) -> None:
    await repo.subscribe(1, chat_type="private", language="de", timezone="Europe/Berlin", daily_time="07:00")
    await repo.subscribe(2, chat_type="private", language="de", timezone="Europe/Berlin")
    await repo.subscribe(3, chat_type="private", language="de", timezone="Europe/Berlin")
    await repo.unsubscribe(3)
    async with repo.session() as session, session.begin():  # timestamps come back as aware UTC
        await session.execute(update(SchemaVersion).values(version=SCHEMA_VERSION))
    assert await repo.subscription_counts() == {"active": 2, "daily": 1, "inactive": 1}
    sub = await repo.get_subscription(1)
    assert sub is not None and sub.since.tzinfo is not None


def test_parse_hhmm() -> None:
    assert parse_hhmm("07:30") == dt.time(7, 30) and parse_hhmm("7:05") == dt.time(7, 5)
    assert parse_hhmm("23:59") == dt.time(23, 59) and parse_hhmm("00:00") == dt.time(0, 0)
    for bad in ("25:99", "24:00", "12:60", "7", "07:3", "ab:cd", "07:30:00", "-1:30", "", "٠٧:٣٠"):
        assert parse_hhmm(bad) is None, bad


def test_missed_slot() -> None:
    since = dt.datetime(2024, 5, 1, 5, 0, tzinfo=dt.UTC)  # 07:00 in Berlin (CEST)
    sub = SubscriptionInfo(1, "private", "de", True, since, "08:00", "Europe/Berlin", since, None)
    assert missed_slot(sub, dt.datetime(2024, 5, 1, 5, 30, tzinfo=dt.UTC)) is None  # before the first slot
    assert missed_slot(sub, dt.datetime(2024, 5, 1, 6, 30, tzinfo=dt.UTC)) == "2024-05-01"
    assert missed_slot(sub, dt.datetime(2024, 5, 3, 5, 0, tzinfo=dt.UTC)) == "2024-05-02"
    late = SubscriptionInfo(1, "private", "de", True, since, "06:00", "Europe/Berlin", since, None)
    assert missed_slot(late, dt.datetime(2024, 5, 1, 6, 30, tzinfo=dt.UTC)) is None  # set after 06:00


def test_settings_from_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no .env here
    for name in (
        "TELEGRAM_BOT_TOKEN",
        "TELEGRAM_BASE_URL",
        "NEWSQA_ADMIN_IDS",
        "NEWSQA_TIMEZONE",
        "NEWSQA_BOT_MODE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NEWSQA_DATA_DIR", str(tmp_path))
    settings = BotSettings.from_env()
    assert settings.database_url == f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite3'}"
    assert settings.timezone == "Europe/Berlin" and settings.mode == "polling" and not settings.admin_ids
    with pytest.raises(SettingsError, match="TELEGRAM_BOT_TOKEN is not set"):
        settings.validate()
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123:abcDEF_-x")
    monkeypatch.setenv("TELEGRAM_BASE_URL", "http://127.0.0.1:8081/")
    monkeypatch.setenv("NEWSQA_ADMIN_IDS", "1, 2;3")
    monkeypatch.setenv("NEWSQA_DATABASE_URL", "postgresql://u:p@db/newsqa")
    settings = BotSettings.from_env().validate()
    assert settings.base_url == "http://127.0.0.1:8081" and settings.admin_ids == {1, 2, 3}
    assert settings.database_url == "postgresql+asyncpg://u:p@db/newsqa"
    assert "abcDEF" not in repr(settings)
    monkeypatch.setenv("NEWSQA_BOT_MODE", "webhook")
    with pytest.raises(SettingsError, match="NEWSQA_WEBHOOK_URL"):
        BotSettings.from_env().validate()
    monkeypatch.setenv("NEWSQA_WEBHOOK_URL", "https://bot.example.org/tg/hook")
    webhook = BotSettings.from_env().validate()
    assert webhook.webhook_path == "tg/hook" and len(webhook.webhook_secret) >= 32
    for name, value, message in (
        ("NEWSQA_TIMEZONE", "Mars/Base", "unknown time zone"),
        ("NEWSQA_BOT_MODE", "carrier-pigeon", "polling"),
        ("NEWSQA_ADMIN_IDS", "alice", "user ids"),
        ("NEWSQA_REFRESH_INTERVAL", "soon", "number"),
    ):
        monkeypatch.setenv(name, value)
        with pytest.raises(SettingsError, match=message):
            BotSettings.from_env()
        monkeypatch.delenv(name)


def test_helpers() -> None:
    assert parse_admin_ids("") == frozenset()
    assert async_database_url("sqlite:///x.db") == "sqlite+aiosqlite:///x.db"
    assert async_database_url("postgresql+asyncpg://h/db") == "postgresql+asyncpg://h/db"


def test_bot_database_follows_the_postgres_document_store(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env here
    monkeypatch.delenv("NEWSQA_DATABASE_URL", raising=False)
    monkeypatch.setenv("NEWSQA_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("NEWSQA_DOCUMENT_STORE", "postgresql://u:p@db/newsqa")
    assert BotSettings.from_env().database_url == "postgresql+asyncpg://u:p@db/newsqa"
    monkeypatch.setenv("NEWSQA_DATABASE_URL", "postgresql://u:p@other/bots")
    assert BotSettings.from_env().database_url == "postgresql+asyncpg://u:p@other/bots"
