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
        self.k1, self.b = k1, b
        postings: dict[str, list[tuple[int, int]]] = defaultdict(list)
        lengths = np.zeros(len(texts), dtype=np.float32)
        for doc, text in enumerate(texts):
            terms = analyze(text)
            lengths[doc] = len(terms)
            for term, tf in Counter(terms).items():
                postings[term].append((doc, tf))
        self.size = len(texts)
        avg = float(lengths.mean()) if len(texts) else 1.0
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
        scores = np.zeros(self.size, dtype=np.float32)
        terms = set(analyze(query))
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
