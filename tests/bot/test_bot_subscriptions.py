"""End to end: subscriptions, digest broadcasts, restarts, and Telegram's failure modes."""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
import time
import uuid
from pathlib import Path
from zoneinfo import ZoneInfo

from bot_testkit import ADMIN_ID, REPO_ROOT, article_text, bot_settings, run_application
from conftest import RunBot
from fake_telegram import FakeTelegram
from sqlalchemy import update

from bot.db import Subscription
from bot.jobs import daily_job_name
from bot.services import services
from retriever.service import NewsQA

NEW = "📰 Neuer Artikel"


def digests(fake: FakeTelegram, chat_id: int) -> list[str]:
    return [m.visible for m in fake.messages_to(chat_id) if m.visible.startswith(("📰", "☀️"))]


def unique_article(label: str = "Hafen") -> tuple[str, str]:
    tag = uuid.uuid4().hex[:8]
    title = f"{label} {tag}: Neue Pläne für den {label}"
    return title, article_text(title, f"{label}{tag}")


async def subscribe(fake: FakeTelegram, chat_id: int, args: str = "") -> str:
    reply = await fake.reply_to(chat_id, lambda: fake.send_command(chat_id, "subscribe", args))
    return reply.visible


async def admin_index(fake: FakeTelegram, name: str, text: str) -> str:
    reply = await fake.reply_to(
        ADMIN_ID,
        lambda: fake.send_document(ADMIN_ID, name, text.encode(), caption="/index", user_id=ADMIN_ID),
    )
    return reply.visible


async def settle(seconds: float = 0.8) -> None:
    """Let a few refresh ticks (0.2 s) pass, so a duplicate would have been sent by now."""
    await asyncio.sleep(seconds)


async def test_subscribe_then_index_sends_exactly_one_digest_per_subscriber(
    fake: FakeTelegram, run_bot: RunBot
) -> None:
    subscribers, quitter, bystander = [2001, 2002, 2003], 2004, 2005
    title, text = unique_article()
    async with run_bot() as app:
        for chat in [*subscribers, quitter]:
            assert (await subscribe(fake, chat)).startswith("🔔 Abonniert.")
        assert "bereits abonniert" in await subscribe(fake, subscribers[0])
        await fake.reply_to(quitter, lambda: fake.send_command(quitter, "unsubscribe"))
        await settle()
        assert all(digests(fake, chat) == [] for chat in subscribers)  # old articles are not sent

        reply = await admin_index(fake, "hafen.md", text)
        assert reply.startswith("✅ Indexiert: " + title)
        for chat in subscribers:
            await fake.wait_for(lambda chat=chat: len(digests(fake, chat)) >= 1)
        again = await admin_index(fake, "hafen.md", text)
        await settle()
        deliveries = await services(app).repo.deliveries()
    assert again.startswith(("Unverändert", "Doppelt"))
    for chat in subscribers:
        (digest,) = digests(fake, chat)
        assert digest.startswith(f"{NEW}\n\n{title}\nMai 2024")
        message = next(m for m in fake.messages_to(chat) if m.visible == digest)
        assert message.reply_markup == {
            "inline_keyboard": [[{"text": "🔕 Abbestellen", "callback_data": "unsub"}]]
        }
    assert digests(fake, quitter) == [] and digests(fake, bystander) == []
    assert sorted(d.chat_id for d in deliveries) == subscribers
    assert {d.status for d in deliveries} == {"sent"}
    assert not fake.rejected


async def test_article_indexed_by_the_cli_reaches_subscribers(
    fake: FakeTelegram, run_bot: RunBot, qa_data_dir: Path, tmp_path: Path
) -> None:
    title, text = unique_article("Brücke")
    path = tmp_path / "bruecke.txt"
    path.write_text(text, encoding="utf-8")
    async with run_bot():
        await subscribe(fake, 2101)
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "retriever.cli",
            "index",
            str(path),
            cwd=REPO_ROOT,
            env={**_env(), "NEWSQA_DATA_DIR": str(qa_data_dir)},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await process.communicate()
        assert process.returncode == 0, output.decode()
        await fake.wait_for(lambda: len(digests(fake, 2101)) >= 1, within=30)
        await settle()
    (digest,) = digests(fake, 2101)
    assert title in digest


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "NEWSQA_"))}


async def test_blocked_chat_is_deactivated(fake: FakeTelegram, run_bot: RunBot) -> None:
    happy, blocker, kicker = 2201, 2202, 2203
    async with run_bot() as app:
        repo = services(app).repo
        for chat in (happy, blocker, kicker):
            await subscribe(fake, chat)
        fake.block(blocker)
        fake.bot_status_changed(kicker, "kicked")
        await settle(0.3)
        await admin_index(fake, "a.txt", unique_article("Schule")[1])
        await fake.wait_for(lambda: len(digests(fake, happy)) == 1)
        await settle()
        blocked_sub = await repo.get_subscription(blocker)
        kicked_sub = await repo.get_subscription(kicker)
        blocked_delivery = [d for d in await repo.deliveries(blocker)]
        attempts_before = sum(
            1 for m, p in fake.requests if m == "sendMessage" and int(p["chat_id"]) == blocker
        )
        await admin_index(fake, "b.txt", unique_article("Bahn")[1])
        await fake.wait_for(lambda: len(digests(fake, happy)) == 2)
        await settle()
        attempts_after = sum(
            1 for m, p in fake.requests if m == "sendMessage" and int(p["chat_id"]) == blocker
        )
    assert blocked_sub is not None and not blocked_sub.active
    assert blocked_sub.deactivated_reason and "blocked" in blocked_sub.deactivated_reason
    assert kicked_sub is not None and not kicked_sub.active
    assert [d.status for d in blocked_delivery] == ["failed"]
    assert attempts_before == attempts_after  # never tried again
    assert sum(1 for r in fake.rejected if int(r[1]["chat_id"]) == blocker) == 1
    assert fake.messages_to(kicker) == [m for m in fake.messages_to(kicker) if not m.visible.startswith("📰")]


async def test_retry_after_is_honoured(fake: FakeTelegram, run_bot: RunBot) -> None:
    chat = 2301
    async with run_bot():
        await subscribe(fake, chat)
        fake.rate_limit(chat, retry_after=1, times=2)
        started = time.monotonic()
        await admin_index(fake, "c.txt", unique_article("Flughafen")[1])
        await fake.wait_for(lambda: len(digests(fake, chat)) == 1, within=20)
        elapsed = time.monotonic() - started
        await settle()
    assert elapsed >= 2.0  # waited retry_after twice
    assert len(digests(fake, chat)) == 1
    assert sum(1 for r in fake.rejected if r[2] == 429) == 2


async def test_migrated_group_moves_its_subscription(fake: FakeTelegram, run_bot: RunBot) -> None:
    old, new = -6001, -1006001
    async with run_bot() as app:
        await subscribe(fake, old, "08:15")
        fake.migrate(old, new)
        await admin_index(fake, "d.txt", unique_article("Rathaus")[1])
        await fake.wait_for(lambda: len(digests(fake, new)) == 1)
        await settle()
        repo = services(app).repo
        old_sub, new_sub = await repo.get_subscription(old), await repo.get_subscription(new)
        jobs_old = app.job_queue.get_jobs_by_name(daily_job_name(old))
        jobs_new = app.job_queue.get_jobs_by_name(daily_job_name(new))
    assert old_sub is not None and not old_sub.active
    assert new_sub is not None and new_sub.active and new_sub.daily_time == "08:15"
    assert not jobs_old and len(jobs_new) == 1
    assert len(digests(fake, new)) == 1


async def test_buttons_unsubscribe_and_subscribe(fake: FakeTelegram, run_bot: RunBot) -> None:
    chat = 2401
    async with run_bot() as app:
        await subscribe(fake, chat)
        await admin_index(fake, "e.txt", unique_article("Markt")[1])
        await fake.wait_for(lambda: len(digests(fake, chat)) == 1)
        digest = next(m for m in fake.messages_to(chat) if m.visible.startswith("📰"))
        fake.press_button(chat, digest.message_id, "unsub")
        await fake.wait_for(lambda: len(fake.edits) == 1)
        after_unsub = await services(app).repo.get_subscription(chat)
        fake.press_button(chat, digest.message_id, "sub")
        await fake.wait_for(lambda: len(fake.edits) == 2)
        after_sub = await services(app).repo.get_subscription(chat)
        fake.press_button(chat, digest.message_id, "something-old")
        await fake.wait_for(lambda: len(fake.callback_answers) == 3)
    assert after_unsub is not None and not after_unsub.active
    assert after_sub is not None and after_sub.active
    assert [a.get("text") for a in fake.callback_answers] == [
        "Abbestellt",
        "Abonniert",
        "Diese Schaltfläche gilt nicht mehr.",
    ]
    assert fake.edits[0]["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "sub"
    assert fake.edits[1]["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "unsub"


async def test_daily_digest_job_status_and_once_per_day(fake: FakeTelegram, run_bot: RunBot) -> None:
    chat = 2501
    async with run_bot() as app:
        reply = await subscribe(fake, chat, "7:05")
        status = await fake.reply_to(chat, lambda: fake.send_command(chat, "status"))
        (job,) = app.job_queue.get_jobs_by_name(daily_job_name(chat))
        await job.run(app)
        await fake.wait_for(lambda: len(digests(fake, chat)) == 1)
        await job.run(app)  # a second run the same day sends nothing
        await settle()
        off = await subscribe(fake, chat, "aus")
        jobs_after_off = app.job_queue.get_jobs_by_name(daily_job_name(chat))
    assert "täglich um 07:05 Uhr (Europe/Berlin)" in reply
    assert "Tägliche Zusammenfassung: 07:05 Uhr (Europe/Berlin), nächste am" in status.visible
    assert (
        job.next_t is not None
        and job.next_t.astimezone(ZoneInfo("Europe/Berlin")).strftime("%H:%M") == "07:05"
    )
    (daily,) = digests(fake, chat)
    assert daily.startswith("☀️ Ihre tägliche Zusammenfassung")
    assert "tägliche Zusammenfassung ist abbestellt" in off and not jobs_after_off


async def test_restart_resumes_an_interrupted_broadcast_without_duplicates(
    fake: FakeTelegram, newsqa: NewsQA, tmp_path: Path
) -> None:
    chats = list(range(3001, 3061))
    settings = bot_settings(fake, tmp_path, broadcast_rate=25.0)
    async with run_application(settings, newsqa):
        for chat in chats:
            fake.send_command(chat, "subscribe")
        await fake.wait_for(lambda: all(fake.messages_to(c) for c in chats))
        await admin_index(fake, "f.txt", unique_article("Stadion")[1])
        await fake.wait_for(lambda: sum(len(digests(fake, c)) for c in chats) >= 10)
    # stopped mid-broadcast: some got their digest, the rest is still pending
    delivered_before = sum(len(digests(fake, c)) for c in chats)
    assert 10 <= delivered_before < len(chats)

    title, text = unique_article("Theater")
    await asyncio.to_thread(newsqa.index_text, text, "theater.txt")  # indexed while the bot is down
    async with run_application(settings, newsqa) as app:
        await fake.wait_for(lambda: all(len(digests(fake, c)) == 2 for c in chats), within=30)
        await settle()
        counts = await services(app).repo.delivery_counts()
    async with run_application(settings, newsqa):  # a second restart sends nothing
        await settle()
    assert all(len(digests(fake, c)) == 2 for c in chats), [len(digests(fake, c)) for c in chats]
    assert all(title in digests(fake, c)[1] for c in chats)
    assert counts["sent"] == 2 * len(chats) and counts["pending"] == counts["sending"] == 0


async def test_missed_daily_digest_is_caught_up_once_after_downtime(
    fake: FakeTelegram, newsqa: NewsQA, tmp_path: Path
) -> None:
    chat = 2601
    zone = ZoneInfo("Europe/Berlin")
    slot = (dt.datetime.now(zone) - dt.timedelta(hours=1)).strftime("%H:%M")
    settings = bot_settings(fake, tmp_path)
    async with run_application(settings, newsqa) as app:
        await subscribe(fake, chat, slot)
        async with services(app).repo.session() as session, session.begin():  # set up two days ago
            await session.execute(
                update(Subscription)
                .where(Subscription.chat_id == chat)
                .values(daily_since=dt.datetime.now(dt.UTC) - dt.timedelta(days=2))
            )
    async with run_application(settings, newsqa):
        await fake.wait_for(lambda: len(digests(fake, chat)) == 1)
    async with run_application(settings, newsqa):
        await settle()
    (daily,) = digests(fake, chat)
    assert daily.startswith("☀️ Ihre tägliche Zusammenfassung")
