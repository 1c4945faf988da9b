"""BotSettings.from_env: bad values are ConfigErrors naming the variable; repr hides every secret."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.settings import BotSettings, SettingsError
from retriever.errors import ConfigError


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    monkeypatch.chdir(tmp_path)  # no .env here
    for name in (
        "TELEGRAM_BOT_TOKEN",
        "TELEGRAM_BASE_URL",
        "NEWSQA_DATABASE_URL",
        "NEWSQA_DOCUMENT_STORE",
        "NEWSQA_WEBHOOK_PORT",
        "NEWSQA_WEBHOOK_SECRET",
        "NEWSQA_QUESTION_CACHE",
        "NEWSQA_BOT_MODE",
        "NEWSQA_LOG_LEVEL",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NEWSQA_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123:abcDEF_-x")
    return monkeypatch


def test_settings_error_is_a_config_error() -> None:
    assert issubclass(SettingsError, ConfigError) and issubclass(SettingsError, ValueError)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        (
            "NEWSQA_DATABASE_URL",
            "mysql://u:pw@h/db",
            "NEWSQA_DATABASE_URL must be a sqlite:/// or postgresql://",
        ),
        ("NEWSQA_DATABASE_URL", "not a url", "NEWSQA_DATABASE_URL must be"),
        ("NEWSQA_WEBHOOK_PORT", "http", "NEWSQA_WEBHOOK_PORT must be a port number (1-65535), got 'http'"),
        ("NEWSQA_WEBHOOK_PORT", "70000", "NEWSQA_WEBHOOK_PORT must be a port number"),
        ("TELEGRAM_BASE_URL", "127.0.0.1:8081", "TELEGRAM_BASE_URL must be an http(s) URL"),
        ("NEWSQA_QUESTION_CACHE", "abc", "NEWSQA_QUESTION_CACHE must be a whole number ≥ 0, got 'abc'"),
        ("NEWSQA_DOCUMENT_STORE", "redis://h", "NEWSQA_DOCUMENT_STORE must be empty"),
        ("NEWSQA_LOG_LEVEL", "loud", "NEWSQA_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, got 'LOUD'"),
    ],
)
def test_bad_values_name_the_setting(env: pytest.MonkeyPatch, name: str, value: str, message: str) -> None:
    env.setenv(name, value)
    with pytest.raises(ConfigError) as info:
        BotSettings.from_env()
    assert message in str(info.value) and "pw" not in str(info.value)


def test_data_dir_that_is_a_file(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    env.setenv("NEWSQA_DATA_DIR", str(tmp_path / "file"))
    with pytest.raises(ConfigError, match=r"NEWSQA_DATA_DIR .* is a file"):
        BotSettings.from_env()


def test_repr_masks_passwords_token_and_webhook_secret(env: pytest.MonkeyPatch) -> None:
    env.setenv("NEWSQA_DOCUMENT_STORE", "postgresql://newsqa:StorePw1@db/newsqa")
    env.setenv("NEWSQA_DATABASE_URL", "postgresql://bot:BotPw2@db/bots")
    env.setenv("NEWSQA_WEBHOOK_SECRET", "Wh9")
    settings = BotSettings.from_env()
    assert settings.database_url == "postgresql+asyncpg://bot:BotPw2@db/bots"
    shown = repr(settings)
    for secret in ("StorePw1", "BotPw2", "abcDEF", "Wh9"):
        assert secret not in shown
    assert "postgresql+asyncpg://bot:***@db/bots" in shown and "postgresql://newsqa:***@db/newsqa" in shown
