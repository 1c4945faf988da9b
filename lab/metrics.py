"""Answer-quality metrics with German normalisation (SQuAD-style EM/F1)."""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np

ARTICLES = frozenset("der die das den dem des ein eine einer eines einem einen the a an".split())
_PUNCT = re.compile(f"[{re.escape(string.punctuation)}„“”‚‘’«»–—…]")


def normalize_answer(text: str) -> str:
    """Lowercase, drop punctuation and German/English articles, squeeze whitespace."""
    text = _PUNCT.sub(" ", text.lower())
    return " ".join(tok for tok in text.split() if tok not in ARTICLES)


def exact_match(prediction: str, golds: Iterable[str]) -> float:
    pred = normalize_answer(prediction)
    return float(any(pred == normalize_answer(g) for g in golds))


def f1(prediction: str, golds: Iterable[str]) -> float:
    pred = normalize_answer(prediction).split()
    best = 0.0
    for gold in golds:
        ref = normalize_answer(gold).split()
        common = sum((Counter(pred) & Counter(ref)).values())
        if common:
            p, r = common / len(pred), common / len(ref)
            best = max(best, 2 * p * r / (p + r))
    return best


def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=np.float64), q)) if values else float("nan")
