"""The one error family of focus and its exit codes.

    FocusError            runtime failure, exit 1
    ├── UsageError        bad input from the user (flags, files, names), exit 2
    └── BackendError      the database could not be reached or refused, exit 1

Core code raises these; `focuscli.cli.main` alone turns them into one stderr line and an exit code.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    ERROR = 1  # a runtime failure
    USAGE = 2  # bad flags, arguments, files or names
    INTERRUPTED = 130  # Ctrl-C: 128 + SIGINT, as shells report it


class FocusError(Exception):
    exit_code = ExitCode.ERROR

    def __init__(self, message: str, *, detail: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail  # optional extra lines (e.g. a source line with a caret)


class UsageError(FocusError):
    exit_code = ExitCode.USAGE


class BackendError(FocusError):
    exit_code = ExitCode.ERROR
