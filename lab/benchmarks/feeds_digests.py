"""Feeds through the bot: F feeds × E new entries, from the bot's own poll to the last digest.

The bot runs as in production (`python -m bot`, long polling) against the fake Bot API server of
tests/bot, with its feed job polling a local news site (10kGNAD rows 0–511, tests/bot/news_server.py)
on 127.0.0.1. The feeds are registered empty before the bot starts, so the bot's first (quiet) poll
of them announces nothing; then every feed gets E entries at once, and the benchmark waits until each
subscriber has one digest per story. Reported: time from the entries appearing to the last digest,
stories indexed per second, duplicate and missing digests, and the bot's peak RSS.

    nice -n 10 python -m lab.benchmarks.feeds_digests --feeds 20 --entries 50 --subscribers 2
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "bot")]

from bot_testkit import subprocess_env  # noqa: E402
from fake_telegram import FakeTelegram  # noqa: E402
from news_server import NewsServer, load_news  # noqa: E402

from lab.benchmarks.bot_load import Bot, populate  # noqa: E402
from retriever.feeds.db import FeedRegistry  # noqa: E402

FEED_INTERVAL = 10  # seconds, the setting's minimum


def peak_rss_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"VmHWM:\s+(\d+) kB", status)
    return int(match.group(1)) / 1024 if match else 0.0


async def run(args: argparse.Namespace) -> int:
    news = load_news()
    if not news:
        print("10kGNAD test.csv not found next to the repository", file=sys.stderr)
        return 1
    data_dir = Path(tempfile.mkdtemp(prefix="newsqa-feeds-bench-"))
    subscribers = list(range(300_001, 300_001 + args.subscribers))
    with NewsServer(news, sentences=args.sentences) as site:
        async with FakeTelegram() as fake:
            registry = FeedRegistry(f"sqlite:///{data_dir / 'bot.sqlite3'}")
            names = [f"f{f}" for f in range(args.feeds)]
            for name in names:
                site.add_entries(name, [])
                registry.add(site.url(f"/feed/{name}.xml"))
            await populate(f"sqlite+aiosqlite:///{data_dir / 'bot.sqlite3'}", subscribers)
            env = subprocess_env(
                fake,
                data_dir,
                NEWSQA_FEED_INTERVAL=str(FEED_INTERVAL),
                NEWSQA_REFRESH_INTERVAL="1",
                NEWSQA_ALLOW_PRIVATE_URLS="1",
                NEWSQA_INDEX_DEFAULT="0",
            )
            env.pop("NEWSQA_BROADCAST_RATE")  # the production default
            bot = Bot(env)
            bot.start()
            assert bot.process is not None
            try:
                print("waiting for the bot's first (quiet) poll ...", flush=True)
                # the condition lives in the bot process's database: there is no event to await
                while not all(f.last_ok_at for f in registry.feeds()):  # noqa: ASYNC110
                    await asyncio.sleep(0.5)
                first = len(fake.sent)
                total = args.feeds * args.entries
                for i, name in enumerate(names):
                    site.add_entries(name, [i * args.entries + e for e in range(args.entries)])
                stories = len({site.story(n).text for n in range(total)})
                started = time.monotonic()
                print(f"{total} entries ({stories} distinct stories) published ...", flush=True)
                deadline = started + args.timeout
                # Done when every entry is settled (indexed, duplicate, or failed: a page with no
                # article text) and each subscriber has a digest of every indexed one.
                while time.monotonic() < deadline:
                    entries = registry.entries()
                    indexed = sum(e.status == "indexed" for e in entries)
                    settled = len(entries) == total and all(
                        e.status in ("indexed", "duplicate", "failed") for e in entries
                    )
                    digests = [m for m in fake.sent[first:] if m.visible.startswith("📰")]
                    if settled and len(digests) >= indexed * len(subscribers):
                        break
                    await asyncio.sleep(1.0)
                await asyncio.sleep(FEED_INTERVAL + 3)  # another poll: anything sent twice shows now
                digests = [m for m in fake.sent[first:] if m.visible.startswith("📰")]
                outcomes = Counter(e.status for e in registry.entries())
                expected = outcomes["indexed"] * len(subscribers)
                rss = peak_rss_mib(bot.process.pid)
            finally:
                code = await bot.stop()
                registry.close()
    per_story = Counter((m.chat_id, m.visible) for m in digests)
    last = max((m.at for m in digests), default=started)
    print(f"feeds x entries: {args.feeds} x {args.entries}, subscribers: {len(subscribers)}")
    print(
        f"published to last digest: {last - started:.1f} s "
        f"({outcomes['indexed'] / max(last - started, 1e-9):.2f} stories indexed and digested/s)"
    )
    print(
        f"digests: {len(digests)} of {expected}; duplicates: {sum(c - 1 for c in per_story.values())}, "
        f"missing: {expected - len(per_story)}"
    )
    print(f"entry outcomes: {dict(outcomes)}; bot peak RSS: {rss:.0f} MiB; bot exit code: {code}")
    return 0 if code == 0 and len(per_story) == expected == len(digests) else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=20)
    parser.add_argument("--entries", type=int, default=50)
    parser.add_argument("--subscribers", type=int, default=2)
    parser.add_argument("--sentences", type=int, default=5, help="sentences per news page")
    parser.add_argument("--timeout", type=float, default=1800.0)
    return asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
