"""The optional extractive reader: a short answer span from the best sentences.

Wraps `TransformersExtractiveReader` when a reader model is configured (a hub name or a local
directory) and loads; without one, or when loading fails (offline and not cached), it yields no
answers and the best sentence itself is the answer. A missing model is a configuration fact, not
a crash, so the failure is logged once at warm-up.
"""

from __future__ import annotations

import logging
from typing import Any

from haystack import Document, component, default_from_dict, default_to_dict
from haystack.dataclasses import ExtractedAnswer

logger = logging.getLogger(__name__)


@component
class OptionalExtractiveReader:
    """Extractive QA over the top sentences, or nothing when no reader model is available."""

    def __init__(
        self, model: str = "", top_k: int = 3, documents_top_k: int = 3, max_seq_length: int = 384
    ) -> None:
        self.model = model
        self.top_k = top_k
        self.documents_top_k = documents_top_k
        self.max_seq_length = max_seq_length
        self._reader: Any = None
        self.error: str | None = None

    @property
    def available(self) -> bool:
        return self._reader is not None

    def warm_up(self) -> None:
        if self._reader is not None or not self.model or self.error:
            return
        try:
            from haystack_integrations.components.readers.transformers import TransformersExtractiveReader

            reader = TransformersExtractiveReader(
                model=self.model, top_k=self.top_k, max_seq_length=self.max_seq_length, no_answer=False
            )
            reader.warm_up()
        except Exception as exc:  # a bad name, no network, a broken directory: all mean "no reader"
            self.error = f"{type(exc).__name__}: {exc}"
            logger.warning(
                "reader model %r not available, answering with sentences: %s", self.model, self.error
            )
            return
        self._reader = reader

    @component.output_types(answers=list[ExtractedAnswer])
    def run(self, query: str, documents: list[Document]) -> dict[str, Any]:
        if self._reader is None or not documents:
            return {"answers": []}
        result = self._reader.run(query=query, documents=documents[: self.documents_top_k])
        return {"answers": [a for a in result["answers"] if a.data]}

    def to_dict(self) -> dict[str, Any]:
        return default_to_dict(
            self,
            model=self.model,
            top_k=self.top_k,
            documents_top_k=self.documents_top_k,
            max_seq_length=self.max_seq_length,
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OptionalExtractiveReader:
        return default_from_dict(cls, data)
