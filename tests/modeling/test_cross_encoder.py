"""The cross-encoder reranker: its file round-trips (adapter folded in + head), and the shipped one
loads offline and prefers the sentence that answers."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import torch

from retriever.modeling.cross_encoder import ARTIFACT, CrossEncoder, load_cross_encoder, save_cross_encoder
from retriever.modeling.lora import add_lora

SENTENCES = [
    "Das Gespräch begann um 16.00 Uhr MEZ.",
    "Die Krim wurde 2014 von Russland annektiert.",
    "Als Staatschefs trafen sich Putin und Biden erstmals im Juni in Genf persönlich.",
]


def test_saved_cross_encoder_scores_as_trained(base: tuple[Any, Any], tmp_path: Path) -> None:
    torch.manual_seed(0)
    bert = copy.deepcopy(base[0])
    layers = add_lora(bert, rank=4, alpha=8.0, targets=("attention.self.value",))
    model = CrossEncoder(bert, base[1])
    for layer in layers.values():
        layer.lora_b.data = (torch.randn_like(layer.lora_b) * 0.02).half().float()
        layer.lora_a.data = layer.lora_a.data.half().float()
    model.eval()
    trained = model.score("Wann begann das Gespräch?", SENTENCES)
    save_cross_encoder(tmp_path / "r.safetensors", model, layers, {"rank": 4, "alpha": 8.0})
    loaded = load_cross_encoder(tmp_path / "r.safetensors")
    assert loaded.score("Wann begann das Gespräch?", SENTENCES) == pytest.approx(trained, abs=1e-4)
    assert loaded.score("Wann?", []) == []


@pytest.mark.skipif(not ARTIFACT.exists(), reason="no reranker shipped")
def test_shipped_reranker_loads_offline_and_prefers_the_answer(base: tuple[Any, Any]) -> None:
    card = json.loads(ARTIFACT.with_suffix(".json").read_text(encoding="utf-8"))
    assert hashlib.sha256(ARTIFACT.read_bytes()).hexdigest() == card["sha256"]
    assert ARTIFACT.stat().st_size < 3_000_000
    model = load_cross_encoder()
    scores = model.score("Wo trafen sich Putin und Biden zum ersten Mal?", SENTENCES)
    assert max(range(3), key=scores.__getitem__) == 2
