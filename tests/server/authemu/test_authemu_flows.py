"""The Auth emulator's flows, in process: tokens and their claims, refresh and revocation in each
mode, profile and password changes, action codes, admin listing, persistence and secrets at rest."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from focuscli.server.authemu.routes import NO_PAGE, AuthEmulator
from focuscli.server.authemu.state import REDACTED_HASH
from focuscli.server.authemu.tokens import CUSTOM_TOKEN_AUDIENCE, unsigned
from tests.server.authemu.conftest import NOW, PROJECT, TOKEN_URL, V1, Emu, claims_of

ADMIN_V1 = f"{V1}/projects/{PROJECT}"


def test_sign_up_with_a_display_name_gives_a_token_that_names_the_member(emu: Emu) -> None:
    reply = emu.sign_up("Ada@Example.com", displayName="Ada")
    assert reply["kind"] == "identitytoolkit#SignupNewUserResponse"
    assert (reply["email"], reply["displayName"], reply["expiresIn"]) == ("ada@example.com", "Ada", "3600")
    assert re.fullmatch(r"[A-Za-z0-9]{28}", reply["localId"])
    claims = claims_of(reply["idToken"])
    assert claims == {
        "name": "Ada", "email": "ada@example.com", "email_verified": False,
        "auth_time": int(NOW), "user_id": reply["localId"], "sub": reply["localId"],
        "firebase": {"identities": {"email": ["ada@example.com"]}, "sign_in_provider": "password"},
        "iat": int(NOW), "exp": int(NOW) + 3600, "aud": PROJECT,
        "iss": f"https://securetoken.google.com/{PROJECT}",
    }  # fmt: skip
    header = claims_of("x." + reply["idToken"].split(".")[0] + ".")
    if emu.secure:
        assert header == {"alg": "RS256", "kid": emu.codec.key.kid, "typ": "JWT"}  # type: ignore[attr-defined]
        assert emu.codec.read(reply["idToken"], project_id=PROJECT, now=NOW) == claims
    else:
        assert header == {"alg": "none", "typ": "JWT"} and reply["idToken"].endswith(".")


def test_anonymous_sign_up_and_its_upgrade_keep_the_uid(emu: Emu) -> None:
    anon = emu.sign_up(displayName="ignored for anonymous users")
    claims = claims_of(anon["idToken"])
    assert "email" not in claims and "name" not in claims and "displayName" not in anon
    assert (claims["provider_id"], claims["firebase"]["sign_in_provider"]) == ("anonymous", "anonymous")
    up = emu.call("accounts:signUp", {"idToken": anon["idToken"], "email": "a@b.c", "password": "secret6"})
    assert up["localId"] == anon["localId"]
    assert claims_of(up["idToken"])["firebase"]["sign_in_provider"] == "password"
    assert "provider_id" not in claims_of(up["idToken"])


def test_password_sign_in(emu: Emu) -> None:
    made = emu.sign_up("ada@example.com", displayName="Ada")
    emu.now += 60
    reply = emu.call("accounts:signInWithPassword", {"email": "ADA@example.com", "password": "secret6"})
    assert {k: reply[k] for k in ("kind", "registered", "localId", "email", "displayName", "expiresIn")} == {
        "kind": "identitytoolkit#VerifyPasswordResponse", "registered": True,
        "localId": made["localId"], "email": "ada@example.com", "displayName": "Ada", "expiresIn": "3600",
    }  # fmt: skip
    assert claims_of(reply["idToken"])["auth_time"] == int(NOW) + 60
    assert reply["refreshToken"] != made["refreshToken"]


@pytest.mark.parametrize("style", ["form", "json", "camel"])
def test_refresh_in_every_body_style(emu: Emu, style: str) -> None:
    made = emu.sign_up("ada@example.com")
    emu.now += 600
    token = made["refreshToken"]
    if style == "form":
        raw = f"grant_type=refresh_token&refresh_token={token}".encode()
        reply = emu.request("POST", TOKEN_URL, raw=raw,
                            headers={"content-type": "application/x-www-form-urlencoded"})
        body = reply.body
    else:
        fields = ({"grant_type": "refresh_token", "refresh_token": token} if style == "json"
                  else {"grantType": "refresh_token", "refreshToken": token})
        body = emu.call(TOKEN_URL, fields)
    assert body["id_token"] == body["access_token"]
    assert (body["refresh_token"], body["token_type"], body["expires_in"]) == (token, "Bearer", "3600")
    assert (body["user_id"], body["project_id"]) == (made["localId"], "12345")
    claims = claims_of(body["id_token"])
    assert (claims["iat"], claims["auth_time"]) == (int(NOW) + 600, int(NOW))


def test_the_token_lifetime_knob() -> None:
    emu = Emu(secure=False, lifetime=5)
    reply = emu.sign_up("a@b.c")
    claims = claims_of(reply["idToken"])
    assert (reply["expiresIn"], claims["exp"] - claims["iat"]) == ("5", 5)


def test_display_name_set_and_cleared_without_new_tokens(emu: Emu) -> None:
    made = emu.sign_up("ada@example.com")
    reply = emu.call("accounts:update", {"idToken": made["idToken"], "displayName": "Ada L.",
                                         "returnSecureToken": True})
    assert reply["displayName"] == "Ada L." and "idToken" not in reply and "refreshToken" not in reply
    assert reply["passwordHash"] == REDACTED_HASH
    refreshed = emu.refresh(made["refreshToken"])
    assert claims_of(refreshed["id_token"])["name"] == "Ada L."
    cleared = emu.call("accounts:update", {"idToken": made["idToken"], "deleteAttribute": ["DISPLAY_NAME"]})
    assert "displayName" not in cleared
    assert "name" not in claims_of(emu.refresh(made["refreshToken"])["id_token"])


def test_password_change_returns_tokens_and_ends_older_ones(emu: Emu) -> None:
    made = emu.sign_up("ada@example.com")
    emu.now += 5
    reply = emu.call("accounts:update", {"idToken": made["idToken"], "password": "n3w-secret"})
    assert claims_of(reply["idToken"])["iat"] == int(NOW) + 5 and reply["refreshToken"]
    assert emu.error("accounts:lookup", {"idToken": made["idToken"]}) == "TOKEN_EXPIRED"
    assert emu.call("accounts:lookup", {"idToken": reply["idToken"]})["users"][0]["localId"] == made["localId"]
    assert emu.error("accounts:signInWithPassword", {"email": "ada@example.com", "password": "secret6"}) == "INVALID_PASSWORD"
    emu.call("accounts:signInWithPassword", {"email": "ada@example.com", "password": "n3w-secret"})
    # The refresh token from before: the emulator keeps it working, production (secure) does not.
    if emu.secure:
        assert emu.refresh(made["refreshToken"], expect=400)["error"]["message"] == "TOKEN_EXPIRED"
    else:
        emu.refresh(made["refreshToken"])
    emu.refresh(reply["refreshToken"])  # the new one works in both modes


def test_revocation_disabling_and_deletion_of_refresh_tokens(emu: Emu) -> None:
    made = emu.sign_up("ada@example.com")
    emu.now += 2
    emu.admin_update(made["localId"], validSince=str(int(emu.now)))  # revoke_refresh_tokens
    if emu.secure:
        assert emu.refresh(made["refreshToken"], expect=400)["error"]["message"] == "TOKEN_EXPIRED"
    else:
        emu.refresh(made["refreshToken"])
    again = emu.call("accounts:signInWithPassword", {"email": "ada@example.com", "password": "secret6"})
    emu.refresh(again["refreshToken"])
    emu.admin_update(made["localId"], disableUser=True)
    assert emu.refresh(again["refreshToken"], expect=400)["error"]["message"] == "USER_DISABLED"
    emu.call(f"{ADMIN_V1}/accounts:delete", {"localId": made["localId"]}, admin=True, key=None)
    gone = "USER_NOT_FOUND" if emu.secure else "INVALID_REFRESH_TOKEN"
    assert emu.refresh(again["refreshToken"], expect=400)["error"]["message"] == gone
    # A new account under the same uid does not revive the old sessions.
    emu.call(f"{ADMIN_V1}/accounts", {"localId": made["localId"]}, admin=True, key=None)
    assert emu.refresh(again["refreshToken"], expect=400)["error"]["message"] == gone


def test_email_change_returns_tokens(emu: Emu) -> None:
    made = emu.sign_up("ada@example.com")
    reply = emu.call("accounts:update", {"idToken": made["idToken"], "email": "Ada2@Example.com"})
    assert (reply["email"], reply["emailVerified"], reply["newEmail"]) == ("ada2@example.com", False, "ada2@example.com")
    assert claims_of(reply["idToken"])["email"] == "ada2@example.com"
    user = emu.call(f"{ADMIN_V1}/accounts:lookup", {"localId": [made["localId"]]}, admin=True, key=None)["users"][0]
    assert user["initialEmail"] == "ada@example.com"
    emu.call("accounts:signInWithPassword", {"email": "ada2@example.com", "password": "secret6"})


def test_members_delete_themselves(emu: Emu) -> None:
    made = emu.sign_up("ada@example.com")
    assert emu.call("accounts:delete", {"idToken": made["idToken"]}) == {"kind": "identitytoolkit#DeleteAccountResponse"}
    assert emu.error("accounts:lookup", {"idToken": made["idToken"]}) == "USER_NOT_FOUND"
    assert emu.error("accounts:signInWithPassword", {"email": "ada@example.com", "password": "secret6"}) == "EMAIL_NOT_FOUND"


def test_expired_id_tokens_on_the_auth_endpoints(emu: Emu) -> None:
    made = emu.sign_up("ada@example.com")
    emu.now += 3600
    if emu.secure:  # production checks `exp`; an expired token is refreshed, not a sign-out
        assert emu.error("accounts:lookup", {"idToken": made["idToken"]}) == "INVALID_ID_TOKEN"
    else:  # the emulator never does
        emu.call("accounts:lookup", {"idToken": made["idToken"]})


def test_secure_mode_refuses_tokens_it_did_not_sign(secure_mode: Emu) -> None:
    made = secure_mode.sign_up("ada@example.com")
    claims = claims_of(made["idToken"])
    head, _, sig = made["idToken"].split(".")
    forged = {**claims, "user_id": "someone-else"}
    tampered = f"{head}.{unsigned(forged).split('.')[1]}.{sig}"
    for token in (unsigned(claims), tampered):
        assert secure_mode.error("accounts:lookup", {"idToken": token}) == "INVALID_ID_TOKEN"
        assert secure_mode.error("accounts:update", {"idToken": token, "password": "pwned!!"}) == "INVALID_ID_TOKEN"


def test_passwords_and_refresh_tokens_are_never_kept_in_clear(emu: Emu) -> None:
    made = emu.sign_up("ada@example.com", "first-Secret")
    emu.call("accounts:update", {"idToken": made["idToken"], "password": "second-Secret"})
    kept = json.dumps([v for v in emu.writes.values() if v])
    for secret in ("first-Secret", "second-Secret", made["refreshToken"]):
        assert secret not in kept
    assert "scrypt:" in kept
    admin = emu.call(f"{ADMIN_V1}/accounts:lookup", {"localId": [made["localId"]]}, admin=True, key=None)
    member = emu.call("accounts:lookup", {"idToken": emu.last.body.get("idToken") or made["idToken"]}, expect=None)
    listed = emu.call(f"{ADMIN_V1}/accounts:batchGet", method="GET", admin=True, key=None)
    for user in (admin["users"][0], listed["users"][0], *(member.get("users") or [])):
        assert user["passwordHash"] == REDACTED_HASH and "salt" not in user
        assert not any(k.startswith("_") for k in user)


def test_the_state_comes_back_from_its_records(emu: Emu) -> None:
    ada = emu.sign_up("ada@example.com", displayName="Ada")
    gone = emu.sign_up("gone@example.com")
    emu.call(f"{ADMIN_V1}/accounts:delete", {"localId": gone["localId"]}, admin=True, key=None)
    for email in ("x@example.com", "y@example.com"):
        emu.call("accounts:sendOobCode", {"requestType": "EMAIL_SIGNIN", "email": email})
    emu.call(f"/emulator/v1/projects/{PROJECT}/config", {"emailPrivacyConfig": {"enableImprovedEmailPrivacy": True}},
             method="PATCH", admin=True, key=None)
    records = {name: text for name, text in emu.writes.items() if text is not None}
    restarted = Emu(secure=emu.secure, key=getattr(emu.codec, "key", None))
    restarted.emulator.load(records)
    restarted.call("accounts:signInWithPassword", {"email": "ada@example.com", "password": "secret6"})
    assert claims_of(restarted.refresh(ada["refreshToken"])["id_token"])["name"] == "Ada"
    assert restarted.refresh(gone["refreshToken"], expect=400)["error"]["message"] in ("INVALID_REFRESH_TOKEN", "USER_NOT_FOUND")
    codes = restarted.call(f"/emulator/v1/projects/{PROJECT}/oobCodes", method="GET", admin=True, key=None)
    assert [c["email"] for c in codes["oobCodes"]] == ["x@example.com", "y@example.com"]
    assert restarted.error("accounts:signInWithPassword", {"email": "no@example.com", "password": "secret6"}) == "INVALID_LOGIN_CREDENTIALS"


def test_email_link_sign_in(emu: Emu) -> None:
    emu.call("accounts:sendOobCode", {"requestType": "EMAIL_SIGNIN", "email": "New@Example.com",
                                      "continueUrl": "https://app.example/done?x=1", "canHandleCodeInApp": True})
    listed = emu.call(f"/emulator/v1/projects/{PROJECT}/oobCodes", method="GET", admin=True, key=None)["oobCodes"]
    assert len(listed) == 1 and listed[0]["requestType"] == "EMAIL_SIGNIN" and listed[0]["email"] == "new@example.com"
    code = listed[0]["oobCode"]
    assert re.fullmatch(r"[A-Za-z0-9_-]{54}", code)
    link = urlsplit(listed[0]["oobLink"])
    assert (link.path, parse_qs(link.query)) == ("/emulator/action", {
        "mode": ["signIn"], "lang": ["en"], "oobCode": [code], "apiKey": ["fake-api-key"],
        "continueUrl": ["https://app.example/done?x=1"]})  # fmt: skip
    assert emu.error("accounts:signInWithEmailLink", {"email": "other@example.com", "oobCode": code}) == (
        "INVALID_EMAIL : The email provided does not match the sign-in email address.")
    reply = emu.call("accounts:signInWithEmailLink", {"email": "new@example.com", "oobCode": code})
    assert (reply["isNewUser"], reply["email"]) == (True, "new@example.com")
    assert claims_of(reply["idToken"])["email_verified"] is True
    assert emu.error("accounts:signInWithEmailLink", {"email": "new@example.com", "oobCode": code}) == "INVALID_OOB_CODE"
    assert emu.call(f"/emulator/v1/projects/{PROJECT}/oobCodes", method="GET", admin=True, key=None)["oobCodes"] == []


def test_password_reset_by_code(emu: Emu) -> None:
    emu.sign_up("ada@example.com")
    emu.call("accounts:sendOobCode", {"requestType": "PASSWORD_RESET", "email": "ada@example.com"})
    code = emu.call(f"/emulator/v1/projects/{PROJECT}/oobCodes", method="GET", admin=True, key=None)["oobCodes"][0]["oobCode"]
    peek = emu.call("accounts:resetPassword", {"oobCode": code})
    assert peek == {"kind": "identitytoolkit#ResetPasswordResponse", "requestType": "PASSWORD_RESET", "email": "ada@example.com"}
    assert emu.error("accounts:resetPassword", {"oobCode": code, "newPassword": "short"}).startswith("WEAK_PASSWORD")
    emu.call("accounts:resetPassword", {"oobCode": code, "newPassword": "after-reset"})
    reply = emu.call("accounts:signInWithPassword", {"email": "ada@example.com", "password": "after-reset"})
    assert claims_of(reply["idToken"])["email_verified"] is True
    assert emu.error("accounts:resetPassword", {"oobCode": code}) == "INVALID_OOB_CODE"


def test_email_verification_by_code(emu: Emu) -> None:
    made = emu.sign_up("ada@example.com")
    emu.call("accounts:sendOobCode", {"requestType": "VERIFY_EMAIL", "idToken": made["idToken"]})
    code = emu.call(f"/emulator/v1/projects/{PROJECT}/oobCodes", method="GET", admin=True, key=None)["oobCodes"][0]["oobCode"]
    assert emu.call("accounts:update", {"oobCode": code})["emailVerified"] is True
    link = emu.call(f"{ADMIN_V1}/accounts:sendOobCode", {"requestType": "VERIFY_EMAIL", "email": "ada@example.com",
                                                         "returnOobLink": True}, admin=True, key=None)
    assert "mode=verifyEmail" in link["oobLink"] and link["oobCode"] in link["oobLink"]


def test_custom_tokens_in_emulator_mode(emulator_mode: Emu) -> None:
    token = unsigned({"aud": CUSTOM_TOKEN_AUDIENCE, "iat": 1, "exp": 2, "uid": "bot-1",
                      "iss": "firebase-auth-emulator@example.com", "claims": {"role": "bot"}})
    first = emulator_mode.call("accounts:signInWithCustomToken", {"token": token, "returnSecureToken": True})
    claims = claims_of(first["idToken"])
    assert (first["isNewUser"], claims["sub"], claims["role"], claims["firebase"]["sign_in_provider"]) == (
        True, "bot-1", "bot", "custom")
    assert claims_of(emulator_mode.refresh(first["refreshToken"])["id_token"])["role"] == "bot"
    again = emulator_mode.call("accounts:signInWithCustomToken", {"token": '{"uid": 42}'})
    assert (again["isNewUser"], claims_of(again["idToken"])["sub"]) == (True, "42")
    assert emulator_mode.call("accounts:signInWithCustomToken", {"token": token})["isNewUser"] is False


def test_custom_attributes_reach_tokens(emu: Emu) -> None:
    made = emu.sign_up("ada@example.com")
    emu.admin_update(made["localId"], customAttributes=json.dumps({"admin": True, "email": "spoof@x"}))
    claims = claims_of(emu.refresh(made["refreshToken"])["id_token"])
    assert claims["admin"] is True and claims["email"] == "ada@example.com"  # reserved members win


def test_listing_and_batch_deletion() -> None:
    emu = Emu(secure=False)
    ids = sorted(emu.call(f"{ADMIN_V1}/accounts", {"localId": f"u{i}"}, admin=True, key=None)["localId"] for i in range(5))
    pages, token = [], ""
    while True:
        page = emu.call(f"{ADMIN_V1}/accounts:batchGet", method="GET", admin=True, key=None,
                        query=f"maxResults=2&nextPageToken={token}")
        pages.append([u["localId"] for u in page.get("users", [])])
        token = page.get("nextPageToken")
        if not token:
            break
    assert pages == [ids[0:2], ids[2:4], ids[4:5]]
    reply = emu.call(f"{ADMIN_V1}/accounts:batchDelete", {"localIds": ["u0", "u1"]}, admin=True, key=None)
    assert reply == {"errors": [{"index": 0, "localId": "u0", "message": "NOT_DISABLED : Disable the account before batch deletion."},
                                {"index": 1, "localId": "u1", "message": "NOT_DISABLED : Disable the account before batch deletion."}]}
    assert emu.call(f"{ADMIN_V1}/accounts:batchDelete", {"localIds": ["u0", "nosuch"], "force": True}, admin=True, key=None) == {}
    assert "users" not in emu.call(f"{ADMIN_V1}/accounts:lookup", {"localId": ["u0"]}, admin=True, key=None)


def test_admin_lookup_by_every_identifier() -> None:
    emu = Emu(secure=False)
    a = emu.call(f"{ADMIN_V1}/accounts", {"email": "a@x.y", "phoneNumber": "+1555"}, admin=True, key=None)["localId"]
    b = emu.call(f"{ADMIN_V1}/accounts", {"email": "b@x.y", "password": "secret6"}, admin=True, key=None)["localId"]
    found = emu.call(f"{ADMIN_V1}/accounts:lookup", {
        "localId": [a, "nosuch"], "email": ["A@X.Y"], "phoneNumber": ["+1555"],
        "federatedUserId": [{"providerId": "password", "rawId": "b@x.y"}]}, admin=True, key=None)  # fmt: skip
    assert [u["localId"] for u in found["users"]] == [a, b]


def test_projects_are_separate() -> None:
    emu = Emu(secure=False)
    other = f"{V1}/projects/other-project"
    made = emu.call(f"{other}/accounts", {"email": "a@x.y", "password": "secret6"}, admin=True, key=None)
    assert "users" not in emu.call(f"{ADMIN_V1}/accounts:lookup", {"localId": [made["localId"]]}, admin=True, key=None)
    assert emu.call(f"{other}/accounts:lookup", {"localId": [made["localId"]]}, admin=True, key=None)["users"]
    assert emu.error("accounts:signInWithPassword", {"email": "a@x.y", "password": "secret6"}) == "EMAIL_NOT_FOUND"


def test_session_cookies(emu: Emu) -> None:
    made = emu.sign_up("ada@example.com")
    cookie = emu.call(f"{ADMIN_V1}:createSessionCookie", {"idToken": made["idToken"], "validDuration": "3600"},
                      admin=True, key=None)["sessionCookie"]
    claims = claims_of(cookie)
    assert (claims["iss"], claims["exp"] - claims["iat"], claims["sub"]) == (
        f"https://session.firebase.google.com/{PROJECT}", 3600, made["localId"])


def test_readiness_and_the_page_route() -> None:
    emulator = Emu(secure=False).emulator
    ready = emulator.handle("GET", "/", "", {}, b"", now=NOW, base_url="http://x")
    assert (ready.status, ready.body["authEmulator"]["ready"]) == (200, True)
    page = emulator.handle("GET", "/", "", {"accept": "text/html,*/*"}, b"", now=NOW, base_url="http://x")
    assert (page.status, page.body["error"]["message"]) == (404, NO_PAGE)
    assert isinstance(emulator, AuthEmulator)


def test_replies_are_pretty_printed_without_empty_members(emu: Emu) -> None:
    emu.sign_up("ada@example.com")
    text = emu.last.encoded().decode()  # type: ignore[union-attr]
    assert text.startswith('{\n  "kind": ') and "null" not in text
    parsed: dict[str, Any] = json.loads(text)
    assert "displayName" not in parsed


def test_requests_naming_made_up_projects_leave_nothing_behind() -> None:
    emu = Emu(secure=False)
    for i in range(3):
        emu.call(f"/emulator/v1/projects/made-up-{i}/config", method="GET", key=None)
        emu.call(f"{V1}/projects/made-up-{i}/accounts:lookup", {"localId": ["x"]}, admin=True, key=None)
    assert emu.emulator.projects == {}
    emu.call(f"{V1}/projects/made-up-0/accounts", {}, admin=True, key=None)
    assert list(emu.emulator.projects) == ["made-up-0"]
