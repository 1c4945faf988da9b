"""Fetching web pages and feeds safely: http(s) only, public addresses only, everything capped.

An admin pastes a link, or a feed names one: newsqa must never be turned into a tool that reads the
server's own network (cloud metadata at 169.254.169.254, a database on localhost, an intranet). So:

- only `http` and `https` URLs, without user:password@;
- every address a host name resolves to must be public (`ipaddress.is_global`: no loopback, private,
  link-local, CGNAT, multicast or reserved ranges, IPv4-mapped IPv6 included). This is checked where
  the socket is opened (a guarded httpcore network backend), so it holds for every redirect and every
  connection and a DNS answer cannot change between the check and the connect. Redirects are
  followed by hand, each target checked again, at most `max_redirects` of them;
- a total time budget (not only per read: a server that trickles one byte a second is cut off), a
  byte cap on the body (an endless page is cut off and reported), and a content-type check.

`NEWSQA_ALLOW_PRIVATE_URLS=1` switches the address check off (tests, intranet deployments).
Environment proxies are ignored (`trust_env=False`): a proxy would bypass the address check.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpcore
import httpx

from retriever.errors import NewsQAError

USER_AGENT = "newsqa/0.1 (+https://github.com/newsqa; news question answering)"
HTML_TYPES = ("text/html", "application/xhtml+xml")
FEED_TYPES = (
    "application/rss+xml",
    "application/atom+xml",
    "application/rdf+xml",
    "application/feed+json",
    "application/xml",
    "text/xml",
    # servers label feeds carelessly; feedparser decides whether it is one
    "text/html",
    "text/plain",
    "application/octet-stream",
    "",
)


class FetchError(NewsQAError):
    """A URL could not be fetched; `str()` says why in one line (shown to admins as it is)."""


class UnsafeURLError(FetchError):
    """The URL, or a redirect, points somewhere newsqa must not go."""


@dataclass(frozen=True)
class FetchLimits:
    """Caps of one fetch. The defaults suit news pages and feeds; tests use smaller ones."""

    timeout: float = 15.0  # seconds for the whole fetch, redirects included
    connect_timeout: float = 5.0
    max_bytes: int = 5_000_000
    max_redirects: int = 5
    allow_private: bool = False


@dataclass(frozen=True)
class FetchResult:
    url: str  # the final URL, after redirects
    status: int
    content_type: str
    body: bytes
    headers: dict[str, str]
    elapsed: float

    @property
    def not_modified(self) -> bool:
        return self.status == 304


def address_is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def _resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchError(f"cannot resolve host {host!r} ({exc})") from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class _GuardedBackend(httpcore.SyncBackend):
    """Opens a connection only to public addresses, connecting to the very address it checked."""

    def __init__(self, allow_private: bool) -> None:
        self.allow_private = allow_private

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[tuple[int, int, int] | tuple[int, int, bytes | bytearray]] | None = None,
    ) -> httpcore.NetworkStream:
        if self.allow_private:
            return super().connect_tcp(host, port, timeout, local_address, socket_options)
        addresses = _resolve(host, port)
        refused = [a for a in addresses if not address_is_public(a)]
        if refused or not addresses:
            raise UnsafeURLError(
                f"refusing to connect to {host} ({', '.join(refused) or 'no address'}): not a public "
                "address (set NEWSQA_ALLOW_PRIVATE_URLS=1 to allow private networks)"
            )
        last: Exception | None = None
        for address in addresses:
            try:
                return super().connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last


def check_url(url: str, allow_private: bool = False) -> str:
    """The URL, stripped, when it may be fetched; raises UnsafeURLError (or FetchError) otherwise.
    Host names are resolved at connect time (see `_GuardedBackend`); literal addresses and
    `localhost` are refused here already, so the message is clear before any network traffic."""
    url = url.strip()
    if len(url) > 2000:
        raise FetchError("the URL is longer than 2000 characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise FetchError(f"not a valid URL: {url[:100]!r} ({exc})") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise UnsafeURLError(f"only http and https links can be fetched, not {parts.scheme or 'no scheme'!r}")
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise FetchError(f"the URL has no host name: {url[:100]!r}")
    if parts.username is not None or parts.password is not None:
        raise UnsafeURLError("links with a user name or password are not fetched")
    if port == 0:
        raise FetchError(f"not a valid URL: {url[:100]!r} (port 0)")
    if not allow_private:
        if host == "localhost" or host.endswith((".localhost", ".local", ".internal")):
            raise UnsafeURLError(f"refusing to fetch {host}: a local name (set NEWSQA_ALLOW_PRIVATE_URLS=1)")
        try:
            literal = host.strip("[]")
            public = address_is_public(literal)
        except ValueError:
            public = True  # a name: checked when the connection is opened
        if not public:
            raise UnsafeURLError(
                f"refusing to fetch {host}: not a public address (set NEWSQA_ALLOW_PRIVATE_URLS=1)"
            )
    return url


def _mime(content_type: str) -> str:
    return content_type.split(";")[0].strip().lower()


class Fetcher:
    """A reusable, thread-safe HTTP client with the safety rules above."""

    def __init__(self, limits: FetchLimits | None = None) -> None:
        self.limits = limits or FetchLimits()
        transport = httpx.HTTPTransport(trust_env=False, retries=0)
        # the one place that opens sockets; httpx exposes no public hook for it
        transport._pool._network_backend = _GuardedBackend(self.limits.allow_private)  # type: ignore[union-attr]
        timeout = httpx.Timeout(self.limits.timeout, connect=self.limits.connect_timeout)
        self._client = httpx.Client(
            transport=transport,
            timeout=timeout,
            follow_redirects=False,
            trust_env=False,
            headers={"User-Agent": USER_AGENT, "Accept-Language": "de,en;q=0.8"},
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(
        self,
        url: str,
        *,
        accept: tuple[str, ...] = HTML_TYPES,
        headers: dict[str, str] | None = None,
        what: str = "page",
    ) -> FetchResult:
        """GET `url`, following redirects by hand. Raises FetchError with a one-line reason."""
        limits = self.limits
        started = time.monotonic()
        deadline = started + limits.timeout
        current = check_url(url, limits.allow_private)
        for _hop in range(limits.max_redirects + 1):
            left = deadline - time.monotonic()
            if left <= 0:
                raise FetchError(f"{current}: took longer than {limits.timeout:g} s; stopped")
            timeout = httpx.Timeout(left, connect=min(limits.connect_timeout, left))
            try:
                with self._client.stream("GET", current, headers=headers or {}, timeout=timeout) as response:
                    if response.status_code == 304:
                        return FetchResult(current, 304, "", b"", dict(response.headers), 0.0)
                    if response.status_code in (301, 302, 303, 307, 308):
                        location = response.headers.get("location", "")
                        if not location:
                            raise FetchError(f"{current}: redirect without a Location header")
                        current = check_url(urljoin(current, location), limits.allow_private)
                        continue
                    if response.status_code >= 400:
                        reason = response.reason_phrase or "error"
                        raise FetchError(f"{current}: HTTP {response.status_code} {reason}")
                    content_type = response.headers.get("content-type", "")
                    if accept and _mime(content_type) not in accept:
                        raise FetchError(
                            f"{current}: not an HTML {what} (content type {_mime(content_type) or 'none'!r})"
                        )
                    declared = response.headers.get("content-length", "")
                    if declared.isdigit() and int(declared) > limits.max_bytes:
                        raise FetchError(
                            f"{current}: the {what} is too large ({int(declared):,} bytes, "
                            f"limit {limits.max_bytes:,})"
                        )
                    body = bytearray()
                    for chunk in response.iter_bytes():
                        body += chunk
                        if len(body) > limits.max_bytes:
                            raise FetchError(
                                f"{current}: the {what} is larger than {limits.max_bytes:,} bytes; stopped"
                            )
                        if time.monotonic() > deadline:
                            raise FetchError(f"{current}: took longer than {limits.timeout:g} s; stopped")
                    return FetchResult(
                        current,
                        response.status_code,
                        content_type,
                        bytes(body),
                        dict(response.headers),
                        time.monotonic() - started,
                    )
            except httpx.TimeoutException:
                raise FetchError(f"{current}: no answer within {limits.timeout:g} s (timeout)") from None
            except httpx.TooManyRedirects:  # pragma: no cover - redirects are followed by hand
                raise FetchError(f"{current}: too many redirects") from None
            except httpx.HTTPError as exc:
                raise FetchError(f"{current}: {type(exc).__name__}: {exc or 'connection failed'}") from None
        raise FetchError(f"{url}: more than {limits.max_redirects} redirects")
