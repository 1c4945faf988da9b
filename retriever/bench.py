"""`newsqa bench`: the quality and speed benchmarks whose results go into docs/benchmarks.md.

`xquad`: every German XQuAD paragraph is indexed as one article; all German questions and, over
the same German index, the English questions with the same ids are asked. A cited sentence is
right when it contains the gold answer span. The abstention threshold is calibrated here: half of
the paragraphs are indexed alone, and questions about the other half must be declined.

`default`: cold start (a fresh process) to first answer, and warm latency, on the default article.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from haystack import Document

from retriever.ingest import Article, parse_article
from retriever.metrics import exact_match, f1, percentile

MARK = "<!-- bench:{name}:{edge} -->"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("suite", choices=["xquad", "default"], help="which benchmark to run")
    parser.add_argument(
        "--data", type=Path, default=Path("benchmarks/data"), help="folder with xquad.{de,en}.json"
    )
    parser.add_argument("--limit", type=int, default=0, help="only the first N paragraphs (quick runs)")
    parser.add_argument(
        "--output", type=Path, default=Path("docs/benchmarks.md"), help="results file to update"
    )
    parser.add_argument("--no-write", action="store_true", help="print results only")
    parser.add_argument("--json", type=Path, default=None, help="also write raw numbers as JSON here")


# ---- XQuAD -------------------------------------------------------------------------------------


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


def load_xquad(folder: Path, limit: int = 0) -> Corpus:
    de = json.loads((folder / "xquad.de.json").read_text(encoding="utf-8"))["data"]
    en = json.loads((folder / "xquad.en.json").read_text(encoding="utf-8"))["data"]
    english = {q["id"]: q["question"] for a in en for p in a["paragraphs"] for q in p["qas"]}
    corpus = Corpus()
    for entry in de:
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


def contains_gold(article_id: str, start: int, end: int, article: Article, q: Question) -> bool:
    """Does the sentence at [start, end) of article `article_id` hold the question's gold span?"""
    return article_id == article.article_id and start <= q.start and q.start + len(q.gold) <= end


def _doc_has_gold(doc: Document, article: Article, q: Question) -> bool:
    return contains_gold(doc.meta["article_id"], int(doc.meta["start"]), int(doc.meta["end"]), article, q)


def machine_description() -> str:
    """Cores, CPU model, memory and Python version, for the header of a benchmark section."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores, {cpu}, {mem:.0f} GiB RAM, Python {platform.python_version()}"


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def calibrate_threshold(
    answerable: Sequence[float], unanswerable: Sequence[float], keep: float = 0.9
) -> tuple[float, float, float]:
    """The highest threshold that still answers `keep` of the answerable questions.

    A user asking about the news would rather get a cited sentence than a refusal, so wrong refusals
    are capped (10 %) and the threshold then declines as many unanswerable questions as it can.
    Returns the threshold, the share of answerable questions answered and of unanswerable declined.
    """
    pos, neg = np.asarray(answerable, dtype=np.float64), np.asarray(unanswerable, dtype=np.float64)
    threshold = float(np.floor(np.quantile(pos, 1 - keep) * 1000) / 1000)
    return threshold, float((pos >= threshold).mean()), float((neg < threshold).mean())


def run_xquad(args: argparse.Namespace) -> int:
    from retriever.indexer import ArticleIndexer, article_info
    from retriever.service import NewsQA
    from retriever.settings import Settings
    from retriever.store.sqlite import SQLiteSentenceStore

    corpus = load_xquad(args.data, args.limit)
    with tempfile.TemporaryDirectory(prefix="newsqa-bench-") as tmp:
        settings = Settings(
            data_dir=Path(tmp), reader_model=os.environ.get("NEWSQA_READER_MODEL", ""), index_default=False
        )
        qa = NewsQA(settings)
        qa.warm_up()
        indexer: ArticleIndexer = qa.indexer
        sentences = sum(len(a.sentences) for a in corpus.articles)
        print(f"indexing {len(corpus.articles)} paragraphs, {sentences} sentences ...", file=sys.stderr)
        started = time.perf_counter()
        embedded: list[list[Document]] = []
        with qa.store.bulk():
            for article in corpus.articles:
                embedded.append(indexer.embed(article))
                qa.store.put_article(article_info(article), embedded[-1])
        index_seconds = time.perf_counter() - started

        results: dict[str, Any] = {
            "date": datetime.now(UTC).strftime("%Y-%m-%d"),
            "machine": machine_description(),
            "paragraphs": len(corpus.articles),
            "sentences": sentences,
            "questions": len(corpus.questions),
            "index_seconds": round(index_seconds, 1),
            "index_sentences_per_s": round(sentences / index_seconds, 1),
            "reader": "yes: " + settings.reader_model if qa.reader_available else "none (best sentence)",
            "thresholds": qa.config.abstain_thresholds,
        }
        scores: dict[str, list[float]] = {}
        for lang in ("de", "en"):
            print(f"asking {len(corpus.questions)} {lang} questions ...", file=sys.stderr)
            at1 = at3 = r1 = em = f1s = abstained = 0.0
            latencies: list[float] = []
            top_scores: list[float] = []
            for q in corpus.questions:
                article = corpus.articles[q.article]
                answer, ranked = qa.ask_with_evidence(getattr(q, lang))
                latencies.append(answer.latency_ms)
                top_scores.append(ranked[0].score or 0.0 if ranked else 0.0)
                r1 += bool(ranked) and _doc_has_gold(ranked[0], article, q)
                at3 += any(_doc_has_gold(d, article, q) for d in ranked[:3])
                if answer.answer is None:
                    abstained += 1
                    continue
                first = answer.citations[0]
                if first.article_id == article.article_id:
                    cited = article.sentences[first.sentence_number - 1]
                    at1 += contains_gold(first.article_id, cited.start, cited.end, article, q)
                em += exact_match(answer.answer, q.golds)
                f1s += f1(answer.answer, q.golds)
            n = len(corpus.questions)
            scores[lang] = top_scores
            results[lang] = {
                "citation@1": round(100 * at1 / n, 1),
                "citation@3": round(100 * at3 / n, 1),
                "retrieval@1": round(100 * r1 / n, 1),
                "em": round(100 * em / n, 1),
                "f1": round(100 * f1s / n, 1),
                "abstained": round(100 * abstained / n, 1),
                "latency_p50_ms": round(percentile(latencies, 50), 1),
                "latency_p95_ms": round(percentile(latencies, 95), 1),
            }

        # calibration: index every second paragraph only; the other half's questions are unanswerable
        half = SQLiteSentenceStore(Path(tmp) / "half")
        with half.bulk():
            for article, docs in zip(corpus.articles[::2], embedded[::2], strict=True):
                half.put_article(article_info(article), docs)
        half_qa = NewsQA(settings, config=qa.config, store=half)
        half_qa.pipeline.warm_up()
        results["calibration"] = {}
        for lang in ("de", "en"):
            pos: list[float] = []
            neg: list[float] = []
            for q in corpus.questions:
                _, ranked = half_qa.ask_with_evidence(getattr(q, lang))
                (pos if q.article % 2 == 0 else neg).append(ranked[0].score or 0.0 if ranked else 0.0)
            threshold, kept, declined = calibrate_threshold(pos, neg)
            results["calibration"][lang] = {
                "threshold": threshold,
                "answerable_answered": round(100 * kept, 1),
                "unanswerable_declined": round(100 * declined, 1),
            }
        results["peak_rss_mib"] = round(_peak_rss_mib(), 0)

    report = render_xquad(results)
    print(report)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")
    if not args.no_write:
        write_section(args.output, "xquad", report)
        print(f"written to {args.output}", file=sys.stderr)
    return 0


def render_xquad(r: dict[str, Any]) -> str:
    rows = [
        ("citation@1 (first cited sentence holds the gold span)", "citation@1"),
        ("citation@3 (gold span in one of the top 3 sentences)", "citation@3"),
        ("retrieval@1 (top sentence, abstention ignored)", "retrieval@1"),
        ("answer EM", "em"),
        ("answer F1", "f1"),
        ("abstained", "abstained"),
        ("latency p50 (ms)", "latency_p50_ms"),
        ("latency p95 (ms)", "latency_p95_ms"),
    ]
    lines = [
        f"### XQuAD quality ({r['date']})",
        "",
        f"Machine: {r['machine']}. Command: `newsqa bench xquad`.",
        f"Index: {r['paragraphs']} German paragraphs as articles, {r['sentences']} sentences, "
        f"{r['index_seconds']} s = **{r['index_sentences_per_s']} sentences/s** "
        "(limited by e5 on the CPU: every sentence and every paragraph is embedded once). "
        f"Reader: {r['reader']}. "
        f"Abstention thresholds in use: {r['thresholds']}.",
        "",
        "| metric | German questions | English questions |",
        "|---|---|---|",
        *(f"| {label} | {r['de'][key]} | {r['en'][key]} |" for label, key in rows),
        "",
        "Calibration (every second paragraph indexed alone; the other half's questions must be declined; "
        "threshold = highest score that still answers 90 % of answerable questions):",
        *(
            f"- {lang}: threshold {c['threshold']} answers {c['answerable_answered']} % of answerable and "
            f"declines {c['unanswerable_declined']} % of unanswerable questions."
            for lang, c in r["calibration"].items()
        ),
        f"Peak RSS: {r['peak_rss_mib']:.0f} MiB. Percentages are of all {r['questions']} questions; "
        "an abstention counts as a miss.",
    ]
    return "\n".join(lines)


def write_section(path: Path, name: str, body: str) -> None:
    """Replace this benchmark's block in the results file (or append it), leaving the rest alone."""
    start, end = MARK.format(name=name, edge="start"), MARK.format(name=name, edge="end")
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    block = f"{start}\n{body}\n{end}"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    text = (
        pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


# ---- the default article: cold start and warm latency ---------------------------------------

DEFAULT_QUESTIONS = [
    "Wann begann das Gespräch?",
    "Worum ging es beim Videogipfel?",
    "Wie viele Soldaten soll die Ukraine verlegt haben?",
    "Was fordert Russland von der NATO?",
    "Wann hat Russland die Krim annektiert?",
    "Wo trafen sich Putin und Biden erstmals persönlich?",
    "Welcher Friedensplan gilt weiter?",
    "Was wirft die USA Russland vor?",
    "When did the video summit begin?",
    "Who annexed Crimea?",
    "What does Russia accuse Ukraine of?",
    "Where did Biden and Putin first meet?",
    "Wer hat die Fußball-WM 2014 gewonnen?",
    "What is the capital of France?",
]


def _cold_run(data_dir: Path, question: str) -> float:
    env = {**os.environ, "NEWSQA_DATA_DIR": str(data_dir)}
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "retriever.cli", "ask", "--json", question],
        env=env, check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    return time.perf_counter() - started


def run_default(args: argparse.Namespace) -> int:
    from retriever.components.embedders import E5TextEmbedder
    from retriever.service import NewsQA
    from retriever.settings import Settings

    with tempfile.TemporaryDirectory(prefix="newsqa-bench-") as tmp:
        data_dir = Path(tmp)
        first_ever = _cold_run(data_dir, DEFAULT_QUESTIONS[0])  # empty index: indexes the default article
        cold = sorted(_cold_run(data_dir, q) for q in DEFAULT_QUESTIONS[:3])
        qa = NewsQA(Settings(data_dir=data_dir))
        qa.warm_up()
        embedder = qa.pipeline.get_component("embedder")
        assert isinstance(embedder, E5TextEmbedder)
        latencies = []
        for _ in range(10):
            for q in DEFAULT_QUESTIONS:
                embedder.clear_cache()  # every question as if asked for the first time
                latencies.append(qa.ask(q).latency_ms)
        repeated = [qa.ask(q).latency_ms for _ in range(5) for q in DEFAULT_QUESTIONS]
    results = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "machine": machine_description(),
        "first_start_s": round(first_ever, 2),
        "cold_start_median_s": round(cold[len(cold) // 2], 2),
        "cold_start_max_s": round(cold[-1], 2),
        "warm_p50_ms": round(percentile(latencies, 50), 1),
        "warm_p95_ms": round(percentile(latencies, 95), 1),
        "questions": len(latencies),
        "repeated_p50_ms": round(percentile(repeated, 50), 1),
        "peak_rss_mib": round(_peak_rss_mib(), 0),
    }
    report = "\n".join(
        [
            f"### Default article: start-up and latency ({results['date']})",
            "",
            f"Machine: {results['machine']}. Command: `newsqa bench default`.",
            "",
            "| measure | value |",
            "|---|---|",
            f"| first start, empty data dir: index the default article + answer (new process) "
            f"| {results['first_start_s']} s |",
            f"| cold start to first answer, index on disk (new process, median / max of 3) "
            f"| {results['cold_start_median_s']} s / {results['cold_start_max_s']} s |",
            f"| warm answer latency p50 ({results['questions']} questions, German and English) "
            f"| {results['warm_p50_ms']} ms |",
            f"| warm answer latency p95 | {results['warm_p95_ms']} ms |",
            f"| warm latency p50 of a repeated question (question vector cached) "
            f"| {results['repeated_p50_ms']} ms |",
            f"| peak RSS (warm process) | {results['peak_rss_mib']:.0f} MiB |",
        ]
    )
    print(report)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")
    if not args.no_write:
        write_section(args.output, "default", report)
        print(f"written to {args.output}", file=sys.stderr)
    return 0


def run(args: argparse.Namespace) -> int:
    return run_xquad(args) if args.suite == "xquad" else run_default(args)
