"""PostgreSQL-only behaviour of the store: URLs, atomic replacement seen from another connection,
reconnecting after the server dropped the connection."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from retriever.ingest import Article, parse_article
from retriever.store.postgres import PostgresSentenceStore, mask_url, normalise_url, term_vector

DocsFor = Callable[..., tuple[Any, list[Any]]]


def test_urls_are_normalised_and_masked() -> None:
    assert normalise_url("postgresql+asyncpg://u:p@db:5432/newsqa") == "postgresql://u:p@db:5432/newsqa"
    assert normalise_url("postgres://u@db/newsqa") == "postgresql://u@db/newsqa"
    with pytest.raises(ValueError, match="not a PostgreSQL URL"):
        normalise_url("sqlite:///x.db")
    assert mask_url("postgresql://newsqa:s3cret@db:5432/newsqa") == "postgresql://newsqa:***@db:5432/newsqa"
    assert "s3cret" not in mask_url("postgresql://db/newsqa?user=u&password=s3cret")
    store = PostgresSentenceStore("postgresql://newsqa:s3cret@db/newsqa")  # connects lazily
    assert store.to_dict()["url"] == "postgresql://newsqa:***@db/newsqa"
    assert store.to_dict()["type"] == "postgres"


def test_from_dict_takes_the_masked_password_from_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    saved = PostgresSentenceStore("postgresql://newsqa:s3cret@db/newsqa", sentences_table="s").to_dict()
    monkeypatch.delenv("NEWSQA_DOCUMENT_STORE", raising=False)
    with pytest.raises(ValueError, match="NEWSQA_DOCUMENT_STORE"):
        PostgresSentenceStore.from_dict(saved)
    monkeypatch.setenv("NEWSQA_DOCUMENT_STORE", "postgresql://newsqa:s3cret@db/newsqa")
    store = PostgresSentenceStore.from_dict(saved)
    assert store.to_dict() == saved
    monkeypatch.setenv("NEWSQA_DOCUMENT_STORE", "postgresql://newsqa:s3cret@elsewhere/newsqa")
    with pytest.raises(ValueError, match="without its password"):
        PostgresSentenceStore.from_dict(saved)
    # the embedding model it was opened for (e.g. with the sentence encoder) survives the trip too
    with_model = PostgresSentenceStore("postgresql://newsqa:s3cret@db/newsqa", model_id="m + se").to_dict()
    monkeypatch.setenv("NEWSQA_DOCUMENT_STORE", "postgresql://newsqa:s3cret@db/newsqa")
    assert PostgresSentenceStore.from_dict(with_model).model_id == "m + se"


def test_term_vectors_carry_term_frequencies() -> None:
    literal, count, distinct = term_vector("Die Verhandlungen und wieder Verhandlungen, sagte Putin.")
    assert literal == "'verhandl':1,2 'sagt':3 'putin':4"
    assert count == 4
    assert distinct == ["verhandl", "sagt", "putin"]


def _two_versions(article: Article) -> tuple[Article, Article]:
    edited = parse_article(
        f"date {article.date} {article.title}\n\n{article.body} Der Kreml bestätigte das Ende des Gesprächs.",
        article.source,
    )
    return article, edited


@pytest.mark.postgres
def test_replacement_is_atomic_for_other_connections(
    pg_url: str,
    pg_tables: dict[str, str],
    docs_for: DocsFor,
    default_article: Article,
    default_embeddings: list[list[float]],
) -> None:
    v1, v2 = _two_versions(default_article)
    info1, docs1 = docs_for(v1, default_embeddings)
    info2, docs2 = docs_for(v2, [*default_embeddings, default_embeddings[0]])
    writer = PostgresSentenceStore(pg_url, **pg_tables)
    reader = PostgresSentenceStore(pg_url, **pg_tables)
    writer.put_article(info1, docs1)
    seen: set[tuple[int, int]] = set()
    done = threading.Event()

    def write() -> None:
        current = info1.article_id
        for i in range(12):
            info, docs = (info2, docs2) if i % 2 == 0 else (info1, docs1)
            writer.put_article(info, docs, replaces=current)
            current = info.article_id
        done.set()

    thread = threading.Thread(target=write)
    thread.start()
    while not done.is_set():
        seen.add((reader.count_sentences(), len(reader.articles())))
    thread.join()
    assert seen <= {(len(docs1), 1), (len(docs2), 1)}
    writer.close()
    reader.close()


@pytest.mark.postgres
def test_reconnects_after_the_server_closed_its_connections(
    pg_url: str,
    pg_tables: dict[str, str],
    docs_for: DocsFor,
    default_article: Article,
    default_embeddings: list[list[float]],
) -> None:
    import psycopg

    store = PostgresSentenceStore(pg_url, **pg_tables)
    info, docs = docs_for(default_article, default_embeddings)
    store.put_article(info, docs)
    assert store.keyword_search("Putin", top_k=1)
    with psycopg.connect(pg_url, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid()"
            " AND datname = current_database()"
        )
    # every connection of the store is dead now; each call must reconnect transparently
    assert store.articles() == [info]
    assert store.keyword_search("Putin", top_k=1)
    assert store.embedding_search(default_embeddings[0], top_k=1)
    assert store.delete_article(info.article_id) is True
    assert store.articles() == []
    store.close()
