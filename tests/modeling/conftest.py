"""The e5 base model, built (or found in the model cache) once per test session."""

from __future__ import annotations

import time
from typing import Any

import pytest


@pytest.fixture(scope="session")
def base() -> tuple[Any, Any]:
    """(BertModel, tokenizer) of the rebuilt base; the first session on a machine builds it (~20 s)."""
    from retriever.modeling.base import load_base

    started = time.perf_counter()
    model, tokenizer = load_base()
    print(f"\nbase model ready in {time.perf_counter() - started:.1f} s")
    return model, tokenizer
