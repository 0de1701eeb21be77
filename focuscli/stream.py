"""A live change stream: SSE over the standard library, with a watchdog, reconnection and token rotation.

firebase-admin's ``listen()`` has no read timeout, so a silently dead connection hangs forever,
and a failed reconnect ends its thread without a word. ``Stream`` reads the stream itself: no
bytes for ``watchdog_s`` means a dead connection; every reconnect (exponential backoff) is
followed by a full-state ``put``; connection changes arrive as events. The URL is built afresh
for every connection (it carries the member's current ID token as ``auth=``), the stream
reconnects by itself a little before that token expires, and on ``auth_revoked`` it gets a new
token and reconnects at once (spec auth.md §5.5), so a watch never dies of an expired token.
``focuscli.backend.Database.stream`` builds one for a member.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import queue
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from urllib.parse import urljoin, urlsplit

from focuscli.errors import FocusError, SignInError
from focuscli.failures import failure_reason
from focuscli.signin import SESSION_ENDED

STREAM_CONNECT_TIMEOUT = 2.0  # seconds to open a connection before backing off
STREAM_CLOSE_TIMEOUT = 1.0  # seconds close() may wait for the stream thread
MAX_REDIRECTS = 5
_READ_SIZE = 65536


@dataclass(frozen=True)
class StreamEvent:
    """One thing a `Stream` saw.

    ``kind`` is "put" or "patch" (``path`` relative to the streamed path, ``data`` as in the
    RTDB REST protocol), or a connection event: "connected" (the next event is a ``put`` at "/"
    with the full state), "disconnected" (the stream is retrying; ``detail`` says why and when)
    or "cancelled" (the server refused or ended the stream; nothing follows). ``detail`` is
    human text for the connection events.
    """

    kind: str
    path: str = "/"
    data: Any = None
    detail: str = ""


class SseParser:
    """Incremental Server-Sent Events parser (rtdb-rest §7.2; WHATWG line rules).

    ``feed(bytes)`` returns the complete events as (event name, data) pairs. Lines end in LF,
    CRLF or CR (a CR at the end of one chunk and an LF at the start of the next are one line
    end); ``event`` and ``data`` fields are kept (repeated data lines joined with LF), comments,
    ``id`` and ``retry`` are ignored; a blank line dispatches an event that had any field.
    """

    def __init__(self) -> None:
        self._partial = b""
        self._skip_lf = False
        self._event = ""
        self._data: list[str] = []
        self._seen = False

    def feed(self, chunk: bytes) -> list[tuple[str, str]]:
        events: list[tuple[str, str]] = []
        if self._skip_lf and chunk.startswith(b"\n"):
            chunk = chunk[1:]
        self._skip_lf = False
        buffer = self._partial + chunk
        start = 0
        size = len(buffer)
        while start < size:
            lf, cr = buffer.find(b"\n", start), buffer.find(b"\r", start)
            ends = [i for i in (lf, cr) if i >= 0]
            if not ends:
                break
            end = min(ends)
            line = buffer[start:end]
            start = end + 1
            if buffer[end : end + 1] == b"\r":
                if start < size:
                    if buffer[start : start + 1] == b"\n":
                        start += 1
                else:
                    self._skip_lf = True
            event = self._line(line.decode("utf-8", errors="replace"))
            if event is not None:
                events.append(event)
        self._partial = buffer[start:]
        return events

    def _line(self, line: str) -> tuple[str, str] | None:
        if not line:
            if not self._seen:
                return None
            event = (self._event or "message", "\n".join(self._data))
            self._event, self._data, self._seen = "", [], False
            return event
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            self._event, self._seen = value, True
        elif name == "data":
            self._data.append(value)
            self._seen = True
        return None


class _Stopped(Exception):
    """close() was called: the stream thread unwinds quietly."""


class _NoConnection(Exception):
    """A connection could not be opened (the reason is the message)."""


_END = object()


class Stream:
    """Live changes at one path, as an iterator of `StreamEvent` fed by a background thread.

    ``with db.stream("/sessions/x") as stream: for event in stream: ...`` or, in a UI loop,
    ``stream.get(timeout=0.1)``. The thread reconnects forever (exponential backoff) after
    errors, end of stream or ``watchdog_s`` without a byte (the server sends keep-alives when
    idle), and stops only on close() or a "cancelled" event, after which iteration ends and
    get() returns None. Made by `Database.stream`.

    close() shuts down every socket the stream's session opened (waking a blocked read, also
    while waiting for response headers) and joins the thread for at most
    STREAM_CLOSE_TIMEOUT s. The one step it cannot interrupt is a TCP handshake to a host
    that does not answer; that thread (a daemon) ends by itself within STREAM_CONNECT_TIMEOUT.
    """

    def __init__(
        self,
        url: Callable[[], str],
        *,
        where: str,
        watchdog_s: float,
        backoff: tuple[float, float],
        refresh: Callable[[], object] | None = None,
        renew_at: Callable[[], float] | None = None,
        ca_bundle: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._url = url  # called for every connection: the URL with a current credential
        self._where = where
        self._watchdog_s = watchdog_s
        self._backoff = backoff
        self._refresh = refresh
        self._renew_at = renew_at  # when the credential in the URL should be replaced
        self._ca_bundle = ca_bundle
        self._clock = clock
        self._queue: queue.Queue[object] = queue.Queue()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._ended = False
        self._thread = threading.Thread(target=self._run, name=f"focus-stream {where}", daemon=True)
        self._thread.start()

    # -- consumer side ----------------------------------------------------------------------

    def get(self, timeout: float) -> StreamEvent | None:
        """The next event, or None if none came within `timeout` s (or the stream has ended)."""
        if self._ended:
            return None
        try:
            item = self._queue.get(timeout=max(timeout, 0.0))
        except queue.Empty:
            return None
        if item is _END:
            self._ended = True
            return None
        assert isinstance(item, StreamEvent)
        return item

    def __iter__(self) -> Stream:
        return self

    def __next__(self) -> StreamEvent:
        if self._ended:
            raise StopIteration
        item = self._queue.get()
        if item is _END:
            self._ended = True
            raise StopIteration
        assert isinstance(item, StreamEvent)
        return item

    @property
    def ended(self) -> bool:
        """True once the consumer has seen the end (after "cancelled" or close())."""
        return self._ended

    @property
    def closed(self) -> bool:
        """True once close() was called or the stream was cancelled (the thread has ended)."""
        return self._stop.is_set() or not self._thread.is_alive()

    def close(self) -> None:
        """Stop the thread (interrupting any blocking read) and join it; safe to call twice."""
        with self._lock:
            self._stop.set()
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            _shutdown(sock)
        self._thread.join(STREAM_CLOSE_TIMEOUT)
        self._queue.put(_END)

    def __enter__(self) -> Stream:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- the thread -------------------------------------------------------------------------

    def _register(self, sock: socket.socket) -> None:
        """Called for every socket a connection opens, so that close() can shut it down."""
        with self._lock:
            if self._stop.is_set():
                _shutdown(sock)
            else:
                self._sockets.append(sock)

    def _emit(self, event: StreamEvent) -> None:
        if not self._stop.is_set():
            self._queue.put(event)

    def _run(self) -> None:
        delay = self._backoff[0]
        while not self._stop.is_set():
            try:
                outcome, reason = self._attempt()
            except _Stopped:
                break
            except _NoConnection as err:
                outcome, reason = "retry", str(err)
            except SignInError as err:  # the sign-in is gone for good: nothing to retry
                if err.code in SESSION_ENDED or err.code == "NOT_SIGNED_IN":
                    outcome, reason = "cancelled", err.message
                else:
                    outcome, reason = "retry", err.message
            except FocusError as err:  # e.g. the sign-in service did not answer
                outcome, reason = "retry", err.message
            except Exception as err:  # never die silently: report and retry
                outcome, reason = "retry", _stream_reason(err, self._watchdog_s)
            with self._lock:
                self._sockets.clear()
            if self._stop.is_set():
                break
            if outcome == "cancelled":
                self._emit(StreamEvent("cancelled", self._where, detail=reason))
                self._queue.put(_END)
                return
            if outcome == "rotate":  # a planned reconnection with a new token: no gap to report
                delay = self._backoff[0]
                continue
            if outcome == "connected":  # the connection was good: start the backoff over
                delay = self._backoff[0]
            self._emit(
                StreamEvent(
                    "disconnected", self._where, detail=f"{reason}; retrying in {delay:g} s"
                )
            )
            if self._stop.wait(delay):
                break
            delay = min(delay * 2, self._backoff[1])

    def _attempt(self) -> tuple[str, str]:
        """One connection: ("connected" | "retry" | "cancelled" | "rotate", reason it ended).

        "connected" means the connection worked before it ended (the backoff starts over);
        "rotate" that it was ended on purpose to renew the credential (reconnect at once).
        """
        url = self._url()
        for _ in range(MAX_REDIRECTS + 1):
            connection = self._open(url)
            try:
                parts = urlsplit(url)
                connection.request(
                    "GET",
                    (parts.path or "/") + (f"?{parts.query}" if parts.query else ""),
                    headers={"Accept": "text/event-stream", "Cache-Control": "no-cache"},
                )
                response = connection.getresponse()
                if self._stop.is_set():
                    raise _Stopped
                status = response.status
                location = response.getheader("location")
                if status in (307, 308) and location:  # production: the namespace's own host
                    response.read()
                    url = urljoin(url, location)
                    continue
                if status in (401, 403):
                    return "cancelled", f"permission denied at {self._where}{_error_text(response)}"
                if status != 200:
                    return "retry", f"HTTP {status} from the server{_error_text(response)}"
                self._emit(StreamEvent("connected", self._where, detail=f"live at {self._where}"))
                return self._consume(response)
            finally:
                connection.close()
        return "retry", "too many redirects"

    def _open(self, url: str) -> http.client.HTTPConnection:
        parts = urlsplit(url)
        timeout = min(STREAM_CONNECT_TIMEOUT, self._watchdog_s)
        connection: http.client.HTTPConnection
        if parts.scheme == "https":
            from focuscli.http_client import tls_context

            connection = http.client.HTTPSConnection(
                parts.netloc, timeout=timeout, context=tls_context(self._ca_bundle)
            )
        else:
            connection = http.client.HTTPConnection(parts.netloc, timeout=timeout)
        try:
            connection.connect()
        except (OSError, http.client.HTTPException) as err:
            connection.close()
            if self._stop.is_set():
                raise _Stopped from None
            reason = failure_reason(err)
            raise _NoConnection("connect timed out" if reason == "timed out" else reason) from None
        assert connection.sock is not None
        self._register(connection.sock)
        if self._stop.is_set():
            connection.close()
            raise _Stopped
        connection.sock.settimeout(self._watchdog_s)
        return connection

    def _consume(self, response: http.client.HTTPResponse) -> tuple[str, str]:
        parser = SseParser()
        while True:
            try:
                chunk = response.read1(_READ_SIZE)
            except Exception as err:
                if self._stop.is_set():
                    raise _Stopped from None
                return "connected", _stream_reason(err, self._watchdog_s)
            if self._stop.is_set():
                raise _Stopped
            if not chunk:
                return "connected", "the server closed the stream"
            for name, text in parser.feed(chunk):
                verdict = self._handle(name, text)
                if verdict is not None:
                    return verdict
            if self._renew_at is not None and self._clock() >= self._renew_at():
                if self._refresh is not None:
                    self._refresh()  # the next connection carries the new token
                return "rotate", "the sign-in is about to expire"

    def _handle(self, name: str, text: str) -> tuple[str, str] | None:
        if name in ("put", "patch"):
            try:
                message = json.loads(text)
                path, data = message["path"], message["data"]
            except (ValueError, TypeError, KeyError):
                return "connected", f"malformed {name} event from the server"
            self._emit(StreamEvent(name, str(path), data))
        elif name == "cancel":
            cause = "" if text in ("", "null") else f": {text}"
            return "cancelled", f"the server cancelled the stream at {self._where}{cause}"
        elif name == "auth_revoked":
            if self._refresh is not None:
                self._refresh()  # a SignInError ends the stream (see _run)
                return "rotate", "credential no longer valid (auth_revoked)"
            return "connected", "credential no longer valid (auth_revoked)"
        return None  # keep-alive (liveness only) and unknown events


def _error_text(response: http.client.HTTPResponse) -> str:
    """' (<error>)' from a JSON error body, else ''."""
    try:
        error = json.loads(response.read(65536).decode("utf-8", errors="replace"))["error"]
    except Exception:
        return ""
    return f" ({error})" if isinstance(error, str) and error else ""


def _stream_reason(err: BaseException, watchdog_s: float) -> str:
    if isinstance(err, TimeoutError | socket.timeout) or "timed out" in str(err).lower():
        return f"no data for {watchdog_s:g} s (connection dead?)"
    if isinstance(err, OSError | http.client.HTTPException):
        reason = failure_reason(err)
        return "connection lost" if reason == "connection failed" else reason
    return f"stream error: {type(err).__name__}: {err}"


def _shutdown(sock: socket.socket) -> None:
    """Wake any thread blocked on `sock` (for TLS sockets too, without touching the TLS state)."""
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
