"""Session commands: session create/list/invite/show/set/kick/transfer/delete, join, leave, who."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from focuscli import inert
from focuscli.cli.common import JsonOpt, SessionOpt, _duration, _inv, _note_sessions, app
from focuscli.errors import BadArgument

session_app = typer.Typer(
    help="Create, list and configure sessions.", no_args_is_help=True, rich_markup_mode=None
)
app.add_typer(session_app, name="session")


@session_app.command("create")
def session_create(ctx: typer.Context, name: Annotated[str, typer.Argument(help="The new session's name.")]) -> None:
    """Create a session with you as its owner and print its invite code.

    Example: focus session create team
    """
    from focuscli.settings import validate_name

    inv = _inv(ctx)
    sid = validate_name("session", name)
    code = inv.focus.create(sid)
    inv.remember(sid)
    _note_sessions(inv, add=[sid])
    typer.echo(f"created session {sid}; others join with: focus join {sid} --code {code}")


@session_app.command("list")
def session_list(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """List the sessions you are a member of (idle ones past cleanup_after are removed).

    Example: focus session list
    """
    inv = _inv(ctx)
    for gone in inv.focus.cleanup_idle(inv.settings.cleanup_after_ms):
        inv.say(f"removed session {inert.text(gone)}: idle for longer than cleanup_after")
    names = [inert.text(name) for name in inv.focus.sessions()]  # keys from the database
    _note_sessions(inv, replace=names)
    if as_json:
        typer.echo(json.dumps(names))
    else:
        for name in names:
            typer.echo(name)


@session_app.command("invite")
def session_invite(
    ctx: typer.Context,
    rotate: Annotated[bool, typer.Option("--rotate", help="Replace the code (owner only); the old one stops working.")] = False,
    as_json: JsonOpt = False,
    session: SessionOpt = None,
) -> None:
    """Print the session's invite code (members only), or replace it with --rotate.

    Example: focus session invite --rotate
    """
    inv = _inv(ctx)
    sid = inv.session_name(session)
    code = inv.focus.rotate_invite(sid) if rotate else inv.focus.invite_code(sid)
    code = inert.text(code)  # as stored: an admin may have written anything there
    typer.echo(json.dumps({"code": code}) if as_json else code)


@session_app.command("kick")
def session_kick(
    ctx: typer.Context,
    member: Annotated[str, typer.Argument(help="The member's name (or uid).")],
    session: SessionOpt = None,
) -> None:
    """Remove a member (owner only): they lose access at once, and the invite code is replaced
    so that the old one cannot bring them back.

    Example: focus session kick bob
    """
    inv = _inv(ctx)
    sid = inv.session_name(session)
    name, code = inv.focus.kick(sid, member)
    typer.echo(f"removed {inert.text(name)} from {sid}; the new invite code is {code} (the old one no longer works)")


@session_app.command("transfer")
def session_transfer(
    ctx: typer.Context,
    member: Annotated[str, typer.Argument(help="The member who becomes the owner (name or uid).")],
    session: SessionOpt = None,
) -> None:
    """Hand the session over to another member (owner only).

    Example: focus session transfer bob
    """
    inv = _inv(ctx)
    sid = inv.session_name(session)
    name = inv.focus.transfer(sid, member)
    typer.echo(f"{inert.text(name)} now owns {sid}")


@session_app.command("delete")
def session_delete(
    ctx: typer.Context, name: Annotated[str, typer.Argument(help="The session to delete (named in full, on purpose).")]
) -> None:
    """Delete a session with its timer and history, for everyone (owner only).

    Example: focus session delete team
    """
    from focuscli.settings import remembered_session, validate_name

    inv = _inv(ctx)
    sid = validate_name("session", name)
    inv.focus.delete(sid)
    if remembered_session(inv.settings) == sid:
        inv.remember(None)
    typer.echo(f"deleted session {sid}")


@session_app.command("show")
def session_show(ctx: typer.Context, as_json: JsonOpt = False, session: SessionOpt = None) -> None:
    """Show the session's Pomodoro cycle: phase lengths, long-break rhythm, auto-advance.

    Example: focus session show --json
    """
    from focuscli import render

    inv = _inv(ctx)
    sid = inv.session_name(session)
    cycle = inv.focus.state(sid).cycle
    if as_json:
        typer.echo(json.dumps({"session": sid, **cycle.to_wire()}))
    else:
        typer.echo(render.cycle_line(sid, cycle))


@session_app.command("set")
def session_set(
    ctx: typer.Context,
    focus_len: Annotated[str | None, typer.Option("--focus", help="Focus phase length.", show_default=False)] = None,
    short_len: Annotated[str | None, typer.Option("--short-break", help="Short break length.", show_default=False)] = None,
    long_len: Annotated[str | None, typer.Option("--long-break", help="Long break length.", show_default=False)] = None,
    long_every: Annotated[int | None, typer.Option(help="A long break after every N focus rounds.", min=1, max=100, show_default=False)] = None,
    auto_advance: Annotated[bool | None, typer.Option("--auto-advance/--no-auto-advance", help="Start the next phase by itself.", show_default=False)] = None,
    session: SessionOpt = None,
) -> None:
    """Change the session's Pomodoro cycle (applies from now on, for everyone).

    Example: focus session set --focus 50m --short-break 10m --auto-advance
    """
    from dataclasses import replace

    from focuscli import render, timer

    inv = _inv(ctx)
    sid = inv.session_name(session)
    changes: dict[str, Any] = {}
    if focus_len is not None:
        changes["focus_ms"] = _duration(focus_len, "--focus")
    if short_len is not None:
        changes["short_break_ms"] = _duration(short_len, "--short-break")
    if long_len is not None:
        changes["long_break_ms"] = _duration(long_len, "--long-break")
    if long_every is not None:
        changes["long_every"] = long_every
    if auto_advance is not None:
        changes["auto_advance"] = auto_advance
    if not changes:
        raise BadArgument("nothing to set: pass --focus, --short-break, --long-break, --long-every or --auto-advance.")
    status = inv.focus.act(
        sid, lambda s, now: timer.configure(s, inv.focus.uid, now, replace(s.cycle, **changes))
    )
    typer.echo(render.action_line(status))


@app.command()
def join(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The session to join.")],
    code: Annotated[str | None, typer.Option(help="The invite code (not needed by the owner).", show_default=False)] = None,
) -> None:
    """Join a session with its invite code; it becomes your default session.

    Example: focus join team --code 7KQ2M9XW4P
    """
    from focuscli.settings import validate_name

    inv = _inv(ctx)
    sid = validate_name("session", name)
    inv.focus.join(sid, code)
    inv.remember(sid)
    _note_sessions(inv, add=[sid])
    typer.echo(f"joined {sid}")


@app.command()
def leave(ctx: typer.Context, session: SessionOpt = None) -> None:
    """Leave a session (it stays for the others).

    Example: focus leave --session team
    """
    inv = _inv(ctx)
    sid = inv.session_name(session)
    inv.focus.leave(sid)
    _note_sessions(inv, remove=[sid])
    from focuscli.settings import remembered_session

    if remembered_session(inv.settings) == sid:
        inv.remember(None)
    typer.echo(f"left {sid}")


@app.command()
def who(ctx: typer.Context, as_json: JsonOpt = False, session: SessionOpt = None) -> None:
    """List the session's members and who is here: watching now (a heartbeat in the last 45 s).

    Example: focus who --json
    """
    from focuscli import render

    inv = _inv(ctx)
    members = inv.focus.presence(inv.session_name(session))
    if as_json:
        typer.echo(json.dumps([{**rec, "user": rec.get("name") or uid, "uid": uid} for uid, rec in members.items()]))
    else:
        for line in render.members_lines(members, inv.focus.clock_offset()):
            typer.echo(line)
