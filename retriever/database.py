"""The application database (the bot's subscriptions and the feed registry): URLs and SQLite set-up.

The bot talks to it with asyncio drivers, `newsqa feeds` and the poller with synchronous ones; both
open the same database (`Settings.app_database_url`) and set SQLite up the same way here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

_ASYNC = "postgresql+asyncpg://", "sqlite+aiosqlite://"
_SYNC = "postgresql+psycopg://", "sqlite://"
_POSTGRES = (
    "postgresql://",
    "postgres://",
    "postgresql+psycopg2://",
    "postgresql+psycopg://",
    "postgresql+asyncpg://",
)
_SQLITE = ("sqlite://", "sqlite+aiosqlite://")


def _with_driver(url: str, drivers: tuple[str, str]) -> str:
    postgres, sqlite = drivers
    for prefixes, driver in ((_POSTGRES, postgres), (_SQLITE, sqlite)):
        for prefix in prefixes:
            if url.startswith(prefix):
                return driver + url[len(prefix) :]
    return url


def async_database_url(url: str) -> str:
    """The URL with the asyncio driver (asyncpg, aiosqlite)."""
    return _with_driver(url, _ASYNC)


def sync_database_url(url: str) -> str:
    """The URL with the synchronous driver (psycopg 3, sqlite3)."""
    return _with_driver(url, _SYNC)


def prepare_sqlite_file(url: str) -> bool:
    """For a SQLite file URL, create its directory; True when `url` is SQLite."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return False
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    return True


def sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """Connect hook: WAL so the bot and the CLI read while the other writes, and a busy timeout
    so they wait for each other instead of failing."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
