"""The root of the `focus` command line: the Typer app, global options and shared option types."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from focuscli import __version__
from focuscli.completion import complete_session, note_sessions
from focuscli.errors import BadArgument, ExitCode
from focuscli.shell import Invocation

app = typer.Typer(
    name="focus",
    help="A shared focus timer for remote teams, on Firebase Realtime Database.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,
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


class Interrupted(KeyboardInterrupt):
    """Ctrl-C (exit 130). A BaseException, like KeyboardInterrupt, so that no library's
    `except Exception` on the way can swallow it."""

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
    session: Annotated[
        str | None, typer.Option(help="The session to act on.", show_default=False, autocompletion=complete_session)
    ] = None,
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


SessionOpt = Annotated[
    str | None,
    typer.Option(
        "--session", "-s", help="The session (default: see focus --help).", show_default=False,
        autocompletion=complete_session,
    ),
]  # fmt: skip
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON (schema documented in the README).")]


def _duration(text: str, what: str) -> int:
    from focuscli.timer import DurationError, parse_duration

    try:
        return parse_duration(text)
    except DurationError as err:
        raise BadArgument(f"{what}: {err}") from None


def _note_sessions(inv: Invocation, **change: Any) -> None:
    """Keep the local list of this user's sessions, which shell completion offers, up to date."""
    note_sessions(inv.settings.state_dir, **change)
