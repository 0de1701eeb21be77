#!/usr/bin/env python3
"""Hostile writes against `focus serve` (issue 11): does everyone else still get served?

`focus serve --memory --rules firebase/database.rules.json` as shipped, in a subprocess. Four
prober threads, each a member on its own keep-alive connection, send small requests the whole
time (a GET and a PUT of their own ``users/<uid>/clock``, the probe `focus` makes, in turn,
10 ms apart). Meanwhile, one at a time:

(a) a 20 MB write as admin (a PUT of 350,000 small objects at ``/bench``): processed;
(b) a 20 MB write as a member, judged by the rules and accepted: a multi-path PATCH at
    ``users/<uid>`` of 350,000 paths ``sessions/<sid>: null`` (sids of 41 characters, none of
    them in the list, in a shuffled order). The rules bound what a member adds (a list entry
    needs one of 200 slots, and a PUT of the whole list is refused before its body is read: no
    grant at ``sessions``), but deleting an entry is granted per entry, by a ``.write`` that
    looks the membership up in the tree, for as many entries as one write names: the server
    parses the body and evaluates that rule once per path (the rules coverage report counts
    them), and the write can be sent again and again;
(c) the same PATCH as an anonymous client: refused;
(d) 300 MiB, chunked (no length announced), as an anonymous client: refused.

Printed for each: the big request's status and time, and the latency of the small requests
made while it was under way (p50, p99, max; goal p99 <= 500 ms for (a) and (b)); for (a) to
(c) how often the rules evaluated the ``.write`` of ``users/$uid/sessions/$sid`` meanwhile
(from ``/.inspect/coverage.json``); for (d) the server's RSS growth during the upload (VmRSS
sampled every 10 ms; goal <= 64 MiB).

Usage (from the repository root):

    python benchmarks/hostile_bench.py           # about a minute
    python benchmarks/hostile_bench.py --quick   # 2 MB and 30 MiB: a smoke run
    python benchmarks/hostile_bench.py --json    # figures as JSON on stdout

Only 127.0.0.1 is contacted; the server is stopped with SIGTERM (and must exit 0).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import random
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import BenchError, child_env, percentile, proc_rss_mib, start_server  # noqa: E402

MIB = 1024 * 1024
PROBERS = 4


def token(uid: str) -> str:
    """An unsigned emulator ID token (focus serve on loopback accepts them, as the emulator)."""

    def b64(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64({'sub': uid, 'user_id': uid})}."


def request_bytes(
    method: str, path: str, body: bytes, auth: str | None, *, chunked: bool = False
) -> bytes:
    head = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json"]
    if auth is not None:
        head.append(f"Authorization: Bearer {auth}")
    head.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {len(body)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + (b"" if chunked else body)


def read_answer(sock: socket.socket) -> tuple[int, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise BenchError(f"connection closed before an answer: {data[:200]!r}")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(rest) < length:
        chunk = sock.recv(max(65536, length - len(rest)))
        if not chunk:
            raise BenchError("connection closed in the middle of an answer")
        rest += chunk
    return status, rest[:length]


class Probers:
    """Members sending small requests all the time; latencies kept with their start times."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.samples: list[tuple[float, float]] = []  # (start, latency in s)
        self.failures: list[str] = []
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.threads = [
            threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(PROBERS)
        ]

    def __enter__(self) -> Probers:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(30)

    def _run(self, index: int) -> None:
        uid = f"probe{index}"
        auth = token(uid)
        requests = [
            request_bytes("GET", f"/users/{uid}/clock.json", b"", auth),
            request_bytes("PUT", f"/users/{uid}/clock.json", b'{".sv":"timestamp"}', auth),
        ]
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=60)
        turn = 0
        try:
            while not self.stop.is_set():
                start = time.monotonic()
                sock.sendall(requests[turn % 2])
                status, body = read_answer(sock)
                latency = time.monotonic() - start
                if status != 200:
                    self.failures.append(f"{status} {body[:100]!r}")
                with self.lock:
                    self.samples.append((start, latency))
                turn += 1
                self.stop.wait(0.01)
        except (OSError, BenchError) as err:
            self.failures.append(repr(err))
        finally:
            sock.close()

    def during(self, start: float, end: float) -> list[float]:
        with self.lock:
            return sorted(
                lat for t, lat in self.samples if start <= t <= end or start <= t + lat <= end
            )


class RssSampler:
    """The server's VmRSS every 10 ms while in use: the peak."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = proc_rss_mib(pid)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.wait(0.01):
            self.peak = max(self.peak, proc_rss_mib(self.pid))

    def __enter__(self) -> RssSampler:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(5)


def chunked(total: int, piece: int = MIB) -> Iterator[bytes]:
    """``total`` bytes of a JSON object (never complete), framed as HTTP chunks."""
    sent = 0
    body = b'{"k": "' + b"x" * (piece - 8)
    while sent < total:
        part = body[: min(piece, total - sent)]
        sent += len(part)
        yield b"%x\r\n" % len(part) + part + b"\r\n"
        body = b"x" * piece
    yield b"0\r\n\r\n"


def big_write(port: int, method: str, path: str, body: bytes | None, auth: str | None,
              stream_total: int = 0) -> tuple[int, float, bytes]:  # fmt: skip
    """Send one big request; (status, seconds until its answer, answer body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=300) as sock:
        start = time.monotonic()
        if body is not None:
            sock.sendall(request_bytes(method, path, body, auth))
        else:
            sock.sendall(request_bytes(method, path, b"", auth, chunked=True))
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                for piece in chunked(stream_total):
                    sock.sendall(piece)
        status, answer = read_answer(sock)
        return status, time.monotonic() - start, answer


def admin_body(size: int) -> bytes:
    count = size // 60
    return json.dumps(
        {f"item{i:07d}": {"n": i, "label": "abcdefghij", "on": True} for i in range(count)}
    ).encode()


def member_body(size: int) -> bytes:
    """A PATCH at ``users/<uid>`` deleting ``size // 60`` list entries that are not there, in
    a shuffled order (a hostile member's choice: nothing may depend on a sorted body)."""
    paths = [f"sessions/s{i:07d}{'x' * 33}" for i in range(size // 60)]
    random.Random(11).shuffle(paths)
    return json.dumps(dict.fromkeys(paths)).encode()


ENTRY_WRITE = ("/users/$uid/sessions/$sid", ".write")


def rule_evaluations(port: int) -> int:
    """How often the rules evaluated the ``.write`` of ``users/$uid/sessions/$sid`` so far."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(request_bytes("GET", "/.inspect/coverage.json", b"", "owner"))
        status, answer = read_answer(sock)
    if status != 200:
        raise BenchError(f"/.inspect/coverage.json: {status} {answer[:200]!r}")
    for rule in json.loads(answer)["rules"]:
        if (rule["path"], rule["rule"]) == ENTRY_WRITE:
            return int(rule["evaluations"])
    raise BenchError(f"no {ENTRY_WRITE} in the rules coverage report")


def run(quick: bool) -> dict[str, Any]:
    size = 2 * MIB if quick else 20 * MIB
    stream_total = 30 * MIB if quick else 300 * MIB
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="focus-hostile-bench-") as tmp:
        server, port = start_server(Path(tmp), child_env())
        try:
            with Probers(port) as probers:
                time.sleep(1.0)  # the probers' own warm-up
                baseline = probers.during(0, time.monotonic())
                figures["idle"] = summary(baseline)
                member = token("m1")
                cases = [
                    ("a_admin_20mb", "PUT", "/bench.json", admin_body(size), "owner"),
                    ("b_member_20mb", "PATCH", "/users/m1.json", member_body(size), member),
                    ("c_anonymous_20mb", "PATCH", "/users/m1.json", member_body(size), None),
                ]
                for name, method, path, body, auth in cases:
                    judged_before = rule_evaluations(port)
                    start = time.monotonic()
                    status, seconds, answer = big_write(port, method, path, body, auth)
                    end = time.monotonic()
                    figures[name] = {"status": status, "seconds": round(seconds, 2), "bytes": len(body),
                                     "rule_evaluations": rule_evaluations(port) - judged_before,
                                     **summary(probers.during(start, end))}  # fmt: skip
                    if status >= 500:
                        raise BenchError(f"{name}: {status} {answer[:200]!r}")
                    time.sleep(0.5)
                rss_before = proc_rss_mib(server.pid)
                with RssSampler(server.pid) as rss:
                    start = time.monotonic()
                    status, seconds, _ = big_write(port, "PATCH", "/users/m1.json", None, None,
                                                   stream_total=stream_total)  # fmt: skip
                    end = time.monotonic()
                figures["d_anonymous_300mib_chunked"] = {
                    "status": status, "seconds": round(seconds, 2), "bytes": stream_total,
                    "rss_before_mib": round(rss_before, 1), "rss_peak_mib": round(rss.peak, 1),
                    "rss_growth_mib": round(rss.peak - rss_before, 1),
                    **summary(probers.during(start, end)),
                }  # fmt: skip
            figures["prober_failures"] = probers.failures[:5]
        finally:
            code = server.stop(signal.SIGTERM)
            if code != 0:
                raise BenchError(f"focus serve exited {code}: {server.stderr_tail()}")
    return figures


def summary(latencies: list[float]) -> dict[str, Any]:
    if not latencies:
        return {"small_requests": 0}
    return {
        "small_requests": len(latencies),
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 1),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 1),
        "max_ms": round(latencies[-1] * 1000, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--quick", action="store_true", help="2 MB and 30 MiB instead of 20 MB and 300 MiB"
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON on stdout")
    args = parser.parse_args()
    figures = run(args.quick)
    out = sys.stderr if args.json else sys.stdout
    idle = figures["idle"]
    print(
        f"small requests with nothing else going on: p50 {idle['p50_ms']} ms, p99 {idle['p99_ms']} ms",
        file=out,
    )
    labels = {
        "a_admin_20mb": "(a) 20 MB write as admin",
        "b_member_20mb": "(b) 20 MB PATCH as a member (list deletions, judged)",
        "c_anonymous_20mb": "(c) the same PATCH, anonymous",
        "d_anonymous_300mib_chunked": "(d) 300 MiB chunked upload, anonymous",
    }
    for key, label in labels.items():
        f = figures[key]
        line = (f"{label}: {f['status']} after {f['seconds']} s; meanwhile {f['small_requests']} small "
                f"requests, p50 {f.get('p50_ms')} ms, p99 {f.get('p99_ms')} ms, max {f.get('max_ms')} ms")  # fmt: skip
        if "rule_evaluations" in f:
            line += f"; {f['rule_evaluations']} evaluations of the entry's .write"
        if "rss_growth_mib" in f:
            line += f"; server RSS {f['rss_before_mib']} -> {f['rss_peak_mib']} MiB (+{f['rss_growth_mib']} MiB)"
        print(line, file=out)
    if figures["prober_failures"]:
        print(f"prober failures: {figures['prober_failures']}", file=out)
    if args.json:
        print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
