"""The `focus` console script: fast paths for prompts and scripts, else the full CLI.

``focus status --format FMT [--session S]`` (also ``--session S --format FMT`` and the
``--opt=value`` forms) is answered from the snapshot a running `focus watch` keeps (see
focuscli.prompt) when it is fresh, without the network and without importing typer or rich.
``focus status --json [--session S]`` — what scripts, CI jobs and status bars poll — asks the
database through the same library calls as the full CLI, minus typer's option processing; so
does ``focus report`` with its own options only (focuscli.reporting, which the full CLI runs
too; typer's start-up is most of a week's report otherwise). Anything else goes to
`focuscli.cli.main`.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: nothing slow may run before main() starts
if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

_NAME = r"[A-Za-z0-9_-]{1,64}"
INTERRUPTED = 130  # focuscli.errors.ExitCode.INTERRUPTED, without importing it


def _interrupted_early(signum: int, frame: object) -> None:
    """Ctrl-C before the CLI has installed its own handler: nothing was done yet, so leave at
    once, quietly, with the documented code (the default handler would print a traceback from
    whatever module was being imported)."""
    os._exit(INTERRUPTED)


def main() -> None:
    """Entry point of `focus` and `python -m focuscli`."""
    import signal

    signal.signal(signal.SIGINT, _interrupted_early)  # focuscli.cli.main installs its own
    from focuscli import prompt

    try:
        line = fast_status(sys.argv[1:], os.environ)
    except prompt.FormatError as err:  # as the full CLI reports it: a usage error, exit 2
        sys.stderr.write(f"focus: {err}\n")
        sys.exit(2)
    if line is not None:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
        return
    session = _json_status_args(sys.argv[1:])
    if session is not None:
        code = json_status(session or None, dict(os.environ))
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)  # as the full CLI does: no interpreter teardown once the output is out
    options = _report_args(sys.argv[1:])
    if options is not None:
        code = fast_report(options, dict(os.environ))
        _flush()
        os._exit(code)
    from focuscli.cli import main as cli_main

    cli_main()


def _flush() -> None:
    import contextlib

    with contextlib.suppress(BrokenPipeError):  # the reader left (`focus report | head -1`)
        sys.stdout.flush()
    sys.stderr.flush()


_REPORT_VALUES = {"--since": "since", "--from": "first", "--to": "last", "--by": "by", "--session": "session", "-s": "session"}
_REPORT_FLAGS = {"--json": "as_json", "--csv": "as_csv"}


def _report_args(argv: list[str]) -> dict[str, str | bool] | None:
    """The options of ``report [--since D] [--from D] [--to D] [--by B] [--json] [--csv]
    [--session S]`` (each at most once, non-empty values, ``--opt=value`` forms too); None for
    anything else (help, other options, repeats), which the full CLI handles."""
    if not argv or argv[0] != "report":
        return None
    options: dict[str, str | bool] = {}
    rest = argv[1:]
    while rest:
        arg = rest.pop(0)
        flag = _REPORT_FLAGS.get(arg)
        if flag is not None:
            if flag in options:
                return None
            options[flag] = True
            continue
        name, eq, value = arg.partition("=")
        field = _REPORT_VALUES.get(name)
        if field is None or field in options or (eq and name == "-s"):
            return None
        if not eq:
            if not rest:
                return None
            value = rest.pop(0)
        if not value or value.startswith("-"):  # click's own handling of these: the full CLI
            return None
        options[field] = value
    return options


def fast_report(options: Mapping[str, str | bool], environ: dict[str, str]) -> int:
    """`focus report`, run as the full CLI runs it (focuscli.reporting), errors worded as it
    words them; the exit code."""
    from focuscli.errors import BadArgument, ExitCode, FocusError, error_text
    from focuscli.reporting import report
    from focuscli.shell import Invocation

    inv = Invocation(environ=environ)
    try:
        report(inv, echo=_echo, **options)  # type: ignore[arg-type]
        return 0
    except BrokenPipeError:
        return int(ExitCode.ERROR)
    except FocusError as err:
        if isinstance(err, BadArgument):  # as focuscli.cli words it: say where the help is
            err.message = f"{err.message.rstrip('.')}; see focus report --help"
        sys.stderr.write(error_text(err) + "\n")
        return int(err.exit_code)
    except Exception:
        if environ.get("FOCUS_DEBUG"):
            raise
        import traceback

        lines = traceback.format_exc(limit=-3).rstrip().splitlines()
        sys.stderr.write("focus: internal error (set FOCUS_DEBUG=1 for the full traceback):\n")
        sys.stderr.write("\n".join(lines[-6:]) + "\n")
        return int(ExitCode.ERROR)
    finally:
        inv.close()


def _echo(text: str, nl: bool = True) -> None:
    sys.stdout.write(text + "\n" if nl else text)


def _prompt_args(argv: list[str]) -> tuple[str, str | None] | None:
    """(FMT, session or None) for the recognised forms; None for anything else."""
    if not argv or argv[0] != "status":
        return None
    opts: dict[str, str] = {}
    rest = argv[1:]
    while rest:
        arg = rest.pop(0)
        name, eq, value = arg.partition("=")
        if name not in ("--format", "--session") or name in opts:
            return None
        if not eq:
            if not rest:
                return None
            value = rest.pop(0)
        opts[name] = value
    if "--format" not in opts:
        return None
    return opts["--format"], opts.get("--session")


def _json_status_args(argv: list[str]) -> str | None:
    """The session flag ("" if none) of ``status --json [--session S]`` (any order, ``=``
    forms); None for anything else."""
    if not argv or argv[0] != "status":
        return None
    rest, session, json_seen = argv[1:], None, False
    while rest:
        arg = rest.pop(0)
        if arg == "--json" and not json_seen:
            json_seen = True
            continue
        name, eq, value = arg.partition("=")
        if name != "--session" or session is not None:
            return None
        if not eq:
            if not rest:
                return None
            value = rest.pop(0)
        if not value:
            return None  # `--session ""`: the full CLI words that usage error
        session = value
    return (session or "") if json_seen else None


def json_status(session: str | None, environ: dict[str, str]) -> int:
    """`focus status --json`: the object on stdout, or the full CLI's one-line error; exit code."""
    import json

    from focuscli.errors import FocusError, error_text
    from focuscli.shell import Invocation

    inv = Invocation(environ=environ)
    try:
        result = inv.focus.status(inv.session_name(session))
        sys.stdout.write(json.dumps(result.to_json(), ensure_ascii=False) + "\n")
        return 0
    except FocusError as err:
        sys.stderr.write(error_text(err) + "\n")
        return int(err.exit_code)
    finally:
        inv.close()


def _xdg(environ: Mapping[str, str], name: str, default: Path) -> Path:
    from pathlib import Path

    value = environ.get(name)
    return Path(value) if value and os.path.isabs(value) else default


def _session(flag: str | None, environ: Mapping[str, str], home: Path, state_dir: Path) -> str | None:
    """The session as focuscli.settings resolves it: flag, FOCUS_SESSION, config, remembered."""
    from pathlib import Path

    if flag:
        return flag
    if environ.get("FOCUS_SESSION"):
        return environ["FOCUS_SESSION"]
    explicit = environ.get("FOCUS_CONFIG")
    config = (
        Path(explicit).expanduser()
        if explicit
        else _xdg(environ, "XDG_CONFIG_HOME", home / ".config") / "focus" / "config.toml"
    )
    if config.exists():
        import tomllib

        try:
            value = tomllib.loads(config.read_text(encoding="utf-8")).get("session")
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            return None  # the full CLI reports the problem
        if value:
            return value if isinstance(value, str) else None
    elif explicit:
        return None
    try:
        name = (state_dir / "session").read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return name or None


def fast_status(argv: list[str], environ: Mapping[str, str]) -> str | None:
    """The `focus status --format` line from a fresh snapshot, or None to run the full CLI;
    prompt.FormatError for a bad FMT (with the message the full CLI gives)."""
    parsed = _prompt_args(argv)
    if parsed is None:
        return None
    import re
    from pathlib import Path

    fmt, flag = parsed
    home = Path(environ["HOME"]) if environ.get("HOME") else Path.home()
    state_dir = _xdg(environ, "XDG_STATE_HOME", home / ".local" / "state") / "focus"
    session = _session(flag, environ, home, state_dir)
    if session is None or not re.fullmatch(_NAME, session):
        return None
    from focuscli import prompt

    snap = prompt.read_fresh_snapshot(prompt.snapshot_path(state_dir, session))
    if snap is None or snap["status"].get("session") != session:
        return None
    return prompt.format_status(fmt, prompt.token_values(snap["status"], snap["members"]))
