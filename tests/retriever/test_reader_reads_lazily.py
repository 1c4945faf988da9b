"""The reader reads the best sentence first and the next ones only when it does not accept it: the
answer builder cites the best-ranked accepted sentence, so the answers are those of reading them all,
in less time for the questions the best sentence answers."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from haystack import Document

from retriever.components.span_reader import SentenceSpanReader
from retriever.modeling.reader import READER_ARTIFACT, Span
from retriever.pipeline import PipelineConfig, pipeline_inputs
from retriever.service import NewsQA

SENTENCES = [
    "Das Gespräch begann um 16.00 Uhr MEZ.",
    "Es dauerte zwei Stunden.",
    "Die Krim wurde 2014 annektiert.",
]


class RecordingModel:
    """Stands in for the reader's network: says "16.00 Uhr" with the given margin for any sentence
    that holds it, nothing for the others, and records what it was asked to read."""

    def __init__(self, margin: float) -> None:
        self.margin = margin
        self.calls: list[list[str]] = []

    def read(self, question: str, sentences: list[str]) -> list[Span]:
        self.calls.append(list(sentences))
        return [
            Span(s.index("16.00"), s.index("16.00") + 9, self.margin) if "16.00" in s else Span(-1, -1, -9.0)
            for s in sentences
        ]


def _reader(order: list[int], margin: float, accept: dict[str, float] | None) -> tuple[Any, RecordingModel]:
    reader = SentenceSpanReader(top_k=3, accept=accept)
    reader._model = model = RecordingModel(margin)
    docs = [Document(id=str(i), content=SENTENCES[i], score=0.9) for i in order]
    return reader.run(query="Wann begann das Gespräch?", documents=docs)["answers"], model


def test_an_accepted_best_sentence_is_the_only_one_read() -> None:
    answers, model = _reader([0, 1, 2], margin=5.0, accept={"de": 1.5, "en": 1.5})
    assert model.calls == [[SENTENCES[0]]]
    assert [(a.meta["rank"], a.data) for a in answers] == [(0, "16.00 Uhr")]


def test_the_others_are_read_in_one_batch_when_the_best_is_not_accepted() -> None:
    answers, model = _reader([1, 0, 2], margin=5.0, accept={"de": 1.5, "en": 1.5})
    assert model.calls == [[SENTENCES[1]], [SENTENCES[0], SENTENCES[2]]]
    assert [a.meta["rank"] for a in answers] == [0, 1, 2]
    assert answers[1].data == "16.00 Uhr" and answers[1].document.content == SENTENCES[0]  # type: ignore[union-attr]
    # a span below the threshold is not accepted either: all three are read
    _, model = _reader([0, 1, 2], margin=1.0, accept={"de": 1.5, "en": 1.5})
    assert [len(call) for call in model.calls] == [1, 2]


def test_without_thresholds_every_sentence_is_read_at_once() -> None:
    answers, model = _reader([0, 1, 2], margin=5.0, accept=None)
    assert model.calls == [SENTENCES]
    assert len(answers) == 3


def test_settings_round_trip() -> None:
    reader = SentenceSpanReader(top_k=3, accept={"de": 1.5, "en": 1.5})
    again = SentenceSpanReader.from_dict(reader.to_dict())
    assert (again.top_k, again.accept, again.first) == (3, {"de": 1.5, "en": 1.5}, 1)


@pytest.mark.skipif(not READER_ARTIFACT.exists(), reason="no reader shipped")
def test_reading_lazily_answers_as_reading_every_sentence(default_qa: NewsQA) -> None:
    """The shipped reader on the default article: the same answers and first citations, with fewer
    sentences read when the best one answers."""
    config = replace(default_qa.config, reader_top_k=3, question_cache=0)
    lazy = NewsQA(default_qa.settings, config=config, store=default_qa.store)
    every = NewsQA(
        default_qa.settings, config=replace(config, reader_early_stop=False), store=default_qa.store
    )
    questions = [
        "Wann begann das Gespräch?",
        "Wie viele Soldaten soll Russland an der Grenze zusammengezogen haben?",
        "Was fordert Russland von der NATO?",
        "When did the video summit begin?",
        "Who annexed Crimea?",
        "Wer hat die Fußball-WM 2014 gewonnen?",
        "What is the capital of France?",
    ]
    read = {"lazy": 0, "every": 0}
    for question in questions:
        answers = []
        for name, qa in (("lazy", lazy), ("every", every)):
            qa.warm_up()
            out = qa.pipeline.run(pipeline_inputs(question), include_outputs_from={"reader"})
            read[name] += len(out["reader"]["answers"])
            answers.append(out["answer_builder"]["answer"])
        first, second = answers
        assert (first.answer, first.mode, first.citations[:1]) == (
            second.answer,
            second.mode,
            second.citations[:1],
        )
    assert read["every"] == 3 * len(questions)
    assert read["lazy"] < read["every"]


def test_a_finite_rank_margin_reads_every_sentence() -> None:
    """With a finite rank margin a much surer verdict further down may win, so nothing is skipped."""
    from retriever.pipeline import _reader as reader_of

    assert reader_of(PipelineConfig(rank_margin=2.0)).accept is None  # type: ignore[union-attr]
    assert reader_of(PipelineConfig()).accept is not None  # type: ignore[union-attr]
    assert reader_of(PipelineConfig(reader_early_stop=False)).accept is None  # type: ignore[union-attr]
