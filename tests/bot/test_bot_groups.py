"""Groups: the group→supergroup migration race, and that only a group's administrators may end its
subscription (by /unsubscribe or the 🔕 button)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from conftest import RunBot
from fake_telegram import FakeTelegram

from bot.db import create_engine, init_db
from bot.jobs import daily_job_name
from bot.repository import Repository
from bot.services import services

GROUP, SUPERGROUP = -4711, -1004711
ADMIN, MEMBER = 501, 502


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgres":
        return str(request.getfixturevalue("pg_database_url"))
    return f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite3'}"


@pytest.fixture
async def repos(database_url: str) -> AsyncIterator[tuple[Repository, Repository]]:
    """Two repositories on one database, as two bot processes would have."""
    first, second = create_engine(database_url), create_engine(database_url)
    await init_db(first)
    yield Repository(first), Repository(second)
    await first.dispose()
    await second.dispose()


async def test_concurrent_migrations_of_one_group_are_idempotent(
    repos: tuple[Repository, Repository],
) -> None:
    repo, other_process = repos
    await repo.subscribe(
        GROUP, chat_type="group", language="de", timezone="Europe/Berlin", daily_time="07:30"
    )
    # the two service messages in one process, and a third copy from another process
    moved = await asyncio.gather(
        repo.migrate_chat(GROUP, SUPERGROUP),
        repo.migrate_chat(GROUP, SUPERGROUP),
        other_process.migrate_chat(GROUP, SUPERGROUP),
    )
    assert sorted(moved) == [False, False, True]
    old, new = await repo.get_subscription(GROUP), await repo.get_subscription(SUPERGROUP)
    assert old is not None and not old.active and old.deactivated_reason == f"migrated to {SUPERGROUP}"
    assert new is not None and new.active and new.daily_time == "07:30" and new.chat_type == "supergroup"
    assert not await repo.migrate_chat(GROUP, SUPERGROUP)  # once more, much later: nothing to do


async def test_migration_race_in_one_update_batch(
    fake: FakeTelegram, run_bot: RunBot, caplog: pytest.LogCaptureFixture
) -> None:
    async with run_bot() as app:
        repo = services(app).repo
        await fake.reply_to(GROUP, lambda: fake.send_command(GROUP, "subscribe", "08:15", user_id=ADMIN))
        with caplog.at_level(logging.INFO):
            fake.migrate_group(GROUP, SUPERGROUP, user_id=ADMIN)  # both service messages, one batch
            await fake.wait_for(lambda: not fake.updates or fake.updates[-1]["update_id"] > 0)
            for _ in range(100):
                new = await repo.get_subscription(SUPERGROUP)
                if new is not None and new.active:
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.5)  # both service messages are handled by now
        new = await repo.get_subscription(SUPERGROUP)
        assert app.job_queue is not None
        jobs = {job.name for job in app.job_queue.jobs()}
    assert new is not None and new.active and new.daily_time == "08:15"
    assert fake.messages_to(SUPERGROUP) == []  # no apology
    assert len(fake.messages_to(GROUP)) == 1  # only the /subscribe confirmation
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
    assert daily_job_name(SUPERGROUP) in jobs and daily_job_name(GROUP) not in jobs
    assert not fake.rejected


async def test_only_group_admins_may_unsubscribe_the_group(fake: FakeTelegram, run_bot: RunBot) -> None:
    fake.set_member_status(SUPERGROUP, ADMIN, "administrator")
    fake.set_member_status(SUPERGROUP, 503, "creator")
    async with run_bot() as app:
        repo = services(app).repo
        confirmation = await fake.reply_to(
            SUPERGROUP, lambda: fake.send_command(SUPERGROUP, "subscribe", user_id=MEMBER)
        )
        refused = await fake.reply_to(
            SUPERGROUP, lambda: fake.send_command(SUPERGROUP, "unsubscribe", user_id=MEMBER)
        )
        refused_en = await fake.reply_to(
            SUPERGROUP,
            lambda: fake.send_command(SUPERGROUP, "unsubscribe", user_id=MEMBER, language_code="en"),
        )
        still = await repo.get_subscription(SUPERGROUP)

        answers = len(fake.callback_answers)
        fake.press_button(SUPERGROUP, confirmation.message_id, "unsub", user_id=MEMBER)
        await fake.wait_for(lambda: len(fake.callback_answers) > answers)
        after_button = await repo.get_subscription(SUPERGROUP)
        button_answer = fake.callback_answers[-1]

        fake.press_button(SUPERGROUP, confirmation.message_id, "unsub", user_id=ADMIN)
        await fake.wait_for(lambda: len(fake.callback_answers) > answers + 1)
        by_admin_button = await repo.get_subscription(SUPERGROUP)
        await fake.reply_to(SUPERGROUP, lambda: fake.send_command(SUPERGROUP, "subscribe", user_id=MEMBER))
        by_creator = await fake.reply_to(
            SUPERGROUP, lambda: fake.send_command(SUPERGROUP, "unsubscribe", user_id=503)
        )
        final = await repo.get_subscription(SUPERGROUP)
    assert "nur die Administratoren der Gruppe" in refused.visible
    assert "only the group's administrators" in refused_en.visible
    assert still is not None and still.active
    assert after_button is not None and after_button.active
    assert button_answer["text"].startswith("Nur die Administratoren") and button_answer["show_alert"]
    assert by_admin_button is not None and not by_admin_button.active
    assert by_creator.visible.startswith("🔕 Abbestellt")
    assert final is not None and not final.active
    checked = [p for m, p in fake.requests if m == "getChatMember"]
    assert {(int(p["chat_id"]), int(p["user_id"])) for p in checked} >= {
        (SUPERGROUP, MEMBER),
        (SUPERGROUP, 503),
    }
    assert not fake.rejected


async def test_private_chats_and_anonymous_admins_need_no_check(fake: FakeTelegram, run_bot: RunBot) -> None:
    async with run_bot():
        await fake.reply_to(7301, lambda: fake.send_command(7301, "subscribe"))
        reply = await fake.reply_to(7301, lambda: fake.send_command(7301, "unsubscribe"))
        await fake.reply_to(SUPERGROUP, lambda: fake.send_command(SUPERGROUP, "subscribe", user_id=MEMBER))
        command = {"type": "bot_command", "offset": 0, "length": len("/unsubscribe")}
        message = fake._message(SUPERGROUP, 1087968824, "de", text="/unsubscribe", entities=[command])
        message["sender_chat"] = fake.chat(SUPERGROUP)  # an anonymous admin writes as the group
        anonymous = await fake.reply_to(SUPERGROUP, lambda: fake.add_update({"message": message}))
    assert reply.visible.startswith("🔕 Abbestellt")
    assert anonymous.visible.startswith("🔕 Abbestellt")
    assert not [m for m, _ in fake.requests if m == "getChatMember"]
