"""Low-rank adapters (LoRA) for the base's linear layers: train a few hundred thousand numbers,
ship them as a small file, and fold them into the weights when loading (no cost per question).

W' = W + (alpha / rank) * B @ A, with A (rank x in) and B (out x rank); B starts at zero, so an
untrained adapter is the base itself.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch
from torch import nn

# every linear layer of a BERT encoder layer
DEFAULT_TARGETS = (
    "attention.self.query",
    "attention.self.key",
    "attention.self.value",
    "attention.output.dense",
    "intermediate.dense",
    "output.dense",
)


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


def save_adapter(path: Path, layers: dict[str, LoRALinear], config: dict[str, Any]) -> None:
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(adapter_tensors(layers), str(path), metadata={"config": json.dumps(config, sort_keys=True)})


def load_adapter(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as fh:
        config = json.loads((fh.metadata() or {}).get("config", "{}"))
        tensors = {key: fh.get_tensor(key) for key in fh.keys()}  # noqa: SIM118 (not a dict)
    return tensors, config


@torch.no_grad()
def merge_adapter(model: nn.Module, tensors: dict[str, torch.Tensor], scale: float) -> int:
    """Fold adapter tensors into a plain model's weights; returns how many layers changed."""
    names = sorted({key.rsplit(".", 1)[0] for key in tensors})
    for name in names:
        layer = model.get_submodule(name)
        if not isinstance(layer, nn.Linear):
            raise ValueError(f"adapter names {name!r}, which is not a linear layer of the model")
        a = tensors[f"{name}.lora_a"].float()
        b = tensors[f"{name}.lora_b"].float()
        # a new tensor, not `+=`: the base's weights are pages of its memory-mapped file, and
        # writing into them in place costs a copy-on-write fault per page (2-3x slower to load)
        layer.weight = nn.Parameter(torch.addmm(layer.weight, b, a, alpha=scale), requires_grad=False)
    return len(names)
