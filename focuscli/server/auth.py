"""Who is calling: turn a request's credentials into an Identity (admin, or the rules `auth`)."""

from __future__ import annotations

import contextlib
import hmac
import json
import os
import secrets
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn

from focuscli.server.authemu.tokens import TokenCodec, TokenExpired, TokenInvalid, decode_unverified

OWNER = "owner"
"""The emulator's admin token (loopback mode only)."""

UNPARSABLE = "Could not parse auth token."
EXPIRED = "Auth token is expired."
BAD_OVERRIDE = "Invalid auth_variable_override: must be a JSON object or null."
OVERRIDE_NEEDS_ADMIN = "auth_variable_override is accepted only with the admin secret."
OVERRIDE_PARAM = "auth_variable_override"


@dataclass(frozen=True)
class Identity:
    """The caller as the rules see it."""

    admin: bool  # bypasses rules
    auth: dict[str, Any] | None  # the rules `auth` variable, or None (unauthenticated)
    # The credential was the admin token, even when auth_variable_override made the request run
    # as someone else (JSONP is refused to such requests in secure mode).
    admin_credential: bool = field(default=False, compare=False)


ANONYMOUS = Identity(admin=False, auth=None)
ADMIN = Identity(admin=True, auth=None, admin_credential=True)


class AuthError(Exception):
    """A credential problem; `status` and `message` form the `{"error": message}` response."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Identities:
    """The one place a credential becomes an Identity, for every front door (REST, streams, the
    realtime protocol's `auth` message).

    Emulator mode (``codec`` None): the admin token is ``owner`` unless ``admin_secret`` is set,
    and an ID token is read unsigned (the signature is not checked; `exp` is). Secure mode
    (``codec`` given): only ``admin_secret`` is admin, an ID token must pass the codec's full
    verification for ``project_id``, and ``auth_variable_override`` needs the admin secret.
    """

    def __init__(
        self,
        *,
        admin_secret: str | None,
        codec: TokenCodec | None = None,
        project_id: str = "",
        clock: Callable[[], float] = time.time,
    ) -> None:
        if codec is not None and admin_secret is None:
            raise ValueError("secure mode needs an admin secret")
        self.admin_secret = admin_secret
        self.codec = codec
        self.project_id = project_id
        self.clock = clock

    @property
    def secure(self) -> bool:
        return self.codec is not None

    def resolve(
        self, headers: Mapping[str, str], params: Mapping[str, str], *, now: float | None = None
    ) -> Identity:
        """The Identity behind a request (`headers` keys lower-case, `params` percent-decoded).

        Carriers, first match wins: `authorization: Bearer <t>`, then `access_token=<t>`, then
        `auth=<t>`. Raises AuthError (401, or 400 for a bad `auth_variable_override`).
        """
        token = _credential(headers, params)
        override = params.get(OVERRIDE_PARAM)
        if token is None:
            if override is not None and self.secure:
                raise AuthError(401, OVERRIDE_NEEDS_ADMIN)
            return ANONYMOUS
        return self.for_token(token, override=override, now=now)

    def for_token(self, token: str, *, override: str | None = None, now: float | None = None) -> Identity:
        """The Identity behind one bare credential, whatever carried it: the admin token (with
        an optional `auth_variable_override` JSON text), or an ID token. Raises AuthError."""
        if _is_admin_token(token, self.admin_secret):
            if override is None:
                return ADMIN
            return Identity(admin=False, auth=_parse_override(override), admin_credential=True)
        if override is not None and self.secure:
            raise AuthError(401, OVERRIDE_NEEDS_ADMIN)
        # In emulator mode auth_variable_override from a non-admin caller is ignored: only an
        # admin may choose whom to act as (rtdb-rest.md §12.14, INF).
        now = self.clock() if now is None else now
        if self.codec is None:
            return Identity(admin=False, auth=_auth_from_jwt(token, now))
        try:
            claims = self.codec.read(token, project_id=self.project_id, now=now)
        except TokenExpired:
            raise AuthError(401, EXPIRED) from None
        except TokenInvalid:
            _unparsable()
        return Identity(admin=False, auth=_auth_from_claims(str(claims["sub"]), claims))


def _credential(headers: Mapping[str, str], params: Mapping[str, str]) -> str | None:
    header = headers.get("authorization", "").strip()
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer":
            # A credential we cannot use is an error, never a silent downgrade to anonymous.
            _unparsable()
        if value.strip():
            return value.strip()
    for name in ("access_token", "auth"):
        value = params.get(name, "")
        if value:
            return value
    return None


def _is_admin_token(token: str, admin_secret: str | None) -> bool:
    """`owner` when there is no admin secret (emulator mode on loopback), else only the secret."""
    expected = OWNER if admin_secret is None else admin_secret
    return hmac.compare_digest(token.encode("utf-8", "surrogatepass"), expected.encode("utf-8"))


def _parse_override(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError):  # RecursionError: nested too deep to parse
        raise AuthError(400, BAD_OVERRIDE) from None
    if value is not None and not isinstance(value, dict):
        raise AuthError(400, BAD_OVERRIDE)
    return value


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


def _auth_from_jwt(token: str, now: float) -> dict[str, Any]:
    """The rules `auth` of an unsigned (emulator) ID token; the signature is not checked."""
    try:
        claims = decode_unverified(token)[1]  # (the header must at least be a JSON object)
    except TokenInvalid:
        _unparsable()
    uid = claims.get("sub") or claims.get("user_id")
    if not isinstance(uid, str) or not uid:
        _unparsable()
    exp = claims.get("exp")
    if exp is not None:
        if isinstance(exp, bool) or not isinstance(exp, (int, float)):
            _unparsable()
        if now >= exp:
            raise AuthError(401, EXPIRED)
    return _auth_from_claims(uid, claims)


def _auth_from_claims(uid: str, claims: dict[str, Any]) -> dict[str, Any]:
    auth: dict[str, Any] = {"uid": uid, "token": claims}
    firebase = claims.get("firebase")
    if isinstance(firebase, dict) and isinstance(firebase.get("sign_in_provider"), str):
        auth["provider"] = firebase["sign_in_provider"]
    return auth


def _unparsable() -> NoReturn:
    raise AuthError(401, UNPARSABLE)


def load_or_create_secret(path: os.PathLike[str] | str) -> str:
    """The admin secret stored at `path`, creating it (mode 0600, atomically) when missing."""
    path = os.fspath(path)
    try:
        return _read_secret(path)
    except FileNotFoundError:
        pass
    create_private_file(path, (secrets.token_urlsafe(32) + "\n").encode())
    return _read_secret(path)


def create_private_file(path: str, data: bytes) -> None:
    """Write ``data`` to a new file at ``path`` (mode 0600, directory 0700 if created), whole or
    not at all; if another process creates ``path`` first, its file stays and ours is dropped."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, mode=0o700, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".private-", dir=directory)  # mkstemp creates it as 0600
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)  # publishes the complete file, never replacing a concurrent one
        except FileExistsError:
            pass  # another process won the race: use its file
        except OSError:  # no hard links on this filesystem
            if not os.path.exists(path):
                os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _read_secret(path: str) -> str:
    with open(path, encoding="utf-8") as fh:
        secret = fh.read().strip()
    if not secret:
        raise ValueError(f"the secret file {path} is empty")
    return secret
