"""Hostile servers and URLs against the fetcher, without models: one deadline per fetch, every bad
URL one clear refusal, the declared charset decides, media types named for what they are."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pytest

from retriever.web import fetch_article
from retriever.web.charset import declared_charset, decode_page
from retriever.web.fetch import (
    FEED_TYPES,
    Fetcher,
    FetchError,
    FetchLimits,
    InvalidURLError,
    RefusedURLError,
    check_url,
    normalise_url,
)
from tests.web.hostile_server import LUEBECK, HostileServer, hostile_server, news_page

ALLOW = FetchLimits(timeout=3.0, allow_private=True)


@pytest.fixture(scope="module")
def server() -> Iterator[HostileServer]:
    with hostile_server() as running:
        yield running


@pytest.mark.parametrize("what", ["page", "feed"])
def test_a_trickled_status_line_is_cut_off_at_the_deadline(server: HostileServer, what: str) -> None:
    # one byte every 2 s: each read succeeds within any per-read timeout, so only a deadline over
    # the whole fetch stops it (before the fix: until the server gave up, 30 s)
    url = server.route(f"/trickle-{what}", body=b"<html></html>", trickle_every=2.0)
    accept = FEED_TYPES if what == "feed" else ("text/html",)
    with Fetcher(FetchLimits(timeout=5.0, allow_private=True)) as fetcher:
        started = time.monotonic()
        with pytest.raises(FetchError) as raised:
            fetcher.get(url, accept=accept, what=what)
        elapsed = time.monotonic() - started
    assert elapsed <= 6.0, elapsed
    assert str(raised.value) == f"{url}: took longer than 5 s; stopped"


def test_a_fetch_after_a_cut_off_one_works_again(server: HostileServer) -> None:
    slow = server.route("/trickle-again", body=b"x", trickle_every=0.5)
    fine = server.route("/fine", body=news_page(LUEBECK).encode())
    with Fetcher(FetchLimits(timeout=1.0, allow_private=True)) as fetcher:
        with pytest.raises(FetchError, match="took longer than 1 s"):
            fetcher.get(slow)
        assert fetcher.get(fine).status == 200


@pytest.mark.parametrize(
    "url",
    [
        "http://0177.0.0.1/artikel.html",  # octal IPv4: httpx.InvalidURL, a traceback before
        "http://256.1.1.1/",
        "http://[::1/",
        "http://example.org:8o/",
        "http://xn--/",  # idna's UnicodeError, at request time
        "http://a..b/",  # an empty label: the resolver's UnicodeError
        "http://example.org:99999/",
        "https://",
    ],
)
def test_malformed_urls_are_one_line_refusals_naming_the_url(url: str) -> None:
    with pytest.raises(InvalidURLError) as raised:
        check_url(url, allow_private=True)
    message = str(raised.value)
    assert message.startswith(url.strip()[:50]) and "\n" not in message, message
    with Fetcher(ALLOW) as fetcher, pytest.raises(InvalidURLError):
        fetcher.get(url)


@pytest.mark.parametrize("url", ["file:///etc/passwd", "javascript:alert(1)", "ftp://example.org/x"])
def test_other_schemes_are_refusals_naming_the_url(url: str) -> None:
    with pytest.raises(RefusedURLError, match="only http and https") as raised:
        check_url(url)
    assert str(raised.value).startswith(url)


def test_a_redirect_to_a_malformed_url_is_a_fetch_error_not_a_traceback(server: HostileServer) -> None:
    url = server.route("/to-octal", status="302 Found", headers=(("Location", "http://0177.0.0.1/x"),))
    with Fetcher(ALLOW) as fetcher, pytest.raises(FetchError, match=r"^http://127\.0\.0\.1.*0177\.0\.0\.1"):
        fetcher.get(url)


def test_one_url_has_one_spelling() -> None:
    assert normalise_url("HTTP://Example.ORG:80/feed.xml#x") == "http://example.org/feed.xml"
    assert normalise_url("https://example.org:443") == "https://example.org/"
    assert normalise_url("http://example.org:8080/a?b=1#c") == "http://example.org:8080/a?b=1"
    assert check_url(" HTTP://example.org/feed.xml#top ") == "http://example.org/feed.xml"


def test_the_declared_charset_decides_and_one_bad_byte_stays_one(server: HostileServer) -> None:
    page = news_page(LUEBECK).encode("utf-8").replace(b"Montag", b"Mon\xfftag")  # one bad byte
    url = server.route("/bad-byte.html", body=page, content_type="text/html; charset=utf-8")
    article = fetch_article(url, limits=ALLOW).article
    text = " ".join(s.text for s in article.sentences)
    assert "über" in text and "Lübeck" in text and "Bürgerinnen" in text, text
    assert "Ã" not in text and "Ä‚" not in text
    assert "Mon\ufffdtag" in text  # only the bad byte is replaced


def test_a_meta_charset_decides_when_the_header_names_none(server: HostileServer) -> None:
    quoted = [p.replace("sagte", "„sagte“") for p in LUEBECK]
    page = news_page(quoted, charset="iso-8859-1").encode("cp1252")  # "Latin-1" pages use cp1252's „“
    url = server.route("/latin.html", body=page, content_type="text/html")
    text = " ".join(s.text for s in fetch_article(url, limits=ALLOW).article.sentences)
    assert "Lübeck" in text and "„sagte“" in text, text


def test_charset_order_bom_header_meta_then_a_guess() -> None:
    bom = declared_charset(b"\xef\xbb\xbf<html>", "text/html; charset=iso-8859-1")
    assert bom == ("utf-8", "byte-order mark")
    header = declared_charset(b'<meta charset="latin1">', "text/html; charset=UTF-8")
    assert header == ("utf-8", "HTTP header")
    assert declared_charset(b'<meta charset="latin1">', "text/html") == ("cp1252", "meta tag")
    assert declared_charset(b"<meta charset=bogus>", "text/html; charset=nonsense") is None
    assert decode_page("Grüße".encode()) == "Grüße"  # undeclared: UTF-8 when it decodes as UTF-8
    assert decode_page("Grüße aus Lübeck, sagte er.".encode("cp1252")).startswith("Gr")


def test_an_image_is_named_as_an_image(server: HostileServer) -> None:
    url = server.route("/bild.png", body=b"\x89PNG\r\n\x1a\n", content_type="image/png")
    with Fetcher(ALLOW) as fetcher:
        with pytest.raises(FetchError, match=r"this is an image \(image/png\), not an HTML page"):
            fetcher.get(url)
        with pytest.raises(FetchError, match=r"this is an image \(image/png\), not an RSS or Atom feed"):
            fetcher.get(url, accept=FEED_TYPES, what="feed")


def test_trafilatura_logs_nothing_about_an_empty_page(
    server: HostileServer, caplog: pytest.LogCaptureFixture
) -> None:
    url = server.route("/empty-doc.html", body=b"   ", content_type="text/html; charset=utf-8")
    with caplog.at_level(logging.WARNING), pytest.raises(FetchError, match="no article text"):
        fetch_article(url, limits=ALLOW)
    assert not [r for r in caplog.records if r.name.startswith(("trafilatura", "htmldate"))], caplog.text
