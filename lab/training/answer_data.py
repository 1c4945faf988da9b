"""Training groups of the answer-sentence ranker: one question with its candidate sentences.

A group is what the ranker sees at answer time: the question, a few candidate sentences, which of them
answer it (none, for an unanswerable group) and where the short answer stands in an answering one.
Sources, all German text (../shared/data/README.md has the licences and the splits):
- GermanQuAD (test trainpart, CC BY 4.0; SQuAD 2.0 format, the title and a `=== Section ===` line
  opening each context), GermanQuAD and GermanDPR training subsets (CC BY 4.0; answer text, no offset),
  MLQA de-de dev (CC BY-SA 3.0), XQuAD-train (CC BY-SA 4.0; German and cross-lingual questions over the
  German paragraph). The development split is carved out by article (title), never by question.
- candidates: the sentences of the question's paragraph that do not hold the answer, the sentences of
  other paragraphs that share the most content words with the question (what the retriever would also
  bring), and near misses from 10kGNAD rows 512-1027 (never rows 0-511).
- unanswerable groups: a share of the questions lose their paragraph and keep only the other
  candidates (the question asked of an index that does not hold its article), and GermanQuAD's
  `is_impossible` questions over their own paragraph.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab.data import is_dev_article, xquad_article_key
from lab.training.reader import GNAD_TRAIN_ROWS, _KeywordIndex, news_articles, news_sentences


@dataclass(frozen=True)
class Sentence:
    text: str
    start: int = -1  # the short answer in this sentence (-1: none, or not within one sentence)
    end: int = -1


@dataclass
class Item:
    """One question over one paragraph, before its negatives are chosen."""

    question: str
    language: str
    source: str
    article: str  # what the dev split is carved by
    sentences: list[Sentence]
    gold: list[int]  # sentences that hold the answer; empty: the paragraph does not answer it


@dataclass
class Group:
    question: str
    language: str
    source: str
    candidates: list[Sentence]
    gold: list[int] = field(default_factory=list)  # empty: none of them answers (target "none")


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def _paragraph(context: str) -> tuple[str, str]:
    """(title, text) of a Wikipedia context whose first line is its title and whose `==` lines are
    headings: the heading lines are blanked, not cut, so that answer offsets into `context` hold."""
    lines = context.split("\n")
    title = lines[0].strip().replace("_", " ") if len(lines) > 1 else ""
    masked = []
    for n, line in enumerate(lines):
        heading = (n == 0 and title) or line.strip().startswith("=")
        masked.append(" " * len(line) if heading else line)
    return title, "\n".join(masked)


def _sentences(text: str, answer: tuple[int, int] | None) -> tuple[list[Sentence], list[int]]:
    """The sentences of `text`, the answer's span marked in the one sentence that holds it; gold: the
    sentences the answer overlaps."""
    from retriever.ingest import split_sentences

    out: list[Sentence] = []
    gold: list[int] = []
    for s in split_sentences(text):
        if len(s.text) < 12:
            continue
        start = end = -1
        if answer is not None:
            a, b = answer
            if s.start < b and a < s.end:
                gold.append(len(out))
                if s.start <= a and b <= s.end:
                    start, end = a - s.start, b - s.start
        out.append(Sentence(s.text, start, end))
    return out, gold


def _item(question: str, language: str, source: str, context: str, answer: tuple[int, int] | None) -> Item:
    title, text = _paragraph(context)
    sentences, gold = _sentences(text, answer)
    return Item(question, language, source, title or context[:40], sentences, gold)


def _find(context: str, answer: str) -> tuple[int, int] | None:
    at = context.find(answer)
    return (at, at + len(answer)) if at >= 0 and answer else None


def squad_items(path: Path, source: str, language: str = "de") -> list[Item]:
    """SQuAD 1.1/2.0 files (GermanQuAD, MLQA): one item per question, the first answer as the span."""
    data = json.loads(path.read_text(encoding="utf-8"))["data"]
    items: list[Item] = []
    for entry in data:
        for paragraph in entry.get("paragraphs", [entry]):
            context = paragraph["context"]
            for qa in paragraph["qas"]:
                answers = qa.get("answers") or []
                span = None
                if answers and not qa.get("is_impossible"):
                    first = answers[0]
                    start = int(first["answer_start"])
                    span = (start, start + len(first["text"]))
                    if context[span[0] : span[1]] != first["text"]:
                        span = _find(context, first["text"])
                        if span is None:
                            continue
                title = entry.get("title")
                item = _item(qa["question"].strip(), language, source, context, span)
                if title:
                    item.article = str(title)
                if item.sentences and (item.gold or span is None):
                    items.append(item)
    return items


def subset_items(path: Path, source: str) -> list[Item]:
    """GermanQuAD / GermanDPR training subsets: {question, answer, context}, the answer found in it."""
    items: list[Item] = []
    for row in json.loads(path.read_text(encoding="utf-8")):
        span = _find(row["context"], row["answer"].strip())
        if span is None:
            continue
        item = _item(row["question"].strip(), "de", source, row["context"], span)
        if item.gold:
            items.append(item)
    return items


def xquad_items(folder: Path, languages: Sequence[str]) -> list[Item]:
    """XQuAD-train (articles at even positions only): each language's question over the German paragraph."""
    from lab.data import load_xquad
    from lab.training.reader import question_texts

    corpus = load_xquad(folder, split="train")
    texts = question_texts(folder, languages)
    items: list[Item] = []
    for q in corpus.questions:
        article = corpus.articles[q.article]
        end = q.start + len(q.gold)
        sentences: list[Sentence] = []
        gold: list[int] = []
        for s in article.sentences:
            start = stop = -1
            if s.start < end and q.start < s.end:
                gold.append(len(sentences))
                if s.start <= q.start and end <= s.end:
                    start, stop = q.start - s.start, end - s.start
            sentences.append(Sentence(s.text, start, stop))
        for lang in languages:
            if question := texts[lang].get(q.qid):
                items.append(Item(question, lang, "xquad", xquad_article_key(article.title), sentences, gold))
    return items


def load_items(data: Path, xquad_languages: Sequence[str] = ("de", "en")) -> list[Item]:
    """Every training source that is present under `data` (../shared/data)."""
    items: list[Item] = []
    gq = data / "germanquad"
    sources: list[tuple[Path, Any]] = [
        (gq / "GermanQuAD_test_trainpart.json", lambda p: squad_items(p, "germanquad")),
        (gq / "GermanQuAD_train_subset.json", lambda p: subset_items(p, "germanquad-train")),
        (gq / "GermanDPR_train_subset.json", lambda p: subset_items(p, "germandpr")),
        (data / "mlqa" / "dev-context-de-question-de.json", lambda p: squad_items(p, "mlqa")),
    ]
    for path, read in sources:
        if path.exists():
            items.extend(read(path))
    if (data / "xquad.de.json").exists():
        items.extend(xquad_items(data, xquad_languages))
    return items


def is_dev(item: Item, share: int = 6) -> bool:
    """One article in `share` is development data, chosen by a stable hash of its title."""
    return is_dev_article(item.source, item.article, share)


def build_groups(
    items: Sequence[Item],
    rng: random.Random,
    news: Sequence[str] = (),
    size: int = 8,
    hard: int = 2,
    near_misses: int = 1,
    unanswerable: float = 0.2,
) -> list[Group]:
    """Each item as a group of up to `size` candidates: its answering sentence(s), siblings, `hard`
    keyword-nearest sentences of other paragraphs and `near_misses` news sentences; `unanswerable` of
    the answerable items also as a group without their paragraph (target: none)."""
    pool = list(dict.fromkeys(s.text for it in items for s in it.sentences))
    index = _KeywordIndex(pool)
    news_index = _KeywordIndex(list(news)) if news else None
    groups: list[Group] = []
    for item in items:
        own = {s.text for s in item.sentences}
        answers = {_norm(s.text[s.start : s.end]) for s in item.sentences if s.start >= 0}

        def foreign(
            texts: Iterable[str], n: int, own: set[str] = own, answers: set[str] = answers
        ) -> list[str]:
            out = [t for t in texts if t not in own and not any(a and a in _norm(t) for a in answers)]
            return out[:n]

        others = foreign((pool[i] for i in index.nearest(item.question, hard + 6)), hard)
        if news_index is not None:
            others += foreign(
                (news_index.texts[i] for i in news_index.nearest(item.question, 4)), near_misses
            )
        extra = [Sentence(t) for t in others]
        gold = [item.sentences[i] for i in item.gold]
        siblings = [s for i, s in enumerate(item.sentences) if i not in item.gold]
        rng.shuffle(siblings)
        room = max(size - len(gold) - len(extra), 1)
        candidates = gold + siblings[:room] + extra
        order = list(range(len(candidates)))
        rng.shuffle(order)
        shuffled = [candidates[i] for i in order]
        golds = [n for n, i in enumerate(order) if i < len(gold)]
        groups.append(Group(item.question, item.language, item.source, shuffled, golds))
        if item.gold and extra and rng.random() < unanswerable:
            more = foreign((pool[i] for i in index.nearest(item.question, size + 8)), size - len(extra))
            groups.append(
                Group(item.question, item.language, item.source, extra + [Sentence(t) for t in more], [])
            )
    return groups


def news_pool(data: Path, limit: int = 20000) -> list[str]:
    """Sentences of the 10kGNAD rows open to training, as near misses; never rows 0-511, and not the
    rows the thresholds are calibrated on (the news development questions and their distractors)."""
    from lab.calibration import news_dev_rows

    path = data / "10kGNAD" / "test.csv"
    if not path.exists():
        return []
    return news_sentences(news_articles(path, GNAD_TRAIN_ROWS, exclude=set(news_dev_rows())), limit)
