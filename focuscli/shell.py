"""Wiring for one CLI invocation: settings -> backend (starting the embedded server) -> use cases."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from focuscli.errors import UsageError

if TYPE_CHECKING:
    from focuscli.account import Account
    from focuscli.backend import Database
    from focuscli.http_client import HttpClient
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
    _client: HttpClient | None = None
    _account: Account | None = None
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
    def client(self) -> HttpClient:
        """The command's one HTTP client (sign-in and database share its connections)."""
        if self._client is None:
            from focuscli.http_client import HttpClient

            self._client = HttpClient(ca_bundle=self.settings.ca_bundle)
        return self._client

    @property
    def account(self) -> Account:
        """The profile's sign-in on this backend (its account is made on first use where the
        backend allows it: see focuscli.account)."""
        if self._account is None:
            from focuscli.account import Account
            from focuscli.credentials import CredentialStore
            from focuscli.signin import SignIn

            settings = self.settings
            if settings.target.kind == "embedded":
                from focuscli import embedded

                settings = self._settings = embedded.ensure_running(settings, say=self.say)
            signin = SignIn(settings.auth, self.client)

            def auto_create() -> bool:
                if settings.auto_profiles == "ask":
                    return settings.auth.mode(self.client) == "emulator"
                return settings.auto_profiles == "yes"

            profile = "" if self.user is None and "FOCUS_USER" not in self.environ else f" --user {settings.user}"
            self._account = Account(
                CredentialStore(settings.credentials_path, say=self.say),
                signin,
                settings.user,
                auto_create=auto_create,
                login_command=f"focus{profile} login",
            )
        return self._account

    @property
    def focus(self) -> Focus:
        if self._focus is None:
            from focuscli.backend import Database
            from focuscli.service import Focus

            settings = self.settings
            account = self.account
            self._db = Database(settings.target, account, client=self.client)
            self._focus = Focus(self._db, account, state_dir=settings.state_dir)
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
        if self._client is not None:
            self._client.close()
            self._client = None
