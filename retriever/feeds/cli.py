"""`newsqa feeds add URL | list | remove ID | poll`: the feed registry from the shell.

The registry is the bot's database (`NEWSQA_DATABASE_URL`), so feeds added here are polled by a
running bot too, and `/feeds` shows them. `poll` runs one pass over all feeds now (ignoring their
back-off) and prints what it indexed; a running bot picks the new articles up at its next refresh
and sends their digests (entries of a feed's first poll are indexed, not announced).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from typing import TYPE_CHECKING, Any

from retriever.settings import Settings

if TYPE_CHECKING:
    from retriever.feeds.db import FeedInfo, FeedRegistry

# The registry (SQLAlchemy) and the fetcher (httpx) are imported by the commands that use them:
# `newsqa` builds this parser on every run, and `newsqa ask` should not pay for them.


def add_parser(sub: Any) -> None:
    """Register `newsqa feeds ...` on the top-level subparsers (retriever.cli.build_parser)."""
    p = sub.add_parser("feeds", help="RSS/Atom feeds: add, list, remove, poll")
    feeds = p.add_subparsers(dest="feeds_command", required=True)
    q = feeds.add_parser("add", help="register a feed URL (polled by the bot and by 'poll')")
    q.add_argument("url")
    q.set_defaults(func=cmd_add)
    q = feeds.add_parser("list", help="registered feeds, their state and last error")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_list)
    q = feeds.add_parser("remove", help="forget a feed (its articles stay indexed)")
    q.add_argument("feed_id", metavar="ID")
    q.set_defaults(func=cmd_remove)
    q = feeds.add_parser("poll", help="poll every feed once now and index new entries")
    q.add_argument("--json", action="store_true", help="one JSON object per entry and a summary")
    q.set_defaults(func=cmd_poll)


def _registry() -> tuple[Settings, FeedRegistry]:
    from retriever.feeds.db import FeedRegistry

    settings = Settings.from_env()
    return settings, FeedRegistry.from_settings(settings)


def _when(value: dt.datetime | None) -> str:
    return value.astimezone().strftime("%Y-%m-%d %H:%M") if value else "never"


def describe(feed: FeedInfo) -> str:
    state = f"ok, last polled {_when(feed.last_polled_at)}"
    if feed.failures:
        state = f"FAILING ({feed.failures}x, next try {_when(feed.next_poll_at)}): {feed.last_error}"
    elif feed.last_ok_at is None:
        state = "not polled yet"
    title = f" {feed.title!r}" if feed.title else ""
    return f"{feed.id:>4}  {feed.url}{title}\n      {feed.entries} articles; {state}"


def parse_feed_id(raw: str) -> int | None:
    raw = raw.strip().lstrip("#")
    return int(raw) if raw.isdigit() and len(raw) < 10 else None


def cmd_add(args: argparse.Namespace) -> int:
    from retriever.web.fetch import FetchError, check_url

    settings, registry = _registry()
    try:
        url = check_url(args.url, settings.allow_private_urls)
    except FetchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    feed, new = registry.add(url)
    print(f"{'added' if new else 'already registered'}: feed {feed.id} {feed.url}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    _, registry = _registry()
    feeds = registry.feeds()
    if args.json:
        for f in feeds:
            print(
                json.dumps(
                    {
                        "id": f.id,
                        "url": f.url,
                        "title": f.title,
                        "articles": f.entries,
                        "failures": f.failures,
                        "last_error": f.last_error,
                        "last_polled_at": f.last_polled_at.isoformat() if f.last_polled_at else None,
                        "next_poll_at": f.next_poll_at.isoformat() if f.next_poll_at else None,
                    },
                    ensure_ascii=False,
                )
            )
    elif not feeds:
        print("no feeds registered; add one with: newsqa feeds add https://example.org/feed.xml")
    else:
        print("\n".join(describe(f) for f in feeds))
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    _, registry = _registry()
    feed_id = parse_feed_id(args.feed_id)
    removed = registry.remove(feed_id) if feed_id is not None else None
    if removed is None:
        print(f"error: no feed with id {args.feed_id!r}; see `newsqa feeds list`", file=sys.stderr)
        return 1
    print(f"removed feed {removed.id} {removed.url}")
    return 0


def cmd_poll(args: argparse.Namespace) -> int:
    from retriever.feeds.poller import FeedPoller
    from retriever.service import NewsQA
    from retriever.web.fetch import FetchLimits

    settings, registry = _registry()
    if not registry.feeds():
        print("no feeds registered; add one with: newsqa feeds add URL", file=sys.stderr)
        return 0
    qa = NewsQA(settings)
    limits = FetchLimits(timeout=settings.fetch_timeout, allow_private=settings.allow_private_urls)
    poller = FeedPoller(registry, qa.index_article, limits, interval=settings.feed_interval)

    def show(entry: Any) -> None:
        if args.json:
            print(
                json.dumps(
                    {
                        "feed_id": entry.feed_id,
                        "link": entry.link,
                        "title": entry.title,
                        "status": entry.status,
                        "article_id": entry.article_id,
                        "announce": entry.announce,
                        "error": entry.error,
                    },
                    ensure_ascii=False,
                ),
                flush=True,
            )
        elif entry.status == "indexed":
            quiet = "" if entry.announce else " (first poll: not announced)"
            print(f"indexed: {entry.article_id} {entry.title!r} <{entry.link}>{quiet}", flush=True)
        elif entry.status == "duplicate":
            print(f"duplicate of {entry.article_id}: {entry.title!r} <{entry.link}>", flush=True)
        else:
            error = entry.error or ""  # most errors name the link already
            detail = error if entry.link and error.startswith(entry.link) else f"{entry.link}: {error}"
            print(f"error ({entry.status}): {detail}", file=sys.stderr, flush=True)

    try:
        report = poller.poll(force=True, on_entry=show)
    finally:
        poller.close()
    for feed in report.feeds:
        if feed.status == "failed":
            print(f"feed {feed.feed_id} failed: {feed.error}", file=sys.stderr)
    failed = sum(f.status == "failed" for f in report.feeds)
    summary = (
        f"{len(report.feeds)} feeds polled ({failed} failed), {len(report.indexed)} articles indexed "
        f"in {report.seconds:.1f} s"
    )
    if args.json:
        print(json.dumps({"summary": summary}, ensure_ascii=False))
    else:
        print(summary)
    return 1 if failed else 0
