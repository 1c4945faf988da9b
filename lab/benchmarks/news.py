"""`newsqa bench news`: answering and declining on real German news (10kGNAD benchmark rows).

The questions are hand-written (lab/benchmarks/data/gnad_questions.json): answerable ones locate their
minimal answer by character offsets into a 10kGNAD row, unanswerable ones are near misses about the
same article that it does not answer. The question rows and `--news N` further benchmark rows (as
distractors) are indexed in a temporary data dir, every question is asked with `NewsQA.ask`, and the
shipped pipeline (thresholds, reader) is measured as a user would meet it.

Answerable: answered %, citation@1 (citation [1] is a sentence of the right row whose span holds the
answer offsets), answer F1 against the answer substring (an abstention scores 0). Unanswerable:
declined %. Split by question language. 10kGNAD is CC BY-NC-SA: it is read in place, never copied.

`--questions dev` asks the development set instead (lab/benchmarks/data/gnad_dev_questions.json): the
same kind of questions about rows 512-1027, with distractors from those rows too. Those rows may be
trained and tuned on, so thresholds and readers are chosen there; rows 0-511 only report.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lab.data import BENCHMARK_QUESTIONS, GNAD_BENCHMARK_ROWS, news_article, read_rows
from lab.machine import machine_description
from lab.metrics import f1, percentile
from lab.report import write_section
from lab.training.reader import GNAD_TRAIN_ROWS
from retriever.errors import ConfigError
from retriever.ingest import Article
from retriever.models import Citation

QUESTIONS = BENCHMARK_QUESTIONS / "gnad_questions.json"
DEV_QUESTIONS = QUESTIONS.with_name("gnad_dev_questions.json")
SOURCE_PREFIX = "10kgnad:"  # news_article's source of a row: "10kgnad:{row}"
LANGS = ("de", "en")


@dataclass(frozen=True)
class QuestionSet:
    """A question file and the 10kGNAD rows its questions and distractors may come from."""

    name: str
    path: Path
    rows: range


QUESTION_SETS = {
    "bench": QuestionSet("bench", QUESTIONS, range(GNAD_BENCHMARK_ROWS)),
    "dev": QuestionSet("dev", DEV_QUESTIONS, GNAD_TRAIN_ROWS),
}


@dataclass(frozen=True)
class NewsQuestion:
    qid: str
    row: int
    lang: str
    question: str
    start: int | None  # answer offsets into the row's text; None: the article does not say
    end: int | None

    @property
    def answerable(self) -> bool:
        return self.start is not None


def load_questions(question_set: QuestionSet = QUESTION_SETS["bench"]) -> list[NewsQuestion]:
    """The question set; raises ValueError for a question outside the set's rows or a bad span."""
    items = json.loads(question_set.path.read_text(encoding="utf-8"))["questions"]
    rows = question_set.rows
    questions = [
        NewsQuestion(q["id"], int(q["row"]), q["lang"], q["question"], q["answer_start"], q["answer_end"])
        for q in items
    ]
    for q in questions:
        if q.row not in rows:
            span = f"{rows[0]}-{rows[-1]}"
            raise ValueError(f"{q.qid}: row {q.row} is outside the {question_set.name} rows {span}")
        if q.lang not in LANGS:
            raise ValueError(f"{q.qid}: unknown language {q.lang!r}")
        if q.start is None and q.end is None:
            continue
        if q.start is None or q.end is None or not 0 <= q.start < q.end:
            raise ValueError(f"{q.qid}: bad answer span {q.start}-{q.end}")
    return questions


def pick_rows(question_rows: set[int], news: int, rows: range = QUESTION_SETS["bench"].rows) -> list[int]:
    """The question rows, then the first `news` other rows of `rows` as distractors."""
    others = [row for row in rows if row not in question_rows]
    if news > len(others):
        raise ValueError(f"--news {news}: only {len(others)} rows are left besides the questions'")
    return sorted(question_rows) + others[:news]


def body_span(article: Article, text: str, start: int, end: int) -> tuple[int, int]:
    """The answer offsets in the row's text as offsets into the parsed article body (the parser
    strips the text; a row whose body is not its text would make every offset wrong, so it fails)."""
    shift = text.find(article.body)
    if shift < 0:
        raise ValueError(f"{article.source}: the parsed body is not the row's text; offsets cannot be mapped")
    return start - shift, end - shift


def cites_answer(q: NewsQuestion, article: Article, text: str, first: Citation | None) -> bool:
    """Is `first` (an answer's first citation) the sentence of the question's row that holds its
    answer? `text` is the row's raw text, which the answer offsets count into."""
    if not q.answerable or first is None or first.article_id != article.article_id:
        return False
    assert q.start is not None and q.end is not None
    start, end = body_span(article, text, q.start, q.end)
    cited = article.sentences[first.sentence_number - 1]
    return cited.start <= start and end <= cited.end


def _percent(count: float, total: int) -> float | None:
    return round(100 * count / total, 1) if total else None


def _score(outcomes: list[dict[str, Any]]) -> dict[str, Any]:
    answerable = [o for o in outcomes if o["answerable"]]
    unanswerable = [o for o in outcomes if not o["answerable"]]
    return {
        "answerable": len(answerable),
        "answered": _percent(sum(o["answered"] for o in answerable), len(answerable)),
        "citation@1": _percent(sum(o["citation_correct"] for o in answerable), len(answerable)),
        "right_article@1": _percent(sum(o["cited_row"] == o["row"] for o in answerable), len(answerable)),
        "f1": _percent(sum(o["f1"] for o in answerable), len(answerable)),
        # an answer to a near miss is wrong by definition: how far a given answer can be trusted
        "right_when_answered": _percent(
            sum(o["citation_correct"] for o in answerable), sum(o["answered"] for o in outcomes)
        ),
        "answer_verdict_right": _percent(
            sum(o["citation_correct"] and o["verdict"] == "answer" for o in answerable), len(answerable)
        ),
        "answer_precision": _percent(
            sum(o["citation_correct"] and o["verdict"] == "answer" for o in outcomes),
            sum(o["verdict"] == "answer" for o in outcomes),
        ),
        "unanswerable": len(unanswerable),
        "declined": _percent(sum(not o["answered"] for o in unanswerable), len(unanswerable)),
        "unanswerable_answer_verdict": _percent(
            sum(o["verdict"] == "answer" for o in unanswerable), len(unanswerable)
        ),
        "latency_p50_ms": round(percentile([o["latency_ms"] for o in outcomes], 50), 1),
    }


def _outcome(
    asker: Any, q: NewsQuestion, news: dict[int, Article], texts: dict[int, str], row_of: dict[str, int]
) -> dict[str, Any]:
    """One question asked of `asker` (NewsQA or a baseline), and how its answer fares."""
    answer, _ = asker.ask_with_evidence(q.question)
    first = answer.citations[0] if answer.citations else None
    outcome: dict[str, Any] = {
        "id": q.qid,
        "row": q.row,
        "lang": q.lang,
        "answerable": q.answerable,
        "answered": not answer.abstained,
        "verdict": answer.verdict,
        "cited_row": row_of.get(first.article_id) if first else None,
        "cited_sentence": first.sentence_number if first else None,
        "citation_correct": False,
        "f1": 0.0,
        "score": round(answer.score, 4),
        "latency_ms": answer.latency_ms,
    }
    if q.answerable and first is not None and not answer.abstained:
        assert q.start is not None and q.end is not None
        outcome["citation_correct"] = cites_answer(q, news[q.row], texts[q.row], first)
        outcome["f1"] = f1(answer.answer or "", [texts[q.row][q.start : q.end]])
    return outcome


def run_news(args: argparse.Namespace) -> int:
    from retriever.pipeline import uses_span_reader
    from retriever.service import NewsQA
    from retriever.settings import Settings

    question_set = QUESTION_SETS[args.questions]
    if args.write and question_set.name != "bench":
        # the dev rows are tuned on: their numbers are no benchmark result
        raise ConfigError("--write: only the benchmark questions (--questions bench) go in the results file")
    questions = load_questions(question_set)
    if args.limit:
        questions = questions[: args.limit]
    question_rows = {q.row for q in questions}
    rows = pick_rows(question_rows, args.news, question_set.rows)
    raw = read_rows(args.gnad, rows)
    news = {row: news_article(row, *raw[row]) for row in rows}
    texts = {row: raw[row][1] for row in question_rows}
    with tempfile.TemporaryDirectory(prefix="newsqa-bench-news-") as tmp:
        settings = Settings(
            data_dir=Path(tmp), reader_model=os.environ.get("NEWSQA_READER_MODEL", ""), index_default=False
        )
        qa = NewsQA(settings)
        qa.warm_up()
        sentences = sum(len(news[row].sentences) for row in rows)
        print(f"indexing {len(rows)} 10kGNAD rows ({sentences} sentences) ...", file=sys.stderr)
        started = time.perf_counter()
        with qa.store.bulk():
            for row in rows:
                qa.index_article(news[row])
        index_seconds = time.perf_counter() - started
        # citations name article ids; the store's articles say which row each came from
        row_of = {
            info.article_id: int(info.source.removeprefix(SOURCE_PREFIX))
            for info in qa.store.articles()
            if info.source.startswith(SOURCE_PREFIX)
        }
        from lab.benchmarks.baselines import baselines
        from retriever.pipeline import PipelineConfig

        documents = [d for info in qa.store.articles() for d in qa.store.sentences(info.article_id)]
        hybrid = NewsQA(settings, config=PipelineConfig(reader_model="none"), store=qa.store)
        askers: list[tuple[str, Any]] = [(b.name, b) for b in baselines(documents)]
        askers += [("newsqa hybrid", hybrid), ("newsqa (shipped)", qa)]
        per_asker: dict[str, list[dict[str, Any]]] = {}
        for name, asker in askers:
            print(f"{name}: asking {len(questions)} questions ...", file=sys.stderr)
            per_asker[name] = [_outcome(asker, q, news, texts, row_of) for q in questions]
        outcomes = per_asker["newsqa (shipped)"]
        # whatever reader the shipped pipeline chose (a model setting, newsqa's own, or none)
        component = settings.reader_model or type(qa.pipeline.get_component("reader")).__name__
        reader = f"yes: {component}" if qa.reader_available else "none (best sentence)"
        results: dict[str, Any] = {
            "date": datetime.now(UTC).strftime("%Y-%m-%d"),
            "question_set": question_set.name,
            "machine": machine_description(),
            "questions": len(questions),
            "question_rows": len(question_rows),
            "distractor_rows": len(rows) - len(question_rows),
            "articles_indexed": len(row_of),
            "sentences": sentences,
            "index_seconds": round(index_seconds, 1),
            "reader": reader,
            "thresholds": (
                {
                    "answer": qa.config.answer_logits,
                    "unsure": qa.config.unsure_logits,
                    "top_k": qa.config.reader_top_k,
                }
                if uses_span_reader(qa.config)
                else dict(qa.config.abstain_thresholds)
            ),
            **{lang: _score([o for o in outcomes if o["lang"] == lang]) for lang in LANGS},
            "all": _score(outcomes),
            "askers": {
                name: {
                    **{lang: _score([o for o in rows if o["lang"] == lang]) for lang in LANGS},
                    "all": _score(rows),
                }
                for name, rows in per_asker.items()
            },
        }
    print(json.dumps(results, indent=2, ensure_ascii=False))
    if args.json:
        # per question too, to see which ones fail; the file is the caller's, outside the repository
        args.json.write_text(
            json.dumps({**results, "outcomes": outcomes, "asker_outcomes": per_asker}, indent=2),
            encoding="utf-8",
        )
    if args.write:
        write_section(args.write, "news", render_news(results))
        print(f"written to {args.write}", file=sys.stderr)
    return 0


def render_news(r: dict[str, Any]) -> str:
    rows = [
        ("answerable questions", "answerable"),
        ("answered (of answerable)", "answered"),
        ("citation@1 (citation [1] is the right row's sentence holding the answer)", "citation@1"),
        ("citation [1] from the right article", "right_article@1"),
        ("answer F1 (against the minimal answer; abstention = 0)", "f1"),
        (
            "right when answered (citation@1 of all answers given, near misses' answers count as wrong)",
            "right_when_answered",
        ),
        ("right with verdict answer (of answerable)", "answer_verdict_right"),
        ("verdict answer is right (of those answers)", "answer_precision"),
        ("unanswerable questions (near misses)", "unanswerable"),
        ("declined: verdict none (of unanswerable)", "declined"),
        ("unanswerable: verdict answer", "unanswerable_answer_verdict"),
        ("latency p50 (ms)", "latency_p50_ms"),
    ]
    askers = r.get("askers") or {"newsqa (shipped)": {c: r[c] for c in (*LANGS, "all")}}
    names = list(askers)
    return "\n".join(
        [
            f"### Real news: answering and declining on 10kGNAD ({r['date']})",
            "",
            f"Machine: {r['machine']}. Command: `newsqa bench news`.",
            f"Questions: {r['questions']} hand-written questions (lab/benchmarks/data/gnad_questions.json) "
            f"about {r['question_rows']} 10kGNAD benchmark rows; the answerable ones locate a minimal "
            "answer in their row, the unanswerable ones are near misses about the same article. "
            f"Index: those rows plus {r['distractor_rows']} other benchmark rows as distractors, "
            f"{r['sentences']} sentences in {r['index_seconds']} s. Reader: {r['reader']}. "
            f"Thresholds: the shipped ones, {r['thresholds']}.",
            "",
            "Columns: each asker over the same index, German and English questions pooled; citation@1 "
            "per language below the table.",
            "",
            "| metric | " + " | ".join(names) + " |",
            "|---|" + "---|" * len(names),
            *(
                f"| {label} | " + " | ".join(str(askers[n]["all"][key]) for n in names) + " |"
                for label, key in rows
            ),
            "",
            "citation@1 de / en: "
            + "; ".join(
                f"{n} {askers[n]['de']['citation@1']} / {askers[n]['en']['citation@1']}" for n in names
            )
            + ".",
        ]
    )
