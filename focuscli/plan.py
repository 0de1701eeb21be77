"""The write that carries one timer action: its log entry and the one multi-path update (design.md)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from focuscli.timer import SERVER_NOW, TimerState


def log_entry(
    new: TimerState, by: str, name: str, op: str, note: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The history entry of the action that made `new`: who (uid `by`, display `name`), when
    (the server's time at commit), its rev and operation id; a start or skip adds its phase,
    length and label, and `note` adds fields of the action's own (the `ms` of an extend)."""
    entry: dict[str, Any] = {"action": new.action, "by": by, "name": name, "at": SERVER_NOW, "rev": new.rev, "op": op}
    if new.action in ("start", "skip"):
        entry["phase"] = new.phase
        entry["ms"] = new.duration_ms
        if new.label:
            entry["label"] = new.label
    entry.update(note or {})
    return entry


def update(new: TimerState, entry: Mapping[str, Any], *, history: bool = True) -> dict[str, Any]:
    """The multi-path update at ``sessions/<session>``: the state and its log entry, all or
    nothing; the rules make it a compare-and-set on ``rev``. With ``history``, also
    ``states/<rev>``, a copy of the new state, from which reports replay the timer exactly
    (rules from before it refuse that node: the caller then writes without it)."""
    write = {"state": new.to_wire(), f"log/{new.rev}": dict(entry)}
    if history:
        write[f"states/{new.rev}"] = new.to_wire()
    return write
