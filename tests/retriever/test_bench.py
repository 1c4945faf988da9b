"""Benchmark helpers: German answer normalisation, threshold calibration, the results file, XQuAD loading."""

from __future__ import annotations

from pathlib import Path

import pytest

from retriever.bench import calibrate_threshold, load_xquad, write_section
from retriever.metrics import exact_match, f1, normalize_answer

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"  # beside the checkout, never copied
needs_xquad = pytest.mark.skipif(not (DATA / "xquad.de.json").exists(), reason=f"no XQuAD in {DATA}")


def test_german_normalisation_drops_articles_and_punctuation() -> None:
    assert normalize_answer("Die Europäische Union!") == "europäische union"
    assert exact_match("der Rhein", ["Rhein"]) == 1.0
    assert exact_match("„Ein Hund“", ["hund"]) == 1.0
    assert abs(f1("im Jahr 2014 die Krim", ["2014"]) - 0.4) < 1e-9  # p = 1/4, r = 1
    assert f1("nichts", ["etwas"]) == 0.0


def test_calibration_caps_wrong_refusals() -> None:
    answerable = [0.80, 0.85, 0.86, 0.87, 0.88, 0.89, 0.90, 0.91, 0.92, 0.93]
    unanswerable = [0.70, 0.75, 0.79, 0.81, 0.86]
    threshold, kept, declined = calibrate_threshold(answerable, unanswerable, keep=0.9)
    assert kept >= 0.9 and 0.80 <= threshold <= 0.85
    assert declined == 0.8


def test_write_section_replaces_only_its_own_block(tmp_path: Path) -> None:
    path = tmp_path / "benchmarks.md"
    write_section(path, "a", "first A")
    write_section(path, "b", "only B")
    write_section(path, "a", "second A")
    text = path.read_text(encoding="utf-8")
    assert "second A" in text and "first A" not in text and "only B" in text
    assert text.count("<!-- bench:a:start -->") == 1


@needs_xquad
def test_xquad_spans_line_up_with_article_sentences() -> None:
    corpus = load_xquad(DATA, limit=30)
    assert len(corpus.articles) == 30
    for q in corpus.questions:
        body = corpus.articles[q.article].body
        assert body[q.start : q.start + len(q.gold)] == q.gold


@needs_xquad
def test_xquad_split_is_by_article_and_disjoint() -> None:
    train, test = load_xquad(DATA, split="train"), load_xquad(DATA, split="test")
    assert (len(train.articles), len(train.questions)) == (120, 612)
    assert (len(test.articles), len(test.questions)) == (120, 578)
    train_titles = {a.source.split(":")[1] for a in train.articles}
    test_titles = {a.source.split(":")[1] for a in test.articles}
    assert not train_titles & test_titles
    assert "Super_Bowl_50" in train_titles  # the first article of XQuAD: position 0, train
