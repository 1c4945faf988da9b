"""Settings of the Telegram bot, read from the environment (and a `.env` file in the working dir).

| variable | meaning | default |
| --- | --- | --- |
| `TELEGRAM_BOT_TOKEN` | the bot's token from @BotFather; never logged | required |
| `TELEGRAM_BASE_URL` | root of a local Bot API server, e.g. `http://127.0.0.1:8081` | api.telegram.org |
| `NEWSQA_ADMIN_IDS` | comma-separated Telegram user ids allowed to `/index` and `/stats` | none |
| `NEWSQA_TIMEZONE` | default time zone of daily digests | `Europe/Berlin` |
| `NEWSQA_DATA_DIR` | where the index and the bot's SQLite database live | platform data dir |
| `NEWSQA_DATABASE_URL` | database of the bot | `NEWSQA_DOCUMENT_STORE` if set, else SQLite |
| `NEWSQA_BOT_MODE` | `polling` or `webhook` | `polling` |
| `NEWSQA_WEBHOOK_URL` | public HTTPS URL Telegram posts updates to (webhook mode) | required for webhook |
| `NEWSQA_WEBHOOK_SECRET` | `secret_token` Telegram sends with each update | random per start |
| `NEWSQA_WEBHOOK_LISTEN` / `NEWSQA_WEBHOOK_PORT` | where the webhook server listens | `0.0.0.0` / `8443` |
| `NEWSQA_REFRESH_INTERVAL` | seconds between checks for articles indexed by another process | `30` |
| `NEWSQA_BROADCAST_RATE` | digest messages per second sent to subscribers | `25` |
| `NEWSQA_POLL_TIMEOUT` | long-polling timeout of getUpdates, seconds | `10` |
| `NEWSQA_LOG_LEVEL` | `DEBUG`, `INFO`, `WARNING` or `ERROR` | `INFO` (`DEBUG` with `-v`) |
"""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from retriever.database import async_database_url
from retriever.errors import ConfigError
from retriever.ingest import MAX_ARTICLE_BYTES
from retriever.settings import MAX_QUESTION_CHARS, Settings, mask_password

BotMode = Literal["polling", "webhook"]

_TOKEN = re.compile(r"^\d+:[A-Za-z0-9_-]+$")


class SettingsError(ConfigError):
    """A setting is missing or malformed; the message says which and how to fix it (a ConfigError,
    so the bot's start-up reports it like the core's own settings)."""


def _load_dotenv() -> None:
    try:
        from dotenv import load_dotenv
    except ImportError:  # pragma: no cover - python-dotenv is a dependency
        return
    load_dotenv(Path.cwd() / ".env", override=False)


def _env(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def _float(name: str, default: float, minimum: float) -> float:
    raw = _env(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, got {raw!r}")
    return value


def parse_admin_ids(raw: str) -> frozenset[int]:
    """`"123, 456"` -> {123, 456}; raises SettingsError for anything that is not an integer."""
    ids: set[int] = set()
    for part in raw.replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        try:
            ids.add(int(part))
        except ValueError:
            raise SettingsError(
                f"NEWSQA_ADMIN_IDS must be comma-separated Telegram user ids, got {part!r}"
            ) from None
    return frozenset(ids)


def check_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingsError(f"unknown time zone {name!r} (use an IANA name such as Europe/Berlin)") from None
    return name


def check_log_level(level: str) -> str:
    level = level.upper()
    if level and level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise SettingsError(f"NEWSQA_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, got {level!r}")
    return level


@dataclass(frozen=True, repr=False)
class BotSettings:
    """Everything the bot needs besides the retrieval core's own `Settings`."""

    token: str = field(default="", repr=False)
    base_url: str = ""
    admin_ids: frozenset[int] = frozenset()
    timezone: str = "Europe/Berlin"
    database_url: str = ""
    mode: BotMode = "polling"
    webhook_url: str = ""
    webhook_secret: str = field(default="", repr=False)
    webhook_listen: str = "0.0.0.0"
    webhook_port: int = 8443
    refresh_interval: float = 30.0
    broadcast_rate: float = 25.0
    poll_timeout: float = 10.0
    log_level: str = ""  # "": INFO, or DEBUG when run with -v
    # the core's own limits, so the bot never accepts what the core then refuses
    max_question_chars: int = MAX_QUESTION_CHARS
    max_upload_bytes: int = MAX_ARTICLE_BYTES
    core: Settings = field(default_factory=Settings)

    def __repr__(self) -> str:
        shown = []
        for item in fields(self):
            if not item.repr:
                continue
            value = getattr(self, item.name)
            shown.append(f"{item.name}={mask_password(value) if item.name == 'database_url' else value!r}")
        return f"{type(self).__name__}({', '.join(shown)})"

    @property
    def data_dir(self) -> Path:
        return self.core.data_dir

    @property
    def webhook_path(self) -> str:
        """The path part of the webhook URL, which the local webhook server listens on."""
        return urlsplit(self.webhook_url).path.strip("/")

    def validate(self) -> BotSettings:
        """Raise SettingsError when the bot cannot start with these settings."""
        if not self.token:
            raise SettingsError(
                "TELEGRAM_BOT_TOKEN is not set. Create a bot with @BotFather and put its token into the "
                "environment or a .env file: TELEGRAM_BOT_TOKEN=123456:ABC..."
            )
        if not _TOKEN.match(self.token):
            raise SettingsError("TELEGRAM_BOT_TOKEN does not look like a bot token (expected 123456:ABC...)")
        check_timezone(self.timezone)
        if self.mode == "webhook":
            if not self.webhook_url.startswith(("https://", "http://")):
                raise SettingsError(
                    "NEWSQA_BOT_MODE=webhook needs NEWSQA_WEBHOOK_URL, e.g. https://bot.example.org/tg"
                )
            if not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", self.webhook_secret):
                raise SettingsError(
                    "NEWSQA_WEBHOOK_SECRET may only contain A-Z, a-z, 0-9, _ and - (1-256 chars)"
                )
        return self

    @classmethod
    def from_env(cls) -> BotSettings:
        """Read the settings; raises SettingsError for malformed values (a missing token is checked by
        `validate`, so that `from_env` also works for tools that never talk to Telegram)."""
        _load_dotenv()
        core = Settings.from_env()
        mode = _env("NEWSQA_BOT_MODE", "polling").lower()
        if mode not in ("polling", "webhook"):
            raise SettingsError(f"NEWSQA_BOT_MODE must be 'polling' or 'webhook', got {mode!r}")
        port_raw = _env("NEWSQA_WEBHOOK_PORT", "8443")
        try:
            port = int(port_raw)
        except ValueError:
            port = 0
        if not 1 <= port <= 65535:
            raise SettingsError(f"NEWSQA_WEBHOOK_PORT must be a port number (1-65535), got {port_raw!r}")
        base_url = _env("TELEGRAM_BASE_URL").rstrip("/")
        if base_url and (not base_url.startswith(("http://", "https://")) or not urlsplit(base_url).hostname):
            raise SettingsError(
                f"TELEGRAM_BASE_URL must be an http(s) URL such as http://127.0.0.1:8081, got {base_url!r}"
            )
        return cls(
            token=_env("TELEGRAM_BOT_TOKEN"),
            base_url=base_url,
            admin_ids=parse_admin_ids(_env("NEWSQA_ADMIN_IDS")),
            timezone=check_timezone(_env("NEWSQA_TIMEZONE", "Europe/Berlin") or "Europe/Berlin"),
            database_url=async_database_url(core.app_database_url),
            mode=mode,  # type: ignore[arg-type]
            webhook_url=_env("NEWSQA_WEBHOOK_URL"),
            webhook_secret=_env("NEWSQA_WEBHOOK_SECRET") or secrets.token_urlsafe(32),
            webhook_listen=_env("NEWSQA_WEBHOOK_LISTEN", "0.0.0.0"),
            webhook_port=port,
            refresh_interval=_float("NEWSQA_REFRESH_INTERVAL", 30.0, 0.05),
            broadcast_rate=_float("NEWSQA_BROADCAST_RATE", 25.0, 0.1),
            poll_timeout=_float("NEWSQA_POLL_TIMEOUT", 10.0, 0.0),
            log_level=check_log_level(_env("NEWSQA_LOG_LEVEL")),
            core=core,
        )
