"""The `newsqa` command: index articles, ask questions, print digests and run benchmarks.

The Telegram bot has its own entry point, `newsqa-bot` (`bot/__main__.py`); the core never imports `bot/`.

newsqa ask "Um wie viel Uhr begann das Gespräch?"  # the default article is indexed on first use
newsqa index articles/                          # files or folders of .txt/.md articles
newsqa digest [ARTICLE_ID] [--json]
newsqa articles
newsqa delete ARTICLE_ID
newsqa health                                   # integrity of the index, and the embedder
newsqa reindex                                  # re-embed the stored sentences (another model, damage)
newsqa bench xquad                              # also: default, news

Every known failure (a setting, the database, a damaged index, another embedding model) is one line
on stderr and exit status 1; `-v` adds the traceback. `newsqa index` stopped by SIGTERM finishes the
article in hand, prints its summary and exits with 143; every article it reported is stored.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import signal
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TextIO

import retriever  # noqa: F401  (switches haystack telemetry off before haystack is imported)
from retriever.errors import NewsQAError
from retriever.ingest import ArticleError
from retriever.models import Answer, ArticleInfo, Citation, Digest, IndexResult

# A single file with at least this many sentences gets its own progress bar (on a terminal).
BIG_FILE_SENTENCES = 200


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
    said = f"A: {answer.answer}"
    if answer.unsure:
        said = f"A: Not certain \u2013 the closest the articles come: {answer.answer}"
    lines = [f"Q: {answer.question}", said, *(_cite(c) for c in answer.citations)]
    return "\n".join(lines) + "\n"


def format_digest(digest: Digest) -> str:
    a = digest.article
    head = f"{a.title} ({a.date})" if a.date else a.title
    return "\n".join(
        [head, f"id {a.article_id}, {a.sentence_count} sentences", *(_cite(c) for c in digest.sentences)]
    )


def _service(warm: bool = False):  # type: ignore[no-untyped-def]
    # No collections while torch, haystack and the models load (~230k objects, all kept for the
    # life of the process): collecting them as they come costs ~0.5 s of a cold start, and warm_up
    # freezes them before collections resume.
    gc.disable()
    try:
        from retriever.service import NewsQA

        qa = NewsQA()
        if warm:
            qa.warm_up()
        return qa
    finally:
        gc.enable()


def cmd_ask(args: argparse.Namespace) -> int:
    qa = _service(warm=True)
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


def cmd_index(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from retriever.ingest import find_article_files
    from retriever.web.cli import index_urls, split_urls

    stopping: list[int] = []

    def on_sigterm(signum: int, frame: object) -> None:
        stopping.append(signum)  # the article in hand is finished; nothing after it is started

    def sentence_bar(name: str):  # type: ignore[no-untyped-def]
        """A bar by sentences for one big article (a file or a link), on a terminal only."""
        state: dict[str, object] = {}

        def progress(done: int, total: int) -> None:
            if total < BIG_FILE_SENTENCES:
                return
            if "bar" not in state:
                state["bar"] = tqdm(total=total, unit="sentence", desc=name, leave=False, disable=None)
            sentences: tqdm[object] = state["bar"]  # type: ignore[assignment]
            sentences.update(done - sentences.n)
            if done >= total:
                sentences.close()

        return progress

    def stopped(left: int, what: str = "files") -> int:
        print(
            f"stopped by SIGTERM: {left} {what} not indexed; run the same command again to index them",
            file=sys.stderr,
        )
        return 128 + signal.SIGTERM

    # from the start, links included: a fetch or an article in hand is finished, then it stops
    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        urls, args.paths = split_urls(args.paths)  # links are fetched and extracted (retriever.web)
        url_status = (
            index_urls(_service, urls, stop=lambda: bool(stopping), progress=sentence_bar) if urls else 0
        )
        if stopping:
            return stopped(len(args.paths), "files or folders")
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
        # bars only on a terminal (disable=None): one per file for folders, one by sentences for a big file
        bar = tqdm(total=len(files), unit="file", file=sys.stderr, disable=len(files) < 5 or None)
        counts: dict[str, int] = {}

        def report(path: Path, outcome: IndexResult | ArticleError) -> None:
            bar.update()
            key = "failed" if isinstance(outcome, ArticleError) else outcome.status
            counts[key] = counts.get(key, 0) + 1
            line = (
                f"error: {outcome}" if isinstance(outcome, ArticleError) else f"{path}: {outcome.describe()}"
            )
            # printed once the article is committed: every reported article survives a crash from here on
            bar.write(line, file=sys.stderr if isinstance(outcome, ArticleError) else sys.stdout)
            sys.stdout.flush()

        try:
            results = qa.index_paths(
                files,
                on_result=report,
                stop=lambda: bool(stopping),
                progress=lambda path: sentence_bar(path.name),
            )
        finally:
            bar.close()
        print(", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "nothing indexed", flush=True)
        if stopping:
            return stopped(len(files) - len(results))
        return 1 if counts.get("failed") or missing or url_status else 0
    finally:
        signal.signal(signal.SIGTERM, previous)


def cmd_digest(args: argparse.Namespace) -> int:
    qa = _service(warm=True)
    try:
        digest = qa.digest(args.article_id)
    except KeyError:
        print(f"error: no article with id {args.article_id!r}; see `newsqa articles`", file=sys.stderr)
        return 1
    print(json.dumps(digest.to_dict(), ensure_ascii=False) if args.json else format_digest(digest))
    return 0


def cmd_articles(args: argparse.Namespace) -> int:
    qa = _service(warm=True)
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
    """Exit 0 when the index is sound and the embedder answers (also the container's health check)."""
    qa = _service()
    problems = qa.health()
    if problems:
        for problem in problems:
            print(f"unhealthy: {problem}", file=sys.stderr)
        return 1
    models = ", ".join(m or "(not recorded)" for m in qa.store.embedding_models()) or qa.store.model_id
    print(f"ok: {len(qa.articles())} articles, {qa.store.count_sentences()} sentences, embedded by {models}")
    return 0


def cmd_reindex(args: argparse.Namespace) -> int:
    """Repair the index's rows and re-embed what another model (or damage) left, from the stored text."""
    qa = _service()

    def report(article: ArticleInfo, sentences: int) -> None:
        print(f"re-embedded: {article.article_id} {article.title!r} ({sentences} sentences)", flush=True)

    repaired, count = qa.reindex(on_article=report)
    for line in repaired:
        print(f"repaired: {line}")
    print(f"{count} articles re-embedded with {qa.store.model_id}")
    problems = qa.store.check()
    for problem in problems:
        print(f"unhealthy: {problem}", file=sys.stderr)
    return 1 if problems else 0


def cmd_bench(args: argparse.Namespace) -> int:
    # the lab is not part of the answer path: imported only when a benchmark is asked for
    from lab.benchmarks import run

    return run(args)


# XQuAD and 10kGNAD are read where the project's data lives (../shared/data beside the checkout);
# they are benchmark data, not part of the product, so the repository holds no copy.
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def _add_bench_arguments(parser: argparse.ArgumentParser) -> None:
    # Here rather than in the lab, so that `newsqa --help` does not import haystack.
    parser.add_argument("suite", choices=["xquad", "default", "news"], help="which benchmark to run")
    parser.add_argument("--data", type=Path, default=SHARED_DATA, help="folder with xquad.{de,en}.json")
    parser.add_argument(
        "--limit", type=int, default=0, help="only the first N paragraphs (news: questions) (quick runs)"
    )
    parser.add_argument(
        "--output", type=Path, default=Path("docs/benchmarks.md"), help="results file to update"
    )
    parser.add_argument("--no-write", action="store_true", help="print results only")
    parser.add_argument("--json", type=Path, default=None, help="also write raw numbers as JSON here")
    parser.add_argument(
        "--distractors",
        type=int,
        default=0,
        help="xquad: also index this many real news articles (10kGNAD rows 0-511, benchmark rows only)",
    )
    parser.add_argument(
        "--gnad", type=Path, default=SHARED_DATA / "10kGNAD" / "test.csv", help="10kGNAD test.csv"
    )
    parser.add_argument(
        "--news", type=int, default=300, help="news: this many more rows of the set's range as distractors"
    )
    parser.add_argument(
        "--write", type=Path, default=None, help="news: also write its section into this results file"
    )
    parser.add_argument(
        "--questions",
        choices=["bench", "dev"],
        default="bench",
        help="news: the benchmark questions (rows 0-511) or the development set (rows 512-1027, tuned on)",
    )
    parser.add_argument("--reader", default="", help="reader of the '+ reader' row (default: shipped one)")


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

    p = sub.add_parser("health", help="check the index's integrity and that the embedder works")
    p.set_defaults(func=cmd_health)

    p = sub.add_parser(
        "reindex", help="re-embed the stored sentences (after a model change or damage); no files needed"
    )
    p.set_defaults(func=cmd_reindex)

    from retriever.feeds.cli import add_parser as add_feeds_parser

    add_feeds_parser(sub)  # newsqa feeds add|list|remove|poll

    p = sub.add_parser("bench", help="quality and speed benchmarks")
    _add_bench_arguments(p)
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
    except NewsQAError as exc:  # a known failure: one line, the traceback only with -v
        if args.verbose:
            logging.getLogger("newsqa").exception("failed")
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `newsqa ask ... | head`
        return 0


if __name__ == "__main__":
    sys.exit(main())
