"""Training loop of the answer-sentence ranker: the reader with a rank head, trained on groups.

Each step reads a few groups (`lab.training.answer_data`), every candidate as one
`query: Q </s></s> passage: S` pair, in one batch. Two losses:
- listwise: per group, softmax over the candidates' rank logits and a fixed "none of them" logit of 0;
  the target is the answering sentences (their probabilities summed), or "none" for an unanswerable
  group. That 0 makes the logit an absolute score: above 0, more likely an answer than nothing.
- span (weight `span_weight`): the answer's start and end token in an answering sentence, the
  no-answer token in the others; the span head marks the short answer in the chosen sentence.

Checkpoints (`checkpoint.pt`: adapters, heads, optimiser, schedule, step) are written every
`checkpoint_every` steps; a run resumed from one repeats the same batches from where it stopped, since
each epoch's groups and order come from (seed, epoch) alone.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from lab.training.answer_data import Group, Item, build_groups

logger = logging.getLogger(__name__)


@dataclass
class AnswererConfig:
    seed: int = 13
    epochs: int = 2
    groups_per_step: int = 4
    group_size: int = 8
    lr: float = 1e-3
    head_lr: float = 3e-3
    rank: int = 16
    alpha: float = 32.0
    span_weight: float = 0.5
    unanswerable: float = 0.2
    max_length: int = 128
    threads: int = 2
    max_minutes: float = 100.0
    max_steps: int = 0
    checkpoint_every: int = 100
    device: str = "cpu"
    flat_lr: bool = False  # no decay after the warm-up (the overfitting check)
    start_from: str = ""  # a reader artifact whose adapter and span head the ranker starts from
    clip: float = 5.0


def epoch_groups(
    items: Sequence[Item], news: Sequence[str], config: AnswererConfig, epoch: int
) -> list[Group]:
    rng = random.Random(config.seed * 1000 + epoch)
    groups = build_groups(items, rng, news, size=config.group_size, unanswerable=config.unanswerable)
    rng.shuffle(groups)
    return groups


def take_start_shape(config: AnswererConfig) -> None:
    """A run that starts from a reader keeps that reader's adapter shape (rank, alpha), so that its
    numbers fit; the config (and every card written from it) then says what was trained."""
    if config.start_from:
        from retriever.modeling.lora import load_adapter

        shape = load_adapter(Path(config.start_from))[1]
        config.rank, config.alpha = int(shape["rank"]), float(shape["alpha"])


def steps_per_epoch(groups: int, config: AnswererConfig) -> int:
    return (groups + config.groups_per_step - 1) // config.groups_per_step


def group_losses(
    model: Any, groups: Sequence[Group], device: Any, span_weight: float
) -> tuple[Any, Any, Any]:
    """(loss, rank logits per group, whether each group's argmax is right) of one batch of groups."""
    import torch
    import torch.nn.functional as F

    from lab.training.reader import Example, token_targets

    questions = [g.question for g in groups for _ in g.candidates]
    sentences = [c.text for g in groups for c in g.candidates]
    batch = model.encode(questions, sentences)
    examples = [Example(g.question, c.text, c.start, c.end) for g in groups for c in g.candidates]
    starts, ends = token_targets(batch, examples)
    start, end, rank = model.read_batch(batch.to(device))
    assert rank is not None
    gold_rows = {(n, i) for n, g in enumerate(groups) for i in g.gold}
    # a sentence that answers without a short span inside it (a long answer): no span target
    span_mask = torch.tensor(
        [
            not ((n, i) in gold_rows and c.start < 0)
            for n, g in enumerate(groups)
            for i, c in enumerate(g.candidates)
        ],
        device=device,
    )
    span = (
        F.cross_entropy(start.float(), torch.tensor(starts, device=device), reduction="none")
        + F.cross_entropy(end.float(), torch.tensor(ends, device=device), reduction="none")
    ) / 2
    span_loss = (span * span_mask).sum() / span_mask.sum().clamp(min=1)
    losses, logits, right = [], [], []
    row = 0
    zero = torch.zeros(1, device=device)
    for g in groups:
        scores = torch.cat([zero, rank[row : row + len(g.candidates)].float()])
        row += len(g.candidates)
        target = [i + 1 for i in g.gold] or [0]
        losses.append(torch.logsumexp(scores, 0) - torch.logsumexp(scores[target], 0))
        logits.append(scores.detach())
        right.append(int(scores.argmax()) in target)
    loss = torch.stack(losses).mean() + span_weight * span_loss
    return loss, logits, right


def train_answerer(
    items: Sequence[Item],
    news: Sequence[str],
    config: AnswererConfig,
    out_dir: Path,
    resume: bool = False,
    on_checkpoint: Callable[[int, Any, Any, dict[str, Any]], None] | None = None,
    base: tuple[Any, Any] | None = None,
) -> tuple[Any, Any, dict[str, Any]]:
    """LoRA on every linear layer, the span head and the rank head; returns (model, layers, log)."""
    import numpy as np
    import torch

    from lab.training.common import autocast, resolve_device, set_seed
    from lab.training.lora import add_lora
    from retriever.modeling.reader import SpanReader

    torch.set_num_threads(config.threads)
    device = resolve_device(config.device)
    set_seed(config.seed)
    if base is None:
        from retriever.modeling.base import load_base

        bert, fast = load_base()
        base = bert, fast.backend_tokenizer
    bert, tokenizer = base
    take_start_shape(config)
    layers = add_lora(bert, config.rank, config.alpha)
    model = SpanReader(bert, tokenizer, max_length=config.max_length, ranks=True).to(device)
    assert model.rank_head is not None
    if config.start_from:
        _start_from(model, layers, Path(config.start_from))
    lora = [p for layer in layers.values() for p in (layer.lora_a, layer.lora_b)]
    heads = [*model.head.parameters(), *model.rank_head.parameters()]
    optimiser = torch.optim.AdamW(
        [{"params": lora, "lr": config.lr}, {"params": heads, "lr": config.head_lr}], weight_decay=0.0
    )
    first_epoch = epoch_groups(items, news, config, 0)  # built once: every epoch has as many groups
    per_epoch = steps_per_epoch(len(first_epoch), config)
    steps = config.max_steps or config.epochs * per_epoch
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser,
        lambda step: min(1.0, (step + 1) / 30) * (1.0 if config.flat_lr else max(0.02, 1 - step / steps)),
    )
    checkpoint = out_dir / "checkpoint.pt"
    log: dict[str, Any] = {
        "steps": steps,
        "groups_per_epoch": len(first_epoch),
        "parameters": sum(p.numel() for p in lora),
        "losses": [],
    }
    step = 0
    if resume and checkpoint.exists():
        state = torch.load(checkpoint, map_location=device, weights_only=False)
        model.load_state_dict(state["model"], strict=False)
        optimiser.load_state_dict(state["optimiser"])
        schedule.load_state_dict(state["schedule"])
        step, log = int(state["step"]), state["log"]
        logger.info("resumed from %s at step %d", checkpoint, step)

    def save_checkpoint() -> None:
        trained = {k: v for k, v in model.state_dict().items() if "lora_" in k or "head" in k}
        state = {
            "model": trained,
            "optimiser": optimiser.state_dict(),
            "schedule": schedule.state_dict(),
            "step": step,
            "log": log,
            "config": asdict(config),
        }
        out_dir.mkdir(parents=True, exist_ok=True)
        torch.save(state, checkpoint.with_suffix(".tmp"))
        checkpoint.with_suffix(".tmp").replace(checkpoint)  # a kill mid-write keeps the last one

    if step == 0 and on_checkpoint:  # where the ranker starts from: the dev numbers before any step
        model.eval()
        on_checkpoint(0, model, layers, log)
    started = time.perf_counter()
    spent_before = float(log.get("seconds", 0.0))
    model.train()
    for epoch in range(config.epochs):
        if step >= steps:
            break
        groups = first_epoch if epoch == 0 else epoch_groups(items, news, config, epoch)
        first = epoch * per_epoch
        for k in range(per_epoch):
            if first + k < step:
                continue  # done before the run was resumed
            if step >= steps:
                break
            rows = groups[k * config.groups_per_step : (k + 1) * config.groups_per_step]
            with autocast(device):
                loss, _, right = group_losses(model, rows, device, config.span_weight)
            optimiser.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(lora + heads, config.clip)
            optimiser.step()
            schedule.step()
            step += 1
            log["losses"].append([round(float(loss.detach()), 4), round(float(np.mean(right)), 3)])
            log["seconds"] = spent_before + time.perf_counter() - started
            if step % 10 == 0:
                recent = np.array(log["losses"][-50:])
                logger.info(
                    "epoch %d step %d/%d loss %.3f train acc %.2f (%.0f s)",
                    epoch + 1, step, steps, recent[:, 0].mean(), recent[:, 1].mean(), log["seconds"],
                )  # fmt: skip
            if step % config.checkpoint_every == 0:
                save_checkpoint()
                if on_checkpoint:
                    model.eval()
                    on_checkpoint(step, model, layers, log)
                    model.train()
            if time.perf_counter() - started > config.max_minutes * 60:
                logger.warning(
                    "stopping: the %.0f-minute budget is spent (resume with --resume)", config.max_minutes
                )
                save_checkpoint()
                model.eval()
                log["stopped_early"] = True
                return model, layers, log
    save_checkpoint()
    model.eval()
    log["steps_done"] = step
    return model, layers, log


def _start_from(model: Any, layers: dict[str, Any], path: Path) -> None:
    """The adapter and span head of a trained reader, and a rank head that starts as minus its
    no-answer logit (start + end at the first token): the reader's own answer-or-not sense."""
    import torch

    from retriever.modeling.lora import load_adapter

    tensors, _ = load_adapter(path)
    with torch.no_grad():
        for name, layer in layers.items():
            layer.lora_a.copy_(tensors[f"bert.{name}.lora_a"].float())
            layer.lora_b.copy_(tensors[f"bert.{name}.lora_b"].float())
        model.head.weight.copy_(tensors["head.weight"])
        model.head.bias.copy_(tensors["head.bias"])
        model.rank_head.weight.copy_(-(tensors["head.weight"].sum(0, keepdim=True)) / 2)
        model.rank_head.bias.copy_(-(tensors["head.bias"].sum(0, keepdim=True)) / 2)


def evaluate(model: Any, groups: Sequence[Group], batch_groups: int = 8) -> dict[str, float]:
    """On development groups: the share whose best candidate answers (answerable groups), the share
    that would be answered with a right sentence at logit > 0, and unanswerable groups kept at none."""
    import torch

    answerable = [g for g in groups if g.gold]
    unanswerable = [g for g in groups if not g.gold]
    top1 = confident = declined = 0
    with torch.inference_mode():
        for chunk in (groups[i : i + batch_groups] for i in range(0, len(groups), batch_groups)):
            _, logits, _ = group_losses(model, chunk, torch.device("cpu"), 0.0)
            for g, scores in zip(chunk, logits, strict=True):
                best = int(scores[1:].argmax())
                if g.gold:
                    top1 += best in g.gold
                    confident += best in g.gold and float(scores[best + 1]) > 0
                else:
                    declined += float(scores[1:].max()) <= 0
    n, m = max(len(answerable), 1), max(len(unanswerable), 1)
    return {
        "top1": round(100 * top1 / n, 1),
        "right_and_sure": round(100 * confident / n, 1),
        "unanswerable_none": round(100 * declined / m, 1),
        "answerable": len(answerable),
        "unanswerable": len(unanswerable),
    }
