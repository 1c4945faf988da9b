"""Feeds benchmark: F feeds × E entries from a local news site (10kGNAD rows 0–511), one poll pass.

Measures the pass (fetch feeds and pages, extract, embed, index), entries/s, peak RSS, duplicates
and misses (every entry indexed exactly once; a second pass indexes nothing and gets 304s), and a
2,000-word page: fetch + extract separately from embedding + storing. The digests themselves go
through the bot's broadcaster, measured by lab/benchmarks/bot_load.py; this one covers the feed side.

    nice -n 10 python -m lab.benchmarks.feeds_load --feeds 20 --entries 50
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "bot"))

from news_server import NewsServer, load_news  # noqa: E402

from retriever.feeds.db import FeedRegistry  # noqa: E402
from retriever.feeds.poller import FeedPoller  # noqa: E402
from retriever.service import NewsQA  # noqa: E402
from retriever.settings import Settings  # noqa: E402
from retriever.web import fetch_article  # noqa: E402
from retriever.web.fetch import FetchLimits  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=20)
    parser.add_argument("--entries", type=int, default=50)
    parser.add_argument("--sentences", type=int, default=5, help="sentences per news page")
    args = parser.parse_args()
    news = load_news()
    if not news:
        print("10kGNAD test.csv not found next to the repository", file=sys.stderr)
        return 1
    limits = FetchLimits(allow_private=True, timeout=15)
    with tempfile.TemporaryDirectory() as tmp, NewsServer(news, sentences=args.sentences) as site:
        qa = NewsQA(Settings(data_dir=Path(tmp), index_default=False))
        qa.warm_up()
        registry = FeedRegistry(f"sqlite:///{Path(tmp) / 'bot.sqlite3'}")
        total = args.feeds * args.entries
        for f in range(args.feeds):
            site.add_entries(f"f{f}", [f * args.entries + e for e in range(args.entries)])
            registry.add(site.url(f"/feed/f{f}.xml"))
        poller = FeedPoller(registry, qa.index_article, limits, interval=900, max_entries=args.entries)
        started = time.perf_counter()
        report = poller.poll(force=True)
        seconds = time.perf_counter() - started
        statuses: dict[str, int] = {}
        for entry in report.entries:
            statuses[entry.status] = statuses.get(entry.status, 0) + 1
        entries = registry.entries()
        keys = [(e.feed_id, e.link) for e in entries]
        second = poller.poll(force=True)
        sentences = sum(a.sentence_count for a in qa.articles())
        print(f"feeds x entries: {args.feeds} x {args.entries} = {total} ({args.sentences} sentences a page)")
        rate = f"{total / seconds:.2f} entries/s, {sentences / seconds:.1f} sentences/s"
        print(f"pass: {seconds:.1f} s, {rate}")
        print(f"entry outcomes: {statuses}")
        # Entries with the same text are one story (the poller's content hash): one article each.
        stories = len({site.story(n).text for n in range(total)})
        indexed = statuses.get("indexed", 0)
        print(
            f"distinct stories: {stories}, articles in the index: {len(qa.articles())}, "
            f"entries recorded twice: {len(keys) - len(set(keys))}, missing: {stories - indexed}"
        )
        again = Counter(entry.status for entry in second.entries)
        print(
            f"second pass: {len(second.entries)} entries {dict(again)}, "
            f"{sum(f.status == 'not_modified' for f in second.feeds)} feeds 304; "
            f"articles in the index now: {len(qa.articles())} of {stories}"
        )
        print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
        fetched = fetch_article(site.url("/words/2000.html"), limits=limits)
        words = len(fetched.article.body.split())
        started = time.perf_counter()
        qa.index_article(fetched.article)
        embed = time.perf_counter() - started
        print(
            f"2,000-word page ({words} words, {len(fetched.article.sentences)} sentences): fetch "
            f"{fetched.fetch_seconds * 1000:.0f} ms, extract {fetched.extract_seconds * 1000:.0f} ms, "
            f"embed+store {embed:.1f} s"
        )
        poller.close()
        registry.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
