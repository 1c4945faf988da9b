"""`newsqa bench news`: the hand-written 10kGNAD question set is well-formed, and the benchmark runs.

The question file holds only offsets, never dataset text (10kGNAD is CC BY-NC-SA); the offsets are
checked against the rows read in place from ../shared/data, and these tests skip when it is absent.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from retriever.bench import GNAD_BENCHMARK_ROWS, load_news
from retriever.bench_news import QUESTIONS, body_span, load_questions, read_rows
from retriever.cli import main

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"  # beside the checkout, never copied
GNAD = DATA / "10kGNAD" / "test.csv"
needs_gnad = pytest.mark.skipif(not GNAD.exists(), reason=f"no 10kGNAD in {DATA}")


def test_question_file_has_both_kinds_in_both_languages() -> None:
    raw = json.loads(QUESTIONS.read_text(encoding="utf-8"))
    assert "10kGNAD" in raw["_about"] and "0-511" in raw["_about"]
    # offsets only: an answer text would copy the dataset
    keys = {"id", "row", "lang", "question", "answer_start", "answer_end"}
    assert all(set(q) == keys for q in raw["questions"])
    questions = load_questions()
    assert len({q.qid for q in questions}) == len(questions)
    assert len({(q.row, q.question) for q in questions}) == len(questions)
    assert all(0 <= q.row < GNAD_BENCHMARK_ROWS for q in questions)
    kinds = Counter((q.lang, q.answerable) for q in questions)
    assert kinds[("de", True)] + kinds[("en", True)] >= 40
    assert kinds[("de", False)] + kinds[("en", False)] >= 40
    assert min(kinds[("en", True)], kinds[("en", False)]) >= 10
    assert min(kinds[("de", True)], kinds[("de", False)]) >= 25
    assert len({q.row for q in questions}) >= 20


@needs_gnad
def test_answer_offsets_are_minimal_spans_inside_one_sentence() -> None:
    questions = [q for q in load_questions() if q.answerable]
    rows = {q.row for q in questions}
    texts = read_rows(GNAD, rows)
    articles = load_news(GNAD, max(rows) + 1)
    for q in questions:
        assert q.start is not None and q.end is not None
        text = texts[q.row]
        assert 0 <= q.start < q.end <= len(text), q.qid
        answer = text[q.start : q.end]
        assert answer == answer.strip() and len(answer) <= 40, q.qid  # short, no stray blanks
        # citation@1 can only be right when one sentence of the parsed row holds the whole answer
        start, end = body_span(articles[q.row], text, q.start, q.end)
        assert articles[q.row].body[start:end] == answer, q.qid
        assert any(s.start <= start and end <= s.end for s in articles[q.row].sentences), q.qid


@needs_gnad
def test_bench_news_smoke(tmp_path: Path) -> None:
    out, md = tmp_path / "news.json", tmp_path / "benchmarks.md"
    argv = ["bench", "news", "--limit", "3", "--news", "5", "--json", str(out), "--write", str(md)]
    assert main(argv) == 0
    results = json.loads(out.read_text(encoding="utf-8"))
    assert results["questions"] == 3 and results["distractor_rows"] == 5
    assert results["articles_indexed"] == 6
    assert len(results["outcomes"]) == 3
    assert {o["answerable"] for o in results["outcomes"]} == {True, False}
    for key in ("answered", "citation@1", "f1", "declined"):
        value = results["all"][key]
        assert value is not None and 0 <= value <= 100
    assert "<!-- bench:news:start -->" in md.read_text(encoding="utf-8")
