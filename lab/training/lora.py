"""Training LoRA adapters: wrap the base's linear layers with trainable low-rank pairs, and write
what was trained in the file format the product folds in (`retriever/modeling/lora.py`).

B starts at zero, so an untrained adapter is the base itself.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch
from torch import nn

from retriever.modeling.lora import DEFAULT_TARGETS
from retriever.modeling.reader import SpanReader


class LoRALinear(nn.Module):
    def __init__(self, base: nn.Linear, rank: int, alpha: float) -> None:
        super().__init__()
        self.base = base
        self.scale = alpha / rank
        self.lora_a = nn.Parameter(torch.empty(rank, base.in_features))
        self.lora_b = nn.Parameter(torch.zeros(base.out_features, rank))
        nn.init.kaiming_uniform_(self.lora_a, a=math.sqrt(5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + (x @ self.lora_a.T @ self.lora_b.T) * self.scale


def _targets(model: nn.Module, targets: tuple[str, ...]) -> list[tuple[str, nn.Module, str]]:
    """(full name, parent module, attribute) of every linear layer whose name ends with a target."""
    found = []
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear) and name.endswith(targets) and name.startswith("encoder."):
            parent_name, _, attr = name.rpartition(".")
            found.append((name, model.get_submodule(parent_name), attr))
    return found


def add_lora(
    model: nn.Module, rank: int, alpha: float, targets: tuple[str, ...] = DEFAULT_TARGETS
) -> dict[str, LoRALinear]:
    """Freeze `model` and wrap its target linear layers with trainable adapters."""
    for param in model.parameters():
        param.requires_grad_(False)
    added: dict[str, LoRALinear] = {}
    for name, parent, attr in _targets(model, targets):
        layer = LoRALinear(getattr(parent, attr), rank, alpha)
        setattr(parent, attr, layer)
        added[name] = layer
    return added


def adapter_tensors(layers: dict[str, LoRALinear]) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    for name, layer in layers.items():
        out[f"{name}.lora_a"] = layer.lora_a.detach().to(torch.float16).contiguous()
        out[f"{name}.lora_b"] = layer.lora_b.detach().to(torch.float16).contiguous()
    return out


def save_reader(path: Path, model: SpanReader, layers: dict[str, Any], config: dict[str, Any]) -> None:
    from safetensors.torch import save_file

    tensors = {f"bert.{k}": v for k, v in adapter_tensors(layers).items()}
    tensors["head.weight"] = model.head.weight.detach().float().contiguous()
    tensors["head.bias"] = model.head.bias.detach().float().contiguous()
    if model.rank_head is not None:
        tensors["rank_head.weight"] = model.rank_head.weight.detach().float().contiguous()
        tensors["rank_head.bias"] = model.rank_head.bias.detach().float().contiguous()
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata={"config": json.dumps(config, sort_keys=True)})
