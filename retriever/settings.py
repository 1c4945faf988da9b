"""Settings of the retrieval core, read from the environment (and a `.env` file in the working dir)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from platformdirs import user_data_dir

DEFAULT_ARTICLE = Path(__file__).parent / "data" / "article-2021-12-biden-putin.txt"
# Longer questions are refused (e5 reads at most 512 tokens, and no real question is this long).
MAX_QUESTION_CHARS = 1000


def _load_dotenv() -> None:
    try:
        from dotenv import load_dotenv
    except ImportError:  # pragma: no cover - python-dotenv is a dependency
        return
    load_dotenv(Path.cwd() / ".env", override=False)


def _int_env(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    try:
        return int(raw) if raw else default
    except ValueError:
        raise ValueError(f"{name} must be a whole number, got {raw!r}") from None


@dataclass(frozen=True)
class Settings:
    """Where state lives and which models and store to use."""

    data_dir: Path = field(default_factory=lambda: Path(user_data_dir("newsqa", appauthor=False)))
    # Hub name or local directory of an extractive QA model; empty: answer with the best sentence(s).
    reader_model: str = ""
    # "" (embedded store in data_dir) or a postgresql:// URL.
    document_store: str = ""
    # Index the bundled default article when the index is empty.
    index_default: bool = True
    # How many recent question vectors to keep (0: embed every question anew).
    question_cache: int = 1024

    @classmethod
    def from_env(cls) -> Settings:
        _load_dotenv()
        data_dir = os.environ.get("NEWSQA_DATA_DIR", "").strip()
        return cls(
            data_dir=Path(data_dir).expanduser()
            if data_dir
            else Path(user_data_dir("newsqa", appauthor=False)),
            reader_model=os.environ.get("NEWSQA_READER_MODEL", "").strip(),
            document_store=os.environ.get("NEWSQA_DOCUMENT_STORE", "").strip(),
            index_default=os.environ.get("NEWSQA_INDEX_DEFAULT", "1").strip().lower()
            not in {"0", "false", "no"},
            question_cache=_int_env("NEWSQA_QUESTION_CACHE", 1024),
        )
