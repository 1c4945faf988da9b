"""A BM25 index over German-analysed sentences (the stock InMemory BM25 has no stemming).

Scores are normalised by the query's own best possible score, so that a question whose words mostly
do not occur in German text (an English question) gets small keyword scores instead of a few noisy
matches that look as strong as a real German match.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence

import numpy as np

from retriever.german import analyze


class BM25Index:
    """Okapi BM25 over lists of terms; built once, queried many times."""

    def __init__(self, texts: Sequence[str], k1: float = 1.2, b: float = 0.75) -> None:
        self._build([analyze(text) for text in texts], k1, b)

    @classmethod
    def from_terms(cls, term_lists: Sequence[Sequence[str]], k1: float = 1.2, b: float = 0.75) -> BM25Index:
        """From already analysed sentences (a store keeps each sentence's terms, so a reload of 100k
        sentences does not stem them all again)."""
        index = cls.__new__(cls)
        index._build(term_lists, k1, b)
        return index

    def _build(self, term_lists: Sequence[Sequence[str]], k1: float, b: float) -> None:
        self.k1, self.b = k1, b
        postings: dict[str, list[tuple[int, int]]] = defaultdict(list)
        lengths = np.zeros(len(term_lists), dtype=np.float32)
        for doc, terms in enumerate(term_lists):
            lengths[doc] = len(terms)
            for term, tf in Counter(terms).items():
                postings[term].append((doc, tf))
        self.size = len(term_lists)
        avg = float(lengths.mean()) if len(term_lists) else 1.0
        self._norm = k1 * (1 - b + b * lengths / max(avg, 1e-9))
        self._postings = {
            term: (
                np.fromiter((d for d, _ in items), np.int64),
                np.fromiter((t for _, t in items), np.float32),
            )
            for term, items in postings.items()
        }

    def idf(self, term: str) -> float:
        df = len(self._postings[term][0]) if term in self._postings else 0
        return math.log(1 + (self.size - df + 0.5) / (df + 0.5))

    def scores(self, query: str) -> np.ndarray:
        """Score of every document, in [0, ~1]: raw BM25 divided by the query's ideal score."""
        return self.scores_for_terms(analyze(query))

    def scores_for_terms(self, query_terms: Sequence[str]) -> np.ndarray:
        """`scores` of a query already analysed into terms."""
        scores = np.zeros(self.size, dtype=np.float32)
        terms = set(query_terms)
        if not terms or not self.size:
            return scores
        ideal = 0.0
        for term in terms:
            idf = self.idf(term)
            ideal += idf * (self.k1 + 1)
            if term in self._postings:
                docs, tf = self._postings[term]
                scores[docs] += idf * tf * (self.k1 + 1) / (tf + self._norm[docs])
        return scores / ideal
