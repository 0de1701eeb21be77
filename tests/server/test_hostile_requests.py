"""Nothing anyone sends can exhaust or stall `focus serve` (issue 11 item 1).

Each attack as it was found, on real sockets against a server on a background thread: bodies
past the size limit (declared, or streamed without a length), writes from callers no rule lets
write, headers and bodies that never finish or trickle, and big writes, refused or not, that
used to freeze every other client while they were parsed and judged on the event loop.

"Meanwhile" is made exact rather than timed: the big write's judgement (on the worker thread) is
held at a checkpoint while other clients are served, and released only afterwards.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from focuscli.server import LocalServer, bigrequests
from focuscli.server.limits import MIB, Limits
from focuscli.server.wire import TOO_BIG
from tests.server.test_rest_robustness import token

pytestmark = pytest.mark.focus_serve

ALICE = token('{"sub":"alice"}')
OWNER = {"Authorization": "Bearer owner"}
LIMITS = Limits(request_timeout=1.0, min_body_rate=64 * 1024, max_body_bytes=4 * MIB,
                max_write_values=50_000, inline_bytes=16 * 1024)  # fmt: skip
RULES = json.dumps({"rules": {
    "open": {".read": True, ".write": True},
    "users": {"$uid": {".read": "auth != null && auth.uid === $uid",
                       ".write": "auth != null && auth.uid === $uid"}},
    # writable only while the switch is on: what the rules of a big write look at elsewhere
    "gated": {".read": True, ".write": "auth != null && root.child('switch').val() === true"},
    "switch": {".read": True, ".write": "auth != null"},
    "other": {".read": True, ".write": "auth != null"},
    # each entry writable unless its flag says no: a multi-path write looks at one place per path
    "many": {".read": True, "$k": {".write": "auth != null && root.child('flags/' + $k).val() !== false"}},
    "flags": {".read": True, ".write": "auth != null"},
    # compare-and-set, as focus's state: rev must be the current rev + 1
    "cas": {".read": True, ".write": "auth != null",
            ".validate": "newData.child('rev').val() === (data.child('rev').isNumber() ? data.child('rev').val() : 0) + 1"},
}})  # fmt: skip


def big_body(entries: int = 3000, tag: str = "x") -> bytes:
    """A JSON object far past the inline limit (about 30 bytes an entry)."""
    return json.dumps({f"k{i:06d}": {"v": i, "t": tag} for i in range(entries)}).encode()


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    with LocalServer(port=0, rules_source=RULES, limits=LIMITS) as running:
        yield running


@pytest.fixture
def base(server: LocalServer, ns: str) -> str:
    return server.url


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def call(base: str, ns: str, method: str, path: str, body: bytes | None = None,
         headers: dict[str, str] | None = None, auth: str | None = "owner",
         params: dict[str, str] | None = None) -> requests.Response:  # fmt: skip
    """One request on a fresh connection (the server closes idle ones after 1 s here)."""
    hdrs = dict(headers or {})
    query = {"ns": ns, **(params or {})}
    if auth == "owner":
        hdrs.update(OWNER)
    elif auth is not None:
        query["auth"] = auth
    with requests.Session() as session:
        return session.request(method, f"{base}{path}", data=body, headers=hdrs, params=query, timeout=30)


def raw_answer(sock: socket.socket, timeout: float = 10.0) -> tuple[int, dict[str, str], bytes]:
    """Read one HTTP answer (with Content-Length) from ``sock``."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before an answer: {data!r}"
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        assert chunk, "connection closed in the middle of an answer"
        rest += chunk
    return int(lines[0].split()[1]), headers, rest[:length]


def closed_within(sock: socket.socket, seconds: float) -> bool:
    """True if the server closes ``sock`` within ``seconds`` (it sends nothing first)."""
    sock.settimeout(seconds)
    try:
        return sock.recv(1) == b""
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


# -- sizes ------------------------------------------------------------------------------------


def test_a_declared_oversize_body_is_413_before_it_is_sent(base: str, ns: str) -> None:
    with socket.create_connection(("127.0.0.1", port_of(base))) as sock:
        sock.sendall(b"PUT /open.json?ns=%s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer owner\r\n"
                     b"Content-Length: %d\r\n\r\n" % (ns.encode(), 4 * MIB + 1))  # fmt: skip
        status, headers, body = raw_answer(sock)
    assert status == 413
    assert json.loads(body) == {"error": TOO_BIG}


def test_a_streamed_oversize_body_is_413_as_it_streams(base: str, ns: str) -> None:
    sent = 0

    def chunks() -> Iterator[bytes]:  # 12 MiB of a JSON string, never more than 1 MiB at once
        nonlocal sent
        yield b'"'
        for _ in range(12):
            sent += MIB
            yield b"a" * MIB
        yield b'"'

    resp = call(base, ns, "PUT", "/open.json", chunks())  # type: ignore[arg-type]
    assert resp.status_code == 413, resp.text
    assert resp.json() == {"error": TOO_BIG}
    assert call(base, ns, "GET", "/open.json").json() is None


def test_a_caller_no_rule_lets_write_is_refused_before_the_body(base: str, ns: str) -> None:
    """An anonymous PUT declaring 3 MiB, and one chunked, get their 401 with nothing sent."""
    for framing in (b"Content-Length: %d" % (3 * MIB), b"Transfer-Encoding: chunked"):
        with socket.create_connection(("127.0.0.1", port_of(base))) as sock:
            sock.sendall(b"PUT /users/alice/x.json?ns=%s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n\r\n"
                         % (ns.encode(), framing))  # fmt: skip
            status, _, body = raw_answer(sock)
        assert status == 401
        assert json.loads(body) == {"error": "Permission denied"}
    # and a member writing in someone else's place, the same
    with socket.create_connection(("127.0.0.1", port_of(base))) as sock:
        sock.sendall(b"PATCH /users/bob.json?ns=%s&auth=%s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     b"Content-Length: 1000000\r\n\r\n" % (ns.encode(), ALICE.encode()))  # fmt: skip
        assert raw_answer(sock)[0] == 401


def test_too_many_values_from_a_member_is_refused(base: str, ns: str) -> None:
    body = b"[" + b"0," * 60_000 + b"0]"  # 60,001 values, past the 50,000 of these limits
    resp = call(base, ns, "PUT", "/users/alice/list.json", body, auth=ALICE)
    assert resp.status_code == 400
    assert resp.json() == {"error": TOO_BIG}
    assert call(base, ns, "PUT", "/open/list.json", body).status_code == 200  # admins: no limit


def test_deep_nesting_in_a_big_body_is_400(base: str, ns: str) -> None:
    for body in (b"[" * MIB + b"]" * MIB, b'{"a":' * 100_000 + b"1" + b"}" * 100_000):
        resp = call(base, ns, "PUT", "/open/deep.json", body)
        assert resp.status_code == 400
        assert "error" in resp.json()
    assert call(base, ns, "GET", "/open.json").json() is None


def test_broken_chunked_framing_is_400(base: str, ns: str) -> None:
    with socket.create_connection(("127.0.0.1", port_of(base))) as sock:
        sock.sendall(b"PUT /open.json?ns=%s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer owner\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n4\r\n1234\r\nzz\r\n" % ns.encode())  # fmt: skip
        sock.settimeout(10)
        data = b""
        with contextlib.suppress(ConnectionResetError):
            while chunk := sock.recv(65536):
                data += chunk
    assert data.split(b"\r\n")[0].split(b" ")[1] == b"400", data[:200]
    assert call(base, ns, "GET", "/open.json").json() is None


# -- time -------------------------------------------------------------------------------------


def test_headers_that_never_finish_are_cut(base: str) -> None:
    with socket.create_connection(("127.0.0.1", port_of(base))) as sock:
        sock.sendall(b"GET /open.json HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        assert closed_within(sock, 10)
    with socket.create_connection(("127.0.0.1", port_of(base))) as sock:
        assert closed_within(sock, 10)  # nothing at all


def test_headers_that_trickle_are_cut(base: str) -> None:
    line = b"GET /open.json HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"X-Pad: " + b"a" * 200 + b"\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port_of(base))) as sock:
        sent = 0
        deadline = time.monotonic() + 10
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            while sent < len(line) and time.monotonic() < deadline:
                sock.sendall(line[sent : sent + 1])
                sent += 1
                time.sleep(0.02)  # pacing of the attacker, not a wait for the server
        assert sent < len(line), "the server waited for 10 s of trickled headers"
        assert closed_within(sock, 10)


def test_a_body_that_stops_is_408(base: str, ns: str) -> None:
    with socket.create_connection(("127.0.0.1", port_of(base))) as sock:
        sock.sendall(b"PUT /open/slow.json?ns=%s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer owner"
                     b"\r\nContent-Length: 1000\r\n\r\n[1,2,3" % ns.encode())  # fmt: skip
        status, _, body = raw_answer(sock)
    assert status == 408
    assert "too slowly" in json.loads(body)["error"]
    assert call(base, ns, "GET", "/open.json").json() is None


def test_a_body_that_trickles_is_408(base: str, ns: str) -> None:
    with socket.create_connection(("127.0.0.1", port_of(base))) as sock:
        sock.sendall(b"PUT /open/slow.json?ns=%s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer owner"
                     b"\r\nContent-Length: 100000\r\n\r\n" % ns.encode())  # fmt: skip
        deadline = time.monotonic() + 10
        sock.setblocking(False)
        answer = b""
        while time.monotonic() < deadline and not answer:
            with contextlib.suppress(BlockingIOError, BrokenPipeError, ConnectionResetError):
                sock.send(b"1")  # 50 bytes a second: far below the minimum rate
            with contextlib.suppress(BlockingIOError):
                answer = sock.recv(65536)
            time.sleep(0.02)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]


# -- big writes do not stall anyone -----------------------------------------------------------


class Checkpoint:
    """Holds big writes on the worker thread, just after their judgement, until released."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.reached = threading.Event()
        self.go = threading.Event()
        self.judgements = 0
        original = bigrequests.Write._judge

        def judge(write: Any, *args: Any) -> Any:
            try:
                return original(write, *args)
            finally:
                self.judgements += 1
                self.reached.set()
                assert self.go.wait(30), "never released"

        monkeypatch.setattr(bigrequests.Write, "_judge", judge)

    def wait(self) -> None:
        assert self.reached.wait(30), "the big write never reached its judgement"
        self.reached.clear()


@contextlib.contextmanager
def in_background(fn: Any, *args: Any, **kwargs: Any) -> Iterator[list[Any]]:
    result: list[Any] = []
    thread = threading.Thread(target=lambda: result.append(fn(*args, **kwargs)), daemon=True)
    thread.start()
    try:
        yield result
    finally:
        thread.join(60)
        assert not thread.is_alive()


class Events:
    """A stream at the namespace's root, read on a thread: (event, data) in arrival order."""

    def __init__(self, base: str, ns: str) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port_of(base), timeout=30)
        self.conn.request("GET", f"/.json?ns={ns}", headers={"Accept": "text/event-stream", **OWNER})
        self.resp = self.conn.getresponse()
        self.items: list[tuple[str, Any]] = []
        self.cond = threading.Condition()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        event = None
        with contextlib.suppress(Exception):
            for line in self.resp:
                if line.startswith(b"event: "):
                    event = line[7:].strip().decode()
                elif line.startswith(b"data: ") and event in ("put", "patch"):
                    with self.cond:
                        self.items.append((event, json.loads(line[6:])))
                        self.cond.notify_all()

    def wait_for(self, count: int) -> list[tuple[str, Any]]:
        with self.cond:
            assert self.cond.wait_for(lambda: len(self.items) >= count, 30), self.items
            return list(self.items)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.conn.sock.shutdown(socket.SHUT_RDWR)  # the reader's recv returns at once
        self.thread.join(10)
        self.conn.close()


def test_a_big_write_does_not_stall_other_clients(base: str, ns: str, monkeypatch: Any) -> None:
    stream = Events(base, ns)
    stream.wait_for(1)  # the initial put
    checkpoint = Checkpoint(monkeypatch)
    with in_background(call, base, ns, "PUT", "/open/big.json", big_body(), auth=ALICE) as done:
        checkpoint.wait()  # the big write is judged, not committed, and held there
        # meanwhile: reads, a small write and a new stream are served
        assert call(base, ns, "GET", "/open.json").json() is None
        assert call(base, ns, "PUT", "/other/x.json", b"1", auth=ALICE).status_code == 200
        assert call(base, ns, "GET", "/other/x.json").json() == 1
        assert not done
        checkpoint.go.set()
    assert done[0].status_code == 200, done[0].text
    assert done[0].json() == json.loads(big_body())
    assert call(base, ns, "GET", "/open/big/k000042.json").json() == {"t": "x", "v": 42}
    # the stream got both, in commit order: the small write first
    items = stream.wait_for(3)
    assert items[1] == ("put", {"path": "/other/x", "data": 1})
    assert items[2] == ("put", {"path": "/open/big", "data": json.loads(big_body())})
    stream.close()


def test_a_big_refused_write_does_not_stall_other_clients(base: str, ns: str, monkeypatch: Any) -> None:
    checkpoint = Checkpoint(monkeypatch)  # the switch is off: the rules refuse it
    with in_background(call, base, ns, "PUT", "/gated.json", big_body(), auth=ALICE) as done:
        checkpoint.wait()
        assert call(base, ns, "GET", "/gated.json").json() is None
        assert call(base, ns, "PUT", "/other/y.json", b"2", auth=ALICE).status_code == 200
        checkpoint.go.set()
    assert done[0].status_code == 401
    assert call(base, ns, "GET", "/gated.json").json() is None


def test_a_big_write_is_judged_against_the_tree_at_commit(base: str, ns: str, monkeypatch: Any) -> None:
    assert call(base, ns, "PUT", "/switch.json", b"true", auth=ALICE).status_code == 200
    checkpoint = Checkpoint(monkeypatch)
    with in_background(call, base, ns, "PUT", "/gated.json", big_body(), auth=ALICE) as done:
        checkpoint.wait()  # judged with the switch on ...
        assert call(base, ns, "PUT", "/switch.json", b"false", auth=ALICE).status_code == 200
        checkpoint.go.set()  # ... committed only after the switch went off: judged again, refused
    assert done[0].status_code == 401, done[0].text
    assert call(base, ns, "GET", "/gated.json").json() is None
    assert checkpoint.judgements == 2


def test_an_unrelated_commit_meanwhile_costs_no_second_judgement(base: str, ns: str, monkeypatch: Any) -> None:
    assert call(base, ns, "PUT", "/switch.json", b"true", auth=ALICE).status_code == 200
    checkpoint = Checkpoint(monkeypatch)
    with in_background(call, base, ns, "PUT", "/gated.json", big_body(), auth=ALICE) as done:
        checkpoint.wait()
        assert call(base, ns, "PUT", "/other/z.json", b"3", auth=ALICE).status_code == 200
        checkpoint.go.set()
    assert done[0].status_code == 200, done[0].text
    assert checkpoint.judgements == 1
    assert call(base, ns, "GET", "/other/z.json").json() == 3
    assert call(base, ns, "GET", "/gated/k000001/v.json").json() == 1


@pytest.mark.parametrize(
    ("path", "value", "judgements", "status"),
    [
        ("/other/m.json", b"1", 1, 200),  # nowhere its rules looked
        ("/flags/k02999.json", b"false", 2, 401),  # where the rules of its last path looked
        ("/flags.json", b'{"k00000": false}', 2, 401),  # above where they looked
    ],
)
def test_a_commit_where_one_of_many_paths_looked(
    base: str, ns: str, monkeypatch: Any, path: str, value: bytes, judgements: int, status: int
) -> None:
    """A big multi-path write whose rules looked at thousands of places is judged again when a
    commit meanwhile wrote at or above any one of them, and only then."""
    body = json.dumps({f"k{i:05d}": i for i in range(3000)}).encode()
    assert call(base, ns, "PUT", "/other/first.json", b"0", auth=ALICE).status_code == 200
    checkpoint = Checkpoint(monkeypatch)
    with in_background(call, base, ns, "PATCH", "/many.json", body, auth=ALICE) as done:
        checkpoint.wait()
        assert call(base, ns, "PUT", path, value, auth=ALICE).status_code == 200
        checkpoint.go.set()
    assert done[0].status_code == status, done[0].text
    assert checkpoint.judgements == judgements
    assert call(base, ns, "GET", "/many/k00001.json").json() == (1 if status == 200 else None)


def test_a_big_write_to_a_namespace_created_meanwhile(base: str, ns: str, monkeypatch: Any) -> None:
    """The first write to a namespace is big; a small one creates the namespace meanwhile: both
    land (the big one judged again, on the namespace as created)."""
    checkpoint = Checkpoint(monkeypatch)
    with in_background(call, base, ns, "PUT", "/open/big.json", big_body(), auth=ALICE) as done:
        checkpoint.wait()
        assert call(base, ns, "PUT", "/other/x.json", b"1", auth=ALICE).status_code == 200
        checkpoint.go.set()
    assert done[0].status_code == 200, done[0].text
    assert checkpoint.judgements == 2
    assert call(base, ns, "GET", "/other/x.json").json() == 1
    assert call(base, ns, "GET", "/open/big/k000042.json").json() == {"t": "x", "v": 42}


def test_a_commit_under_a_node_a_big_write_empties(base: str, ns: str, monkeypatch: Any) -> None:
    """A commit meanwhile under a node the big write empties: the node stays, with its priority
    (as if the big write had been judged after it)."""
    assert call(base, ns, "PUT", "/open/p.json", b'{".priority": 5, "a": 1}').status_code == 200
    body = json.dumps({"p/a": None, "q": json.loads(big_body())}).encode()
    checkpoint = Checkpoint(monkeypatch)
    with in_background(call, base, ns, "PATCH", "/open.json", body, auth=ALICE) as done:
        checkpoint.wait()
        assert call(base, ns, "PUT", "/open/p/b.json", b"2", auth=ALICE).status_code == 200
        checkpoint.go.set()
    assert done[0].status_code == 200, done[0].text
    assert checkpoint.judgements == 2
    exported = call(base, ns, "GET", "/open/p.json", params={"format": "export"}).json()
    assert exported == {".priority": 5, "b": 2}
    assert call(base, ns, "GET", "/open/q/k000042.json").json() == {"t": "x", "v": 42}


def test_compare_and_set_big_against_small(base: str, ns: str, monkeypatch: Any) -> None:
    """Two writes ask for rev 8, a big one and a small one: exactly one passes."""
    assert call(base, ns, "PUT", "/cas.json", b'{"rev": 7}').status_code == 200
    checkpoint = Checkpoint(monkeypatch)
    big = json.dumps({"rev": 8, "blob": json.loads(big_body())}).encode()
    with in_background(call, base, ns, "PUT", "/cas.json", big, auth=ALICE) as done:
        checkpoint.wait()  # judged against rev 7: it would pass
        small = call(base, ns, "PUT", "/cas.json", b'{"rev": 8, "by": "small"}', auth=ALICE)
        assert small.status_code == 200
        checkpoint.go.set()
    assert done[0].status_code == 401
    assert call(base, ns, "GET", "/cas.json").json() == {"rev": 8, "by": "small"}


def test_the_gate_holds_other_writes_back(
    server: LocalServer, base: str, ns: str, monkeypatch: Any
) -> None:
    """A big write overtaken too often is judged with the namespace's other writes held back:
    they wait for it, and then go through."""
    monkeypatch.setattr(bigrequests, "OPTIMISTIC_ATTEMPTS", 0)
    stream = Events(base, ns)
    stream.wait_for(1)
    checkpoint = Checkpoint(monkeypatch)
    with in_background(call, base, ns, "PUT", "/open/big.json", big_body(), auth=ALICE) as done:
        checkpoint.wait()
        assert call(base, ns, "GET", "/open/big.json").json() is None  # reads are served
        with in_background(call, base, ns, "PUT", "/other/w.json", b"4", auth=ALICE) as small:
            in_flight = server._running.http._requests  # type: ignore[union-attr]
            deadline = time.monotonic() + 30
            while len(in_flight) < 2 and time.monotonic() < deadline:  # the big one, the small one
                time.sleep(0.01)
            assert len(in_flight) == 2
            assert call(base, ns, "GET", "/other/w.json").json() is None  # the write waits
            checkpoint.go.set()
        assert small[0].status_code == 200
    assert done[0].status_code == 200
    items = stream.wait_for(3)
    assert [item[1]["path"] for item in items[1:]] == ["/open/big", "/other/w"]
    stream.close()


# -- big writes keep every guarantee of small ones ----------------------------------------------


def test_big_writes_etags_and_if_match(base: str, ns: str) -> None:
    body = big_body()
    resp = call(base, ns, "PUT", "/open/e.json", body, headers={"X-Firebase-ETag": "true"})
    assert resp.status_code == 200
    tag = resp.headers["ETag"]
    got = call(base, ns, "GET", "/open/e.json", headers={"X-Firebase-ETag": "true"})
    assert got.headers["ETag"] == tag
    assert call(base, ns, "GET", "/open/e.json", headers={"if-none-match": tag}).status_code == 304
    stale = call(base, ns, "PUT", "/open/e.json", big_body(tag="y"), headers={"if-match": "stale"})
    assert stale.status_code == 412
    assert stale.headers["ETag"] == tag
    assert stale.json() == json.loads(body)
    fresh = call(base, ns, "PUT", "/open/e.json", big_body(tag="y"), headers={"if-match": tag})
    assert fresh.status_code == 200
    assert fresh.headers["ETag"] != tag
    assert call(base, ns, "GET", "/open/e/k000003/t.json").json() == "y"
    # a small write on a big value with a stale ETag: the 412 carries the big value
    small = call(base, ns, "PUT", "/open/e.json", b"1", headers={"if-match": tag})
    assert small.status_code == 412
    assert small.json()["k000003"] == {"t": "y", "v": 3}


def test_big_reads(base: str, ns: str) -> None:
    value = json.loads(big_body())
    assert call(base, ns, "PUT", "/open/r.json", json.dumps(value).encode()).status_code == 200
    assert call(base, ns, "GET", "/open/r.json").json() == value
    assert call(base, ns, "GET", "/open/r.json", params={"format": "export"}).json() == value
    assert call(base, ns, "GET", "/open/r.json", params={"shallow": "true"}).json() == {k: True for k in value}
    first = call(base, ns, "GET", "/open/r.json", params={"orderBy": '"$key"', "limitToFirst": "2"})
    assert first.json() == {"k000000": value["k000000"], "k000001": value["k000001"]}
    pretty = call(base, ns, "GET", "/open/r.json", params={"print": "pretty"})
    assert pretty.text.startswith('{\n  "k000000" : {')


def test_big_patch_post_and_delete(base: str, ns: str) -> None:
    stream = Events(base, ns)
    stream.wait_for(1)
    patch = {f"p{i}": i for i in range(3000)}
    resp = call(base, ns, "PATCH", "/open.json", json.dumps(patch).encode())
    assert resp.status_code == 200
    assert resp.json() == patch
    posted = call(base, ns, "POST", "/open/list.json", big_body())
    assert posted.status_code == 200
    name = posted.json()["name"]
    assert call(base, ns, "GET", f"/open/list/{name}/k000002/v.json").json() == 2
    items = stream.wait_for(3)
    assert items[1] == ("patch", {"path": "/open", "data": patch})
    assert items[2] == ("put", {"path": f"/open/list/{name}", "data": json.loads(big_body())})
    stream.close()
    # a new stream on a big value gets it whole in its first event
    late = Events(base, ns)
    assert late.wait_for(1)[0][1]["data"]["open"]["p2999"] == 2999
    late.close()


def test_big_writes_are_durable(tmp_path: Path) -> None:
    value = json.loads(big_body(20_000))
    with LocalServer(port=0, data_dir=tmp_path, limits=LIMITS) as running:
        resp = call(running.url, "d", "PUT", "/a.json", json.dumps(value).encode())
        assert resp.status_code == 200
        assert call(running.url, "d", "PUT", "/b.json", big_body(40_000)).status_code == 200
    # (stopping wrote a snapshot of both, encoded step by step)
    with LocalServer(port=0, data_dir=tmp_path, limits=LIMITS) as running:
        assert call(running.url, "d", "GET", "/a.json").json() == value
        assert call(running.url, "d", "GET", "/b/k039999/v.json").json() == 39_999


def test_a_silent_big_write_renders_nothing_it_need_not(base: str, ns: str) -> None:
    resp = call(base, ns, "PUT", "/open/s.json", big_body(), params={"print": "silent"})
    assert resp.status_code == 204
    assert resp.content == b""
    assert call(base, ns, "GET", "/open/s/k000009/v.json").json() == 9
    # a stream opened afterwards still sees it all
    late = Events(base, ns)
    assert late.wait_for(1)[0][1]["data"]["open"]["s"]["k000009"] == {"t": "x", "v": 9}
    late.close()
