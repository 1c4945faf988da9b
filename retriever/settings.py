"""Settings of the retrieval core, read from the environment (and a `.env` file in the working dir).

`Settings.from_env` validates every value and raises `retriever.errors.ConfigError` with the
setting's name in the message, so the CLI and the bot can report it in one line. The `repr` of the
settings never shows a database password.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from urllib.parse import urlsplit

from platformdirs import user_data_dir

from retriever.errors import ConfigError

DEFAULT_ARTICLE = Path(__file__).parent / "data" / "article-2021-12-biden-putin.txt"
# Longer questions are refused (e5 reads at most 512 tokens, and no real question is this long).
MAX_QUESTION_CHARS = 1000

POSTGRES_SCHEMES = ("postgresql://", "postgres://")
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def _load_dotenv() -> None:
    try:
        from dotenv import load_dotenv
    except ImportError:  # pragma: no cover - python-dotenv is a dependency
        return
    load_dotenv(Path.cwd() / ".env", override=False)


_QUERY_PASSWORD = re.compile(r"(?i)([?&]password=)[^&#\s]*")


def _userinfo(url: str) -> tuple[str, str, str] | None:
    """(`scheme://user`, password, `@host...`) of a URL with a password in it, else None."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return None
    netloc, slash, path = rest.partition("/")
    userinfo, at, host = netloc.rpartition("@")
    if not at or ":" not in userinfo:
        return None
    user, _, password = userinfo.partition(":")
    return f"{scheme}://{user}", password, f"@{host}{slash}{path}"


def mask_password(url: str) -> str:
    """`scheme://user:secret@host/db` -> `scheme://user:***@host/db` (also `?password=`); other
    strings are returned as they are."""
    found = _userinfo(url)
    if found is not None:
        url = f"{found[0]}:***{found[2]}"
    return _QUERY_PASSWORD.sub(r"\1***", url)


def url_password(url: str) -> str:
    """The password in a database URL as written there, maybe percent-encoded ('' when it has none)."""
    found = _userinfo(url)
    if found is not None:
        return found[1]
    match = _QUERY_PASSWORD.search(url)
    return match.group(0).split("=", 1)[1] if match else ""


def int_env(name: str, default: int, minimum: int = 0) -> int:
    """A whole number ≥ `minimum` from the environment; ConfigError naming the variable otherwise."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value is None or value < minimum:
        raise ConfigError(f"{name} must be a whole number ≥ {minimum}, got {raw!r}")
    return value


def bool_env(name: str, default: bool) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ConfigError(f"{name} must be 1/0, true/false, yes/no or on/off, got {raw!r}")


def check_writable_dir(path: Path, name: str) -> Path:
    """`path` is, or can be created as, a directory this process may write to."""
    if path.exists():
        if not path.is_dir():
            raise ConfigError(f"{name} {str(path)!r} is a file, not a directory; point {name} at a directory")
        if not os.access(path, os.W_OK | os.X_OK):
            raise ConfigError(f"{name} {str(path)!r} is not writable; fix its permissions or choose another")
        return path
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise ConfigError(f"{name} {str(path)!r} cannot be created: {str(parent)!r} is a file")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(f"{name} {str(path)!r} cannot be created: {str(parent)!r} is not writable")
    return path


def check_document_store(url: str) -> str:
    if url and not url.startswith(POSTGRES_SCHEMES):
        shown = mask_password(url)
        raise ConfigError(
            f"NEWSQA_DOCUMENT_STORE must be empty (the embedded store) or a postgresql:// URL, got {shown!r}"
        )
    if url:
        try:
            urlsplit(url).port  # noqa: B018 - raises ValueError for a port that is not a number
        except ValueError:
            raise ConfigError(
                f"NEWSQA_DOCUMENT_STORE has a bad port: {mask_password(url)!r} "
                "(expected postgresql://user:password@host:5432/database)"
            ) from None
    return url


def check_reader_model(value: str) -> str:
    """A hub name is checked when the reader loads (a failure there means answers without a reader);
    a local directory that is not there is a typo worth stopping for."""
    if value.lower() in ("none", "off"):
        return "none"
    if value.startswith(("/", ".", "~")) and not Path(value).expanduser().is_dir():
        raise ConfigError(
            f"NEWSQA_READER_MODEL {value!r} is not a directory (a model directory or a hub name)"
        )
    return value


def _default_data_dir() -> Path:
    return Path(user_data_dir("newsqa", appauthor=False))


def check_database_url(url: str) -> str:
    """NEWSQA_DATABASE_URL is empty or a SQLite or PostgreSQL URL SQLAlchemy can parse."""
    if not url:
        return url
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        backend = make_url(url).get_backend_name()
    except (ArgumentError, ValueError):
        backend = ""
    if backend not in ("sqlite", "postgresql"):
        raise ConfigError(
            f"NEWSQA_DATABASE_URL must be a sqlite:/// or postgresql:// URL, got {mask_password(url)!r}"
        )
    return url


@dataclass(frozen=True, repr=False)
class Settings:
    """Where state lives and which models and store to use."""

    data_dir: Path = field(default_factory=_default_data_dir)
    # "": newsqa's own reader; "none": answer with the best sentence; else a transformers extractive QA
    # model (hub name or local directory) instead.
    reader_model: str = ""
    # "" (embedded store in data_dir) or a postgresql:// URL.
    document_store: str = ""
    # Index the bundled default article when the index is empty.
    index_default: bool = True
    # How many recent question vectors to keep (0: embed every question anew).
    question_cache: int = 1024
    # NEWSQA_DATABASE_URL as given: the bot's database, which also holds the feed registry
    # ("": NEWSQA_DOCUMENT_STORE's database, else SQLite in data_dir; see retriever.feeds.db).
    database_url: str = ""
    # Fetch links and feeds on loopback/private addresses too (tests, intranets).
    allow_private_urls: bool = False
    # Seconds between the bot's feed polls; seconds one web fetch may take.
    feed_interval: float = 900.0
    fetch_timeout: float = 15.0

    @property
    def app_database_url(self) -> str:
        """The database of the bot's subscriptions and the feed registry, with no driver chosen:
        NEWSQA_DATABASE_URL, else the document store's PostgreSQL (one database to run), else
        `bot.sqlite3` in the data dir. The bot and `newsqa feeds` both find it here."""
        return self.database_url or self.document_store or f"sqlite:///{self.data_dir / 'bot.sqlite3'}"

    def __repr__(self) -> str:
        values = []
        for item in fields(self):
            value = getattr(self, item.name)
            if item.name in ("document_store", "database_url"):
                value = mask_password(value)
            values.append(f"{item.name}={value!r}")
        return f"{type(self).__name__}({', '.join(values)})"

    @classmethod
    def from_env(cls) -> Settings:
        """Read and check the settings; raises ConfigError naming the variable with a bad value."""
        _load_dotenv()
        raw_dir = os.environ.get("NEWSQA_DATA_DIR", "").strip()
        data_dir = Path(raw_dir).expanduser() if raw_dir else _default_data_dir()
        return cls(
            data_dir=check_writable_dir(data_dir, "NEWSQA_DATA_DIR"),
            reader_model=check_reader_model(os.environ.get("NEWSQA_READER_MODEL", "").strip()),
            document_store=check_document_store(os.environ.get("NEWSQA_DOCUMENT_STORE", "").strip()),
            index_default=bool_env("NEWSQA_INDEX_DEFAULT", True),
            question_cache=int_env("NEWSQA_QUESTION_CACHE", 1024),
            database_url=check_database_url(os.environ.get("NEWSQA_DATABASE_URL", "").strip()),
            allow_private_urls=bool_env("NEWSQA_ALLOW_PRIVATE_URLS", False),
            feed_interval=int_env("NEWSQA_FEED_INTERVAL", 900, minimum=10),
            fetch_timeout=int_env("NEWSQA_FETCH_TIMEOUT", 15, minimum=1),
        )
