"""The `newsqa` command: index articles, ask questions, print digests and run benchmarks.

The Telegram bot has its own entry point, `newsqa-bot` (`bot/__main__.py`); the core never imports `bot/`.

newsqa ask "Wann begann das Gespräch?"        # the default article is indexed on first use
newsqa index articles/                          # files or folders of .txt/.md articles
newsqa digest [ARTICLE_ID] [--json]
newsqa articles
newsqa bench xquad
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TextIO

import retriever  # noqa: F401  (switches haystack telemetry off before haystack is imported)
from retriever.ingest import ArticleError
from retriever.models import Answer, Citation, Digest, IndexResult


def _questions(args: Sequence[str], stdin: TextIO) -> Iterator[str]:
    for arg in args:
        if arg == "-":
            yield from (line.rstrip("\n") for line in stdin if line.strip())
        else:
            yield arg


def _cite(c: Citation) -> str:
    when = f", {c.date}" if c.date else ""
    source = f"{c.title}{when}, sentence {c.sentence_number} (id {c.article_id})"
    return f"  [{c.number}] \u201e{c.text}\u201c\n      \u2014 {source}"


def format_answer(answer: Answer) -> str:
    if answer.answer is None:
        return f"Q: {answer.question}\nA: The indexed articles do not say.\n"
    lines = [f"Q: {answer.question}", f"A: {answer.answer}", *(_cite(c) for c in answer.citations)]
    return "\n".join(lines) + "\n"


def format_digest(digest: Digest) -> str:
    a = digest.article
    head = f"{a.title} ({a.date})" if a.date else a.title
    return "\n".join(
        [head, f"id {a.article_id}, {a.sentence_count} sentences", *(_cite(c) for c in digest.sentences)]
    )


def _service():  # type: ignore[no-untyped-def]
    from retriever.service import NewsQA

    return NewsQA()


def cmd_ask(args: argparse.Namespace) -> int:
    qa = _service()
    qa.warm_up()
    failed = 0
    for question in _questions(args.questions, sys.stdin):
        try:
            answer = qa.ask(question)
        except ValueError as exc:
            failed += 1
            if args.json:
                print(json.dumps({"question": question, "error": str(exc)}, ensure_ascii=False), flush=True)
            else:
                print(f"error: {exc}: {question[:60]!r}", file=sys.stderr)
            continue
        if args.json:
            print(json.dumps(answer.to_dict(), ensure_ascii=False), flush=True)
        else:
            print(format_answer(answer), flush=True)
    return 1 if failed else 0


def _describe(result: IndexResult) -> str:
    a = result.article
    what = {
        "added": "added",
        "replaced": f"replaced {result.replaced}",
        "unchanged": "skipped (already indexed)",
        "duplicate": f"skipped (same text already indexed from {a.source})",
    }[result.status]
    return f"{what}: {a.article_id} {a.title!r} ({a.sentence_count} sentences)"


def cmd_index(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from retriever.ingest import find_article_files
    from retriever.web.cli import index_urls, split_urls

    urls, args.paths = split_urls(args.paths)  # links are fetched and extracted (retriever.web)
    url_status = index_urls(_service, urls) if urls else 0
    if not args.paths:
        return url_status
    paths = [Path(p) for p in args.paths]
    missing = [p for p in paths if not p.exists()]
    for p in missing:
        print(f"error: {p}: no such file or directory", file=sys.stderr)
    files = find_article_files([p for p in paths if p.exists()])
    if not files:
        if not missing:
            print("error: no .txt or .md files found", file=sys.stderr)
        return 1
    qa = _service()
    bar = tqdm(total=len(files), unit="file", file=sys.stderr, disable=len(files) < 5 or None)
    counts: dict[str, int] = {}

    def report(path: Path, outcome: IndexResult | ArticleError) -> None:
        bar.update()
        key = "failed" if isinstance(outcome, ArticleError) else outcome.status
        counts[key] = counts.get(key, 0) + 1
        line = f"error: {outcome}" if isinstance(outcome, ArticleError) else f"{path}: {_describe(outcome)}"
        bar.write(line, file=sys.stderr if isinstance(outcome, ArticleError) else sys.stdout)

    qa.index_paths(files, on_result=report)
    bar.close()
    print(", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
    return 1 if counts.get("failed") or missing or url_status else 0


def cmd_digest(args: argparse.Namespace) -> int:
    qa = _service()
    qa.warm_up()
    try:
        digest = qa.digest(args.article_id)
    except KeyError:
        print(f"error: no article with id {args.article_id!r}; see `newsqa articles`", file=sys.stderr)
        return 1
    print(json.dumps(digest.to_dict(), ensure_ascii=False) if args.json else format_digest(digest))
    return 0


def cmd_articles(args: argparse.Namespace) -> int:
    qa = _service()
    qa.warm_up()
    for a in qa.articles():
        if args.json:
            print(json.dumps(a.to_dict(), ensure_ascii=False))
        else:
            print(f"{a.article_id}  {a.date or '       '}  {a.title}  ({a.sentence_count} sentences)")
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    qa = _service()
    if not qa.delete(args.article_id):
        print(f"error: no article with id {args.article_id!r}", file=sys.stderr)
        return 1
    print(f"deleted {args.article_id}")
    return 0


def cmd_health(args: argparse.Namespace) -> int:
    """Exit 0 when the store opens and the embedder answers (container health check)."""
    try:
        qa = _service()
        qa.pipeline.get_component("embedder").run(text="health")
        print(f"ok: {len(qa.articles())} articles, {qa.store.count_sentences()} sentences")
    except Exception as exc:
        print(f"unhealthy: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from retriever.bench import run

    return run(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="newsqa", description="Cited answers about German news articles.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress and model loading")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("ask", help="answer questions with cited sentences")
    p.add_argument(
        "questions", nargs="+", metavar="QUESTION", help="one question per argument; - reads lines from stdin"
    )
    p.add_argument("--json", action="store_true", help="one JSON object per question per line")
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("index", help="index article files, folders or links (https://…)")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("digest", help="key sentences of an article (default: the newest)")
    p.add_argument("article_id", nargs="?", default=None)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_digest)

    p = sub.add_parser("articles", help="list indexed articles, newest first")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_articles)

    p = sub.add_parser("delete", help="remove an article from the index")
    p.add_argument("article_id")
    p.set_defaults(func=cmd_delete)

    p = sub.add_parser("health", help="check that the store and the embedder work")
    p.set_defaults(func=cmd_health)

    from retriever.feeds.cli import add_parser as add_feeds_parser

    add_feeds_parser(sub)  # newsqa feeds add|list|remove|poll

    p = sub.add_parser("bench", help="quality and speed benchmarks")
    from retriever.bench import add_arguments

    add_arguments(p)
    p.set_defaults(func=cmd_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `newsqa ask ... | head`
        return 0


if __name__ == "__main__":
    sys.exit(main())
