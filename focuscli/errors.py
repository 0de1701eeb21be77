"""The one error family of focus and its exit codes.

    FocusError            runtime failure, exit 1
    ├── UsageError        bad input from the user (flags, files, names), exit 2
    │   └── BadArgument   a bad flag or argument as typed: the line ends "see focus CMD --help"
    ├── NotNow            an action that makes no sense in the timer's state, exit 3
    ├── WaitTimedOut      `focus wait` gave up at its --timeout, exit 4
    ├── WaitStopped       `focus wait`: the timer was stopped (or is idle), exit 5
    └── BackendError      the database (or the sign-in service) refused, exit 1
        ├── PermissionDenied  the security rules refused the read or write
        ├── Unreachable       no answer: connection refused, unknown host, timed out, TLS
        └── SignInError       the sign-in service refused: wrong password, revoked session...

Core code raises these; `focuscli.cli.main` alone turns them into one stderr line and an exit code.
"""

from __future__ import annotations

from enum import IntEnum

from focuscli import inert


class ExitCode(IntEnum):
    OK = 0
    ERROR = 1  # a runtime failure
    USAGE = 2  # bad flags, arguments, files or names
    NOT_NOW = 3  # the action makes no sense now (pause while paused, ...)
    WAIT_TIMEOUT = 4  # focus wait: --timeout passed first
    WAIT_STOPPED = 5  # focus wait: the timer is stopped, so the moment will not come
    INTERRUPTED = 130  # Ctrl-C: 128 + SIGINT, as shells report it


class FocusError(Exception):
    exit_code = ExitCode.ERROR

    def __init__(self, message: str, *, detail: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail  # optional extra lines (e.g. a source line with a caret)


def error_text(err: FocusError) -> str:
    """What the member reads for `err`: ``focus: <message>`` and any detail lines, made inert
    (`focuscli.inert`): a message may quote the database (a name, a label, a malformed value)."""
    lines = [f"focus: {err.message}", *(err.detail.split("\n") if err.detail else [])]
    return "\n".join(map(inert.text, lines))


class UsageError(FocusError):
    exit_code = ExitCode.USAGE


class BadArgument(UsageError):
    """A flag or argument of the command line that is wrong as typed (the CLI adds where the
    command's help is, as for click's own usage errors)."""


class BackendError(FocusError):
    exit_code = ExitCode.ERROR


class PermissionDenied(BackendError):
    """The security rules refused the operation."""


class Unreachable(BackendError):
    """Nothing answered (refused, unresolvable, timed out, untrusted TLS, dropped)."""


class SignInError(BackendError):
    """Firebase Authentication refused (wrong password, disabled account, revoked session...).

    ``code`` is the service's error code (``INVALID_PASSWORD``, ``TOKEN_EXPIRED``, ...).
    """

    def __init__(self, message: str, *, code: str = "") -> None:
        super().__init__(message)
        self.code = code


class NotNow(FocusError):
    exit_code = ExitCode.NOT_NOW


class WaitTimedOut(FocusError):
    exit_code = ExitCode.WAIT_TIMEOUT


class WaitStopped(FocusError):
    exit_code = ExitCode.WAIT_STOPPED
