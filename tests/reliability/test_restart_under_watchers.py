"""Reliability item 2: `focus serve` restarted (and killed) under 20 `focus watch --json` processes.

Timeline (one test, one server port and data directory throughout):

- 20 watchers follow a running 60-minute focus block.
- Phase A: SIGTERM the server, start it again on the same port and data directory, and pause
  the timer as the session owner as soon as it answers.
- Phase B: resume (so a countdown is running), kill -9 the server, leave it down for 5 s,
  start it again, and skip to the break as soon as it answers.

What every watcher must do, from its `--json` events (each timestamped when the test reads it):

- say the connection is gone: an event with ``connection: "reconnecting"`` within
  DETECT_S of the server process being gone;
- never show a stale countdown as live. Precisely: from that "reconnecting" event until the
  next server process is launched (nothing listens on the port in between), the watcher
  prints no event with ``connection: "live"`` (its last word stays "reconnecting": nothing it
  shows in that window claims to be current), and once the phase's new state is committed, no event with
  ``connection: "live"`` shows an older ``rev`` more than STALE_GRACE_S after the commit
  was acknowledged;
- show the correct new state — an event with ``connection: "live"`` and the server's ``rev``,
  ``status``, ``phase``, ``updated_by`` and ``ends_at`` (running) or ``remaining_ms`` (paused) —
  within RETURN_BUDGET_S of the server's ready line;
- never exit; at the end Ctrl-C ends each one with exit 130, and none wrote to stderr.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import statistics
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

from focuscli import timer
from focuscli.backend import Database, Target
from focuscli.errors import BackendError
from focuscli.service import Focus
from tests.members import EmulatorMember
from tests.reliability.conftest import FOCUS_RULES_FILE, focus_argv, focus_env

pytestmark = pytest.mark.focus_serve

N_WATCHERS = 20
RETURN_BUDGET_S = 3.0  # server ready -> every watcher shows the new state
DETECT_S = 2.0  # server gone -> every watcher says "reconnecting"
OUTAGE_S = 5.0  # phase B: how long the killed server stays down
STALE_GRACE_S = 1.0  # commit acknowledged -> no live event may show an older rev after this
STARTUP_DEADLINE_S = 25.0  # 20 watchers starting on 2 busy cores
SERVER_START_DEADLINE_S = 15.0
EXIT_DEADLINE_S = 10.0
SESSION = "team"
OWNER = "ana"


# -- processes ----------------------------------------------------------------------------------


class Watcher:
    """One `focus watch --json` process; its stdout lines parsed as they arrive, each stamped
    with time.monotonic() when read."""

    def __init__(self, user: str, url: str, home: Path) -> None:
        self.user = user
        home.mkdir(parents=True, exist_ok=True)
        self.stderr_path = home / "stderr.txt"
        self.started = time.monotonic()
        with self.stderr_path.open("w") as err:
            self.proc = subprocess.Popen(
                focus_argv("watch", "--json", "--session", SESSION),
                env=focus_env(url, user, home), stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=err, text=True,
            )  # fmt: skip
        self.events: list[tuple[float, dict[str, Any]]] = []
        self.garbage: list[str] = []  # stdout lines that are not JSON objects
        self.eof_at: float | None = None
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, name=f"read {user}", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        with self.proc.stdout:
            for line in self.proc.stdout:
                at = time.monotonic()
                try:
                    obj = json.loads(line)
                except ValueError:
                    obj = None
                with self._cond:
                    if isinstance(obj, dict):
                        self.events.append((at, obj))
                    else:
                        self.garbage.append(line)
                    self._cond.notify_all()
        with self._cond:
            self.eof_at = time.monotonic()
            self._cond.notify_all()

    def first(
        self, want: Callable[[dict[str, Any]], bool], since: int, deadline: float, what: str
    ) -> tuple[float, dict[str, Any]]:
        """The first event at index >= ``since`` that satisfies ``want``; fails at the deadline
        or if the process's output ends first."""
        with self._cond:
            index = since
            while True:
                while index < len(self.events):
                    at, obj = self.events[index]
                    if want(obj):
                        return at, obj
                    index += 1
                if self.eof_at is not None:
                    raise AssertionError(
                        f"watcher {self.user} exited (code {self.proc.poll()}) before {what}; "
                        f"stderr: {self.stderr()!r}; events: {self.tail()}"
                    )
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"watcher {self.user}: no {what} in time; events: {self.tail()}"
                    )
                self._cond.wait(left)

    def mark(self) -> int:
        with self._cond:
            return len(self.events)

    def snapshot(self) -> list[tuple[float, dict[str, Any]]]:
        with self._cond:
            return list(self.events)

    def tail(self, n: int = 6) -> list[str]:
        with self._cond:
            rows = self.events[-n:]
        return [
            f"{obj.get('event')}/{obj.get('connection')} rev={obj.get('rev')} "
            f"{obj.get('phase')} {obj.get('status')}"
            for _, obj in rows
        ]

    def stderr(self) -> str:
        with contextlib.suppress(OSError):
            return self.stderr_path.read_text()
        return ""

    def stop(self, deadline: float) -> int | None:
        """Wait (bounded) for the exit after a signal; kill if it does not come."""
        try:
            return self.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=EXIT_DEADLINE_S)
            return None
        finally:
            self._reader.join(timeout=EXIT_DEADLINE_S)


@pytest.fixture
def watchers() -> Iterator[list[Watcher]]:
    started: list[Watcher] = []
    yield started
    for w in started:
        if w.proc.poll() is None:
            w.proc.kill()
            w.proc.wait(timeout=EXIT_DEADLINE_S)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(spawn_server: Any, port: int, data_dir: Path) -> tuple[Any, float]:
    """`focus serve` on ``port`` with ``data_dir``: (the process, monotonic time of its ready
    line). A server that prints nothing within SERVER_START_DEADLINE_S is killed (its ready
    read then ends and fails)."""
    result: dict[str, Any] = {}

    def spawn() -> None:
        try:
            result["server"] = spawn_server("--port", str(port), "--data-dir", str(data_dir))
            result["ready"] = time.monotonic()
        except BaseException as err:  # reported by the caller
            result["error"] = err

    thread = threading.Thread(target=spawn, daemon=True)
    thread.start()
    thread.join(SERVER_START_DEADLINE_S)
    if thread.is_alive():
        _kill_serve_on(port)
        thread.join(EXIT_DEADLINE_S)
        raise AssertionError(
            f"focus serve on port {port} not ready within {SERVER_START_DEADLINE_S} s"
        )
    if "error" in result:
        raise result["error"]
    return result["server"], result["ready"]


def _kill_serve_on(port: int) -> None:
    """Kill this test's own `focus serve --port PORT` child (found by its exact argv)."""
    me = os.getpid()
    for pid_dir in Path("/proc").iterdir():
        if not pid_dir.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            stat = (pid_dir / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            argv = (pid_dir / "cmdline").read_bytes().split(b"\0")
            if ppid == me and b"serve" in argv and str(port).encode() in argv:
                os.kill(int(pid_dir.name), signal.SIGKILL)


# -- the session --------------------------------------------------------------------------------


def act_retrying(
    focus: Focus, action: Callable[[timer.TimerState, int], timer.TimerState], deadline: float
) -> float:
    """Apply ``action`` as soon as the server takes it; returns the monotonic time of the ack.

    The library's HTTP client may hold a keep-alive connection that the restart closed."""
    while True:
        try:
            focus.act(SESSION, action)
            return time.monotonic()
        except BackendError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def expected(focus: Focus) -> dict[str, Any]:
    """The fields a watcher must show for the session's current state (read as the owner)."""
    v = focus.status(SESSION).view
    want: dict[str, Any] = {
        "rev": v.rev, "status": v.status, "phase": v.phase, "updated_by": v.updated_by,
        "action": v.action, "connection": "live",
    }  # fmt: skip
    if v.status == "running":
        want["ends_at"] = v.ends_at
    elif v.status == "paused":
        want["remaining_ms"] = v.remaining_ms
    return want


def shows(want: dict[str, Any]) -> Callable[[dict[str, Any]], bool]:
    return lambda obj: all(obj.get(k) == value for k, value in want.items())


def exits(ws: list[Watcher]) -> list[str]:
    return [
        f"{w.user} (exit {w.proc.poll()}): {w.stderr()!r}" for w in ws if w.proc.poll() is not None
    ]


# -- checks ---------------------------------------------------------------------------------------


def check_outage(
    ws: list[Watcher], marks: list[int], gone_at: float, deadline: float
) -> dict[str, float]:
    """Every watcher says "reconnecting" within DETECT_S of the server being gone; returns
    each watcher's "reconnecting" receive time."""
    said: dict[str, float] = {}
    for w, mark in zip(ws, marks, strict=True):
        at, _ = w.first(
            lambda o: o["connection"] == "reconnecting",
            mark,
            min(deadline, gone_at + DETECT_S),
            f"'reconnecting' within {DETECT_S} s of the server going away",
        )
        said[w.user] = at
    return said


def check_no_stale_live(
    ws: list[Watcher], said: dict[str, float], launched_at: float, acked_at: float, new_rev: int
) -> list[str]:
    """The stale-countdown rule (module docstring): problems found, one line each."""
    problems = []
    for w in ws:
        for at, obj in w.snapshot():
            if obj.get("connection") != "live":
                continue
            if said[w.user] < at < launched_at:
                problems.append(f"{w.user}: live event while the server was down: {obj}")
            if (
                at > acked_at + STALE_GRACE_S
                and isinstance(obj.get("rev"), int)
                and obj["rev"] < new_rev
            ):
                problems.append(f"{w.user}: live event with rev {obj['rev']} < {new_rev}, "
                                f"{at - acked_at:.2f} s after the commit: {obj}")  # fmt: skip
    return problems


def check_return(
    ws: list[Watcher], marks: list[int], want: dict[str, Any], ready_at: float
) -> list[float]:
    """Each watcher's delay from the server's ready line to showing ``want`` (all must)."""
    deadline = ready_at + RETURN_BUDGET_S
    delays = []
    for w, mark in zip(ws, marks, strict=True):
        at, _ = w.first(
            shows(want),
            mark,
            deadline,
            f"the new state {want} within {RETURN_BUDGET_S} s of the server's return",
        )
        delays.append(at - ready_at)
    return delays


def summary(delays: list[float]) -> str:
    return f"max {max(delays):.2f} s, p50 {statistics.median(delays):.2f} s"


# -- the test -----------------------------------------------------------------------------------


def test_watchers_follow_a_restart_and_a_kill(
    spawn_server: Any, watchers: list[Watcher], tmp_path: Path, figures: Callable[[str], None]
) -> None:
    began = time.monotonic()
    port = free_port()
    data_dir = tmp_path / "database"
    server, _ = start_server(spawn_server, port, data_dir)
    ns = f"r{uuid.uuid4().hex[:12]}"
    url = f"http://127.0.0.1:{port}?ns={ns}"
    response = requests.put(
        f"http://127.0.0.1:{port}/.settings/rules.json", params={"ns": ns},
        data=FOCUS_RULES_FILE.read_bytes(), headers={"Authorization": "Bearer owner"}, timeout=10,
    )  # fmt: skip
    assert response.status_code == 200, response.text

    users = [f"w{i:02d}" for i in range(N_WATCHERS)]
    opened: list[Database] = []

    def member(user: str) -> Focus:
        db = Database(Target(url, None, "emulator"), EmulatorMember(user), timeout=5.0)
        opened.append(db)
        return Focus(db, EmulatorMember(user), state_dir=tmp_path / "lib" / user)

    try:
        ana = member(OWNER)
        ana.act(
            SESSION, lambda s, now: timer.start(s, OWNER, now, duration_ms=3_600_000), create=True
        )
        code = ana.invite_code(SESSION)
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda u: member(u).join(SESSION, code), users))

        # -- 20 watchers, started together ---------------------------------------------------
        spawned = time.monotonic()
        for user in users:
            watchers.append(Watcher(user, url, tmp_path / "homes" / user))
        running = expected(ana)
        deadline = spawned + STARTUP_DEADLINE_S
        startup = [
            w.first(shows(running), 0, deadline, "the running timer at start")[0] - w.started
            for w in watchers
        ]

        # -- phase A: SIGTERM, restart, pause --------------------------------------------------
        marks = [w.mark() for w in watchers]
        signalled_a = time.monotonic()
        code_a, _, err_a = server.terminate(signal.SIGTERM)
        assert code_a == 0, err_a
        gone_a = time.monotonic()
        said_a = check_outage(watchers, marks, gone_a, gone_a + DETECT_S)
        launched_a = time.monotonic()
        server, ready_a = start_server(spawn_server, port, data_dir)
        acked_a = act_retrying(
            ana, lambda s, now: timer.pause(s, OWNER, now), ready_a + RETURN_BUDGET_S
        )
        paused = expected(ana)
        assert paused["status"] == "paused"
        delays_a = check_return(watchers, marks, paused, ready_a)
        assert not exits(watchers), exits(watchers)

        # -- phase B: resume, kill -9, 5 s down, restart, skip -----------------------------------
        marks = [w.mark() for w in watchers]
        act_retrying(
            ana, lambda s, now: timer.resume(s, OWNER, now), time.monotonic() + RETURN_BUDGET_S
        )
        check_return(watchers, marks, expected(ana), time.monotonic())  # a live countdown again
        marks = [w.mark() for w in watchers]
        signalled_b = time.monotonic()
        server.kill()
        gone_b = time.monotonic()
        said_b = check_outage(watchers, marks, gone_b, gone_b + DETECT_S)
        left = gone_b + OUTAGE_S - time.monotonic()
        assert left > 0, f"noticing the kill took longer than the {OUTAGE_S} s outage"
        time.sleep(left)  # the outage itself (a fixed length, not a wait for something)
        assert not exits(watchers), exits(watchers)
        launched_b = time.monotonic()
        server, ready_b = start_server(spawn_server, port, data_dir)
        acked_b = act_retrying(
            ana, lambda s, now: timer.skip(s, OWNER, now), ready_b + RETURN_BUDGET_S
        )
        skipped = expected(ana)
        assert (skipped["phase"], skipped["status"]) == ("short_break", "running")
        delays_b = check_return(watchers, marks, skipped, ready_b)

        # -- no stale countdown presented as live, nobody left ---------------------------------
        problems = check_no_stale_live(watchers, said_a, launched_a, acked_a, paused["rev"])
        problems += check_no_stale_live(watchers, said_b, launched_b, acked_b, skipped["rev"])
        assert not problems, "\n".join(problems[:10])
        garbage = [f"{w.user}: {line!r}" for w in watchers for line in w.garbage]
        assert not garbage, garbage
        exited = exits(watchers)
        assert not exited, exited
    finally:
        for db in opened:
            db.close()

    # -- Ctrl-C ends every watcher cleanly ----------------------------------------------------
    for w in watchers:
        w.proc.send_signal(signal.SIGINT)
    stop_deadline = time.monotonic() + EXIT_DEADLINE_S
    ends = {w.user: (w.stop(stop_deadline), w.stderr()) for w in watchers}
    unclean = {user: end for user, end in ends.items() if end != (130, "")}
    assert not unclean, unclean  # exit 130 (Ctrl-C) and not a word on stderr throughout
    code_end, _, err_end = server.terminate()
    assert code_end == 0, err_end
    detect = [  # signal sent -> the watcher printed "reconnecting"
        said[w.user] - sent
        for said, sent in ((said_a, signalled_a), (said_b, signalled_b))
        for w in watchers
    ]

    figures(
        f"{N_WATCHERS} watchers (startup to first state: {summary(startup)}), {len(exited)} exits; "
        f"signal -> 'reconnecting' shown: {summary(detect)}; "
        f"SIGTERM + restart: server ready -> all show the pause: {summary(delays_a)}; "
        f"kill -9 + {OUTAGE_S:g} s down + restart: server ready -> all show the skip: {summary(delays_b)}; "
        f"budget {RETURN_BUDGET_S:g} s; test {time.monotonic() - began:.1f} s"
    )
