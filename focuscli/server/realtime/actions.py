"""What a session asks its transport to do: frozen values, carried out in the order given."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from focuscli.server.change import Change
from focuscli.server.tree import Node


class CloseCode(enum.IntEnum):
    """WebSocket close codes the server uses (RFC 6455 §7.4.1)."""

    NORMAL = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009


@dataclass(frozen=True)
class Send:
    """Send one WebSocket text (a whole envelope, a frame count or one piece)."""

    text: str


@dataclass(frozen=True)
class Commit:
    """Commit ``change`` (``new_root`` is it applied to the current head) through the store,
    then call ``session.settled(ticket, error)``. ``release``: the session whose held
    onDisconnect writes this commit carries out, forgotten in the same journal record."""

    ticket: int
    change: Change
    new_root: Node
    release: str | None = None


@dataclass(frozen=True)
class Hold:
    """Keep this session's onDisconnect writes (``record``, None once there are none) durably,
    then call ``session.settled(ticket, error)``."""

    ticket: int
    record: dict[str, Any] | None


@dataclass(frozen=True)
class Barrier:
    """Wait until everything committed so far is durable, then ``session.settled(ticket, None)``:
    the answer to a write that changed nothing must not promise more than the store holds."""

    ticket: int


@dataclass(frozen=True)
class Close:
    """Close the socket with ``code``; ``reason`` is the close frame's text."""

    code: CloseCode
    reason: str


@dataclass(frozen=True)
class Log:
    """One line for the server's log."""

    message: str


Action = Send | Commit | Hold | Barrier | Close | Log
