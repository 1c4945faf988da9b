"""The one interface between the pipeline and where sentences live.

The pipeline only calls `SentenceStore`; the embedded store (`sqlite.py`) and the PostgreSQL store
(`postgres.py`) implement it, and the same contract suite (tests/store/) runs on both. Every write is
one committed transaction: an article is either wholly in the store or not at all. Each article records
the embedding model that built its vectors (`model_id`); writing or searching a store that holds
another model's vectors raises `retriever.errors.ModelMismatch`, and a damaged store raises
`retriever.errors.IndexDamaged`. Each stored `Document` is one sentence: `content` is the verbatim
sentence, `embedding` the e5 passage vector of the sentence alone, and `meta` holds
`article_id, title, date, paragraph, sentence_number, start, end, source` and `context_embedding`,
the e5 vector of the sentence's paragraph (what the ranker uses to resolve "es", "das", "beide").
Search results carry the vectors the ranker needs: `context_embedding` in meta, and the sentence's
own vector in `embedding` or, better, as a numpy row in `meta["sentence_embedding"]` (haystack
deep-copies component inputs, and a numpy row copies in one step where a list copies float by float).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol, runtime_checkable

from haystack import Document

from retriever.models import ArticleInfo


@runtime_checkable
class SentenceStore(Protocol):
    """Storage of articles and their sentences, with keyword and vector search."""

    def articles(self) -> list[ArticleInfo]:
        """All articles, newest indexed first."""
        ...

    def article(self, article_id: str) -> ArticleInfo | None: ...

    def article_by_source(self, source: str) -> ArticleInfo | None: ...

    def sentences(self, article_id: str, with_vectors: bool = True) -> list[Document]:
        """The article's sentences in article order (with embeddings unless `with_vectors` is False:
        `newsqa reindex` reads only the texts, which also works while vectors are broken)."""
        ...

    def put_article(
        self, article: ArticleInfo, sentences: Sequence[Document], replaces: str | None = None
    ) -> None:
        """Add an article, atomically removing `replaces` (an older version) in the same step."""
        ...

    def delete_article(self, article_id: str) -> bool: ...

    def keyword_search(self, query: str, top_k: int) -> list[Document]:
        """German full-text search; documents carry `score` (higher is better)."""
        ...

    def embedding_search(self, embedding: Sequence[float], top_k: int) -> list[Document]:
        """Cosine/inner-product search over normalised vectors; documents carry `score`."""
        ...

    def count_sentences(self) -> int: ...

    def bulk(self) -> AbstractContextManager[None]:
        """Marks a run of many `put_article` calls. Writes are never deferred: each article is
        committed (durable) when `put_article` returns."""
        ...

    @property
    def model_id(self) -> str:
        """The embedding model new vectors come from (see `retriever.store.identity`)."""
        ...

    def embedding_models(self) -> dict[str, int]:
        """Articles per embedding model that built them ("" for ones from before it was recorded)."""
        ...

    def stale_articles(self) -> list[str]:
        """Ids of articles whose vectors `newsqa reindex` must rebuild (another model's, or broken)."""
        ...

    def replace_vectors(self, article_id: str, sentences: Sequence[Document]) -> None:
        """New vectors (`embedding`, `meta["context_embedding"]`) for the article's stored sentences,
        stamped with `model_id`, in one transaction."""
        ...

    def check_searchable(self) -> None:
        """Raises `IndexDamaged` or `ModelMismatch` when searching must be refused (cheap)."""
        ...

    def check(self) -> list[str]:
        """Integrity problems found by a full check; empty when the store is sound."""
        ...

    def repair(self) -> list[str]:
        """Make rows consistent again (drop incomplete articles, recount statistics); what it did."""
        ...

    def close(self) -> None: ...

    def refresh(self) -> bool:
        """Pick up changes made by another process; True when something changed."""
        ...

    def to_dict(self) -> dict[str, Any]: ...
