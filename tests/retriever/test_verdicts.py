"""Three verdicts: a ranking reader's logit decides "answer", "unsure" (the closest evidence, said so)
or "none" (nothing cited), and every surface says which: the JSON, the CLI's text and the bot."""

from __future__ import annotations

from typing import Any

import pytest
from haystack import Document
from haystack.dataclasses import ExtractedAnswer

from bot.formatting import format_answer as telegram_answer
from retriever.cli import format_answer as cli_answer
from retriever.components.answer_builder import CitedAnswerBuilder
from retriever.models import Answer, Citation

SENTENCES = [
    "Die Videokonferenz begann um 16.00 Uhr MEZ.",
    "Biden und Putin sprachen über die Ukraine.",
    "Das Gespräch dauerte zwei Stunden.",
]


def _docs() -> list[Document]:
    return [
        Document(
            id=f"a-{n}",
            content=text,
            score=0.9 - n / 100,
            meta={"article_id": "a", "title": "Gipfel", "date": "2021-12", "sentence_number": n + 1},
        )
        for n, text in enumerate(SENTENCES)
    ]


def _verdicts(
    docs: list[Document], logits: list[float], span: tuple[int, int] | None = None, margin: float = 3.0
) -> list[ExtractedAnswer]:
    out = []
    for rank, (doc, logit) in enumerate(zip(docs, logits, strict=True)):
        has_span = span is not None and rank == 0
        text = doc.content or ""
        out.append(
            ExtractedAnswer(
                query="q",
                score=margin if has_span else -5.0,
                data=text[span[0] : span[1]] if has_span and span else None,
                document=doc,
                document_offset=ExtractedAnswer.Span(*span) if has_span and span else None,
                meta={"rank": rank, "answers": logit},
            )
        )
    return out


def _decide(logits: list[float], **kwargs: Any) -> Answer:
    builder = CitedAnswerBuilder(answer_logits={"de": 1.0, "en": 1.0}, unsure_logits={"de": -2.0, "en": -2.0})
    docs = _docs()
    answers = _verdicts(docs, logits, **kwargs)
    return builder.run(query="Wann begann die Konferenz?", documents=docs, answers=answers)["answer"]


def test_a_sure_ranker_answers_with_the_span_in_its_best_sentence() -> None:
    answer = _decide([4.0, -3.0, -4.0], span=(29, 38))
    assert answer.verdict == "answer" and answer.answer == "16.00 Uhr"
    assert answer.citations[0].text == SENTENCES[0] and answer.span == (29, 38)
    assert answer.to_dict()["verdict"] == "answer"


def test_the_ranker_reorders_the_retrievers_candidates() -> None:
    answer = _decide([-3.0, 0.5, 3.0])
    assert answer.verdict == "answer" and answer.citations[0].text == SENTENCES[2]
    assert answer.answer == SENTENCES[2]  # no span: the sentence is the answer


def test_between_the_thresholds_the_closest_evidence_is_unsure_never_silent() -> None:
    answer = _decide([0.0, -1.0, -6.0], span=(29, 38), margin=-1.0)
    assert answer.verdict == "unsure" and answer.unsure
    assert answer.answer == SENTENCES[0]  # the span head was not sure either: the whole sentence
    assert [c.text for c in answer.citations] == SENTENCES[:2]  # within reach of the best, above the floor
    data = answer.to_dict()
    assert data["verdict"] == "unsure" and data["answer"] and data["citations"]


def test_below_the_floor_the_verdict_is_none_and_nothing_is_cited() -> None:
    answer = _decide([-2.5, -4.0, -6.0])
    assert answer.verdict == "none" and answer.answer is None and answer.citations == ()
    assert answer.to_dict()["verdict"] == "none"


def test_no_answer_is_always_verdict_none() -> None:
    assert Answer("q", None, 0.0, verdict="answer").verdict == "none"


def _unsure() -> Answer:
    cited = Citation(1, "a", "Gipfel <live>", "2021-12", 2, "Biden & Putin sprachen.")
    return Answer("Worüber?", "Biden & Putin sprachen.", 0.8, (cited,), mode="sentence", verdict="unsure")


def test_the_cli_says_not_certain() -> None:
    text = cli_answer(_unsure())
    assert "A: Not certain \u2013 the closest the articles come: Biden & Putin sprachen." in text
    assert "[1]" in text


@pytest.mark.parametrize(
    ("lang", "words"),
    [
        ("de", "Nicht eindeutig belegt – am nächsten kommt:"),
        ("en", "Not certain – the closest the articles come:"),
    ],
)
def test_the_bot_says_not_certain_before_the_evidence(lang: str, words: str) -> None:
    (message,) = telegram_answer(_unsure(), lang)  # type: ignore[arg-type]
    assert message.startswith(f"<i>{words}</i>")
    assert "Biden &amp; Putin sprachen." in message and "Gipfel &lt;live&gt;" in message
