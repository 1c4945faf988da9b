"""Fixtures for the retrieval core: a real NewsQA (offline e5 model) in a temporary data dir."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from retriever.service import NewsQA
from retriever.settings import DEFAULT_ARTICLE, Settings

ARTICLE_TEXT = DEFAULT_ARTICLE.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def default_qa(tmp_path_factory: pytest.TempPathFactory) -> NewsQA:
    """One warmed-up service over the default article, shared by read-only tests."""
    qa = NewsQA(Settings(data_dir=tmp_path_factory.mktemp("default-data")))
    qa.warm_up()
    return qa


@pytest.fixture
def empty_qa(tmp_path: Path) -> Iterator[NewsQA]:
    """A service with an empty index (no default article), for tests that change the index."""
    yield NewsQA(Settings(data_dir=tmp_path / "data", index_default=False))


def write_article(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
