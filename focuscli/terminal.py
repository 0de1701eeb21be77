"""The Live loop of `focus watch` on a terminal: thin, so one tmux smoke test covers it.

Three daemon threads feed one queue: the (blocking) `Focus.watch` events, keys read from stdin
in cbreak mode, and action results. The main thread redraws `view.screen` a few times a second
from the latest event, advancing the remaining time by the time elapsed since it arrived; the
queue wait is the sleep between frames. The terminal (alternate screen, cbreak) is restored in
a ``finally``, so q, Ctrl-C (the CLI's SIGINT handler raises in the main thread) and errors all
leave it clean.
"""

from __future__ import annotations

import contextlib
import os
import queue
import select
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.text import Text

from focuscli.service import WatchEvent
from focuscli.view import PHASE_NAMES, Member, Snapshot, advance, screen, to_the_second

NOTICE_S = 4.0  # how long an action's error (or "pausing…") stays on screen
PRESENCE_EVERY_S = 10.0

Item = tuple[str, Any]  # ("event", WatchEvent) | ("error", BaseException) | ("key", str) | ("notice", str) | ("presence", {...})


def run_live(
    events_source: Iterable[WatchEvent],
    act: Callable[[str], object],
    *,
    presence: Callable[[], Mapping[str, Mapping[str, Any]]] | None = None,
    console: Console | None = None,
    refresh_per_second: float = 8,
) -> None:
    """Show the session full-screen until q (returns) or an error / Ctrl-C (raises).

    ``act(name)`` runs one of "pause", "resume", "skip", "start" (errors are shown, not raised);
    ``presence()`` answers `Focus.presence` (polled now and then and on member changes).
    """
    console = console or Console()
    items: queue.Queue[Item] = queue.Queue()
    stop = threading.Event()
    wake_presence = threading.Event()
    threading.Thread(target=_feed, args=(events_source, items, stop), daemon=True, name="focus-watch").start()
    if presence is not None:
        args = (presence, items, stop, wake_presence)
        threading.Thread(target=_poll_presence, args=args, daemon=True, name="focus-presence").start()

    latest: WatchEvent | None = None
    received = time.monotonic()
    since = time.time()
    here: dict[str, bool] = {}
    notice, notice_until = "", 0.0
    frame_s = 1.0 / max(0.5, refresh_per_second)
    with _cbreak() as keys_fd:
        if keys_fd is not None:
            threading.Thread(target=_read_keys, args=(keys_fd, items, stop), daemon=True, name="focus-keys").start()
        try:
            with Live(console=console, screen=True, auto_refresh=False, redirect_stdout=False, redirect_stderr=False) as live:
                next_frame = 0.0
                shown: Snapshot | None = None
                while True:
                    try:
                        kind, value = items.get(timeout=max(0.0, next_frame - time.monotonic()))
                    except queue.Empty:
                        kind, value = "frame", None
                    if kind == "event":
                        if latest is None or value.connection != latest.connection:
                            since = time.time()
                        if value.kind in ("member_joined", "member_left"):
                            wake_presence.set()
                        latest, received = value, time.monotonic()
                    elif kind == "error":
                        raise value
                    elif kind == "presence":
                        here = value
                    elif kind == "notice":
                        notice, notice_until = value, time.monotonic() + NOTICE_S
                    elif kind == "key":
                        name, hint = _key_action(value, latest)
                        if name == "quit":
                            return
                        if hint:
                            notice, notice_until = hint, time.monotonic() + NOTICE_S
                        if name:
                            notice, notice_until = f"{name}…", time.monotonic() + NOTICE_S
                            threading.Thread(target=_act, args=(act, name, items), daemon=True).start()
                    now = time.monotonic()
                    if now < next_frame:
                        continue
                    next_frame = now + frame_s
                    if now >= notice_until:
                        notice = ""
                    width, height = _size(console)
                    snap = _snapshot(latest, received, now, since, here, notice, width, height)
                    if snap is None or snap != shown:  # draw only what changed: idle CPU stays low
                        live.update(screen(snap) if snap else Text("connecting…"), refresh=True)
                        shown = snap
        finally:
            stop.set()


def _snapshot(
    latest: WatchEvent | None,
    received: float,
    now: float,
    since: float,
    here: Mapping[str, bool],
    notice: str,
    width: int,
    height: int,
) -> Snapshot | None:
    if latest is None:
        return None
    elapsed = int((now - received) * 1000)
    st = latest.status
    members = tuple(Member(name, here.get(name)) for name in latest.members)
    snap = Snapshot(
        session=st.session,
        view=advance(st.view, elapsed),
        server_now=st.server_now + elapsed,
        members=members,
        connection=latest.connection,
        connection_detail=latest.detail if latest.connection != "live" else "",
        connection_since=since,
        now=time.time(),
        notice=notice,
        problem=latest.problem if latest.kind == "malformed" else "",
        width=width,
        height=height,
    )
    return to_the_second(snap)


def _size(console: Console) -> tuple[int, int]:
    """The terminal's size now (it may have been resized), which the console then renders at."""
    try:
        width, height = os.get_terminal_size(console.file.fileno())
    except (OSError, ValueError, AttributeError):
        return console.size
    console.size = (width, height)  # rich would otherwise keep COLUMNS/LINES from the start
    return width, height


def _key_action(key: str, latest: WatchEvent | None) -> tuple[str, str]:
    """(action, notice) for a key: the action to run ("quit", "pause", "resume", "skip",
    "start" or ""), or a notice saying which key does what now."""
    if key in ("q", "Q"):
        return "quit", ""
    if key not in (" ", "s", "S", "n", "N") or latest is None:
        return "", ""
    if latest.kind == "malformed":
        return "", "the timer is malformed; repair it with focus reset (see above)"
    view = latest.status.view
    phase = PHASE_NAMES.get(view.phase, view.phase)
    if key in ("n", "N"):
        if view.status == "idle":
            return "start", ""
        if view.status == "done":
            return "skip", ""
        return "", "n starts the next phase once this one is over or stopped; s skips to it now"
    if view.status == "idle":
        return "", f"the timer is stopped; n starts {phase}"
    if key in ("s", "S"):
        return "skip", ""
    if view.status == "done":
        return "", "the phase is over; n starts the next one"
    return ("resume" if view.status == "paused" else "pause"), ""


def _act(act: Callable[[str], object], name: str, items: queue.Queue[Item]) -> None:
    try:
        act(name)
    except Exception as err:  # NotNow, a lost connection...: shown, never fatal
        message = getattr(err, "message", None) or str(err) or type(err).__name__
        items.put(("notice", f"{name}: {message}"))
    else:
        items.put(("notice", ""))


def _feed(events: Iterable[WatchEvent], items: queue.Queue[Item], stop: threading.Event) -> None:
    try:
        for event in events:
            items.put(("event", event))
            if stop.is_set():
                break
    except BaseException as err:  # handed to the main thread, which raises it
        if not stop.is_set():
            items.put(("error", err))
    finally:
        close = getattr(events, "close", None)
        if close is not None:
            with contextlib.suppress(Exception):
                close()


def _poll_presence(
    presence: Callable[[], Mapping[str, Mapping[str, Any]]],
    items: queue.Queue[Item],
    stop: threading.Event,
    wake: threading.Event,
) -> None:
    delay = 1.0  # soon after the start, when our own first heartbeat has landed, then less often
    while not stop.is_set():
        wake.wait(delay)
        wake.clear()
        delay = min(PRESENCE_EVERY_S, delay * 2)
        with contextlib.suppress(Exception):  # best effort; the stream reports trouble
            items.put(("presence", {str(rec.get("name") or uid): bool(rec.get("here")) for uid, rec in presence().items()}))


def _read_keys(fd: int, items: queue.Queue[Item], stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            ready, _, _ = select.select([fd], [], [], 0.2)
            if not ready:
                continue
            data = os.read(fd, 32)
        except OSError:
            return
        if not data:
            return
        for ch in data.decode(errors="ignore"):
            items.put(("key", ch))


@contextlib.contextmanager
def _cbreak() -> Iterator[int | None]:
    """stdin in cbreak mode (keys without Enter, Ctrl-C still a signal); restored on exit."""
    try:
        fd = sys.stdin.fileno()
        if not os.isatty(fd):
            raise OSError
        import termios
        import tty

        saved = termios.tcgetattr(fd)
    except (OSError, ValueError, ImportError):
        yield None
        return
    try:
        tty.setcbreak(fd)
        yield fd
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)
