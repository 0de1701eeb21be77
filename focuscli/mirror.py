"""A local copy of one session kept current from stream events, and the watch events it implies."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from focuscli import inert
from focuscli.timer import TimerState, TimerView, view


class SessionMirror:
    """The session's data as last streamed: ``put`` replaces, ``patch`` merges, at a path."""

    def __init__(self) -> None:
        self.data: Any = None

    def put(self, path: str, value: Any) -> None:
        self.data = _set(self.data, _parts(path), value)

    def patch(self, path: str, values: dict[str, Any]) -> None:
        base = _parts(path)
        for key, value in values.items():
            self.data = _set(self.data, base + _parts(key), value)

    def raw_state(self) -> Any:
        """The stored state as streamed, whatever it holds."""
        return self.data.get("state") if isinstance(self.data, dict) else None

    def state(self) -> TimerState:
        """The timer; ValueError when the stored state is malformed."""
        return TimerState.from_wire(self.raw_state())

    def members(self) -> dict[str, Any]:
        return member_records(self.data.get("members") if isinstance(self.data, dict) else None)


@dataclass(frozen=True)
class Moment:
    """What a watcher shows at one instant: the timer, who is a member, the connection."""

    view: TimerView
    members: frozenset[str]  # display names
    connection: str  # "connecting" | "live" | "reconnecting"


def changes(before: Moment | None, after: Moment) -> list[str]:
    """The watch events between two moments, in a stable order.

    ``state`` (someone acted: the rev moved), ``phase_end`` (time alone ended a phase or moved
    to the next one), ``member_joined`` / ``member_left``, ``connection``.
    """
    if before is None:
        return ["state"]
    events = []
    if after.connection != before.connection:
        events.append("connection")
    if after.view.rev != before.view.rev:
        events.append("state")
    elif (after.view.phase, after.view.round, after.view.status) != (
        before.view.phase,
        before.view.round,
        before.view.status,
    ):
        events.append("phase_end")
    if after.members - before.members:
        events.append("member_joined")
    if before.members - after.members:
        events.append("member_left")
    return events


def moment(mirror: SessionMirror, server_now: int, connection: str) -> Moment:
    return Moment(view(mirror.state(), server_now), member_names(mirror.members()), connection)


def member_records(raw: Any) -> dict[str, Any]:
    """A session's stored members by uid (RTDB renders dense integer keys as an array): an
    object or array, whatever it holds; anything else holds none."""
    if isinstance(raw, list):
        return {str(i): rec for i, rec in enumerate(raw) if rec is not None}
    return {str(k): v for k, v in raw.items()} if isinstance(raw, dict) else {}


def member_names(members: dict[str, Any]) -> frozenset[str]:
    """The display names of a session's members (a record without one shows its uid), made
    inert (`focuscli.inert`)."""
    return frozenset(inert.text(_name(uid, rec)) for uid, rec in members.items())


def _name(uid: str, record: Any) -> str:
    name = record.get("name") if isinstance(record, dict) else None
    return name if isinstance(name, str) and name else uid


def _parts(path: str) -> list[str]:
    return [p for p in path.split("/") if p]


def _set(node: Any, parts: list[str], value: Any) -> Any:
    """``node`` with ``value`` at ``parts`` (None deletes; emptied objects vanish, as in RTDB)."""
    if not parts:
        return value
    head, rest = parts[0], parts[1:]
    children = dict(node) if isinstance(node, dict) else {}
    if isinstance(node, list):  # RTDB renders dense integer keys as arrays
        children = {str(i): v for i, v in enumerate(node) if v is not None}
    child = _set(children.get(head), rest, value)
    if child is None:
        children.pop(head, None)
    else:
        children[head] = child
    return children or None
