"""The signed-in member behind a profile: fresh ID tokens on demand, from the stored sign-in.

A profile (``--user NAME``, default your login name) has its own sign-in per backend. `Account`
hands out ID tokens: the cached one until its renewal time (REFRESH_AHEAD_S before it expires,
or a quarter of its lifetime for short-lived test tokens), else a new one from Secure Token (spec auth.md §6.4). A refresh the service refuses for good (revoked,
disabled, deleted) forgets the sign-in and asks the member to sign in again; network trouble
keeps it. On the embedded default and on emulator-mode servers a profile that has no sign-in
yet gets an account of its own on first use (anonymous, with the profile's name as display
name), so nobody types a password to try focus; elsewhere `focus login` signs a profile in.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from focuscli import inert
from focuscli.credentials import CredentialStore
from focuscli.errors import SignInError, UsageError
from focuscli.signin import SESSION_ENDED, SignIn, Tokens

REFRESH_AHEAD_S = 300.0  # refresh when less than this is left of an ID token (JS SDK's proactive margin)


def token_part(token: str, index: int) -> dict[str, Any]:
    """Header (0) or claims (1) of a JWT, decoded without any check ({} if unreadable)."""
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    segment = parts[index]
    try:
        value = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, binascii.Error):
        return {}
    return value if isinstance(value, dict) else {}


@dataclass(frozen=True)
class Who:
    """The member a token speaks for."""

    uid: str
    name: str | None
    email: str | None


class Account:
    """ID tokens for one profile on one backend (see the module docstring)."""

    def __init__(
        self,
        store: CredentialStore,
        signin: SignIn,
        profile: str,
        *,
        auto_create: Callable[[], bool],
        login_command: str = "focus login",
        clock: Callable[[], float] = time.time,
        say: Callable[[str], None] = lambda text: None,
    ) -> None:
        self.store = store
        self.signin = signin
        self.profile = profile
        self.backend = signin.service.key()
        self._auto_create = auto_create
        self._login_command = login_command
        self._clock = clock
        self._say = say
        self._record: dict[str, Any] | None = None
        self._lock = threading.RLock()  # a watch refreshes from its stream thread and its loop

    # -- who --------------------------------------------------------------------------------------

    @property
    def record(self) -> dict[str, Any]:
        with self._lock:
            if self._record is None:
                self._record = self.store.get(self.backend, self.profile) or self._first_use()
            return self._record

    @property
    def uid(self) -> str:
        return str(self.record["uid"])

    @property
    def name(self) -> str:
        """The member's display name, as their ID token states it (what the rules check)."""
        name = token_part(self.id_token(), 1).get("name")
        if not isinstance(name, str) or not name:
            raise UsageError(
                "your account has no display name, which sessions show to your teammates; "
                f"set one with: focus login {self.record.get('email') or 'EMAIL'} --name NAME"
            )
        return name

    def who(self) -> Who:
        record = self.record
        return Who(str(record["uid"]), record.get("name"), record.get("email"))

    # -- tokens -------------------------------------------------------------------------------------

    def id_token(self) -> str:
        """A valid ID token: the cached one, or a new one if it is (nearly) expired."""
        with self._lock:
            return self._current()

    def _current(self) -> str:
        record = self.record
        if record.get("id_token") and self._clock() < self._renew_at(record):
            return str(record["id_token"])
        return self.refreshed()

    def renew_at(self) -> float:
        """When the current ID token should be replaced (seconds since the epoch): a long-lived
        stream reconnects with a new one then."""
        return self._renew_at(self.record)

    @staticmethod
    def _renew_at(record: dict[str, Any]) -> float:
        exp, iat = record.get("id_token_exp"), token_part(str(record.get("id_token", "")), 1).get("iat")
        if not isinstance(exp, int | float):
            return 0.0
        lifetime = exp - iat if isinstance(iat, int | float) and iat < exp else 3600
        return float(exp - min(REFRESH_AHEAD_S, lifetime / 4))

    def expires_at(self) -> float:
        """When the current ID token expires (seconds since the epoch)."""
        exp = self.record.get("id_token_exp")
        return float(exp) if isinstance(exp, int | float) else 0.0

    def refreshed(self) -> str:
        """A new ID token from the refresh token (after a 401 that says the token is stale)."""
        with self._lock:
            return self._refresh()

    def _refresh(self) -> str:
        record = self.record
        try:
            tokens = self.signin.refresh(str(record["refresh_token"]))
        except SignInError as err:
            if err.code not in SESSION_ENDED:
                raise
            self.store.remove(self.backend, self.profile)
            self._record = None
            if record.get("how") == "auto" and self._auto_create():
                self._say(f"the server no longer knew your local profile {self.profile!r} (its data was reset?); created it again")
                return self.id_token()
            raise SignInError(
                f"{err.message.split(';')[0]} (profile {self.profile!r} on {self.signin.service.display()}); "
                f"sign in again with: {self._login_hint(record)}",
                code=err.code,
            ) from None
        return self._save(tokens, record.get("how", "login"), record)

    def save_login(self, tokens: Tokens) -> dict[str, Any]:
        """Keep a fresh sign-in (from `focus login`) for this profile."""
        self._save(tokens, "login", {})
        return self.record

    def forget(self) -> bool:
        self._record = None
        return self.store.remove(self.backend, self.profile)

    # -- internals ---------------------------------------------------------------------------------

    def _save(self, tokens: Tokens, how: str, old: dict[str, Any]) -> str:
        claims = token_part(tokens.id_token, 1)
        exp = claims.get("exp")
        if not isinstance(exp, int | float) or isinstance(exp, bool):
            exp = self._clock() + tokens.expires_in
        email = claims.get("email") if isinstance(claims.get("email"), str) else tokens.email or old.get("email")
        name = claims.get("name") if isinstance(claims.get("name"), str) else tokens.name or old.get("name")
        record = {
            "uid": tokens.uid,
            "email": email,
            "name": name,
            "refresh_token": tokens.refresh_token,
            "id_token": tokens.id_token,
            "id_token_exp": int(exp),
            "how": how,
        }
        self.store.put(self.backend, self.profile, record)
        self._record = record
        return tokens.id_token

    def _first_use(self) -> dict[str, Any]:
        if not self._auto_create():
            raise SignInError(
                f"profile {self.profile!r} is not signed in to {self.signin.service.display()}; "
                f"sign in with: {self._login_hint({})} (or create an account: add --create --name NAME)",
                code="NOT_SIGNED_IN",
            )
        tokens = self.signin.sign_up_anonymous()
        self.signin.set_name(tokens.id_token, self.profile)
        # The token minted before the name was set does not carry it: mint one that does.
        fresh = self.signin.refresh(tokens.refresh_token)
        self._save(fresh, "auto", {})
        assert self._record is not None
        return self._record

    def _login_hint(self, record: dict[str, Any]) -> str:
        return f"{self._login_command} {record.get('email') or 'EMAIL'}"


def check_name(name: str) -> str:
    """A display name members will see: 1-64 characters, none that sessions' rules refuse
    (controls, bidi overrides: `inert.refused`)."""
    cleaned = name.strip()
    if not 1 <= len(cleaned) <= 64 or inert.refused(cleaned):
        raise UsageError(f"invalid display name {name!r}: use 1-64 printable characters")
    return cleaned

