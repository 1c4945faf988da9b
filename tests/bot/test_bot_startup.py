"""Start-up failures of `python -m bot`: one line on stderr, a non-zero exit code, no traceback and no
secret in the output; `-v` adds the traceback. Plus the log formatter that redacts secrets."""

from __future__ import annotations

import logging
import socket
import sys
from pathlib import Path

import pytest
from bot_testkit import subprocess_env
from fake_telegram import FakeTelegram
from test_bot_process import free_port, run_cli

from bot.app import RedactingFormatter, redact, secrets_of
from bot.settings import BotSettings
from retriever.settings import Settings

DB_PASSWORD = "Pw7"  # short on purpose: redaction must not depend on length


def error_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("newsqa bot:")]


def assert_one_line(output: str, expected: str) -> str:
    (line,) = error_lines(output)
    assert expected in line, output
    assert "Traceback" not in output, output
    return line


@pytest.mark.slow
async def test_unreachable_bot_api(tmp_path: Path) -> None:
    fake = FakeTelegram()
    fake.base_url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    env = subprocess_env(fake, tmp_path / "data")
    code, output = await run_cli("bot", env=env)
    assert code == 1
    assert_one_line(output, f"cannot reach the Telegram Bot API at {fake.base_url} (TELEGRAM_BASE_URL)")
    assert fake.token.partition(":")[2] not in output

    code, verbose = await run_cli("bot", "-v", env=env)
    assert code == 1 and "Traceback" in verbose and len(error_lines(verbose)) == 1
    assert fake.token.partition(":")[2] not in verbose  # not even in the traceback


@pytest.mark.slow
async def test_unreachable_bot_database(fake: FakeTelegram, tmp_path: Path) -> None:
    url = f"postgresql://newsqa:{DB_PASSWORD}@127.0.0.1:{free_port()}/newsqa"
    env = subprocess_env(fake, tmp_path / "data", NEWSQA_DATABASE_URL=url)
    code, output = await run_cli("bot", env=env)
    assert code == 1
    line = assert_one_line(output, "cannot open the bot database postgresql+asyncpg://newsqa:***@127.0.0.1:")
    assert "(NEWSQA_DATABASE_URL)" in line and DB_PASSWORD not in output
    code, verbose = await run_cli("bot", "-v", env=env)
    assert code == 1 and "Traceback" in verbose and DB_PASSWORD not in verbose


@pytest.mark.slow
@pytest.mark.postgres
async def test_bot_database_the_server_refuses(fake: FakeTelegram, tmp_path: Path, pg_url: str) -> None:
    pytest.importorskip("asyncpg")
    from sqlalchemy.engine import make_url

    missing = make_url(pg_url).set(database="no_such_database").render_as_string(hide_password=False)
    env = subprocess_env(fake, tmp_path / "data", NEWSQA_DATABASE_URL=missing)
    code, output = await run_cli("bot", env=env)
    assert code == 1
    assert_one_line(output, 'database "no_such_database" does not exist')


@pytest.mark.slow
async def test_data_dir_that_is_a_file(fake: FakeTelegram, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    code, output = await run_cli("bot", env=subprocess_env(fake, blocker / "data"))
    assert code == 2
    assert_one_line(output, "NEWSQA_DATA_DIR")
    assert "cannot be created" in output


@pytest.mark.slow
async def test_damaged_index(fake: FakeTelegram, tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = subprocess_env(fake, data)
    code, output = await run_cli("retriever.cli", "articles", env=env)  # creates the index
    assert code == 0, output
    damaged = [path for path in (data / "index").rglob("*") if path.is_file()]
    assert damaged
    for path in damaged:
        path.write_bytes(b"\x00garbage" * 64)
    code, output = await run_cli("bot", env=env)
    assert code == 1, output
    assert_one_line(output, "")


def test_redaction_of_short_and_long_secrets() -> None:
    settings = BotSettings(
        token="123:abcDEF",
        webhook_secret="k9",
        database_url=f"postgresql+asyncpg://bot:{DB_PASSWORD}@db/bots",
        core=Settings(document_store="postgresql://store:p%40ss@db/newsqa"),
    )
    secrets = secrets_of(settings)
    assert {"123:abcDEF", "abcDEF", "k9", DB_PASSWORD, "p%40ss", "p@ss"} <= set(secrets)
    formatter = RedactingFormatter("%(levelname)s %(message)s", secrets)
    record = logging.LogRecord(
        "bot",
        logging.ERROR,
        __file__,
        1,
        "token %s hook=%s pw %s store %s other postgresql://x:y@h/db",
        ("123:abcDEF", "k9", DB_PASSWORD, "p@ss"),
        None,
    )
    try:
        raise RuntimeError(f"connect to postgresql://bot:{DB_PASSWORD}@db failed, secret k9")
    except RuntimeError:
        record.exc_info = sys.exc_info()
    line = formatter.format(record)
    for secret in ("abcDEF", "k9", DB_PASSWORD, "p@ss", ":y@"):
        assert secret not in line
    assert "Traceback" in line and "postgresql://x:***@h/db" in line
    assert redact("?user=u&password=hunter2&x=1", []) == "?user=u&password=***&x=1"
    # a short secret is redacted where it stands alone, not inside longer words
    assert redact("k9 k9x xk9 (k9) secret_token=k9, url=u:k9@h", ["k9"]) == (
        "<redacted> k9x xk9 (<redacted>) secret_token=<redacted>, url=u:<redacted>@h"
    )
    assert redact("s is short: this stays", ["s"]) == "<redacted> is short: this stays"


@pytest.mark.slow
async def test_webhook_port_in_use(fake: FakeTelegram, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = subprocess_env(
            fake,
            tmp_path / "data",
            NEWSQA_BOT_MODE="webhook",
            NEWSQA_WEBHOOK_URL=f"http://127.0.0.1:{port}/hook",
            NEWSQA_WEBHOOK_LISTEN="127.0.0.1",
            NEWSQA_WEBHOOK_PORT=str(port),
            NEWSQA_WEBHOOK_SECRET="s",  # one character: still never shown
        )
        code, output = await run_cli("bot", env=env)
    assert code == 1
    line = assert_one_line(
        output, f"cannot listen for webhook updates on 127.0.0.1:{port} (NEWSQA_WEBHOOK_LISTEN"
    )
    assert line.endswith("Address already in use")  # the secret "s" inside words stays
