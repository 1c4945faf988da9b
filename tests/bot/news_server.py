"""A local news site on 127.0.0.1 for the link and feed tests and the feeds benchmark.

Pages and feeds are built from real German news (10kGNAD, rows 0–511 only, read at test time from
../shared/data/10kGNAD/test.csv next to the repository, never copied into it). It serves:

- `/article/{n}.html` a news page of row n (navigation, header, <time>, og: meta, footer), cut to a
  few sentences to keep embedding short; `/words/{n}.html` a page of about n words;
- `/feed/{name}.xml` an RSS 2.0 or Atom feed of the entries in `server.feeds[name]`, with an ETag
  (and Last-Modified) that answers 304 to a matching conditional GET;
- failure modes: `/status/{code}`, `/slow` (answers after `slow_seconds`), `/notafeed` (an HTML
  page), `/endless` (a body that never ends), `/empty.html` (a page without article text),
  `/redirect?to=URL` and `/loop/{n}` (redirects), `/file.pdf` (not HTML).

The server runs in its own thread with its own event loop, so blocking code (the feed poller) and
async tests can both use it.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import html
import threading
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

REPO_ROOT = Path(__file__).resolve().parents[2]
GNAD_TEST = REPO_ROOT.parent / "shared" / "data" / "10kGNAD" / "test.csv"
MAX_ROW = 512  # rows 0–511 only: the rest is for training


def load_news(limit: int = MAX_ROW) -> list[tuple[str, str]]:
    """(category, text) of up to `limit` of the rows 0–511 (those long enough for a page); [] when
    the data set is absent."""
    if not GNAD_TEST.exists():
        return []
    rows: list[tuple[str, str]] = []
    with GNAD_TEST.open(encoding="utf-8", newline="") as handle:
        for number, row in enumerate(csv.reader(handle, delimiter=";", quotechar="'")):
            if number >= MAX_ROW or len(rows) >= limit:
                break
            if len(row) >= 2 and len(row[1]) >= 800:  # long enough for a page of a few sentences
                rows.append((row[0], row[1]))
    return rows


def sentences_of(text: str) -> list[str]:
    from retriever.ingest import split_sentences

    return [s.text for s in split_sentences(text)]


@dataclass
class Story:
    n: int
    category: str
    title: str
    date: str  # YYYY-MM-DD
    paragraphs: list[str]

    @property
    def text(self) -> str:
        return " ".join(self.paragraphs)


@dataclass
class FeedSpec:
    kind: str = "rss"  # rss | atom
    entries: list[tuple[str, str, int]] = field(default_factory=list)  # (guid, link, story n)
    title: str = "Testnachrichten"


class NewsServer:
    def __init__(self, news: list[tuple[str, str]], sentences: int = 5) -> None:
        self.news = news
        self.sentences = sentences
        self.feeds: dict[str, FeedSpec] = {}
        self.slow_seconds = 5.0
        self.requests: list[str] = []
        self.not_modified = 0
        self.base_url = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._cache: dict[int, Story] = {}

    # -- content --------------------------------------------------------------------------------

    def story(self, n: int) -> Story:
        if n not in self._cache:
            category, text = self.news[n % len(self.news)]
            found = sentences_of(text)
            # Story n and story n + len(news) come from the same row: the later one takes the next
            # sentences of it, so that a large site (a benchmark) has no two pages with the same text.
            window = 1 + (n // len(self.news)) * self.sentences
            lead, rest = found[0], found[window : window + self.sentences] or found[1 : self.sentences + 1]
            if window > 1 and rest:
                lead = rest[0]
            words = lead.split()
            title = " ".join(words[:9]).rstrip(",.:;") + (" …" if len(words) > 9 else "")
            half = max(1, len(rest) // 2)
            paragraphs = [" ".join(rest[:half]), " ".join(rest[half:])] if len(rest) > 1 else rest
            month = 1 + n % 12
            day = 1 + n % 28
            self._cache[n] = Story(
                n, category, f"{category}: {title}", f"2016-{month:02d}-{day:02d}", paragraphs
            )
        return self._cache[n]

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def article_url(self, n: int) -> str:
        return self.url(f"/article/{n}.html")

    @staticmethod
    def page(title: str, date: str, paragraphs: list[str], category: str = "Nachrichten") -> str:
        body = "\n".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
        return f"""<!DOCTYPE html>
<html lang="de"><head><meta charset="utf-8">
<title>{html.escape(title)} | {html.escape(category)} | Testzeitung</title>
<meta property="og:title" content="{html.escape(title)}">
<meta property="article:published_time" content="{date}T08:30:00+01:00">
<meta name="description" content="{html.escape(paragraphs[0][:150])}">
</head><body>
<header><a href="/">Testzeitung</a><nav><a href="/politik">Politik</a> <a href="/wirtschaft">Wirtschaft</a>
<a href="/sport">Sport</a> <a href="/kultur">Kultur</a></nav></header>
<main><article><h1>{html.escape(title)}</h1>
<p class="meta">Von unserer Redaktion · <time datetime="{date}">{date}</time></p>
{body}
</article>
<aside><h2>Meistgelesen</h2><ul><li><a href="/a">Wetter: Sonne am Wochenende</a></li>
<li><a href="/b">Verkehr: Baustelle auf der A1</a></li></ul></aside></main>
<footer>© Testzeitung · <a href="/impressum">Impressum</a> · <a href="/datenschutz">Datenschutz</a></footer>
</body></html>"""

    def feed_document(self, name: str) -> str:
        spec = self.feeds[name]
        items = []
        for guid, link, n in reversed(spec.entries):  # newest first, as feeds are
            story = self.story(n)
            if spec.kind == "atom":
                items.append(
                    f"<entry><id>{html.escape(guid)}</id><title>{html.escape(story.title)}</title>"
                    f'<link rel="alternate" href="{html.escape(link)}"/>'
                    f"<updated>{story.date}T08:30:00Z</updated>"
                    f"<summary>{html.escape(story.paragraphs[0][:200])}</summary></entry>"
                )
            else:
                items.append(
                    f'<item><guid isPermaLink="false">{html.escape(guid)}</guid>'
                    f"<title>{html.escape(story.title)}</title><link>{html.escape(link)}</link>"
                    f"<pubDate>Mon, 0{1 + n % 9} Feb 2016 08:30:00 GMT</pubDate>"
                    f"<description>{html.escape(story.paragraphs[0][:200])}</description></item>"
                )
        if spec.kind == "atom":
            return (
                '<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">'
                f"<title>{html.escape(spec.title)}</title><id>{self.url('/feed/' + name)}</id>"
                f"<updated>2016-02-01T08:30:00Z</updated>{''.join(items)}</feed>"
            )
        return (
            '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
            f"<title>{html.escape(spec.title)}</title><link>{self.base_url}/</link>"
            f"<description>Tests</description>{''.join(items)}</channel></rss>"
        )

    def add_entries(self, name: str, stories: list[int], kind: str = "rss") -> None:
        spec = self.feeds.setdefault(name, FeedSpec(kind=kind))
        for n in stories:
            spec.entries.append((f"urn:test:{name}:{n}", self.article_url(n), n))

    # -- handlers -------------------------------------------------------------------------------

    async def _article(self, request: web.Request) -> web.Response:
        story = self.story(int(request.match_info["n"]))
        page = self.page(story.title, story.date, story.paragraphs, story.category)
        return web.Response(text=page, content_type="text/html", charset="utf-8")

    async def _words(self, request: web.Request) -> web.Response:
        want = int(request.match_info["n"])
        paragraphs: list[str] = []
        current: list[str] = []
        count, row = 0, 0
        while count < want:
            for sentence in sentences_of(self.news[row % len(self.news)][1]):
                current.append(sentence)
                count += len(sentence.split())
                if len(current) == 5:
                    paragraphs.append(" ".join(current))
                    current = []
                if count >= want:
                    break
            row += 1
        if current:
            paragraphs.append(" ".join(current))
        page = self.page(f"Langer Bericht mit {want} Wörtern", "2016-05-04", paragraphs)
        return web.Response(text=page, content_type="text/html", charset="utf-8")

    async def _feed(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in self.feeds:
            return web.Response(status=404, text="not found")
        body = self.feed_document(name)
        etag = '"' + hashlib.sha256(body.encode()).hexdigest()[:16] + '"'
        if request.headers.get("If-None-Match") == etag:
            self.not_modified += 1
            return web.Response(status=304, headers={"ETag": etag})
        kind = "application/atom+xml" if self.feeds[name].kind == "atom" else "application/rss+xml"
        return web.Response(
            text=body,
            content_type=kind,
            charset="utf-8",
            headers={"ETag": etag, "Last-Modified": "Mon, 01 Feb 2016 08:30:00 GMT"},
        )

    async def _status(self, request: web.Request) -> web.Response:
        return web.Response(status=int(request.match_info["code"]), text="error page")

    async def _slow(self, request: web.Request) -> web.Response:
        await asyncio.sleep(self.slow_seconds)
        return web.Response(text="<rss version='2.0'><channel></channel></rss>", content_type="text/xml")

    async def _notafeed(self, request: web.Request) -> web.Response:
        return web.Response(text="<html><body><h1>Willkommen</h1></body></html>", content_type="text/html")

    async def _endless(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/rss+xml"})
        await response.prepare(request)
        await response.write(b'<?xml version="1.0"?><rss version="2.0"><channel>')
        chunk = b"<item><title>" + b"x" * 8000 + b"</title></item>"
        try:
            while True:
                await response.write(chunk)
        except (ConnectionError, asyncio.CancelledError):
            pass
        return response

    async def _empty(self, request: web.Request) -> web.Response:
        page = (
            "<html><head><title>Startseite</title></head><body><nav><a href='/a'>Politik</a>"
            "<a href='/b'>Sport</a></nav><p>Kurz.</p><footer>Impressum</footer></body></html>"
        )
        return web.Response(text=page, content_type="text/html")

    async def _redirect(self, request: web.Request) -> web.Response:
        raise web.HTTPFound(request.query["to"])

    async def _redirect_loop(self, request: web.Request) -> web.Response:
        raise web.HTTPFound(f"/loop/{int(request.match_info['n']) + 1}")

    async def _pdf(self, request: web.Request) -> web.Response:
        return web.Response(body=b"%PDF-1.4", content_type="application/pdf")

    # -- running --------------------------------------------------------------------------------

    def _app(self) -> web.Application:
        app = web.Application()

        @web.middleware
        async def count(request: web.Request, handler):  # type: ignore[no-untyped-def]
            self.requests.append(request.path)
            return await handler(request)

        app.middlewares.append(count)
        app.router.add_get("/article/{n:\\d+}.html", self._article)
        app.router.add_get("/words/{n:\\d+}.html", self._words)
        app.router.add_get("/feed/{name}.xml", self._feed)
        app.router.add_get("/status/{code:\\d+}", self._status)
        app.router.add_get("/slow", self._slow)
        app.router.add_get("/notafeed", self._notafeed)
        app.router.add_get("/endless", self._endless)
        app.router.add_get("/empty.html", self._empty)
        app.router.add_get("/redirect", self._redirect)
        app.router.add_get("/loop/{n:\\d+}", self._redirect_loop)
        app.router.add_get("/file.pdf", self._pdf)
        return app

    def start(self) -> NewsServer:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop

            async def serve() -> None:
                self._runner = web.AppRunner(self._app(), access_log=None)
                await self._runner.setup()
                site = web.TCPSite(self._runner, "127.0.0.1", 0)
                await site.start()
                port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
                self.base_url = f"http://127.0.0.1:{port}"
                ready.set()

            loop.run_until_complete(serve())
            loop.run_forever()
            loop.run_until_complete(self._runner.cleanup() if self._runner else asyncio.sleep(0))
            loop.close()

        self._thread = threading.Thread(target=run, name="news-server", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the news server did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    def __enter__(self) -> NewsServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
