"""newsqa's own reader as a haystack component: reads the ranker's best sentences one by one and
says, for each, where the answer stands in it and how sure it is that the sentence answers at all.

The model (`retriever.modeling.reader`: the e5 base + the shipped LoRA adapter and span head) loads in
`warm_up`, once per process and artifact, so the bot, the CLI and a benchmark with several pipelines
share one copy. Each read sentence becomes one `ExtractedAnswer`: `score` is the span's margin over
"no answer" (above 0: the reader thinks the sentence answers), `data` the span text, `document_offset`
its place in the sentence. `CitedAnswerBuilder` turns these verdicts into the answer or an abstention.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from haystack import Document, component, default_from_dict, default_to_dict
from haystack.dataclasses import ExtractedAnswer

_LOADED: dict[tuple[str, int], Any] = {}
_LOCK = threading.Lock()


def shipped_reader() -> Path:
    from retriever.modeling.reader import READER_ARTIFACT

    return READER_ARTIFACT


def whole_words(text: str, start: int, end: int) -> tuple[int, int]:
    """Widen a span that starts or ends inside a word to the whole word (a token span can cut
    "Verhandlungen" after "Verhand"); a reader's answer is shown as words of its sentence."""
    while start > 0 and text[start - 1].isalnum() and text[start].isalnum():
        start -= 1
    while end < len(text) and text[end].isalnum() and text[end - 1].isalnum():
        end += 1
    return start, end


def _load(path: Path) -> Any:
    from retriever.errors import ConfigError

    try:
        key = (str(path.resolve()), path.stat().st_mtime_ns)
        with _LOCK:
            if key not in _LOADED:
                from retriever.modeling.reader import load_reader

                _LOADED[key] = load_reader(path)
            return _LOADED[key]
    except ConfigError:
        raise
    except Exception as exc:  # missing, truncated, another format: one line, and the way out
        raise ConfigError(
            f"newsqa's reader {path} cannot be loaded ({type(exc).__name__}: {exc}); reinstall newsqa, "
            "or set NEWSQA_READER_MODEL=none to answer with whole sentences"
        ) from exc


@component
class SentenceSpanReader:
    """The span and the answer-or-not verdict of the reader for each of the top `top_k` sentences."""

    def __init__(self, artifact: str = "", top_k: int = 5) -> None:
        self.artifact = artifact
        self.top_k = top_k
        self._model: Any = None

    @property
    def available(self) -> bool:
        return self._model is not None

    def warm_up(self) -> None:
        if self._model is None:
            self._model = _load(Path(self.artifact) if self.artifact else shipped_reader())

    @component.output_types(answers=list[ExtractedAnswer])
    def run(self, query: str, documents: list[Document]) -> dict[str, Any]:
        if self._model is None:
            raise RuntimeError("SentenceSpanReader.run() before warm_up()")
        head = documents[: self.top_k]
        if not head:
            return {"answers": []}
        spans = self._model.read(query, [d.content or "" for d in head])
        answers = []
        for rank, (doc, span) in enumerate(zip(head, spans, strict=True)):
            text = doc.content or ""
            found = 0 <= span.start < span.end <= len(text)
            start, end = whole_words(text, span.start, span.end) if found else (-1, -1)
            answers.append(
                ExtractedAnswer(
                    query=query,
                    score=span.margin,
                    data=text[start:end] if found else None,
                    document=doc,
                    document_offset=ExtractedAnswer.Span(start, end) if found else None,
                    meta={"rank": rank} if span.answers is None else {"rank": rank, "answers": span.answers},
                )
            )
        return {"answers": answers}

    def to_dict(self) -> dict[str, Any]:
        return default_to_dict(self, artifact=self.artifact, top_k=self.top_k)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SentenceSpanReader:
        return default_from_dict(cls, data)
