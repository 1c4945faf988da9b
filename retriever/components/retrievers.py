"""Keyword and embedding retrievers over any `SentenceStore` (embedded or PostgreSQL).

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
