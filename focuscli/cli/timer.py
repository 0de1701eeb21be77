"""Timer commands: start, pause, resume, stop, skip, reset, extend, label, status, wait, log."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer

from focuscli.cli.common import JsonOpt, SessionOpt, _duration, _inv, _note_sessions, app
from focuscli.completion import complete_until
from focuscli.errors import BadArgument


@app.command()
def start(
    ctx: typer.Context,
    duration: Annotated[str | None, typer.Argument(help="25, 25m, 90s, 1h30m or 1:30:00.", show_default=False)] = None,
    label: Annotated[str | None, typer.Option(help="What this block is for.", show_default=False)] = None,
    short_break: Annotated[bool, typer.Option("--break", help="Start a short break instead.")] = False,
    long_break: Annotated[bool, typer.Option("--long-break", help="Start a long break instead.")] = False,
    session: SessionOpt = None,
) -> None:
    """Start a focus block (or a break) for everyone in the session.

    A session that does not exist yet is created with you as its owner.

    Example: focus start 25m --label "write the report"
    """
    from focuscli import render, timer

    if short_break and long_break:
        raise BadArgument("--break and --long-break exclude each other; pick one.")
    phase = "long_break" if long_break else "short_break" if short_break else "focus"
    ms = _duration(duration, "DURATION") if duration is not None else None
    if label is not None and len(label.encode("utf-16-le")) // 2 > 200:
        raise BadArgument("--label is longer than 200 characters.")
    inv = _inv(ctx)
    name = inv.session_name(session)
    status = inv.focus.act(
        name,
        lambda s, now: timer.start(s, inv.focus.uid, now, duration_ms=ms, label=label, phase=phase),
        create=True,
    )
    inv.remember(name)
    if name in inv.focus.created:
        _note_sessions(inv, add=[name])
        inv.say(f"created session {name} (you own it); invite others with: focus session invite")
    typer.echo(render.action_line(status))


def _simple_action(ctx: typer.Context, session: str | None, name: str, **note: Any) -> None:
    from focuscli import render, timer

    inv = _inv(ctx)
    sid = inv.session_name(session)
    fn = getattr(timer, name)
    extra = note.pop("ms", None)
    if extra is None:
        status = inv.focus.act(sid, lambda s, now: fn(s, inv.focus.uid, now))
    else:
        status = inv.focus.act(sid, lambda s, now: fn(s, inv.focus.uid, now, extra), note={"ms": extra})
    typer.echo(render.action_line(status))


@app.command()
def pause(ctx: typer.Context, session: SessionOpt = None) -> None:
    """Pause the running timer for everyone.

    Example: focus pause
    """
    _simple_action(ctx, session, "pause")


@app.command()
def resume(ctx: typer.Context, session: SessionOpt = None) -> None:
    """Resume a paused timer.

    Example: focus resume
    """
    _simple_action(ctx, session, "resume")


@app.command()
def stop(ctx: typer.Context, session: SessionOpt = None) -> None:
    """Stop the timer (the session stays; history is kept).

    Example: focus stop
    """
    _simple_action(ctx, session, "stop")


@app.command()
def skip(ctx: typer.Context, session: SessionOpt = None) -> None:
    """Skip to the next phase of the cycle (focus -> break -> focus ...).

    Example: focus skip
    """
    _simple_action(ctx, session, "skip")


@app.command()
def reset(ctx: typer.Context, as_json: JsonOpt = False, session: SessionOpt = None) -> None:
    """Bring the timer back to a clean stop: idle, focus, round 1 (the cycle settings stay).

    Works in any state, even one the database holds malformed (what focus status then asks
    for); logged like any action. --json prints the new status as `focus status --json` does.

    Example: focus reset --session team
    """
    from focuscli import render

    inv = _inv(ctx)
    status = inv.focus.reset(inv.session_name(session))
    typer.echo(json.dumps(status.to_json(), ensure_ascii=False) if as_json else render.action_line(status))


@app.command()
def extend(
    ctx: typer.Context,
    duration: Annotated[str, typer.Argument(help="How much longer: 5m, 90s, ...")],
    session: SessionOpt = None,
) -> None:
    """Make the current phase longer.

    Example: focus extend 5m
    """
    _simple_action(ctx, session, "extend", ms=_duration(duration, "DURATION"))


@app.command()
def label(
    ctx: typer.Context,
    text: Annotated[str, typer.Argument(help='The new label ("" clears it).', show_default=False)],
    session: SessionOpt = None,
) -> None:
    """Relabel the current block (running, paused or over) for everyone.

    Example: focus label "review the draft"
    """
    from focuscli import render, timer

    if len(text.encode("utf-16-le")) // 2 > timer.MAX_LABEL:
        raise BadArgument(f"TEXT is longer than {timer.MAX_LABEL} characters.")
    inv = _inv(ctx)
    sid = inv.session_name(session)
    note = {"label": text} if text else None
    status = inv.focus.act(sid, lambda s, now: timer.relabel(s, inv.focus.uid, now, text), note=note)
    typer.echo(render.action_line(status))


@app.command()
def status(
    ctx: typer.Context,
    as_json: JsonOpt = False,
    fmt: Annotated[str | None, typer.Option("--format", help="A template, e.g. '{phase} {remaining}'.", show_default=False)] = None,
    session: SessionOpt = None,
) -> None:
    """Show the session's timer as everyone sees it.

    --format tokens: {remaining} {remaining_ms} {phase} {status} {label} {round} {session}
    {updated_by} {duration} {members}. While a `focus watch` runs, --format answers from its
    local snapshot without the network (fast enough for a prompt or status bar).

    Example: focus status --format '{phase} {remaining}'
    """
    from focuscli import render
    from focuscli.mirror import member_names

    if as_json and fmt is not None:
        raise BadArgument("--json and --format exclude each other; pick one.")
    inv = _inv(ctx)
    sid = inv.session_name(session)
    result = inv.focus.status(sid)
    if as_json:
        typer.echo(json.dumps(result.to_json(), ensure_ascii=False))
    elif fmt is not None:
        members = sorted(member_names(inv.focus.members(sid))) if "{members}" in fmt else []
        typer.echo(render.formatted(result, fmt, members))
    else:
        typer.echo(render.status_line(result))


@app.command()
def wait(
    ctx: typer.Context,
    until: Annotated[
        str, typer.Option(help="end (of this phase), break or focus.", autocompletion=complete_until)
    ] = "end",
    timeout: Annotated[str | None, typer.Option(help="Give up after this long (exit 4).", show_default=False)] = None,
    session: SessionOpt = None,
) -> None:
    """Block until the phase ends, or a break or focus phase begins.

    --until end: the end of the phase running now (an extension moves it; with auto-advance
    the next phase starting by itself, or anyone's skip, ends it). --until break: as soon as no
    focus block runs, so a focus phase that is over counts at once, even before anyone starts
    the break. --until focus: a focus phase runs.

    Exits 0 when the moment comes, 4 on --timeout, 5 when the timer is stopped.
    With --until end it then runs the phase_ended hook (and bell / notification) and exits
    once the hook is done (at most hook_timeout seconds later; the line is printed first).

    Example: focus wait --until break && notify-send "break time"
    """
    from focuscli import render

    if until not in ("end", "break", "focus"):
        raise BadArgument(f"--until must be end, break or focus, not {until!r}.")
    limit = _duration(timeout, "--timeout") if timeout is not None else None
    inv = _inv(ctx)
    result, change = inv.focus.wait(inv.session_name(session), until, limit)
    typer.echo(render.status_line(result))
    if until == "end":  # the phase_ended hook, bell and notification, as `focus watch` gives
        from focuscli import hooks
        from focuscli.service import phase_end_fields

        sys.stdout.flush()
        runner = hooks.runner_for(inv.settings)
        ended, following = change or (None, None)
        runner.fire("phase_ended", {"event": "phase_end", **result.to_json(), **phase_end_fields(ended, following)})
        runner.join()  # the hook's stdin is written by this process; at most hook_timeout


@app.command()
def log(
    ctx: typer.Context,
    as_json: JsonOpt = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV with a header row.")] = False,
    since: Annotated[str | None, typer.Option(help="Only actions in the last D (e.g. 2h).", show_default=False)] = None,
    limit: Annotated[int, typer.Option(help="At most N actions (the latest).", min=1, max=10000)] = 20,
    as_ical: Annotated[
        bool, typer.Option("--ical", help="Print the focus blocks as an iCalendar file (default --since 30d).")
    ] = False,
    session: SessionOpt = None,
) -> None:
    """Show the session's history: every accepted action, who, and when (server time).

    --ical prints the focus blocks someone attended (since --since, default 30d) as iCalendar
    events for calendar apps: each block from its start to its end, titled with its label;
    exporting again updates the same events (stable UIDs) instead of adding copies.

    Example: focus log --since 2h --json | jq .action

    Example: focus log --ical --since 14d > team.ics
    """
    from focuscli import render

    if as_json and as_csv:
        raise BadArgument("--json and --csv exclude each other; pick one.")
    if as_ical and (as_json or as_csv):
        raise BadArgument(f"--ical and --{'json' if as_json else 'csv'} exclude each other; pick one.")
    if as_ical and _given(ctx, "limit"):
        raise BadArgument("--limit counts actions; --ical exports blocks: use --since to choose them.")
    if as_ical:
        from focuscli.cli.reports import calendar

        calendar(ctx, session, since)
        return
    since_ms = _since(since) if since is not None else None
    inv = _inv(ctx)
    entries = inv.focus.log(inv.session_name(session), limit=limit, since_ms=since_ms)
    if as_json:
        for line in render.log_json(entries):
            typer.echo(line)
    elif as_csv:
        typer.echo(render.log_csv(entries), nl=False)
    else:
        for line in render.log_lines(entries, inv.focus.clock_offset()):
            typer.echo(line)


def _given(ctx: typer.Context, name: str) -> bool:
    """Whether option ``name`` was typed (or set in the environment), not left at its default."""
    source = ctx.get_parameter_source(name)
    return source is not None and source.name not in ("DEFAULT", "DEFAULT_MAP")


def _since(text: str) -> int:
    """A look-back for --since: the timer's forms (90s, 2h, 1:30:00) or whole days (7d, 1d12h)."""
    from focuscli.settings import parse_duration as parse_days
    from focuscli.timer import DurationError, parse_duration

    try:
        return parse_duration(text)
    except DurationError:
        try:
            return parse_days(text)
        except ValueError:
            raise BadArgument(
                f"--since: invalid duration {text!r}: use 90s, 30m, 2h, 1:30:00, 7d or 1d12h"
            ) from None
