"""Hooks: local shell commands run by `focus watch` and `focus wait` on timer events (stdlib only).

Configured in the config file::

    bell = true            # terminal bell (BEL on stderr) on phase end; default true
    notify = true          # desktop notification (notify-send, if on PATH) on phase end; default true
    hook_timeout = 10      # seconds before a hook is killed; default 10

    [hooks]
    focus_started = "notify-send 'focus' \\"$FOCUS_LABEL\\""
    phase_ended = "paplay ~/bell.oga"

Events: HOOK_EVENTS. A hook runs with ``sh -c`` in its own process group, the event JSON (a
`focus watch --json` line) on stdin, stdout discarded, and the environment variables
FOCUS_EVENT, FOCUS_SESSION, FOCUS_PHASE, FOCUS_STATUS, FOCUS_REMAINING_MS, FOCUS_BY (who caused
it: the acting member, the members who joined or left, empty for a phase that ended by time) and
FOCUS_LABEL; text from the database in them (and in the JSON) is made inert (`focuscli.inert`:
no control character, NUL included, no escape sequence, no bidi override). It never blocks the
caller: each run has its own worker thread, and a hook still running after the timeout is killed
(its whole process group). Failures and timeouts are logged,
one line each, to <state_dir>/hooks.log.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Generator, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from focuscli import inert, prompt

if TYPE_CHECKING:
    from focuscli.service import WatchEvent
    from focuscli.settings import Settings

HOOK_EVENTS = (
    "focus_started", "break_started", "paused", "resumed", "phase_ended", "member_joined",
    "member_left",
)  # fmt: skip
SNAPSHOT_REFRESH_S = 10.0


def _started(phase: str) -> str:
    return "focus_started" if phase == "focus" else "break_started"


def hook_events(event: WatchEvent) -> list[str]:
    """The hook events a watch event stands for (pure).

    state: start or skip -> focus_started / break_started (by the new phase), pause -> paused,
    resume -> resumed (stop, reset, extend, settings: none); phase_end -> phase_ended, plus
    focus_started / break_started when the cycle moved on into a running phase;
    member_joined / member_left as they are; connection: none.
    """
    v = event.status.view
    if event.kind == "state":
        if v.action in ("start", "skip"):
            return [_started(v.phase)]
        if v.action == "pause":
            return ["paused"]
        if v.action == "resume":
            return ["resumed"]
        return []
    if event.kind == "phase_end":
        return ["phase_ended", _started(v.phase)] if v.status == "running" else ["phase_ended"]
    if event.kind in ("member_joined", "member_left"):
        return [event.kind]
    return []


def hook_env(name: str, event_json: Mapping[str, Any], by: str = "") -> dict[str, str]:
    """The FOCUS_* environment variables of one hook run, every value made inert (never a NUL)."""
    remaining = event_json.get("remaining_ms")
    env = {
        "FOCUS_EVENT": name,
        "FOCUS_SESSION": event_json.get("session") or "",
        "FOCUS_PHASE": event_json.get("phase") or "",
        "FOCUS_STATUS": event_json.get("status") or "",
        "FOCUS_REMAINING_MS": "" if remaining is None else remaining,
        "FOCUS_BY": by,
        "FOCUS_LABEL": event_json.get("label") or "",
    }
    return {key: inert.text(value) for key, value in env.items()}


class HookRunner:
    """Runs configured hooks (and the phase-end bell / notification) without blocking."""

    def __init__(
        self,
        hooks: Mapping[str, str],
        *,
        timeout_s: float = 10.0,
        log_path: Path | None = None,
        bell: bool = False,
        notify: bool = False,
        environ: Mapping[str, str] | None = None,
        bell_out: Callable[[], None] | None = None,
    ) -> None:
        self.hooks = dict(hooks)
        self.timeout_s = timeout_s
        self.log_path = log_path
        self.bell = bell
        self.notify = notify and shutil.which("notify-send") is not None
        self.environ = dict(os.environ if environ is None else environ)
        self._bell_out = bell_out or _ring
        self._threads: list[threading.Thread] = []
        self._log_lock = threading.Lock()

    def fire(self, name: str, event_json: Mapping[str, Any], *, by: str = "") -> None:
        """Run the hook for ``name`` (if configured) in the background; return at once."""
        if name == "phase_ended":
            if self.bell:
                self._bell_out()
            if self.notify:
                phase = inert.text(event_json.get("phase") or "")
                self._spawn("notify", ["notify-send", "focus", f"phase over; now: {phase}"], None, {})
        command = self.hooks.get(name)
        if command is None:
            return
        payload = json.dumps(inert.value(dict(event_json)), ensure_ascii=False).encode()
        self._spawn(name, command, payload, hook_env(name, event_json, by))

    def join(self, timeout_s: float | None = None) -> None:
        """Wait for the hook runs started so far (tests, and `focus wait` before it exits)."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        for thread in list(self._threads):
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))

    def _spawn(self, name: str, command: str | list[str], stdin: bytes | None, env: dict[str, str]) -> None:
        self._threads = [t for t in self._threads if t.is_alive()]
        thread = threading.Thread(
            target=self._run, args=(name, command, stdin, env), name=f"focus-hook-{name}", daemon=True
        )
        self._threads.append(thread)
        thread.start()

    def _run(self, name: str, command: str | list[str], stdin: bytes | None, env: dict[str, str]) -> None:
        try:
            proc = subprocess.Popen(
                command,
                shell=isinstance(command, str),
                stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                env={**self.environ, **env},
                start_new_session=True,  # a process group of its own: a timeout kills it all
            )
        except (OSError, ValueError) as err:  # ValueError: a NUL in the environment or argv
            self._log(f"{name}: could not start: {err}")
            return
        try:
            _, err_out = proc.communicate(stdin, timeout=self.timeout_s)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            self._log(f"{name}: killed after {self.timeout_s:g} s timeout: {command}")
            return
        if proc.returncode != 0:
            first = (err_out or b"").decode(errors="replace").strip().splitlines()
            why = f": {first[-1][:200]}" if first else ""
            self._log(f"{name}: exit {proc.returncode}{why}: {command}")

    def _log(self, line: str) -> None:
        if self.log_path is None:
            return
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        text = inert.text(" ".join(f"{stamp} {line}".split())) + "\n"  # exactly one line
        with self._log_lock:
            try:
                self.log_path.parent.mkdir(parents=True, exist_ok=True)
                with self.log_path.open("a", encoding="utf-8") as handle:
                    handle.write(text)
            except OSError:
                pass  # a log we cannot write must not break watching


def _ring() -> None:
    try:
        sys.stderr.write("\a")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        proc.kill()
    with contextlib.suppress(subprocess.TimeoutExpired, OSError, ValueError):
        proc.communicate(timeout=5)


class WatchHooks:
    """What `focus watch` does locally with each event: hooks, bell, notification, snapshot.

    Stateful where the pure mapping cannot be: the first state event (the state found on
    connecting) and a resync that repeats a rev fire nothing; joined/left members become FOCUS_BY.
    """

    def __init__(self, runner: HookRunner, snapshot: Path | None) -> None:
        self.runner = runner
        self.snapshot = snapshot
        self._rev: int | None = None
        self._members: set[str] | None = None
        self._last: tuple[dict[str, Any], list[str], str] | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._refresher: threading.Thread | None = None

    def fire_for(self, event: WatchEvent) -> None:
        """Handle one watch event: never blocks on a hook, never raises for a hook's sake."""
        data = event.to_json()
        self._write_snapshot(data, event)
        if event.kind == "malformed":
            return  # no hook; the next state event is the timer as it then is
        v = event.status.view
        for name in hook_events(event):
            by = ""
            if name in ("member_joined", "member_left"):
                now, before = set(event.members), self._members or set()
                by = ",".join(sorted(now - before if name == "member_joined" else before - now))
                if self._members is None:
                    continue  # no earlier member list to compare with
            elif event.kind == "state":
                if self._rev is None or v.rev <= self._rev:
                    continue  # the state found on connecting, or one already seen
                by = v.updated_by_name or v.updated_by or ""
            self.runner.fire(name, data, by=by)
        if event.kind == "state" or self._rev is None:
            self._rev = v.rev if self._rev is None else max(self._rev, v.rev)
        self._members = set(event.members)

    def _write_snapshot(self, data: dict[str, Any], event: WatchEvent) -> None:
        if self.snapshot is None:
            return
        status = event.status.to_json()
        with self._lock:
            if self._stop.is_set():
                return  # closed (the watch is ending): its snapshot is gone for good
            # a malformed timer: a snapshot no prompt takes (it asks the database, and says why)
            connection = "malformed" if event.kind == "malformed" else event.connection
            self._last = (status, list(event.members), connection)
            self._flush()
        if self._refresher is None:
            self._refresher = threading.Thread(target=self._refresh, name="focus-snapshot", daemon=True)
            self._refresher.start()

    def _flush(self) -> None:
        if self._last is None or self.snapshot is None:
            return
        with contextlib.suppress(OSError):  # best effort: prompts fall back to the network
            prompt.write_snapshot(self.snapshot, *self._last)

    def _refresh(self) -> None:
        """Keep the snapshot fresh between events while this watch runs."""
        while not self._stop.wait(SNAPSHOT_REFRESH_S):
            with self._lock:
                self._flush()

    def close(self) -> None:
        """Stop refreshing and remove our snapshot: a stopped watch answers no prompts."""
        self._stop.set()
        if self.snapshot is None:
            return
        with self._lock:
            try:
                data = json.loads(self.snapshot.read_bytes())
                if isinstance(data, dict) and data.get("pid") == os.getpid():
                    self.snapshot.unlink()
            except (OSError, ValueError):
                pass

    def tap(self, events: Iterator[WatchEvent]) -> Generator[WatchEvent, None, None]:
        """``events``, each handled by `fire_for` before it is passed on; closing the result
        closes ``events`` and this (the snapshot goes)."""
        try:
            for event in events:
                self.fire_for(event)
                yield event
        finally:
            try:
                close = getattr(events, "close", None)
                if close is not None:
                    close()
            finally:
                self.close()

    def __enter__(self) -> WatchHooks:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def runner_for(settings: Settings) -> HookRunner:
    return HookRunner(
        settings.hooks,
        timeout_s=settings.hook_timeout_s,
        log_path=settings.state_dir / "hooks.log",
        bell=settings.bell,
        notify=settings.notify,
    )


def for_watch(settings: Settings, session: str) -> WatchHooks:
    """The hooks and prompt snapshot of one `focus watch` of ``session``."""
    return WatchHooks(runner_for(settings), prompt.snapshot_path(settings.state_dir, session))
