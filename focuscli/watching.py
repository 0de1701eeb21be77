"""Following a session live: stream events -> local mirror -> watch events, with presence
heartbeats and server-clock refreshes along the way."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Generator
from typing import Any

from focuscli.errors import BackendError, FocusError
from focuscli.mirror import Moment, SessionMirror, changes, member_names, moment
from focuscli.service import CLOCK_MAX_AGE_S, Focus, Status, WatchEvent, malformed
from focuscli.timer import TimerState, phase_change, view

REVIVE_EVERY_S = 2.0  # while disconnected: how often `revive` may try to bring the server back


def follow(
    focus: Focus,
    session: str,
    *,
    tick_s: float,
    watchdog_s: float,
    heartbeat_s: float,
    revive: Callable[[], None] | None = None,
) -> Generator[WatchEvent, None, None]:
    """The events of `Focus.watch` (see there)."""
    mirror = SessionMirror()
    next_revive = 0.0
    connection, detail = "connecting", ""
    last: Moment | None = None
    shown: Status | None = None  # the status of the last event (a malformed timer has none)
    problem, last_connection = "", connection  # a malformed timer's line, and the connection then
    next_heartbeat = 0.0
    next_clock = focus.clock() + CLOCK_MAX_AGE_S
    with focus.db.stream(f"sessions/{session}", watchdog_s=watchdog_s) as stream:
        while True:
            wait = tick_s
            if last is not None and last.view.ends_at is not None:
                wait = min(wait, max(0.0, (last.view.ends_at - focus.server_now()) / 1000 + 0.001))
            event = stream.get(timeout=wait)
            if event is not None:
                if event.kind == "cancelled":
                    raise focus.watch_ended(session, event.detail)
                if event.kind == "connected":
                    connection, detail = "live", ""
                elif event.kind == "disconnected":
                    connection, detail = "reconnecting", event.detail
                    if revive is not None and focus.clock() >= next_revive:
                        next_revive = focus.clock() + REVIVE_EVERY_S
                        with contextlib.suppress(FocusError):  # the stream goes on retrying
                            revive()
                elif event.kind == "put":
                    mirror.put(event.path, event.data)
                elif event.kind == "patch":
                    mirror.patch(event.path, event.data)
                if connection == "live" and mirror.data is None and event.kind == "put":
                    raise BackendError(f"session {session!r} no longer exists")
                if event.kind == "connected" or mirror.data is None:
                    continue  # the full-state put follows at once; report after it
            if connection == "live" and focus.clock() >= next_clock:  # refresh the estimate now and then
                try:
                    focus.clock_offset(fresh=True)
                    next_clock = focus.clock() + CLOCK_MAX_AGE_S
                except BackendError:  # keep the old estimate and try again soon: an outage
                    next_clock = focus.clock() + heartbeat_s  # must not end the watch
            now = focus.server_now()
            try:
                current = moment(mirror, now, connection)
            except (ValueError, TypeError) as err:  # malformed in the database: said, not fatal
                line = malformed(session, mirror.raw_state(), err).message
                names = sorted(member_names(mirror.members()))
                if (line, connection) != (problem, last_connection):
                    seen = shown.view if shown is not None else view(TimerState(), now)  # not shown
                    status = Status(session, seen, focus.clock_offset(), now)
                    yield WatchEvent("malformed", status, names, connection, detail, problem=line)
                problem, last_connection, last = line, connection, None  # fixed: a state event
            else:
                problem = ""
                kinds = changes(last, current)
                last_connection = connection
                if kinds:
                    shown = Status(session, current.view, focus.clock_offset(), now)
                    yield from _events(kinds, shown, mirror, last, current, now, detail)
                last = current
            if connection == "live" and focus.clock() >= next_heartbeat:
                next_heartbeat = focus.clock() + heartbeat_s
                with contextlib.suppress(BackendError):  # best effort; the stream tells trouble
                    focus.heartbeat(session)


def _events(
    kinds: list[str], status: Status, mirror: SessionMirror, last: Moment | None, current: Moment, now: int, detail: str
) -> Generator[WatchEvent, None, None]:
    """The watch events of the changes ``kinds`` from ``last`` to ``current``."""
    before = last.members if last is not None else current.members
    for kind in kinds:
        extra: dict[str, Any] = {}
        if kind == "phase_end":
            change = phase_change(mirror.state(), now)
            if change is not None:
                extra = {"ended": change[0], "following": change[1]}
        elif kind == "member_joined":
            extra = {"joined": tuple(sorted(current.members - before))}
        elif kind == "member_left":
            extra = {"left": tuple(sorted(before - current.members))}
        yield WatchEvent(kind, status, sorted(current.members), current.connection, detail, **extra)
