"""`focus watch`: follow the session live, as lines for people or JSON for scripts."""

from __future__ import annotations

import contextlib
import json
import sys
from typing import Annotated

import typer

from focuscli.cli.common import JsonOpt, SessionOpt, _inv, app


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

    Example: focus watch --json | jq -r '.event + " " + .phase'
    """
    from focuscli import render

    inv = _inv(ctx)
    sid = inv.session_name(session)
    events = inv.focus.watch(sid, watchdog_s=watchdog)
    with contextlib.closing(events):
        for event in events:
            if as_json:
                line = json.dumps(event.to_json(), ensure_ascii=False)
            else:
                line = render.watch_line(event)
            typer.echo(line)
            sys.stdout.flush()
