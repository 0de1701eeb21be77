"""The `focus` command line: parses options, calls the library, turns FocusError into exit codes.

The commands live in one module per group (``timer``, ``sessions``, ``serve``); importing them
registers them on the Typer ``app`` of ``common``. ``main`` is the one place where errors
become a stderr line and an exit code.
"""

from __future__ import annotations

import os
import signal
import sys
import traceback
from typing import NoReturn

import typer

from focuscli.cli import serve, sessions, timer, watch  # noqa: F401  (registers the commands)
from focuscli.cli.common import Interrupted, app
from focuscli.errors import ExitCode, FocusError

__all__ = ["app", "main"]


def _interrupt(signum: int, frame: object) -> NoReturn:
    raise Interrupted("interrupted")


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `focus` console script: the one place errors become exit codes.

    Called as the console script (``argv`` None), a finished command leaves through
    ``os._exit`` once its output is flushed: tearing down the SDK's hundreds of modules costs
    tens of milliseconds that a prompt or a script calling focus in a loop should not pay.
    Everything that must happen at the end (closing the database app) has run by then.
    """
    signal.signal(signal.SIGINT, _interrupt)
    code = _run(argv)
    if argv is None:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


def _run(argv: list[str] | None) -> int:
    try:
        app(args=argv, prog_name="focus", standalone_mode=True)
    except SystemExit as done:
        return done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    except Interrupted:
        return int(ExitCode.INTERRUPTED)
    except FocusError as err:
        typer.echo(f"focus: {err.message}", err=True)
        if err.detail:
            typer.echo(err.detail, err=True)
        return int(err.exit_code)
    except KeyboardInterrupt:
        return int(ExitCode.INTERRUPTED)
    except Exception:
        if os.environ.get("FOCUS_DEBUG"):
            raise
        lines = traceback.format_exc(limit=-3).rstrip().splitlines()
        typer.echo("focus: internal error (set FOCUS_DEBUG=1 for the full traceback):", err=True)
        typer.echo("\n".join(lines[-6:]), err=True)
        return int(ExitCode.ERROR)
    return 0
