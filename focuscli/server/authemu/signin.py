"""Signing in: sign-up (anonymous too), password, custom token, email link, and the token refresh."""

from __future__ import annotations

import datetime
import json
from typing import Any

from focuscli.server.authemu import errors as E
from focuscli.server.authemu.context import Call, require_email
from focuscli.server.authemu.state import (
    GENERATION,
    PROVIDER_ANONYMOUS,
    PROVIDER_CUSTOM,
    PROVIDER_PASSWORD,
    User,
    hash_password,
    password_matches,
)
from focuscli.server.authemu.tokens import (
    CUSTOM_TOKEN_AUDIENCE,
    TokenInvalid,
    decode_unverified,
    id_token_claims,
    validate_claims,
)

MIN_PASSWORD_LENGTH = 6
PROJECT_NUMBER = "12345"  # the emulator's project number in token replies


def rfc3339(now: float) -> str:
    moment = datetime.datetime.fromtimestamp(now, datetime.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def password_fields(call: Call, password: str) -> dict[str, Any]:
    """A new password's stored fields; it also starts a new token epoch (`validSince`)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        E.fail(E.WEAK_PASSWORD)
    return {**hash_password(password), "passwordUpdatedAt": int(call.now * 1000),
            "validSince": str(int(call.now))}


def issue_tokens(
    call: Call, user: User, provider: str, extra_claims: dict[str, Any] | None = None,
    refresh_token: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    """A new ID token (and a new refresh token unless one is being reused) for ``user``."""
    user = call.state.update_user(user["localId"], {"lastRefreshAt": rfc3339(call.now)})
    settings = call.settings
    claims = id_token_claims(user, project_id=call.state.project_id, provider=provider,
                             now=call.now, lifetime=settings.lifetime, extra_claims=extra_claims)
    if refresh_token is None:
        refresh_token = call.state.new_refresh_token(user, provider, extra_claims or {}, call.now)
    return {"idToken": settings.codec.encode(claims), "refreshToken": refresh_token,
            "expiresIn": str(settings.lifetime)}


def parse_id_token(call: Call, token: str) -> tuple[User, dict[str, Any]]:
    """The user an ``idToken`` member names, checked in the emulator's order (then, in secure
    mode, the signature and claims first: any failure there, expiry included, is INVALID_ID_TOKEN)."""
    try:
        claims = call.settings.codec.read(token, project_id=call.state.project_id, now=call.now)
    except TokenInvalid:
        E.fail(E.INVALID_ID_TOKEN)
    uid = claims.get("user_id", claims.get("sub"))
    if not isinstance(claims.get("firebase"), dict) or not isinstance(uid, str):
        E.fail(E.INVALID_ID_TOKEN)  # the emulator answers 500 here; a token it cannot use is invalid
    user = call.state.user(uid)
    if user is None:
        E.fail(E.USER_NOT_FOUND)
    valid_since, iat = user.get("validSince"), claims.get("iat")
    if valid_since is not None:
        fresh = isinstance(iat, int | float) and not isinstance(iat, bool) and iat >= int(valid_since)
        E.check(fresh, E.TOKEN_EXPIRED)
    E.check(not user.get("disabled"), E.USER_DISABLED)
    return user, claims


def provider_of(claims: dict[str, Any]) -> str | None:
    provider = claims.get("firebase", {}).get("sign_in_provider")
    return provider if isinstance(provider, str) else None


def sign_up(call: Call) -> dict[str, Any]:
    """accounts:signUp, and (privileged) the admin create at POST /v1/projects/{p}/accounts."""
    state, body = call.state, call.body
    email, password, id_token = call.text("email"), call.text("password"), call.text("idToken")
    updates: dict[str, Any] = {"lastLoginAt": call.now_ms}
    provider: str | None = None
    requested_id = call.text("localId")
    if call.privileged:
        if id_token:
            E.check(requested_id is None, E.UNEXPECTED_LOCAL_ID)
        if requested_id is not None:
            E.check(state.user(requested_id) is None, E.DUPLICATE_LOCAL_ID)
        updates.update(displayName=body.get("displayName"), photoUrl=body.get("photoUrl"),
                       emailVerified=call.flag("emailVerified"))
        phone = call.text("phoneNumber")
        if phone is not None:
            E.check(phone.startswith("+"), E.INVALID_PHONE_NUMBER)
            E.check(state.user_by_phone(phone) is None, E.PHONE_NUMBER_EXISTS)
            updates["phoneNumber"] = phone
        if call.flag("disabled"):
            updates["disabled"] = True
    else:
        E.check(requested_id is None and not body.get("localId"), E.UNEXPECTED_LOCAL_ID)
        if id_token or password or email:
            updates.update(displayName=body.get("displayName"), emailVerified=False)
            E.check(email, E.MISSING_EMAIL)
            E.check(password, E.MISSING_PASSWORD)
            provider = PROVIDER_PASSWORD
        else:
            provider = PROVIDER_ANONYMOUS  # other profile members are ignored
    if email or (body.get("email") == "" and provider):
        canonical = require_email(body.get("email"))
        E.check(state.user_by_email(canonical) is None, E.EMAIL_EXISTS)
        updates["email"] = canonical
    if password:
        updates.update(password_fields(call, password))
    user = parse_id_token(call, id_token)[0] if id_token else None
    if user is None:
        updates["createdAt"] = call.now_ms
        local_id = requested_id if requested_id is not None else state.new_local_id()
        user = state.create_user(local_id, {k: v for k, v in updates.items() if v is not None})
    else:
        user = state.update_user(user["localId"], updates)
    reply = {"kind": "identitytoolkit#SignupNewUserResponse", "localId": user["localId"],
             "displayName": user.get("displayName"), "email": user.get("email")}
    if provider is not None:
        reply.update(issue_tokens(call, user, provider))
    return reply


def sign_in_with_password(call: Call) -> dict[str, Any]:
    state = call.state
    if call.body.get("email") is None:
        E.fail(E.MISSING_EMAIL)
    email = require_email(call.body.get("email"))
    password = call.text("password")
    if password is None:
        E.fail(E.MISSING_PASSWORD)
    user = state.user_by_email(email)
    if state.config["enableImprovedEmailPrivacy"]:
        E.check(user, E.INVALID_LOGIN_CREDENTIALS)
        assert user is not None
        E.check(not user.get("disabled"), E.USER_DISABLED)
        E.check(password_matches(password, user), E.INVALID_LOGIN_CREDENTIALS)
    else:
        E.check(user, E.EMAIL_NOT_FOUND)
        assert user is not None
        E.check(not user.get("disabled"), E.USER_DISABLED)
        E.check(password_matches(password, user), E.INVALID_PASSWORD)
    user = state.update_user(user["localId"], {"lastLoginAt": call.now_ms})
    # Production also returns displayName ("" when unset); the emulator omits it.
    return {"kind": "identitytoolkit#VerifyPasswordResponse", "registered": True,
            "localId": user["localId"], "email": email,
            "displayName": user.get("displayName", ""),
            **issue_tokens(call, user, PROVIDER_PASSWORD)}


def _primitive_text(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return value if isinstance(value, str) else None


def sign_in_with_custom_token(call: Call) -> dict[str, Any]:
    token = call.text("token")
    if token is None:
        E.fail(E.MISSING_CUSTOM_TOKEN)
    if call.settings.secure:
        E.fail(E.CUSTOM_TOKENS_REFUSED)
    payload: Any
    if token.startswith("{"):  # the emulator's plain-JSON fake custom token; no audience check
        try:
            payload = json.loads(token)
        except (ValueError, RecursionError):
            E.fail(E.INVALID_CUSTOM_TOKEN_JSON)
        if not isinstance(payload, dict):
            E.fail(E.INVALID_CUSTOM_TOKEN_JSON)
    else:
        try:
            payload = decode_unverified(token)[1]
        except TokenInvalid:
            E.fail(E.INVALID_CUSTOM_TOKEN_FORMAT)
        aud = payload.get("aud")
        if aud != CUSTOM_TOKEN_AUDIENCE:
            shown = aud if isinstance(aud, str) else "undefined" if aud is None else json.dumps(aud)
            E.fail(E.INVALID_CUSTOM_TOKEN_AUD.format(aud=shown))
    uid = _primitive_text(payload.get("uid"))
    local_id = uid if uid is not None else _primitive_text(payload.get("user_id"))
    if not local_id:
        E.fail(E.MISSING_IDENTIFIER)
    extra = validate_claims(payload["claims"]) if "claims" in payload else {}
    state = call.state
    user = state.user(local_id)
    is_new = user is None
    if user is not None:
        E.check(not user.get("disabled"), E.USER_DISABLED)
        user = state.update_user(local_id, {"customAuth": True, "lastLoginAt": call.now_ms})
    else:
        user = state.create_user(local_id, {"customAuth": True, "lastLoginAt": call.now_ms,
                                            "createdAt": call.now_ms})
    return {"kind": "identitytoolkit#VerifyCustomTokenResponse", "isNewUser": is_new,
            **issue_tokens(call, user, PROVIDER_CUSTOM, extra)}


def sign_in_with_email_link(call: Call) -> dict[str, Any]:
    state = call.state
    id_token = call.text("idToken")
    from_token = parse_id_token(call, id_token)[0] if id_token else None
    email = call.text("email")
    if email is None:
        E.fail(E.MISSING_EMAIL)
    email = email.lower()
    code = call.text("oobCode")
    if code is None:
        E.fail(E.MISSING_OOB_CODE)
    oob = state.oobs.get(code)
    E.check(oob is not None and oob["requestType"] == "EMAIL_SIGNIN", E.INVALID_OOB_CODE)
    assert oob is not None
    E.check(email == oob["email"], E.EMAIL_LINK_MISMATCH)
    state.take_oob(code)
    from_email = state.user_by_email(email)
    user = from_token or from_email
    is_new = user is None
    updates = {"email": email, "emailVerified": True, "emailLinkSignin": True,
               "lastLoginAt": call.now_ms}
    if user is None:
        user = state.create_user(state.new_local_id(), {**updates, "createdAt": call.now_ms})
    else:
        E.check(not user.get("disabled"), E.USER_DISABLED)
        if from_token is not None and from_email is not None:
            E.check(from_token["localId"] == from_email["localId"], E.EMAIL_EXISTS)
        user = state.update_user(user["localId"], updates)
    return {"kind": "identitytoolkit#EmailLinkSigninResponse", "email": email,
            "localId": user["localId"], "isNewUser": is_new,
            **issue_tokens(call, user, PROVIDER_PASSWORD)}


def grant_token(call: Call) -> dict[str, Any]:
    """securetoken.googleapis.com/v1/token: a fresh ID token for a refresh token (kept as is)."""
    grant = call.text("grantType")
    if grant is None:
        E.fail(E.MISSING_GRANT_TYPE)
    E.check(grant == "refresh_token", E.INVALID_GRANT_TYPE)
    token = call.text("refreshToken")
    if token is None:
        E.fail(E.MISSING_REFRESH_TOKEN)
    record = call.state.refresh_record(token)
    if record is None:
        E.fail(E.INVALID_REFRESH_TOKEN)
    secure = call.settings.secure
    user = None if record.get("deleted") else call.state.user(record["localId"])
    if user is None:
        E.fail(E.USER_NOT_FOUND if secure else E.INVALID_REFRESH_TOKEN)
    E.check(not user.get("disabled"), E.USER_DISABLED)
    if secure and record["generation"] != int(user.get(GENERATION, 0)):
        E.fail(E.TOKEN_EXPIRED)  # password or email changed, or revoke_refresh_tokens
    tokens = issue_tokens(call, user, record["provider"], record["extraClaims"], refresh_token=token)
    return {"id_token": tokens["idToken"], "access_token": tokens["idToken"],
            "expires_in": tokens["expiresIn"], "refresh_token": token, "token_type": "Bearer",
            "user_id": user["localId"], "project_id": PROJECT_NUMBER}
