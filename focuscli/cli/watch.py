"""`focus watch`: follow the session live, as lines for people or JSON for scripts."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Annotated, Any

import typer

from focuscli.cli.common import JsonOpt, SessionOpt, _inv, app
from focuscli.errors import FocusError

if TYPE_CHECKING:
    from focuscli.service import WatchEvent


@app.command()
def watch(
    ctx: typer.Context,
    as_json: JsonOpt = False,
    watchdog: Annotated[
        float, typer.Option(help="Seconds without a byte (keep-alives included) before reconnecting.", min=1.0)
    ] = 45.0,
    session: SessionOpt = None,
) -> None:
    """Follow the session live: every action, phase end, member and connection change.

    --json prints one object per event (the `focus status --json` fields plus "event",
    "members" and "connection"), for jq, scripts and status bars. Ctrl-C stops (exit 130).
    While you watch, the others see you as here (focus who).

    On a terminal (without --json) it draws full-screen: big digits, a progress bar, phase,
    round, label, who is here or away, the last action and the connection state. Keys:
    space pause/resume, s skip, n start the next phase (when stopped or over), q quit.
    Piped, it prints one line per event.

    Example: focus watch --json | jq -r '.event + " " + .phase'
    """
    inv = _inv(ctx)
    sid = inv.session_name(session)
    revive: Callable[[], None] | None = None
    if inv.settings.target.kind == "embedded":  # the server focus starts: start it again if it stops
        from focuscli import embedded

        def revive() -> None:
            embedded.ensure_running(inv.settings, say=lambda text: None)
    events = _Tracked(inv.focus.watch(sid, watchdog_s=watchdog, revive=revive))
    try:
        _show(inv, sid, events, as_json)
    except KeyboardInterrupt:  # Ctrl-C: a clean end too
        _mark_away(inv, sid, events)
        raise
    _mark_away(inv, sid, events)


class _Tracked:
    """The watch's events, remembering the connection state of the last one."""

    def __init__(self, events: Iterator[WatchEvent]) -> None:
        self.events = events
        self.connection = "connecting"

    def __iter__(self) -> Iterator[WatchEvent]:
        try:
            for event in self.events:
                self.connection = event.connection
                yield event
        finally:
            self.close()

    def close(self) -> None:
        close = getattr(self.events, "close", None)
        if close is not None:
            close()


def _mark_away(inv: Any, sid: str, events: _Tracked) -> None:
    """A watch that ends cleanly (q, Ctrl-C) marks its member away at once: the others see it
    now rather than when the last heartbeat grows stale. Best effort, and only while live."""
    if events.connection != "live":
        return  # never connected, or reconnecting: a write would only hold up the exit
    with contextlib.suppress(FocusError):
        inv.focus.away(sid)


def _show(inv: Any, sid: str, tracked: _Tracked, as_json: bool) -> None:
    # -- issue 5 items 6-7: hooks, bell/notify and the prompt snapshot, for every event in every
    # output mode; never blocks (focuscli/hooks.py).
    from focuscli import hooks, render

    watch_hooks = hooks.for_watch(inv.settings, sid)
    events = watch_hooks.tap(iter(tracked))
    # --
    if not as_json and sys.stdout.isatty():
        from focuscli import timer
        from focuscli.terminal import run_live

        def act(name: str) -> None:
            if name == "start":  # the phase a stopped timer shows as next
                inv.focus.act(sid, lambda s, now: timer.start(s, inv.focus.uid, now, phase=timer.view(s, now).phase))
                return
            fn = getattr(timer, name)
            inv.focus.act(sid, lambda s, now: fn(s, inv.focus.uid, now))

        try:
            run_live(events, act, presence=lambda: inv.focus.presence(sid))  # Ctrl-C: restored, then 130
        finally:  # the events are still being read in run_live's thread: end the hooks here
            watch_hooks.close()  # (the prompt snapshot goes)
        return
    with contextlib.closing(events):
        for event in events:
            if as_json:
                line = json.dumps(event.to_json(), ensure_ascii=False)
            else:
                line = render.watch_line(event)
            typer.echo(line)
            sys.stdout.flush()
