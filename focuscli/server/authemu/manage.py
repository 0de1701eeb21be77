"""Project-wide administration: listing and batch deletion of users, session cookies, and the
emulator-only endpoints (wipe accounts, settings, pending codes)."""

from __future__ import annotations

from typing import Any

from focuscli.server.authemu import errors as E
from focuscli.server.authemu.context import Call
from focuscli.server.authemu.signin import parse_id_token
from focuscli.server.authemu.state import public_user

MAX_BATCH = 1000
SESSION_MIN_S, SESSION_MAX_S = 5 * 60, 14 * 24 * 3600


def batch_get(call: Call) -> dict[str, Any]:
    """GET accounts:batchGet?maxResults=N&nextPageToken=T: users by uid, a page at a time."""
    raw = call.query.get("maxResults", "")
    try:
        wanted = int(float(raw)) if raw else 20
    except ValueError:
        raise E.invalid_argument(f"maxResults must be an integer, not {raw!r}") from None
    wanted = min(wanted or 20, MAX_BATCH)
    after = call.query.get("nextPageToken", "")
    users = [u for u in call.state.sorted_users() if u["localId"] > after]
    token = None
    if wanted >= 0 and len(users) >= wanted:  # -1: everything (the emulator's own extension)
        users = users[:wanted]
        token = users[-1]["localId"] if users else None
    return {"kind": "identitytoolkit#DownloadAccountResponse",
            "users": [public_user(u) for u in users], "nextPageToken": token}


def batch_delete(call: Call) -> dict[str, Any]:
    ids = call.body.get("localIds") or []
    E.check(0 < len(ids) <= MAX_BATCH, E.LOCAL_ID_LIST_EXCEEDS_LIMIT)
    errors = []
    for index, local_id in enumerate(ids):
        user = call.state.user(local_id)
        if user is None:
            continue
        if not user.get("disabled") and not call.flag("force"):
            errors.append({"index": index, "localId": local_id, "message": E.NOT_DISABLED})
        else:
            call.state.delete_user(local_id)
    return {"errors": errors or None}


def create_session_cookie(call: Call) -> dict[str, Any]:
    token = call.text("idToken")
    if token is None:
        E.fail(E.MISSING_ID_TOKEN)
    try:
        duration = int(float(call.body.get("validDuration") or SESSION_MAX_S)) or SESSION_MAX_S
    except (TypeError, ValueError):
        duration = 0
    E.check(SESSION_MIN_S <= duration <= SESSION_MAX_S, E.INVALID_DURATION)
    claims = dict(parse_id_token(call, token)[1])
    issued = int(call.now)
    claims.update(iat=issued, exp=issued + duration,
                  iss=f"https://session.firebase.google.com/{claims.get('aud')}")
    return {"sessionCookie": call.settings.codec.encode(claims)}


# -- /emulator/v1/projects/{p}/... ----------------------------------------------------------


def delete_all_accounts(call: Call) -> dict[str, Any]:
    call.state.delete_all_users()
    return {}


def get_config(call: Call) -> dict[str, Any]:
    config = call.state.config
    return {"signIn": {"allowDuplicateEmails": config["allowDuplicateEmails"]},
            "emailPrivacyConfig": {"enableImprovedEmailPrivacy": config["enableImprovedEmailPrivacy"]}}


def update_config(call: Call) -> dict[str, Any]:
    """PATCH config: only the members present change."""
    for section, name in (("signIn", "allowDuplicateEmails"),
                          ("emailPrivacyConfig", "enableImprovedEmailPrivacy")):
        part = call.body.get(section)
        if isinstance(part, dict) and part.get(name) is not None:
            value = part[name]
            if not isinstance(value, bool):
                raise E.invalid_argument(f"/{section}/{name} must be boolean")
            if name == "allowDuplicateEmails" and value:
                raise E.not_implemented("signIn.allowDuplicateEmails")
            call.state.set_config(name, value)
    return get_config(call)


def list_oob_codes(call: Call) -> dict[str, Any]:
    codes = [{k: v for k, v in o.items() if not k.startswith("_")} for o in call.state.oobs.values()]
    return {"oobCodes": codes}


def list_verification_codes(call: Call) -> dict[str, Any]:
    return {"verificationCodes": []}  # no phone sign-in: nothing is ever pending
