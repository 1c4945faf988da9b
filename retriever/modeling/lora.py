"""Low-rank adapters (LoRA) for the base's linear layers, as the product uses them: read a shipped
adapter file and fold it into the weights when loading (no cost per question).

W' = W + (alpha / rank) * B @ A, with A (rank x in) and B (out x rank). Training them is the lab's
(`lab/training/lora.py`).
"""

from __future__ import annotations

import json
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
