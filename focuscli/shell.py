"""Wiring for one CLI invocation: settings -> backend (starting the embedded server) -> use cases."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from focuscli.errors import UsageError

if TYPE_CHECKING:
    from focuscli.backend import Database
    from focuscli.service import Focus
    from focuscli.settings import Settings


@dataclass
class Invocation:
    """The global options of one command; everything heavy is built on first use."""

    db: str | None = None
    credentials: str | None = None
    user: str | None = None
    session: str | None = None
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    say: Callable[[str], None] = lambda text: print(f"focus: {text}", file=sys.stderr)
    _settings: Settings | None = None
    _db: Database | None = None
    _focus: Focus | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            from focuscli.settings import resolve

            self._settings = resolve(
                db=self.db,
                credentials=self.credentials,
                user=self.user,
                session=self.session,
                environ=self.environ,
            )
        return self._settings

    @property
    def focus(self) -> Focus:
        if self._focus is None:
            from focuscli import embedded
            from focuscli.backend import Database
            from focuscli.service import Focus

            settings = self.settings
            embedded.ensure_running(settings, say=self.say)
            self._db = Database(settings.target, settings.user)
            self._focus = Focus(self._db, settings.user, state_dir=settings.state_dir)
        return self._focus

    def session_name(self, explicit: str | None = None) -> str:
        """The session a command acts on: its own argument, else the resolved default."""
        from focuscli.settings import validate_name

        name = self.settings.session if explicit is None else explicit  # `--session ""` is bad
        if name is None:
            raise UsageError(
                "no session chosen: pass --session NAME, set FOCUS_SESSION, or join one with focus join NAME"
            )
        return validate_name("session", name)

    def remember(self, session: str | None) -> None:
        from focuscli.settings import remember_session

        remember_session(self.settings, session)

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
