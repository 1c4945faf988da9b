"""Fixtures the lab's tests share with the product's: the indexed default article and the e5 base."""

from tests.modeling.conftest import base
from tests.retriever.conftest import default_qa

__all__ = ["base", "default_qa"]
