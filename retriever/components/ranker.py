"""Fusing dense and keyword evidence into one score per sentence.

score = (cos(q, sentence) + w_c * cos(q, paragraph)) / (1 + w_c) + w_k * BM25 / BM25_ideal.
The sentence's own vector picks the sentence; its paragraph's vector supplies what pronouns refer
to and which article the question is about. Dense similarity carries English questions over German
text; the keyword term, normalised by the question's own ideal score (see `retriever.bm25`),
sharpens German questions where the exact words matter and stays near zero when the question's
words are not German. The weights were chosen on XQuAD (see `newsqa bench xquad` and
docs/benchmarks.md), not on the default article.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from haystack import Document, component

VECTOR_FIELDS = frozenset({"sentence_embedding", "context_embedding"})


def _vector(doc: Document, field: str, fallback: Any) -> Any:
    found = doc.meta.get(field)
    return fallback if found is None else found


@component
class HybridRanker:
    """Re-scores the union of keyword and embedding candidates and keeps the best `top_k`.

    With `focus_documents` (all sentences of one article, from `ArticleSentenceRetriever`) only those
    are ranked: the question is about that article. Search candidates of the same article lend them
    their stored paragraph vectors, keyword candidates their BM25 scores.
    """

    def __init__(self, context_weight: float = 0.3, keyword_weight: float = 0.12, top_k: int = 10) -> None:
        self.context_weight = context_weight
        self.keyword_weight = keyword_weight
        self.top_k = top_k

    @component.output_types(documents=list[Document])
    def run(
        self,
        query_vector: np.ndarray,
        embedding_documents: list[Document],
        keyword_documents: list[Document],
        focus_documents: list[Document] | None = None,
        top_k: int | None = None,
    ) -> dict[str, Any]:
        keyword = {d.id: float(d.score or 0.0) for d in keyword_documents}
        if focus_documents:
            candidates = {d.id: d for d in focus_documents}
            for doc in embedding_documents:
                if doc.id in candidates:
                    candidates[doc.id] = doc
        else:
            candidates = {d.id: d for d in embedding_documents}
            for doc in keyword_documents:
                candidates.setdefault(doc.id, doc)
        if not candidates:
            return {"documents": []}
        docs = list(candidates.values())
        query = np.asarray(query_vector, dtype=np.float32)
        sentence_vectors = [_vector(d, "sentence_embedding", d.embedding) for d in docs]
        context_vectors = [
            _vector(d, "context_embedding", v) for d, v in zip(docs, sentence_vectors, strict=True)
        ]
        sentence = np.asarray(sentence_vectors, dtype=np.float32) @ query
        context = np.asarray(context_vectors, dtype=np.float32) @ query
        dense = (sentence + self.context_weight * context) / (1 + self.context_weight)
        ranked = []
        for doc, sim in zip(docs, dense, strict=True):
            kw = keyword.get(doc.id, 0.0)
            meta = {k: v for k, v in doc.meta.items() if k not in VECTOR_FIELDS}
            meta.update(dense_score=float(sim), keyword_score=kw)
            score = float(sim) + self.keyword_weight * kw
            # the vectors stop here: nothing downstream needs them, and they are costly to copy
            ranked.append(Document(id=doc.id, content=doc.content, meta=meta, score=score))
        ranked.sort(key=lambda d: d.score or 0.0, reverse=True)
        return {"documents": ranked[: top_k or self.top_k]}
