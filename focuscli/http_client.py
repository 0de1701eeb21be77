"""HTTP(S) for the member path over the standard library: keep-alive, timeouts, TLS trust, redirects.

The member commands (`status`, `start`, `login`, ...) talk to Identity Toolkit and to the
database with this, not with requests or firebase-admin: `http.client` is already loaded by
the interpreter's own modules and costs a few milliseconds, where requests costs ~100 ms of
imports on every command. One `HttpClient` holds one connection per origin and reuses it.

A request that got no answer (refused, unknown host, timed out, TLS not trusted, connection
dropped) raises `NoAnswer`, which each caller words as its own one-line error; every answer,
whatever its status, is a `Reply`.
"""

from __future__ import annotations

import http.client
import select
import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from focuscli.errors import UsageError
from focuscli.failures import failure_reason

CONNECT_TIMEOUT = 2.0  # seconds to open a connection
READ_TIMEOUT = 10.0  # seconds to wait for an answer
MAX_REDIRECTS = 5  # production's database answers 307 to the namespace's own host


class NoAnswer(Exception):
    """No answer from ``origin`` (``reason``: "connection refused", "timed out", ...)."""

    def __init__(self, origin: str, reason: str) -> None:
        super().__init__(f"cannot reach {origin} ({reason})")
        self.origin = origin
        self.reason = reason


@dataclass(frozen=True)
class Reply:
    """One HTTP answer: status, headers (lower-case names) and the whole body."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    url: str  # where it came from, after redirects

    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


def tls_context(ca_bundle: str | None) -> ssl.SSLContext:
    """Certificate checks against the system's CAs, or only those of `ca_bundle` if given."""
    try:
        return ssl.create_default_context(cafile=ca_bundle)
    except (OSError, ssl.SSLError) as err:
        raise UsageError(f"cannot use the CA bundle {ca_bundle}: {failure_reason(err)}") from None


class HttpClient:
    """Requests to absolute URLs over one kept-alive connection per origin.

    ``request`` follows 307/308 redirects (method and body kept, at most MAX_REDIRECTS) and
    sends an idempotent request once more if a kept-alive connection turned out to be closed
    by the server before any answer (the usual race of keep-alive); any other request that got
    no answer is never sent twice (the caller decides: a write may have landed).
    """

    def __init__(
        self,
        *,
        ca_bundle: str | None = None,
        timeout: float = READ_TIMEOUT,
        connect_timeout: float = CONNECT_TIMEOUT,
    ) -> None:
        self._ca_bundle = ca_bundle
        self._context: ssl.SSLContext | None = None
        self._timeout = timeout
        self._connect_timeout = min(connect_timeout, timeout)
        self._connections: dict[tuple[str, str], http.client.HTTPConnection] = {}

    def request(
        self,
        method: str,
        url: str,
        *,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        sent = dict(headers or {})
        for _ in range(MAX_REDIRECTS + 1):
            reply = self._once(method, url, body, sent)
            location = reply.headers.get("location")
            if reply.status in (307, 308) and location:
                url = urljoin(url, location)
                continue
            return reply
        raise NoAnswer(_origin(url), "too many redirects")

    def close(self) -> None:
        """Close every connection; the client can still be used (it reconnects)."""
        for connection in self._connections.values():
            connection.close()
        self._connections.clear()

    # -- internals ------------------------------------------------------------------------------

    def _once(self, method: str, url: str, body: bytes | None, headers: dict[str, str]) -> Reply:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UsageError(f"cannot send a request to {url!r}: not an http(s) URL")
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        key = (parts.scheme, parts.netloc)
        reused = key in self._connections
        for attempt in (1, 2):
            try:
                connection = self._connection(key)
                connection.request(method, target, body=body, headers=headers)
                response = connection.getresponse()
                data = response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as err:
                self._drop(key)
                # A kept-alive connection the server had already closed: nothing was answered;
                # an idempotent request is safe to send again on a new connection.
                if reused and attempt == 1 and method in ("GET", "HEAD"):
                    reused = False
                    continue
                raise NoAnswer(_origin(url), failure_reason(err)) from None
            except (OSError, http.client.HTTPException) as err:
                self._drop(key)
                raise NoAnswer(_origin(url), failure_reason(err)) from None
            if response.will_close:
                self._drop(key)
            names = {name.lower(): value for name, value in response.getheaders()}
            return Reply(response.status, names, data, url)
        raise AssertionError("unreachable")  # pragma: no cover

    def _connection(self, key: tuple[str, str]) -> http.client.HTTPConnection:
        connection = self._connections.get(key)
        if connection is not None and _dropped(connection):
            self._drop(key)  # the server closed it while idle (a restart, its idle timeout)
            connection = None
        if connection is None:
            scheme, netloc = key
            if scheme == "https":
                if self._context is None:
                    self._context = tls_context(self._ca_bundle)
                connection = http.client.HTTPSConnection(
                    netloc, timeout=self._connect_timeout, context=self._context
                )
            else:
                connection = http.client.HTTPConnection(netloc, timeout=self._connect_timeout)
            connection.connect()  # with the connect timeout ...
            assert connection.sock is not None
            connection.sock.settimeout(self._timeout)  # ... then the read timeout
            connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._connections[key] = connection
        return connection

    def _drop(self, key: tuple[str, str]) -> None:
        connection = self._connections.pop(key, None)
        if connection is not None:
            connection.close()


def _dropped(connection: http.client.HTTPConnection) -> bool:
    """Whether an idle kept-alive connection was closed by the other end: it is readable (an
    end of file, or bytes nobody asked for) without a request in flight."""
    sock = connection.sock
    if sock is None:
        return True
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
