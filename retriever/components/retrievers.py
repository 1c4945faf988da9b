"""Keyword, embedding and one-article retrievers over any `SentenceStore` (embedded or PostgreSQL).

They only call the store interface, so the pipeline is the same whichever backend holds the index.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from haystack import Document, component, default_to_dict

from retriever.store import SentenceStore, store_from_dict


class _StoreRetriever:
    def __init__(self, store: SentenceStore, top_k: int = 50) -> None:
        self.store = store
        self.top_k = top_k

    def to_dict(self) -> dict[str, Any]:
        return default_to_dict(self, store=self.store.to_dict(), top_k=self.top_k)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Any:
        params = dict(data["init_parameters"])
        params["store"] = store_from_dict(params["store"])
        return cls(**params)


@component
class StoreKeywordRetriever(_StoreRetriever):
    """German full-text (BM25 with stemming and umlaut folding) over the store's sentences."""

    @component.output_types(documents=list[Document])
    def run(self, query: str, top_k: int | None = None) -> dict[str, Any]:
        return {"documents": self.store.keyword_search(query, top_k or self.top_k)}


@component
class StoreEmbeddingRetriever(_StoreRetriever):
    """Nearest sentences to the question's e5 vector (inner product of normalised vectors)."""

    @component.output_types(documents=list[Document])
    def run(self, query_vector: np.ndarray, top_k: int | None = None) -> dict[str, Any]:
        return {"documents": self.store.embedding_search(query_vector.tolist(), top_k or self.top_k)}


@component
class ArticleSentenceRetriever(_StoreRetriever):
    """All sentences of one article, for a question asked about that article (a follow-up, or a reply
    to an answer or digest); nothing when no article is given or it is not indexed.

    Like search results they carry `sentence_embedding` and `context_embedding`; `sentences()` gives
    no paragraph vectors, so a paragraph's is the normalised mean of its sentences' vectors (the
    ranker prefers the store's own where the same sentence is also a search result).
    """

    @component.output_types(documents=list[Document])
    def run(self, article_id: str | None = None) -> dict[str, Any]:
        if not article_id:
            return {"documents": []}
        sentences = self.store.sentences(article_id)
        if not sentences:
            return {"documents": []}
        vectors = np.asarray([d.embedding for d in sentences], dtype=np.float32)
        paragraphs = np.asarray([int(d.meta.get("paragraph", 0)) for d in sentences])
        contexts = np.empty_like(vectors)
        for paragraph in np.unique(paragraphs):
            rows = paragraphs == paragraph
            mean = vectors[rows].mean(axis=0)
            contexts[rows] = mean / (np.linalg.norm(mean) or 1.0)
        out = []
        for doc, vector, context in zip(sentences, vectors, contexts, strict=True):
            meta = {**doc.meta, "sentence_embedding": vector, "context_embedding": context}
            out.append(Document(id=doc.id, content=doc.content, meta=meta))
        return {"documents": out}
