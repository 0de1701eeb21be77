"""ID tokens: their claims, the checks a signed one must pass, and the emulator's unsigned form.

Signing is behind ``TokenCodec``: the unsigned codec here (emulator mode, stdlib only) and the
RS256 one in ``focuscli.server.signing`` (secure mode). Times are parameters (``now``, seconds).
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any, NoReturn, Protocol

from focuscli.server.authemu import errors as E

ID_TOKEN_LIFETIME = 3600
CUSTOM_TOKEN_AUDIENCE = (
    "https://identitytoolkit.googleapis.com/google.identity.identitytoolkit.v1.IdentityToolkit"
)
# Claims a custom token's `claims` and custom attributes may not set, in the emulator's order
# (its error names the first one found).
FORBIDDEN_CLAIMS = (
    "iss", "aud", "sub", "iat", "exp", "nbf", "jti", "nonce", "azp", "acr", "amr", "cnf",
    "auth_time", "firebase", "at_hash", "c_hash",
)  # fmt: skip
MAX_UID_LENGTH = 128


def issuer(project_id: str) -> str:
    return f"https://securetoken.google.com/{project_id}"


class TokenInvalid(ValueError):
    """A token that must not be trusted; ``reason`` names the failed check (one per check)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TokenExpired(TokenInvalid):
    """A token whose ``exp`` has passed (the one failure a client fixes by refreshing)."""

    def __init__(self) -> None:
        super().__init__("expired")


class TokenCodec(Protocol):
    """Turns claims into a token and a token back into claims the server may act on."""

    signed: bool

    def encode(self, claims: dict[str, Any]) -> str: ...

    def read(self, token: str, *, project_id: str, now: float) -> dict[str, Any]:
        """The claims of ``token``; raises TokenInvalid (TokenExpired for a passed ``exp``)."""
        ...


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _segment(value: Any) -> str:
    return _b64(json.dumps(value, separators=(",", ":")).encode("utf-8"))


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


def decode_segment(segment: str) -> Any:
    """One base64url JSON segment of a JWT (padding optional); TokenInvalid if it is not one."""
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        return json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (ValueError, binascii.Error, RecursionError):
        raise TokenInvalid("malformed") from None


def decode_unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and payload of a three-part JWT, without checking anything else."""
    parts = token.split(".") if isinstance(token, str) else []
    if len(parts) != 3:
        raise TokenInvalid("malformed")
    header, payload = decode_segment(parts[0]), decode_segment(parts[1])
    if not isinstance(header, dict) or not isinstance(payload, dict):
        raise TokenInvalid("malformed")
    return header, payload


def unsigned(claims: dict[str, Any]) -> str:
    """The emulator's token form: ``alg: none`` and an empty signature."""
    return f"{_segment({'alg': 'none', 'typ': 'JWT'})}.{_segment(claims)}."


class UnsignedCodec:
    """Emulator mode: tokens are unsigned and read as they are (as the official Auth emulator)."""

    signed = False

    def encode(self, claims: dict[str, Any]) -> str:
        return unsigned(claims)

    def read(self, token: str, *, project_id: str, now: float) -> dict[str, Any]:
        return decode_unverified(token)[1]


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def check_id_token_claims(claims: dict[str, Any], *, project_id: str, now: float) -> None:
    """The claim checks of a signed ID token, none optional (firebase-admin's order, then times).

    The signature, algorithm and key id are the codec's part; this is what comes after.
    """
    if claims.get("aud") == CUSTOM_TOKEN_AUDIENCE:
        raise TokenInvalid("custom-token")
    if claims.get("aud") != project_id:
        raise TokenInvalid("audience")
    if claims.get("iss") != issuer(project_id):
        raise TokenInvalid("issuer")
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub or len(sub) > MAX_UID_LENGTH:
        raise TokenInvalid("subject")
    iat, exp = claims.get("iat"), claims.get("exp")
    if not _number(iat) or not _number(exp):
        raise TokenInvalid("times")
    assert isinstance(iat, int | float) and isinstance(exp, int | float)
    if iat > now:
        raise TokenInvalid("issued-in-future")
    if "auth_time" in claims and (not _number(claims["auth_time"]) or claims["auth_time"] > now):
        raise TokenInvalid("auth-time")
    if now >= exp:
        raise TokenExpired()


def id_token_claims(
    user: dict[str, Any],
    *,
    project_id: str,
    provider: str,
    now: float,
    lifetime: int,
    extra_claims: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The payload of a new ID token for ``user`` (the emulator's assembly order: profile, custom
    attributes, custom-token claims, then the reserved members, which win)."""
    identities: dict[str, list[str]] = {}
    if user.get("email"):
        identities["email"] = [user["email"]]
    if user.get("phoneNumber"):
        identities["phone"] = [user["phoneNumber"]]
    claims: dict[str, Any] = {}
    if user.get("displayName") is not None:
        claims["name"] = user["displayName"]
    if user.get("photoUrl") is not None:
        claims["picture"] = user["photoUrl"]
    claims.update(json.loads(user.get("customAttributes") or "{}"))
    claims.update(extra_claims or {})
    reserved: dict[str, Any] = {
        "email": user.get("email"),
        "email_verified": user.get("emailVerified"),
        "phone_number": user.get("phoneNumber"),
        "provider_id": "anonymous" if provider == "anonymous" else None,
        "auth_time": int(int(user.get("lastLoginAt") or now * 1000) // 1000),
        "user_id": user["localId"],
        "firebase": {"identities": identities, "sign_in_provider": provider},
    }
    for name, value in reserved.items():
        if value is None:
            claims.pop(name, None)
        else:
            claims[name] = value
    issued = int(now)
    claims.update({"iat": issued, "exp": issued + lifetime, "aud": project_id,
                   "iss": issuer(project_id), "sub": user["localId"]})
    return claims


def validate_claims(value: Any) -> dict[str, Any]:
    """Custom claims (a custom token's `claims`, a user's custom attributes): a JSON object
    without reserved names."""
    if not isinstance(value, dict):
        E.fail(E.INVALID_CLAIMS)
    for name in FORBIDDEN_CLAIMS:
        if name in value:
            E.fail(E.FORBIDDEN_CLAIM.format(name=name))
    return value
