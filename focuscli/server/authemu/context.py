"""What one operation sees: its project's state, the request, who called, the clock, the mode."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from focuscli.server.authemu import errors as E
from focuscli.server.authemu.state import ProjectState
from focuscli.server.authemu.tokens import ID_TOKEN_LIFETIME, TokenCodec


@dataclass(frozen=True)
class Settings:
    """How the server treats tokens.

    ``secure`` False is emulator mode: unsigned tokens, ID tokens never expire on these endpoints,
    refresh tokens survive password changes (as the official emulator). ``secure`` True is the
    production behaviour: signed tokens checked in full, revocation ends refresh, custom tokens
    refused.
    """

    codec: TokenCodec
    secure: bool
    lifetime: int = ID_TOKEN_LIFETIME


@dataclass
class Call:
    """One operation's input; ``log`` collects lines for the server's log (emulator mode only)."""

    state: ProjectState
    body: dict[str, Any]
    privileged: bool
    now: float
    settings: Settings
    query: dict[str, str] = field(default_factory=dict)
    base_url: str = "http://localhost"
    log: list[str] = field(default_factory=list)

    @property
    def now_ms(self) -> str:
        return str(int(self.now * 1000))

    def text(self, name: str) -> str | None:
        """A string member of the body ("" counts as absent, as in the emulator's checks)."""
        value = self.body.get(name)
        return value if isinstance(value, str) and value else None

    def flag(self, name: str) -> bool:
        return self.body.get(name) is True


def require_email(value: str | None) -> str:
    """A syntactically valid email (the emulator's lenient ``x@y`` check), lower-cased."""
    if value is None:
        E.fail(E.MISSING_EMAIL)
    if value.count("@") != 1 or value.startswith("@") or value.endswith("@"):
        E.fail(E.INVALID_EMAIL)
    return value.lower()
