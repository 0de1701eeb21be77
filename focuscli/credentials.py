"""A member's stored sign-ins, per backend and profile: one 0600 JSON file, replaced atomically.

The file is ``<config dir>/credentials.json`` (directory 0700)::

    {"schema": 1,
     "sign_ins": {"<backend>": {"<profile>": {"uid": …, "email": …, "name": …,
                                              "refresh_token": …, "id_token": …,
                                              "id_token_exp": 1767225600, "how": "login"}}}}

``<backend>`` names the sign-in service (see `focuscli.account.backend_key`); ``how`` is
"login" (`focus login`) or "auto" (a local profile created on first use). The refresh token is
the credential; the ID token is a cache of the last one minted (it lives an hour). Writers hold
an exclusive lock (``credentials.lock``) for the whole read-modify-write, write a new file (mode
0600, created exclusively, fsynced) and rename it over the old one, so a crash never leaves a
half-written or wider-readable file. A file found readable by others is made 0600, and said so.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from focuscli.errors import UsageError

SCHEMA = 1
FILE_NAME = "credentials.json"


class CredentialStore:
    """Read and update the sign-ins in one file; `say` reports repairs (one line each)."""

    def __init__(self, path: Path, *, say: Callable[[str], None] = lambda text: None) -> None:
        self.path = path
        self._say = say

    def get(self, backend: str, profile: str) -> dict[str, Any] | None:
        record = self._load().get(backend, {}).get(profile)
        return dict(record) if isinstance(record, dict) else None

    def profiles(self, backend: str) -> dict[str, dict[str, Any]]:
        return {name: dict(rec) for name, rec in self._load().get(backend, {}).items() if isinstance(rec, dict)}

    def put(self, backend: str, profile: str, record: dict[str, Any]) -> None:
        with self._update() as sign_ins:
            sign_ins.setdefault(backend, {})[profile] = record

    def remove(self, backend: str, profile: str) -> bool:
        """Forget one sign-in; True if there was one."""
        with self._update() as sign_ins:
            found = sign_ins.get(backend, {}).pop(profile, None) is not None
            if backend in sign_ins and not sign_ins[backend]:
                del sign_ins[backend]
        return found

    # -- the file -------------------------------------------------------------------------------

    def _load(self) -> dict[str, dict[str, Any]]:
        try:
            with open(self.path, encoding="utf-8") as handle:
                self._check_mode(handle.fileno())
                data = json.load(handle)
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as err:
            raise UsageError(f"cannot read your sign-ins in {self.path}: {_reason(err)}; remove the file and sign in again") from None
        sign_ins = data.get("sign_ins") if isinstance(data, dict) else None
        if not isinstance(sign_ins, dict):
            raise UsageError(f"{self.path} is not a focus credentials file; remove it and sign in again")
        return {k: v for k, v in sign_ins.items() if isinstance(v, dict)}

    @contextlib.contextmanager
    def _update(self) -> Iterator[dict[str, dict[str, Any]]]:
        directory = self.path.parent
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            lock = os.open(directory / (self.path.stem + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as err:
            raise UsageError(f"cannot save your sign-in in {directory}: {_reason(err)}") from None
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            sign_ins = self._load()
            yield sign_ins
            self._write({"schema": SCHEMA, "sign_ins": sign_ins})
        finally:
            os.close(lock)  # releases the lock

    def _write(self, data: dict[str, Any]) -> None:
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()  # a leftover of a crashed writer with our pid
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(data, handle, indent=1, sort_keys=True)
                handle.write("\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except OSError as err:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise UsageError(f"cannot save your sign-in in {self.path}: {_reason(err)}") from None

    def _check_mode(self, fd: int) -> None:
        mode = os.fstat(fd).st_mode
        if stat.S_IMODE(mode) & 0o077:
            os.fchmod(fd, 0o600)
            self._say(f"{self.path} was readable by others; it is now readable by you only (0600)")


def _reason(err: BaseException) -> str:
    if isinstance(err, OSError) and err.strerror:
        return err.strerror.lower()
    return str(err) or type(err).__name__
