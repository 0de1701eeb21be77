#!/usr/bin/env python3
"""Benchmarks of `focus serve`, run as shipped: ``python -m focuscli serve`` in a subprocess.

Figures (one line each; ``--json`` prints them as JSON on stdout, the lines go to stderr):

(a) sequential small PUTs/s from ONE keep-alive client (raw socket, ``print=silent``, a distinct
    key per write), against ``--memory``, and the same against ``--data-dir`` (durable, one
    writer: every PUT waits for its own fsync; informational).
(b) acknowledged durable writes/s with 8 concurrent writers (8 threads, one keep-alive raw
    socket each) against ``--data-dir``: the median of 3 rounds of 5 s. Goal >= 2,000/s. The
    same against ``--memory`` is printed as a reference (the server when fsync costs nothing).
    The disk's own append+fsync latency is probed first and after each round: on a VM disk it
    has stalls (seconds at ~10 ms per fsync) that the durable figures follow.
(c) fan-out latency: N SSE streams on ``/room`` (N=100 and N=1000), opened with asyncio +
    aiohttp client in 1 (N=100) or nproc (2..4; N=1000) client processes; after every stream
    has its initial ``put``, one writer PUTs ``/room/t`` = its ``time.time_ns()`` every 100 ms
    (3 warm-up writes, then 50); every stream records (receive time - send time) for every
    write; p50/p99/max over all (stream, write) pairs. Goals: N=100 p99 <= 50 ms; N=1000 p99
    <= 250 ms. A full run repeats each N with a raw asyncio.Protocol client (much cheaper than
    aiohttp's) as a cross-check of how much of the latency is the Python client's own.
(d) server RSS (/proc/<pid>/status VmRSS) before opening the 1,000 streams, with them open and
    after the writes (aiohttp-client run). Goal <= 150 MiB.

Server and client share the machine's cores, so the client is kept cheap (raw sockets for
writes, a substring search for the SSE timestamp) and the CPU used by the server and by the
clients during each measurement is printed next to the figure.

Usage (from the repository root; the script puts the repository on PYTHONPATH itself):

    python benchmarks/serve_bench.py            # full run, about 1 minute
    python benchmarks/serve_bench.py --quick    # smoke check, a few seconds
    python benchmarks/serve_bench.py --json     # figures as JSON on stdout

Only 127.0.0.1 is contacted. Every server started is stopped with SIGTERM (and must exit 0),
temporary directories are deleted, client processes are ended, also on errors and Ctrl-C.
"""

from __future__ import annotations

import argparse
import array
import asyncio
import contextlib
import json
import multiprocessing
import os
import platform
import resource
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import READY, BenchError, percentile  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
OWNER = "Bearer owner"
NS = "bench"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0
SOCKET_TIMEOUT = 30.0
MIB = 1024 * 1024


# ---------------------------------------------------------------------------------------------
# small helpers


def raise_nofile() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = max(soft, 65536) if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < target:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS / VmHWM of a process in bytes."""
    out: dict[str, int] = {}
    with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as fh:
        for line in fh:
            name, _, rest = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                out[name] = int(rest.split()[0]) * 1024
    return out


_TICK = os.sysconf("SC_CLK_TCK")


def proc_cpu(pid: int) -> float:
    """User + system CPU seconds of a process (all its threads)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
        fields = fh.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def fs_type(path: Path) -> str:
    """The file system type holding ``path`` (longest matching mount point)."""
    best, kind = "", "?"
    target = str(path.resolve())
    with contextlib.suppress(OSError), open("/proc/mounts", encoding="utf-8") as fh:
        for line in fh:
            parts = line.split()
            if len(parts) < 3:
                continue
            mount = parts[1]
            inside = target == mount or target.startswith(mount.rstrip("/") + "/")
            if inside and len(mount) > len(best):
                best, kind = mount, parts[2]
    return kind


def fsync_probe(directory: Path, seconds: float = 1.0, limit: int = 2000) -> dict[str, float]:
    """Latency of a 100-byte append + fsync in ``directory``: how fast the disk acknowledges."""
    path = directory / "fsync-probe"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    lat: list[float] = []
    try:
        t0 = time.perf_counter()
        while len(lat) < limit and time.perf_counter() - t0 < seconds:
            os.write(fd, b"x" * 100)
            t = time.perf_counter()
            os.fsync(fd)
            lat.append((time.perf_counter() - t) * 1000)
    finally:
        os.close(fd)
        path.unlink()
    lat.sort()
    return {
        "fsyncs": len(lat),
        "p50_ms": round(percentile(lat, 0.5), 3),
        "p99_ms": round(percentile(lat, 0.99), 3),
        "max_ms": round(lat[-1], 3),
    }


# ---------------------------------------------------------------------------------------------
# the server under test


def _die_with_parent() -> None:
    """In the forked child: get SIGTERM if this script dies without cleaning up (Linux)."""
    with contextlib.suppress(Exception):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Server:
    """`python -m focuscli serve --port 0 ...` in its own session; stop() sends SIGTERM."""

    def __init__(self, work: Path, label: str, *args: str) -> None:
        self.label = label
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
        env.pop("FIREBASE_DATABASE_EMULATOR_HOST", None)
        self.stderr_path = work / f"server-{label}.stderr"
        self._stderr = open(self.stderr_path, "wb")  # noqa: SIM115 - closed in stop()
        cmd = [sys.executable, "-m", "focuscli", "serve", "--port", "0", *args]
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=env,
            cwd=str(work),
            start_new_session=True,  # Ctrl-C reaches only us; we stop it with SIGTERM
            preexec_fn=_die_with_parent,
        )
        self.pid = self.proc.pid
        self.exit_code: int | None = None
        try:
            self.port = self._await_ready()
        except BaseException:
            self.stop()
            raise
        self._drain = threading.Thread(target=self._drain_stdout, daemon=True)
        self._drain.start()

    def _await_ready(self) -> int:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + START_TIMEOUT
        seen = b""
        while b"\n" not in seen:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BenchError(f"server {self.label}: no ready line within {START_TIMEOUT:.0f} s")
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 4096)
                if not chunk:
                    break
                seen += chunk
        line = seen.split(b"\n", 1)[0].decode("utf-8", "replace")
        match = READY.match(line)
        if match is None:
            self.proc.poll()
            raise BenchError(
                f"server {self.label}: unexpected output {line!r} (exit {self.proc.returncode}); "
                f"stderr: {self.stderr_tail()}"
            )
        return int(match.group(1))

    def _drain_stdout(self) -> None:
        assert self.proc.stdout is not None
        with contextlib.suppress(OSError, ValueError):
            while self.proc.stdout.read(4096):
                pass

    def stderr_tail(self, limit: int = 2000) -> str:
        with contextlib.suppress(OSError):
            return self.stderr_path.read_bytes()[-limit:].decode("utf-8", "replace").strip()
        return ""

    def rss(self) -> dict[str, int]:
        return proc_status(self.pid)

    def cpu(self) -> float:
        return proc_cpu(self.pid)

    def stop(self) -> int:
        """SIGTERM, wait; SIGKILL if it does not exit in time. Returns the exit code."""
        if self.exit_code is not None:
            return self.exit_code
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=STOP_TIMEOUT)
                self.exit_code = -9
        if self.exit_code is None:
            self.exit_code = self.proc.returncode
        self._stderr.close()
        if self.proc.stdout is not None:
            with contextlib.suppress(OSError):
                self.proc.stdout.close()
        return self.exit_code


# ---------------------------------------------------------------------------------------------
# a minimal keep-alive HTTP/1.1 client on a raw socket (low client overhead)


class RawHttp:
    def __init__(self, port: int, authorization: str | None = OWNER) -> None:
        self.sock = socket.create_connection((HOST, port), timeout=SOCKET_TIMEOUT)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.host = f"{HOST}:{port}".encode()
        # None: no Authorization header (a member whose ID token is in the URL's auth=)
        self.authorization = b"" if authorization is None else b"Authorization: %s\r\n" % authorization.encode()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()

    def request(self, method: str, target: str, body: bytes = b"") -> tuple[int, bytes]:
        head = b"%s %s HTTP/1.1\r\nHost: %s\r\n%s" % (
            method.encode(), target.encode(), self.host, self.authorization
        )
        head += b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
        self.sock.sendall(head + body)
        return self.read_response()

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise BenchError("server closed the connection")
        self.buf += chunk

    def read_response(self) -> tuple[int, bytes]:
        while (end := self.buf.find(b"\r\n\r\n")) < 0:
            self._fill()
        head, self.buf = self.buf[:end], self.buf[end + 4 :]
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length, chunked = 0, False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        if status in (204, 304) or 100 <= status < 200:
            return status, b""
        if chunked:
            return status, self._read_chunked()
        while len(self.buf) < length:
            self._fill()
        body, self.buf = self.buf[:length], self.buf[length:]
        return status, body

    def _read_chunked(self) -> bytes:
        parts = []
        while True:
            while (eol := self.buf.find(b"\r\n")) < 0:
                self._fill()
            size = int(self.buf[:eol].split(b";")[0], 16)
            self.buf = self.buf[eol + 2 :]
            while len(self.buf) < size + 2:
                self._fill()
            parts.append(self.buf[:size])
            self.buf = self.buf[size + 2 :]
            if size == 0:
                return b"".join(parts)


# ---------------------------------------------------------------------------------------------
# (a) sequential PUTs from one client


def sequential_puts(server: Server, count: int, max_seconds: float, prefix: str) -> dict[str, Any]:
    client = RawHttp(server.port)
    try:
        # warm up the connection and code paths (not counted)
        for i in range(50):
            status, _ = client.request("PUT", f"/warm/{prefix}{i}.json?ns={NS}&print=silent", b"1")
            if status != 204:
                raise BenchError(f"warm-up PUT answered {status}")
        cpu0, t0 = server.cpu(), time.perf_counter()
        deadline = t0 + max_seconds
        marks: list[tuple[int, float]] = []
        done = 0
        for i in range(count):
            body = b'{"n":%d,"msg":"hello","ok":true}' % i
            status, _ = client.request("PUT", f"/seq/{prefix}{i}.json?ns={NS}&print=silent", body)
            if status != 204:
                raise BenchError(f"PUT #{i} answered {status}")
            done += 1
            if done % 1000 == 0:
                now = time.perf_counter()
                marks.append((done, now))
                if now > deadline:
                    break
            elif done % 50 == 0 and time.perf_counter() > deadline:
                break
        elapsed = time.perf_counter() - t0
        server_cpu = server.cpu() - cpu0
    finally:
        client.close()
    result: dict[str, Any] = {
        "writes": done,
        "seconds": round(elapsed, 3),
        "per_second": round(done / elapsed, 1),
        "server_cpu_share": round(server_cpu / elapsed, 2),
    }
    # rate over the first and the last 10% (shows whether cost grows with the parent's size)
    if done >= 10000 and len(marks) >= 10:
        tenth = len(marks) // 10
        first = marks[tenth - 1]
        early = first[0] / (first[1] - t0)
        late_a, late_b = marks[-tenth - 1], marks[-1]
        late = (late_b[0] - late_a[0]) / (late_b[1] - late_a[1])
        result["first_10pct_per_second"] = round(early, 1)
        result["last_10pct_per_second"] = round(late, 1)
    return result


# ---------------------------------------------------------------------------------------------
# (b) concurrent writers


def concurrent_writers(
    server: Server, writers: int, seconds: float, max_per_writer: int, prefix: str
) -> dict[str, Any]:
    stop = threading.Event()
    start = threading.Barrier(writers + 1, timeout=SOCKET_TIMEOUT)
    counts = [0] * writers
    latencies: list[list[float]] = [[] for _ in range(writers)]
    errors: list[str] = []

    def writer(w: int) -> None:
        try:
            client = RawHttp(server.port)
        except OSError as err:
            errors.append(f"writer {w}: {err}")
            start.abort()
            return
        try:
            for i in range(20):  # warm-up, not counted
                client.request("PUT", f"/warm/{prefix}w{w}x{i}.json?ns={NS}&print=silent", b"1")
            start.wait()
            lat = latencies[w]
            clock = time.perf_counter
            for i in range(max_per_writer):
                if stop.is_set():
                    break
                body = b'{"w":%d,"n":%d,"msg":"hello"}' % (w, i)
                t = clock()
                status, _ = client.request(
                    "PUT", f"/conc/{prefix}w{w}/k{i}.json?ns={NS}&print=silent", body
                )
                lat.append(clock() - t)
                if status != 204:
                    errors.append(f"writer {w}: PUT answered {status}")
                    break
                counts[w] += 1
        except (OSError, BenchError, threading.BrokenBarrierError) as err:
            errors.append(f"writer {w}: {err!r}")
        finally:
            client.close()

    threads = [threading.Thread(target=writer, args=(w,), daemon=True) for w in range(writers)]
    for thread in threads:
        thread.start()
    try:
        start.wait()
        cpu0, t0 = server.cpu(), time.perf_counter()
        ccpu0 = self_cpu()
        stop.wait(seconds)
        stop.set()
        for thread in threads:
            thread.join(timeout=SOCKET_TIMEOUT)
        elapsed = time.perf_counter() - t0
        server_cpu, client_cpu = server.cpu() - cpu0, self_cpu() - ccpu0
    finally:
        stop.set()
    if errors:
        raise BenchError("; ".join(errors[:5]))
    total = sum(counts)
    lat_ms = sorted(x * 1000 for lst in latencies for x in lst)
    return {
        "writers": writers,
        "writes": total,
        "seconds": round(elapsed, 3),
        "per_second": round(total / elapsed, 1),
        "ack_ms_p50": round(percentile(lat_ms, 0.50), 2),
        "ack_ms_p99": round(percentile(lat_ms, 0.99), 2),
        "server_cpu_share": round(server_cpu / elapsed, 2),
        "client_cpu_share": round(client_cpu / elapsed, 2),
    }


# ---------------------------------------------------------------------------------------------
# (c)/(d) SSE fan-out: client processes


_STREAM_HEADERS = {"Accept": "text/event-stream", "Authorization": OWNER}
_T_MARK = b'"path":"/t","data":'


class _Collector:
    """Cheap SSE parsing shared by both stream clients: events end in a blank line."""

    __slots__ = ("buf", "initial", "count", "sends", "recvs", "on_initial")

    def __init__(
        self, sends: array.array[int], recvs: array.array[int], on_initial: Callable[[], None]
    ) -> None:
        self.buf = b""
        self.initial = False
        self.count = 0
        self.sends = sends
        self.recvs = recvs
        self.on_initial = on_initial

    def feed(self, data: bytes, now: int) -> None:
        buf = self.buf + data if self.buf else data
        start = 0
        while (end := buf.find(b"\n\n", start)) >= 0:
            if not self.initial:
                self.initial = True
                self.on_initial()
            else:
                hit = buf.find(_T_MARK, start, end)
                if hit >= 0:
                    close = buf.rfind(b"}", hit, end)
                    self.sends.append(int(buf[hit + len(_T_MARK) : close]))
                    self.recvs.append(now)
                    self.count += 1
            start = end + 2
        self.buf = buf[start:]


async def _aiohttp_streams(
    port: int, n: int, expected: int, conn: Any, open_parallel: int, budget: float
) -> dict[str, Any]:
    import aiohttp

    sends, recvs = array.array("q"), array.array("q")
    ready = 0
    all_ready = asyncio.Event()
    errors: list[str] = []
    responses: list[Any] = []

    def on_initial() -> None:
        nonlocal ready
        ready += 1
        if ready == n:
            all_ready.set()

    connector = aiohttp.TCPConnector(limit=0, limit_per_host=0)
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=SOCKET_TIMEOUT)
    gate = asyncio.Semaphore(open_parallel)
    url = f"http://{HOST}:{port}/room.json?ns={NS}"
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def one() -> int:
            collector = _Collector(sends, recvs, on_initial)
            try:
                async with gate:
                    resp = await session.get(url, headers=_STREAM_HEADERS)
                    responses.append(resp)
                    if resp.status != 200:
                        errors.append(f"stream answered {resp.status}")
                        all_ready.set()
                        return 0
                content = resp.content
                clock = time.time_ns
                while collector.count < expected:
                    data = await content.readany()
                    if not data:
                        errors.append("stream ended early")
                        break
                    collector.feed(data, clock())
            except (aiohttp.ClientError, OSError) as err:
                errors.append(f"stream: {err!r}")
                all_ready.set()
            return collector.count

        return await _drive(one, n, all_ready, conn, budget, sends, recvs, errors, responses)


async def _raw_streams(
    port: int, n: int, expected: int, conn: Any, open_parallel: int, budget: float
) -> dict[str, Any]:
    """Alternative client: asyncio.Protocol straight on the socket (chunked decoding by hand)."""
    sends, recvs = array.array("q"), array.array("q")
    ready = 0
    all_ready = asyncio.Event()
    errors: list[str] = []
    transports: list[asyncio.BaseTransport] = []
    loop = asyncio.get_running_loop()
    request = (
        f"GET /room.json?ns={NS} HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
        f"Accept: text/event-stream\r\nAuthorization: {OWNER}\r\n\r\n"
    ).encode()

    def on_initial() -> None:
        nonlocal ready
        ready += 1
        if ready == n:
            all_ready.set()

    class Stream(asyncio.Protocol):
        def __init__(self) -> None:
            self.opened: asyncio.Future[None] = loop.create_future()

            def initial() -> None:
                on_initial()
                if not self.opened.done():
                    self.opened.set_result(None)

            self.collector = _Collector(sends, recvs, initial)
            self.raw = b""
            self.headers_done = False
            self.finished: asyncio.Future[int] = loop.create_future()

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            transport.write(request)  # type: ignore[attr-defined]

        def data_received(self, data: bytes) -> None:
            now = time.time_ns()
            raw = self.raw + data if self.raw else data
            if not self.headers_done:
                end = raw.find(b"\r\n\r\n")
                if end < 0:
                    self.raw = raw
                    return
                if not raw.startswith(b"HTTP/1.1 200"):
                    errors.append(f"stream answered {raw[:12]!r}")
                    all_ready.set()
                self.headers_done = True
                raw = raw[end + 4 :]
            # chunked transfer coding: <hex>\r\n<data>\r\n
            pos, payload = 0, []
            while True:
                eol = raw.find(b"\r\n", pos)
                if eol < 0:
                    break
                size = int(raw[pos:eol], 16)
                if len(raw) < eol + 2 + size + 2:
                    break
                payload.append(raw[eol + 2 : eol + 2 + size])
                pos = eol + 2 + size + 2
            self.raw = raw[pos:]
            if payload:
                self.collector.feed(b"".join(payload), now)
                if self.collector.count >= expected and not self.finished.done():
                    self.finished.set_result(self.collector.count)

        def connection_lost(self, exc: Exception | None) -> None:
            if not self.opened.done():
                self.opened.set_result(None)
            if not self.finished.done():
                errors.append("stream ended early")
                self.finished.set_result(self.collector.count)

    gate = asyncio.Semaphore(open_parallel)

    async def one() -> int:
        try:
            async with gate:  # held until the initial put, as with aiohttp
                transport, proto = await loop.create_connection(Stream, HOST, port)
                transports.append(transport)
                await proto.opened
            return await proto.finished
        except OSError as err:
            errors.append(f"stream: {err!r}")
            all_ready.set()
            return 0

    class Closer:
        def close(self) -> None:
            for transport in transports:
                transport.close()

    return await _drive(one, n, all_ready, conn, budget, sends, recvs, errors, [Closer()])


async def _drive(
    one: Callable[[], Any],
    n: int,
    all_ready: asyncio.Event,
    conn: Any,
    budget: float,
    sends: array.array[int],
    recvs: array.array[int],
    errors: list[str],
    closers: list[Any],
) -> dict[str, Any]:
    """Open n streams, report ready, collect until done or ``budget`` s, report, wait, close."""
    loop = asyncio.get_running_loop()
    t_open = time.perf_counter()
    tasks = [asyncio.ensure_future(one()) for _ in range(n)]
    try:
        await asyncio.wait_for(all_ready.wait(), timeout=60)
    except TimeoutError:
        errors.append("not every stream got its initial put within 60 s")
    open_seconds = time.perf_counter() - t_open
    conn.send(("ready", {"open_seconds": open_seconds, "errors": list(errors)}))
    cpu0 = self_cpu()
    t0 = time.perf_counter()
    go = await loop.run_in_executor(None, conn.poll, 60)  # the parent writes meanwhile
    if go:
        conn.recv()
    done, pending = await asyncio.wait(tasks, timeout=budget)
    for task in pending:
        task.cancel()
    if pending:
        errors.append(f"{len(pending)} streams did not see every write within {budget:.0f} s")
    counts = [t.result() for t in done if not t.cancelled() and t.exception() is None]
    result = {
        "sends": sends.tobytes(),
        "recvs": recvs.tobytes(),
        "streams_complete": len(counts),
        "errors": errors[:20],
        "client_cpu": self_cpu() - cpu0,
        "client_seconds": time.perf_counter() - t0,
        "open_seconds": open_seconds,
    }
    conn.send(("result", result))
    # keep the streams open until the parent has read the server's RSS
    await loop.run_in_executor(None, conn.poll, 60)
    for item in closers:
        item.close()
    await asyncio.gather(*pending, return_exceptions=True)
    return result


def stream_worker(
    kind: str, port: int, n: int, expected: int, conn: Any, open_parallel: int, budget: float
) -> None:
    """Entry point of one client process (spawned)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and ends us
    raise_nofile()
    runner = _aiohttp_streams if kind == "aiohttp" else _raw_streams
    try:
        asyncio.run(runner(port, n, expected, conn, open_parallel, budget))
    except Exception as err:  # reported to the parent, which fails the measurement
        with contextlib.suppress(OSError):
            conn.send(("error", repr(err)))
    finally:
        conn.close()


def fan_out(
    server: Server,
    streams: int,
    procs: int,
    writes: int,
    warmup: int,
    interval: float,
    kind: str,
    track: list[Any],
) -> dict[str, Any]:
    ctx = multiprocessing.get_context("spawn")
    rss_before = server.rss()
    expected = warmup + writes
    budget = expected * interval + 60
    shares = [streams // procs + (1 if i < streams % procs else 0) for i in range(procs)]
    pipes, workers = [], []
    for share in shares:
        parent_end, child_end = ctx.Pipe()
        proc = ctx.Process(
            target=stream_worker,
            args=(kind, server.port, share, expected, child_end, 32, budget),
            daemon=True,
        )
        proc.start()
        track.append(proc)
        child_end.close()
        pipes.append(parent_end)
        workers.append(proc)

    def receive(pipe: Any, want: str, timeout: float) -> Any:
        if not pipe.poll(timeout):
            raise BenchError(f"a stream client sent no {want!r} within {timeout:.0f} s")
        tag, payload = pipe.recv()
        if tag == "error":
            raise BenchError(f"stream client failed: {payload}")
        if tag != want:
            raise BenchError(f"stream client sent {tag!r}, expected {want!r}")
        return payload

    ready = [receive(p, "ready", 90) for p in pipes]
    open_errors = [e for r in ready for e in r["errors"]]
    if open_errors:
        raise BenchError("opening streams: " + "; ".join(open_errors[:5]))
    time.sleep(0.5)  # let the server settle after the opening burst
    rss_open = server.rss()
    for pipe in pipes:
        pipe.send("go")
    client = RawHttp(server.port)
    send_times: list[int] = []
    try:
        cpu0, t0 = server.cpu(), time.perf_counter()
        base = time.monotonic() + 0.05
        for k in range(expected):
            delay = base + k * interval - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            sent = time.time_ns()
            status, _ = client.request(
                "PUT", f"/room/t.json?ns={NS}&print=silent", str(sent).encode()
            )
            if status != 204:
                raise BenchError(f"fan-out PUT answered {status}")
            send_times.append(sent)
        results = [receive(p, "result", budget + 30) for p in pipes]
        elapsed = time.perf_counter() - t0
        server_cpu = server.cpu() - cpu0
    finally:
        client.close()
    rss_after = server.rss()
    for pipe in pipes:
        with contextlib.suppress(OSError):
            pipe.send("close")
    for proc in workers:
        proc.join(timeout=30)
        if proc.is_alive():
            proc.terminate()
            proc.join(timeout=5)

    counted = set(send_times[warmup:])
    per_write: dict[int, list[float]] = {}
    lat: list[float] = []
    errors = [e for r in results for e in r["errors"]]
    for r in results:
        s_arr, r_arr = array.array("q"), array.array("q")
        s_arr.frombytes(r["sends"])
        r_arr.frombytes(r["recvs"])
        for s, rv in zip(s_arr, r_arr, strict=True):
            if s in counted:
                ms = (rv - s) / 1e6
                lat.append(ms)
                per_write.setdefault(s, []).append(ms)
    want = streams * writes
    if len(lat) != want:
        errors.append(f"got {len(lat)} of {want} (stream, write) samples")
    lat.sort()
    firsts = sorted(min(v) for v in per_write.values())
    lasts = sorted(max(v) for v in per_write.values())
    client_cpu = sum(r["client_cpu"] for r in results)
    client_secs = max(r["client_seconds"] for r in results)
    return {
        "streams": streams,
        "client": f"{kind} in {procs} process{'es' if procs > 1 else ''}",
        "writes": writes,
        "interval_ms": round(interval * 1000),
        "samples": len(lat),
        "p50_ms": round(percentile(lat, 0.50), 2),
        "p99_ms": round(percentile(lat, 0.99), 2),
        "max_ms": round(lat[-1], 2) if lat else float("nan"),
        "first_stream_p50_ms": round(percentile(firsts, 0.50), 2),
        "last_stream_p50_ms": round(percentile(lasts, 0.50), 2),
        "open_seconds": round(max(r["open_seconds"] for r in ready), 2),
        "server_cpu_share": round(server_cpu / elapsed, 2),
        "client_cpu_share": round(client_cpu / client_secs, 2),
        "rss_before_mib": round(rss_before["VmRSS"] / MIB, 1),
        "rss_open_mib": round(rss_open["VmRSS"] / MIB, 1),
        "rss_after_writes_mib": round(rss_after["VmRSS"] / MIB, 1),
        "rss_peak_mib": round(rss_after["VmHWM"] / MIB, 1),
        "errors": errors[:10],
    }


# ---------------------------------------------------------------------------------------------
# driver


class Report:
    def __init__(self, as_json: bool) -> None:
        self.out = sys.stderr if as_json else sys.stdout
        self.data: dict[str, Any] = {}
        self.missed: list[str] = []

    def line(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def goal(self, name: str, ok: bool) -> str:
        if not ok:
            self.missed.append(name)
        return "PASS" if ok else "MISS"


@contextlib.contextmanager
def cleanup_stack() -> Iterator[tuple[contextlib.ExitStack, list[Any]]]:
    """Servers, temp dirs and client processes registered here are ended on any exit."""
    procs: list[Any] = []
    with contextlib.ExitStack() as stack:

        def end_procs() -> None:
            for proc in procs:
                if proc.is_alive():
                    proc.terminate()
                    proc.join(timeout=5)
                    if proc.is_alive():
                        proc.kill()
                        proc.join(timeout=5)

        stack.callback(end_procs)
        yield stack, procs


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run (a few seconds)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--sse-client", choices=("aiohttp", "raw", "both"), default=None,
                        help="stream client: aiohttp, a raw asyncio.Protocol, or both (default: "
                        "both in a full run, the raw one as a cross-check; aiohttp with --quick)")
    parser.add_argument("--procs", type=int, default=0,
                        help="client processes for 1,000 streams (default: nproc, 2..4)")
    parser.add_argument("--fanout-writes", type=int, default=0,
                        help="writes per fan-out run (default 50; 20 with --quick)")
    parser.add_argument("--tmp-dir", default=None, help="where data directories are created")
    parser.add_argument("--only", default="abcd", help="subset of figures to run, e.g. 'cd'")
    args = parser.parse_args(argv)
    quick = args.quick
    seq_writes = 2000 if quick else 20000
    seq_durable_writes, seq_durable_seconds = (500, 2.0) if quick else (20000, 5.0)
    conc_seconds = 1.0 if quick else 5.0
    durable_rounds = 1 if quick else 3
    procs_1000 = args.procs or min(4, max(2, len(os.sched_getaffinity(0))))
    fan = [(100, 1)] if quick else [(100, 1), (1000, procs_1000)]
    fan_writes, fan_warmup = (20, 2) if quick else (50, 3)
    fan_writes = args.fanout_writes or fan_writes
    kind = args.sse_client or ("aiohttp" if quick else "both")
    kinds = ["aiohttp", "raw"] if kind == "both" else [kind]
    interval = 0.1

    report = Report(args.json)
    signal.signal(signal.SIGTERM, _interrupt)
    nofile = raise_nofile()
    work = Path(tempfile.mkdtemp(prefix="focus-bench-", dir=args.tmp_dir))
    machine: dict[str, Any] = {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "data_dir_fs": fs_type(work),
        "nofile_limit": nofile,
        "mode": "quick" if quick else "full",
    }
    report.data["machine"] = machine
    report.line(
        f"machine: nproc={machine['nproc']} python={machine['python']} ({machine['platform']}); "
        f"RLIMIT_NOFILE={nofile}; {machine['mode']} run"
    )
    if "a" in args.only or "b" in args.only:
        probe = fsync_probe(work, 0.5 if quick else 2.0)
        machine["fsync_probe"] = probe
        report.line(
            f"disk: data dirs in {work.parent} on {machine['data_dir_fs']}; append+fsync latency "
            f"p50 {probe['p50_ms']} ms, p99 {probe['p99_ms']} ms, max {probe['max_ms']} ms "
            f"({probe['fsyncs']} probes; durable figures follow the disk)"
        )
    servers: list[Server] = []
    failures: list[str] = []

    def start(label: str, *server_args: str) -> Server:
        server = Server(work, label, *server_args)
        servers.append(server)
        return server

    def stop(server: Server) -> None:
        code = server.stop()
        report.data.setdefault("server_exit_codes", {})[server.label] = code
        if code != 0:
            failures.append(f"server {server.label} exited {code}: {server.stderr_tail()}")
        elif server.stderr_tail():
            tail = server.stderr_tail(300)
            report.line(f"  note: server {server.label} wrote to stderr: {tail!r}")

    try:
        with cleanup_stack() as (stack, procs):
            stack.callback(shutil.rmtree, work, True)
            stack.callback(lambda: [s.stop() for s in servers])
            only = args.only

            if "a" in only:
                server = start("a-memory", "--memory")
                r = sequential_puts(server, seq_writes, 120.0, "m")
                stop(server)
                report.data["a_sequential_memory"] = r
                extra = ""
                if "last_10pct_per_second" in r:
                    extra = (f"; first/last 10%: {r['first_10pct_per_second']:,.0f}"
                             f"/{r['last_10pct_per_second']:,.0f}/s")
                report.line(
                    f"(a) sequential PUTs, 1 keep-alive client, --memory: {r['per_second']:,.0f}/s "
                    f"({r['writes']:,} writes in {r['seconds']:.2f} s; server CPU "
                    f"{r['server_cpu_share']:.0%}{extra})"
                )
                server = start("a-durable", "--data-dir", str(work / "a-data"))
                r = sequential_puts(server, seq_durable_writes, seq_durable_seconds, "d")
                r["fsync_probe_after"] = fsync_probe(work, 0.3)
                stop(server)
                report.data["a_sequential_durable"] = r
                report.line(
                    f"(a) sequential PUTs, 1 keep-alive client, --data-dir (each waits for its "
                    f"fsync; informational): {r['per_second']:,.0f}/s ({r['writes']:,} writes "
                    f"in {r['seconds']:.2f} s; server CPU {r['server_cpu_share']:.0%}; fsync probe "
                    f"p50 after it {r['fsync_probe_after']['p50_ms']} ms)"
                )

            if "b" in only:
                server = start("b-durable", "--data-dir", str(work / "b-data"))
                rounds = []
                for n in range(durable_rounds):
                    r = concurrent_writers(server, 8, conc_seconds, 1_000_000, f"d{n}")
                    r["fsync_probe_after"] = fsync_probe(work, 0.3)
                    rounds.append(r)
                stop(server)
                r = sorted(rounds, key=lambda x: x["per_second"])[len(rounds) // 2]
                report.data["b_concurrent_durable"] = {**r, "rounds": rounds}
                verdict = report.goal("(b) durable writes/s", r["per_second"] >= 2000)
                how = f"{r['writes']:,} in {r['seconds']:.2f} s"
                if len(rounds) > 1:
                    how = (f"median of {len(rounds)} rounds of {conc_seconds:.0f} s: "
                           + ", ".join(f"{x['per_second']:,.0f}" for x in rounds) + "/s")
                probes = "/".join(str(x["fsync_probe_after"]["p50_ms"]) for x in rounds)
                report.line(
                    f"(b) acknowledged durable writes, 8 writers (threads, keep-alive raw "
                    f"sockets), --data-dir: {r['per_second']:,.0f}/s  [goal >= 2,000/s: "
                    f"{verdict}] ({how}; ack p50 {r['ack_ms_p50']} ms, p99 {r['ack_ms_p99']} "
                    f"ms; server CPU {r['server_cpu_share']:.0%}, client CPU "
                    f"{r['client_cpu_share']:.0%}; fsync probe p50 after each round {probes} ms)"
                )
                server = start("b-memory", "--memory")
                r = concurrent_writers(server, 8, conc_seconds, 1_000_000, "m")
                stop(server)
                report.data["b_concurrent_memory"] = r
                report.line(
                    f"(b) reference, same 8 writers, --memory: {r['per_second']:,.0f}/s "
                    f"(ack p50 {r['ack_ms_p50']} ms, p99 {r['ack_ms_p99']} ms; server CPU "
                    f"{r['server_cpu_share']:.0%}, client CPU {r['client_cpu_share']:.0%})"
                )

            if "c" in only or "d" in only:
                for (streams, nprocs), kind in [(f, k) for f in fan for k in kinds]:
                    headline = kind == kinds[0]
                    server = start(f"c-{streams}-{kind}", "--memory")
                    warm = RawHttp(server.port)  # code paths loaded before the RSS baseline
                    try:
                        warm.request("PUT", f"/room/t.json?ns={NS}&print=silent", b"0")
                        warm.request("GET", f"/room.json?ns={NS}")
                    finally:
                        warm.close()
                    r = fan_out(server, streams, nprocs, fan_writes, fan_warmup, interval,
                                kind, procs)
                    stop(server)
                    report.data[f"c_fanout_{streams}_{kind}"] = r
                    goal_ms = 50 if streams <= 100 else 250
                    ok = r["p99_ms"] <= goal_ms and not r["errors"]
                    if headline:
                        tag = "(c)"
                        verdict = f"  [goal p99 <= {goal_ms} ms: " + report.goal(
                            f"(c) {streams} streams p99", ok) + "]"
                    else:
                        tag = "(c) cross-check,"
                        verdict = f"  [{'within' if ok else 'over'} the {goal_ms} ms goal]"
                    report.line(
                        f"{tag} fan-out to {streams:,} SSE streams ({r['client']} client), "
                        f"{r['writes']} writes {r['interval_ms']} ms apart, latency over "
                        f"{r['samples']:,} (stream, write) pairs: p50 {r['p50_ms']} ms, p99 "
                        f"{r['p99_ms']} ms, max {r['max_ms']} ms{verdict} (per write, first/last "
                        f"stream p50 {r['first_stream_p50_ms']}/{r['last_stream_p50_ms']} ms; "
                        f"server CPU {r['server_cpu_share']:.0%}, clients CPU "
                        f"{r['client_cpu_share']:.0%}; streams opened in {r['open_seconds']} s)"
                    )
                    if r["errors"]:
                        report.line(f"  errors: {r['errors']}")
                    if headline and (streams >= 1000 or quick):
                        ok = r["rss_open_mib"] <= 150 and r["rss_after_writes_mib"] <= 150
                        label = ""
                        if streams >= 1000:
                            label = " [goal <= 150 MiB: " + report.goal("(d) RSS", ok) + "]"
                        report.line(
                            f"(d) server RSS with {streams:,} open streams: {r['rss_open_mib']} "
                            f"MiB{label} (baseline before opening {r['rss_before_mib']} MiB; "
                            f"after the writes {r['rss_after_writes_mib']} MiB; peak "
                            f"{r['rss_peak_mib']} MiB)"
                        )
    except KeyboardInterrupt:
        report.line("interrupted; servers stopped and temporary files removed")
        return 130
    except BenchError as err:
        failures.append(str(err))
    codes = report.data.get("server_exit_codes", {})
    report.line(
        "servers stopped with SIGTERM: "
        + (", ".join(f"{k} exit {v}" for k, v in codes.items()) or "none")
    )
    report.data["goals_missed"] = report.missed
    report.data["failures"] = failures
    for failure in failures:
        report.line(f"FAILED: {failure}")
    if args.json:
        print(json.dumps(report.data, indent=2))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
