"""Firebase Authentication for members: Identity Toolkit and Secure Token over REST, one-line errors.

The endpoints of spec auth.md §2, as production serves them (``https://identitytoolkit.
googleapis.com/v1/…``, ``https://securetoken.googleapis.com/v1/token``) or as the Auth emulator
and `focus serve` do (the production host name as the first path segment under
``http://host:port``). Every call carries the project's Web API key as ``key=`` (public by
design: it only names the project). A member's password is sent once, to sign in, and never
kept; what a sign-in returns is a `Tokens`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from focuscli.errors import BackendError, FocusError, SignInError, Unreachable, UsageError
from focuscli.http_client import HttpClient, NoAnswer

PRODUCTION_ROOT = "https://"  # + identitytoolkit.googleapis.com/..., securetoken.googleapis.com/...
MIN_PASSWORD = 6

# Identity Toolkit error codes (the part of `message` before " : ") -> what the member reads.
_WRONG_CREDENTIALS = "wrong email or password"
_MESSAGES = {
    "EMAIL_NOT_FOUND": (_WRONG_CREDENTIALS, "check them, or create the account with: focus login EMAIL --create --name NAME"),
    "INVALID_PASSWORD": (_WRONG_CREDENTIALS, "check them, or create the account with: focus login EMAIL --create --name NAME"),
    "INVALID_LOGIN_CREDENTIALS": (_WRONG_CREDENTIALS, "check them, or create the account with: focus login EMAIL --create --name NAME"),
    "EMAIL_EXISTS": ("an account with that email already exists", "sign in with: focus login EMAIL"),
    "WEAK_PASSWORD": (f"the password is too weak (at least {MIN_PASSWORD} characters)", "choose a longer one"),
    "INVALID_EMAIL": ("that is not a valid email address", "check it"),
    "MISSING_PASSWORD": ("no password given", "type one, or pass it on stdin with --password-stdin"),
    "USER_DISABLED": ("this account is disabled", "ask the project's administrator"),
    "USER_NOT_FOUND": ("this account no longer exists", "sign in again with: focus login EMAIL"),
    "TOKEN_EXPIRED": ("your sign-in has expired or was revoked", "sign in again with: focus login EMAIL"),
    "INVALID_REFRESH_TOKEN": ("your sign-in is no longer valid", "sign in again with: focus login EMAIL"),
    "INVALID_ID_TOKEN": ("your sign-in is no longer valid", "sign in again with: focus login EMAIL"),
    "TOO_MANY_ATTEMPTS_TRY_LATER": ("too many attempts", "wait a while, or reset your password"),
    "OPERATION_NOT_ALLOWED": (
        "email/password sign-in is not enabled for this project",
        "enable it in the Firebase console (Authentication → Sign-in method)",
    ),
    "PROJECT_NOT_FOUND": ("the sign-in service does not know this project", "check api_key"),
}
SESSION_ENDED = frozenset(
    {"TOKEN_EXPIRED", "INVALID_REFRESH_TOKEN", "USER_NOT_FOUND", "USER_DISABLED", "INVALID_ID_TOKEN"}
)
"""Refresh failures after which the stored sign-in is useless (spec auth.md §6.4 item 5)."""


@dataclass(frozen=True)
class Tokens:
    """What a sign-in or a refresh returns."""

    uid: str
    id_token: str
    refresh_token: str
    expires_in: int  # seconds
    email: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class AuthService:
    """Where a project's sign-in lives: ``root`` is "https://" for Google's production hosts,
    else ``http://host:port/`` (the Auth emulator or a `focus serve`), and the Web API key."""

    root: str
    api_key: str
    noun: str = "the sign-in service"  # "the database" where the database serves sign-in too

    @property
    def emulated(self) -> bool:
        """An Auth emulator (or a `focus serve`) rather than Google's service (or a TLS proxy)."""
        return self.root.startswith("http://")

    def display(self) -> str:
        return "Google's sign-in service" if self.root == PRODUCTION_ROOT else self.root.rstrip("/")

    def key(self) -> str:
        """Which service a stored sign-in belongs to (its key in the credentials file)."""
        if self.root == PRODUCTION_ROOT:
            return f"firebase:{self.api_key}"
        return self.root.rstrip("/")

    def mode(self, client: HttpClient) -> str:
        """"emulator" or "secure", as a `focus serve` (or the official Auth emulator, always
        "emulator") says at its root; "secure" for Google's service and anything else."""
        if not self.emulated:
            return "secure"
        try:
            reply = client.request("GET", self.root, headers={"Accept": "application/json"})
        except NoAnswer as err:
            raise self.unreachable(err) from None
        try:
            info = json.loads(reply.body)
        except ValueError:
            info = None
        if not isinstance(info, dict) or not isinstance(info.get("authEmulator"), dict):
            what = f"HTTP {reply.status}" if reply.status != 200 else "not the Auth emulator's answer"
            raise BackendError(
                f"unexpected answer from {self.root.rstrip('/')} ({what}); is that a focus serve or "
                "the Auth emulator? (the official database emulator needs FIREBASE_AUTH_EMULATOR_HOST too)"
            )
        serve = info.get("focusServe")
        return str(serve.get("mode", "secure")) if isinstance(serve, dict) else "emulator"

    def unreachable(self, err: NoAnswer) -> Unreachable:
        hint = "is focus serve running?" if self.emulated else "check your network"
        return Unreachable(f"cannot reach {self.noun} at {err.origin} ({err.reason}); {hint}")

    def url(self, host: str, path: str) -> str:
        return f"{self.root}{host}{path}?{urlencode({'key': self.api_key})}"


class SignIn:
    """Calls to one `AuthService` over an `HttpClient` (the caller closes the client)."""

    def __init__(self, service: AuthService, client: HttpClient) -> None:
        self.service = service
        self.client = client

    def sign_up(self, email: str, password: str, name: str) -> Tokens:
        """A new email/password account with display name `name`, signed in."""
        return self._tokens(
            self._call("accounts:signUp", {"email": email, "password": password, "displayName": name}),
        )

    def sign_up_anonymous(self) -> Tokens:
        """A new account without email or password (local profiles on emulators)."""
        return self._tokens(self._call("accounts:signUp", {}))

    def sign_in(self, email: str, password: str) -> Tokens:
        return self._tokens(self._call("accounts:signInWithPassword", {"email": email, "password": password}))

    def set_name(self, id_token: str, name: str) -> None:
        """Set the account's display name (the next ID token carries it as `name`)."""
        self._call("accounts:update", {"idToken": id_token, "displayName": name})

    def delete(self, id_token: str) -> None:
        self._call("accounts:delete", {"idToken": id_token})

    def refresh(self, refresh_token: str) -> Tokens:
        """A fresh ID token for a stored sign-in (Secure Token, form-encoded, spec §2.10)."""
        body = f"grant_type=refresh_token&refresh_token={quote(refresh_token, safe='')}"
        reply = self._post(
            self.service.url("securetoken.googleapis.com", "/v1/token"),
            body.encode(),
            "application/x-www-form-urlencoded",
        )
        try:
            return Tokens(
                uid=str(reply["user_id"]),
                id_token=str(reply["id_token"]),
                refresh_token=str(reply.get("refresh_token") or refresh_token),
                expires_in=int(reply.get("expires_in", 3600)),
            )
        except (KeyError, TypeError, ValueError):
            raise self._unexpected("a token refresh") from None

    # -- internals ------------------------------------------------------------------------------

    def _call(self, operation: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        body = json.dumps({**fields, "returnSecureToken": True}).encode()
        url = self.service.url("identitytoolkit.googleapis.com", f"/v1/{operation}")
        return self._post(url, body, "application/json")

    def _post(self, url: str, body: bytes, content_type: str) -> dict[str, Any]:
        try:
            reply = self.client.request("POST", url, body=body, headers={"Content-Type": content_type})
        except NoAnswer as err:
            raise self.service.unreachable(err) from None
        try:
            data = json.loads(reply.body)
        except ValueError:
            data = None
        if reply.status == 200 and isinstance(data, dict):
            return data
        if isinstance(data, dict) and isinstance(data.get("error"), dict):
            raise self._refusal(data["error"], reply.status)
        raise self._unexpected(f"HTTP {reply.status}")

    def _refusal(self, error: Mapping[str, Any], status: int) -> FocusError:
        message = str(error.get("message", ""))
        code = message.split(":", 1)[0].strip()
        if code in _MESSAGES:
            what, todo = _MESSAGES[code]
            return SignInError(f"{what}; {todo}", code=code)
        if "API key" in message or (error.get("status") == "PERMISSION_DENIED" and status == 403):
            return UsageError(
                f"the sign-in service refused the Web API key ({message.rstrip('.')}); "
                "set api_key (Firebase console → Project settings → General → Web API key)"
            )
        shown = message.replace("\n", " ")[:200] or f"HTTP {status}"
        return SignInError(f"the sign-in service refused: {shown}", code=code)

    def _unexpected(self, what: str) -> BackendError:
        return BackendError(
            f"unexpected answer from {self.service.display()} ({what}); "
            "is that Firebase Authentication (or a focus serve)?"
        )

    def _tokens(self, data: Mapping[str, Any]) -> Tokens:
        try:
            return Tokens(
                uid=str(data["localId"]),
                id_token=str(data["idToken"]),
                refresh_token=str(data["refreshToken"]),
                expires_in=int(data.get("expiresIn", 3600)),
                email=data.get("email") or None,
                name=data.get("displayName") or None,
            )
        except (KeyError, TypeError, ValueError):
            raise self._unexpected("a sign-in without tokens") from None
