"""Action codes (email sign-in links, password resets, email verification): nothing is mailed,
codes wait in the project's state for the link's owner or the emulator's /oobCodes listing."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlsplit

from focuscli.server.authemu import errors as E
from focuscli.server.authemu.context import Call
from focuscli.server.authemu.signin import parse_id_token, password_fields
from focuscli.server.authemu.state import canonical_email

MODES = {"EMAIL_SIGNIN": "signIn", "PASSWORD_RESET": "resetPassword", "VERIFY_EMAIL": "verifyEmail",
         "VERIFY_AND_CHANGE_EMAIL": "verifyAndChangeEmail"}  # fmt: skip
# The request types in protobuf order (some SDKs send the number instead of the name).
REQUEST_TYPES = ("OOB_REQ_TYPE_UNSPECIFIED", "PASSWORD_RESET", "OLD_EMAIL_AGREE", "NEW_EMAIL_ACCEPT",
                 "VERIFY_EMAIL", "RECOVER_EMAIL", "EMAIL_SIGNIN", "VERIFY_AND_CHANGE_EMAIL",
                 "REVERT_SECOND_FACTOR_ADDITION")  # fmt: skip


def _absolute(url: str) -> bool:
    parts = urlsplit(url)
    return bool(parts.scheme) and bool(parts.netloc)


def send_oob_code(call: Call) -> dict[str, Any]:
    state, body = call.state, call.body
    kind = body.get("requestType")
    if isinstance(kind, int):
        kind = REQUEST_TYPES[kind] if 0 <= kind < len(REQUEST_TYPES) else str(kind)
    if kind is not None and kind not in REQUEST_TYPES:
        raise E.invalid_argument(f"/requestType must be one of {', '.join(REQUEST_TYPES)}")
    E.check(kind and kind != "OOB_REQ_TYPE_UNSPECIFIED", E.MISSING_REQ_TYPE)
    if call.flag("returnOobLink"):
        E.check(call.privileged, E.INSUFFICIENT_PERMISSION)
    continue_url = call.text("continueUrl")
    if continue_url is not None:
        E.check(_absolute(continue_url), E.INVALID_CONTINUE_URI)
    new_email: str | None = None
    if kind == "EMAIL_SIGNIN":
        email = _email_member(call)
    elif kind == "PASSWORD_RESET":
        email = _email_member(call)
        if state.user_by_email(email) is None:
            if state.config["enableImprovedEmailPrivacy"]:
                return {"kind": "identitytoolkit#GetOobConfirmationCodeResponse", "email": email}
            E.fail(E.EMAIL_NOT_FOUND)
    elif kind == "VERIFY_EMAIL":
        email = _subject_email(call, kind)
    elif kind == "VERIFY_AND_CHANGE_EMAIL":
        target = call.text("newEmail")
        if target is None:
            E.fail(E.MISSING_NEW_EMAIL)
        new_email = canonical_email(target)
        email = _subject_email(call, kind)
        E.check(state.user_by_email(new_email) is None, E.EMAIL_EXISTS)
    else:
        raise E.not_implemented(str(kind))
    link = (f"{call.base_url}/emulator/action?mode={MODES[kind]}&lang=en&oobCode={{oobCode}}"
            "&apiKey=fake-api-key")
    if continue_url is not None:
        link += "&continueUrl=" + quote(continue_url, safe="")
    record = state.new_oob(email, new_email, kind, link)
    reply = {"kind": "identitytoolkit#GetOobConfirmationCodeResponse", "email": email}
    if call.flag("returnOobLink"):
        reply.update(oobCode=record["oobCode"], oobLink=record["oobLink"])
    else:
        call.log.append(f"{kind} code for {email}: {record['oobLink']}")
    return reply


def _email_member(call: Call) -> str:
    email = call.text("email")
    if email is None:
        E.fail(E.MISSING_EMAIL)
    return canonical_email(email)


def _subject_email(call: Call, kind: str) -> str:
    """The email a verification code is for: an admin names it, a member's token says it."""
    if call.flag("returnOobLink") and call.text("idToken") is None:
        email = _email_member(call)
        E.check(call.state.user_by_email(email) is not None, E.USER_NOT_FOUND)
        return email
    token = call.text("idToken")
    if token is None:
        # VERIFY_EMAIL reads the token as given, so a missing one is an invalid one (as the
        # emulator answers); VERIFY_AND_CHANGE_EMAIL asks for it first.
        E.check(kind != "VERIFY_EMAIL", E.INVALID_ID_TOKEN)
        E.fail(E.MISSING_ID_TOKEN)
    user = parse_id_token(call, token)[0]
    E.check(user.get("email"), E.MISSING_EMAIL)
    return str(user["email"])


def reset_password(call: Call) -> dict[str, Any]:
    """With ``newPassword`` it consumes a PASSWORD_RESET code; without, it only inspects a code."""
    state = call.state
    code = call.text("oobCode")
    if code is None:
        E.fail(E.MISSING_OOB_CODE)
    oob = state.oobs.get(code)
    if oob is None:
        E.fail(E.INVALID_OOB_CODE)
    password = call.text("newPassword")
    if password is not None:
        E.check(oob["requestType"] == "PASSWORD_RESET", E.INVALID_OOB_CODE)
        fields = password_fields(call, password)
        state.take_oob(code)
        user = state.user_by_email(oob["email"])
        if user is None:
            E.fail(E.INVALID_OOB_CODE)
        state.update_user(user["localId"], {**fields, "emailVerified": True})
    return {"kind": "identitytoolkit#ResetPasswordResponse", "requestType": oob["requestType"],
            # an email sign-in code does not reveal its address: the link's owner must know it
            "email": None if oob["requestType"] == "EMAIL_SIGNIN" else oob["email"],
            "newEmail": oob.get("newEmail")}
