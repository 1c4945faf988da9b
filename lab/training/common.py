"""What the training loops share: seeding, the device they run on, and mixed precision there.

Training runs on the CPU by default (hours on 2 cores) or on a CUDA GPU (`--device cuda`, minutes),
where the forward pass runs in bfloat16 autocast and the trained adapters stay float32.
"""

from __future__ import annotations

import contextlib
import random
from typing import Any

import numpy as np


def set_seed(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def resolve_device(name: str) -> Any:
    """`cpu`, `cuda` or `auto` (a GPU when there is one) as a torch device; a missing GPU is an error."""
    import torch

    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit(f"--device {name}: torch sees no CUDA GPU here")
    return torch.device(name)


def autocast(device: Any) -> contextlib.AbstractContextManager[Any]:
    """bfloat16 autocast on a GPU; nothing on the CPU (bf16 there is slower on the machines we have)."""
    import torch

    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()
