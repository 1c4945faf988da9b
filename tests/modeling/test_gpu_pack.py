"""The training pack for a GPU machine: the examples survive the trip, and the packed base computes
exactly what the full base computes on every text the examples hold (only unused embedding rows are
blanked), so an adapter trained on it fits the full base. Also: the loops run from a pack. Both the
reader's pack and the ranker's."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from retriever.modeling.gpu_pack import read_pack, read_ranking_pack, write_pack, write_ranking_pack
from retriever.modeling.ranker_training import (
    RankingSet,
    TrainConfig,
    train_query_adapter,
    train_sentence_encoder,
)
from retriever.modeling.reader_training import (
    DevQuestion,
    Example,
    ReaderSet,
    ReaderTrainConfig,
    from_prepared_json,
    prepared_json,
    train_reader,
)

SENTENCE = "Das Gespräch begann am 7. Dezember um 16.00 Uhr MEZ."
OTHER = "Die Krim wurde 2014 von Russland annektiert."
QUESTION = "Wann begann das Gespräch?"
NEARBY = "Der Gipfel in Genf verlief ohne Durchbruch."
GENERATED = "Die Inflation lag im Mai bei wie viel Prozent?"
GENERATED_SENTENCE = "Die Inflation lag im Mai bei 4,6 Prozent."


def _data() -> tuple[ReaderSet, list[DevQuestion]]:
    start = SENTENCE.index("16.00")
    train = ReaderSet(
        positives=[Example(QUESTION, SENTENCE, start, start + 9, "answer", "de", 0)],
        siblings={0: [Example(QUESTION, OTHER, kind="sibling", group=0)]},
        news={0: [Example(QUESTION, "Die Börse schloss im Plus.", kind="news", group=0)]},
        nearby={0: [Example(QUESTION, NEARBY, kind="nearby", group=0)]},
        generated=[Example(GENERATED, GENERATED_SENTENCE, 29, 40, "generated", "de", 1_000_000)],
        questions=[0],
    )
    dev = [DevQuestion({"de": "Wer wurde annektiert?"}, [OTHER, SENTENCE], 0, ["Krim"], ["Ein Satz."])]
    return train, dev


def test_prepared_examples_round_trip() -> None:
    train, dev = _data()
    again, dev_again = from_prepared_json(prepared_json(train, dev))
    assert again.positives == train.positives
    assert again.siblings == train.siblings and again.news == train.news
    assert again.nearby == train.nearby and again.generated == train.generated
    assert again.questions == train.questions and dev_again == dev


@pytest.fixture(scope="module")
def pack(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("pack")
    train, dev = _data()
    info = write_pack(folder, train, dev, {"languages": ["de"], "news_sentences": 1}, preset=0)
    assert 0 < info["embedding_rows_kept"] < 1000  # the few texts above, not the 250k rows
    return folder


def _hidden(bert: Any, tokenizer: Any, text: str, prefix: str = "passage: ") -> torch.Tensor:
    enc = tokenizer.encode(prefix + text)
    with torch.inference_mode():
        return bert(input_ids=torch.tensor([enc.ids])).last_hidden_state[0]


def test_packed_base_equals_the_base_on_the_examples_texts(base: tuple[Any, Any], pack: Path) -> None:
    train, dev, (bert, tokenizer), info = read_pack(pack)
    assert from_prepared_json(prepared_json(train, dev))[0].positives == _data()[0].positives
    assert info["base_sha256"] and info["languages"] == ["de"]
    full = base[0].eval()
    for text in (SENTENCE, OTHER, NEARBY, GENERATED_SENTENCE):  # every kind of example keeps its rows
        assert torch.equal(_hidden(bert.eval(), tokenizer, text), _hidden(full, tokenizer, text))
    unseen = "Quantenchromodynamik erklärt Gluonen."  # pieces no example uses: blanked in the pack
    assert not torch.allclose(_hidden(bert, tokenizer, unseen), _hidden(full, tokenizer, unseen), atol=1e-3)


def test_the_reader_trains_from_a_pack(pack: Path) -> None:
    train, _, (bert, tokenizer), _ = read_pack(pack)
    config = ReaderTrainConfig(epochs=1, batch_size=2, rank=2, max_steps=1, threads=1)
    model, layers, log = train_reader(train, config, base=(copy.deepcopy(bert), tokenizer))
    assert log["steps_done"] == 1 and layers
    assert any(float(layer.lora_b.detach().abs().sum()) > 0 for layer in layers.values())  # it learned
    spans = model.read(QUESTION, [SENTENCE])
    assert 0 <= spans[0].start < spans[0].end <= len(SENTENCE)


# ---- the ranker's pack ----------------------------------------------------------------------------

RANKING_QUESTION = "Um wie viel Uhr begann die Videokonferenz?"


def _ranking_set() -> RankingSet:
    sentences = [SENTENCE, OTHER, NEARBY]
    contexts = [f"{SENTENCE} {OTHER}", f"{SENTENCE} {OTHER}", NEARBY]
    gold = np.array([[True, False, False], [False, True, False]])
    rng = np.random.default_rng(0)
    unit = rng.normal(size=(3, 384)).astype(np.float32)
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    questions = [("de", RANKING_QUESTION, 0), ("en", "Which region was annexed?", 1)]
    return RankingSet(sentences, contexts, np.array([0, 0, 1]), questions, gold, unit, unit[[0, 0, 2]])


@pytest.fixture(scope="module")
def ranking_pack(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("ranking-pack")
    extra = {"dev_query_vectors": np.ones((2, 384), dtype=np.float32)}
    info = write_ranking_pack(folder, {"train": _ranking_set()}, extra, {"languages": ["de", "en"], "dev": 0})
    assert 0 < info["embedding_rows_kept"] < 1000 and info["dev"] == 0
    return folder


def test_ranking_pack_round_trip_and_base(base: tuple[Any, Any], ranking_pack: Path) -> None:
    sets, extra, (bert, tokenizer), info = read_ranking_pack(ranking_pack)
    data, again = _ranking_set(), sets["train"]
    assert again.sentences == data.sentences and again.contexts == data.contexts
    assert again.questions == data.questions
    assert np.array_equal(again.gold, data.gold) and np.array_equal(again.article_of, data.article_of)
    assert again.sentence_vectors is not None and again.context_vectors is not None
    assert np.array_equal(again.sentence_vectors, data.sentence_vectors)
    assert np.array_equal(again.context_vectors, data.context_vectors)
    assert np.array_equal(extra["dev_query_vectors"], np.ones((2, 384))) and info["languages"] == ["de", "en"]
    packed, full = bert.eval(), base[0].eval()
    for text, prefix in ((RANKING_QUESTION, "query: "), (SENTENCE, "passage: "), (NEARBY, "passage: ")):
        assert torch.equal(_hidden(packed, tokenizer, text, prefix), _hidden(full, tokenizer, text, prefix))


@pytest.mark.parametrize("both_sides", [True, False], ids=["sentence-encoder", "query-adapter"])
def test_the_ranker_trains_from_a_pack(ranking_pack: Path, both_sides: bool) -> None:
    sets, _, (bert, tokenizer), _ = read_ranking_pack(ranking_pack)
    config = TrainConfig(epochs=1, batch_size=2, rank=2, alpha=4.0, threads=1)
    base = (copy.deepcopy(bert), tokenizer)
    if both_sides:
        layers, log = train_sentence_encoder(sets["train"], config, paragraphs_per_batch=2, base=base)
    else:
        layers, log = train_query_adapter(sets["train"], config, base=base)
    assert log["steps_done"] == 1 and np.isfinite(log["epochs"][0]["loss"])
    assert any(float(layer.lora_b.detach().abs().sum()) > 0 for layer in layers.values())  # it learned
