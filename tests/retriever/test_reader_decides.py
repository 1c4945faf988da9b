"""With newsqa's reader the reader decides: the best-ranked span it accepts is the answer and its
sentence citation [1]; without a span, a strongly retrieved sentence is still the answer; otherwise
the bot declines. These tests drive `CitedAnswerBuilder` with made-up verdicts, so no model is needed."""

from __future__ import annotations

from pathlib import Path

import pytest
from haystack import Document
from haystack.dataclasses import ExtractedAnswer

from retriever.components.answer_builder import CitedAnswerBuilder
from retriever.components.span_reader import whole_words

SENTENCES = [
    "Putin und Biden sprachen am Dienstag per Video miteinander.",
    "Das Gespräch begann um 16.00 Uhr MEZ.",
    "Die Krim wurde 2014 von Russland annektiert.",
]
QUESTION = "Wann begann das Gespräch?"


def _docs(scores: list[float]) -> list[Document]:
    return [
        Document(
            id=f"s{n}",
            content=text,
            score=score,
            meta={"article_id": "a1", "title": "Gipfel", "date": "2021-12", "sentence_number": n},
        )
        for n, (text, score) in enumerate(zip(SENTENCES, scores, strict=True), start=1)
    ]


def _verdict(doc: Document, phrase: str | None, margin: float, rank: int) -> ExtractedAnswer:
    text = doc.content or ""
    start = text.index(phrase) if phrase else -1
    return ExtractedAnswer(
        query=QUESTION,
        score=margin,
        data=phrase,
        document=doc,
        document_offset=ExtractedAnswer.Span(start, start + len(phrase)) if phrase else None,
        meta={"rank": rank},
    )


def _builder(**kwargs: float) -> CitedAnswerBuilder:
    return CitedAnswerBuilder(
        reader_thresholds={"de": 1.0, "en": 1.0}, sentence_thresholds={"de": 0.95, "en": 0.95}, **kwargs
    )


def test_the_reader_span_is_the_answer_and_its_sentence_is_cited_first() -> None:
    docs = _docs([0.9, 0.88, 0.7])
    verdicts = [
        _verdict(docs[0], "am Dienstag", -2.0, 0),
        _verdict(docs[1], "16.00 Uhr MEZ.", 4.0, 1),
        _verdict(docs[2], None, -6.0, 2),
    ]
    answer = _builder().run(query=QUESTION, documents=docs, answers=verdicts)["answer"]
    assert answer.mode == "reader" and answer.answer == "16.00 Uhr MEZ."
    assert [c.sentence_number for c in answer.citations] == [2]  # the others do not answer it
    start, end = answer.span
    assert answer.citations[0].text[start:end] == answer.answer


def test_blanks_and_commas_around_a_span_are_not_part_of_the_answer() -> None:
    docs = _docs([0.9, 0.88, 0.7])
    verdict = _verdict(docs[1], " 16.00 Uhr", 3.0, 0)
    answer = _builder().run(query=QUESTION, documents=docs, answers=[verdict])["answer"]
    assert answer.answer == "16.00 Uhr" and SENTENCES[1][slice(*answer.span)] == "16.00 Uhr"


def test_no_span_but_strong_evidence_answers_with_the_sentence() -> None:
    docs = _docs([0.97, 0.8, 0.7])
    verdicts = [_verdict(d, None, -3.0, n) for n, d in enumerate(docs)]
    answer = _builder().run(query=QUESTION, documents=docs, answers=verdicts)["answer"]
    assert answer.mode == "sentence" and answer.answer == SENTENCES[0] and answer.span is None
    assert [c.sentence_number for c in answer.citations] == [1]


def test_what_only_retrieval_is_sure_of_is_the_closest_evidence_said_to_be_unsure() -> None:
    docs = _docs([0.93, 0.9, 0.7])  # above the plain threshold (0.862), under the sentence fallback
    verdicts = [_verdict(docs[0], "am Dienstag", 0.5, 0), _verdict(docs[1], None, -4.0, 1)]
    answer = _builder().run(query=QUESTION, documents=docs, answers=verdicts)["answer"]
    assert answer.verdict == "unsure" and answer.answer == SENTENCES[0] and answer.mode == "sentence"
    assert [c.sentence_number for c in answer.citations] == [1]  # the next one is not within reach
    plain = CitedAnswerBuilder().run(query=QUESTION, documents=docs, answers=verdicts)["answer"]
    assert plain.verdict == "answer"  # the same evidence without the reader's say


def test_under_the_plain_threshold_the_reader_declines() -> None:
    docs = _docs([0.8, 0.7, 0.6])
    verdicts = [_verdict(docs[0], "am Dienstag", 0.5, 0)]
    answer = _builder().run(query=QUESTION, documents=docs, answers=verdicts)["answer"]
    assert answer.abstained and answer.citations == () and answer.verdict == "none"


def test_rank_margin_lets_the_ranker_break_a_close_call() -> None:
    docs = _docs([0.95, 0.80, 0.7])
    verdicts = [_verdict(docs[0], "am Dienstag", 2.0, 0), _verdict(docs[1], "16.00 Uhr", 2.5, 1)]

    def answer(**kwargs: float) -> str | None:
        return _builder(**kwargs).run(query=QUESTION, documents=docs, answers=verdicts)["answer"].answer

    assert answer(rank_margin=0.0) == "16.00 Uhr"  # the reader's surest
    assert answer(rank_margin=1.0) == answer() == "am Dienstag"  # the ranker's order by default
    assert answer(rank_margin=0.4) == "16.00 Uhr"  # sure enough to beat the better-ranked one


def test_with_the_ranker_order_deciding_a_rejected_top_sentence_passes_to_the_next() -> None:
    docs = _docs([0.95, 0.80, 0.7])
    verdicts = [_verdict(docs[0], "am Dienstag", 0.5, 0), _verdict(docs[1], "16.00 Uhr", 2.5, 1)]
    answer = _builder().run(query=QUESTION, documents=docs, answers=verdicts)["answer"]
    assert answer.answer == "16.00 Uhr" and [c.sentence_number for c in answer.citations] == [2]


def test_spans_are_widened_to_whole_words() -> None:
    text = "Die Verhandlungen dauerten zwei Stunden."
    start = text.index("handlungen")
    assert text[slice(*whole_words(text, start, start + 6))] == "Verhandlungen"
    assert text[slice(*whole_words(text, 0, 3))] == "Die"
    end = len(text)
    assert whole_words(text, end - 8, end) == (end - 8, end)  # "Stunden." ends at a boundary


def test_a_broken_reader_file_is_one_clear_error(tmp_path: Path) -> None:
    from retriever.components.span_reader import SentenceSpanReader
    from retriever.errors import ConfigError

    broken = tmp_path / "reader.safetensors"
    broken.write_bytes(b"not a safetensors file")
    with pytest.raises(ConfigError, match="NEWSQA_READER_MODEL=none"):
        SentenceSpanReader(artifact=str(broken)).warm_up()
    with pytest.raises(ConfigError, match="cannot be loaded"):
        SentenceSpanReader(artifact=str(tmp_path / "missing.safetensors")).warm_up()
