"""Turning ranked sentences (and a reader's verdicts, if any) into an `Answer` with numbered citations.

Every citation is a stored sentence exactly as it stands in its article; the builder never edits
text. Who decides between an answer and "the articles do not say":
- with newsqa's reader (`reader_thresholds` set and verdicts given): the reader. Of the sentences
  whose verdict clears the reader threshold, the best-ranked one (by default; `rank_margin` lets a
  much surer verdict further down win) is cited first and its span is the answer. When no sentence
  clears it, the best-ranked sentence is still the answer if its retrieval score clears the (high)
  `sentence_thresholds` (strong evidence, no short span); if it clears only `abstain_thresholds`
  (what retrieval alone would answer), it is the closest evidence with verdict "unsure"; else none.
- without it: the retrieval score of the best sentence against `abstain_thresholds`.
Thresholds are per question language (English questions over German text score lower) and
calibrated on XQuAD-train only (`newsqa bench xquad`, docs/benchmarks.md).
"""

from __future__ import annotations

import math
from typing import Any

from haystack import Document, component
from haystack.dataclasses import ExtractedAnswer

from retriever.german import question_language
from retriever.models import Answer, Citation

# From `newsqa bench xquad`: calibrated on XQuAD-train only (docs/benchmarks.md), never on test.
DEFAULT_THRESHOLDS = {"de": 0.862, "en": 0.804}
# With newsqa's reader (retriever.modeling.reader): its margin over "no answer" for the answer, and the
# retrieval score above which a sentence is still the answer when the reader finds no span. Calibrated
# (`newsqa bench xquad`, retriever/calibration.py) on the XQuAD-train articles held out of the reader's
# training and the news development questions: a near miss's article is about its topic, so the
# fallback must sit above the scores near misses reach.
READER_THRESHOLDS = {"de": 0.85, "en": 0.85}
# How many logits more margin a sentence needs than the one ranked a place above it to be preferred
# (inf: the ranker's order decides which of the sentences the reader accepts comes first).
READER_RANK_MARGIN = 4.0
# sentences the reader reads per question: ~40 ms for one, ~65 ms for two in one batch on 2 cores; a
# third would take the default article's warm p95 past its 150 ms budget, so calibration keeps 2
READER_TOP_K = 2
# The issue asks that strong evidence without a span still be answered with its sentence, so the
# calibration's grid has no "no fallback"; for the round-6 reader it chose the grid's top: only a
# question that nearly repeats a sentence reaches it (docs/benchmarks.md).
SENTENCE_THRESHOLDS = {"de": 0.96, "en": 0.902}
# With a reader that ranks (a rank head: `retriever.modeling.reader`): its logit for the best candidate
# against "none of them" (0) decides the verdict: "answer" at or above ANSWER_LOGIT, "unsure" at or
# above UNSURE_LOGIT (the closest evidence, marked as such), "none" below. Calibrated by
# `lab.calibration.calibrate_verdicts` on development questions only (docs/benchmarks.md).
ANSWER_LOGIT = {"de": 0.0, "en": 0.0}
UNSURE_LOGIT = {"de": -3.0, "en": -3.0}
# the span head's margin over "no answer" above which the short answer is marked in the sentence
SPAN_MARGIN = 0.0
# supporting citations: other candidates within this many logits of the best one
SUPPORT_LOGITS = 2.0


def _for(thresholds: dict[str, float], query: str) -> float:
    return thresholds.get(question_language(query), max(thresholds.values()))


def _trimmed(text: str, start: int, end: int) -> tuple[int, int]:
    """The span as shown: without the blanks and the sentence-final punctuation around it."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and (text[end - 1].isspace() or text[end - 1] in ",;:"):
        end -= 1
    return start, end


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
        reader_thresholds: dict[str, float] | None = None,
        sentence_thresholds: dict[str, float] | None = None,
        rank_margin: float = READER_RANK_MARGIN,
        answer_logits: dict[str, float] | None = None,
        unsure_logits: dict[str, float] | None = None,
        span_margin: float = SPAN_MARGIN,
    ) -> None:
        self.abstain_thresholds = dict(abstain_thresholds or DEFAULT_THRESHOLDS)
        self.max_citations = max_citations
        self.support_margin = support_margin
        self.reader_min_score = reader_min_score
        self.reader_thresholds = dict(reader_thresholds) if reader_thresholds else None
        self.sentence_thresholds = dict(sentence_thresholds or self.abstain_thresholds)
        self.rank_margin = rank_margin
        self.answer_logits = dict(answer_logits or ANSWER_LOGIT)
        self.unsure_logits = dict(unsure_logits or UNSURE_LOGIT)
        self.span_margin = span_margin

    @component.output_types(answer=Answer)
    def run(
        self, query: str, documents: list[Document], answers: list[ExtractedAnswer] | None = None
    ) -> dict[str, Any]:
        top_score = float(documents[0].score or 0.0) if documents else 0.0
        verdicts = [a for a in answers or [] if a.document is not None and "rank" in a.meta]
        if verdicts and all("answers" in a.meta for a in verdicts):
            return {"answer": self._decide(query, verdicts, top_score)}
        if self.reader_thresholds and verdicts:
            return {"answer": self._read(query, documents, verdicts, top_score)}
        if top_score < _for(self.abstain_thresholds, query):
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

    def _decide(self, query: str, verdicts: list[ExtractedAnswer], top_score: float) -> Answer:
        """The ranking reader decides: its best candidate is citation [1], its logit the verdict, and the
        short answer its span when the span head is sure enough, else the whole sentence."""
        ordered = sorted(verdicts, key=lambda a: (-float(a.meta["answers"]), int(a.meta["rank"])))
        best = ordered[0]
        logit = float(best.meta["answers"])
        if logit < _for(self.unsure_logits, query):
            return Answer(question=query, answer=None, score=top_score, mode="abstain")
        verdict = "answer" if logit >= _for(self.answer_logits, query) else "unsure"
        doc = best.document
        assert doc is not None
        cited = [doc]
        floor = max(_for(self.unsure_logits, query), logit - SUPPORT_LOGITS)
        for other in ordered[1:]:
            if len(cited) >= self.max_citations or float(other.meta["answers"]) < floor:
                break
            if other.document is not None and all(other.document.id != c.id for c in cited):
                cited.append(other.document)
        citations = tuple(citation(i, d) for i, d in enumerate(cited, start=1))
        text = doc.content or ""
        if best.data and best.document_offset is not None and best.score >= self.span_margin:
            start, end = _trimmed(text, best.document_offset.start, best.document_offset.end)
            if start < end:
                return Answer(
                    query,
                    text[start:end],
                    top_score,
                    citations,
                    mode="reader",
                    span=(start, end),
                    verdict=verdict,
                )
        return Answer(query, text, top_score, citations, mode="sentence", verdict=verdict)

    def _preference(self, verdict: ExtractedAnswer) -> float:
        """Higher is cited first: the reader's margin, less `rank_margin` per place down the ranking."""
        rank = int(verdict.meta["rank"])
        if math.isinf(self.rank_margin):
            return -rank
        return verdict.score - self.rank_margin * rank

    def _read(
        self, query: str, documents: list[Document], verdicts: list[ExtractedAnswer], top_score: float
    ) -> Answer:
        """The reader decides: the best-ranked span it accepts (or, with a finite `rank_margin`, a
        much surer one below it), else a strongly retrieved sentence, else nothing."""
        assert self.reader_thresholds is not None
        threshold = _for(self.reader_thresholds, query)
        accepted = [a for a in verdicts if a.data and a.document_offset is not None and a.score >= threshold]
        ordered = sorted(accepted, key=self._preference, reverse=True)
        if ordered:
            best = ordered[0]
            assert best.document_offset is not None
            doc = best.document
            assert doc is not None
            text = doc.content or ""
            start, end = _trimmed(text, best.document_offset.start, best.document_offset.end)
            cited = [doc]
            for other in ordered[1:]:
                if len(cited) >= self.max_citations:
                    break
                if other.document is not None and other.document.id != doc.id:
                    cited.append(other.document)
            citations = tuple(citation(i, d) for i, d in enumerate(cited, start=1))
            return Answer(query, text[start:end], top_score, citations, mode="reader", span=(start, end))
        if documents and top_score >= _for(self.sentence_thresholds, query):
            best_doc = documents[0]
            return Answer(query, best_doc.content or "", top_score, (citation(1, best_doc),), mode="sentence")
        if documents and top_score >= _for(self.abstain_thresholds, query):
            # the reader is not sure, but retrieval found what it would answer with on its own: the
            # closest evidence, said to be uncertain, rather than silence
            cited = [
                d
                for d in documents[: self.max_citations]
                if (d.score or 0.0) >= top_score - self.support_margin
            ]
            citations = tuple(citation(i, d) for i, d in enumerate(cited, start=1))
            return Answer(
                query, cited[0].content or "", top_score, citations, mode="sentence", verdict="unsure"
            )
        return Answer(question=query, answer=None, score=top_score, mode="abstain")
