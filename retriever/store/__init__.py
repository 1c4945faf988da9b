"""Choosing the sentence store from the settings: embedded (SQLite) by default, PostgreSQL by URL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from retriever.errors import ConfigError
from retriever.settings import Settings
from retriever.store.base import SentenceStore


def open_store(settings: Settings) -> SentenceStore:
    """The store the settings name; it records the embedding model that builds its vectors."""
    url = settings.document_store
    if url.startswith(("postgresql://", "postgres://", "postgresql+")):
        from retriever.store.postgres import PostgresSentenceStore  # heavy: psycopg, pgvector

        return PostgresSentenceStore(url)
    if url:
        raise ConfigError(
            f"NEWSQA_DOCUMENT_STORE must be empty or a postgresql:// URL, not {url.split(':')[0]!r}"
        )
    from retriever.store.sqlite import SQLiteSentenceStore

    return SQLiteSentenceStore(settings.data_dir / "index")


def store_from_dict(data: dict[str, Any]) -> SentenceStore:
    """Inverse of `store.to_dict()`, used when a serialised pipeline is loaded again."""
    if data.get("type") == "postgres":
        from retriever.store.postgres import PostgresSentenceStore

        return PostgresSentenceStore.from_dict(data)  # the password comes from the environment again
    from retriever.store.sqlite import SQLiteSentenceStore

    return SQLiteSentenceStore(Path(data["path"]), model_id=data.get("model_id"))


__all__ = ["SentenceStore", "open_store", "store_from_dict"]
