"""The e5 base model, built once per test session (in the session's own cache: tests/conftest.py)."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
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


def checked_adapter_card(adapter: Path) -> dict[str, Any]:
    """The training record of a shipped adapter, after checking what every shipped adapter must
    satisfy: all artifacts together <= 10 MB, the file is the one its record and card name (sha256),
    and it was trained on the base its record names."""
    from retriever.modeling.lora import load_adapter

    assert sum(p.stat().st_size for p in adapter.parent.iterdir() if p.is_file()) <= 10_000_000
    card = json.loads(adapter.with_suffix(".json").read_text(encoding="utf-8"))
    assert hashlib.sha256(adapter.read_bytes()).hexdigest() == card["sha256"]
    assert card["sha256"] in adapter.with_suffix(".md").read_text(encoding="utf-8")
    _, config = load_adapter(adapter)
    assert config["base_sha256"] == card["config"]["base_sha256"]
    return card  # type: ignore[no-any-return]
