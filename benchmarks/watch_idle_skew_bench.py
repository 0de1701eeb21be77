#!/usr/bin/env python3
"""Benchmark of skewed-client agreement and of idle `focus watch` cost (issue 5 goals).

Setup: ``python -m focuscli serve --port 0 --memory --rules firebase/database.rules.json`` in a
subprocess; a running session ``team`` arranged through the library (focuscli.service.Focus):
an owner who starts a one-hour timer and members that join.

1. Skew spread. Each round starts three fresh ``python -m focuscli status --json --session team``
   processes at once: with the wall clock +10 s, -10 s (libfaketime from pip, preloaded; see
   tests/faketime.py; monotonic clock unshifted) and unshifted (each with its own, fresh XDG
   directories so that each client measures its own clock offset). Every printed line is aligned to the round's reference time
   (the first line's local receive time) with the local, unshifted receive time:
   ``remaining_ms + (t_recv - t_ref)`` in ms. Spread per round = max - min of the aligned values;
   printed: p50 / max over the rounds (goal <= 50 ms) and each client's ``clock_skew_ms``.
2. Idle watch. ``focus watch --session team`` in a detached tmux session (a real TTY, the
   full-screen view) and ``focus watch --json --session team`` (stdout piped) idle with no
   changes for 10 s (5 s with --quick). Printed per process: CPU % of one core over the window
   (from /proc/<pid>/stat utime+stime) and VmRSS (from /proc/<pid>/status); goals <= 2 % CPU
   and <= 60 MiB RSS.

Usage (from the repository root; the script puts the repository on PYTHONPATH itself):

    python benchmarks/watch_idle_skew_bench.py            # 10 rounds, 10 s idle window
    python benchmarks/watch_idle_skew_bench.py --quick    # 4 rounds, 5 s idle window

Only 127.0.0.1 is contacted. Every process started here is stopped (the tmux server is killed,
the piped watcher gets SIGINT, the server SIGTERM) and temporary directories are removed, also
on errors and Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import queue
import shutil
import signal
import subprocess
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
    child_env,
    percentile,
    proc_cpu,
    proc_rss_mib,
    start_server,
)
from harness import Child as _Child  # noqa: E402

sys.path.insert(0, str(REPO))

from tests import faketime  # noqa: E402  (libfaketime from pip, preloaded)

HOST = "127.0.0.1"
NS = "bench"
SESSION = "team"
CLIENT_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0
SHIFTS = {"plus10": "+10s", "minus10": "-10s", "zero": None}
SPREAD_GOAL_MS = 50.0
CPU_GOAL_PCT = 2.0
RSS_GOAL_MIB = 60.0
TMUX = shutil.which("tmux") or "/usr/bin/tmux"


def proc_children(pid: int) -> list[int]:
    kids: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children", encoding="ascii") as fh:
                kids += [int(x) for x in fh.read().split()]
    return kids


def proc_cmdline(pid: int) -> list[str]:
    with contextlib.suppress(OSError), open(f"/proc/{pid}/cmdline", "rb") as fh:
        return [a.decode("utf-8", "replace") for a in fh.read().split(b"\0") if a]
    return []


def _env(**extra: str) -> dict[str, str]:
    env = child_env()
    env.pop("TMUX", None)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def _client_env(url: str, user: str, home: Path, **extra: str) -> dict[str, str]:
    for sub in ("state", "config", "data"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    return _env(
        FOCUS_DATABASE_URL=url, FOCUS_USER=user, XDG_STATE_HOME=str(home / "state"),
        XDG_CONFIG_HOME=str(home / "config"), XDG_DATA_HOME=str(home / "data"), **extra,
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------
# processes


class Child(_Child):
    """A subprocess in its own session; stdout lines go to a queue with their receive time."""

    stop_timeout = STOP_TIMEOUT

    def __init__(self, role: str, argv: list[str], env: dict[str, str], stderr_path: Path, *, lines: bool = True) -> None:
        super().__init__(role, argv, env, stderr_path)
        self.lines: queue.Queue[tuple[float, bytes | None]] = queue.Queue()
        self.count = 0
        self._reader: threading.Thread | None = None
        if lines:
            self._reader = threading.Thread(target=self._read, daemon=True)
            self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        with contextlib.suppress(OSError, ValueError):
            for line in self.proc.stdout:
                self.count += 1
                self.lines.put((time.time(), line))
        self.lines.put((time.time(), None))

    def next_line(self, timeout: float) -> tuple[float, bytes]:
        try:
            at, line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise BenchError(f"{self.role}: no line within {timeout:.0f} s") from None
        if line is None:
            self.proc.wait(timeout=STOP_TIMEOUT)
            raise BenchError(f"{self.role}: output ended (exit {self.proc.returncode}); stderr: {self.stderr_tail()}")
        return at, line

    def _exited(self) -> None:
        if self._reader is not None:
            self._reader.join(timeout=5)


class Tmux:
    """A private tmux server (own socket) running one command in a detached session."""

    def __init__(self, socket: Path) -> None:
        self.socket = socket
        self.started = False

    def run(self, *args: str, env: dict[str, str] | None = None) -> str:
        out = subprocess.run(
            [TMUX, "-S", str(self.socket), *args], capture_output=True, text=True, timeout=10, env=env,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
        if out.returncode != 0:
            raise BenchError(f"tmux {args[0]}: {out.stderr.strip()}")
        return out.stdout

    def start(self, command: str, env: dict[str, str]) -> None:
        self.started = True
        self.run("-f", "/dev/null", "new-session", "-d", "-s", "w", "-x", "100", "-y", "30", command, env=env)
        self.run("set-option", "-t", "w", "remain-on-exit", "on")

    def text(self) -> str:
        return self.run("capture-pane", "-p", "-t", "w")

    def watcher_pid(self, timeout: float) -> int:
        """The python process in the pane: the pane's process itself or one of its descendants."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pane = int(self.run("list-panes", "-t", "w", "-F", "#{pane_pid}").split()[0])
            todo = [pane]
            while todo:
                pid = todo.pop(0)
                argv = proc_cmdline(pid)
                if "focuscli" in argv and "watch" in argv:
                    return pid
                todo += proc_children(pid)
            time.sleep(0.1)
        raise BenchError(f"tmux: no focus watch process in the pane; it shows:\n{self.text()}")

    def kill(self) -> str:
        """Ctrl-C to the watcher, then kill the tmux server; returns the watcher's exit status."""
        if not self.started:
            return "not started"
        status = "unknown"
        with contextlib.suppress(BenchError, OSError, subprocess.SubprocessError, ValueError):
            self.run("send-keys", "-t", "w", "C-c")
            deadline = time.monotonic() + STOP_TIMEOUT
            while time.monotonic() < deadline:
                fmt = "#{pane_dead}:#{pane_dead_status}:#{pane_dead_signal}"
                dead, code, sig = (self.run("list-panes", "-t", "w", "-F", fmt).strip().split(":") + ["", ""])[:3]
                if dead == "1" and (code or sig):
                    status = f"exit {code}" if code else f"killed by signal {sig}"
                    break
                time.sleep(0.1)
            else:
                status = f"still running {STOP_TIMEOUT:.0f} s after Ctrl-C"
        with contextlib.suppress(BenchError, OSError, subprocess.SubprocessError):
            self.run("kill-server")
        self.started = False
        return status


# ---------------------------------------------------------------------------------------------
# the benchmark


def skew_rounds(work: Path, url: str, rounds: int, out: dict[str, Any]) -> None:
    spreads: list[float] = []
    skews: dict[str, list[int]] = {name: [] for name in SHIFTS}
    rows: list[str] = []
    for r in range(rounds):
        clients: dict[str, Child] = {}
        try:
            for name, shift in SHIFTS.items():
                home = work / "skew" / f"r{r:02d}-{name}"  # fresh: the offset is measured anew
                env = _client_env(url, name, home)
                argv = [sys.executable, "-m", "focuscli", "status", "--json", "--session", SESSION]
                if shift is not None:
                    env = faketime.environ(shift, env)
                clients[name] = Child(f"status {name} (round {r + 1})", argv, env, home / "stderr")
            got: dict[str, tuple[float, dict[str, Any]]] = {}
            for name, child in clients.items():
                at, line = child.next_line(CLIENT_TIMEOUT)
                got[name] = (at, json.loads(line))
            for child in clients.values():
                try:
                    child.proc.wait(timeout=CLIENT_TIMEOUT)  # status exits by itself
                except subprocess.TimeoutExpired:
                    raise BenchError(f"{child.role}: still running {CLIENT_TIMEOUT:.0f} s after its line") from None
                code = child.stop(signal.SIGTERM)
                if code != 0:
                    raise BenchError(f"{child.role}: exit {code}; stderr: {child.stderr_tail()}")
        finally:
            for child in clients.values():
                child.stop(signal.SIGTERM)
        t_ref = min(at for at, _ in got.values())
        aligned = {name: obj["remaining_ms"] + (at - t_ref) * 1000.0 for name, (at, obj) in got.items()}
        spread = max(aligned.values()) - min(aligned.values())
        spreads.append(spread)
        for name, (_, obj) in got.items():
            skews[name].append(int(obj["clock_skew_ms"]))
        rows.append(
            f"  round {r + 1:2d}: spread {spread:6.1f} ms; clock_skew_ms "
            + ", ".join(f"{n}={got[n][1]['clock_skew_ms']}" for n in SHIFTS)
        )
    ordered = sorted(spreads)
    out["skew"] = {
        "rounds": rounds, "p50_ms": round(percentile(ordered, 0.5), 1), "max_ms": round(ordered[-1], 1),
        "rows": rows, "skews": skews,
    }  # fmt: skip


def idle_watch(work: Path, url: str, window: float, out: dict[str, Any], tmux: Tmux, children: list[Child]) -> None:
    # the full-screen view in a real TTY
    tty_env = _client_env(url, "tty", work / "tty", TERM="xterm-256color")
    command = f"exec {sys.executable} -m focuscli watch --session {SESSION} 2>{work / 'tty' / 'stderr'}"
    tmux.start(command, tty_env)
    tty_pid = tmux.watcher_pid(START_TIMEOUT)
    deadline = time.monotonic() + START_TIMEOUT
    while SESSION not in tmux.text():
        if time.monotonic() > deadline:
            raise BenchError(f"tmux watcher: the view did not appear; pane:\n{tmux.text()}")
        time.sleep(0.1)
    # the piped JSON watcher
    home = work / "pipe"
    argv = [sys.executable, "-m", "focuscli", "watch", "--json", "--session", SESSION]
    piped = Child("watch --json", argv, _client_env(url, "pipe", home), home / "stderr")
    children.append(piped)
    piped.next_line(START_TIMEOUT)
    time.sleep(1.0)  # start-up work (presence writes, first render) settles
    if piped.proc.poll() is not None:
        raise BenchError(f"watch --json ended: {piped.stderr_tail()}")
    lines_before = piped.count
    pids = {"tty": tty_pid, "json": piped.pid}
    cpu0 = {k: proc_cpu(p) for k, p in pids.items()}
    t0 = time.monotonic()
    time.sleep(window)
    elapsed = time.monotonic() - t0
    cpu1 = {k: proc_cpu(p) for k, p in pids.items()}
    rss = {k: proc_rss_mib(p) for k, p in pids.items()}
    alive = {k: os.path.exists(f"/proc/{p}") for k, p in pids.items()}
    out["idle"] = {
        "window_s": round(elapsed, 2),
        "cpu_pct": {k: round(100 * (cpu1[k] - cpu0[k]) / elapsed, 2) for k in pids},
        "rss_mib": {k: round(v, 1) for k, v in rss.items()},
        "alive": alive, "json_lines_in_window": piped.count - lines_before,
        "pane_head": [t for t in (ln.strip("│╭╮╰╯─ ") for ln in tmux.text().splitlines()) if t][:3],
    }  # fmt: skip


def run(work: Path, rounds: int, window: float, out: dict[str, Any]) -> None:
    from focuscli import timer
    from focuscli.backend import Database, Target
    from focuscli.service import Focus

    children: list[Child] = []
    opened: list[Database] = []
    tmux = Tmux(work / "tmux.sock")
    try:
        server, port = start_server(work, _env(), Child, lines=False)
        children.append(server)
        url = f"http://{HOST}:{port}?ns={NS}"

        def member(user: str) -> Focus:
            db = Database(Target(url, None, "emulator"), user)
            opened.append(db)
            return Focus(db, user, state_dir=work / "lib" / user)

        owner = member("lead")
        owner.act(SESSION, lambda s, now: timer.start(s, "lead", now, duration_ms=3_600_000), create=True)
        code = owner.invite_code(SESSION)
        for user in [*SHIFTS, "tty", "pipe"]:
            member(user).join(SESSION, code)
        for db in opened:
            db.close()
        opened.clear()

        skew_rounds(work, url, rounds, out)
        idle_watch(work, url, window, out, tmux, children)
    finally:
        for db in opened:
            with contextlib.suppress(Exception):
                db.close()
        tty_status = tmux.kill()
        codes: dict[str, Any] = {}
        for c in children[1:]:
            codes[c.role] = c.stop(signal.SIGINT)
        if children:
            codes["server"] = children[0].stop(signal.SIGTERM)
        codes["watch (tmux, Ctrl-C)"] = tty_status
        out["exit_codes"] = codes


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="4 skew rounds, 5 s idle window")
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    args = parser.parse_args(argv)
    rounds, window = (4, 5.0) if args.quick else (10, 10.0)
    signal.signal(signal.SIGTERM, _interrupt)
    work = Path(tempfile.mkdtemp(prefix="focus-idle-skew-bench-"))
    out: dict[str, Any] = {"nproc": len(os.sched_getaffinity(0)), "mode": "quick" if args.quick else "full"}
    failures: list[str] = []
    try:
        run(work, rounds, window, out)
    except KeyboardInterrupt:
        print("interrupted; processes stopped and temporary files removed")
        return 130
    except BenchError as err:
        failures.append(str(err))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"machine: nproc={out['nproc']}; {out['mode']} run")
    if "skew" in out:
        s = out["skew"]
        print(f"skew spread: {s['rounds']} rounds x 3 fresh `focus status --json` clients "
              f"(faketime {SHIFTS['plus10']}, faketime {SHIFTS['minus10']}, unshifted); remaining_ms aligned "
              f"to the round's first receive time")
        for row in s["rows"]:
            print(row)
        for name, values in s["skews"].items():
            print(f"  clock_skew_ms {name:>7}: min {min(values)}, max {max(values)}")
        print(f"  spread p50 {s['p50_ms']} ms, max {s['max_ms']} ms  "
              f"[goal <= {SPREAD_GOAL_MS:.0f} ms: {_verdict(s['max_ms'] <= SPREAD_GOAL_MS)}]")
    if "idle" in out:
        i = out["idle"]
        print(f"idle watch over {i['window_s']} s with no changes (CPU % of one core; VmRSS at the end):")
        for key, label in (("tty", "focus watch (tmux TTY, full-screen)"), ("json", "focus watch --json (piped)")):
            cpu, rss = i["cpu_pct"][key], i["rss_mib"][key]
            ok = cpu <= CPU_GOAL_PCT and rss <= RSS_GOAL_MIB and i["alive"][key]
            print(f"  {label}: CPU {cpu}%, RSS {rss} MiB{'' if i['alive'][key] else ' (EXITED)'}  "
                  f"[goal <= {CPU_GOAL_PCT:.0f} % and <= {RSS_GOAL_MIB:.0f} MiB: {_verdict(ok)}]")
        print(f"  json lines printed during the window: {i['json_lines_in_window']}; pane top: "
              f"{' | '.join(line.strip() for line in i['pane_head'])!r}")
    codes = out.get("exit_codes", {})
    shown = ", ".join(f"{k} -> {v if isinstance(v, str) else f'exit {v}'}" for k, v in codes.items())
    print(f"stopped: {shown}; tmux server killed")
    if codes.get("watch --json") not in (130, None):
        failures.append(f"watch --json exit code {codes.get('watch --json')} (want 130 after SIGINT)")
    if codes.get("server") not in (0, None):
        failures.append(f"server exit code {codes.get('server')} (want 0)")
    if args.json:
        print(json.dumps(out, indent=2))
    for failure in failures:
        print(f"FAILED: {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
