"""The cut tokenizer that inference loads segments German and English text exactly as the base's whole
tokenizer does (mapped back through its ids), keeps the special ids, and turns other scripts into
<unk> instead of failing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from retriever.modeling import latin_vocab
from retriever.modeling.latin_vocab import latin_piece
from retriever.settings import DEFAULT_ARTICLE

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"  # beside the checkout, never copied


@pytest.fixture(scope="module")
def tokenizers(base: tuple[Any, Any]) -> tuple[Any, Any, Any]:
    """(the whole base tokenizer, the cut one that inference loads, its ids in the base)."""
    from tokenizers import Tokenizer

    from retriever.modeling.base import ensure_base

    folder = ensure_base()
    cut, rows = latin_vocab.load(folder)
    return Tokenizer.from_file(str(folder / "tokenizer.json")), cut, rows


def _texts() -> list[str]:
    texts = [DEFAULT_ARTICLE.read_text(encoding="utf-8"), "Café Ørsted in Łódź: naïve „Zitat“ – 5 μg, 3 € …"]
    for language in ("de", "en"):
        path = DATA / f"xquad.{language}.json"
        if path.exists():  # every paragraph and question: ~2,400 texts, under a second to encode
            for article in json.loads(path.read_text(encoding="utf-8"))["data"]:
                for paragraph in article["paragraphs"]:
                    texts += [paragraph["context"], *(q["question"] for q in paragraph["qas"])]
    return texts


def test_german_and_english_text_is_cut_the_same_way(tokenizers: tuple[Any, Any, Any]) -> None:
    whole, cut, rows = tokenizers
    whole.no_truncation()
    cut.no_truncation()
    texts = _texts()
    latin = [t for t in texts if latin_piece(t)]
    assert len(latin) >= 0.99 * len(texts)  # Greek and CJK names in a few XQuAD paragraphs are the rest
    for text in latin:
        expected, got = whole.encode(text), cut.encode(text)
        assert [int(rows[i]) for i in got.ids] == expected.ids, text[:80]
        assert got.offsets == expected.offsets
    pair_expected = whole.encode("query: Wer?", "passage: Putin.")
    pair_got = cut.encode("query: Wer?", "passage: Putin.")
    assert [int(rows[i]) for i in pair_got.ids] == pair_expected.ids
    assert pair_got.sequence_ids == pair_expected.sequence_ids


def test_other_scripts_become_unknown_pieces(tokenizers: tuple[Any, Any, Any]) -> None:
    _, cut, rows = tokenizers
    text = "Путин traf 习近平 in Berlin."
    encoding = cut.encode(text)
    unknown = [text[a:b] for i, (a, b) in zip(encoding.ids, encoding.offsets, strict=True) if i == 3]
    assert unknown == ["Путин", "习近平"]
    assert "▁Berlin" in encoding.tokens and int(rows[3]) == 3


def test_the_cut_keeps_the_specials_and_the_order(tokenizers: tuple[Any, Any, Any]) -> None:
    whole, cut, rows = tokenizers
    assert [int(r) for r in rows[:4]] == [0, 1, 2, 3]
    assert bool((np.diff(rows) > 0).all())
    assert 100_000 < len(rows) < whole.get_vocab_size() // 2
    assert cut.get_vocab_size() == len(rows)
    for new in range(0, len(rows), 997):  # the same piece under both numbers
        assert cut.id_to_token(new) == whole.id_to_token(int(rows[new]))
    assert not latin_piece("Путин") and latin_piece("▁Ärger") and latin_piece("μg")


def test_cut_refuses_a_tokenizer_it_was_not_made_for() -> None:
    with pytest.raises(ValueError, match="Unigram"):
        latin_vocab.cut({"model": {"type": "BPE", "vocab": {}}})
