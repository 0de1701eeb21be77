"""Soak: 50 streams and a steady writer against `focus serve` for minutes; nothing may drift.

Issue 6 of the reliability suite. `focus serve --data-dir D` runs as a subprocess; 50 streams
stay open for the whole run: raw HTTP clients (this file's own chunked + SSE decoder, every
event read and checked) on the root, on subpaths, on a leaf, with queries, as admin and through
rules, on two namespaces, plus a few `focuscli.stream.Stream` clients (the client focus ships).
One writer sends 10 writes/s on a fixed schedule: PUT, PATCH (also multi-path, at the root),
POST and whole-subtree replacements, with server values (`timestamp`, `increment`), and every
tenth write a ~600 kB blob into a second namespace, so the journal rotates its log and writes
a snapshot every ~15 s (compaction is where file descriptors could leak).

Every written value carries the write's sequence number under a key ``seq``. Each stream knows
which writes concern it, so it must receive exactly those sequence numbers, in commit order:
no gap, no duplicate, nothing else. The server's RSS and open file descriptors are sampled from
/proc twice a second; after a warm-up both must be flat (bounds and reasons at `Bounds`).
Idle streams must get keep-alives at the configured pace (``--keepalive 2``), no stream may go
silent for longer than a keep-alive interval plus slack, and the `Stream` clients (whose
watchdog is 4 keep-alive intervals) must never have reconnected.

``test_soak_short`` (~20 s, in the default run) and ``test_soak`` (10 minutes, marked slow;
``FOCUS_SOAK_SECONDS`` sets another length) run the same code with bounds fitted to the
window.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import functools
import json
import os
import re
import signal
import socket
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest

from tests.reliability.conftest import open_fds, rss_kib

HOST = "127.0.0.1"
OWNER = "Bearer owner"
NS, BULK = "soak", "bulk"
KEEPALIVE = 2.0  # --keepalive: idle streams get one every 2 s, so even 15 s show several
WRITE_RATE = 10.0  # writes per second, on a fixed schedule
BLOB_BYTES = 600_000  # every 10th write: 600 kB/s -> the 8 MiB journal compacts every ~14 s
SAMPLE_EVERY = 0.5  # seconds between /proc samples of the server
USER = {"uid": "soak-user"}
RULES = {
    "rules": {
        ".read": "auth != null",
        ".write": "auth != null",
        "quiet": {".read": "auth.uid === 'soak-user'"},
    }
}

Path_ = tuple[str, ...]


# ---------------------------------------------------------------------------------------------
# what is written


@dataclass(frozen=True)
class Write:
    """One write of the schedule: the leaf paths it touches (with ``ns``) and the request."""

    seq: int
    ns: str
    method: str
    path: str  # request path, without ".json"
    body: Any
    touches: tuple[Path_, ...]  # absolute paths written (a POST's new child as "<push>")


def _p(text: str) -> Path_:
    return tuple(s for s in text.split("/") if s)


def write_for(seq: int) -> Write:
    """The ``seq``-th write (from 1): a fixed rotation through the kinds of write."""
    ts = {".sv": "timestamp"}
    k = (seq // 10) % 4
    slot = seq % 10
    if slot == 0:  # a big value in the other namespace: journal rotation and snapshots
        body = {"seq": seq, "at": ts, "pad": "x" * BLOB_BYTES}
        return Write(seq, BULK, "PUT", f"/blobs/b{k}", body, (_p(f"blobs/b{k}"),))
    if slot in (1, 4, 7):
        c = f"c{(seq // 3) % 4}"
        return Write(
            seq, NS, "PUT", f"/counters/{c}", {"seq": seq, "at": ts}, (_p(f"counters/{c}"),)
        )
    if slot in (2, 5):
        r = f"rooms/r{(seq // 2) % 4}/state"
        body = {"seq": seq, "t": ts, "hits": {".sv": {"increment": 1}}}
        return Write(seq, NS, "PATCH", f"/{r}", body, tuple(_p(f"{r}/{key}") for key in body))
    if slot in (3, 8):
        return Write(seq, NS, "POST", "/log", {"seq": seq, "at": ts}, (_p("log/<push>"),))
    if slot == 6:  # multi-path update at the root: one of its members carries the seq
        r = f"rooms/r{k}/state"
        body = {f"{r}/seq": seq, f"{r}/by": "multi"}
        return Write(seq, NS, "PATCH", "", body, (_p(f"{r}/seq"), _p(f"{r}/by")))
    if (seq // 10) % 5 == 0:  # slot 9: the log starts over (bounded data), ...
        return Write(seq, NS, "PUT", "/log", {"reset": {"seq": seq, "at": ts}}, (_p("log"),))
    # ... or a room is replaced wholesale (streams below it get a put at "/")
    body = {"state": {"seq": seq, "hits": 0}}
    return Write(seq, NS, "PUT", f"/rooms/r{k}", body, (_p(f"rooms/r{k}"),))


# ---------------------------------------------------------------------------------------------
# who listens where


def _related(a: Path_, b: Path_) -> bool:
    return a[: len(b)] == b or b[: len(a)] == a


@dataclass(frozen=True)
class Spec:
    """One stream: namespace, location, identity and (for queries) which writes change it."""

    ns: str
    location: str
    admin: bool = True
    query: dict[str, str] | None = None
    relevant: Callable[[Write], bool] | None = None  # default: the write touches the location
    via_client: bool = False  # focuscli.stream.Stream instead of the raw client

    @property
    def loc(self) -> Path_:
        return _p(self.location)

    def concerns(self, write: Write) -> bool:
        if write.ns != self.ns:
            return False
        if self.relevant is not None:
            return self.relevant(write)
        return any(_related(path, self.loc) for path in write.touches)

    def params(self) -> dict[str, str]:
        out = {"ns": self.ns, **(self.query or {})}
        if not self.admin:
            out["auth_variable_override"] = json.dumps(USER)
        return out

    def target(self) -> str:
        query = "&".join(f"{k}={quote(v, safe='')}" for k, v in self.params().items())
        return f"{self.location}/.json?{query}".replace("//", "/")


def _counter_at_least(first: int) -> Callable[[Write], bool]:
    return lambda w: any(p[:1] == ("counters",) and int(p[1][1:]) >= first for p in w.touches)


def _counter_is(name: str) -> Callable[[Write], bool]:
    return lambda w: any(p[:2] == ("counters", name) for p in w.touches)


def _touches_log(w: Write) -> bool:
    return any(p[:1] == ("log",) for p in w.touches)


def stream_specs() -> list[Spec]:
    plain = [
        *[Spec(NS, "/") for _ in range(6)],
        *[Spec(NS, "/", admin=False) for _ in range(3)],
        *[Spec(NS, "/counters") for _ in range(4)],
        *[Spec(NS, "/counters/c1", admin=False) for _ in range(2)],
        *[Spec(NS, "/rooms") for _ in range(3)],
        *[Spec(NS, "/rooms/r0", admin=False) for _ in range(2)],
        *[Spec(NS, "/rooms/r1") for _ in range(2)],
        *[Spec(NS, "/rooms/r2/state", admin=False) for _ in range(3)],
        *[Spec(NS, "/rooms/r3/state/seq") for _ in range(3)],  # a leaf
        *[Spec(NS, "/log") for _ in range(3)],
        *[Spec(NS, "/quiet", admin=False) for _ in range(3)],  # never written: keep-alives only
        *[Spec(BULK, "/") for _ in range(2)],
        Spec(BULK, "/blobs/b1"),
    ]
    queries = [
        *[Spec(NS, "/log", query={"orderBy": '"seq"', "limitToLast": "3"}, relevant=_touches_log)
          for _ in range(3)],
        *[Spec(NS, "/counters", query={"orderBy": '"$key"', "startAt": '"c1"'},
               relevant=_counter_at_least(1)) for _ in range(2)],
        *[Spec(NS, "/counters", admin=False, query={"orderBy": '"$key"', "equalTo": '"c2"'},
               relevant=_counter_is("c2")) for _ in range(2)],
        *[Spec(NS, "/log", query={"orderBy": '"$key"', "limitToLast": "2"}, relevant=_touches_log)
          for _ in range(2)],
    ]  # fmt: skip
    clients = [
        Spec(NS, "/", via_client=True),
        Spec(NS, "/rooms", via_client=True),
        Spec(NS, "/counters/c3", via_client=True),
        Spec(NS, "/quiet", via_client=True),
    ]
    specs = plain + queries + clients
    assert len(specs) == 50
    return specs


def seqs_in(location: Path_, event_path: str, data: Any) -> list[int]:
    """Every sequence number in one put/patch: ints under a key named ``seq``, at any depth."""
    found: list[int] = []

    def walk(path: Path_, value: Any) -> None:
        if isinstance(value, dict):
            for key, child in value.items():
                walk((*path, key), child)
        elif isinstance(value, list):
            for index, child in enumerate(value):
                walk((*path, str(index)), child)
        elif path[-1:] == ("seq",) and type(value) is int:
            found.append(value)

    walk(location + _p(event_path), data)
    return found


# ---------------------------------------------------------------------------------------------
# the raw stream client: asyncio.Protocol, chunked transfer decoding and SSE framing by hand


class RawStream(asyncio.Protocol):
    """One SSE stream read byte by byte: every event recorded, the framing checked."""

    def __init__(self, spec: Spec, request: bytes) -> None:
        self.spec = spec
        self.request = request
        self.transport: asyncio.Transport | None = None
        self.opened = asyncio.get_running_loop().create_future()
        self.raw = bytearray()  # undecoded HTTP bytes
        self.headers_done = False
        self.chunk_left = -1  # bytes left in the current chunk (-1: expecting a size line)
        self.sse = bytearray()
        self.initial_at = 0.0
        self.seqs = array.array("q")  # per put/patch after the initial one (queries: the max)
        self.times = array.array("d")  # its monotonic receive time
        self.keepalives = 0
        self.last_bytes = 0.0
        self.max_gap = 0.0
        self.problems: list[str] = []
        self.lost: str | None = None  # why the connection ended, if it did

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.lost is None:
            self.lost = f"connection lost ({exc!r})"
        if not self.opened.done():
            self.opened.set_exception(AssertionError(f"{self.spec}: {self.lost}"))

    def eof_received(self) -> bool | None:
        self.lost = "the server ended the response"
        return None

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        if self.initial_at:
            self.max_gap = max(self.max_gap, now - self.last_bytes)
        self.last_bytes = now
        self.raw += data
        if not self.headers_done:
            end = self.raw.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.raw[:end]).decode("latin-1").lower()
            if not head.startswith("http/1.1 200") or "transfer-encoding: chunked" not in head:
                self._fail(f"unexpected response head {head[:200]!r}")
                return
            del self.raw[: end + 4]
            self.headers_done = True
        self._dechunk()
        self._events(now)

    def _dechunk(self) -> None:
        raw = self.raw
        while raw:
            if self.chunk_left < 0:
                eol = raw.find(b"\r\n")
                if eol < 0:
                    return
                size = int(raw[:eol].split(b";")[0], 16)
                if size == 0:
                    self._fail("the server ended the stream (last chunk)")
                    return
                del raw[: eol + 2]
                self.chunk_left = size
            take = min(self.chunk_left, len(raw))
            self.sse += raw[:take]
            del raw[:take]
            self.chunk_left -= take
            if self.chunk_left == 0:
                if len(raw) < 2:
                    self.chunk_left = 0
                    return
                if raw[:2] != b"\r\n":
                    self._fail("bad chunk framing")
                    return
                del raw[:2]
                self.chunk_left = -1

    def _events(self, now: float) -> None:
        start = 0
        sse = self.sse
        while (end := sse.find(b"\n\n", start)) >= 0:
            block = bytes(sse[start:end])
            start = end + 2
            head, _, rest = block.partition(b"\n")
            if not head.startswith(b"event: ") or not rest.startswith(b"data: ") or b"\n" in rest:
                self._fail(f"malformed event {block[:200]!r}")
                return
            self._event(head[7:].decode(), rest[6:], now)
        del sse[:start]

    def _event(self, name: str, data: bytes, now: float) -> None:
        if name == "keep-alive":
            if data != b"null":
                self.problems.append(f"keep-alive with data {data[:50]!r}")
            self.keepalives += 1
            return
        if name not in ("put", "patch"):
            self._fail(f"unexpected {name} event: {data[:200]!r}")
            return
        message = json.loads(data)
        if not self.initial_at:
            if name != "put" or message["path"] != "/":
                self._fail(f"first event was {name} at {message['path']}, not the initial put")
                return
            self.initial_at = now
            self.opened.set_result(None)
            return
        found = seqs_in(self.spec.loc, message["path"], message["data"])
        record(self.spec, self.seqs, self.times, found, now, self.problems, name, message)

    def _fail(self, why: str) -> None:
        self.problems.append(why)
        self.lost = why
        if not self.opened.done():
            self.opened.set_exception(AssertionError(f"{self.spec}: {why}"))
        if self.transport is not None:
            self.transport.close()


def record(
    spec: Spec,
    seqs: array.array[int],
    times: array.array[float],
    found: list[int],
    now: float,
    problems: list[str],
    name: str,
    message: Any,
) -> None:
    """Note one put/patch after the initial put: the seq it carries (a query result: the max)."""
    if spec.query is not None:
        found = [max(found)] if found else []
    elif not found and name == "put" and message["data"] == "multi":
        return  # the seq-less member of a multi-path update (its other member has the seq)
    if len(found) != 1:
        problems.append(f"{name} carrying {len(found)} seqs: {json.dumps(message)[:200]}")
    for seq in found:
        seqs.append(seq)
        times.append(now)


# ---------------------------------------------------------------------------------------------
# focuscli.stream.Stream, the client focus itself uses, drained on a thread


class ClientStream:
    """A `focuscli.stream.Stream` with a thread noting every event it yields."""

    def __init__(self, spec: Spec, base: str) -> None:
        from focuscli.stream import Stream

        self.spec = spec
        # The emulator's administrator in the query (focus's client sends no headers): `owner`
        # is admin in any carrier on an emulator-mode server.
        url = f"{base}{spec.location.rstrip('/')}/.json?" + urlencode({**spec.params(), "auth": "owner"})
        self.stream = Stream(
            lambda: url, where=spec.location, watchdog_s=KEEPALIVE * 4, backoff=(0.5, 2.0),
        )  # fmt: skip
        self.seqs = array.array("q")
        self.times = array.array("d")
        self.problems: list[str] = []
        self.connects = 0
        self.lost: str | None = None
        self.initial = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._drain, name=f"soak {spec.location}", daemon=True
        )
        self._thread.start()

    def _drain(self) -> None:
        initial_seen = False
        while not self._stop.is_set():
            event = self.stream.get(0.2)
            if event is None:
                continue
            now = time.monotonic()
            if event.kind == "connected":
                self.connects += 1
                if self.connects > 1:
                    self.lost = f"reconnected: {event.detail}"
                continue
            if event.kind in ("disconnected", "cancelled"):
                self.lost = f"{event.kind}: {event.detail}"
                continue
            if not initial_seen:
                initial_seen = event.kind == "put" and event.path == "/"
                if not initial_seen:
                    self.problems.append(f"first event {event.kind} at {event.path}")
                self.initial.set()
                continue
            found = seqs_in(self.spec.loc, event.path, event.data)
            message = {"path": event.path, "data": event.data}
            record(self.spec, self.seqs, self.times, found, now, self.problems, event.kind, message)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.stream.close()


# ---------------------------------------------------------------------------------------------
# the writer: one keep-alive connection, requests sent on a fixed schedule


class Writer:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.sent: dict[int, float] = {}
        self.acked = 0
        self.ack_ms: list[float] = []

    @classmethod
    async def connect(cls, port: int) -> Writer:
        reader, writer = await asyncio.open_connection(HOST, port)
        return cls(reader, writer)

    async def send(self, write: Write) -> None:
        body = json.dumps(write.body).encode()
        head = (
            f"{write.method} {write.path}/.json?ns={write.ns}&print=silent HTTP/1.1\r\n"
            f"Host: {HOST}\r\nAuthorization: {OWNER}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).replace("//", "/", 1)
        start = time.monotonic()
        self.sent[write.seq] = start
        self.writer.write(head.encode() + body)
        status, payload = await self._response()
        assert status in (200, 204), (
            f"write {write.seq} ({write.method} {write.path}): {status} {payload!r}"
        )
        self.ack_ms.append((time.monotonic() - start) * 1000)
        self.acked += 1

    async def _response(self) -> tuple[int, bytes]:
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = dict(line.lower().split(": ", 1) for line in lines[1:] if line)
        if "content-length" in headers:
            return status, await self.reader.readexactly(int(headers["content-length"]))
        assert "chunked" not in headers.get("transfer-encoding", ""), headers
        return status, b""

    async def ping(self) -> None:
        """A read on the connection: once answered, the server has surely accepted it."""
        self.writer.write(f"GET /quiet.json?ns={NS} HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
        status, _ = await self._response()
        assert status in (200, 401), status

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()


# ---------------------------------------------------------------------------------------------
# measuring the server


@dataclass
class Bounds:
    """What "flat" means for one run length, and why.

    The server's RSS after warm-up is a sawtooth of a MiB or two: a 600 kB blob arrives every
    second, is decoded, journaled, encoded per stream location and sent to 3 streams, every
    ~14 s a multi-MB snapshot is encoded, and the allocator keeps some of that memory for
    reuse (now and then as a step of ~0.6 MiB). Flat therefore means three things: the median
    of the last third of the samples is within ``thirds_mib`` of the median of the first third
    (medians ignore single spikes); the least-squares slope over all samples after warm-up is
    under ``slope_mib_per_min``; no sample exceeds the first third's median by more than
    ``spike_mib``. File descriptors do not vary with traffic at all: the 50 streams and the
    writer hold their sockets, the journal one log file, so every sample must be within
    ``fd_slack`` of the count once everything was connected (compaction briefly opens the
    next log and the directory: +2), and the count after the last write must equal it.

    LONG (600 s, warm-up 60 s: the blob slots filled, the first snapshots written): 10-minute
    runs measured +0.40 MiB between the thirds and +0.11 MiB/min. A leak of 1 KiB per write
    (10/s: 0.6 MiB/min in theory) or ~64 bytes per delivered event (~155/s) must fail:
    injected into the server (1 KiB kept per commit), a 240 s run measured +1.29 MiB/min and
    +2.5 MiB, so 0.5 MiB/min and 3 MiB catch it, while an allocator step of 2 MiB in the middle
    of 9 minutes only tilts the slope by 0.33 MiB/min. SHORT (15 s, warm-up 5 s: 20 samples)
    measured within ±0.4 MiB between the thirds and up to ±3.5 MiB/min (the window is too short
    for a slope to mean much); its bounds catch gross leaks only: a blob kept per write
    (35 MiB/min), 2 kB per event (18 MiB/min), a buffer that keeps growing.
    """

    warmup_s: float
    thirds_mib: float
    slope_mib_per_min: float
    spike_mib: float
    fd_slack: int = 2


@dataclass
class Samples:
    t: list[float] = field(default_factory=list)
    rss_kib: list[int] = field(default_factory=list)
    fds: list[int] = field(default_factory=list)

    def take(self, pid: int, t0: float) -> None:
        self.t.append(time.monotonic() - t0)
        self.rss_kib.append(rss_kib(pid))
        self.fds.append(open_fds(pid))


def slope_per_min(xs: list[float], ys: list[float]) -> float:
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    return 60 * sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx if sxx else 0.0


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, int(fraction * len(ordered) + 0.999999) - 1))]


# ---------------------------------------------------------------------------------------------
# the run


def _stop_server(server: Any, stderr_lines: list[str], drainer: threading.Thread) -> int:
    server.proc.send_signal(signal.SIGTERM)
    code = int(server.proc.wait(timeout=30))
    drainer.join(5)
    for pipe in (server.proc.stdout, server.proc.stderr):
        if pipe is not None:
            pipe.close()
    return code


def soak(spawn_server: Any, tmp_path: Path, figures: Any, seconds: float, bounds: Bounds) -> None:
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps(RULES))
    data_dir = tmp_path / "db"
    server = spawn_server(
        "--port", "0", "--data-dir", str(data_dir), "--rules", str(rules), "--keepalive", str(KEEPALIVE)
    )  # fmt: skip
    stderr_lines: list[str] = []
    assert server.proc.stderr is not None
    drainer = threading.Thread(target=lambda: stderr_lines.extend(server.proc.stderr), daemon=True)
    drainer.start()  # a chatty server must never block on a full stderr pipe mid-run
    try:
        asyncio.run(_soak(server.proc.pid, server.url, figures, seconds, bounds, data_dir))
    finally:
        code = _stop_server(server, stderr_lines, drainer) if server.proc.poll() is None else None
    assert code == 0, f"focus serve exited {code}: {''.join(stderr_lines)[-2000:]}"
    trouble = [
        line for line in stderr_lines if re.search("traceback|error|exception|warn", line, re.I)
    ]
    assert not trouble, "focus serve complained on stderr:\n" + "".join(stderr_lines)[-2000:]


async def _soak(
    pid: int, base: str, figures: Any, seconds: float, bounds: Bounds, data_dir: Path
) -> None:
    loop = asyncio.get_running_loop()
    port = int(base.rsplit(":", 1)[1])
    await asyncio.sleep(0.3)
    fds_idle = open_fds(pid)  # before any client connected

    specs = stream_specs()
    raw: list[RawStream] = []
    clients: list[ClientStream] = []
    writer: Writer | None = None
    try:
        for spec in specs:
            if spec.via_client:
                clients.append(ClientStream(spec, base))
                continue
            request = (
                f"GET {spec.target()} HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
                f"Accept: text/event-stream\r\nAuthorization: {OWNER}\r\n\r\n"
            ).encode()
            _, proto = await loop.create_connection(
                functools.partial(RawStream, spec, request), HOST, port
            )
            raw.append(proto)
        await asyncio.wait_for(asyncio.gather(*(s.opened for s in raw)), timeout=30)
        for client in clients:
            ok = await loop.run_in_executor(None, client.initial.wait, 30)
            assert ok and not client.problems, f"{client.spec}: no initial put ({client.problems})"
        writer = await Writer.connect(port)
        await writer.ping()  # the server's fd count includes the writer's socket from here on

        # -- the run: writes on a fixed schedule, /proc sampled alongside ---------------------
        samples = Samples()
        t0 = time.monotonic()
        samples.take(pid, t0)
        fds_start = samples.fds[0]
        total = int(seconds * WRITE_RATE)
        writes: list[Write] = []

        async def sample() -> None:
            while True:
                await asyncio.sleep(SAMPLE_EVERY)
                samples.take(pid, t0)

        sampler = asyncio.ensure_future(sample())
        try:
            for seq in range(1, total + 1):
                delay = t0 + (seq - 1) / WRITE_RATE - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                write = write_for(seq)
                writes.append(write)
                await writer.send(write)
        finally:
            sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sampler
        elapsed = time.monotonic() - t0

        # -- every stream must catch up with everything that concerns it ----------------------
        expected = {id(s): [w.seq for w in writes if s.concerns(w)] for s in specs}
        everyone: list[RawStream | ClientStream] = [*raw, *clients]
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if all(len(x.seqs) >= len(expected[id(x.spec)]) or x.lost for x in everyone):
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(KEEPALIVE + 1.5)  # anything extra (a duplicate) would show by now
        fds_end = min(open_fds(pid) for _ in range(3))
        samples.take(pid, t0)

        # -- no stream lost, each saw exactly its writes in order -----------------------------
        failures: list[str] = []
        for x in everyone:
            want, got = expected[id(x.spec)], list(x.seqs)
            kind = "focuscli.stream" if x.spec.via_client else "raw"
            label = f"{kind} {x.spec.ns}{x.spec.location} {x.spec.query or ''}"
            if x.lost:
                failures.append(f"{label}: lost: {x.lost}")
            if x.problems:
                failures.append(f"{label}: {x.problems[:3]}")
            if got != want:
                at = next(
                    (i for i, (a, b) in enumerate(zip(got, want, strict=False)) if a != b),
                    min(len(got), len(want)),
                )
                failures.append(
                    f"{label}: {len(got)} writes seen, {len(want)} expected; first difference at "
                    f"#{at}: got {got[at : at + 5]}, wanted {want[at : at + 5]}"
                )
        # Keep-alives: an idle stream gets one per KEEPALIVE s of silence (the server checks
        # every min(1, KEEPALIVE/4) s), and no stream may be silent much longer than that.
        idle = [s for s in raw if not expected[id(s.spec)]]
        quiet_for = time.monotonic() - max(s.initial_at for s in idle)
        low = int(quiet_for / (KEEPALIVE + 1.0)) - 1
        for s in idle:
            if not low <= s.keepalives <= quiet_for / KEEPALIVE + 1:
                failures.append(
                    f"{s.spec.location}: {s.keepalives} keep-alives in {quiet_for:.1f} s"
                )
        gap_limit = KEEPALIVE + 4.0  # + the ticker's period (0.5 s) + a loaded machine's stalls
        for s in raw:
            if s.max_gap > gap_limit:
                failures.append(f"{s.spec.ns}{s.spec.location}: silent for {s.max_gap:.1f} s")
        assert not failures, "\n".join(failures[:20])

        # -- flat RSS and file descriptors ----------------------------------------------------
        with open(data_dir.parent / "samples.csv", "w") as out:  # kept with the test's tmp_path
            out.write("t_s,rss_kib,fds\n")
            for row in zip(samples.t, samples.rss_kib, samples.fds, strict=True):
                out.write("{:.2f},{},{}\n".format(*row))
        steady = [i for i, t in enumerate(samples.t) if t >= bounds.warmup_s]
        assert len(steady) >= 6, f"too few samples after warm-up: {len(steady)}"
        mib = [samples.rss_kib[i] / 1024 for i in steady]
        ts = [samples.t[i] for i in steady]
        third = len(mib) // 3
        first, last = statistics.median(mib[:third]), statistics.median(mib[-third:])
        slope = slope_per_min(ts, mib)
        latencies = sorted(
            (x.times[i] - writer.sent[seq]) * 1000 for x in everyone for i, seq in enumerate(x.seqs)
        )
        delivered = sum(len(x.seqs) for x in everyone)
        summary = (
            f"{elapsed:.0f} s, {len(writes)} writes ({len(writes) / elapsed:.1f}/s, ack p50 "
            f"{percentile(writer.ack_ms, 0.5):.1f} ms), {delivered} events delivered to "
            f"{len(everyone)} streams, 0 lost, {sum(s.keepalives for s in idle)} keep-alives on "
            f"{len(idle)} idle streams; RSS start/end/max {samples.rss_kib[0] / 1024:.1f}/"
            f"{samples.rss_kib[-1] / 1024:.1f}/{max(samples.rss_kib) / 1024:.1f} MiB (after "
            f"{bounds.warmup_s:.0f} s warm-up: last-third median {last - first:+.2f} MiB vs first, "
            f"slope {slope:+.3f} MiB/min); fds start/end/max {fds_start}/{fds_end}/{max(samples.fds)}; "
            f"latency p50 {percentile(latencies, 0.5):.1f} ms, p99 {percentile(latencies, 0.99):.1f} ms"
        )
        print(summary)
        assert abs(last - first) <= bounds.thirds_mib, f"RSS not flat: {summary}"
        assert slope <= bounds.slope_mib_per_min, f"RSS grows: {summary}"
        assert max(mib) <= first + bounds.spike_mib, f"RSS spiked: {summary}"
        assert all(abs(f - fds_start) <= bounds.fd_slack for f in samples.fds), (
            f"fds drift: {samples.fds}"
        )
        assert fds_end == fds_start, f"fds: {fds_start} at start, {fds_end} at the end"
        assert (data_dir / "snapshot.json").exists(), "the journal never compacted"
        figures(summary)
    finally:
        if writer is not None:
            await writer.close()
        for s in raw:
            if s.transport is not None:
                s.transport.close()
        for client in clients:
            await loop.run_in_executor(None, client.close)

    # Once the clients are gone the server must let go of every connection.
    deadline = time.monotonic() + 10
    while open_fds(pid) > fds_idle and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    assert open_fds(pid) == fds_idle, (
        f"{open_fds(pid)} fds after every client left, {fds_idle} before"
    )


SHORT = Bounds(warmup_s=5.0, thirds_mib=3.0, slope_mib_per_min=12.0, spike_mib=5.0)
LONG = Bounds(warmup_s=60.0, thirds_mib=3.0, slope_mib_per_min=0.5, spike_mib=8.0)


@pytest.mark.focus_serve
def test_soak_short(spawn_server: Any, tmp_path: Path, figures: Any) -> None:
    """The soak in ~20 s for the default run: same checks, bounds for a short window."""
    soak(spawn_server, tmp_path, figures, 15.0, SHORT)


@pytest.mark.slow
@pytest.mark.focus_serve
def test_soak(spawn_server: Any, tmp_path: Path, figures: Any) -> None:
    """10 minutes (FOCUS_SOAK_SECONDS to change it) of 50 streams and 10 writes/s."""
    seconds = float(os.environ.get("FOCUS_SOAK_SECONDS", "600"))
    assert seconds >= 15, f"FOCUS_SOAK_SECONDS={seconds:g}: the soak needs at least 15 s"
    soak(spawn_server, tmp_path, figures, seconds, bounds_for(seconds))


def bounds_for(seconds: float) -> Bounds:
    """LONG from 5 minutes on (its 60 s warm-up and slope bound need the length); a shorter
    FOCUS_SOAK_SECONDS gets SHORT's bounds with a warm-up of a quarter of the run (≥ 5 s)."""
    if seconds >= 300:
        return LONG
    return replace(SHORT, warmup_s=max(SHORT.warmup_s, seconds / 4))


@pytest.mark.focus_serve
def test_hung_up_streams_are_released_at_once() -> None:
    """A client that hangs up on a quiet stream frees it within a tick, not at the next event or
    keep-alive (aiohttp does not cancel the handler; the stream lingered for up to 30 s)."""
    from focuscli.server import LocalServer

    with LocalServer(port=0, keepalive=30.0) as server:
        port = int(server.url.rsplit(":", 1)[1])
        loop, running = server._loop, server._running
        assert loop is not None and running is not None

        async def count() -> int:  # on the server's loop: the store is not thread-safe
            return len(running.store.all_listeners())

        def listeners() -> int:
            return asyncio.run_coroutine_threadsafe(count(), loop).result(5)

        sockets = []
        for _ in range(20):
            sock = socket.create_connection((HOST, port), timeout=10)
            sockets.append(sock)
            sock.sendall(
                f"GET /quiet.json?ns=linger HTTP/1.1\r\nHost: {HOST}\r\n"
                f"Accept: text/event-stream\r\nAuthorization: {OWNER}\r\n\r\n".encode()
            )
            seen = b""
            while b"event: put" not in seen:
                seen += sock.recv(4096)
        assert listeners() == 20
        for sock in sockets:
            sock.close()
        deadline = time.monotonic() + 5
        while listeners() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert listeners() == 0


def test_key_order_cache_is_bounded() -> None:
    """The one thing a soak's heap grew by (tracemalloc, 6,000 writes: +336 KiB, all of it here):
    `tree.key_order`'s cache kept every key it had ordered, also after the key left the tree,
    and each POST's push id is a new key: ~290 bytes each, up to 2**20 keys (~300 MB, twice the
    whole server's RSS budget). Ordering 200,000 distinct keys must now retain at most ~20 MB."""
    import gc
    import tracemalloc

    from focuscli.server import tree

    tree.key_order.cache_clear()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for batch in range(20):  # push-id-like keys, each batch a node that is then deleted
            tree.render({f"-Nq{batch:07d}{i:010d}": True for i in range(10_000)})
        gc.collect()
        retained = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
        tree.key_order.cache_clear()
    assert retained < 32 * 2**20, f"{retained / 2**20:.1f} MiB kept after ordering 200,000 keys"
