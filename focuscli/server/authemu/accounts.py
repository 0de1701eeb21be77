"""One account, by its ID token (a member) or by uid (an admin): lookup, update, delete."""

from __future__ import annotations

import json
from typing import Any

from focuscli.server.authemu import errors as E
from focuscli.server.authemu.context import Call, require_email
from focuscli.server.authemu.signin import (
    issue_tokens,
    parse_id_token,
    password_fields,
    provider_of,
)
from focuscli.server.authemu.state import PROVIDER_ANONYMOUS, PROVIDER_PASSWORD, User, public_user
from focuscli.server.authemu.tokens import validate_claims

MAX_CUSTOM_ATTRIBUTES = 1000
DELETABLE = {"DISPLAY_NAME": ("displayName",), "PHOTO_URL": ("photoUrl",),
             "PASSWORD": ("passwordHash", "salt"),
             "EMAIL": ("email", "emailVerified", "emailLinkSignin")}  # fmt: skip


def lookup(call: Call) -> dict[str, Any]:
    state = call.state
    found: dict[str, User] = {}
    if call.privileged:
        candidates = [state.user(u) for u in call.body.get("localId") or []]
        candidates += [state.user_by_email(e) for e in call.body.get("email") or []]
        candidates += [state.user_by_phone(p) for p in call.body.get("phoneNumber") or []]
        for item in call.body.get("federatedUserId") or []:
            if isinstance(item, dict) and item.get("providerId") and item.get("rawId"):
                candidates.append(_by_provider(call, item["providerId"], item["rawId"]))
        for user in candidates:
            if user is not None:
                found.setdefault(user["localId"], user)
    else:
        token = call.text("idToken")
        if token is None:
            E.fail(E.MISSING_ID_TOKEN)
        user = parse_id_token(call, token)[0]
        found[user["localId"]] = user
    reply: dict[str, Any] = {"kind": "identitytoolkit#GetAccountInfoResponse"}
    if found:  # no `users` member at all when nothing matched (the Admin SDKs rely on it)
        reply["users"] = [public_user(u) for u in found.values()]
    return reply


def _by_provider(call: Call, provider: str, raw_id: str) -> User | None:
    for user in call.state.users.values():
        for info in user.get("providerUserInfo", []):
            if info.get("providerId") == provider and info.get("rawId") == raw_id:
                return user
    return None


def update(call: Call) -> dict[str, Any]:
    """accounts:update (setAccountInfo), in the emulator's order of checks."""
    state, body = call.state, call.body
    if not call.privileged:
        E.check(call.text("idToken") or call.text("oobCode"), E.INVALID_REQ_TYPE)
        E.check(body.get("customAttributes") is None, E.INSUFFICIENT_PERMISSION)
    else:
        E.check(call.text("localId"), E.MISSING_LOCAL_ID)
    attributes = call.text("customAttributes")
    if attributes is not None:
        _check_custom_attributes(attributes)
    deletions = body.get("deleteAttribute") or []
    for name in deletions:
        if name in ("PROVIDER", "RAW_USER_INFO"):
            raise E.not_implemented(f"deleteAttribute: {name}")
    updates: dict[str, Any] = {}
    new_email: str | None = None
    provider: str | None = None
    code = call.text("oobCode")
    if code is not None:
        user = _apply_code(call, code, updates)
        provider = PROVIDER_PASSWORD
    else:
        token = call.text("idToken")
        if token is not None:
            user, claims = parse_id_token(call, token)
            provider = provider_of(claims)
            E.check(body.get("disableUser") is None, E.OPERATION_NOT_ALLOWED)
        else:
            found = state.user(call.text("localId") or "")
            if found is None:
                E.fail(E.USER_NOT_FOUND)
            user = found
        if call.text("email") is not None:
            new_email = require_email(body["email"])
            if new_email != user.get("email"):
                E.check(state.user_by_email(new_email) is None, E.EMAIL_EXISTS)
                updates.update(email=new_email, emailVerified=False)
                if provider != PROVIDER_ANONYMOUS and user.get("email") and not user.get("initialEmail"):
                    updates["initialEmail"] = user["email"]
        password = call.text("password")
        if password is not None:
            updates.update(password_fields(call, password))
            provider = PROVIDER_PASSWORD
        if password is not None or body.get("validSince") or "email" in updates:
            updates["validSince"] = str(int(call.now))
        copied = ["displayName", "photoUrl"]
        if call.privileged:
            if body.get("disableUser") is not None:
                updates["disabled"] = body.get("disableUser") is True
            phone = call.text("phoneNumber")
            if phone is not None and phone != user.get("phoneNumber"):
                E.check(phone.startswith("+"), E.INVALID_PHONE_NUMBER)
                E.check(state.user_by_phone(phone) is None, E.PHONE_NUMBER_EXISTS)
                updates["phoneNumber"] = phone
            copied += ["emailVerified", "customAttributes", "createdAt", "lastLoginAt", "validSince"]
        for name in copied:
            if body.get(name) is not None:
                updates[name] = body[name]
        for name in deletions:
            for member in DELETABLE.get(name, ()):
                updates[member] = None
        removed = body.get("deleteProvider") or []
        if PROVIDER_PASSWORD in removed:
            updates.update(email=None, emailVerified=None, emailLinkSignin=None,
                           passwordHash=None, salt=None)
        if "phone" in removed:
            updates["phoneNumber"] = None
    user = state.update_user(user["localId"], updates,
                             delete_providers=list(body.get("deleteProvider") or []))
    reply: dict[str, Any] = {
        "kind": "identitytoolkit#SetAccountInfoResponse", "localId": user["localId"],
        "emailVerified": user.get("emailVerified"), "providerUserInfo": user.get("providerUserInfo"),
        "email": user.get("email"), "displayName": user.get("displayName"),
        "photoUrl": user.get("photoUrl"), "newEmail": new_email,
        "passwordHash": public_user(user).get("passwordHash"),
    }
    if updates.get("validSince") and provider:
        reply.update(issue_tokens(call, user, provider))  # a password or email change
    return reply


def _check_custom_attributes(text: str) -> None:
    E.check(len(text) <= MAX_CUSTOM_ATTRIBUTES, E.CLAIMS_TOO_LARGE)
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        E.fail(E.INVALID_CLAIMS)
    validate_claims(value)


def _apply_code(call: Call, code: str, updates: dict[str, Any]) -> User:
    """An action code applied through accounts:update (VERIFY_EMAIL, VERIFY_AND_CHANGE_EMAIL)."""
    state = call.state
    oob = state.oobs.get(code)
    if oob is None:
        E.fail(E.INVALID_OOB_CODE)
    kind = oob["requestType"]
    if kind not in ("VERIFY_EMAIL", "VERIFY_AND_CHANGE_EMAIL"):
        raise E.not_implemented(kind)
    state.take_oob(code)
    user = state.user_by_email(oob["email"])
    if user is None:
        E.fail(E.INVALID_OOB_CODE)
    if kind == "VERIFY_EMAIL":
        updates["emailVerified"] = True
        return user
    new_email = oob.get("newEmail")
    if not isinstance(new_email, str):
        E.fail(E.INVALID_OOB_CODE)
    E.check(state.user_by_email(new_email) is None, E.EMAIL_EXISTS)
    if new_email != user.get("email"):
        updates.update(email=new_email, emailVerified=True)
    return user


def delete(call: Call) -> dict[str, Any]:
    if call.privileged:
        local_id = call.text("localId")
        if local_id is None:
            E.fail(E.MISSING_LOCAL_ID)
        user = call.state.user(local_id)
        if user is None:
            E.fail(E.USER_NOT_FOUND)
    else:
        token = call.text("idToken")
        if token is None:
            E.fail(E.MISSING_ID_TOKEN)
        user = parse_id_token(call, token)[0]
    call.state.delete_user(user["localId"])
    return {"kind": "identitytoolkit#DeleteAccountResponse"}
