"""The data the benchmarks read, in place from ../shared/data (never copied into the repository).

XQuAD (CC BY-SA 4.0): every German paragraph becomes one article, its questions carry the German and
the English text (same ids) and the gold span; the fixed split is train = articles at even positions,
test = odd (../shared/data/README.md). 10kGNAD (CC BY-NC-SA 4.0): rows 0-511 are benchmark-only,
rows 512-1027 may be trained and tuned on.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from retriever.ingest import Article, parse_article
from retriever.models import Citation

if TYPE_CHECKING:
    from haystack import Document

# The benchmarks' own hand-written questions: they live in the checkout, beside the commands that
# ask them, so `newsqa bench` runs from a source checkout (the README's install is editable).
BENCHMARK_QUESTIONS = Path(__file__).resolve().parent / "benchmarks" / "data"


@dataclass
class Question:
    qid: str
    article: int
    de: str
    en: str
    golds: list[str]
    start: int
    gold: str


@dataclass
class Corpus:
    articles: list[Article] = field(default_factory=list)
    questions: list[Question] = field(default_factory=list)


SPLITS = ("train", "test", "all")


def in_split(position: int, split: str) -> bool:
    """The fixed XQuAD split (../shared/data/README.md): articles at even positions of `data` are
    train, at odd positions test. Tuning uses train only; reported numbers come from test only."""
    if split not in SPLITS:
        raise ValueError(f"unknown XQuAD split {split!r}; use one of {SPLITS}")
    return split == "all" or (position % 2 == 0) == (split == "train")


def load_xquad(folder: Path, limit: int = 0, split: str = "all") -> Corpus:
    de = json.loads((folder / "xquad.de.json").read_text(encoding="utf-8"))["data"]
    en = json.loads((folder / "xquad.en.json").read_text(encoding="utf-8"))["data"]
    english = {q["id"]: q["question"] for a in en for p in a["paragraphs"] for q in p["qas"]}
    corpus = Corpus()
    for position, entry in enumerate(de):
        if not in_split(position, split):
            continue
        for n, paragraph in enumerate(entry["paragraphs"], start=1):
            if limit and len(corpus.articles) >= limit:
                return corpus
            title = f"{entry['title'].replace('_', ' ')} ({n})"
            source = f"xquad:{entry['title']}:{n}"
            context = paragraph["context"]
            article = parse_article(f"{title}\n\n{context}", source)
            # spans in the article body equal spans in the XQuAD context, offset by leading blanks
            shift = len(context) - len(context.lstrip())
            index = len(corpus.articles)
            corpus.articles.append(article)
            for qa in paragraph["qas"]:
                first = qa["answers"][0]
                corpus.questions.append(
                    Question(
                        qa["id"],
                        index,
                        qa["question"],
                        english[qa["id"]],
                        [a["text"] for a in qa["answers"]],
                        first["answer_start"] - shift,
                        first["text"],
                    )
                )
    return corpus


def article_positions(corpus: Corpus) -> list[int]:
    """For each paragraph-article of `corpus`, the position of its XQuAD article in the split (the
    source is "xquad:<title>:<n>"; the paragraphs of one article are consecutive)."""
    names = [a.source.split(":")[1] for a in corpus.articles]
    order = {name: i for i, name in enumerate(dict.fromkeys(names))}
    return [order[name] for name in names]


def held_out_article(position: int, every: int) -> bool:
    """Is the XQuAD-train article at `position` one that `--dev every` holds out of training (and
    that the reader's thresholds are calibrated on)? `every` 0 holds none out."""
    return every > 0 and position % every == every - 1


def is_dev_article(source: str, article: str, share: int = 6) -> bool:
    """The answer-sentence ranker's development split: one article in `share` of each training
    source, chosen by a stable hash of its title (never trained on; its thresholds are tuned there)."""
    digest = hashlib.sha256(f"{source.split('-')[0]}:{article}".encode()).digest()
    return digest[0] % share == 0


def xquad_article_key(title: str) -> str:
    """What `is_dev_article` reads for an XQuAD-train paragraph titled `Title (n)` (its article)."""
    return f"xquad:{title.rsplit(' (', 1)[0]}"


def contains_gold(article_id: str, start: int, end: int, article: Article, q: Question) -> bool:
    """Does the sentence at [start, end) of article `article_id` hold the question's gold span?"""
    return article_id == article.article_id and start <= q.start and q.start + len(q.gold) <= end


def cites_gold(first: Citation | None, article: Article, q: Question) -> bool:
    """Is `first` (an answer's first citation) the sentence of `article` that holds the gold span?"""
    if first is None or first.article_id != article.article_id:
        return False
    cited = article.sentences[first.sentence_number - 1]
    return contains_gold(first.article_id, cited.start, cited.end, article, q)


GNAD_BENCHMARK_ROWS = 512  # rows 0-511 of 10kGNAD's test.csv: benchmarks and tests only, never trained on


def news_article(row: int, category: str, text: str) -> Article:
    """A 10kGNAD row as an article (the rows have no title: its number and category stand in)."""
    return parse_article(f"10kGNAD {row} ({category})\n\n{text}", f"10kgnad:{row}")


def read_rows(path: Path, rows: Iterable[int]) -> dict[int, tuple[str, str]]:
    """The category and raw text of these 10kGNAD rows (the answer offsets count into the text)."""
    wanted = set(rows)
    found: dict[int, tuple[str, str]] = {}
    with path.open(encoding="utf-8", newline="") as handle:
        for row, (category, text) in enumerate(csv.reader(handle, delimiter=";", quotechar="'")):
            if row in wanted:
                found[row] = (category, text)
            if len(found) == len(wanted):
                break
    return found


def load_news(path: Path, count: int) -> list[Article]:
    """The first `count` 10kGNAD benchmark rows as articles (read in place, never copied: CC BY-NC-SA)."""
    if count > GNAD_BENCHMARK_ROWS:
        raise ValueError(f"only rows 0-{GNAD_BENCHMARK_ROWS - 1} of 10kGNAD are for benchmarks")
    raw = read_rows(path, range(count))
    return [news_article(row, *raw[row]) for row in range(count)]


def embed_corpus(corpus: Corpus) -> list[list[Document]]:
    """Every article of `corpus` embedded as the indexer embeds it (sentences and paragraphs), to be
    stored in several stores without embedding it again."""
    from retriever.indexer import sentence_documents
    from retriever.pipeline import PipelineConfig, document_embedder

    embedder = document_embedder(PipelineConfig())
    embedder.warm_up()
    return [embedder.run(documents=sentence_documents(a))["documents"] for a in corpus.articles]


def store_of(folder: Path, corpus: Corpus, embedded: list[list[Document]], keep: Any = None) -> Any:
    """A store of `corpus` (the articles `keep` keeps) from vectors `embed_corpus` made."""
    from retriever.indexer import article_info
    from retriever.store.sqlite import SQLiteSentenceStore

    store = SQLiteSentenceStore(folder)
    with store.bulk():
        for n, (article, docs) in enumerate(zip(corpus.articles, embedded, strict=True)):
            if keep is None or keep(n):
                store.put_article(article_info(article), docs)
    return store


def train_half_store(folder: Path, train: Corpus, embedded: list[list[Document]]) -> Any:
    """Every second XQuAD-train paragraph indexed: what every calibration asks, the questions of
    the indexed paragraphs answerable, the others' not."""
    return store_of(folder, train, embedded, lambda n: n % 2 == 0)
