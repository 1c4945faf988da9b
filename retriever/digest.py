"""Extractive digests: an article's 3–5 key sentences, cited by number, in article order.

A sentence is "key" when it is close to the article as a whole (cosine to the mean of all sentence
vectors); the lead sentence gets a bonus because news puts the core of the story first. Picks are
made greedily with a redundancy penalty (maximal marginal relevance) so two near-identical
sentences are not both chosen.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from haystack import Document

from retriever.components.answer_builder import citation
from retriever.models import ArticleInfo, Digest

LEAD_BONUS = 0.05
REDUNDANCY = 0.5


def digest_size(sentence_count: int) -> int:
    """3–5 sentences, more for longer articles, never more than the article has."""
    return min(sentence_count, max(3, min(5, round(sentence_count / 4))))


def key_sentences(sentences: Sequence[Document], size: int) -> list[Document]:
    if len(sentences) <= size:
        return list(sentences)
    vectors = np.asarray([d.embedding for d in sentences], dtype=np.float32)
    centroid = vectors.mean(axis=0)
    centroid /= np.linalg.norm(centroid) or 1.0
    relevance = vectors @ centroid
    relevance[0] += LEAD_BONUS
    chosen: list[int] = []
    while len(chosen) < size:
        redundancy = (vectors @ vectors[chosen].T).max(axis=1) if chosen else np.zeros(len(sentences))
        score = relevance - REDUNDANCY * redundancy
        score[chosen] = -np.inf
        chosen.append(int(np.argmax(score)))
    return [sentences[i] for i in sorted(chosen)]


def build_digest(article: ArticleInfo, sentences: Sequence[Document]) -> Digest:
    picked = key_sentences(sentences, digest_size(len(sentences)))
    return Digest(article=article, sentences=tuple(citation(i, d) for i, d in enumerate(picked, start=1)))
