"""Clean shutdown: SIGTERM to `focus serve` with open streams and writes in flight.

The server must exit 0 with nothing on stderr; every write it acknowledged (before or during
the shutdown) is there after a restart on the same data directory and port; a write that
reached it during the shutdown gets either such a durable acknowledgement or a clean failure
(connection refused or reset, or 503), never an acknowledgement that is then lost; open streams
end (they do not hang) after delivering every write acknowledged before the signal; and
focuscli.stream clients see the disconnect, reconnect to the next server on their own and get
the full state: a put at "/" with every acknowledged write, then whatever comes after.
"""

from __future__ import annotations

import json
import signal
import socket
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import requests

from focuscli.backend import Database, Target
from focuscli.stream import SseParser, Stream, StreamEvent
from tests.members import EmulatorMember
from tests.reliability.conftest import apply_event

pytestmark = pytest.mark.focus_serve

NS = "shutdown"
OWNER = {"Authorization": "Bearer owner"}
WRITERS = 8
RAW_STREAMS = 3
FOCUS_STREAMS = 3
ACKS_BEFORE_SIGTERM = 150
DEADLINE_S = 8.0
BULK = 6, 1_500_000  # values of this many bytes sent to a stream whose client stopped reading
# A stuck stream handler used to hold the exit for twice aiohttp's shutdown_timeout (4 s in
# all); now it is cut after a 0.5 s grace. The margin is for a loaded machine.
EXIT_WITHIN_S = 3.5


class RawStream:
    """A plain `Accept: text/event-stream` GET, read on a thread until the server ends it."""

    def __init__(self, url: str, path: str) -> None:
        self.response = requests.get(
            f"{url}{path}.json", params={"ns": NS},
            headers={**OWNER, "Accept": "text/event-stream"}, stream=True, timeout=(5, 30),
        )  # fmt: skip
        assert self.response.status_code == 200, self.response.text
        self.state: Any = None
        self.events = 0
        self.first = threading.Event()
        self.ended = threading.Event()
        self.end = ""  # how it ended: "eof" (clean end of the chunked body) or the error
        self.ended_at = 0.0
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._read, name="raw-stream", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        parser = SseParser()
        try:
            while chunk := self.response.raw.read1(65536):
                for name, text in parser.feed(chunk):
                    if name in ("put", "patch"):
                        message = json.loads(text)
                        with self._lock:
                            self.state = apply_event(self.state, name, message["path"], message["data"])
                            self.events += 1
                        self.first.set()
            self.end = "eof"
        except Exception as err:  # the test reports how the stream ended
            self.end = f"{type(err).__name__}: {err}"
        finally:
            self.ended_at = time.monotonic()
            self.ended.set()
            self.response.close()

    def snapshot(self) -> Any:
        with self._lock:
            return self.state


class FocusClient:
    """focuscli.stream.Stream as `focus watch` uses it, with its events collected on a thread."""

    def __init__(self, url: str, user: str) -> None:
        self.db = Database(Target(f"{url}?ns={NS}", None, "emulator"), EmulatorMember(user))
        self.stream: Stream = self.db.stream("/live", watchdog_s=5.0, backoff=(0.05, 0.2))
        self.events: list[tuple[float, StreamEvent]] = []
        self.cond = threading.Condition()
        self._thread = threading.Thread(target=self._collect, name=f"focus-{user}", daemon=True)
        self._thread.start()

    def _collect(self) -> None:
        for event in self.stream:
            with self.cond:
                self.events.append((time.monotonic(), event))
                self.cond.notify_all()

    def wait_for(self, what: str, predicate: Any, deadline: float) -> int:
        """Index of the first event (from any earlier one) satisfying predicate(index, event)."""
        with self.cond:
            while True:
                for i, (_, event) in enumerate(self.events):
                    if predicate(i, event):
                        return i
                left = deadline - time.monotonic()
                assert left > 0, f"{what}: not seen in time; events: {[e for _, e in self.events][-8:]}"
                self.cond.wait(left)

    def state_from(self, index: int) -> Any:
        """The value rebuilt from the put at `index` and every data event after it."""
        with self.cond:
            events = [e for _, e in self.events[index:]]
        state: Any = None
        for event in events:
            if event.kind in ("put", "patch"):
                state = apply_event(state, event.kind, event.path, event.data)
        return state

    def close(self) -> None:
        self.db.close()
        self._thread.join(5)


class Writer:
    """Writes unique keys one at a time, keeping the outcome of each; half on a keep-alive
    session, half on a fresh connection per request."""

    def __init__(self, url: str, wid: int) -> None:
        self.url = url
        self.wid = wid
        self.outcomes: list[tuple[str, Any, str, float]] = []  # (key, value, outcome, when)
        self.errors: list[str] = []
        self.stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"writer-{wid}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        session = requests.Session() if self.wid % 2 == 0 else None
        n = 0
        try:
            while not self.stop.is_set():
                n += 1
                key = f"w{self.wid}n{n}"
                value = {"n": n, "at": {".sv": "timestamp"}}
                call = session.request if session is not None else requests.request
                try:
                    if n % 3:
                        resp = call("PUT", f"{self.url}/live/{key}.json", params={"ns": NS},
                                    json=value, headers=OWNER, timeout=10)  # fmt: skip
                    else:  # multi-path: the key and a per-writer "last" together
                        resp = call("PATCH", f"{self.url}/live.json", params={"ns": NS},
                                    json={key: value, f"last/w{self.wid}": n}, headers=OWNER, timeout=10)  # fmt: skip
                except requests.ConnectionError:
                    outcome = "connection failed"
                    time.sleep(0.01)  # the server is going or gone: do not spin
                except requests.RequestException as err:
                    outcome = "error"
                    self.errors.append(f"{key}: {type(err).__name__}: {err}")
                else:
                    if resp.status_code == 200:
                        outcome = "acked"
                    elif resp.status_code == 503:
                        outcome = "503"
                    else:
                        outcome = "error"
                        self.errors.append(f"{key}: HTTP {resp.status_code} {resp.text[:200]}")
                self.outcomes.append((key, n, outcome, time.monotonic()))
        finally:
            if session is not None:
                session.close()

    def join(self, deadline: float) -> None:
        self._thread.join(max(0.0, deadline - time.monotonic()))
        assert not self._thread.is_alive(), f"writer {self.wid} still blocked"


def _stalled_stream(url: str, path: str) -> socket.socket:
    """A stream whose client never reads (a tiny receive window): its server side blocks."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: the window
    sock.settimeout(10)
    sock.connect((host, int(port)))
    sock.sendall(
        f"GET {path}.json?ns={NS} HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\n"
        "Authorization: Bearer owner\r\n\r\n".encode()
    )
    return sock


class LateRequest:
    """A connection opened before the SIGTERM on which a request is sent, or finished, only once
    the server has stopped accepting connections: it is under way during the shutdown."""

    def __init__(self, url: str, head: bytes, rest: bytes) -> None:
        self.host, port = url.removeprefix("http://").rsplit(":", 1)
        self.port = int(port)
        self.rest = rest
        self.sock = socket.create_connection((self.host, self.port), timeout=10)
        self.sock.sendall(head)

    def finish(self, deadline: float) -> bytes:
        """Wait (bounded) until new connections are refused, send the rest, read to the end."""
        while True:
            try:
                socket.create_connection((self.host, self.port), timeout=1).close()
            except ConnectionRefusedError:
                break
            assert time.monotonic() < deadline, "the server kept accepting connections after SIGTERM"
            time.sleep(0.002)
        self.sock.sendall(self.rest)
        answer = b""
        try:
            while chunk := self.sock.recv(65536):  # the socket's timeout bounds each wait
                answer += chunk
        except OSError as err:
            return answer + f"\n[{type(err).__name__}: {err}]".encode()
        return answer


def _slow_write(url: str, path: str, value: Any) -> LateRequest:
    """A PUT whose headers arrive before the SIGTERM and whose body during the shutdown."""
    body = json.dumps(value).encode()
    head = (
        f"PUT {path}.json?ns={NS} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer owner\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return LateRequest(url, head.encode(), body)


def _late_stream(url: str, path: str) -> LateRequest:
    """A stream asked for on a connection opened before the SIGTERM, during the shutdown."""
    get = f"GET {path}.json?ns={NS} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n"
    return LateRequest(url, b"", get.encode())


def _wait(what: str, condition: Any, deadline: float) -> None:
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.005)


def test_sigterm_flushes_acknowledged_writes_ends_streams_and_clients_reconnect(
    spawn_server: Any, tmp_path: Path, figures: Any
) -> None:
    data = str(tmp_path / "db")
    first = spawn_server("--port", "0", "--data-dir", data)
    port = first.url.rsplit(":", 1)[1]  # the OS picked a free port: the next server reuses it
    assert requests.put(f"{first.url}/live/seed.json", params={"ns": NS}, json=1, headers=OWNER,
                        timeout=10).status_code == 200  # fmt: skip

    raw = [RawStream(first.url, "/live") for _ in range(RAW_STREAMS)]
    clients = [FocusClient(first.url, f"user{i}") for i in range(FOCUS_STREAMS)]
    writers = [Writer(first.url, w) for w in range(WRITERS)]
    stalled = _stalled_stream(first.url, "/bulk")
    probes: list[LateRequest] = []
    try:
        count, size = BULK
        for i in range(count):  # more than the socket buffers hold: the stream's handler waits
            resp = requests.put(f"{first.url}/bulk/b{i}.json", params={"ns": NS, "print": "silent"},
                                json="x" * size, headers=OWNER, timeout=10)  # fmt: skip
            assert resp.status_code == 204, resp.text
        deadline = time.monotonic() + DEADLINE_S
        for stream in raw:
            assert stream.first.wait(max(0.0, deadline - time.monotonic())), "a raw stream got no put"
        for client in clients:
            client.wait_for("first put", lambda i, e: e.kind == "put" and e.path == "/", deadline)
        for w in writers:
            w.start()

        def acked() -> int:
            return sum(1 for w in writers for o in list(w.outcomes) if o[2] == "acked")

        slow = _slow_write(first.url, "/live/slow", {"n": 0, "note": "body sent during the shutdown"})
        late = _late_stream(first.url, "/live")
        probes += [slow, late]
        _wait(f"{ACKS_BEFORE_SIGTERM} acknowledged writes", lambda: acked() >= ACKS_BEFORE_SIGTERM, deadline)
        sigterm_at = time.monotonic()
        first.proc.send_signal(signal.SIGTERM)
        slow_answer = slow.finish(sigterm_at + DEADLINE_S)
        late_answer = late.finish(sigterm_at + DEADLINE_S)
        try:
            out, err = first.proc.communicate(timeout=DEADLINE_S)
        except Exception:
            first.proc.kill()
            raise AssertionError(f"focus serve did not exit within {DEADLINE_S} s of SIGTERM") from None
        exited_at = time.monotonic()
        assert exited_at - sigterm_at < EXIT_WITHIN_S, (
            f"exit took {exited_at - sigterm_at:.2f} s after SIGTERM (a stream whose client stopped "
            f"reading held the shutdown?); stderr: {err[-2000:]!r}"
        )
        for w in writers:
            w.stop.set()
        for w in writers:
            w.join(time.monotonic() + DEADLINE_S)

        assert first.proc.returncode == 0, f"exit code {first.proc.returncode}; stderr: {err}"
        assert err == "", f"stderr after SIGTERM: {err!r}"
        assert out == "", f"stdout after the ready line: {out!r}"
        assert not [e for w in writers for e in w.errors], [e for w in writers for e in w.errors][:5]

        # every stream ended (no hang), cleanly, after every write acknowledged before the signal;
        # one asked for during the shutdown is refused, or gets its put and a clean end
        assert late_answer == b"" or (
            late_answer.startswith(b"HTTP/1.1 200 OK\r\n")
            and b"event: put" in late_answer
            and late_answer.endswith(b"\r\n0\r\n\r\n")
        ), f"a stream asked for during the shutdown got {late_answer[:200]!r}...{late_answer[-100:]!r}"
        for stream in raw:
            assert stream.ended.wait(max(0.0, sigterm_at + DEADLINE_S - time.monotonic())), (
                "a raw stream still open after the server exited"
            )
            assert stream.end == "eof", f"a raw stream ended with {stream.end}"
        acked_before = [
            (key, n) for w in writers for key, n, outcome, when in w.outcomes
            if outcome == "acked" and when < sigterm_at
        ]  # fmt: skip
        for stream in raw:
            seen = stream.snapshot() or {}
            missing = [key for key, n in acked_before if (seen.get(key) or {}).get("n") != n]
            assert not missing, f"a stream ended without {len(missing)} acknowledged writes: {missing[:5]}"
        for client in clients:
            client.wait_for(
                "disconnected", lambda i, e: e.kind == "disconnected", time.monotonic() + DEADLINE_S
            )

        # the next server, same directory, same port
        spawned_at = time.monotonic()  # the first server has exited: later connects reach the next
        second = spawn_server("--port", port, "--data-dir", data)
        restarted_at = time.monotonic()
        assert second.url == first.url
        resp = requests.get(f"{second.url}/live.json", params={"ns": NS}, headers=OWNER, timeout=10)
        assert resp.status_code == 200, resp.text
        tree = resp.json()
        outcomes: Counter[str] = Counter()
        lost: list[str] = []
        for w in writers:
            for key, n, outcome, when in w.outcomes:
                present = (tree.get(key) or {}).get("n") == n
                during = (
                    "before SIGTERM" if when < sigterm_at
                    else "during shutdown" if when < exited_at
                    else "after the exit"
                )  # fmt: skip
                if outcome == "acked":
                    outcomes[f"acked {during}"] += 1
                    if not present:
                        lost.append(f"{key} (acked {when - sigterm_at:+.3f} s after SIGTERM)")
                else:
                    outcomes[f"{outcome} {during}, {'applied' if present else 'not applied'}"] += 1
            last = (tree.get("last") or {}).get(f"w{w.wid}")
            patched = [n for key, n, _, _ in w.outcomes if n % 3 == 0 and (tree.get(key) or {}).get("n") == n]
            assert last == (max(patched) if patched else None), f"writer {w.wid}: half a multi-path PATCH"
        assert not lost, f"{len(lost)} acknowledged writes lost: {lost[:5]}"
        assert slow_answer.startswith(b"HTTP/1.1 200 OK\r\n"), (
            f"a PUT under way at the SIGTERM (body still arriving) got {slow_answer[:300]!r}"
        )
        assert tree.get("slow") == {"n": 0, "note": "body sent during the shutdown"}, "its write is lost"
        after = {"n": -1, "note": "written after the restart"}
        assert requests.put(f"{second.url}/live/after.json", params={"ns": NS}, json=after,
                            headers=OWNER, timeout=10).status_code == 200  # fmt: skip
        full = requests.get(f"{second.url}/live.json", params={"ns": NS}, headers=OWNER, timeout=10).json()

        # focus clients: reconnected by themselves; a put at "/" with the full state, then the rest
        reconnect_ms: list[float] = []
        for client in clients:
            deadline = time.monotonic() + DEADLINE_S
            gone = client.wait_for("disconnected", lambda i, e: e.kind == "disconnected", deadline)
            back = client.wait_for(
                "reconnected to the next server",
                lambda i, e, c=client, g=gone: i > g and e.kind == "connected" and c.events[i][0] > spawned_at,
                deadline,
            )
            put = client.wait_for("full put", lambda i, e, b=back: i > b and e.kind in ("put", "patch"), deadline)
            event = client.events[put][1]
            assert (event.kind, event.path) == ("put", "/"), f"after reconnecting: {event}"
            missing = [k for k, v in tree.items() if event.data.get(k) != v]
            assert not missing, (
                f"the reconnect's put at / lacks {len(missing)} durable entries: {missing[:5]}; "
                f"connection events: {[e for _, e in client.events if e.kind not in ('put', 'patch')]}"
            )
            _wait("the client to see the write made after the restart",
                  lambda c=client, p=put: c.state_from(p) == full, deadline)  # fmt: skip
            reconnect_ms.append((client.events[back][0] - restarted_at) * 1000)
        code, _, err2 = second.terminate()
        assert (code, err2) == (0, ""), f"second server: exit {code}, stderr {err2!r}"
    finally:
        for w in writers:
            w.stop.set()
        for client in clients:
            client.close()
        for stream in raw:
            stream.response.close()
        stalled.close()
        for probe in probes:
            probe.sock.close()

    ends = [(s.ended_at - sigterm_at) * 1000 for s in raw]
    acked_total = sum(v for k, v in outcomes.items() if k.startswith("acked"))
    failed = {k: v for k, v in outcomes.items() if not k.startswith("acked")}
    figures(
        f"SIGTERM with {RAW_STREAMS} raw + {FOCUS_STREAMS} focus streams (+1 stalled) and {WRITERS} "
        f"writers: exit 0 in "
        f"{(exited_at - sigterm_at) * 1000:.0f} ms, stderr empty; {acked_total:,} acknowledged writes "
        f"({outcomes['acked during shutdown']} during shutdown), 0 lost; other writes: "
        f"{', '.join(f'{v} {k}' for k, v in sorted(failed.items())) or 'none'}; streams ended "
        f"{max(ends):.0f} ms after SIGTERM at most; focus clients back {max(reconnect_ms):.0f} ms "
        f"after the restart at most, full state each"
    )


def test_requests_under_way_at_sigterm_are_answered_and_the_exit_is_prompt(
    spawn_server: Any, tmp_path: Path, figures: Any
) -> None:
    # No streams to flush: the server may stop at once, but not before the requests it has
    # begun to receive are answered. aiohttp's own shutdown would drop the rest of their
    # bytes and hang for its timeout (2 s), then close the connections unanswered.
    data = str(tmp_path / "db")
    first = spawn_server("--port", "0", "--data-dir", data)
    port = first.url.rsplit(":", 1)[1]
    slow = _slow_write(first.url, "/live/slow", {"n": 1})
    late = _late_stream(first.url, "/live")
    try:
        sigterm_at = time.monotonic()
        first.proc.send_signal(signal.SIGTERM)
        slow_answer = slow.finish(sigterm_at + DEADLINE_S)
        late_answer = late.finish(sigterm_at + DEADLINE_S)
        try:
            _, err = first.proc.communicate(timeout=DEADLINE_S)
        except Exception:
            first.proc.kill()
            raise AssertionError(f"focus serve did not exit within {DEADLINE_S} s of SIGTERM") from None
        exit_s = time.monotonic() - sigterm_at
    finally:
        slow.sock.close()
        late.sock.close()
    assert (first.proc.returncode, err) == (0, ""), f"exit {first.proc.returncode}, stderr {err!r}"
    assert slow_answer.startswith(b"HTTP/1.1 200 OK\r\n"), (
        f"a PUT whose body arrived during the shutdown got {slow_answer[:300]!r}"
    )
    assert late_answer == b"" or (
        late_answer.startswith(b"HTTP/1.1 200 OK\r\n") and late_answer.endswith(b"\r\n0\r\n\r\n")
    ), f"a stream asked for during the shutdown got {late_answer[:200]!r}...{late_answer[-100:]!r}"
    assert exit_s < 1.5, f"exit took {exit_s:.2f} s after SIGTERM"
    second = spawn_server("--port", port, "--data-dir", data)
    value = requests.get(f"{second.url}/live/slow.json", params={"ns": NS}, headers=OWNER, timeout=10)
    assert value.json() == {"n": 1}, f"the acknowledged PUT is lost: {value.text}"
    figures(
        f"a PUT and a stream under way at SIGTERM: PUT answered 200 and durable, stream "
        f"{'refused' if not late_answer else 'answered and ended'}; exit 0 in {exit_s * 1000:.0f} ms"
    )
