"""The `focus` command line: parses options, calls the library, turns FocusError into exit codes.

The commands live in one module per group (``timer``, ``sessions``, ``serve``); importing them
registers them on the Typer ``app`` of ``common``. ``main`` is the one place where errors
become a stderr line and an exit code.
"""

from __future__ import annotations

import importlib
import os
import re
import signal
import sys
import traceback
from typing import Any, NoReturn

import typer

from focuscli import inert
from focuscli.cli import account, reports, serve, sessions, timer, watch, web  # noqa: F401  (registers the commands)
from focuscli.cli.common import Interrupted, app
from focuscli.errors import BadArgument, ExitCode, FocusError, error_text

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
    click_error: type[Exception] = next(
        c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException"
    )  # click's base error, vendored by typer (typer._click) or click itself
    try:
        # Not standalone: typer would print usage errors as a usage block plus "Error: ..."
        # (three lines or more); they become one line below. --help and --version still exit
        # through typer.Exit, whose code comes back as the return value.
        result = app(args=argv, prog_name="focus", standalone_mode=False)
    except SystemExit as done:
        return done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    except click_error as err:
        bad: Any = err
        if type(bad).__name__ == "NoArgsIsHelpError":  # bare `focus` / `focus session`: the help
            bad.show()
        else:
            typer.echo(_usage_line(bad, sys.argv[1:] if argv is None else argv), err=True)
        return int(bad.exit_code)
    except typer.Abort:
        typer.echo("focus: aborted", err=True)
        return int(ExitCode.ERROR)
    except BrokenPipeError:  # stdout closed early (`focus log | head -1`): quietly, as typer did
        sys.stdout = _click_utils().PacifyFlushWrapper(sys.stdout)
        return int(ExitCode.ERROR)
    except Interrupted:
        return int(ExitCode.INTERRUPTED)
    except FocusError as err:
        if isinstance(err, BadArgument):  # as typed: say where the command's help is
            err.message = f"{err.message.rstrip('.')}; see {_command_path(sys.argv[1:] if argv is None else argv)} --help"
        typer.echo(error_text(err), err=True)
        return int(err.exit_code)
    except KeyboardInterrupt:
        return int(ExitCode.INTERRUPTED)
    except Exception:
        if os.environ.get("FOCUS_DEBUG"):
            raise
        lines = traceback.format_exc(limit=-3).rstrip().splitlines()
        typer.echo("focus: internal error (set FOCUS_DEBUG=1 for the full traceback):", err=True)
        typer.echo("\n".join(map(inert.text, lines[-6:])), err=True)  # may quote the database
        return int(ExitCode.ERROR)
    return result if isinstance(result, int) else 0


def _click_utils() -> Any:
    """click's utils module, as typer has it (vendored as typer._click, or click itself)."""
    return importlib.import_module(typer.BadParameter.__module__.rsplit(".", 1)[0] + ".utils")


def _usage_line(err: Any, argv: list[str]) -> str:
    """A click usage error as one line: what is wrong, then where the help is."""
    ctx = getattr(err, "ctx", None)
    option = getattr(err, "option_name", None)
    if (
        isinstance(option, str)
        and re.fullmatch(r"-[0-9]", option)
        and ctx is not None
        and any(param.name == "duration" for param in ctx.command.params)
    ):  # `focus extend -5`: a negative duration, which click took for an option
        from focuscli.timer import DurationError, parse_duration

        typed = next((arg for arg in argv if arg.startswith(option)), option)
        try:
            parse_duration(typed)
        except DurationError as bad:
            return f"focus: DURATION: {bad}; see {_command_path(argv)} --help"
    message = err.format_message().strip().rstrip(".")
    message = re.sub(r"\. Did you mean (.*)\?$", r" (did you mean \1?)", message)  # click's suggestion
    message = re.sub(r"\((Possible|Input) ", lambda m: "(" + m[1].lower() + " ", message)
    message = re.sub(r": (Input|Value) ", lambda m: ": " + m[1].lower() + " ", message)
    if message[:1].isupper() and message[1:2].islower():
        message = message[0].lower() + message[1:]
    message = message.replace("\r", "\\r").replace("\n", "\\n")
    return f"focus: {message}; see {_command_path(argv)} --help"


def _command_path(argv: list[str]) -> str:
    """The command a command line names ("focus", "focus status", "focus session set"), found
    by walking the command tree over the arguments (global options and their values skipped)."""
    import typer.main

    command: Any = typer.main.get_command(app)
    path = ["focus"]
    args = list(argv)
    while args and hasattr(command, "commands"):
        arg = args.pop(0)
        if arg == "--":
            break
        if arg.startswith("-"):
            name = arg.split("=", 1)[0]
            option = next((p for p in command.params if name in p.opts), None)
            if option is None:
                break  # an unknown option: the error is this command's
            if not option.is_flag and "=" not in arg and args:
                args.pop(0)  # the option's value
            continue
        sub = command.commands.get(arg)
        if sub is None:
            break
        path.append(arg)
        command = sub
    return " ".join(path)
