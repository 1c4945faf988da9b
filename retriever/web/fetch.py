"""Fetching web pages and feeds safely: http(s) only, public addresses only, everything capped.

An admin pastes a link, or a feed names one: newsqa must never be turned into a tool that reads the
server's own network (cloud metadata at 169.254.169.254, a database on localhost, an intranet). So:

- only `http` and `https` URLs, without user:password@;
- every address a host name resolves to must be public (`ipaddress.is_global`: no loopback, private,
  link-local, CGNAT, multicast or reserved ranges, IPv4-mapped IPv6 included). This is checked where
  the socket is opened (a guarded httpcore network backend), so it holds for every redirect and every
  connection and a DNS answer cannot change between the check and the connect. Redirects are
  followed by hand, each target checked again, at most `max_redirects` of them;
- one wall-clock deadline per fetch (`FetchLimits.timeout`) over everything: name resolution,
  connect, TLS, status line, headers, body and every redirect. Each socket read and write waits at
  most the time left, and the fetch runs in a worker thread that the caller stops waiting for when
  the deadline passes (its sockets are shut down, so it ends too): a server that trickles its
  status line or headers one byte at a time cannot hold a command, a poll or the bot beyond it;
- a byte cap on the body (an endless page is cut off and reported), and a content-type check.

Every URL newsqa cannot use (malformed, another scheme, a private address) is a `RefusedURLError`
whose message starts with the URL: the CLI prints it as one `error: URL: reason` line, and the feed
poller refuses such an entry once instead of trying it again.

`NEWSQA_ALLOW_PRIVATE_URLS=1` switches the address check off (tests, intranet deployments).
Environment proxies are ignored (`trust_env=False`): a proxy would bypass the address check.
"""

from __future__ import annotations

import contextlib
import contextvars
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit, urlunsplit

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


class RefusedURLError(FetchError):
    """The URL itself can never be fetched: asking again will not help (a feed entry with such a
    link is refused once, not retried)."""


class UnsafeURLError(RefusedURLError):
    """The URL, or a redirect, points somewhere newsqa must not go."""


class InvalidURLError(RefusedURLError):
    """The URL is malformed (a bad host or port, say): no request can be made with it."""


def shown(url: str, limit: int = 200) -> str:
    """The URL as an error message shows it: one line, at most `limit` characters."""
    flat = "".join(c if c.isprintable() else "?" for c in url.strip())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


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


class _Deadline:
    """The wall-clock end of one fetch, and the sockets it has used: once it has passed, every read,
    write or connect refuses to wait, and `expire()` shuts the sockets down so that a read blocked
    in the kernel returns at once."""

    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds
        self.expired = False
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()

    def left(self) -> float:
        return self.end - time.monotonic()

    def bound(self, timeout: float | None, error: type[Exception]) -> float:
        """`timeout` cut to the time left; `error` (an httpcore timeout) when none is left."""
        left = self.left()
        if self.expired or left <= 0:
            raise error("the fetch's deadline has passed")
        return left if timeout is None else min(timeout, left)

    def watch(self, sock: socket.socket | None) -> None:
        if sock is None:
            return
        with self._lock:
            if not self.expired:
                self._sockets.add(sock)
                return
        _shut(sock)

    def expire(self) -> None:
        with self._lock:
            self.expired = True
            sockets, self._sockets = list(self._sockets), set()
        for sock in sockets:
            _shut(sock)


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed
        sock.shutdown(socket.SHUT_RDWR)


# The deadline of the fetch running in this thread (set by `Fetcher.get`'s worker thread).
_deadline: contextvars.ContextVar[_Deadline | None] = contextvars.ContextVar("newsqa_fetch", default=None)


def _bounded(timeout: float | None, error: type[Exception], stream: httpcore.NetworkStream) -> float | None:
    deadline = _deadline.get()
    if deadline is None:
        return timeout
    # watched at use, not at connect: a pooled connection serves the deadline of the fetch using it
    deadline.watch(stream.get_extra_info("socket"))
    return deadline.bound(timeout, error)


class _DeadlineStream(httpcore.NetworkStream):
    """A connection whose reads and writes never wait past the current fetch's deadline (httpx's
    own timeouts apply to each read alone: a byte every few seconds would keep it going forever)."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _bounded(timeout, httpcore.ReadTimeout, self._inner))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _bounded(timeout, httpcore.WriteTimeout, self._inner))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        bounded = _bounded(timeout, httpcore.ConnectTimeout, self._inner)
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, bounded))

    def get_extra_info(self, info: str) -> object:
        return self._inner.get_extra_info(info)


class _HostUnresolved(FetchError):
    """Raised where the connection is opened, which knows the host but not the URL (added later)."""


class _HostRefused(UnsafeURLError):
    """Raised where the connection is opened, which knows the host but not the URL (added later)."""


def _resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise _HostUnresolved(f"cannot resolve host {host!r} ({exc})") from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class _GuardedBackend(httpcore.SyncBackend):
    """Opens a connection only to public addresses, connecting to the very address it checked; every
    connection it opens keeps to the deadline of the fetch that uses it."""

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
        deadline = _deadline.get()
        if deadline is not None:
            timeout = deadline.bound(timeout, httpcore.ConnectTimeout)
        stream = _DeadlineStream(self._connect(host, port, timeout, local_address, socket_options))
        if deadline is not None:
            deadline.watch(stream.get_extra_info("socket"))  # type: ignore[arg-type]
        return stream

    def _connect(
        self,
        host: str,
        port: int,
        timeout: float | None,
        local_address: str | None,
        socket_options: Iterable[tuple[int, int, int] | tuple[int, int, bytes | bytearray]] | None,
    ) -> httpcore.NetworkStream:
        if self.allow_private:
            return super().connect_tcp(host, port, timeout, local_address, socket_options)
        addresses = _resolve(host, port)
        refused = [a for a in addresses if not address_is_public(a)]
        if refused or not addresses:
            raise _HostRefused(
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


def normalise_url(url: str) -> str:
    """One spelling per address: scheme and host in lower case, no default port, no fragment (never
    sent to the server), "/" for an empty path. `HTTP://Example.org:80/feed#x` and
    `http://example.org/feed` are one feed and one article source."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".")
    if ":" in host:
        host = f"[{host}]"  # an IPv6 literal
    port = parts.port
    netloc = host if port is None or (scheme, port) in (("http", 80), ("https", 443)) else f"{host}:{port}"
    return urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))


def check_url(url: str, allow_private: bool = False) -> str:
    """The URL, normalised (`normalise_url`), when it may be fetched; raises InvalidURLError or
    UnsafeURLError (both `RefusedURLError`, message "URL: reason") otherwise.
    Host names are resolved at connect time (see `_GuardedBackend`); literal addresses and
    `localhost` are refused here already, so the message is clear before any network traffic."""
    url = url.strip()
    if len(url) > 2000:
        raise InvalidURLError(f"{shown(url)}: the URL is longer than 2000 characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidURLError(f"{shown(url)}: not a valid URL ({exc})") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise UnsafeURLError(
            f"{shown(url)}: only http and https links can be fetched, not {parts.scheme or 'no scheme'!r}"
        )
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise InvalidURLError(f"{shown(url)}: the URL has no host name")
    if parts.username is not None or parts.password is not None:
        raise UnsafeURLError(f"{shown(url)}: links with a user name or password are not fetched")
    if port == 0:
        raise InvalidURLError(f"{shown(url)}: not a valid URL (port 0)")
    try:
        # what httpx or the resolver would refuse later, with a traceback or as a network error:
        # an octal IPv4 (0177.0.0.1), a malformed IDN (xn--), an empty or over-long label (a..b)
        _ = httpx.URL(url).host
        host.encode("idna")
    except (httpx.InvalidURL, ValueError) as exc:  # idna's errors are UnicodeErrors
        raise InvalidURLError(f"{shown(url)}: not a valid URL ({exc})") from None
    if not allow_private:
        if host == "localhost" or host.endswith((".localhost", ".local", ".internal")):
            raise UnsafeURLError(
                f"{shown(url)}: refusing to fetch {host}: a local name (set NEWSQA_ALLOW_PRIVATE_URLS=1)"
            )
        try:
            literal = host.strip("[]")
            public = address_is_public(literal)
        except ValueError:
            public = True  # a name: checked when the connection is opened
        if not public:
            raise UnsafeURLError(
                f"{shown(url)}: refusing to fetch {host}: not a public address "
                "(set NEWSQA_ALLOW_PRIVATE_URLS=1)"
            )
    return normalise_url(url)


def _mime(content_type: str) -> str:
    return content_type.split(";")[0].strip().lower()


def _wrong_type(url: str, what: str, mime: str) -> FetchError:
    """The refusal of a response that is not what was asked for, naming what it is instead."""
    wanted = "an RSS or Atom feed" if what == "feed" else f"an HTML {what}"
    media = _MEDIA.get(mime.split("/")[0])
    if media:  # "not an HTML feed" would send the admin looking in the wrong place
        return FetchError(f"{url}: this is {media} ({mime}), not {wanted}")
    return FetchError(f"{url}: not {wanted} (content type {mime or 'none'!r})")


_MEDIA = {"image": "an image", "audio": "an audio file", "video": "a video", "font": "a font"}


# How long the caller waits beyond the deadline for the worker to report (it normally ends at it).
_GRACE = 0.25


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
        """GET `url`, following redirects by hand, within `limits.timeout` seconds of wall-clock time
        in all. Raises FetchError with a one-line reason that starts with the URL."""
        target = check_url(url, self.limits.allow_private)  # refused before any thread or socket
        deadline = _Deadline(self.limits.timeout)
        outcome: list[FetchResult | BaseException] = []

        def work() -> None:
            _deadline.set(deadline)  # this thread's context: the sockets it opens keep to it
            try:
                outcome.append(self._get(target, accept, headers or {}, what, deadline))
            except BaseException as exc:  # handed to the caller as it is
                outcome.append(exc)

        # The request runs in a worker so that the caller's wait is bounded even where no socket
        # timeout reaches (name resolution, a TLS handshake trickled in); the worker itself ends
        # at the deadline, or as soon as `expire()` shuts its sockets down.
        worker = threading.Thread(target=work, name="newsqa-fetch", daemon=True)
        worker.start()
        try:
            worker.join(max(deadline.left(), 0.0) + _GRACE)
        finally:
            if worker.is_alive():
                deadline.expire()
        if not outcome:
            raise FetchError(f"{target}: took longer than {self.limits.timeout:g} s; stopped")
        result = outcome[0]
        if isinstance(result, BaseException):
            raise result
        return result

    def _get(
        self, url: str, accept: tuple[str, ...], headers: dict[str, str], what: str, deadline: _Deadline
    ) -> FetchResult:
        limits = self.limits
        started = time.monotonic()
        current = url
        for _hop in range(limits.max_redirects + 1):
            left = deadline.left()
            if left <= 0:
                raise FetchError(f"{current}: took longer than {limits.timeout:g} s; stopped")
            timeout = httpx.Timeout(left, connect=min(limits.connect_timeout, left))
            try:
                with self._client.stream("GET", current, headers=headers, timeout=timeout) as response:
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
                        raise _wrong_type(current, what, _mime(content_type))
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
                    return FetchResult(
                        current,
                        response.status_code,
                        content_type,
                        bytes(body),
                        dict(response.headers),
                        time.monotonic() - started,
                    )
            except _HostRefused as exc:
                raise UnsafeURLError(f"{current}: {exc}") from None
            except _HostUnresolved as exc:
                raise FetchError(f"{current}: {exc}") from None
            except httpx.ConnectTimeout:
                if deadline.left() <= 0:
                    raise FetchError(f"{current}: took longer than {limits.timeout:g} s; stopped") from None
                raise FetchError(
                    f"{current}: could not connect within {limits.connect_timeout:g} s (timeout)"
                ) from None
            except httpx.TimeoutException:
                raise FetchError(f"{current}: took longer than {limits.timeout:g} s; stopped") from None
            except httpx.TooManyRedirects:  # pragma: no cover - redirects are followed by hand
                raise FetchError(f"{current}: too many redirects") from None
            except httpx.HTTPError as exc:
                if deadline.expired:  # its sockets were shut down at the deadline
                    raise FetchError(f"{current}: took longer than {limits.timeout:g} s; stopped") from None
                raise FetchError(f"{current}: {type(exc).__name__}: {exc or 'connection failed'}") from None
            except (httpx.InvalidURL, ValueError) as exc:  # not an HTTPError: would escape as a traceback
                raise InvalidURLError(f"{current}: not a valid URL ({exc})") from None
        raise FetchError(f"{url}: more than {limits.max_redirects} redirects")
