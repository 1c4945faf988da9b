"""newsqa's reader: does this sentence answer the question, and where in it is the short answer.

The e5 base (with a LoRA adapter folded in) reads `<s> query: question </s></s> passage: sentence </s>`;
a linear head gives every token a start and an end logit (SQuAD 2.0 style). The first token stands
for "no answer": a sentence's verdict is the best span's logits minus the no-answer logits, so the
reader both picks the span and decides whether the sentence answers the question at all.

A reader trained as an answer-sentence ranker (`lab/training/train_answerer.py`) has a second head: one
logit per sentence from its first token, "this sentence answers the question", trained listwise
against the other candidates of the question and against a fixed "none of them" logit of 0, so that
the same forward pass ranks the candidates, says how sure it is (`Span.answers`), and marks the span.
Shipped as adapter + heads in one small file.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from retriever.modeling.encoder import PASSAGE_PREFIX, QUERY_PREFIX, pad_encodings

READER_ARTIFACT = Path(__file__).parent / "artifacts" / "reader.safetensors"
NEG = -1e4


@dataclass(frozen=True)
class Span:
    """The reader's verdict on one sentence: character offsets of the best span in the sentence
    (`start == end == -1` when nothing is allowed), and its margin over "no answer"."""

    start: int
    end: int
    margin: float
    answers: float | None = None  # the ranker head's logit against "none of them" (0); None: no such head

    @property
    def found(self) -> bool:
        return self.start >= 0 and self.margin > 0


@dataclass
class Batch:
    tensors: dict[str, torch.Tensor]
    offsets: list[list[tuple[int, int]]]  # per token: char offsets in the sentence, (-1, -1) if not in it
    allowed: torch.Tensor  # (batch, tokens) bool: sentence tokens and the no-answer token

    def to(self, device: torch.device) -> Batch:
        tensors = {k: v.to(device, non_blocking=True) for k, v in self.tensors.items()}
        return Batch(tensors, self.offsets, self.allowed.to(device, non_blocking=True))


class SpanReader(nn.Module):
    def __init__(
        self,
        bert: nn.Module,
        tokenizer: Any,
        max_length: int = 128,
        max_answer_tokens: int = 24,
        ranks: bool = False,
    ):
        super().__init__()
        self.bert = bert
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.max_answer_tokens = max_answer_tokens
        self.head = nn.Linear(bert.config.hidden_size, 2)
        nn.init.normal_(self.head.weight, std=0.02)
        nn.init.zeros_(self.head.bias)
        self.pad_id = int(bert.config.pad_token_id or 0)
        self.rank_head = nn.Linear(bert.config.hidden_size, 1) if ranks else None
        if self.rank_head is not None:
            nn.init.normal_(self.rank_head.weight, std=0.02)
            nn.init.zeros_(self.rank_head.bias)

    def encode(self, questions: Sequence[str], sentences: Sequence[str]) -> Batch:
        self.tokenizer.enable_truncation(self.max_length, strategy="only_second")
        self.tokenizer.no_padding()
        pairs = [(QUERY_PREFIX + q, PASSAGE_PREFIX + s) for q, s in zip(questions, sentences, strict=True)]
        encodings = self.tokenizer.encode_batch(pairs)
        tensors = pad_encodings(encodings, self.pad_id)
        allowed = torch.zeros(tensors["input_ids"].shape, dtype=torch.bool)
        allowed[:, 0] = True
        skip = len(PASSAGE_PREFIX)
        offsets: list[list[tuple[int, int]]] = []
        for row, enc in enumerate(encodings):
            spans: list[tuple[int, int]] = []
            for col, (seq, (a, b)) in enumerate(zip(enc.sequence_ids, enc.offsets, strict=True)):
                if seq == 1 and b > skip:
                    spans.append((max(a, skip) - skip, b - skip))
                    allowed[row, col] = True
                else:
                    spans.append((-1, -1))
            offsets.append(spans)
        return Batch(tensors, offsets, allowed)

    def forward(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        start, end, _ = self.read_batch(batch)
        return start, end

    def read_batch(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Start and end logits per token, and the ranker's logit per row (None without a rank head)."""
        hidden = self.bert(**batch.tensors).last_hidden_state
        logits = self.head(hidden).masked_fill(~batch.allowed.unsqueeze(-1), NEG)
        # the first token's state: what the span head reads "no answer" from, so the ranker can start
        # from the reader's own sense of whether a sentence answers (`lab.training.answerer`)
        rank = self.rank_head(hidden[:, 0]).squeeze(-1) if self.rank_head is not None else None
        return logits[..., 0], logits[..., 1], rank

    def best_spans(self, batch: Batch, start: torch.Tensor, end: torch.Tensor) -> list[Span]:
        """The best (start <= end, at most `max_answer_tokens`) span per row against no-answer."""
        width = start.shape[1]
        scores = start.unsqueeze(2) + end.unsqueeze(1)  # (batch, start, end)
        keep = torch.ones(width, width, dtype=torch.bool, device=start.device)
        keep = keep.triu().tril(self.max_answer_tokens - 1)
        keep[0, :] = False
        keep[:, 0] = False
        scores = scores.masked_fill(~keep, NEG)
        null = start[:, 0] + end[:, 0]
        flat = scores.flatten(1).argmax(1)
        out: list[Span] = []
        for row in range(start.shape[0]):
            s, e = divmod(int(flat[row]), width)
            best = float(scores[row, s, e])
            if best <= NEG / 2:
                out.append(Span(-1, -1, float("-inf")))
                continue
            out.append(Span(batch.offsets[row][s][0], batch.offsets[row][e][1], best - float(null[row])))
        return out

    @torch.inference_mode()
    def read(self, question: str, sentences: Sequence[str]) -> list[Span]:
        if not sentences:
            return []
        batch = self.encode([question] * len(sentences), sentences).to(self.head.weight.device)
        start, end, rank = self.read_batch(batch)
        spans = self.best_spans(batch, start, end)
        if rank is None:
            return spans
        return [replace(span, answers=float(r)) for span, r in zip(spans, rank, strict=True)]


def load_reader(path: Path = READER_ARTIFACT, threads: int = 0) -> SpanReader:
    """The base with the reader's adapter folded in, and its head (eval mode)."""
    from retriever.modeling.base import load_for_inference
    from retriever.modeling.lora import load_adapter, merge_adapter

    if threads:
        torch.set_num_threads(threads)
    tensors, config = load_adapter(path)
    bert, tokenizer = load_for_inference()
    lora = {k[len("bert.") :]: v for k, v in tensors.items() if k.startswith("bert.")}
    merge_adapter(bert, lora, float(config["alpha"]) / int(config["rank"]))
    model = SpanReader(
        bert,
        tokenizer,
        int(config.get("max_length", 128)),
        int(config.get("max_answer_tokens", 24)),
        ranks="rank_head.weight" in tensors,
    )
    with torch.no_grad():
        model.head.weight.copy_(tensors["head.weight"])
        model.head.bias.copy_(tensors["head.bias"])
        if model.rank_head is not None:
            model.rank_head.weight.copy_(tensors["rank_head.weight"])
            model.rank_head.bias.copy_(tensors["rank_head.bias"])
    return model.eval()
