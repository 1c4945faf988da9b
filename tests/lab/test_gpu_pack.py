"""The training pack for a GPU machine: the examples survive the trip, and the packed base computes
exactly what the full base computes on every text the examples hold (only unused embedding rows are
blanked), so an adapter trained on it fits the full base. Also: the loop runs from a pack."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import torch

from lab.training.gpu_pack import read_pack, write_pack
from lab.training.reader import (
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
