"""Plain data returned by the retrieval core: answers, citations, articles and digests.

These are the only types `bot/` and the CLI need; they carry no haystack or Telegram objects and
serialise to JSON with `to_dict()`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal


@dataclass(frozen=True)
class ArticleInfo:
    """One indexed article."""

    article_id: str
    title: str
    date: str  # "YYYY-MM" from the header, "" when the file had none
    sentence_count: int
    source: str  # file path or upload name the article came from
    indexed_at: str  # ISO 8601, UTC

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Citation:
    """A verbatim sentence of an indexed article, numbered as it is cited in a reply."""

    number: int  # position in the reply: [1], [2], ...
    article_id: str
    title: str
    date: str
    sentence_number: int  # 1-based position of the sentence in its article
    text: str  # exactly article_text[start:end]

    def to_dict(self) -> dict[str, Any]:
        return {
            "article_id": self.article_id,
            "title": self.title,
            "date": self.date,
            "sentence_number": self.sentence_number,
            "text": self.text,
        }


Verdict = Literal["answer", "unsure", "none"]


@dataclass(frozen=True)
class Answer:
    """The reply to one question, with one of three verdicts:
    - "answer": the articles say it, citation [1] is the sentence that does;
    - "unsure": `answer` and the citations are the closest the articles come, not certainly an answer;
    - "none": nothing in the articles is about it: `answer is None` and no citations."""

    question: str
    answer: str | None
    score: float
    citations: tuple[Citation, ...] = ()
    latency_ms: float = 0.0
    # "reader" when an extractive QA model gave a span, "sentence" when the best sentence is the answer
    mode: Literal["reader", "sentence", "abstain"] = "abstain"
    # with mode "reader": where the answer stands in citations[0].text (character offsets), so that
    # it can be shown in its sentence; the answer is always exactly that slice of the cited sentence
    span: tuple[int, int] | None = None
    verdict: Verdict = "answer"

    def __post_init__(self) -> None:
        if self.answer is None:  # nothing to say is always verdict "none", whoever built it
            object.__setattr__(self, "verdict", "none")

    @property
    def abstained(self) -> bool:
        return self.answer is None

    @property
    def unsure(self) -> bool:
        return self.verdict == "unsure"

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "verdict": self.verdict,
            "answer": self.answer,
            "score": round(self.score, 4),
            "citations": [c.to_dict() for c in self.citations],
            "latency_ms": round(self.latency_ms, 1),
        }


@dataclass(frozen=True)
class Digest:
    """An extractive digest: the article's key sentences, in article order, each cited."""

    article: ArticleInfo
    sentences: tuple[Citation, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "article_id": self.article.article_id,
            "title": self.article.title,
            "date": self.article.date,
            "sentences": [c.to_dict() for c in self.sentences],
        }


IndexStatus = Literal["added", "replaced", "unchanged", "duplicate"]


@dataclass(frozen=True)
class IndexResult:
    """What indexing one file did. `replaced` holds the id of the version it replaced."""

    source: str
    status: IndexStatus
    article: ArticleInfo
    replaced: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        """One line for a person: what happened, and to which article."""
        a = self.article
        what = {
            "added": "added",
            "replaced": f"replaced {self.replaced}",
            "unchanged": "skipped (already indexed)",
            "duplicate": f"skipped (same text already indexed from {a.source})",
        }[self.status]
        when = f"{a.date}, " if a.date else ""
        return f"{what}: {a.article_id} {a.title!r} ({when}{a.sentence_count} sentences)"
