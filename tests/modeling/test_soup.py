"""Reader soups: the average of runs' weight changes, cut to a rank by an SVD, and their heads'
average; only runs from one start may be mixed."""

from __future__ import annotations

import json
from typing import Any

import pytest
import torch

from retriever.modeling.reader import READER_ARTIFACT
from retriever.modeling.soup import low_rank, make_soup, mean_delta
from tests.modeling.conftest import benchmark_script

LAYERS = ("bert.encoder.layer.0.attention.self.query", "bert.encoder.layer.0.intermediate.dense")
SHAPES = {LAYERS[0]: (8, 8), LAYERS[1]: (16, 8)}  # (out, in)


def _run(draw: int, rank: int = 2, alpha: float = 4.0, **config: Any) -> tuple[dict[str, torch.Tensor], dict]:
    """A run's adapter and head, random (`draw`), trained from seed 13 unless `config` says otherwise."""
    generator = torch.Generator().manual_seed(draw)
    tensors = {}
    for layer, (out, inp) in SHAPES.items():
        tensors[f"{layer}.lora_a"] = torch.randn(rank, inp, generator=generator).half()
        tensors[f"{layer}.lora_b"] = torch.randn(out, rank, generator=generator).half()
    tensors["head.weight"] = torch.randn(2, 8, generator=generator)
    tensors["head.bias"] = torch.randn(2, generator=generator)
    start = {"seed": 13, "base_sha256": "b", "max_length": 128}
    return tensors, {"rank": rank, "alpha": alpha, **start, **config}


def _applied(tensors: dict[str, torch.Tensor], config: dict, layer: str) -> torch.Tensor:
    """What `lora.merge_adapter` adds to the layer's weight."""
    scale = float(config["alpha"]) / int(config["rank"])
    return scale * tensors[f"{layer}.lora_b"].float() @ tensors[f"{layer}.lora_a"].float()


def test_a_soup_adds_the_mean_of_the_runs_changes_and_averages_the_heads() -> None:
    runs = [_run(1), _run(2, rank=3, alpha=3.0), _run(3)]
    soup = make_soup(runs, rank=8)  # >= the sum of the runs' ranks: nothing is cut
    for layer in LAYERS:
        expected = sum(_applied(t, c, layer) for t, c in runs) / 3
        assert torch.allclose(_applied(soup.tensors, soup.config, layer), expected, atol=2e-2, rtol=1e-2)
        assert soup.tensors[f"{layer}.lora_a"].dtype == torch.float16
    assert max(soup.truncation) < 1e-5
    assert torch.allclose(soup.tensors["head.bias"], sum(t["head.bias"] for t, _ in runs) / 3)
    assert soup.config["rank"] == 8 and soup.config["alpha"] == 8.0 and soup.config["seed"] == 13


def test_a_soup_of_a_run_with_itself_is_the_run() -> None:
    run = _run(4)
    soup = make_soup([run, run], rank=2)
    for layer in LAYERS:
        assert torch.allclose(_applied(soup.tensors, soup.config, layer), _applied(*run, layer), atol=2e-2)
    assert torch.equal(soup.tensors["head.weight"], run[0]["head.weight"])


def test_cutting_to_a_lower_rank_keeps_the_largest_directions() -> None:
    u, _ = torch.linalg.qr(torch.randn(6, 6, generator=torch.Generator().manual_seed(0)))
    delta = u @ torch.diag(torch.tensor([5.0, 3.0, 0.4, 0.0, 0.0, 0.0])) @ u.T
    a, b, error = low_rank(delta, 2)
    assert a.shape == (2, 6) and b.shape == (6, 2)
    assert error == pytest.approx(0.4 / (25 + 9 + 0.16) ** 0.5, rel=1e-3)
    assert low_rank(delta, 3)[2] < 1e-5
    assert torch.allclose(mean_delta([_run(5)], LAYERS[0]), _applied(*_run(5), LAYERS[0]))


@pytest.mark.parametrize(
    ("other", "message"),
    [({"seed": 21}, "seed"), ({"base_sha256": "other"}, "base_sha256"), ({"max_length": 256}, "max_length")],
)
def test_runs_from_another_start_are_refused(other: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make_soup([_run(1), _run(2, **other)], rank=4)


def test_one_run_or_other_layers_are_refused() -> None:
    with pytest.raises(ValueError, match="at least two"):
        make_soup([_run(1)], rank=2)
    tensors, config = _run(2)
    del tensors[f"{LAYERS[1]}.lora_a"], tensors[f"{LAYERS[1]}.lora_b"]
    with pytest.raises(ValueError, match="different layers"):
        make_soup([_run(1), (tensors, config)], rank=2)


def test_the_soup_card_holds_each_runs_card_and_how_to_rebuild_the_soup() -> None:
    module = benchmark_script("soup_reader")
    run = json.loads(READER_ARTIFACT.with_suffix(".json").read_text(encoding="utf-8"))
    command = "python benchmarks/soup_reader.py --out /tmp/soup.safetensors --rank 32 /tmp/a /tmp/b"
    record = {
        "date": "2026-11-27 00:00 UTC",
        "artifact": "soup.safetensors",
        "bytes": 5_329_088,
        "sha256": "0" * 64,
        "config": {**run["config"], "rank": 32, "alpha": 32.0, "command": command},
        "truncation": {"mean": 0.1, "max": 0.2},
        "runs": [run, run],
    }
    card = module.soup_card(record)
    assert card.startswith("# newsqa reader: a soup of 2 reader runs")
    assert f"\n    {command}\n" in card and "all but 10.0%" in card
    assert card.count("**Rebuild (this run).**") == 2 and card.count(run["sha256"]) == 2
    assert card.count(run["config"]["command"]) == 2  # each run's own training command
