"""Settings.from_env: every bad value is a ConfigError naming the variable; repr hides passwords."""

from __future__ import annotations

from pathlib import Path

import pytest

from retriever.errors import ConfigError, NewsQAError
from retriever.settings import Settings, mask_password, url_password

VARIABLES = (
    "NEWSQA_DATA_DIR",
    "NEWSQA_READER_MODEL",
    "NEWSQA_DOCUMENT_STORE",
    "NEWSQA_INDEX_DEFAULT",
    "NEWSQA_QUESTION_CACHE",
    "NEWSQA_DATABASE_URL",
)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """A clean environment with a writable data dir and no .env file in the working dir."""
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NEWSQA_DATA_DIR", str(tmp_path / "data"))
    return monkeypatch


def test_defaults_and_good_values(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    settings = Settings.from_env()
    assert settings.data_dir == tmp_path / "data" and not settings.data_dir.exists()  # created on use
    assert (settings.question_cache, settings.index_default, settings.document_store) == (1024, True, "")
    env.setenv("NEWSQA_QUESTION_CACHE", " 0 ")
    env.setenv("NEWSQA_INDEX_DEFAULT", "off")
    env.setenv("NEWSQA_DOCUMENT_STORE", "postgresql://newsqa:pw@127.0.0.1:5432/newsqa")
    settings = Settings.from_env()
    assert (settings.question_cache, settings.index_default) == (0, False)
    for value, expected in (("No", False), ("0", False), ("TRUE", True), ("yes", True), ("1", True)):
        env.setenv("NEWSQA_INDEX_DEFAULT", value)
        assert Settings.from_env().index_default is expected


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("NEWSQA_QUESTION_CACHE", "abc", "NEWSQA_QUESTION_CACHE must be a whole number ≥ 0, got 'abc'"),
        ("NEWSQA_QUESTION_CACHE", "-5", "NEWSQA_QUESTION_CACHE must be a whole number ≥ 0, got '-5'"),
        ("NEWSQA_QUESTION_CACHE", "1.5", "NEWSQA_QUESTION_CACHE must be a whole number ≥ 0, got '1.5'"),
        ("NEWSQA_INDEX_DEFAULT", "maybe", "NEWSQA_INDEX_DEFAULT must be 1/0, true/false"),
        ("NEWSQA_DOCUMENT_STORE", "mysql://u:pw@h/db", "NEWSQA_DOCUMENT_STORE must be empty"),
        ("NEWSQA_DOCUMENT_STORE", "/var/lib/newsqa", "or a postgresql:// URL, got '/var/lib/newsqa'"),
        ("NEWSQA_DOCUMENT_STORE", "postgresql://u:pw@h:port/db", "NEWSQA_DOCUMENT_STORE has a bad port"),
    ],
)
def test_bad_values_name_the_setting(env: pytest.MonkeyPatch, name: str, value: str, message: str) -> None:
    env.setenv(name, value)
    with pytest.raises(ConfigError) as info:
        Settings.from_env()
    assert message in str(info.value)
    assert isinstance(info.value, NewsQAError) and "\n" not in str(info.value)
    assert "pw" not in str(info.value)  # a password never reaches the message


def test_data_dir_that_is_a_file_or_below_one(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    env.setenv("NEWSQA_DATA_DIR", str(blocker))
    with pytest.raises(ConfigError, match=r"NEWSQA_DATA_DIR '.*a-file' is a file, not a directory"):
        Settings.from_env()
    env.setenv("NEWSQA_DATA_DIR", str(blocker / "sub" / "dir"))
    with pytest.raises(ConfigError, match=r"NEWSQA_DATA_DIR .* cannot be created: '.*a-file' is a file"):
        Settings.from_env()


def test_unwritable_data_dir(
    env: pytest.MonkeyPatch, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    import retriever.settings as module

    # as root, chmod cannot make a directory unwritable; ask the access check directly
    monkeypatch.setattr(module.os, "access", lambda path, mode: Path(path) != locked)
    env.setenv("NEWSQA_DATA_DIR", str(locked))
    with pytest.raises(ConfigError, match=r"NEWSQA_DATA_DIR '.*locked' is not writable"):
        Settings.from_env()
    env.setenv("NEWSQA_DATA_DIR", str(locked / "newsqa"))
    with pytest.raises(ConfigError, match=r"cannot be created: '.*locked' is not writable"):
        Settings.from_env()


def test_reader_model_directory_must_exist(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env.setenv("NEWSQA_READER_MODEL", str(tmp_path / "no-such-model"))
    with pytest.raises(ConfigError, match=r"NEWSQA_READER_MODEL '.*no-such-model' is not a directory"):
        Settings.from_env()
    env.setenv("NEWSQA_READER_MODEL", str(tmp_path))
    assert Settings.from_env().reader_model == str(tmp_path)
    env.setenv("NEWSQA_READER_MODEL", "deepset/gelectra-base-germanquad")  # a hub name: checked on load
    assert Settings.from_env().reader_model == "deepset/gelectra-base-germanquad"


def test_repr_masks_the_database_password() -> None:
    settings = Settings(document_store="postgresql://newsqa:s3cr%40t@db.example:5432/newsqa")
    assert "s3cr" not in repr(settings) and "postgresql://newsqa:***@db.example:5432/newsqa" in repr(settings)
    assert "s3cr" not in str(settings)
    assert settings.document_store.endswith("@db.example:5432/newsqa")  # the value itself is intact


def test_mask_and_find_passwords_in_urls() -> None:
    assert mask_password("postgresql://u:p@ss:w@h/db") == "postgresql://u:***@h/db"
    assert mask_password("postgresql://u@h/db") == "postgresql://u@h/db"
    assert mask_password("postgresql://h/db?user=u&password=x1&sslmode=require") == (
        "postgresql://h/db?user=u&password=***&sslmode=require"
    )
    assert mask_password("") == "" and mask_password("sqlite+aiosqlite:////tmp/bot.db") == (
        "sqlite+aiosqlite:////tmp/bot.db"
    )
    assert url_password("postgresql://u:p%40ss@h/db") == "p%40ss"
    assert url_password("postgresql://h/db?password=x1") == "x1" and url_password("sqlite:///x") == ""


def test_bot_and_feed_registry_share_one_database(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from bot.settings import BotSettings
    from retriever.feeds.db import database_url

    def both() -> tuple[str, str]:
        return BotSettings.from_env().database_url, database_url(Settings.from_env())

    assert both() == (
        f"sqlite+aiosqlite:///{tmp_path / 'data' / 'bot.sqlite3'}",
        f"sqlite:///{tmp_path / 'data' / 'bot.sqlite3'}",
    )
    env.setenv("NEWSQA_DOCUMENT_STORE", "postgresql://u:pw@127.0.0.1/news")
    assert both() == ("postgresql+asyncpg://u:pw@127.0.0.1/news", "postgresql+psycopg://u:pw@127.0.0.1/news")
    env.setenv("NEWSQA_DATABASE_URL", "sqlite:////srv/bot.db")
    assert both() == ("sqlite+aiosqlite:////srv/bot.db", "sqlite:////srv/bot.db")
    env.setenv("NEWSQA_DATABASE_URL", "mysql://u:pw@h/db")
    with pytest.raises(ConfigError, match="NEWSQA_DATABASE_URL"):
        Settings.from_env()
