"""`newsqa bench default`: start-up, latency and the hand-written questions about the default article.

Cold start is a fresh `newsqa ask` process to its answer; warm latency is every question asked as if
for the first time (no cached question vector), in German and English.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lab.benchmarks.default_questions import default_article_quality, load_default_questions
from lab.machine import machine_description, peak_rss_mib
from lab.metrics import percentile
from lab.report import publish

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


def _quality_rows(quality: dict[str, dict[str, dict[str, Any]]]) -> list[str]:
    """One column per asker (the plain alternatives, newsqa without and with its reader)."""
    names = list(quality)
    first = quality[names[0]]

    def cells(lang: str, *keys: str) -> str:
        return " | ".join(" / ".join(f"{quality[n][lang].get(k, '-')}" for k in keys) for n in names)

    rows = [
        f"Questions a new user asks about it (lab/benchmarks/data/default_questions.json: "
        f"{first['all']['answerable']} the article answers, {first['all']['unanswerable']} it does not; "
        "written by hand, never tuned on). Cited right: citation [1] is a sentence that answers it "
        "(verdict unsure included); sure: with verdict answer.",
        "",
        "| questions about the default article | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for lang, name in (("de", "German"), ("en", "English")):
        if lang in first:
            rows += [
                f"| {name}: cited right / answered, % of {first[lang]['answerable']} "
                f"| {cells(lang, 'cited_right', 'answered')} |",
                f"| {name}: cited right with verdict answer, % | {cells(lang, 'sure_right')} |",
                f"| {name}: answer F1 (abstention = 0) | {cells(lang, 'f1')} |",
            ]
    rows.append(
        f"| declined (verdict none), % of {first['all']['unanswerable']} | {cells('all', 'declined')} |"
    )
    return rows


def run_default(args: argparse.Namespace) -> int:
    from retriever.components.embedders import E5TextEmbedder
    from retriever.pipeline import PipelineConfig
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
        questions = load_default_questions()
        from lab.benchmarks.baselines import baselines

        documents = [d for info in qa.store.articles() for d in qa.store.sentences(info.article_id)]
        plain = NewsQA(Settings(data_dir=data_dir), config=PipelineConfig(reader_model="none"))
        askers: list[tuple[str, Any]] = [(b.name, b) for b in baselines(documents)]
        askers += [("newsqa hybrid", plain), ("newsqa (shipped)", qa)]
        quality = {name: default_article_quality(asker, questions) for name, asker in askers}
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
        "peak_rss_mib": round(peak_rss_mib(), 0),
        "questions_about_the_article": quality,
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
            "",
            *_quality_rows(quality),
        ]
    )
    publish("default", report, results, args.json, None if args.no_write else args.output)
    return 0
