"""Questions a new user asks about the default article, for `newsqa bench default`.

The questions are hand-written (lab/benchmarks/data/default_questions.json): each answerable one names
the article's sentences that answer it and minimal answers found verbatim in them; the others (off
topic, or near misses about the summit that the article does not answer) must be declined. A
citation is right when citation [1] is one of the named sentences. This is the first thing a new
user tries, so it is measured beside the XQuAD and real-news benchmarks, never tuned on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lab.data import BENCHMARK_QUESTIONS
from lab.metrics import f1
from retriever.german import question_language

DEFAULT_ARTICLE_QUESTIONS = BENCHMARK_QUESTIONS / "default_questions.json"

_COUNTS = ("answerable", "answered", "right", "sure_right", "f1", "other", "declined")


@dataclass(frozen=True)
class DefaultQuestion:
    question: str
    sentences: tuple[int, ...]  # the sentences that answer it; empty: the article does not
    answers: tuple[str, ...]

    @property
    def answerable(self) -> bool:
        return bool(self.sentences)


def load_default_questions(path: Path = DEFAULT_ARTICLE_QUESTIONS) -> list[DefaultQuestion]:
    items = json.loads(path.read_text(encoding="utf-8"))["questions"]
    return [DefaultQuestion(q["question"], tuple(q["sentences"]), tuple(q["answers"])) for q in items]


def default_article_quality(qa: Any, questions: list[DefaultQuestion]) -> dict[str, dict[str, Any]]:
    """Per question language and for all: answered and cited right (of answerable questions), the
    answer's F1 against the minimal answers (an abstention scores 0) and declined (of the others)."""
    counts: dict[str, dict[str, float]] = {}
    for q in questions:
        answer = qa.ask(q.question)
        for key in (question_language(q.question), "all"):
            c = counts.setdefault(key, dict.fromkeys(_COUNTS, 0.0))
            if q.answerable:
                first = answer.citations[0].sentence_number if answer.citations else None
                c["answerable"] += 1
                c["answered"] += not answer.abstained
                c["right"] += first in q.sentences
                c["sure_right"] += first in q.sentences and answer.verdict == "answer"
                c["f1"] += f1(answer.answer or "", q.answers) if not answer.abstained else 0.0
            else:
                c["other"] += 1
                c["declined"] += answer.abstained
    return {
        key: {
            "answerable": int(c["answerable"]),
            "answered": round(100 * c["answered"] / max(c["answerable"], 1), 1),
            "cited_right": round(100 * c["right"] / max(c["answerable"], 1), 1),
            "sure_right": round(100 * c["sure_right"] / max(c["answerable"], 1), 1),
            "f1": round(100 * c["f1"] / max(c["answerable"], 1), 1),
            "unanswerable": int(c["other"]),
            "declined": round(100 * c["declined"] / max(c["other"], 1), 1),
        }
        for key, c in sorted(counts.items(), key=lambda kv: ("de", "en", "all").index(kv[0]))
    }
