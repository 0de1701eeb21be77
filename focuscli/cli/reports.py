"""`focus report` (the team's blocks over a range, by day, member or label) and `focus log --ical`."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlsplit

import typer

from focuscli.cli.common import JsonOpt, SessionOpt, _inv, app
from focuscli.completion import complete_by

ICAL_SINCE = "30d"  # focus log --ical without --since: the last 30 days


def _period(since: str | None, first: str | None, last: str | None, now: int) -> Any:
    from focuscli.reporting import period_of

    return period_of(since, first, last, now)


@app.command()
def report(
    ctx: typer.Context,
    since: Annotated[
        str | None, typer.Option(help="The last D (7d, 2w, 36h) or since a date (YYYY-MM-DD, today).", show_default=False)
    ] = None,
    first: Annotated[
        str | None, typer.Option("--from", help="First day (YYYY-MM-DD, today, yesterday).", show_default=False)
    ] = None,
    last: Annotated[str | None, typer.Option("--to", help="Last day, included (default: today).", show_default=False)] = None,
    by: Annotated[
        str, typer.Option(help="Rows of the table or CSV: day, member or label.", autocompletion=complete_by)
    ] = "day",
    as_json: JsonOpt = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV (rows --by) with a header row.")] = False,
    session: SessionOpt = None,
) -> None:
    """How the team did: focus time, completed and interrupted blocks, breaks, streaks.

    The range: --since D (the last D, or since the start of a date) or --from DATE [--to
    DATE] (whole days, --to included); neither means --since 7d. Days are in your time zone.
    A block counts on the day it began; a member counts in it when they acted on it or
    watched while it ran (docs: README, Reports). On a terminal a chart shows the focus time
    per day stacked by member; --by picks the table's rows. --json has every breakdown.

    Example: focus report --since 7d --by member
    """
    from focuscli.reporting import report as run

    run(_inv(ctx), since=since, first=first, last=last, by=by, as_json=as_json, as_csv=as_csv,
        session=session, echo=typer.echo)  # fmt: skip


def calendar(ctx: typer.Context, session: str | None, since: str | None) -> None:
    """`focus log --ical`: the focus blocks since ``since`` (default ICAL_SINCE) as iCalendar."""
    from focuscli import history, ical
    from focuscli import report as core

    inv = _inv(ctx)
    sid = inv.session_name(session)
    span = _period(since or ICAL_SINCE, None, None, inv.focus.server_now())
    data, now, horizon = history.read(inv.focus, sid, span.start, span.end)
    seen = core.analyse(data, start=span.start, end=span.end, now=now, horizon=horizon)
    target = inv.settings.target
    host = urlsplit(target.url).hostname or "focus"  # not the port: the embedded server's may change
    origin = ".".join(part for part in (host, target.namespace()) if part)
    typer.echo(ical.calendar(sid, seen.blocks, seen.names, now=now, origin=origin).decode("utf-8"), nl=False)
