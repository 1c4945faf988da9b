"""A raw-socket HTTP server on 127.0.0.1 that misbehaves on purpose, for the hostile-input tests.

tests/bot/news_server.py (aiohttp) serves well-formed news pages and feeds; this one controls every
byte on the wire, which aiohttp cannot: a status line trickled one byte at a time, a body with an
invalid byte under a UTF-8 header, any content type. Each path maps to a `Route`; unknown paths
get a 404. It runs in daemon threads (one per connection), so blocking code and subprocesses (the
`newsqa` CLI) can use it alike.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass
class Route:
    body: bytes = b""
    content_type: str = "text/html; charset=utf-8"
    status: str = "200 OK"
    headers: tuple[tuple[str, str], ...] = ()
    trickle_every: float = 0.0  # > 0: the whole response, status line first, one byte at a time
    give_up_after: float = 30.0  # a trickle closes the connection then (an unfixed client fails, not hangs)

    def response(self) -> bytes:
        head = [f"HTTP/1.1 {self.status}", f"Content-Length: {len(self.body)}", "Connection: close"]
        if self.content_type:
            head.append(f"Content-Type: {self.content_type}")
        head += [f"{name}: {value}" for name, value in self.headers]
        return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + self.body


class HostileServer:
    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[str] = []  # request paths, in order of arrival
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self.port = self._listener.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._stopped = threading.Event()

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def route(self, path: str, **fields: object) -> str:
        """Serve `Route(**fields)` at `path`; returns its URL."""
        self.routes[path] = Route(**fields)  # type: ignore[arg-type]
        return self.url(path)

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(10)
            request = b""
            try:
                while b"\r\n\r\n" not in request and len(request) < 65536:
                    chunk = conn.recv(4096)
                    if not chunk:
                        return
                    request += chunk
            except OSError:
                return
            target = request.split(b" ", 2)[1].decode("latin-1") if request.count(b" ") >= 2 else "/"
            path = target.split("?", 1)[0]
            self.requests.append(path)
            route = self.routes.get(path) or Route(b"not found", "text/plain", "404 Not Found")
            data = route.response()
            try:
                if route.trickle_every <= 0:
                    conn.sendall(data)
                    return
                started = time.monotonic()
                for byte in data:
                    if self._stopped.is_set() or time.monotonic() - started > route.give_up_after:
                        return
                    conn.sendall(bytes([byte]))
                    time.sleep(route.trickle_every)
            except OSError:
                return  # the client gave up: what a deadline is for

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def start(self) -> HostileServer:
        threading.Thread(target=self._accept, name="hostile-server", daemon=True).start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        self._listener.close()


@contextmanager
def hostile_server() -> Iterator[HostileServer]:
    server = HostileServer().start()
    try:
        yield server
    finally:
        server.stop()


# a short German news story with umlauts, long enough for trafilatura to take it as an article
LUEBECK = [
    "Der Stadtrat von Lübeck hat am Montag über den neuen Hafen beraten und dabei lange gestritten.",
    "Die Bürgerinnen und Bürger sollen im Frühjahr über das Vorhaben abstimmen, sagte die Sprecherin.",
    "Kritiker befürchten höhere Kosten für die Stadt, die schon jetzt große Schulden hat.",
]


def news_page(paragraphs: list[str], title: str = "Testartikel", charset: str | None = "utf-8") -> str:
    """A small news page (one <article>) whose text trafilatura extracts."""
    meta = f'<meta charset="{charset}">' if charset else ""
    body = "\n".join(f"<p>{p}</p>" for p in paragraphs)
    return (
        f"<!DOCTYPE html><html lang='de'><head>{meta}<title>{title}</title></head><body>"
        f"<nav><a href='/'>Start</a></nav><main><article><h1>{title}</h1>{body}</article></main>"
        "<footer>Impressum</footer></body></html>"
    )
