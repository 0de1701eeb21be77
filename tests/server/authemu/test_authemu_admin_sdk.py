"""firebase-admin-python's `auth` module against `focus serve` as the Auth emulator
(FIREBASE_AUTH_EMULATOR_HOST), unchanged: users, claims, revocation, custom tokens, verification."""

from __future__ import annotations

import datetime
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import requests

pytestmark = pytest.mark.focus_serve

PROJECT = "demo-focus"


@contextmanager
def admin_app(url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """An App in the Auth emulator mode firebase-admin enters on FIREBASE_AUTH_EMULATOR_HOST."""
    import firebase_admin

    monkeypatch.setenv("FIREBASE_AUTH_EMULATOR_HOST", url.removeprefix("http://"))
    app = firebase_admin.initialize_app(options={"projectId": PROJECT}, name=f"auth-{uuid.uuid4().hex}")
    try:
        yield app
    finally:
        firebase_admin.delete_app(app)


@pytest.fixture
def admin(server_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with admin_app(server_url, monkeypatch) as app:
        yield app


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:10]}@example.com"


def sign_in_with_custom_token(url: str, token: bytes) -> dict[str, Any]:
    resp = requests.post(f"{url}/identitytoolkit.googleapis.com/v1/accounts:signInWithCustomToken?key=fake",
                         json={"token": token.decode(), "returnSecureToken": True}, timeout=10)
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_user_lifecycle(admin: Any) -> None:
    from firebase_admin import auth

    email = unique("ada")
    user = auth.create_user(email=email, password="secret66", display_name="Ada", app=admin)
    assert (user.email, user.display_name, user.email_verified, user.disabled) == (email, "Ada", False, False)
    assert user.provider_data[0].provider_id == "password"
    assert abs(user.user_metadata.creation_timestamp / 1000 - time.time()) < 60
    assert auth.get_user_by_email(email.upper(), app=admin).uid == user.uid
    updated = auth.update_user(user.uid, display_name="Ada L.", email_verified=True, disabled=True, app=admin)
    assert (updated.display_name, updated.email_verified, updated.disabled) == ("Ada L.", True, True)
    cleared = auth.update_user(user.uid, display_name=auth.DELETE_ATTRIBUTE, app=admin)
    assert cleared.display_name is None
    found = auth.get_users([auth.UidIdentifier(user.uid), auth.EmailIdentifier("nobody@example.com")], app=admin)
    assert [u.uid for u in found.users] == [user.uid] and len(found.not_found) == 1
    auth.delete_user(user.uid, app=admin)
    with pytest.raises(auth.UserNotFoundError):
        auth.get_user(user.uid, app=admin)
    with pytest.raises(auth.UserNotFoundError):
        auth.delete_user(user.uid, app=admin)


def test_uids_and_emails_are_unique(admin: Any) -> None:
    from firebase_admin import auth

    uid = f"u-{uuid.uuid4().hex[:8]}"
    email = unique("bob")
    auth.create_user(uid=uid, email=email, app=admin)
    with pytest.raises(auth.UidAlreadyExistsError):
        auth.create_user(uid=uid, app=admin)
    with pytest.raises(auth.EmailAlreadyExistsError):
        auth.create_user(email=email, app=admin)


def test_listing_and_batch_deletion(admin: Any) -> None:
    from firebase_admin import auth

    prefix = f"list-{uuid.uuid4().hex[:8]}"
    uids = [auth.create_user(uid=f"{prefix}-{i}", password="secret66", app=admin).uid for i in range(3)]
    listed = [u for u in auth.list_users(max_results=2, app=admin).iterate_all() if u.uid.startswith(prefix)]
    assert [u.uid for u in listed] == uids
    # Redacted as production redacts ("REDACTED" in base64, no salt); never the emulator's clear text.
    assert [(u.password_hash, u.password_salt) for u in listed] == [("UkVEQUNURUQ=", None)] * 3
    result = auth.delete_users(uids, app=admin)
    assert (result.success_count, result.failure_count) == (3, 0)
    assert auth.get_users([auth.UidIdentifier(u) for u in uids], app=admin).users == []


def test_custom_claims_custom_tokens_and_verification(admin: Any, server_url: str) -> None:
    from firebase_admin import auth

    uid = f"bot-{uuid.uuid4().hex[:8]}"
    signed_in = sign_in_with_custom_token(server_url, auth.create_custom_token(uid, {"role": "bot"}, app=admin))
    assert signed_in["isNewUser"] is True
    claims = auth.verify_id_token(signed_in["idToken"], app=admin, check_revoked=True)
    assert (claims["uid"], claims["role"], claims["firebase"]["sign_in_provider"]) == (uid, "bot", "custom")
    auth.set_custom_user_claims(uid, {"admin": True}, app=admin)
    assert auth.get_user(uid, app=admin).custom_claims == {"admin": True}
    again = sign_in_with_custom_token(server_url, auth.create_custom_token(uid, app=admin))
    assert again["isNewUser"] is False
    assert auth.verify_id_token(again["idToken"], app=admin)["admin"] is True


def test_revocation_is_seen_by_verify_id_token(monkeypatch: pytest.MonkeyPatch) -> None:
    from firebase_admin import auth

    from focuscli.server import LocalServer

    # validSince has one-second resolution and firebase-admin sends its own clock's second: a
    # server clock 5 s behind makes the token older than the revocation without sleeping.
    with LocalServer(port=0, clock=lambda: time.time() - 5) as server, admin_app(server.url, monkeypatch) as app:
        uid = "rev-1"
        token = sign_in_with_custom_token(server.url, auth.create_custom_token(uid, app=app))["idToken"]
        assert auth.verify_id_token(token, app=app, check_revoked=True)["uid"] == uid
        auth.revoke_refresh_tokens(uid, app=app)
        assert auth.get_user(uid, app=app).tokens_valid_after_timestamp > 0
        with pytest.raises(auth.RevokedIdTokenError):
            auth.verify_id_token(token, app=app, check_revoked=True)
        assert auth.verify_id_token(token, app=app)["uid"] == uid  # unchecked, as production
        fresh = sign_in_with_custom_token(server.url, auth.create_custom_token(uid, app=app))["idToken"]
        auth.update_user(uid, disabled=True, app=app)
        with pytest.raises(auth.UserDisabledError):
            auth.verify_id_token(fresh, app=app, check_revoked=True)


def test_links_and_session_cookies(admin: Any, server_url: str) -> None:
    from firebase_admin import auth

    email = unique("cara")
    auth.create_user(email=email, password="secret66", app=admin)
    link = auth.generate_password_reset_link(email, app=admin)
    assert link.startswith(server_url + "/emulator/action?mode=resetPassword&lang=en&oobCode=")
    assert "mode=verifyEmail" in auth.generate_email_verification_link(email, app=admin)
    resp = requests.post(f"{server_url}/identitytoolkit.googleapis.com/v1/accounts:signInWithPassword?key=k",
                         json={"email": email, "password": "secret66", "returnSecureToken": True}, timeout=10)
    cookie = auth.create_session_cookie(resp.json()["idToken"], datetime.timedelta(hours=1), app=admin)
    assert auth.verify_session_cookie(cookie, app=admin)["email"] == email
