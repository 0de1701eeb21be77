"""Prompt status: ``--format`` tokens and the local snapshot `focus watch` keeps (stdlib only).

`focus status --format FMT` answers from ``<state_dir>/snapshot-<session>.json`` without the
network when a running `focus watch` wrote it within SNAPSHOT_FRESH_MS. The snapshot (schema 1)::

    {"schema": 1,
     "written_at": 1764145200123,   # local wall clock, ms (rewritten every few seconds)
     "pid": 4242,                   # the watch process; a dead pid makes the snapshot stale
     "connection": "live",          # only a live watch answers prompts
     "clock_skew_ms": -12,          # server clock minus local clock
     "status": {...},               # the `focus status --json` object at the last event
     "members": ["ana", "bob"]}

Remaining time is recomputed at read time from ``status.ends_at`` (server ms) and the local
clock plus ``clock_skew_ms``. This module imports only cheap standard modules (not even typing,
dataclasses or focuscli.timer: every millisecond counts in a prompt).
"""

from __future__ import annotations

import json
import os
import string
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

from focuscli import inert

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs the prompt ~3 ms
if TYPE_CHECKING:
    from typing import Any

SNAPSHOT_SCHEMA = 1
SNAPSHOT_FRESH_MS = 30_000
FORMAT_TOKENS = (
    "remaining", "remaining_ms", "phase", "status", "label", "round", "session", "updated_by",
    "duration", "members",
)  # fmt: skip


def format_duration(ms: int) -> str:
    """As focuscli.timer.format_duration (tested equal): "0:07", "25:00", "1:05:09"."""
    total = max(0, -(-ms // 1000))
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{seconds:02d}"
    return f"{minutes}:{seconds:02d}"


class FormatError(ValueError):
    """A --format string that cannot be rendered (the message says why)."""


def token_values(status: Mapping[str, Any], members: Iterable[str] = ()) -> dict[str, Any]:
    """The ``--format`` token values of a `focus status --json` object; text made inert
    (`focuscli.inert`), also when it comes from a snapshot file."""
    return {
        "remaining": format_duration(int(status.get("remaining_ms") or 0)),
        "remaining_ms": int(status.get("remaining_ms") or 0),
        "phase": inert.text(status.get("phase") or ""),
        "status": inert.text(status.get("status") or ""),
        "label": inert.text(status.get("label") or ""),
        "round": status.get("round") or 0,
        "session": inert.text(status.get("session") or ""),
        "updated_by": inert.text(status.get("updated_by") or ""),
        "duration": format_duration(int(status.get("duration_ms") or 0)),
        "members": inert.text(",".join(members)),
    }


def format_status(fmt: str, values: Mapping[str, Any]) -> str:
    """``fmt`` with its ``{token}`` fields filled in (``{{``/``}}`` for braces); FormatError."""
    try:
        fields = [field for _, field, _, _ in string.Formatter().parse(fmt) if field is not None]
    except ValueError as err:
        raise FormatError(f"bad --format string: {err}") from None
    for field in fields:
        if field not in values:
            raise FormatError(
                f"unknown --format token {{{field}}}; tokens: "
                + ", ".join("{" + t + "}" for t in FORMAT_TOKENS)
            )
    try:
        return fmt.format_map(values)
    except (ValueError, TypeError) as err:  # a bad format spec such as {round:x.y}
        raise FormatError(f"bad --format string: {err}") from None


# -- the snapshot ----------------------------------------------------------------------------


def snapshot_path(state_dir: Path, session: str) -> Path:
    return state_dir / f"snapshot-{session}.json"


def write_snapshot(
    path: Path,
    status: Mapping[str, Any],
    members: Iterable[str],
    connection: str,
    *,
    now_ms: int | None = None,
    pid: int | None = None,
) -> None:
    """Write the snapshot atomically (a temporary file, then os.replace)."""
    data = {
        "schema": SNAPSHOT_SCHEMA,
        "written_at": int(time.time() * 1000) if now_ms is None else now_ms,
        "pid": os.getpid() if pid is None else pid,
        "connection": connection,
        "clock_skew_ms": int(status.get("clock_skew_ms") or 0),
        "status": dict(status),
        "members": list(members),
    }
    import tempfile  # only watch writes; the prompt path reads

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, ensure_ascii=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _alive(pid: object) -> bool:
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, someone else's
    except OSError:
        return False
    return True


def read_fresh_snapshot(
    path: Path, *, now_ms: int | None = None, max_age_ms: int = SNAPSHOT_FRESH_MS
) -> dict[str, Any] | None:
    """The snapshot at ``path`` if a running, live watch wrote it within ``max_age_ms``, with
    the time-dependent status fields recomputed for now; None otherwise."""
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("schema") != SNAPSHOT_SCHEMA:
        return None
    now = int(time.time() * 1000) if now_ms is None else now_ms
    written = data.get("written_at")
    status = data.get("status")
    members = data.get("members")
    if not isinstance(written, int) or not isinstance(status, dict) or not isinstance(members, list):
        return None
    if not -5_000 <= now - written <= max_age_ms:  # too old, or written "in the future"
        return None
    if data.get("connection") != "live" or not _alive(data.get("pid")):
        return None
    skew = data.get("clock_skew_ms")
    status = dict(status)
    status.update(current_times(status, now + (skew if isinstance(skew, int) else 0)))
    return {**data, "status": status, "members": [str(m) for m in members]}


def current_times(status: Mapping[str, Any], server_now: int) -> dict[str, Any]:
    """remaining_ms / elapsed_ms / status of a running status at ``server_now`` (server ms);
    {} when nothing moves (paused, idle, done)."""
    ends_at, duration = status.get("ends_at"), status.get("duration_ms")
    if status.get("status") != "running" or not isinstance(ends_at, int) or not isinstance(duration, int):
        return {}
    remaining = max(0, min(duration, ends_at - server_now))
    return {"remaining_ms": remaining, "elapsed_ms": duration - remaining}
