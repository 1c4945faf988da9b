"""The e5 base model, built once per test session (in the session's own cache: tests/conftest.py)."""

from __future__ import annotations

import time
from typing import Any

import pytest


@pytest.fixture(scope="session")
def base() -> tuple[Any, Any]:
    """(BertModel, tokenizer) of the rebuilt base; building it takes ~10-20 s on 2 cores."""
    from retriever.modeling.base import load_base

    started = time.perf_counter()
    model, tokenizer = load_base()
    print(f"\nbase model ready in {time.perf_counter() - started:.1f} s")
    return model, tokenizer
