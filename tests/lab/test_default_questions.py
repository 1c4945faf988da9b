"""The hand-written questions about the default article that `newsqa bench default` asks: their
sentence numbers must still be the sentences that answer them (a splitter change renumbers them),
and the scoring counts citations, answers and declines as the benchmark reports them."""

from __future__ import annotations

from lab.benchmarks.default_questions import DefaultQuestion, default_article_quality, load_default_questions
from retriever.german import question_language
from retriever.ingest import parse_article
from retriever.service import NewsQA
from retriever.settings import DEFAULT_ARTICLE


def test_every_minimal_answer_stands_in_the_sentences_named_for_it() -> None:
    article = parse_article(DEFAULT_ARTICLE.read_text(encoding="utf-8"), "default")
    sentences = {s.number: s.text for s in article.sentences}
    questions = load_default_questions()
    for q in questions:
        for number in q.sentences:
            assert any(answer in sentences[number] for answer in q.answers), (q.question, number)
    languages = {question_language(q.question) for q in questions if q.answerable}
    assert languages == {"de", "en"}
    assert sum(not q.answerable for q in questions) >= 10


def test_quality_counts_right_citations_answers_and_declines(default_qa: NewsQA) -> None:
    questions = [
        DefaultQuestion("Wann hat Russland die Krim annektiert?", (13,), ("2014",)),
        # the same question, said to be answered by a sentence that does not: cited wrong
        DefaultQuestion("Wann hat Russland die Krim annektiert?", (1,), ("2014",)),
        DefaultQuestion("Wer hat die Fußball-WM 2014 gewonnen?", (), ()),
    ]
    quality = default_article_quality(default_qa, questions)
    assert set(quality) == {"de", "all"}
    assert quality["de"] == {
        "answerable": 2,
        "answered": 100.0,
        "cited_right": 50.0,
        "sure_right": 50.0,
        "f1": 100.0,
        "unanswerable": 1,
        "declined": 100.0,
    }


def test_the_report_puts_each_asker_in_a_column() -> None:
    from lab.benchmarks.default import _quality_rows

    def q(right: float) -> dict[str, dict[str, float]]:
        row = {"answerable": 2, "answered": 100.0, "cited_right": right, "f1": 40.0}
        return {"de": row, "all": {**row, "unanswerable": 3, "declined": 66.7}}

    rows = _quality_rows({"newsqa (shipped)": q(50.0), "newsqa hybrid": q(100.0)})
    assert "| questions about the default article | newsqa (shipped) | newsqa hybrid |" in rows
    assert "| German: cited right / answered, % of 2 | 50.0 / 100.0 | 100.0 / 100.0 |" in rows
    assert "| declined (verdict none), % of 3 | 66.7 | 66.7 |" in rows
    assert not any(row.startswith("| English") for row in rows)
