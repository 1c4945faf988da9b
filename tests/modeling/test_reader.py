"""The span reader: token offsets map back to the sentence exactly, training targets land on the
answer's tokens, its file round-trips (adapter folded in + head), and the shipped one loads offline,
finds the answer in the sentence that holds it and declines the one that does not."""

from __future__ import annotations

import copy
import hashlib
import json
import os
import random
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import torch

from lab.training.lora import add_lora, save_reader
from lab.training.news_questions import echo_question, facts
from lab.training.reader import (
    GENERATED_GROUPS,
    Example,
    ReaderSet,
    add_news_questions,
    epoch_examples,
    news_articles,
    only_languages,
    token_targets,
)
from retriever.modeling.reader import READER_ARTIFACT, SpanReader, load_reader

SENTENCE = "Das Gespräch begann am 7. Dezember um 16.00 Uhr MEZ & dauerte zwei Stunden."
QUESTION = "Wann begann das Gespräch?"


def _reader(base: tuple[Any, Any], seed: int = 0) -> tuple[SpanReader, dict[str, Any]]:
    from tokenizers import Tokenizer

    from retriever.modeling.base import ensure_base

    torch.manual_seed(seed)
    bert = copy.deepcopy(base[0])
    layers = add_lora(bert, rank=4, alpha=8.0, targets=("attention.self.value",))
    tokenizer = Tokenizer.from_file(str(ensure_base() / "tokenizer.json"))
    return SpanReader(bert, tokenizer), layers


def test_offsets_are_sentence_characters_and_questions_are_never_answers(base: tuple[Any, Any]) -> None:
    reader, _ = _reader(base)
    batch = reader.encode([QUESTION], [SENTENCE])
    pieces = [SENTENCE[a:b].strip() for a, b in batch.offsets[0] if a >= 0]
    assert "".join(pieces) == SENTENCE.replace(" ", "")
    allowed = batch.allowed[0].tolist()
    assert allowed[0]  # the no-answer token
    assert [a >= 0 for a, _ in batch.offsets[0]][1:] == allowed[1:]  # nothing of the question


def test_training_targets_cover_the_answer_tokens(base: tuple[Any, Any]) -> None:
    reader, _ = _reader(base)
    start = SENTENCE.index("16.00 Uhr")
    examples = [
        Example(QUESTION, SENTENCE, start, start + len("16.00 Uhr")),
        Example(QUESTION, "Die Krim wurde 2014 annektiert.", kind="sibling"),
    ]
    batch = reader.encode([e.question for e in examples], [e.sentence for e in examples])
    starts, ends = token_targets(batch, examples)
    first, last = batch.offsets[0][starts[0]], batch.offsets[0][ends[0]]
    assert SENTENCE[first[0] : last[1]].strip() == "16.00 Uhr"
    assert (starts[1], ends[1]) == (0, 0)


def test_spans_stay_inside_the_sentence(base: tuple[Any, Any]) -> None:
    reader, _ = _reader(base)
    spans = reader.eval().read(QUESTION, [SENTENCE, "Kurz."])
    assert len(spans) == 2
    for span, text in zip(spans, [SENTENCE, "Kurz."], strict=True):
        assert 0 <= span.start < span.end <= len(text)
        assert span.margin == span.margin  # a number, not NaN
    assert reader.read(QUESTION, []) == []


def test_saved_reader_reads_as_trained(base: tuple[Any, Any], tmp_path: Path) -> None:
    reader, layers = _reader(base, seed=1)
    for layer in layers.values():
        layer.lora_b.data = (torch.randn_like(layer.lora_b) * 0.02).half().float()
        layer.lora_a.data = layer.lora_a.data.half().float()
    torch.nn.init.normal_(reader.head.weight, std=0.5)
    reader.eval()
    trained = reader.read(QUESTION, [SENTENCE])
    save_reader(tmp_path / "r.safetensors", reader, layers, {"rank": 4, "alpha": 8.0, "max_length": 128})
    loaded = load_reader(tmp_path / "r.safetensors")
    again = loaded.read(QUESTION, [SENTENCE])
    assert (again[0].start, again[0].end) == (trained[0].start, trained[0].end)
    assert again[0].margin == pytest.approx(trained[0].margin, abs=1e-3)


def test_a_ranking_reader_saves_and_loads_its_rank_head(base: tuple[Any, Any], tmp_path: Path) -> None:
    from tokenizers import Tokenizer

    from retriever.modeling.base import ensure_base

    torch.manual_seed(2)
    bert = copy.deepcopy(base[0])
    layers = add_lora(bert, rank=4, alpha=8.0, targets=("attention.self.value",))
    tokenizer = Tokenizer.from_file(str(ensure_base() / "tokenizer.json"))
    reader = SpanReader(bert, tokenizer, ranks=True)
    assert reader.rank_head is not None
    torch.nn.init.normal_(reader.rank_head.weight, std=0.5)
    reader.eval()
    other = "Das Wetter war sonnig."
    trained = reader.read(QUESTION, [SENTENCE, other])
    assert all(s.answers is not None for s in trained)
    save_reader(tmp_path / "r.safetensors", reader, layers, {"rank": 4, "alpha": 8.0, "max_length": 128})
    loaded = load_reader(tmp_path / "r.safetensors")
    assert loaded.rank_head is not None
    again = loaded.read(QUESTION, [SENTENCE, other])
    assert [s.answers for s in again] == pytest.approx([s.answers for s in trained], abs=1e-3)
    assert (
        load_reader(READER_ARTIFACT).read(QUESTION, [SENTENCE])[0].answers is None or READER_ARTIFACT.exists()
    )


def _small_set(answerable: int) -> ReaderSet:
    """One question answered `answerable` times, with one sibling and one news no-answer sentence."""
    return ReaderSet(
        positives=[Example("Q?", "Satz mit Antwort.", 0, 4, group=0)] * answerable,
        siblings={0: [Example("Q?", "Anderer Satz.", kind="sibling", group=0)]},
        news={0: [Example("Q?", "Eine Meldung.", kind="news", group=0)]},
    )


def test_epochs_mix_answerable_and_no_answer_examples() -> None:
    data = _small_set(10)
    examples = epoch_examples(data, random.Random(0), negatives=1.0, news_share=0.5)
    kinds = [e.kind for e in examples]
    assert kinds.count("answer") == 10 and kinds.count("sibling") + kinds.count("news") == 10
    assert kinds.count("news") and kinds.count("sibling")


def test_benchmark_rows_of_10kgnad_are_never_training_data(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="benchmarks only"):
        news_articles(tmp_path / "test.csv", rows=range(0, 600))


def test_news_near_misses_are_the_same_in_every_process() -> None:
    import subprocess
    import sys

    program = (
        "from lab.training.reader import _KeywordIndex\n"
        "texts = ['Die Regierung in Wien plant eine Reform.', 'Wien und Graz planen eine Reform.',"
        " 'Die Reform der Regierung kommt.', 'Graz plant nichts.', 'Die Regierung in Graz tagt.']\n"
        "print(_KeywordIndex(texts).nearest('Was plant die Regierung in Wien und Graz?', 4))\n"
    )
    found = {
        subprocess.run(
            [sys.executable, "-c", program],
            env={**os.environ, "PYTHONHASHSEED": str(seed)},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in range(6)
    }
    assert len(found) == 1, found


def test_rows_the_thresholds_are_tuned_on_can_be_left_out(tmp_path: Path) -> None:
    from lab.benchmarks.news import QUESTION_SETS, load_questions
    from lab.calibration import news_dev_rows

    csv_file = tmp_path / "test.csv"
    csv_file.write_text(
        "".join(f"Inland;'Meldung {row}. Der Satz {row} ist lang genug.'\n" for row in range(520)),
        encoding="utf-8",
    )
    kept = news_articles(csv_file, rows=range(512, 520), exclude={513, 517})
    assert [int(a[0].split()[1].rstrip(".")) for a in kept] == [512, 514, 515, 516, 518, 519]
    rows = news_dev_rows()  # what lab/training/train_reader.py leaves out by default
    assert len(rows) == len(set(rows)) and all(512 <= row <= 1027 for row in rows)
    assert {q.row for q in load_questions(QUESTION_SETS["dev"])} < set(rows)  # and the distractors


@pytest.mark.skipif(not READER_ARTIFACT.exists(), reason="no reader shipped")
def test_the_shipped_card_is_what_the_training_script_writes_and_names_the_rows_it_used() -> None:
    import lab.training.train_reader as module

    record = json.loads(READER_ARTIFACT.with_suffix(".json").read_text(encoding="utf-8"))
    shipped = module.model_card(record)
    assert shipped == READER_ARTIFACT.with_suffix(".md").read_text(encoding="utf-8")
    # trained on German and English questions only, from the pack its command names, without the
    # rows the thresholds are tuned on: the rebuild command must write that same pack
    assert "--write-pack .device/pack-deen --languages de,en  #" in shipped
    assert "--news-dev-rows" not in shipped and "were not trained on either" in shipped
    record["config"]["news_dev_rows"] = "include"
    with_rows = module.model_card(record)
    assert "--write-pack .device/pack-deen --news-dev-rows include --languages de,en" in with_rows
    # trained on part of a pack's languages, English named twice: the pack line writes the pack
    record["config"].update(languages=["de", "en", "en"], pack_languages=["de", "en", "es", "ro"])
    weighted = module.model_card(record)
    assert "--write-pack .device/pack-deen --news-dev-rows include --languages de,en,es,ro  #" in weighted
    assert "2 languages (de, en, same ids; en trained on twice per epoch)" in weighted


@pytest.mark.skipif(not READER_ARTIFACT.exists(), reason="no reader shipped")
def test_shipped_reader_loads_offline_finds_the_span_and_declines_the_rest(base: tuple[Any, Any]) -> None:
    card = json.loads(READER_ARTIFACT.with_suffix(".json").read_text(encoding="utf-8"))
    assert hashlib.sha256(READER_ARTIFACT.read_bytes()).hexdigest() == card["sha256"]
    artifacts = READER_ARTIFACT.parent.glob("*.safetensors")
    assert sum(p.stat().st_size for p in artifacts) <= 10 * 2**20  # every shipped weight, all told
    model = load_reader()
    other = "Die Krim wurde 2014 von Russland annektiert."
    answer, elsewhere = model.read("Um wie viel Uhr begann das Gespräch?", [SENTENCE, other])
    assert "16.00" in SENTENCE[answer.start : answer.end]
    assert answer.margin > elsewhere.margin


def test_other_paragraph_negatives_are_opt_in_and_leave_older_epochs_unchanged() -> None:
    data = _small_set(20)
    before = epoch_examples(data, random.Random(3), negatives=1.0, news_share=0.3)
    data.nearby = {0: [Example("Q?", "Ein Nachbarabsatz.", kind="nearby", group=0)]}
    assert epoch_examples(data, random.Random(3), negatives=1.0, news_share=0.3) == before
    mixed = [e.kind for e in epoch_examples(data, random.Random(3), 1.0, news_share=0.3, nearby_share=0.4)]
    assert mixed.count("nearby") and mixed.count("sibling") and mixed.count("news")
    assert mixed.count("answer") == 20 and len(mixed) == 40


def test_generated_questions_are_opt_in_drawn_per_epoch_and_declined_on_their_article() -> None:
    data = _small_set(20)
    before = epoch_examples(data, random.Random(3), negatives=1.0, news_share=0.3)
    group = GENERATED_GROUPS
    data.generated = [
        Example(f"F{n}?", "Die Quote lag bei 4,6 Prozent.", 21, 32, "generated", "de", group + n)
        for n in range(5)
    ]
    data.siblings |= {
        group + n: [Example(f"F{n}?", "Ein anderer Satz.", kind="generated-sibling", group=group + n)]
        for n in range(5)
    }
    assert epoch_examples(data, random.Random(3), negatives=1.0, news_share=0.3) == before
    mixed = epoch_examples(data, random.Random(3), 1.0, news_share=0.3, generated=3)
    kinds = [e.kind for e in mixed]
    assert kinds.count("generated") == 3 and kinds.count("answer") == 20 and len(mixed) == 46
    asked = {e.question for e in mixed if e.kind == "generated"}
    assert {e.question for e in mixed if e.kind == "generated-sibling"} <= asked  # their own article's


def test_news_facts_become_echo_questions_whose_answer_is_the_fact() -> None:
    sentence = "Seit 2012 warb sie 120.000 Kunden und am 3. Mai 3,5 Millionen Euro ein."
    asked = {sentence[f.start : f.end]: echo_question(sentence, f) for f in facts(sentence)}
    assert asked == {
        "2012": "Seit wann warb sie 120.000 Kunden und am 3. Mai 3,5 Millionen Euro ein?",
        "3. Mai": "Seit 2012 warb sie 120.000 Kunden und wann 3,5 Millionen Euro ein?",
        "3,5 Millionen Euro": "Seit 2012 warb sie 120.000 Kunden und am 3. Mai wie viel Euro ein?",
        "120.000 Kunden": "Seit 2012 warb sie wie viele Kunden und am 3. Mai 3,5 Millionen Euro ein?",
    }
    assert facts("Um 16.00 Uhr begann es.")[0].phrase == "um wie viel Uhr"
    assert (
        echo_question("Um 16.00 Uhr begann es.", facts("Um 16.00 Uhr begann es.")[0])
        == "Um wie viel Uhr begann es?"
    )
    assert not facts("Im Jahr 2000 Menschen zu zählen, ist schwer.")[1:]  # a year is not a count


def test_generated_questions_take_their_no_answer_sentences_from_their_own_article() -> None:
    article = [
        "Die Arbeitslosigkeit stieg im Mai auf 9,1 Prozent, teilte das AMS mit.",
        "Im Vorjahr hatte die Arbeitslosigkeit noch 8,4 Prozent betragen.",
        "Das AMS rechnet mit einer Entspannung im Herbst.",
    ]
    other = ["Ein ganz anderer Artikel über 25 Spieler und Fußball."]
    data = ReaderSet()
    add_news_questions(data, [article, other], per_article=3)
    by_sentence = {e.sentence: e for e in data.generated}
    first = by_sentence[article[0]]
    assert first.sentence[first.start : first.end] == "9,1 Prozent" and first.question.endswith("?")
    negatives = [e.sentence for e in data.siblings[first.group]]
    assert negatives and set(negatives) <= set(article[1:])  # same article, never the answer's own
    assert all(e.group >= GENERATED_GROUPS and e.language == "de" for e in data.generated)


XQUAD = Path(__file__).resolve().parents[3] / "shared" / "data"


@pytest.mark.skipif(not (XQUAD / "xquad.de.json").exists(), reason=f"no XQuAD in {XQUAD}")
def test_other_paragraph_negatives_come_from_the_same_article_and_lack_the_answer() -> None:
    from lab.training.reader import load_reader_set

    data = load_reader_set(XQUAD, ("de",), keep_article=lambda p: p == 0, nearby_per_question=2)
    assert data.corpus is not None and data.questions and data.nearby
    corpus = data.corpus
    for qi in data.questions:
        q = corpus.questions[qi]
        title = corpus.articles[q.article].source.split(":")[1]
        own = {s.text for s in corpus.articles[q.article].sentences}
        same_article = {
            s.text for a in corpus.articles if a.source.split(":")[1] == title for s in a.sentences
        }
        for example in data.nearby[qi]:
            assert example.kind == "nearby" and example.start == -1
            assert example.sentence in same_article and example.sentence not in own
            assert not any(g.lower() in example.sentence.lower() for g in q.golds)


def test_a_pack_trains_on_the_languages_named_and_weights_one_named_twice() -> None:
    """Training on part of a pack's languages is training on a pack of those languages, example for
    example; a language named twice brings its answerable examples, and so its no-answer draws, twice."""

    def examples(languages: tuple[str, ...]) -> ReaderSet:
        return ReaderSet(
            positives=[Example(f"Q{g}{lang}?", "Satz mit Antwort.", 0, 4, language=lang, group=g)
                       for g in range(6) for lang in languages],
            siblings={g: [Example(f"Q{g}{lang}?", "Anderer Satz.", kind="sibling", language=lang, group=g)
                          for lang in languages] for g in range(6)},
            news={g: [Example(f"Q{g}{lang}?", "Eine Meldung.", kind="news", language=lang, group=g)
                      for lang in languages] for g in range(6)},
        )  # fmt: skip

    pack = examples(("de", "en", "es"))
    picked = epoch_examples(only_languages(pack, ("de", "en")), random.Random(5))
    assert picked == epoch_examples(examples(("de", "en")), random.Random(5))
    weighted = epoch_examples(only_languages(pack, ("de", "en", "en")), random.Random(5))
    by = Counter((e.kind == "answer", e.language) for e in weighted)
    assert by == {(True, "de"): 6, (True, "en"): 12, (False, "de"): 6, (False, "en"): 12}
    with pytest.raises(ValueError, match="ru"):
        only_languages(pack, ("de", "ru"))
