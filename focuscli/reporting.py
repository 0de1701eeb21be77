"""`focus report` without its option parser: range, rows and format in, the report's text out.

The full CLI (focuscli/cli/reports.py) and the console script's fast path (focuscli/entry.py,
which spares a report typer's start-up) both run `report`, so their output is the same.
"""

from __future__ import annotations

import gc
import json
import sys
from collections.abc import Callable
from typing import Any

from focuscli.errors import BadArgument
from focuscli.shell import Invocation

Echo = Callable[..., None]  # echo(text, nl=True): one line (or text) on stdout


def period_of(since: str | None, first: str | None, last: str | None, now: int) -> Any:
    """The range the options name (focuscli.period), or BadArgument saying why not."""
    from focuscli.period import PeriodError, period

    try:
        return period(since=since, first=first, last=last, now=now)
    except PeriodError as err:
        raise BadArgument(str(err)) from None


def report(
    inv: Invocation, *, since: str | None = None, first: str | None = None, last: str | None = None,
    by: str = "day", as_json: bool = False, as_csv: bool = False, session: str | None = None,
    echo: Echo,
) -> None:  # fmt: skip
    """The report of ``session`` over the range, as JSON, CSV, a chart (on a terminal) or text."""
    from focuscli import history, inert, replaycache, summary
    from focuscli import report as core

    if as_json and as_csv:
        raise BadArgument("--json and --csv exclude each other; pick one.")
    if by not in summary.BY:
        raise BadArgument(f"--by must be day, member or label, not {by!r}.")
    sid = inv.session_name(session)
    span = period_of(since, first, last, inv.focus.server_now())
    # The history read is tens of thousands of objects that live until the report is made: the
    # cyclic collector's passes over them find nothing (reference counting frees what dies) and
    # cost up to a third of the replay, so it pauses meanwhile.
    collecting = gc.isenabled()
    gc.disable()
    try:
        built = None
        if replaycache.enabled(inv.environ):  # the replayed history kept on disk
            settings = inv.settings
            cached = replaycache.report(
                inv.focus, settings.cache_dir, settings.target.url, sid, span.start, span.end
            )
            if cached is not None:
                built = core.summarise(cached[0], start=span.start, end=span.end, now=cached[1])
        if built is None:
            data, now, horizon = history.read(inv.focus, sid, span.start, span.end)
            built = core.build(data, start=span.start, end=span.end, now=now, horizon=horizon)
        # the report's text (names, uids, labels) comes from the database: made inert for every output
        result = inert.value(built)
    finally:
        if collecting:
            gc.enable()
    if as_json:
        echo(json.dumps(summary.to_json(result, inert.text(sid)), ensure_ascii=False))
    elif as_csv:
        echo(summary.to_csv(result, by), nl=False)
    elif sys.stdout.isatty():
        from focuscli import chart

        chart.show(
            result, summary.headline(result, sid, span.first, span.last), summary.table(result, by)
        )
    else:
        for line in [
            *summary.headline(result, sid, span.first, span.last),
            "",
            *summary.table(result, by),
        ]:
            echo(line)
