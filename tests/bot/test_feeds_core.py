"""The core of links and feeds without Telegram: safe fetching, extraction, the feed poller.

Everything talks to a local news site on 127.0.0.1 (news_server.py) built from real German news.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from news_server import NewsServer, load_news

from retriever.feeds.db import DUPLICATE, INDEXED, FeedRegistry
from retriever.feeds.poller import FeedPoller
from retriever.ingest import Article
from retriever.models import IndexResult
from retriever.service import NewsQA
from retriever.web import fetch as fetch_module
from retriever.web import fetch_article, is_url
from retriever.web.extract import NoArticleError
from retriever.web.fetch import Fetcher, FetchError, FetchLimits, UnsafeURLError, _GuardedBackend, check_url

NEWS = load_news()
pytestmark = pytest.mark.skipif(not NEWS, reason="../shared/data/10kGNAD/test.csv is not here")
ALLOW = FetchLimits(timeout=3.0, allow_private=True)


@pytest.fixture(scope="module")
def site() -> Iterator[NewsServer]:
    with NewsServer(NEWS) as server:
        yield server


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.org/feed.xml",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "http://127.0.0.1/",
        "http://[::1]:8080/",
        "http://[::ffff:127.0.0.1]/",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.7/",
        "http://192.168.1.1/",
        "http://100.64.0.1/",
        "http://0.0.0.0/",
        "http://localhost:8000/",
        "http://printer.local/",
        "https://user:secret@example.org/",
        "https://",
        "http://example.org:99999/",
    ],
)
def test_unsafe_or_malformed_urls_are_refused(url: str) -> None:
    with pytest.raises(FetchError):
        check_url(url)


def test_a_public_name_passes_and_is_resolved_at_connect_time() -> None:
    assert check_url(" https://www.example.org/a?b=1 ") == "https://www.example.org/a?b=1"
    # 'localhost' resolves to loopback: the guarded backend refuses after resolving it
    with pytest.raises(UnsafeURLError, match="not a public address"):
        _GuardedBackend(allow_private=False).connect_tcp("localhost", 80, timeout=1)
    assert is_url("https://x.org") and is_url("ftp://x") and not is_url("Wer ist das?")


def test_redirects_are_checked_at_every_hop(site: NewsServer, monkeypatch: pytest.MonkeyPatch) -> None:
    # 127.0.0.1 plays a public server here; 127.0.0.2 and localhost stay private
    monkeypatch.setattr(fetch_module, "address_is_public", lambda address: address == "127.0.0.1")
    port = site.base_url.rsplit(":", 1)[1]
    with Fetcher(FetchLimits(timeout=3.0)) as fetcher:
        assert fetcher.get(site.article_url(1)).status == 200
        for target in (f"http://127.0.0.2:{port}/article/1.html", f"http://localhost:{port}/article/1.html"):
            with pytest.raises(UnsafeURLError):
                fetcher.get(site.url(f"/redirect?to={target}"))
    with Fetcher(ALLOW) as fetcher:
        assert fetcher.get(site.url(f"/redirect?to={site.article_url(2)}")).url == site.article_url(2)
        with pytest.raises(FetchError, match="more than 5 redirects"):
            fetcher.get(site.url("/loop/0"))
        with pytest.raises(FetchError, match="not an HTML page"):
            fetcher.get(site.url("/file.pdf"))
        with pytest.raises(FetchError, match="HTTP 404"):
            fetcher.get(site.url("/status/404"))
    limits = FetchLimits(allow_private=True, max_bytes=100_000, timeout=5)
    with Fetcher(limits) as fetcher, pytest.raises(FetchError, match="larger than 100,000 bytes"):
        fetcher.get(site.url("/endless"), accept=())
    limits = FetchLimits(allow_private=True, timeout=0.5)
    with Fetcher(limits) as fetcher, pytest.raises(FetchError, match=r"0\.5 s"):
        fetcher.get(site.url("/slow"), accept=())


def test_a_news_page_becomes_an_article_with_title_date_and_url(site: NewsServer) -> None:
    story = site.story(3)
    fetched = fetch_article(site.article_url(3), limits=ALLOW)
    article = fetched.article
    assert article.title == story.title
    assert article.date == story.date
    assert article.source == site.article_url(3)
    assert all(s.text in story.text for s in article.sentences)  # verbatim, no navigation or footer
    assert "Impressum" not in article.body and "Meistgelesen" not in article.body
    with pytest.raises(NoArticleError, match="no article text"):
        fetch_article(site.url("/empty.html"), limits=ALLOW)


class Recorder:
    """Indexes into a real NewsQA and remembers what it was asked to index."""

    def __init__(self, qa: NewsQA) -> None:
        self.qa = qa
        self.articles: list[Article] = []

    def __call__(self, article: Article) -> IndexResult:
        self.articles.append(article)
        return self.qa.index_article(article)


@pytest.fixture(scope="module")
def qa(tmp_path_factory: pytest.TempPathFactory) -> NewsQA:
    from retriever.settings import Settings

    service = NewsQA(Settings(data_dir=tmp_path_factory.mktemp("feeds-core"), index_default=False))
    service.warm_up()
    return service


def test_poller_indexes_new_entries_once_and_honours_etags(
    site: NewsServer, qa: NewsQA, tmp_path: Path
) -> None:
    site.add_entries("core", [10, 11], kind="atom")
    registry = FeedRegistry(f"sqlite:///{tmp_path / 'bot.sqlite3'}")
    feed, new = registry.add(site.url("/feed/core.xml"))
    assert new and registry.add(site.url("/feed/core.xml")) == (registry.get(feed.id), False)
    recorder = Recorder(qa)
    poller = FeedPoller(registry, recorder, ALLOW, interval=60)
    first = poller.poll()
    assert [e.status for e in first.entries] == [INDEXED, INDEXED]
    assert not any(e.announce for e in first.entries)  # first poll: indexed, not announced
    assert registry.quiet_article_ids([e.article_id or "" for e in first.entries]) == {
        e.article_id for e in first.entries
    }
    assert poller.poll().feeds == []  # not due yet
    before = site.not_modified
    again = poller.poll(force=True)
    assert again.feeds[0].status == "not_modified" and site.not_modified == before + 1 and not again.entries
    # a new entry, and the same story as entry 10 under a second link
    site.add_entries("core", [12])
    site.feeds["core"].entries.append(("urn:test:core:copy", site.article_url(10) + "?utm=x", 10))
    third = poller.poll(force=True)
    assert [(e.status, e.announce) for e in third.entries] == [(INDEXED, True), (DUPLICATE, True)]
    assert third.entries[1].article_id == first.entries[0].article_id
    assert [e.title for e in third.announced] == [site.story(12).title]
    # a new registry on the same database (a restart): nothing is repeated
    poller.close()
    registry.close()
    registry = FeedRegistry(f"sqlite:///{tmp_path / 'bot.sqlite3'}")
    poller = FeedPoller(registry, recorder, ALLOW, interval=60)
    assert not poller.poll(force=True).entries
    assert len(recorder.articles) == 3
    assert registry.feeds()[0].entries == 3
    poller.close()


def test_failing_feeds_back_off_and_never_stop_the_others(
    site: NewsServer, qa: NewsQA, tmp_path: Path
) -> None:
    site.add_entries("good", [20])
    registry = FeedRegistry(f"sqlite:///{tmp_path / 'bot.sqlite3'}")
    bad = {
        "404": "/status/404",
        "500": "/status/500",
        "timeout": "/slow",
        "not a feed": "/notafeed",
        "endless": "/endless",
        "refused": "/redirect?to=ftp://example.org/x",
    }
    ids = {name: registry.add(site.url(path))[0].id for name, path in bad.items()}
    good = registry.add(site.url("/feed/good.xml"))[0].id
    limits = FetchLimits(timeout=1.0, allow_private=True, max_bytes=200_000)
    poller = FeedPoller(registry, qa.index_article, limits, interval=60)
    report = poller.poll()
    by_id = {f.feed_id: f for f in report.feeds}
    assert by_id[good].status == "ok" and [e.status for e in report.entries] == [INDEXED]
    feeds = {f.id: f for f in registry.feeds()}
    expected = {
        "404": "HTTP 404",
        "500": "HTTP 500",
        "timeout": "1 s",
        "not a feed": "not an RSS or Atom feed",
        "endless": "larger than 200,000 bytes",
        "refused": "only http and https",
    }
    now = dt.datetime.now(dt.UTC)
    for name, feed_id in ids.items():
        feed = feeds[feed_id]
        assert by_id[feed_id].status == "failed"
        assert feed.failures == 1 and expected[name] in (feed.last_error or ""), (name, feed.last_error)
        assert feed.next_poll_at is not None and feed.next_poll_at > now + dt.timedelta(seconds=100)
    poller.poll(force=True)
    assert registry.get(ids["404"]).failures == 2  # type: ignore[union-attr]
    assert registry.get(good).failures == 0  # type: ignore[union-attr]
    poller.close()


def test_scoped_questions_rank_only_that_article(qa: NewsQA) -> None:
    articles = qa.articles()
    assert len(articles) >= 2
    target = articles[-1]
    question = "Was wurde berichtet?"
    _, ranked = qa.ask_with_evidence(question, target.article_id)
    assert ranked and {d.meta["article_id"] for d in ranked} == {target.article_id}
    _, unknown = qa.ask_with_evidence(question, "000000000000")  # unknown id: all articles
    assert unknown
