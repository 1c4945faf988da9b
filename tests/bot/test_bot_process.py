"""End to end with real processes: `python -m bot` against the fake Bot API, restarted, with the CLI
indexing in another process; start-up errors exit with a clear message."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import sys
from pathlib import Path

import aiohttp
import pytest
from bot_testkit import REPO_ROOT, article_text, subprocess_env
from fake_telegram import FakeTelegram

pytestmark = pytest.mark.slow


class BotProcess:
    """`python -m bot` as a child process, its output collected."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.output = ""
        self.process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            cwd=REPO_ROOT,
            env=self.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        async for line in self.process.stdout:
            self.output += line.decode(errors="replace")

    async def stop(self) -> int:
        assert self.process is not None
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            code = await asyncio.wait_for(self.process.wait(), 30)
        finally:
            if self.process.returncode is None:
                self.process.kill()
        if self._reader is not None:
            await self._reader
        return code


async def run_cli(*args: str, env: dict[str, str]) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        *args,
        cwd=REPO_ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), 120)
    return process.returncode or 0, output.decode(errors="replace")


def digests(fake: FakeTelegram, chat_id: int) -> list[str]:
    return [m.visible for m in fake.messages_to(chat_id) if m.visible.startswith("📰")]


async def test_restart_sends_no_duplicate_and_rebuilds_the_daily_job(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    daily_user, plain_user = 7001, 7002
    env = subprocess_env(fake, tmp_path / "data", NEWSQA_LOG_LEVEL="DEBUG")
    article = tmp_path / "wahl.txt"
    article.write_text(article_text("Kommunalwahl im Kreis", "Kommunalwahl"), encoding="utf-8")

    first = BotProcess(env)
    await first.start()
    try:
        assert (
            "Willkommen"
            in (await fake.reply_to(daily_user, lambda: fake.send_command(daily_user, "start"), 90)).visible
        )
        await fake.reply_to(daily_user, lambda: fake.send_command(daily_user, "subscribe", "07:30"))
        await fake.reply_to(plain_user, lambda: fake.send_command(plain_user, "subscribe"))
        code, output = await run_cli("retriever.cli", "index", str(article), env=env)
        assert code == 0, output
        await fake.wait_for(lambda: digests(fake, daily_user) and digests(fake, plain_user), within=30)
    finally:
        first_code = await first.stop()
    assert first_code == 0, first.output[-3000:]

    second = BotProcess(env)
    await second.start()
    try:
        status = await fake.reply_to(daily_user, lambda: fake.send_command(daily_user, "status"), 90)
        await asyncio.sleep(1.5)  # several refresh intervals: a duplicate would have been sent by now
    finally:
        second_code = await second.stop()
    assert second_code == 0, second.output[-3000:]

    assert len(digests(fake, daily_user)) == 1 and len(digests(fake, plain_user)) == 1
    assert "Kommunalwahl im Kreis" in digests(fake, daily_user)[0]
    assert "Tägliche Zusammenfassung: 07:30 Uhr (Europe/Berlin), nächste am" in status.visible
    assert "Rebuilt 1 daily digest job(s)" in second.output
    assert not fake.rejected
    secret = fake.token.partition(":")[2]
    for output in (first.output, second.output):
        assert "newsqa bot @newsqa_test_bot is up" in output
        assert fake.token not in output and secret not in output  # not even at DEBUG


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_webhook_mode_with_secret_token(fake: FakeTelegram, tmp_path: Path) -> None:
    port, secret = free_port(), "s3cret-webhook-token_0123456789"
    url = f"http://127.0.0.1:{port}/telegram/hook"
    env = subprocess_env(
        fake,
        tmp_path / "data",
        NEWSQA_BOT_MODE="webhook",
        NEWSQA_WEBHOOK_URL=url,
        NEWSQA_WEBHOOK_LISTEN="127.0.0.1",
        NEWSQA_WEBHOOK_PORT=str(port),
        NEWSQA_WEBHOOK_SECRET=secret,
    )
    bot = BotProcess(env)
    await bot.start()
    try:
        await fake.wait_for(lambda: bool(fake.webhook), within=90)
        assert fake.webhook["url"] == url and fake.webhook["secret_token"] == secret
        async with aiohttp.ClientSession() as session:
            for _ in range(100):  # the webhook server starts right after setWebhook
                with contextlib.suppress(aiohttp.ClientConnectionError):
                    async with session.post(url, json=fake.webhook_update(7101, "/start")) as wrong:
                        break
                await asyncio.sleep(0.1)
            assert wrong.status == 403  # no secret header
            headers = {"X-Telegram-Bot-Api-Secret-Token": secret}
            update = fake.webhook_update(7101, "Wann trafen sich Putin und Biden persönlich?")
            async with session.post(url, json=update, headers=headers) as right:
                assert right.status == 200
        (answer,) = await fake.wait_for_messages(7101, 1, within=30)
    finally:
        code = await bot.stop()
    assert code == 0, bot.output[-3000:]
    assert "Genf" in answer.visible
    assert secret not in bot.output and fake.token not in bot.output


async def test_without_token_exits_with_a_clear_message(tmp_path: Path) -> None:
    env = subprocess_env(FakeTelegram(), tmp_path)
    env.pop("TELEGRAM_BOT_TOKEN")
    code, output = await run_cli("bot", env=env)
    assert code == 2
    assert "TELEGRAM_BOT_TOKEN is not set" in output and "Traceback" not in output
    script = Path(sys.executable).with_name("newsqa-bot")  # the installed entry point, same code
    process = await asyncio.create_subprocess_exec(
        script, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 2 and "TELEGRAM_BOT_TOKEN is not set" in out.decode()


async def test_rejected_token_exits_with_a_clear_message(fake: FakeTelegram, tmp_path: Path) -> None:
    env = subprocess_env(fake, tmp_path, TELEGRAM_BOT_TOKEN="999:WRONGwrongWRONGwrong")
    code, output = await run_cli("bot", env=env)
    assert code == 1, output
    assert "Telegram rejected TELEGRAM_BOT_TOKEN" in output and "Traceback" not in output
    assert "WRONGwrongWRONGwrong" not in output
