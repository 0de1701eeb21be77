"""Watching under faults: clients whose clocks are off, and a server restart under watchers.

Every wait here is bounded: subprocess output is read by one thread per process into a queue,
and each expectation has a deadline.
"""

from __future__ import annotations

import contextlib
import json
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from focuscli import timer
from focuscli.backend import Database, Target
from focuscli.service import Focus
from tests import faketime
from tests.conftest import focus_env
from tests.members import EmulatorMember

ROOT = Path(__file__).resolve().parent.parent
RULES = (ROOT / "firebase" / "database.rules.json").read_text()
DEADLINE_S = 30.0


class Lines:
    """A subprocess whose stdout lines arrive on a queue as (local receive time, line)."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        self.queue: queue.Queue[tuple[float, str | None]] = queue.Queue()
        self.seen: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.queue.put((time.time(), line))
        self.queue.put((time.time(), None))  # end of output

    def next(self, deadline: float) -> tuple[float, str]:
        """The next line (with its receive time); fails at the deadline or at end of output."""
        left = deadline - time.monotonic()
        try:
            at, line = self.queue.get(timeout=max(0.0, left))
        except queue.Empty:
            raise AssertionError(f"no line in time; lines so far: {self.seen}") from None
        if line is None:
            raise AssertionError(f"output ended (exit {self.proc.poll()}); lines: {self.seen}; stderr: {self.stderr()}")
        self.seen.append(line)
        return at, line

    def until(self, want: Callable[[dict[str, Any]], bool], deadline: float) -> dict[str, Any]:
        """Read JSON lines until one satisfies ``want``; returns it."""
        while True:
            _, line = self.next(deadline)
            obj: dict[str, Any] = json.loads(line)
            if want(obj):
                return obj

    def stderr(self) -> str:
        if self.proc.poll() is None or self.proc.stderr is None:
            return "(running)"
        with contextlib.suppress(ValueError, OSError):
            return self.proc.stderr.read()
        return ""

    def wait(self) -> tuple[int, str]:
        """Wait for the exit (bounded); returns (exit code, stderr)."""
        try:
            _, err = self.proc.communicate(timeout=DEADLINE_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate(timeout=15)
        self._reader.join(timeout=5)
        return self.proc.returncode, err or ""

    def interrupt(self) -> tuple[int, str]:
        """SIGINT, then wait (bounded); returns (exit code, stderr)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            _, err = self.proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate(timeout=15)
        self._reader.join(timeout=5)
        return self.proc.returncode, err or ""


@pytest.fixture
def spawn() -> Iterator[Callable[[list[str], dict[str, str]], Lines]]:
    started: list[Lines] = []

    def make(argv: list[str], env: dict[str, str]) -> Lines:
        lines = Lines(argv, env)
        started.append(lines)
        return lines

    yield make
    for lines in started:
        if lines.proc.poll() is None:
            lines.proc.kill()
            lines.proc.communicate(timeout=15)


def _member_factory(url: str, state_root: Path) -> tuple[Callable[[str], Focus], list[Database]]:
    opened: list[Database] = []

    def make(user: str) -> Focus:
        db = Database(Target(url, None, "emulator"), EmulatorMember(user))
        opened.append(db)
        return Focus(db, EmulatorMember(user), state_dir=state_root / user)

    return make, opened


# ---------------------------------------------------------------------------------------------
# clock skew



def test_clients_with_skewed_clocks_agree_on_remaining_time(
    rest: Any, server_url: str, ns: str, tmp_path: Path, spawn: Callable[[list[str], dict[str, str]], Lines]
) -> None:
    rest.set_rules(RULES)
    url = f"{server_url}?ns={ns}"
    make, opened = _member_factory(url, tmp_path / "lib")
    try:
        ana, bob = make("ana"), make("bob")
        ana.act("team", lambda s, now: timer.start(s, "ana", now, duration_ms=3_600_000), create=True)
        bob.join("team", ana.invite_code("team"))
        shifts = {"ana": "+10s", "bob": "-10s"}
        procs: dict[str, Lines] = {}
        for user, shift in shifts.items():
            env = faketime.environ(shift, focus_env(url, user, tmp_path / user))
            argv = [sys.executable, "-m", "focuscli", "status", "--json", "--session", "team"]
            procs[user] = spawn(argv, env)
        deadline = time.monotonic() + DEADLINE_S
        got: dict[str, tuple[float, dict[str, Any]]] = {}
        for user, lines in procs.items():
            at, line = lines.next(deadline)
            got[user] = (at, json.loads(line))
            code, err = lines.wait()
            assert (code, err) == (0, ""), (user, code, err)
        # The test's own estimate of the server clock, unshifted (same machine as the server).
        offset = ana.clock_offset(fresh=True)
    finally:
        for db in opened:
            db.close()

    skews = {user: obj["clock_skew_ms"] for user, (_, obj) in got.items()}
    # each client measured the server clock as about 10 s away from its own, in opposite ways
    assert abs(skews["ana"] - (offset - 10_000)) <= 200, skews
    assert abs(skews["bob"] - (offset + 10_000)) <= 200, skews
    # A line's remaining_ms holds at the moment it was printed (stdout is unbuffered), so
    # remaining + local receive time is the same number for clients that agree; without the
    # offset estimate the two would differ by 20 s.
    aligned = {user: obj["remaining_ms"] + at * 1000 for user, (at, obj) in got.items()}
    assert abs(aligned["ana"] - aligned["bob"]) <= 200, (aligned, got)
    ends_at = got["ana"][1]["ends_at"]
    assert got["bob"][1]["ends_at"] == ends_at
    for user, (at, obj) in got.items():  # and each agrees with the unshifted truth
        truth = ends_at - (at * 1000 + offset)
        assert abs(obj["remaining_ms"] - truth) <= 200, (user, obj["remaining_ms"], truth)


# ---------------------------------------------------------------------------------------------
# server restart under watchers


@pytest.mark.focus_serve
def test_watchers_survive_a_server_restart(tmp_path: Path, spawn: Callable[[list[str], dict[str, str]], Lines]) -> None:
    from focuscli.server import LocalServer

    ns = f"t{uuid.uuid4().hex[:16]}"
    server = LocalServer(port=0, data_dir=tmp_path / "data", rules_source=RULES)
    server.start()
    try:
        url = f"{server.url}?ns={ns}"
        make, opened = _member_factory(url, tmp_path / "lib")
        try:
            ana = make("ana")
            ana.act("team", lambda s, now: timer.start(s, "ana", now, duration_ms=3_600_000), create=True)
            code = ana.invite_code("team")
            users = ["w0", "w1", "w2"]
            for user in users:
                make(user).join("team", code)
            watchers = [
                spawn(
                    [sys.executable, "-m", "focuscli", "watch", "--json", "--watchdog", "2", "--session", "team"],
                    focus_env(url, user, tmp_path / user),
                )
                for user in users
            ]
            deadline = time.monotonic() + DEADLINE_S
            for w in watchers:
                first = w.until(lambda o: o["event"] == "state", deadline)
                assert (first["status"], first["connection"]) == ("running", "live")

            server.restart()

            deadline = time.monotonic() + DEADLINE_S
            for w in watchers:
                w.until(lambda o: o["event"] == "connection" and o["connection"] == "reconnecting", deadline)
                back = w.until(lambda o: o["event"] == "connection" and o["connection"] == "live", deadline)
                assert back["status"] == "running"
                assert w.proc.poll() is None, w.stderr()

            paused = _act_retrying(ana, lambda s, now: timer.pause(s, "ana", now), deadline)
            rev = paused.view.rev
            for w in watchers:
                seen = w.until(lambda o: o["event"] == "state" and o["rev"] == rev, deadline)
                assert (seen["status"], seen["updated_by"], seen["connection"]) == ("paused", "ana", "live")
                assert w.proc.poll() is None
        finally:
            for db in opened:
                db.close()
        for w in watchers:
            exit_code, err = w.interrupt()
            assert exit_code == 130, (exit_code, err, w.seen)
    finally:
        server.stop()


def _act_retrying(focus: Focus, action: Callable[[timer.TimerState, int], timer.TimerState], deadline: float) -> Any:
    """The library's client may hold a keep-alive connection the restart closed: retry briefly."""
    from focuscli.errors import BackendError

    while True:
        try:
            return focus.act("team", action)
        except BackendError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _next_within(events: Any, seconds: float) -> Any:
    """next(events), failing after `seconds` (the generator keeps its thread if it hangs)."""
    import concurrent.futures

    pool = concurrent.futures.ThreadPoolExecutor(1)
    try:
        return pool.submit(next, events).result(timeout=seconds)
    except concurrent.futures.TimeoutError:
        raise AssertionError(f"no watch event within {seconds} s") from None
    finally:
        pool.shutdown(wait=False)


@pytest.mark.focus_serve
def test_a_watch_outlives_an_outage_when_its_clock_refresh_falls_due(tmp_path: Path) -> None:
    # The watch re-measures the server clock every CLOCK_MAX_AGE_S; when that fell due while
    # the server was down, the failed measurement ended the watch (exit 1) instead of waiting.
    from focuscli.server import LocalServer
    from focuscli.service import CLOCK_MAX_AGE_S

    ns = f"t{uuid.uuid4().hex[:16]}"
    server = LocalServer(port=0, data_dir=tmp_path / "data", rules_source=RULES)
    server.start()
    ahead = [0.0]

    def clock() -> float:
        return time.time() + ahead[0]

    db = Database(Target(f"{server.url}?ns={ns}", None, "emulator"), EmulatorMember("ana"), clock=clock)
    ana = Focus(db, EmulatorMember("ana"), state_dir=tmp_path / "ana", clock=clock)
    try:
        ana.act("team", lambda s, now: timer.start(s, "ana", now, duration_ms=36_000_000), create=True)
        events = ana.watch("team", tick_s=0.05)
        try:
            first = _next_within(events, DEADLINE_S)
            assert (first.kind, first.connection) == ("state", "live")
            server.stop()
            ahead[0] = CLOCK_MAX_AGE_S + 1  # the refresh is due while nothing answers
            gone = _next_within(events, DEADLINE_S)
            assert (gone.kind, gone.connection) == ("connection", "reconnecting")
            server.start()  # same port and data directory
            back = _next_within(events, DEADLINE_S)
            assert (back.kind, back.connection, back.status.view.status) == ("connection", "live", "running")
            # and the estimate is measured again once the server is back: 601 s behind us
            deadline = time.monotonic() + DEADLINE_S
            while abs(ana.clock_offset() + (CLOCK_MAX_AGE_S + 1) * 1000) > 1000:
                assert time.monotonic() < deadline, ana.clock_offset()
                time.sleep(0.05)
        finally:
            events.close()
    finally:
        db.close()
        server.stop()
