"""The `focus` command line: parses options, calls the library, turns FocusError into exit codes."""

from __future__ import annotations

import json
import os
import signal
import sys
import traceback
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from focuscli import __version__
from focuscli.errors import ExitCode, FocusError, UsageError
from focuscli.shell import Invocation

app = typer.Typer(
    name="focus",
    help="A shared focus timer for remote teams, on Firebase Realtime Database.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,
)

BACKENDS_HELP = """A shared focus timer for remote teams, on Firebase Realtime Database.

Which database (first match wins): --db URL, FOCUS_DATABASE_URL or db_url in the config file
(https://... is a Firebase project, using --credentials / GOOGLE_APPLICATION_CREDENTIALS;
http://host:port?ns=NAME is an emulator or focus serve); else FIREBASE_DATABASE_EMULATOR_HOST
(namespace from FOCUS_PROJECT, default demo-focus); else the embedded default, a local
focus serve started in the background when needed.

Who you are: --user / FOCUS_USER / config user / your login name. Which session: --session /
FOCUS_SESSION / config session / the last one you joined. Config file:
$XDG_CONFIG_HOME/focus/config.toml.

Exit codes: 0 ok, 1 runtime error, 2 usage error, 3 the action makes no sense now,
4 focus wait timed out, 5 focus wait: the timer is stopped, 130 interrupted.

Example: focus start 25m --label "write the report"
"""


class Interrupted(FocusError):
    exit_code = ExitCode.INTERRUPTED


def _version(value: bool) -> None:
    if value:
        typer.echo(f"focus {__version__}")
        raise typer.Exit()


@app.callback(help=BACKENDS_HELP)
def root(
    ctx: typer.Context,
    db: Annotated[str | None, typer.Option("--db", help="Database URL (see above).", show_default=False)] = None,
    credentials: Annotated[
        str | None, typer.Option(help="Service-account JSON for a Firebase project.", show_default=False)
    ] = None,
    user: Annotated[str | None, typer.Option(help="Who you are in sessions.", show_default=False)] = None,
    session: Annotated[str | None, typer.Option(help="The session to act on.", show_default=False)] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    ctx.obj = Invocation(db=db, credentials=credentials, user=user, session=session)
    ctx.call_on_close(ctx.obj.close)


def _inv(ctx: typer.Context) -> Invocation:
    inv = ctx.find_root().obj
    assert isinstance(inv, Invocation)
    return inv


SessionOpt = Annotated[str | None, typer.Option("--session", "-s", help="The session (default: see focus --help).", show_default=False)]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON (schema documented in the README).")]


def _duration(text: str, what: str) -> int:
    from focuscli.timer import DurationError, parse_duration

    try:
        return parse_duration(text)
    except DurationError as err:
        raise UsageError(f"{what}: {err}") from None


# -- the timer ---------------------------------------------------------------------------------


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
        raise UsageError("--break and --long-break exclude each other; pick one.")
    phase = "long_break" if long_break else "short_break" if short_break else "focus"
    ms = _duration(duration, "DURATION") if duration is not None else None
    if label is not None and len(label) > 200:
        raise UsageError("--label is longer than 200 characters.")
    inv = _inv(ctx)
    name = inv.session_name(session)
    status = inv.focus.act(
        name,
        lambda s, now: timer.start(s, inv.settings.user, now, duration_ms=ms, label=label, phase=phase),
        create=True,
    )
    inv.remember(name)
    typer.echo(render.action_line(status))


def _simple_action(ctx: typer.Context, session: str | None, name: str, **note: Any) -> None:
    from focuscli import render, timer

    inv = _inv(ctx)
    sid = inv.session_name(session)
    fn = getattr(timer, name)
    extra = note.pop("ms", None)
    if extra is None:
        status = inv.focus.act(sid, lambda s, now: fn(s, inv.settings.user, now))
    else:
        status = inv.focus.act(sid, lambda s, now: fn(s, inv.settings.user, now, extra), note={"ms": extra})
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
def status(
    ctx: typer.Context,
    as_json: JsonOpt = False,
    fmt: Annotated[str | None, typer.Option("--format", help="A template, e.g. '{phase} {remaining}'.", show_default=False)] = None,
    session: SessionOpt = None,
) -> None:
    """Show the session's timer as everyone sees it.

    --format tokens: {remaining} {remaining_ms} {phase} {status} {label} {round} {session}
    {updated_by} {duration} {members}.

    Example: focus status --format '{phase} {remaining}'
    """
    from focuscli import render

    if as_json and fmt is not None:
        raise UsageError("--json and --format exclude each other; pick one.")
    inv = _inv(ctx)
    sid = inv.session_name(session)
    result = inv.focus.status(sid)
    if as_json:
        typer.echo(json.dumps(result.to_json(), ensure_ascii=False))
    elif fmt is not None:
        members = sorted(inv.focus.members(sid)) if "{members}" in fmt else []
        typer.echo(render.formatted(result, fmt, members))
    else:
        typer.echo(render.status_line(result))


@app.command()
def wait(
    ctx: typer.Context,
    until: Annotated[str, typer.Option(help="end (of this phase), break or focus.")] = "end",
    timeout: Annotated[str | None, typer.Option(help="Give up after this long (exit 4).", show_default=False)] = None,
    session: SessionOpt = None,
) -> None:
    """Block until the phase ends, or a break or focus phase begins.

    Exits 0 when the moment comes, 4 on --timeout, 5 when the timer is stopped.

    Example: focus wait --until break && notify-send "break time"
    """
    from focuscli import render

    if until not in ("end", "break", "focus"):
        raise UsageError(f"--until must be end, break or focus, not {until!r}.")
    limit = _duration(timeout, "--timeout") if timeout is not None else None
    inv = _inv(ctx)
    result = inv.focus.wait(inv.session_name(session), until, limit)
    typer.echo(render.status_line(result))


@app.command()
def log(
    ctx: typer.Context,
    as_json: JsonOpt = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV with a header row.")] = False,
    since: Annotated[str | None, typer.Option(help="Only actions in the last D (e.g. 2h).", show_default=False)] = None,
    limit: Annotated[int, typer.Option(help="At most N actions (the latest).", min=1, max=10000)] = 20,
    session: SessionOpt = None,
) -> None:
    """Show the session's history: every accepted action, who, and when (server time).

    Example: focus log --since 2h --json | jq .action
    """
    from focuscli import render

    if as_json and as_csv:
        raise UsageError("--json and --csv exclude each other; pick one.")
    since_ms = _duration(since, "--since") if since is not None else None
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
    typer.echo(f"created session {sid}; others join with: focus join {sid} --code {code}")


@session_app.command("list")
def session_list(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """List the sessions you are a member of (idle ones past cleanup_after are removed).

    Example: focus session list
    """
    inv = _inv(ctx)
    for gone in inv.focus.cleanup_idle(inv.settings.cleanup_after_ms):
        inv.say(f"removed session {gone}: idle for longer than cleanup_after")
    names = inv.focus.sessions()
    if as_json:
        typer.echo(json.dumps(names))
    else:
        for name in names:
            typer.echo(name)


@session_app.command("invite")
def session_invite(ctx: typer.Context, as_json: JsonOpt = False, session: SessionOpt = None) -> None:
    """Print the session's invite code (members only).

    Example: focus session invite --json
    """
    inv = _inv(ctx)
    code = inv.focus.invite_code(inv.session_name(session))
    typer.echo(json.dumps({"code": code}) if as_json else code)


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
        raise UsageError("nothing to set: pass --focus, --short-break, --long-break, --long-every or --auto-advance.")
    status = inv.focus.act(
        sid, lambda s, now: timer.configure(s, inv.settings.user, now, replace(s.cycle, **changes))
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
    typer.echo(f"joined {sid}")


@app.command()
def leave(ctx: typer.Context, session: SessionOpt = None) -> None:
    """Leave a session (it stays for the others).

    Example: focus leave --session team
    """
    inv = _inv(ctx)
    sid = inv.session_name(session)
    inv.focus.leave(sid)
    if inv.settings.session == sid:
        inv.remember(None)
    typer.echo(f"left {sid}")


@app.command()
def who(ctx: typer.Context, as_json: JsonOpt = False, session: SessionOpt = None) -> None:
    """List the session's members.

    Example: focus who --json
    """
    from focuscli import render

    inv = _inv(ctx)
    members = inv.focus.members(inv.session_name(session))
    if as_json:
        typer.echo(json.dumps([{"user": uid, **(rec if isinstance(rec, dict) else {})} for uid, rec in sorted(members.items())]))
    else:
        for line in render.members_lines(members, inv.focus.clock_offset()):
            typer.echo(line)


@app.command()
def doctor(ctx: typer.Context) -> None:
    """Check the setup: backend, round trip, server clock offset, identity and rules in force.

    Example: focus doctor
    """
    from focuscli import doctor as checks

    for line in checks.report(_inv(ctx)):
        typer.echo(line)


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to listen on. Non-loopback needs the admin secret.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on; 0 picks a free one.", min=0, max=65535)] = 9000,
    rules: Annotated[
        Path | None, typer.Option(help="Security rules file loaded into every namespace at start.")
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option("--data-dir", help="Directory for durable data (default: $XDG_DATA_HOME/focus/database).", show_default=False),
    ] = None,
    memory: Annotated[bool, typer.Option("--memory", help="Keep nothing on disk.")] = False,
    admin_secret_file: Annotated[
        Path | None,
        typer.Option(help="Admin secret file used when bound to a non-loopback address (created if missing)."),
    ] = None,
    strict_indexes: Annotated[
        bool, typer.Option("--strict-indexes", help="Refuse queries without a matching .indexOn, as production does.")
    ] = False,
    keepalive: Annotated[
        float, typer.Option(help="Seconds of stream idleness before a keep-alive event.", min=0.05)
    ] = 30.0,
    stop: Annotated[
        bool, typer.Option("--stop", help="Stop the background server that focus started, and exit.")
    ] = False,
) -> None:
    """Run a local Realtime Database server that speaks the Firebase emulator's protocol.

    The firebase-admin SDK, the Firebase CLI's tools and curl use it like the official emulator.
    Stops cleanly on Ctrl-C or SIGTERM.

    Example: focus serve --port 0 --memory --rules firebase/database.rules.json
    """
    if stop:
        from focuscli import embedded

        typer.echo(embedded.stop(_inv(ctx).settings))
        return
    from focuscli.rules import compile_rules
    from focuscli.rules.document import RulesDocument, RulesError
    from focuscli.server import ServerConfig, ServerStartError, run

    if memory and data_dir is not None:
        raise UsageError("--data-dir and --memory exclude each other; pick one.")
    source = None
    if rules is not None:
        try:
            source = rules.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise UsageError(f"--rules: cannot read {rules}: {_reason(err)}") from None
        try:
            compile_rules(RulesDocument.parse(source))
        except RulesError as err:
            raise UsageError(f"{rules}:{err}", detail=_caret(source, err.line, err.column)) from None
    directory = None if memory else (data_dir or _inv(ctx).settings.data_dir / "database")
    config = ServerConfig(
        host=host,
        port=port,
        data_dir=directory,
        rules_source=source,
        keepalive=keepalive,
        admin_secret_file=admin_secret_file,
        enforce_indexes=strict_indexes,
    )

    def ready(url: str, secret: Path | None) -> None:
        hostport = url.removeprefix("http://")
        where = "in memory" if directory is None else f"data in {directory}"
        typer.echo(f"focus serve: listening on {url} ({where}); FIREBASE_DATABASE_EMULATOR_HOST={hostport}")
        if secret is not None:
            typer.echo(
                f"focus serve: admin secret in {secret} (non-loopback address: 'owner' is not accepted)",
                err=True,
            )

    try:
        run(config, ready)
    except ServerStartError as err:
        raise FocusError(str(err)) from None


def _reason(err: BaseException) -> str:
    if isinstance(err, OSError) and err.strerror:
        return err.strerror.lower()
    return str(err)


def _caret(source: str, line: int, column: int) -> str:
    lines = source.splitlines() or [""]
    text = lines[min(max(line, 1), len(lines)) - 1]
    return f"  {text}\n  {' ' * max(column - 1, 0)}^"


def _interrupt(signum: int, frame: object) -> NoReturn:
    raise Interrupted("interrupted")


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `focus` console script: the one place errors become exit codes."""
    signal.signal(signal.SIGINT, _interrupt)
    try:
        app(args=argv, prog_name="focus", standalone_mode=True)
    except Interrupted:
        sys.exit(int(ExitCode.INTERRUPTED))
    except FocusError as err:
        typer.echo(f"focus: {err.message}", err=True)
        if err.detail:
            typer.echo(err.detail, err=True)
        sys.exit(int(err.exit_code))
    except KeyboardInterrupt:
        sys.exit(int(ExitCode.INTERRUPTED))
    except Exception:
        if os.environ.get("FOCUS_DEBUG"):
            raise
        lines = traceback.format_exc(limit=-3).rstrip().splitlines()
        typer.echo("focus: internal error (set FOCUS_DEBUG=1 for the full traceback):", err=True)
        typer.echo("\n".join(lines[-6:]), err=True)
        sys.exit(int(ExitCode.ERROR))
