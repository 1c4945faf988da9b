"""A cross-encoder that re-scores the ranker's best sentences: question and sentence read together.

The e5 base (with a LoRA adapter) reads `<s> query: question </s></s> passage: sentence </s>`; a linear
head on the first token's state gives the score. Trained listwise on XQuAD-train (the gold sentence
against the hybrid ranker's hard negatives) by `benchmarks/train_reranker.py`; shipped as the adapter
and head in one small file.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from retriever.modeling.encoder import PASSAGE_PREFIX, QUERY_PREFIX, pad_encodings

ARTIFACT = Path(__file__).parent / "artifacts" / "reranker.safetensors"


class CrossEncoder(nn.Module):
    def __init__(self, bert: nn.Module, tokenizer: Any, max_length: int = 128) -> None:
        super().__init__()
        self.bert = bert
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.head = nn.Linear(bert.config.hidden_size, 1)
        nn.init.normal_(self.head.weight, std=0.02)
        nn.init.zeros_(self.head.bias)
        self.pad_id = int(bert.config.pad_token_id or 0)

    def batch(self, question: Sequence[str], sentences: Sequence[str]) -> dict[str, torch.Tensor]:
        pairs = [(QUERY_PREFIX + q, PASSAGE_PREFIX + s) for q, s in zip(question, sentences, strict=True)]
        if hasattr(self.tokenizer, "encode_batch"):
            self.tokenizer.enable_truncation(self.max_length)
            return pad_encodings(self.tokenizer.encode_batch(pairs), self.pad_id)
        out = self.tokenizer(
            [p[0] for p in pairs], [p[1] for p in pairs], padding=True, truncation=True,
            max_length=self.max_length, return_tensors="pt",
        )  # fmt: skip
        return {"input_ids": out["input_ids"], "attention_mask": out["attention_mask"]}

    def forward(self, question: Sequence[str], sentences: Sequence[str]) -> torch.Tensor:
        batch = self.batch(question, sentences)
        hidden = self.bert(**batch).last_hidden_state[:, 0]
        return self.head(hidden).squeeze(-1)

    @torch.inference_mode()
    def score(self, question: str, sentences: Sequence[str]) -> list[float]:
        if not sentences:
            return []
        return [float(x) for x in self.forward([question] * len(sentences), sentences)]


def save_cross_encoder(
    path: Path, model: CrossEncoder, layers: dict[str, Any], config: dict[str, Any]
) -> None:
    import json

    from safetensors.torch import save_file

    from retriever.modeling.lora import adapter_tensors

    tensors = {f"bert.{k}": v for k, v in adapter_tensors(layers).items()}
    tensors["head.weight"] = model.head.weight.detach().float().contiguous()
    tensors["head.bias"] = model.head.bias.detach().float().contiguous()
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata={"config": json.dumps(config, sort_keys=True)})


def load_cross_encoder(path: Path = ARTIFACT, threads: int = 0) -> CrossEncoder:
    """The base with the reranker's adapter folded in, and its head (eval mode)."""
    from retriever.modeling.base import load_for_inference
    from retriever.modeling.lora import load_adapter, merge_adapter

    if threads:
        torch.set_num_threads(threads)
    tensors, config = load_adapter(path)
    bert, tokenizer = load_for_inference()
    lora = {k[len("bert.") :]: v for k, v in tensors.items() if k.startswith("bert.")}
    merge_adapter(bert, lora, float(config["alpha"]) / int(config["rank"]))
    model = CrossEncoder(bert, tokenizer, int(config.get("max_length", 128)))
    with torch.no_grad():
        model.head.weight.copy_(tensors["head.weight"])
        model.head.bias.copy_(tensors["head.bias"])
    return model.eval()
