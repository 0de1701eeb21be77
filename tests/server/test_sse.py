"""Streaming over Server-Sent Events, on the raw socket (spec §7).

`Stream` is a deliberately strict reader: it sees the exact bytes and checks every event block
is `event: <name>\\n` + `data: <one line>\\n` + `\\n`, LF only.
"""

from __future__ import annotations

import http.client
import json
import queue
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
import requests

OWNER = {"Authorization": "Bearer owner"}


class StreamClosed(Exception):
    """The server ended the stream."""


class Stream:
    """One SSE connection read with http.client; every block is validated as it is parsed."""

    def __init__(
        self, base_url: str, path: str, params: dict[str, str], headers: dict[str, str]
    ) -> None:
        parts = urlsplit(base_url)
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        all_headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache", **headers}
        self.conn.request("GET", f"{path}?{urlencode(params)}", headers=all_headers)
        self.resp = self.conn.getresponse()
        self.buffer = b""
        self.raw_blocks: list[bytes] = []

    def close(self) -> None:
        self.resp.close()
        self.conn.close()

    def read_block(self, timeout: float = 5.0) -> bytes:
        """The next raw event block (without its terminating blank line)."""
        deadline = time.monotonic() + timeout
        while b"\n\n" not in self.buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                pytest.fail(f"no complete SSE event within {timeout} s; buffered {self.buffer!r}")
            assert self.conn.sock is not None
            self.conn.sock.settimeout(remaining)
            try:
                chunk = self.resp.read1(65536)
            except TimeoutError:
                continue
            if not chunk:
                if self.buffer:
                    pytest.fail(f"stream ended inside an event: {self.buffer!r}")
                raise StreamClosed
            self.buffer += chunk
        block, self.buffer = self.buffer.split(b"\n\n", 1)
        self.raw_blocks.append(block)
        return block

    def next_event(self, timeout: float = 5.0, keep_alive: bool = False) -> tuple[str, Any]:
        """(event name, parsed data) of the next event; keep-alives skipped unless asked for."""
        while True:
            block = self.read_block(timeout)
            assert b"\r" not in block, f"CR in SSE block {block!r}"
            lines = block.decode("utf-8").split("\n")
            assert len(lines) == 2, f"expected exactly an event and a data line: {block!r}"
            assert lines[0].startswith("event: "), block
            assert lines[1].startswith("data: "), block
            name, data = lines[0][len("event: ") :], json.loads(lines[1][len("data: ") :])
            if name == "keep-alive" and not keep_alive:
                assert data is None
                continue
            return name, data

    def next_change(self, timeout: float = 5.0) -> tuple[str, str, Any]:
        """(put|patch, path, data) of the next data event."""
        name, payload = self.next_event(timeout)
        assert name in ("put", "patch"), (name, payload)
        assert set(payload) == {"path", "data"}, payload
        return name, payload["path"], payload["data"]

    def expect_closed(self, timeout: float = 5.0) -> None:
        with pytest.raises(StreamClosed):
            while True:
                name, _ = self.next_event(timeout)
                pytest.fail(f"unexpected {name} event after cancel")


@pytest.fixture
def stream(server_url: str, ns: str) -> Iterator[Any]:
    """Factory: open a stream on `path` (admin by default); all are closed after the test."""
    opened: list[Stream] = []

    def open_stream(
        path: str,
        admin: bool = True,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Stream:
        hdrs = dict(OWNER) if admin else {}
        hdrs.update(headers or {})
        s = Stream(server_url, path, {"ns": ns, **(params or {})}, hdrs)
        opened.append(s)
        return s

    yield open_stream
    for s in opened:
        s.close()


def listening(stream: Any, path: str, initial: Any, **kwargs: Any) -> Stream:
    """Open a stream, check the response head and the initial put, return the stream."""
    s: Stream = stream(path, **kwargs)
    assert s.resp.status == 200, s.resp.read()
    assert s.next_change() == ("put", "/", initial)
    return s


# ---------------------------------------------------------------------------------------------
# response head and framing (§7.1, §7.2)


def test_response_head(stream: Any) -> None:
    s = stream("/a.json")
    assert s.resp.status == 200
    content_type = s.resp.getheader("Content-Type")
    assert content_type.split(";")[0].strip() == "text/event-stream"
    assert s.resp.getheader("Cache-Control") == "no-cache"
    assert s.resp.getheader("Access-Control-Allow-Origin") == "*"


@pytest.mark.parametrize("accept", ["text/event-stream", "application/json, text/event-stream"])
def test_accept_containing_event_stream_gets_a_stream(stream: Any, accept: str) -> None:
    s = stream("/a.json", headers={"Accept": accept})
    assert s.resp.status == 200
    assert s.read_block() == b'event: put\ndata: {"path":"/","data":null}'


@pytest.mark.focus_serve  # §12.3: the emulator may omit the charset (production does)
def test_content_type_has_utf8_charset(stream: Any) -> None:
    s = stream("/a.json")
    assert s.resp.getheader("Content-Type") == "text/event-stream; charset=utf-8"


def test_exact_framing(rest: Any, stream: Any) -> None:
    assert rest.put("/rooms/r1.json", {"title": "x"}).status_code == 200
    s = stream("/rooms/r1.json")
    assert s.read_block() == b'event: put\ndata: {"path":"/","data":{"title":"x"}}'
    assert rest.delete("/rooms/r1/title.json").status_code == 200
    assert s.read_block() == b'event: put\ndata: {"path":"/title","data":null}'
    assert rest.put("/rooms/r1/n.json", [1, {"a": True}]).status_code == 200
    assert s.read_block() == b'event: put\ndata: {"path":"/n","data":[1,{"a":true}]}'


def test_initial_put_on_absent_location(stream: Any) -> None:
    s = stream("/nothing/here.json")
    assert s.read_block() == b'event: put\ndata: {"path":"/","data":null}'


def test_initial_put_applies_render_rules(rest: Any, stream: Any) -> None:
    body = {"arr": ["a", None, "c"], "p": {".value": 1, ".priority": 9}, "t": {".sv": "timestamp"}}
    assert rest.put("/r.json", body).status_code == 200
    expected = rest.value("/r.json")
    assert isinstance(expected["t"], int)
    s = stream("/r.json")
    assert s.next_change() == ("put", "/", {"arr": ["a", None, "c"], "p": 1, "t": expected["t"]})


def test_unicode_data_is_utf8(rest: Any, stream: Any) -> None:
    text = "héllo ☃ \U0001f600"
    s = listening(stream, "/u.json", None)
    assert rest.put("/u/t.json", text).status_code == 200
    assert s.next_change() == ("put", "/t", text)


# ---------------------------------------------------------------------------------------------
# what is emitted (§7.4, §7.5)


def test_curl_example(rest: Any, stream: Any) -> None:
    """§7.5, event by event, with access_token=owner as in the example."""
    assert rest.put("/rooms/r1.json", {"title": "x"}).status_code == 200
    s = stream("/rooms/r1.json", admin=False, params={"access_token": "owner"})
    assert s.resp.status == 200
    assert s.read_block() == b'event: put\ndata: {"path":"/","data":{"title":"x"}}'

    assert rest.patch("/rooms/r1.json", {"title": "y", "draft": None}).status_code == 200
    # spec §12.8: inferred (patch event for a single-segment PATCH, nulls included)
    assert s.next_change() == ("patch", "/", {"title": "y", "draft": None})

    assert rest.put("/rooms.json", {"r1": {"title": "z"}}).status_code == 200
    # spec §12.8: inferred (a write above L -> put "/")
    assert s.next_change() == ("put", "/", {"title": "z"})

    assert rest.delete("/rooms/r1/title.json").status_code == 200
    assert s.read_block() == b'event: put\ndata: {"path":"/title","data":null}'


@pytest.mark.parametrize(
    ("method", "path", "body", "expected"),
    [
        ("PUT", "/L.json", {"x": 1}, ("put", "/", {"x": 1})),
        ("PUT", "/L/a/b.json", 2, ("put", "/a/b", 2)),
        ("PUT", "/L/a.json", None, ("put", "/a", None)),
        ("DELETE", "/L/a.json", None, ("put", "/a", None)),
        ("DELETE", "/L.json", None, ("put", "/", None)),
        ("PUT", "/L/s.json", {".sv": {"increment": 2}}, ("put", "/s", 2)),
        ("PUT", "/L/p.json", {".value": "v", ".priority": 1}, ("put", "/p", "v")),
        ("PUT", "/L/arr.json", ["a", "b"], ("put", "/arr", ["a", "b"])),
    ],
)
def test_write_at_or_below(
    rest: Any, stream: Any, method: str, path: str, body: Any, expected: Any
) -> None:
    """§7.4 a: put with the path relative to L and the new value at W."""
    assert rest.put("/L.json", {"a": {"b": 1}, "keep": True}).status_code == 200
    s = listening(stream, "/L.json", {"a": {"b": 1}, "keep": True})
    data = None if method == "DELETE" else json.dumps(body).encode()
    assert rest.request(method, path, data=data).status_code == 200
    assert s.next_change() == expected


def test_post_below(rest: Any, stream: Any) -> None:
    s = listening(stream, "/L.json", None)
    name = rest.post("/L/users.json", "").json()["name"]
    assert s.next_change() == ("put", f"/users/{name}", "")


def test_patch_at_and_below(rest: Any, stream: Any) -> None:
    # spec §12.8: inferred — §7.4 b
    assert rest.put("/L.json", {"a": 1, "sub": {"x": 1}}).status_code == 200
    s = listening(stream, "/L.json", {"a": 1, "sub": {"x": 1}})
    assert rest.patch("/L.json", {"a": 2, "gone": None, "n": {".sv": {"increment": 1}}}).ok
    assert s.next_change() == ("patch", "/", {"a": 2, "gone": None, "n": 1})
    assert rest.patch("/L/sub.json", {"y": [1, 2]}).status_code == 200
    assert s.next_change() == ("patch", "/sub", {"y": [1, 2]})


def test_multi_segment_patch_emits_puts(rest: Any, stream: Any) -> None:
    # spec §12.8: inferred — §7.4 c: one put per entry, back to back, no "/" keys in a patch
    s = listening(stream, "/L.json", None)
    assert rest.patch("/L.json", {"a/b": 1, "c/d": {"e": 2}, "f": 3}).status_code == 200
    events = [s.next_change() for _ in range(3)]
    assert sorted(events, key=repr) == sorted(
        [("put", "/a/b", 1), ("put", "/c/d", {"e": 2}), ("put", "/f", 3)], key=repr
    )
    assert rest.put("/L/marker.json", 1).status_code == 200
    assert s.next_change() == ("put", "/marker", 1)


def test_multi_path_patch_from_above(rest: Any, stream: Any) -> None:
    # spec §12.8: inferred — entries at/below L relative to L, others ignored
    s = listening(stream, "/rooms/r1.json", None)
    assert rest.patch("/.json", {"rooms/r1/t": "x", "rooms/r2/t": "y", "z": 1}).status_code == 200
    assert s.next_change() in (("put", "/t", "x"), ("put", "/", {"t": "x"}))
    assert rest.put("/rooms/r1/marker.json", 1).status_code == 200
    assert s.next_change() == ("put", "/marker", 1)


@pytest.mark.parametrize(
    ("method", "path", "body", "expected"),
    [
        ("PUT", "/rooms.json", {"r1": {"title": "z"}, "r2": 1}, ("put", "/", {"title": "z"})),
        ("PUT", "/.json", {"other": 1}, ("put", "/", None)),
        ("DELETE", "/rooms.json", None, ("put", "/", None)),
        ("PATCH", "/rooms.json", {"r1": {"n": 1}}, ("put", "/", {"n": 1})),
    ],
)
def test_write_above(
    rest: Any, stream: Any, method: str, path: str, body: Any, expected: Any
) -> None:
    # spec §12.8: inferred — §7.4 d: one put "/" with the new value at L
    assert rest.put("/rooms/r1.json", {"title": "x"}).status_code == 200
    s = listening(stream, "/rooms/r1.json", {"title": "x"})
    data = None if method == "DELETE" else json.dumps(body).encode()
    assert rest.request(method, path, data=data).status_code == 200
    assert s.next_change() == expected


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PUT", "/rooms/r2.json", 1),  # sibling
        ("PUT", "/roomsX.json", 1),  # shares a string prefix, not a path prefix
        ("PUT", "/rooms/r1x.json", 1),
        ("DELETE", "/elsewhere.json", None),
        ("PATCH", "/rooms.json", {"r2": 5}),  # above, but L unchanged
        ("PUT", "/rooms.json", {"r1": {"title": "x"}, "r2": 2}),  # above, L unchanged
    ],
)
def test_unrelated_writes_produce_nothing(
    rest: Any, stream: Any, method: str, path: str, body: Any
) -> None:
    # §7.4 e; the "above, L unchanged" rows are §7.4 d — spec §12.8: inferred
    assert rest.put("/rooms/r1.json", {"title": "x"}).status_code == 200
    s = listening(stream, "/rooms/r1.json", {"title": "x"})
    data = None if method == "DELETE" else json.dumps(body).encode()
    assert rest.request(method, path, data=data).status_code == 200
    assert rest.put("/rooms/r1/marker.json", 1).status_code == 200
    assert s.next_change() == ("put", "/marker", 1)


def test_two_streams_see_the_same_events(rest: Any, stream: Any) -> None:
    s1 = listening(stream, "/L.json", None)
    s2 = listening(stream, "/L/a.json", None)
    assert rest.put("/L/a/b.json", 1).status_code == 200
    assert s1.next_change() == ("put", "/a/b", 1)
    assert s2.next_change() == ("put", "/b", 1)


def test_listen_at_root(rest: Any, stream: Any) -> None:
    s = listening(stream, "/.json", None)
    assert rest.put("/x/y.json", 1).status_code == 200
    assert s.next_change() == ("put", "/x/y", 1)


def test_events_in_commit_order(rest: Any, stream: Any) -> None:
    s = listening(stream, "/seq.json", None)
    for i in range(100):
        assert rest.put("/seq/n.json", i, params={"print": "silent"}).status_code == 204
    assert [s.next_change() for _ in range(100)] == [("put", "/n", i) for i in range(100)]


def test_concurrent_writers_keep_the_stream_consistent(
    server_url: str, rest: Any, stream: Any
) -> None:
    s = listening(stream, "/c.json", None)
    writers, per_writer = 4, 25
    errors: list[BaseException] = []

    def write(w: int) -> None:
        try:
            with requests.Session() as session:
                for i in range(per_writer):
                    resp = session.put(
                        f"{server_url}/c/w{w}.json",
                        params={"ns": rest.ns, "print": "silent"},
                        json=i,
                        headers=OWNER,
                        timeout=10,
                    )
                    assert resp.status_code == 204
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    assert errors == []
    events = [s.next_change() for _ in range(writers * per_writer)]
    for w in range(writers):  # each writer's own writes arrive in its order
        assert [d for (_, p, d) in events if p == f"/w{w}"] == list(range(per_writer))
    assert rest.value("/c.json") == {f"w{w}": per_writer - 1 for w in range(writers)}


# ---------------------------------------------------------------------------------------------
# permissions on streams (§7.1, §7.4.5, §6.2)

RULES = {"rules": {"public": {".read": True}, "closed": {".read": False}}}


def test_denied_at_connect_is_401_json(rest: Any, stream: Any) -> None:
    # spec §12.3: inferred — an initially denied stream is a plain 401, not a stream
    rest.set_rules(RULES)
    s = stream("/closed.json", admin=False)
    assert s.resp.status == 401
    assert s.resp.getheader("Content-Type").startswith("application/json")
    assert json.loads(s.resp.read()) == {"error": "Permission denied"}


def test_override_applies_to_streams(rest: Any, stream: Any) -> None:
    rest.set_rules(RULES)
    override = {"auth_variable_override": json.dumps({"uid": "u1"}, separators=(",", ":"))}
    denied = stream("/closed.json", params=override)
    assert denied.resp.status == 401
    assert json.loads(denied.resp.read()) == {"error": "Permission denied"}
    allowed = stream("/public.json", params={"auth_variable_override": "null"})
    assert allowed.resp.status == 200
    assert allowed.next_change() == ("put", "/", None)


def test_unauthenticated_stream_on_readable_path(rest: Any, stream: Any) -> None:
    rest.set_rules(RULES)
    assert rest.put("/public/a.json", 1).status_code == 200
    s = listening(stream, "/public.json", {"a": 1}, admin=False)
    assert rest.put("/public/b.json", 2).status_code == 200
    assert s.next_change() == ("put", "/b", 2)


def test_cancel_when_read_access_is_lost(rest: Any, stream: Any) -> None:
    # spec §12.2: inferred — `cancel` carries data null; the server then closes the stream
    rest.set_rules(RULES)
    s = listening(stream, "/public.json", None, admin=False)
    rest.set_rules({"rules": {"public": {".read": False}}})
    assert s.next_event() == ("cancel", None)
    s.expect_closed()


def test_cancel_when_a_write_elsewhere_revokes_read_access(rest: Any, stream: Any) -> None:
    # Rules that read other data: a write outside the listened path can end the grant.
    rest.set_rules({"rules": {"room": {".read": "root.child('open').val() === true"}}})
    assert rest.put("/.json", {"open": True, "room": {"t": 1}}).status_code == 200
    as_user = {"auth_variable_override": json.dumps({"uid": "u1"})}
    s = listening(stream, "/room.json", {"t": 1}, params=as_user)
    assert rest.put("/room/t.json", 2).status_code == 200
    assert s.next_change() == ("put", "/t", 2)
    assert rest.put("/open.json", False).status_code == 200
    assert s.next_event() == ("cancel", None)
    s.expect_closed()


def test_stream_denied_by_an_expression_is_a_401(rest: Any, stream: Any) -> None:
    rest.set_rules({"rules": {"room": {".read": "auth != null && auth.uid === 'ana'"}}})
    s = stream("/room.json", params={"auth_variable_override": json.dumps({"uid": "bob"})})
    assert s.resp.status == 401
    assert json.loads(s.resp.read()) == {"error": "Permission denied"}
    ok = listening(stream, "/room.json", None, params={"auth_variable_override": json.dumps({"uid": "ana"})})
    assert rest.put("/room.json", {"x": 1}).status_code == 200
    assert ok.next_change() == ("put", "/", {"x": 1})


# ---------------------------------------------------------------------------------------------
# keep-alive and reconnect: our own server (the real keep-alive period is 30 s)


@pytest.fixture
def own_server() -> Iterator[Any]:
    from focuscli.server import LocalServer

    with LocalServer(port=0, keepalive=0.5) as server:
        yield server


@pytest.mark.focus_serve
def test_keep_alive(own_server: Any, ns: str) -> None:
    s = Stream(own_server.url, "/k.json", {"ns": ns}, OWNER)
    try:
        assert s.read_block() == b'event: put\ndata: {"path":"/","data":null}'
        for _ in range(2):
            assert s.read_block(timeout=3) == b"event: keep-alive\ndata: null"
        # a keep-alive never stands in for data: writes still arrive promptly
        url = f"{own_server.url}/k/a.json"
        requests.put(url, params={"ns": ns}, json=1, headers=OWNER, timeout=10).raise_for_status()
        assert s.next_change(timeout=3) == ("put", "/a", 1)
    finally:
        s.close()


@contextmanager
def sdk_listener(url: str, ns: str, path: str) -> Iterator[queue.Queue[Any]]:
    import firebase_admin
    from firebase_admin import db

    app = firebase_admin.initialize_app(
        options={"databaseURL": f"{url}/?ns={ns}", "projectId": "demo-focus"},
        name=f"sse-{uuid.uuid4().hex}",
    )
    events: queue.Queue[Any] = queue.Queue()
    registration = db.reference(path, app=app).listen(
        lambda e: events.put((e.event_type, e.path, e.data))
    )
    try:
        yield events
    finally:
        # prompt, clean close (see test_sdk_contract.stop_listening for why)
        sse = registration._sse
        sse.should_connect = False
        sse.retry = 0
        with suppress(ValueError, RuntimeError, OSError):
            sse.resp.raw.shutdown()
        registration._thread.join(timeout=10)
        registration.close()
        firebase_admin.delete_app(app)


@pytest.mark.focus_serve
def test_sdk_listener_survives_restart(own_server: Any, ns: str) -> None:
    with sdk_listener(own_server.url, ns, "/r") as events:
        assert events.get(timeout=5) == ("put", "/", None)
        own_server.restart()
        resp = requests.put(
            f"{own_server.url}/r/v.json", params={"ns": ns}, json="after", headers=OWNER, timeout=10
        )
        assert resp.status_code == 200
        # the SDK reconnects after 3 s; the write arrives as its own put or in the fresh put "/"
        deadline = time.monotonic() + 15
        while True:
            remaining = deadline - time.monotonic()
            assert remaining > 0, "the write after restart never reached the callback"
            try:
                event = events.get(timeout=remaining)
            except queue.Empty:
                continue
            if event in (("put", "/v", "after"), ("put", "/", {"v": "after"})):
                break


@pytest.mark.focus_serve
def test_auth_revoked_when_the_token_expires(own_server: Any, ns: str) -> None:
    import base64

    def b64(obj: Any) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    now = int(time.time())
    token = f"{b64({'alg': 'none'})}.{b64({'sub': 'ana', 'iat': now, 'exp': now + 2})}."
    requests.put(
        f"{own_server.url}/.settings/rules.json?ns={ns}",
        data=b'{"rules": {".read": "auth != null"}}',
        headers=OWNER,
        timeout=5,
    ).raise_for_status()
    s = Stream(own_server.url, "/a.json", {"ns": ns, "auth": token}, {})
    try:
        assert s.read_block() == b'event: put\ndata: {"path":"/","data":null}'
        # §7.3: the bare text (not JSON) the SDK compares, then the server closes.
        block = s.read_block(timeout=5)
        while block == b"event: keep-alive\ndata: null":  # idle until the token runs out
            block = s.read_block(timeout=5)
        assert block == b"event: auth_revoked\ndata: credential is no longer valid"
        with pytest.raises(StreamClosed):
            s.read_block(timeout=5)
    finally:
        s.close()
