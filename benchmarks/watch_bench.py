#!/usr/bin/env python3
"""Benchmark of `focus watch --json` fan-out: server commit to each watcher's printed line.

Setup: ``python -m focuscli serve --port 0 --memory --rules firebase/database.rules.json`` in a
subprocess; a session ``team`` arranged through the library (focuscli.service.Focus): an owner
who acts and one member per watcher. Then 20 ``python -m focuscli watch --json --session team``
processes (each with its own XDG directories and FOCUS_USER, a member that joined), plus 100
more raw SSE streams on ``/sessions/team`` (admin, ``Bearer owner``) held open by one asyncio
client in a child process of this script.

Once every watcher printed its first line and every raw stream has its initial ``put``, the
owner performs ~30 actions through the library (pause / resume alternating, 300 ms apart). For
every (watcher, action) pair: latency = local receive time of the watcher's line (ms; plus the
watcher's clock skew, 0 here because everything runs on this machine) - the line's
``updated_at`` (the server's commit time). Printed: p50 / p99 / max over all pairs (goal p99 <=
50 ms), the same for the raw streams (informational), and the CPU used during the measuring
window (from /proc/<pid>/stat utime+stime): all watchers together, the server, the stream client.

Usage (from the repository root; the script puts the repository on PYTHONPATH itself):

    python benchmarks/watch_bench.py            # 20 watchers + 100 streams, 30 actions
    python benchmarks/watch_bench.py --quick    # 5 watchers + 20 streams, 10 actions

Only 127.0.0.1 is contacted. Watchers get SIGINT (and must exit 130), the server SIGTERM (and
must exit 0); temporary directories are removed, also on errors and Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import selectors
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (  # noqa: E402
    REPO,
    START_TIMEOUT,
    BenchError,
    percentile,
    read_line,
    start_server,
)
from harness import Child as _Child  # noqa: E402
from harness import child_env as _env  # noqa: E402

sys.path.insert(0, str(REPO))

HOST = "127.0.0.1"
NS = "bench"
SESSION = "team"
WATCHERS_TIMEOUT = 120.0  # 20 Python processes starting at once on a small machine
DELIVERY_TIMEOUT = 15.0
STOP_TIMEOUT = 20.0
CLOCK_SKEW_MS = 0.0  # every watcher runs on this machine, on this clock


class Child(_Child):
    """harness.Child with this benchmark's stop timeout."""

    stop_timeout = STOP_TIMEOUT


class WatchLines:
    """One thread reading every watcher's stdout: (receive time in ms, watcher, line)."""

    def __init__(self, watchers: list[Child]) -> None:
        self.lines: list[tuple[float, int, bytes]] = []
        self.firsts: set[int] = set()
        self.ended: set[int] = set()
        self.cond = threading.Condition()
        self._sel = selectors.DefaultSelector()
        self._partial: dict[int, bytes] = {}
        for i, w in enumerate(watchers):
            assert w.proc.stdout is not None
            os.set_blocking(w.proc.stdout.fileno(), False)
            self._sel.register(w.proc.stdout.fileno(), selectors.EVENT_READ, i)
        self._stop = False
        self.thread = threading.Thread(target=self._run, name="watch-lines", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self._stop and self._sel.get_map():
            for key, _ in self._sel.select(0.2):
                i = key.data
                try:
                    chunk = os.read(key.fd, 65536)
                except BlockingIOError:
                    continue
                except OSError:
                    chunk = b""
                at = time.time() * 1000.0
                if not chunk:
                    self._sel.unregister(key.fd)
                    with self.cond:
                        self.ended.add(i)
                        self.cond.notify_all()
                    continue
                data = self._partial.pop(i, b"") + chunk
                *complete, rest = data.split(b"\n")
                if rest:
                    self._partial[i] = rest
                if complete:
                    with self.cond:
                        self.lines.extend((at, i, line) for line in complete if line)
                        self.firsts.add(i)
                        self.cond.notify_all()

    def wait_for(self, predicate: Any, timeout: float) -> bool:
        with self.cond:
            return bool(self.cond.wait_for(predicate, timeout))

    def close(self) -> None:
        self._stop = True
        self.thread.join(timeout=5)
        self._sel.close()


# ---------------------------------------------------------------------------------------------
# the raw streams (child process: ``watch_bench.py --streams-child PORT N``)


async def _one_stream(port: int, path: str, ready: list[int], lat: list[tuple[int, float]], errors: list[str], index: int) -> None:
    reader, writer = await asyncio.open_connection(HOST, port)
    writer.write(
        (f"GET {path}.json?ns={NS} HTTP/1.1\r\nHost: {HOST}:{port}\r\nAccept: text/event-stream\r\n"
         "Authorization: Bearer owner\r\n\r\n").encode()
    )  # fmt: skip
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        errors.append(f"stream {index}: {head[:60]!r}")
        return
    chunked = b"transfer-encoding: chunked" in head.lower()
    buf = b""
    got_first = False
    while True:
        if chunked:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                return
            data = await reader.readexactly(size + 2)
            body = data[:-2]
        else:
            body = await reader.read(65536)
            if not body:
                return
        at = time.time() * 1000.0
        buf += body
        while b"\n\n" in buf:
            event, buf = buf.split(b"\n\n", 1)
            if not got_first and event.startswith(b"event: put"):
                got_first = True
                ready[0] += 1
                continue
            if b'"updated_at"' not in event:
                continue
            for line in event.split(b"\n"):
                if line.startswith(b"data: "):
                    payload = json.loads(line[6:])
                    state = _state_of(payload)
                    if isinstance(state, dict) and isinstance(state.get("updated_at"), int):
                        lat.append((int(state.get("rev", -1)), at - state["updated_at"]))


def _state_of(payload: Any) -> Any:
    """The session's ``state`` in a put/patch payload (at ``/state``, or inside ``/``)."""
    if not isinstance(payload, dict) or not isinstance(payload.get("data"), dict):
        return None
    if payload.get("path") == "/state":
        return payload["data"]
    return payload["data"].get("state") if payload.get("path") == "/" else None


async def _streams_main(port: int, count: int) -> None:
    ready = [0]
    lat: list[tuple[int, float]] = []
    errors: list[str] = []
    path = f"/sessions/{SESSION}"
    tasks = [asyncio.create_task(_one_stream(port, path, ready, lat, errors, i)) for i in range(count)]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + START_TIMEOUT
    while ready[0] < count and loop.time() < deadline and not errors:
        await asyncio.sleep(0.02)
    sys.stdout.write(f"ready {ready[0]}\n")
    sys.stdout.flush()
    await loop.run_in_executor(None, sys.stdin.read)  # the parent closes stdin when done
    for task in tasks:
        task.cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    errors += [repr(r) for r in results if isinstance(r, BaseException) and not isinstance(r, asyncio.CancelledError)]
    sys.stdout.write(json.dumps({"lat": lat, "errors": errors[:10]}) + "\n")
    sys.stdout.flush()


def streams_child(port: int, count: int) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    asyncio.run(_streams_main(port, count))
    return 0


# ---------------------------------------------------------------------------------------------
# the benchmark


def _summary(values: list[float]) -> dict[str, float]:
    values = sorted(values)
    return {
        "p50_ms": round(percentile(values, 0.50), 2),
        "p99_ms": round(percentile(values, 0.99), 2),
        "max_ms": round(values[-1], 2) if values else float("nan"),
    }


def run(work: Path, n_watchers: int, n_streams: int, n_actions: int, spacing: float, out: dict[str, Any]) -> None:
    from focuscli import timer
    from focuscli.backend import Database, Target
    from focuscli.service import Focus

    children: list[Child] = []
    opened: list[Database] = []
    exit_codes: dict[str, Any] = {}
    out["exit_codes"] = exit_codes
    reader: WatchLines | None = None
    try:
        server, port = start_server(work, _env(), Child)
        children.append(server)
        url = f"http://{HOST}:{port}?ns={NS}"

        def member(user: str) -> Focus:
            db = Database(Target(url, None, "emulator"), user)
            opened.append(db)
            return Focus(db, user, state_dir=work / "lib" / user)

        owner = member("lead")
        owner.act(SESSION, lambda s, now: timer.start(s, "lead", now, duration_ms=3_600_000), create=True)
        code = owner.invite_code(SESSION)
        users = [f"w{i:02d}" for i in range(n_watchers)]
        for user in users:
            member(user).join(SESSION, code)
        for db in opened[1:]:
            db.close()
        del opened[1:]
        owner.status(SESSION)  # the owner's clock offset is measured before the actions

        watchers: list[Child] = []
        for user in users:
            home = work / user
            env = _env(
                FOCUS_DATABASE_URL=url, FOCUS_USER=user, XDG_STATE_HOME=str(home / "state"),
                XDG_CONFIG_HOME=str(home / "config"), XDG_DATA_HOME=str(home / "data"),
            )  # fmt: skip
            home.mkdir(parents=True)
            argv = [sys.executable, "-m", "focuscli", "watch", "--json", "--session", SESSION]
            w = Child("watcher", argv, env, home / "watch.stderr")
            children.append(w)
            watchers.append(w)
        streams = Child(
            "stream_client",
            [sys.executable, str(Path(__file__).resolve()), "--streams-child", str(port), str(n_streams)],
            _env(), work / "streams.stderr", stdin=True,
        )  # fmt: skip
        children.append(streams)
        reader = WatchLines(watchers)  # started after every fork

        t_start = time.monotonic()
        assert streams.proc.stdout is not None
        ready = read_line(streams.proc.stdout, START_TIMEOUT + 10, "stream client")
        if ready != f"ready {n_streams}":
            raise BenchError(f"stream client: {ready!r}; stderr: {streams.stderr_tail()}")
        everyone = set(range(n_watchers))
        if not reader.wait_for(lambda: reader.firsts >= everyone or reader.ended, WATCHERS_TIMEOUT):
            raise BenchError(f"only {len(reader.firsts)} of {n_watchers} watchers printed a line in {WATCHERS_TIMEOUT:.0f} s")
        if reader.ended:
            bad = sorted(reader.ended)[0]
            raise BenchError(f"watcher {users[bad]} ended early: {watchers[bad].stderr_tail()}")
        out["watchers_ready_s"] = round(time.monotonic() - t_start, 2)
        time.sleep(1.0)  # let the start-up presence writes (heartbeats) settle

        cpu_before = [c.cpu() for c in children]
        t0 = time.monotonic()
        actions: dict[int, str] = {}
        paused = False
        for k in range(n_actions):
            target = t0 + k * spacing
            time.sleep(max(0.0, target - time.monotonic()))
            if paused:
                status = owner.act(SESSION, lambda s, now: timer.resume(s, "lead", now))
            else:
                status = owner.act(SESSION, lambda s, now: timer.pause(s, "lead", now))
            paused = not paused
            actions[status.view.rev] = status.view.status
        last_rev = max(actions)

        def all_delivered() -> bool:
            got = {i for _, i, line in reader.lines if b'"rev": %d,' % last_rev in line}
            return got >= everyone or bool(reader.ended)

        delivered = reader.wait_for(all_delivered, DELIVERY_TIMEOUT)
        window = time.monotonic() - t0
        cpu_after = [c.cpu() for c in children]
        streams_stats = _finish_streams(streams)
        if not delivered:
            out["note"] = f"not every watcher printed the last action within {DELIVERY_TIMEOUT:.0f} s"

        # latency per (watcher, action) pair
        lat: list[float] = []
        per_rev: dict[int, set[float]] = {}
        seen: set[tuple[int, int]] = set()
        with reader.cond:
            lines = list(reader.lines)
        for at, i, raw in lines:
            obj = json.loads(raw)
            rev = obj.get("rev")
            if obj.get("event") != "state" or rev not in actions or (i, rev) in seen:
                continue
            seen.add((i, rev))
            per_rev.setdefault(rev, set()).add(obj["updated_at"])
            lat.append(at + CLOCK_SKEW_MS - obj["updated_at"])
        raw_lat = [ms for rev, ms in streams_stats.get("lat", []) if rev in actions]
        ncpu = len(watchers)
        watcher_cpu = sum(cpu_after[j] - cpu_before[j] for j in range(1, 1 + ncpu))
        out.update(
            watchers=n_watchers, streams=n_streams, actions=len(actions),
            spacing_ms=round(spacing * 1000), window_s=round(window, 2),
            pairs=len(lat), missing_pairs=n_watchers * len(actions) - len(lat),
            updated_at_disagreements=sum(1 for v in per_rev.values() if len(v) > 1),
            watch=_summary(lat), raw_streams=_summary(raw_lat),
            raw_samples=len(raw_lat), raw_missing=n_streams * len(actions) - len(raw_lat),
            raw_errors=streams_stats.get("errors", []),
            watchers_cpu_pct=round(100 * watcher_cpu / window, 1),
            watcher_cpu_pct_each=round(100 * watcher_cpu / window / max(1, ncpu), 2),
            server_cpu_pct=round(100 * (cpu_after[0] - cpu_before[0]) / window, 1),
            stream_client_cpu_pct=round(100 * (cpu_after[-1] - cpu_before[-1]) / window, 1),
        )  # fmt: skip
    finally:
        for db in opened:
            with contextlib.suppress(Exception):
                db.close()
        for c in children[1:]:
            if c.role == "watcher":
                exit_codes.setdefault("watchers", []).append(c.stop(signal.SIGINT))
            else:
                exit_codes[c.role] = c.stop(signal.SIGTERM)
        if reader is not None:
            reader.close()
        if children:
            exit_codes["server"] = children[0].stop(signal.SIGTERM)


def _finish_streams(streams: Child) -> dict[str, Any]:
    """Close the stream client's stdin; it answers with its figures as one JSON line."""
    assert streams.proc.stdin is not None and streams.proc.stdout is not None
    streams.proc.stdin.close()
    try:
        result: dict[str, Any] = json.loads(read_line(streams.proc.stdout, 30, "stream client"))
    except (BenchError, ValueError) as err:
        return {"errors": [str(err), streams.stderr_tail()]}
    return result


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="5 watchers, 20 streams, 10 actions")
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    parser.add_argument("--streams-child", nargs=2, metavar=("PORT", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.streams_child:
        return streams_child(int(args.streams_child[0]), int(args.streams_child[1]))
    n_watchers, n_streams, n_actions = (5, 20, 10) if args.quick else (20, 100, 30)
    spacing = 0.3
    signal.signal(signal.SIGTERM, _interrupt)
    work = Path(tempfile.mkdtemp(prefix="focus-watch-bench-"))
    out: dict[str, Any] = {"nproc": len(os.sched_getaffinity(0)), "mode": "quick" if args.quick else "full"}
    failures: list[str] = []
    try:
        run(work, n_watchers, n_streams, n_actions, spacing, out)
    except KeyboardInterrupt:
        print("interrupted; processes stopped and temporary files removed")
        return 130
    except BenchError as err:
        failures.append(str(err))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    codes = out.get("exit_codes", {})
    if any(c != 130 for c in codes.get("watchers", [])):
        failures.append(f"watchers exit codes (want 130): {codes.get('watchers')}")
    if codes.get("server") not in (0, None):
        failures.append(f"server exit code {codes.get('server')} (want 0)")
    if "watch" in out:
        w, r = out["watch"], out["raw_streams"]
        verdict = "PASS" if w["p99_ms"] <= 50 and out["missing_pairs"] == 0 else "MISS"
        print(f"machine: nproc={out['nproc']}; {out['mode']} run; {out['watchers']} `focus watch --json` "
              f"processes + {out['streams']} raw SSE streams on /sessions/{SESSION} (ready in "
              f"{out['watchers_ready_s']} s)")
        print(f"commit -> watcher line latency over {out['pairs']} (watcher, action) pairs "
              f"({out['actions']} actions {out['spacing_ms']} ms apart, clock skew 0 ms: same "
              f"machine): p50 {w['p50_ms']} ms, p99 {w['p99_ms']} ms, max {w['max_ms']} ms  "
              f"[goal p99 <= 50 ms: {verdict}] (missing pairs {out['missing_pairs']}; "
              f"updated_at disagreements {out['updated_at_disagreements']})")
        print(f"commit -> raw stream event (informational) over {out['raw_samples']} pairs: "
              f"p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms, max {r['max_ms']} ms "
              f"(missing {out['raw_missing']}; errors {out['raw_errors'] or 'none'})")
        print(f"CPU over the {out['window_s']} s window (% of one core): watchers total "
              f"{out['watchers_cpu_pct']}% ({out['watcher_cpu_pct_each']}% each), server "
              f"{out['server_cpu_pct']}%, raw-stream client {out['stream_client_cpu_pct']}%")
        if "note" in out:
            print(f"note: {out['note']}")
    print(f"stopped: watchers SIGINT -> exit {sorted(set(codes.get('watchers', [])))}, server "
          f"SIGTERM -> exit {codes.get('server')}, stream client -> exit {codes.get('stream_client')}")
    if args.json:
        print(json.dumps(out, indent=2))
    for failure in failures:
        print(f"FAILED: {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
