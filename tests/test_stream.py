"""focuscli.backend streams: rules on reads, reconnects, the keep-alive watchdog, prompt close().

Every wait here is bounded: events are read with `Stream.get(timeout)` against a deadline.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from focuscli.backend import Database, Target
from focuscli.server import LocalServer
from focuscli.stream import SseParser, Stream, StreamEvent
from tests.members import EmulatorMember

MEMBERS_ONLY = {"rules": {"room": {".read": "auth.uid === 'ana'", ".write": True}}}
WAIT = 10.0  # seconds: the most any single expectation may take


# -- helpers ----------------------------------------------------------------------------------


def next_event(stream: Stream, kinds: set[str], within: float = WAIT) -> tuple[StreamEvent, list[StreamEvent]]:
    """The first event of one of `kinds` within `within` s, and every event before it."""
    deadline = time.monotonic() + within
    seen: list[StreamEvent] = []
    while (left := deadline - time.monotonic()) > 0:
        event = stream.get(timeout=min(left, 1.0))
        if event is None:
            if stream.ended:
                break
            continue
        if event.kind in kinds:
            return event, seen
        seen.append(event)
    raise AssertionError(f"no {sorted(kinds)} event within {within} s; saw {seen}")


def apply(mirror: dict[str, Any], event: StreamEvent) -> None:
    """Fold a put/patch into ``mirror["/"]`` the way a client cache would (§7.3)."""
    parts = [p for p in event.path.split("/") if p]
    updates = (
        {tuple(parts): event.data}
        if event.kind == "put"
        else {(*parts, key): value for key, value in (event.data or {}).items()}
    )
    for keys, value in updates.items():
        if not keys:
            mirror["/"] = value
            continue
        node = mirror.get("/")
        if not isinstance(node, dict):
            node = mirror["/"] = {}
        for key in keys[:-1]:
            child = node.get(key)
            if not isinstance(child, dict):
                child = node[key] = {}
            node = child
        if value is None:
            node.pop(keys[-1], None)
        else:
            node[keys[-1]] = value


def follow(stream: Stream, mirror: dict[str, Any], want: Any, within: float = WAIT) -> None:
    """Apply events until the mirror equals `want`."""
    deadline = time.monotonic() + within
    while mirror.get("/") != want:
        left = deadline - time.monotonic()
        assert left > 0, f"mirror {mirror.get('/')} never became {want}"
        event = stream.get(timeout=min(left, 1.0))
        if event is not None and event.kind in ("put", "patch"):
            apply(mirror, event)


def closes_promptly(stream: Stream) -> float:
    started = time.monotonic()
    stream.close()
    took = time.monotonic() - started
    assert took <= 1.0, f"close() took {took:.2f} s"
    assert stream.closed
    return took


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def delays(events: list[StreamEvent]) -> list[float]:
    found = [re.search(r"retrying in ([0-9.]+) s", e.detail) for e in events]
    return [float(m.group(1)) for m in found if m]


class FreezableProxy:
    """A TCP proxy to 127.0.0.1:`upstream` that can stop forwarding without closing anything."""

    def __init__(self, upstream: int) -> None:
        self.upstream = upstream
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.thawed = threading.Event()
        self.thawed.set()
        self.closing = False
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._accept, daemon=True)]
        self.threads[0].start()

    def freeze(self) -> None:
        self.thawed.clear()

    def thaw(self) -> None:
        self.thawed.set()

    def close(self) -> None:
        self.closing = True
        self.thawed.set()
        with self.lock:
            sockets = [self.listener, *self.sockets]
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        for thread in self.threads:
            thread.join(timeout=5)
        with self.lock:
            for sock in self.sockets:
                sock.close()

    def _accept(self) -> None:
        while not self.closing:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self.thawed.wait()  # frozen: accepted, but nothing reaches the server
            if self.closing:
                client.close()
                return
            server = socket.create_connection(("127.0.0.1", self.upstream))
            with self.lock:
                self.sockets += [client, server]
                if self.closing:
                    return
            for src, dst in ((client, server), (server, client)):
                thread = threading.Thread(target=self._pump, args=(src, dst), daemon=True)
                self.threads.append(thread)
                thread.start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                self.thawed.wait()  # frozen: hold the bytes, keep the connection open
                if self.closing:
                    return
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


class ScriptedServer(ThreadingHTTPServer):
    """An HTTP server answering each GET with the next scripted reply (then holding it open).

    A reply is an int (that HTTP status, with a JSON error body) or bytes (a 200 event stream
    whose body is those bytes, then silence until `release` or 10 s, then close).
    """

    daemon_threads = True

    def __init__(self, replies: list[int | bytes]) -> None:
        self.replies = replies
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.release = threading.Event()
        super().__init__(("127.0.0.1", 0), _ScriptedHandler)
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def close(self) -> None:
        self.release.set()
        self.shutdown()
        self.server_close()
        self.thread.join(timeout=5)


class _ScriptedHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ScriptedServer

    def do_GET(self) -> None:  # noqa: N802 (the http.server API)
        self.server.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
        reply = self.server.replies.pop(0) if self.server.replies else b""
        if isinstance(reply, int):
            body = json.dumps({"error": "scripted failure"}).encode()
            self.send_response(reply)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(reply)
        self.wfile.flush()
        self.server.release.wait(10)
        self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


# -- fixtures ---------------------------------------------------------------------------------


@pytest.fixture
def opened() -> Iterator[list[Any]]:
    """Things to close after the test (streams, databases, servers, proxies), last first."""
    things: list[Any] = []
    yield things
    for thing in reversed(things):
        if isinstance(thing, LocalServer):
            thing.stop()
        else:
            thing.close()


def database(opened: list[Any], url: str, uid: str, ns: str = "demo") -> Database:
    db = Database(Target(f"{url}?ns={ns}", None, "emulator"), EmulatorMember(uid))
    opened.append(db)
    return db


def server(opened: list[Any], tmp_path: Path, port: int = 0) -> LocalServer:
    srv = LocalServer(port=port, data_dir=tmp_path / "data", keepalive=0.3).start()
    opened.append(srv)
    return srv


# -- the parser -------------------------------------------------------------------------------


def test_parser_frames_lf_crlf_cr_and_split_chunks() -> None:
    wire = (
        b"event: put\ndata: {\"path\":\"/\",\"data\":1}\n\n"
        b"event: keep-alive\r\ndata: null\r\n\r\n"
        b": a comment\rid: 7\rretry: 10\revent:patch\rdata:{\"a\":\rdata: 2}\r\r"
        b"data: h\xc3\xa9llo \xe2\x98\x83\n\n"
    )
    whole = SseParser().feed(wire)
    assert whole == [
        ("put", '{"path":"/","data":1}'),
        ("keep-alive", "null"),
        ("patch", '{"a":\n2}'),
        ("message", "héllo ☃"),
    ]
    parser = SseParser()
    byte_by_byte = [event for i in range(len(wire)) for event in parser.feed(wire[i : i + 1])]
    assert byte_by_byte == whole
    parser = SseParser()
    assert parser.feed(b"event: put\r") == []
    assert parser.feed(b"\ndata: 1\r") == []
    assert parser.feed(b"\n\r\n") == [("put", "1")]


# -- identity and events ------------------------------------------------------------------------


def test_member_streams_and_non_member_is_cancelled(server_url: str, ns: str, rest: Any) -> None:
    rest.set_rules(MEMBERS_ONLY)
    with (
        Database(Target(f"{server_url}?ns={ns}", None, "emulator"), EmulatorMember("ana")) as ana,
        Database(Target(f"{server_url}?ns={ns}", None, "emulator"), EmulatorMember("bob")) as bob,
    ):
        bob.set("/room", {"phase": "focus", "round": 1})
        with ana.stream("/room") as stream:
            connected, before = next_event(stream, {"connected"})
            assert before == [] and connected.detail
            first, _ = next_event(stream, {"put"})
            assert (first.path, first.data) == ("/", {"phase": "focus", "round": 1})
            bob.set("/room/phase", "break")
            put, skipped = next_event(stream, {"put", "patch"})
            assert skipped == [] and (put.kind, put.path, put.data) == ("put", "/phase", "break")
            bob.update("/room", {"round": 2, "label": "x"})
            patch, _ = next_event(stream, {"put", "patch"})
            assert (patch.kind, patch.path, patch.data) == ("patch", "/", {"round": 2, "label": "x"})
            assert rest.delete("/room.json").status_code == 200
            gone, _ = next_event(stream, {"put", "patch"})
            assert (gone.path, gone.data) == ("/", None)

        with bob.stream("/room") as denied:
            cancelled, before = next_event(denied, {"cancelled"})
            assert before == []
            assert "permission denied" in cancelled.detail
            assert denied.get(timeout=0.2) is None and denied.ended
            assert list(denied) == []
            assert denied.closed


def test_iteration_and_database_close_end_streams(server_url: str, ns: str) -> None:
    db = Database(Target(f"{server_url}?ns={ns}", None, "emulator"), EmulatorMember("ana"))
    db.set("/a", 1)
    stream = db.stream("/a")
    kinds = []
    for event in stream:
        kinds.append(event.kind)
        if event.kind == "put":
            break
    assert kinds == ["connected", "put"]
    started = time.monotonic()
    db.close()
    assert time.monotonic() - started <= 1.5
    assert stream.closed
    assert stream.get(timeout=0.2) is None and list(stream) == []


@pytest.mark.focus_serve
def test_losing_read_access_mid_stream_cancels(server_url: str, ns: str, rest: Any) -> None:
    rest.set_rules({"rules": {"room": {".read": "auth.uid === 'ana'", ".write": True}}})
    with Database(Target(f"{server_url}?ns={ns}", None, "emulator"), EmulatorMember("ana")) as ana:
        ana.set("/room", {"phase": "focus"})
        with ana.stream("/room") as stream:
            next_event(stream, {"put"})
            rest.set_rules({"rules": {"room": {".read": "auth.uid === 'bob'", ".write": True}}})
            cancelled, before = next_event(stream, {"cancelled"})
            assert before == []
            assert cancelled.detail.startswith("the server cancelled the stream at /room")
            assert stream.get(timeout=0.2) is None and stream.ended


def put(path: str, data: Any) -> bytes:
    payload = json.dumps({"path": path, "data": data}, separators=(",", ":"))
    return f"event: put\ndata: {payload}\n\n".encode()


def test_wire_request_auth_revoked_malformed_and_http_errors(opened: list[Any]) -> None:
    replies: list[int | bytes] = [
        put("/", 1) + b"event: keep-alive\ndata: null\n\n"
        b"event: auth_revoked\ndata: credential is no longer valid\n\n",
        put("/", 2) + b"event: patch\ndata: {not json\n\n",
        503,
        put("/", 3) + b"event: cancel\ndata: too big\n\n",
    ]
    fake = ScriptedServer(replies)
    opened.append(fake)
    member = EmulatorMember("ana")
    db = Database(Target(f"{fake.url}?ns=team-ns", None, "emulator"), member)
    opened.append(db)
    first_token = member.id_token()
    stream = db.stream("/sessions/s1", watchdog_s=5, backoff=(0.05, 1.0))
    opened.append(stream)
    kinds_and_details = []
    while (event := stream.get(timeout=WAIT)) is not None:
        kinds_and_details.append((event.kind, event.data if event.kind == "put" else event.detail))
    assert stream.ended
    # auth_revoked: a new token and a new connection at once, with no gap to report.
    assert kinds_and_details == [
        ("connected", "live at /sessions/s1"),
        ("put", 1),
        ("connected", "live at /sessions/s1"),
        ("put", 2),
        ("disconnected", "malformed patch event from the server; retrying in 0.05 s"),
        ("disconnected", "HTTP 503 from the server (scripted failure); retrying in 0.1 s"),
        ("connected", "live at /sessions/s1"),
        ("put", 3),
        ("cancelled", "the server cancelled the stream at /sessions/s1: too big"),
    ]
    assert member.refreshes == 1
    queries = [parse_qs(urlsplit(path).query) for path, _ in fake.requests]
    assert all(urlsplit(path).path == "/sessions/s1.json" for path, _ in fake.requests)
    assert queries[0] == {"ns": ["team-ns"], "auth": [first_token]}
    assert queries[1] == {"ns": ["team-ns"], "auth": [member.id_token()]} != queries[0]
    for _, headers in fake.requests:
        assert headers["accept"] == "text/event-stream"
        assert "authorization" not in headers  # the token travels only as auth=
    assert len(fake.requests) == 4


def test_the_stream_renews_its_token_before_it_expires(opened: list[Any]) -> None:
    """A token close to its expiry is replaced by reconnecting with a fresh one, without a
    reported gap: a watch never dies of an expired token (spec auth.md §5.5)."""
    replies: list[int | bytes] = [put("/", n) + b"event: keep-alive\ndata: null\n\n" for n in (1, 2)]
    replies.append(put("/", 3) + b"event: cancel\ndata: end\n\n")
    fake = ScriptedServer(replies)
    opened.append(fake)
    member = EmulatorMember("ana", lifetime_s=-60)  # past its renewal time from the start
    db = Database(Target(f"{fake.url}?ns=x", None, "emulator"), member)
    opened.append(db)
    stream = db.stream("/s", watchdog_s=5, backoff=(0.05, 1.0))
    opened.append(stream)
    kinds = []
    while (event := stream.get(timeout=WAIT)) is not None:
        kinds.append((event.kind, event.data if event.kind == "put" else None))
    assert kinds == [
        ("connected", None), ("put", 1), ("connected", None), ("put", 2),
        ("connected", None), ("put", 3), ("cancelled", None),
    ]


# -- reconnection ---------------------------------------------------------------------------------


@pytest.mark.focus_serve
def test_server_restart_reconnects_and_resyncs(tmp_path: Path, opened: list[Any]) -> None:
    srv = server(opened, tmp_path)
    db = database(opened, srv.url, "ana")
    db.set("/room", {"phase": "focus"})
    stream = db.stream("/room", watchdog_s=5, backoff=(0.1, 0.5))
    opened.append(stream)
    mirror: dict[str, Any] = {}
    next_event(stream, {"connected"})
    follow(stream, mirror, {"phase": "focus"})

    srv.stop()
    gone, _ = next_event(stream, {"disconnected"})
    assert "retrying in" in gone.detail
    srv.start()  # same port, same data directory
    db.set("/room/paused_by", "bob")  # may land before or after the reconnect
    back, before = next_event(stream, {"connected"})
    assert {e.kind for e in before} <= {"disconnected"}
    resync = stream.get(timeout=WAIT)
    assert resync is not None and (resync.kind, resync.path) == ("put", "/")
    mirror = {"/": resync.data}
    follow(stream, mirror, {"phase": "focus", "paused_by": "bob"})
    db.set("/room/phase", "break")
    follow(stream, mirror, {"phase": "break", "paused_by": "bob"})


@pytest.mark.focus_serve
def test_server_down_at_start_backs_off_then_connects(tmp_path: Path, opened: list[Any]) -> None:
    port = free_port()
    db = database(opened, f"http://127.0.0.1:{port}", "ana")
    stream = db.stream("/room", watchdog_s=5, backoff=(0.05, 0.4))
    opened.append(stream)
    downs = []
    while len(downs) < 5:
        event, before = next_event(stream, {"disconnected"})
        assert before == []
        assert "connection refused" in event.detail
        downs.append(event)
    waits = delays(downs)
    assert waits == [0.05, 0.1, 0.2, 0.4, 0.4]

    srv = server(opened, tmp_path, port=port)
    database(opened, srv.url, "ana").set("/room", {"round": 3})
    connected, before = next_event(stream, {"connected"})
    assert {e.kind for e in before} <= {"disconnected"}
    put = stream.get(timeout=WAIT)
    assert put is not None and (put.kind, put.path) == ("put", "/")
    assert put.data == {"round": 3}

    srv.stop()  # the backoff starts over after a good connection
    again, _ = next_event(stream, {"disconnected"})
    assert delays([again]) == [0.05]


@pytest.mark.focus_serve
def test_default_backoff_is_capped_so_a_returning_server_is_seen_within_a_second(
    tmp_path: Path, opened: list[Any]
) -> None:
    # A watcher must show a server back from a 5 s outage within 3 s (reliability item 2);
    # doubling up to 10 s meant waits of 0.5, 1, 2, 4, 8 s: up to 8 s late.
    port = free_port()
    db = database(opened, f"http://127.0.0.1:{port}", "ana")
    stream = db.stream("/room", watchdog_s=5)
    opened.append(stream)
    downs = [next_event(stream, {"disconnected"})[0] for _ in range(4)]
    assert delays(downs) == [0.5, 1.0, 1.0, 1.0]

    server(opened, tmp_path, port=port)
    ready = time.monotonic()
    next_event(stream, {"connected"})
    assert time.monotonic() - ready <= 1.5


@pytest.mark.focus_serve
def test_watchdog_detects_a_silently_dead_connection(tmp_path: Path, opened: list[Any]) -> None:
    srv = server(opened, tmp_path)
    proxy = FreezableProxy(srv.config.port)
    opened.append(proxy)
    db = database(opened, f"http://127.0.0.1:{proxy.port}", "ana")
    db.set("/room", {"phase": "focus"})
    stream = db.stream("/room", watchdog_s=1.0, backoff=(0.1, 0.5))
    opened.append(stream)
    next_event(stream, {"connected"})
    first, _ = next_event(stream, {"put"})
    assert first.data == {"phase": "focus"}
    # keep-alives (every 0.3 s) keep a healthy connection past the 1 s watchdog
    assert stream.get(timeout=1.5) is None

    proxy.freeze()
    frozen_at = time.monotonic()
    dead, before = next_event(stream, {"disconnected"}, within=5)
    assert time.monotonic() - frozen_at <= 2.5
    assert before == []
    assert "no data for 1 s" in dead.detail

    db_direct = database(opened, srv.url, "ana")
    db_direct.set("/room/phase", "break")  # missed while the connection was dead
    proxy.thaw()
    next_event(stream, {"connected"})
    resync = stream.get(timeout=WAIT)
    assert resync is not None and (resync.kind, resync.path) == ("put", "/")
    assert resync.data == {"phase": "break"}
    db_direct.set("/room/round", 2)
    later, _ = next_event(stream, {"put"})
    assert (later.path, later.data) == ("/round", 2)


# -- close() ----------------------------------------------------------------------------------


@pytest.mark.focus_serve
def test_close_is_prompt_in_every_state(tmp_path: Path, opened: list[Any]) -> None:
    srv = server(opened, tmp_path)
    db = database(opened, srv.url, "ana")

    idle = db.stream("/room", watchdog_s=60)  # connected, waiting for bytes
    next_event(idle, {"put"})
    closes_promptly(idle)
    assert idle.get(timeout=0.1) is None

    down = database(opened, f"http://127.0.0.1:{free_port()}", "ana")
    backing_off = down.stream("/room", backoff=(30, 60))  # asleep for 30 s
    next_event(backing_off, {"disconnected"})
    closes_promptly(backing_off)

    proxy = FreezableProxy(srv.config.port)
    opened.append(proxy)
    via_proxy = database(opened, f"http://127.0.0.1:{proxy.port}", "ana")
    mid_body = via_proxy.stream("/room", watchdog_s=60)
    next_event(mid_body, {"put"})
    proxy.freeze()  # blocked reading the body, no keep-alives coming
    assert mid_body.get(timeout=0.5) is None
    closes_promptly(mid_body)

    awaiting_headers = via_proxy.stream("/room", watchdog_s=60)  # frozen: no answer at all
    assert awaiting_headers.get(timeout=0.5) is None
    closes_promptly(awaiting_headers)
    proxy.thaw()


@pytest.mark.focus_serve
def test_invalid_stream_arguments(tmp_path: Path, opened: list[Any]) -> None:
    from focuscli.errors import UsageError

    srv = server(opened, tmp_path)
    db = database(opened, srv.url, "ana")
    with pytest.raises(UsageError):
        db.stream("/room", watchdog_s=0)
    with pytest.raises(UsageError):
        db.stream("/room", backoff=(2.0, 1.0))
