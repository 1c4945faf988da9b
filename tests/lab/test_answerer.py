"""The answer-sentence ranker's training: a run stopped at a checkpoint goes on where it stopped
(same batches, the step count and the loss log continued), and `--ship` makes the run's artifact
the shipped reader with a card that names it."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from lab.training.answer_data import Item, Sentence
from lab.training.answerer import AnswererConfig, train_answerer


def _items() -> list[Item]:
    return [
        Item(
            f"Wann begann Gespräch {n}?",
            "de",
            "test",
            f"Artikel {n}",
            [
                Sentence(f"Gespräch {n} begann um {n} Uhr.", 20, 21 + len(str(n))),
                Sentence(f"Es regnete {n} Tage."),
            ],
            [0],
        )
        for n in range(6)
    ]


@pytest.fixture
def small_base(base: tuple[Any, Any]) -> tuple[Any, Any]:
    return copy.deepcopy(base[0]), base[1].backend_tokenizer


def _fresh(base: tuple[Any, Any]) -> tuple[Any, Any]:
    """The base as a new run gets it: adapters are added to the model, so each run takes a copy."""
    return copy.deepcopy(base[0]), base[1]


def test_a_stopped_run_resumes_where_it_stopped(small_base: tuple[Any, Any], tmp_path: Path) -> None:
    config = AnswererConfig(groups_per_step=2, group_size=2, max_length=32, max_steps=3, checkpoint_every=2)
    config.max_minutes = 0.0  # out of time after the first step: saved, stopped early
    _, _, first = train_answerer(_items(), [], config, tmp_path, base=_fresh(small_base))
    assert first.get("stopped_early") and len(first["losses"]) == 1
    config.max_minutes = 100.0
    seen: list[int] = []
    _, _, log = train_answerer(
        _items(), [], config, tmp_path, resume=True, base=_fresh(small_base),
        on_checkpoint=lambda step, *_: seen.append(step),
    )  # fmt: skip
    assert log["steps_done"] == 3 and len(log["losses"]) == 3
    assert log["losses"][0] == first["losses"][0]  # the log goes on, it does not start again
    assert seen == [2]  # the checkpoint of step 2 came after the resume, not a second step 0


def test_ship_makes_the_runs_artifact_the_shipped_reader(
    small_base: tuple[Any, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import hashlib

    import retriever.modeling.reader as reader_module
    from lab.training.lora import add_lora, save_reader
    from lab.training.train_answerer import model_card, ship
    from retriever.modeling.reader import SpanReader

    bert, tokenizer = small_base
    layers = add_lora(bert, rank=4, alpha=8.0, targets=("attention.self.value",))
    model = SpanReader(bert, tokenizer, ranks=True)
    run = tmp_path / "run" / "answerer.safetensors"
    config = {
        "rank": 4,
        "alpha": 8.0,
        "seed": 13,
        "base_sha256": "x",
        "command": "python -m lab.training.train_answerer",
    }
    save_reader(run, model, layers, config)
    card = {
        "artifact": run.name, "bytes": 1, "sha256": "old", "config": config, "date": "d", "machine": "m",
        "step": 2, "log": {"steps": 4, "seconds": 60}, "train_items": 6, "train_groups": 6,
        "sources": "test/de 6", "dev_groups": 1,
        "dev_history": [{"step": 2, "top1": 1.0, "right_and_sure": 1.0, "unanswerable_none": 1.0}],
    }  # fmt: skip
    run.with_suffix(".json").write_text(json.dumps(card), encoding="utf-8")
    shipped = tmp_path / "artifacts" / "reader.safetensors"
    shipped.parent.mkdir()
    monkeypatch.setattr(reader_module, "READER_ARTIFACT", shipped)
    assert ship(run) == 0
    record = json.loads(shipped.with_suffix(".json").read_text(encoding="utf-8"))
    assert record["artifact"] == "reader.safetensors"
    assert record["sha256"] == hashlib.sha256(shipped.read_bytes()).hexdigest()
    assert shipped.with_suffix(".md").read_text(encoding="utf-8") == model_card(record)
    assert "stopped at step 2 of 4" in model_card(record)
    assert reader_module.load_reader(shipped).rank_head is not None
