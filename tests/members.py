"""Members for tests that talk to an emulator-mode server directly: unsigned ID tokens made here.

An emulator-mode `focus serve` (like the official emulator) accepts an unsigned ID token as the
member it names, so library-level tests need no sign-in round trip: ``EmulatorMember("ana")``
is the member with uid ``ana`` and display name ``ana``. It satisfies `focuscli.backend.
TokenSource` and `focuscli.service.Me`.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

PROJECT = "demo-focus"


def _segment(value: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def unsigned_token(uid: str, name: str | None = None, *, lifetime_s: float = 3600.0, **claims: Any) -> str:
    """An emulator-style ID token (`alg: none`, empty signature) for `uid`."""
    now = int(time.time())
    payload: dict[str, Any] = {
        "iss": f"https://securetoken.google.com/{PROJECT}",
        "aud": PROJECT,
        "sub": uid,
        "user_id": uid,
        "iat": now,
        "auth_time": now,
        "exp": int(now + lifetime_s),
        "firebase": {"identities": {}, "sign_in_provider": "anonymous"},
        **({"name": name} if name is not None else {}),
        **claims,
    }
    return f"{_segment({'alg': 'none', 'typ': 'JWT'})}.{_segment(payload)}."


class EmulatorMember:
    """The member `uid` (display name `name`, default the uid) with self-made unsigned tokens."""

    def __init__(self, uid: str, name: str | None = None, *, lifetime_s: float = 3600.0) -> None:
        self._uid = uid
        self._name = uid if name is None else name
        self.lifetime_s = lifetime_s
        self.refreshes = 0
        self._token = unsigned_token(uid, self._name, lifetime_s=lifetime_s)

    @property
    def uid(self) -> str:
        return self._uid

    @property
    def name(self) -> str:
        return self._name

    def id_token(self) -> str:
        return self._token

    def refreshed(self) -> str:
        self.refreshes += 1  # (a claim of its own makes every minted token a new one)
        self._token = unsigned_token(self._uid, self._name, lifetime_s=self.lifetime_s, refresh=self.refreshes)
        return self._token

    def expires_at(self) -> float:
        payload = self._token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return float(claims["exp"])

    def renew_at(self) -> float:
        """As focuscli.account.Account: a quarter of the lifetime (at most 300 s) before expiry."""
        return self.expires_at() - min(300.0, self.lifetime_s / 4)
