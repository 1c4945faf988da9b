"""Hostile feeds against the poller: links that can never be fetched are refused once, and entries
that share one link are separate articles, with every count agreeing (through the CLI)."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest

from retriever.feeds.db import FAILED, FeedRegistry
from retriever.feeds.poller import REFUSED, FeedPoller, parse_feed
from retriever.ingest import Article
from retriever.models import IndexResult
from retriever.web.fetch import FEED_TYPES, Fetcher, FetchLimits
from tests.retriever.test_cli import newsqa
from tests.web.hostile_server import hostile_server, news_page

ALLOW = FetchLimits(timeout=3.0, allow_private=True)


def rss(items: list[tuple[str, str, str, str]]) -> bytes:
    """An RSS 2.0 document of (guid, title, link, description) items; empty fields are left out."""
    parts = []
    for guid, title, link, description in items:
        fields = [f"<guid isPermaLink='false'>{html.escape(guid)}</guid>" if guid else ""]
        fields.append(f"<title>{html.escape(title)}</title>")
        fields.append(f"<link>{html.escape(link)}</link>" if link else "")
        fields.append(f"<description>{html.escape(description)}</description>" if description else "")
        parts.append(f"<item>{''.join(fields)}</item>")
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Feindlich</title>'
        f"<link>http://127.0.0.1/</link><description>x</description>{''.join(parts)}</channel></rss>"
    ).encode()


def never(article: Article) -> IndexResult:
    raise AssertionError(f"nothing here may be indexed: {article.source}")


def test_entries_whose_link_can_never_be_fetched_are_refused_once(tmp_path: Path) -> None:
    bad = {
        "urn:no-link": "",
        "urn:file": "file:///etc/passwd",
        "urn:js": "javascript:alert(1)",
        "urn:octal": "http://0177.0.0.1/artikel.html",
    }
    with hostile_server() as server:
        url = server.route(
            "/feed.xml",
            body=rss([(guid, f"Eintrag {guid}", link, "") for guid, link in bad.items()]),
            content_type="application/rss+xml",
        )
        registry = FeedRegistry(f"sqlite:///{tmp_path / 'bot.sqlite3'}")
        registry.add(url)
        poller = FeedPoller(registry, never, ALLOW, interval=60)
        try:
            first = poller.poll(force=True)
            later = [poller.poll(force=True) for _ in range(2)]
        finally:
            poller.close()
    assert [e.status for e in first.entries] == [REFUSED] * 4, first.entries
    assert all(not report.entries for report in later)  # not tried again
    entries = registry.entries()
    assert {e.guid for e in entries} == set(bad)
    assert all(e.status == FAILED and e.attempts == 1 and e.error for e in entries), entries
    errors = {e.guid: e.error or "" for e in entries}
    assert "has no link" in errors["urn:no-link"]
    assert errors["urn:file"].startswith("file://") and "only http and https" in errors["urn:file"]
    assert errors["urn:js"].startswith("javascript:alert(1): only http and https")
    assert errors["urn:octal"].startswith("http://0177.0.0.1/artikel.html: not a valid URL")
    assert "Traceback" not in "".join(errors.values())


SUMMARIES = [
    "Im Video erklärt die Bürgermeisterin von Lübeck die Pläne für den Hafen. Der Stadtrat will im "
    "Frühjahr entscheiden, ob die Kaianlagen erneuert werden. Die Kosten liegen bei zwölf Millionen Euro. "
    "Die Opposition hält das für zu teuer.",
    "Die Feuerwehr in Kiel hat am Dienstag einen Brand in einer Lagerhalle gelöscht. Verletzt wurde "
    "niemand, teilte die Polizei mit. Die Ursache des Feuers ist noch unklar, die Ermittlungen laufen. "
    "Die Halle gehört einer Spedition.",
    "In Rostock beginnt am Wochenende die Hanse Sail mit mehr als hundert Schiffen. Die Veranstalter "
    "erwarten bis zu einer halben Million Besucher. Der Eintritt zum Hafengelände ist wie immer frei. "
    "Am Sonntag gibt es ein Feuerwerk.",
]


@pytest.mark.slow
def test_entries_sharing_one_link_are_three_articles_and_every_count_agrees(tmp_path: Path) -> None:
    env = {"NEWSQA_ALLOW_PRIVATE_URLS": "1", "NEWSQA_INDEX_DEFAULT": "0"}
    with hostile_server() as server:
        # a video page: no article text, so each entry's own text is used
        video = server.route("/video.html", body=news_page(["Video abspielen"]).encode())
        items = [(f"urn:video:{i}", f"Video {i}", video, text) for i, text in enumerate(SUMMARIES)]
        feed = server.route("/feed.xml", body=rss(items), content_type="application/rss+xml")
        added = newsqa(tmp_path, "feeds", "add", feed.replace("http://", "HTTP://") + "#oben", env=env)
        again = newsqa(tmp_path, "feeds", "add", feed, env=env)
        poll = newsqa(tmp_path, "feeds", "poll", env=env)
    assert len(server.requests) == 4  # the feed, and the page once per entry
    assert added.returncode == 0 and added.stdout.startswith(f"added: feed 1 {feed}"), added.stderr
    assert again.returncode == 0 and again.stdout.startswith("already registered: feed 1"), again.stdout
    assert poll.returncode == 0, poll.stderr
    indexed = re.findall(r"^indexed: (\w+) ", poll.stdout, re.MULTILINE)
    assert len(indexed) == 3 and len(set(indexed)) == 3, poll.stdout
    listed = newsqa(tmp_path, "feeds", "list", "--json", env=env)
    assert [json.loads(line)["articles"] for line in listed.stdout.splitlines()] == [3], listed.stdout
    articles = newsqa(tmp_path, "articles", "--json", env=env)
    stored = [json.loads(line) for line in articles.stdout.splitlines()]
    assert sorted(a["article_id"] for a in stored) == sorted(indexed), articles.stdout
    assert all(a["source"].startswith(f"{video} (feed entry urn:video:") for a in stored)


def test_one_bad_byte_in_a_utf8_feed_stays_one() -> None:
    document = rss([("urn:1", "Über Lübeck", "http://example.org/a", "Die Bürger in Lübeck. Mehr über X.")])
    with hostile_server() as server:
        url = server.route(
            "/bad-byte.xml",
            body=document.replace(b"Mehr", b"Me\xffhr"),
            content_type="application/rss+xml; charset=utf-8",
        )
        with Fetcher(ALLOW) as fetcher:
            result = fetcher.get(url, accept=FEED_TYPES, what="feed")
    _, entries = parse_feed(result.body, result.url, result.content_type)
    assert entries[0].title == "Über Lübeck"  # feedparser alone: "Ãœber LÃ¼beck"
    assert entries[0].summary == "Die Bürger in Lübeck. Me\ufffdhr über X."
