"""The ranker's training groups: contexts lose their title and heading lines but keep their offsets,
answers mark the sentence (and the span) that holds them, and the dev split is by article."""

from __future__ import annotations

import json
import random
from pathlib import Path

from lab.training.answer_data import Item, Sentence, build_groups, is_dev, squad_items, subset_items

CONTEXT = (
    "London\n\n=== Geologie ===\nSüdostengland mit der Hauptstadt London ist mild. "
    "Die Themse fließt durch die Stadt. Der Hafen war lange der größte der Welt."
)


def _squad(tmp_path: Path) -> Path:
    start = CONTEXT.index("Themse")
    data = {
        "data": [
            {
                "title": "London",
                "paragraphs": [
                    {
                        "context": CONTEXT,
                        "qas": [
                            {"question": "Welcher Fluss fließt durch London?", "id": "1",
                             "answers": [{"text": "Themse", "answer_start": start}]},
                            {"question": "Wie hoch ist der Big Ben?", "id": "2", "answers": [],
                             "is_impossible": True},
                        ],
                    }
                ],
            }
        ]
    }  # fmt: skip
    path = tmp_path / "squad.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_squad_items_drop_title_and_headings_and_mark_the_answer(tmp_path: Path) -> None:
    answerable, impossible = squad_items(_squad(tmp_path), "germanquad")
    texts = [s.text for s in answerable.sentences]
    assert texts[0].startswith("Südostengland") and not any("===" in t or t == "London" for t in texts)
    (gold,) = answerable.gold
    sentence = answerable.sentences[gold]
    assert sentence.text[sentence.start : sentence.end] == "Themse"
    assert impossible.gold == [] and impossible.sentences  # asked of its paragraph, which does not say
    assert answerable.article == "London"


def test_subset_items_find_the_answer_text(tmp_path: Path) -> None:
    path = tmp_path / "subset.json"
    rows = [
        {
            "id": "x",
            "question": "Was war lange der größte der Welt?",
            "answer": "Der Hafen",
            "context": CONTEXT,
        },
        {"id": "y", "question": "Nicht im Text?", "answer": "Paris", "context": CONTEXT},
    ]
    path.write_text(json.dumps(rows), encoding="utf-8")
    (item,) = subset_items(path, "germandpr")
    assert item.sentences[item.gold[0]].text.startswith("Der Hafen")


def _item(n: int) -> Item:
    sentences = [Sentence(f"Satz {n} mit der Antwort Nummer {n} darin.", 0, 4)] + [
        Sentence(f"Ein anderer Satz {n}-{k} über etwas anderes.") for k in range(10)
    ]
    return Item(f"Frage {n} nach der Antwort?", "de", "test", f"Artikel {n}", sentences, [0])


def test_groups_hold_the_gold_and_unanswerable_groups_hold_none_of_it() -> None:
    items = [_item(n) for n in range(30)]
    groups = build_groups(
        items, random.Random(0), news=["Eine Meldung über die Antwort."], size=6, unanswerable=1.0
    )
    answerable = [g for g in groups if g.gold]
    unanswerable = [g for g in groups if not g.gold]
    assert len(answerable) == 30 and unanswerable
    for g in answerable:
        assert len(g.candidates) <= 7 and all(g.candidates[i].start == 0 for i in g.gold)
    for g in unanswerable:
        n = g.question.split()[1]
        assert not any(c.text.startswith(f"Satz {n} ") for c in g.candidates)


def test_the_dev_split_is_by_article() -> None:
    a, b = _item(1), _item(1)
    b.question = "Eine ganz andere Frage?"
    assert is_dev(a) == is_dev(b)
    assert 0 < sum(is_dev(_item(n)) for n in range(600)) < 200
