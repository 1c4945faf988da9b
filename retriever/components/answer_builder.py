"""Turning ranked sentences (and a reader span, if any) into an `Answer` with numbered citations.

Every citation is a stored sentence exactly as it stands in its article; the builder never edits
text. When the best evidence scores under the abstention threshold the answer is an abstention and
cites nothing. Thresholds are per question language (English questions over German text score
lower) and calibrated on XQuAD: questions asked over an index that lacks their paragraph must be
declined, see `newsqa bench xquad` and docs/benchmarks.md.
"""

from __future__ import annotations

from typing import Any

from haystack import Document, component
from haystack.dataclasses import ExtractedAnswer

from retriever.german import question_language
from retriever.models import Answer, Citation

# From `newsqa bench xquad`: calibrated on XQuAD-train only (docs/benchmarks.md), never on test.
DEFAULT_THRESHOLDS = {"de": 0.862, "en": 0.804}


def citation(number: int, doc: Document) -> Citation:
    meta = doc.meta
    return Citation(
        number=number,
        article_id=str(meta["article_id"]),
        title=str(meta.get("title", "")),
        date=str(meta.get("date", "")),
        sentence_number=int(meta["sentence_number"]),
        text=doc.content or "",
    )


@component
class CitedAnswerBuilder:
    """Best sentence(s) as evidence; the reader's span as the answer when it found one."""

    def __init__(
        self,
        abstain_thresholds: dict[str, float] | None = None,
        max_citations: int = 3,
        support_margin: float = 0.02,
        reader_min_score: float = 0.2,
    ) -> None:
        self.abstain_thresholds = dict(abstain_thresholds or DEFAULT_THRESHOLDS)
        self.max_citations = max_citations
        self.support_margin = support_margin
        self.reader_min_score = reader_min_score

    @component.output_types(answer=Answer)
    def run(
        self, query: str, documents: list[Document], answers: list[ExtractedAnswer] | None = None
    ) -> dict[str, Any]:
        threshold = self.abstain_thresholds.get(
            question_language(query), max(self.abstain_thresholds.values())
        )
        top_score = float(documents[0].score or 0.0) if documents else 0.0
        if top_score < threshold:
            return {"answer": Answer(question=query, answer=None, score=top_score, mode="abstain")}
        best = documents[0]
        span = next(
            (
                a
                for a in answers or []
                if a.data and a.document is not None and a.score >= self.reader_min_score
            ),
            None,
        )
        cited: list[Document] = []
        if span is not None and span.document is not None:
            cited.append(next((d for d in documents if d.id == span.document.id), span.document))
        floor = top_score - self.support_margin
        for doc in documents:
            if len(cited) >= self.max_citations or (doc.score or 0.0) < floor:
                break
            if all(doc.id != c.id for c in cited):
                cited.append(doc)
        citations = tuple(citation(i, d) for i, d in enumerate(cited, start=1))
        if span is not None and span.data:
            return {
                "answer": Answer(query, span.data.strip(), top_score, citations, mode="reader"),
            }
        return {"answer": Answer(query, best.content or "", top_score, citations, mode="sentence")}
