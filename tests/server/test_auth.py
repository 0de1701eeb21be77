"""Unit tests for focuscli.server.auth in emulator mode: credential carriers, admin modes,
unsigned JWTs, overrides (secure mode: tests/server/test_identities_secure.py)."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from focuscli.server.auth import (
    BAD_OVERRIDE,
    EXPIRED,
    UNPARSABLE,
    AuthError,
    Identities,
    Identity,
    load_or_create_secret,
)

NOW = 1_700_000_000.0
SECRET = "s3cr3t-Value_0123456789"


def b64(obj: Any) -> str:
    raw = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def jwt(claims: dict[str, Any], header: Any = None, sig: str = "") -> str:
    """An emulator-style unsigned token: ``<header>.<payload>.<sig>``."""
    return f"{b64(header or {'alg': 'none', 'type': 'JWT'})}.{b64(claims)}.{sig}"


USER_CLAIMS: dict[str, Any] = {
    "iss": "https://securetoken.google.com/demo-focus",
    "aud": "demo-focus",
    "iat": NOW - 10,
    "exp": NOW + 3600,
    "auth_time": NOW - 10,
    "sub": "alice",
    "user_id": "alice",
    "email": "alice@example.com",
    "firebase": {"sign_in_provider": "password", "identities": {}},
    "admin": True,
}
USER = jwt(USER_CLAIMS)
USER_AUTH = {"uid": "alice", "token": USER_CLAIMS, "provider": "password"}


def resolve(
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
    secret: str | None = None,
) -> Identity:
    return Identities(admin_secret=secret).resolve(headers or {}, params or {}, now=NOW)


def auth_error(**kw: Any) -> AuthError:
    with pytest.raises(AuthError) as info:
        resolve(**kw)
    return info.value


# -- carriers ----------------------------------------------------------------------------------


def test_no_credentials_is_anonymous() -> None:
    assert resolve() == Identity(admin=False, auth=None)


CARRIERS = [
    pytest.param(lambda t: ({"authorization": f"Bearer {t}"}, {}), id="bearer"),
    pytest.param(lambda t: ({"authorization": f"bearer {t}"}, {}), id="bearer-lowercase"),
    pytest.param(lambda t: ({}, {"access_token": t}), id="access_token"),
    pytest.param(lambda t: ({}, {"auth": t}), id="auth"),
]


@pytest.mark.parametrize("carry", CARRIERS)
def test_owner_is_admin_in_loopback_mode(carry: Any) -> None:
    headers, params = carry("owner")
    assert resolve(headers, params) == Identity(admin=True, auth=None)


@pytest.mark.parametrize("carry", CARRIERS)
def test_user_token_in_every_carrier(carry: Any) -> None:
    headers, params = carry(USER)
    assert resolve(headers, params) == Identity(admin=False, auth=USER_AUTH)


@pytest.mark.parametrize("carry", CARRIERS)
def test_garbage_token_in_every_carrier(carry: Any) -> None:
    headers, params = carry("not-a-token")
    err = auth_error(headers=headers, params=params)
    assert (err.status, err.message, str(err)) == (401, UNPARSABLE, UNPARSABLE)
    assert UNPARSABLE == "Could not parse auth token."


def test_header_wins_over_query_carriers() -> None:
    ident = resolve({"authorization": f"Bearer {USER}"}, {"access_token": "owner", "auth": "owner"})
    assert ident == Identity(admin=False, auth=USER_AUTH)
    assert resolve({}, {"access_token": "owner", "auth": USER}).admin is True


@pytest.mark.parametrize("value", ["", "Bearer", "Bearer ", "  "])
def test_empty_bearer_is_no_credential(value: str) -> None:
    assert resolve({"authorization": value}) == Identity(admin=False, auth=None)


@pytest.mark.parametrize("value", ["Basic b3duZXI6", "Token owner", "owner"])
def test_other_authorization_schemes_are_refused(value: str) -> None:
    assert auth_error(headers={"authorization": value}).message == UNPARSABLE


def test_empty_query_carriers_are_no_credential() -> None:
    assert resolve({}, {"access_token": "", "auth": ""}) == Identity(admin=False, auth=None)


# -- admin secret mode -------------------------------------------------------------------------


@pytest.mark.parametrize("carry", CARRIERS)
def test_secret_mode_owner_is_just_a_bad_token(carry: Any) -> None:
    headers, params = carry("owner")
    err = auth_error(headers=headers, params=params, secret=SECRET)
    assert (err.status, err.message) == (401, UNPARSABLE)


@pytest.mark.parametrize("carry", CARRIERS)
def test_secret_mode_secret_is_admin(carry: Any) -> None:
    headers, params = carry(SECRET)
    assert resolve(headers, params, secret=SECRET) == Identity(admin=True, auth=None)


@pytest.mark.parametrize("token", [SECRET + "x", SECRET[:-1], SECRET.upper(), "ownér"])
def test_secret_mode_near_misses_are_refused(token: str) -> None:
    err = auth_error(headers={"authorization": f"Bearer {token}"}, secret=SECRET)
    assert (err.status, err.message) == (401, UNPARSABLE)


def test_secret_mode_user_tokens_still_work() -> None:
    assert resolve({}, {"auth": USER}, secret=SECRET) == Identity(admin=False, auth=USER_AUTH)


def test_secret_mode_without_credentials_is_anonymous() -> None:
    assert resolve(secret=SECRET) == Identity(admin=False, auth=None)


# -- JWT parsing -------------------------------------------------------------------------------


def test_uid_from_user_id_when_no_sub() -> None:
    claims = {"user_id": "bob", "exp": NOW + 60}
    assert resolve({}, {"auth": jwt(claims)}).auth == {"uid": "bob", "token": claims}


def test_sub_wins_over_user_id_and_token_keeps_every_claim() -> None:
    claims = {"sub": "carol", "user_id": "other", "role": "x", "firebase": {"tenant": "t1"}}
    auth = resolve({}, {"auth": jwt(claims)}).auth
    assert auth == {"uid": "carol", "token": claims}  # no sign_in_provider -> no provider


def test_signature_is_not_verified() -> None:
    token = jwt(USER_CLAIMS, header={"alg": "RS256", "kid": "x"}, sig="Zm9vYmFy")
    assert resolve({}, {"auth": token}).auth == USER_AUTH


def test_padded_base64_is_accepted() -> None:
    header, payload, _ = USER.split(".")
    token = f"{header}{'=' * (-len(header) % 4)}.{payload}{'=' * (-len(payload) % 4)}."
    assert resolve({}, {"auth": token}).auth == USER_AUTH


def test_expired_token() -> None:
    for exp in (NOW - 1, NOW):
        err = auth_error(params={"auth": jwt({"sub": "a", "exp": exp})})
        assert (err.status, err.message) == (401, EXPIRED)
    assert EXPIRED == "Auth token is expired."
    assert resolve({}, {"auth": jwt({"sub": "a", "exp": NOW + 1})}).auth is not None


def test_real_clock_is_used_by_default() -> None:
    token = jwt({"sub": "a", "exp": 1})  # 1970
    with pytest.raises(AuthError, match="expired"):
        Identities(admin_secret=None).resolve({}, {"auth": token})


NAN_PAYLOAD = b'{"sub": "a", "x": NaN}'
BAD_TOKENS = {
    "one part": "abc",
    "two parts": f"{b64({'alg': 'none'})}.{b64({'sub': 'a'})}",
    "four parts": f"{b64({'alg': 'none'})}.{b64({'sub': 'a'})}..",
    "bad base64": f"{b64({'alg': 'none'})}.@@@@.",
    "payload not json": f"{b64({'alg': 'none'})}.{b64(b'not json')}.",
    "payload not utf-8": f"{b64({'alg': 'none'})}.{b64(bytes([0xFF, 0xFE]))}.",
    "payload an array": f"{b64({'alg': 'none'})}.{b64(['sub'])}.",
    "header not json": f"{b64(b'{')}.{b64({'sub': 'a'})}.",
    "header a string": f"{b64('none')}.{b64({'sub': 'a'})}.",
    "no uid": jwt({"email": "x@example.com"}),
    "empty uid": jwt({"sub": ""}),
    "uid not a string": jwt({"sub": 42}),
    "exp not a number": jwt({"sub": "a", "exp": "soon"}),
    "exp a boolean": jwt({"sub": "a", "exp": True}),
    "NaN in payload": f"{b64({'alg': 'none'})}.{b64(NAN_PAYLOAD)}.",
}


@pytest.mark.parametrize("token", list(BAD_TOKENS.values()), ids=list(BAD_TOKENS))
def test_unparsable_tokens(token: str) -> None:
    err = auth_error(headers={"authorization": f"Bearer {token}"})
    assert (err.status, err.message) == (401, UNPARSABLE)


# -- auth_variable_override --------------------------------------------------------------------

OWNER = {"authorization": "Bearer owner"}


@pytest.mark.parametrize(
    ("override", "auth"),
    [
        ('{"uid":"user1"}', {"uid": "user1"}),
        ('{"uid": "u", "token": {"admin": true}, "provider": "custom"}',
         {"uid": "u", "token": {"admin": True}, "provider": "custom"}),
        ("{}", {}),
        ("null", None),
    ],
)
def test_override_downgrades_admin(override: str, auth: dict[str, Any] | None) -> None:
    ident = resolve(OWNER, {"auth_variable_override": override})
    assert ident == Identity(admin=False, auth=auth)


def test_override_with_access_token_owner_and_secret() -> None:
    params = {"access_token": "owner", "auth_variable_override": '{"uid":"x"}'}
    assert resolve({}, params) == Identity(admin=False, auth={"uid": "x"})
    params = {"access_token": SECRET, "auth_variable_override": "null"}
    assert resolve({}, params, secret=SECRET) == Identity(admin=False, auth=None)


@pytest.mark.parametrize("override", ["", "{", "[1]", '"user1"', "1", "true", "NaN", "{'a': 1}"])
def test_bad_override_from_admin(override: str) -> None:
    err = auth_error(headers=OWNER, params={"auth_variable_override": override})
    assert (err.status, err.message) == (400, BAD_OVERRIDE)
    assert BAD_OVERRIDE == "Invalid auth_variable_override: must be a JSON object or null."


@pytest.mark.parametrize("override", ['{"uid":"root"}', "null", "garbage"])
def test_override_ignored_for_non_admins(override: str) -> None:
    params = {"auth_variable_override": override}
    assert resolve({}, params) == Identity(admin=False, auth=None)
    assert resolve({}, {**params, "auth": USER}) == Identity(admin=False, auth=USER_AUTH)


def test_override_does_not_rescue_a_refused_owner_in_secret_mode() -> None:
    err = auth_error(headers=OWNER, params={"auth_variable_override": "null"}, secret=SECRET)
    assert err.status == 401


# -- secret file -------------------------------------------------------------------------------


def test_secret_file_is_created_private_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "state" / "admin.secret"
    first = load_or_create_secret(path)
    assert len(first) >= 40 and first == first.strip()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert path.read_text().strip() == first
    assert load_or_create_secret(str(path)) == first
    assert sorted(os.listdir(path.parent)) == ["admin.secret"]  # no temporary files left


def test_secret_files_differ(tmp_path: Path) -> None:
    assert load_or_create_secret(tmp_path / "a") != load_or_create_secret(tmp_path / "b")


def test_existing_secret_is_read_stripped(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    path.write_text("  my-secret\n\n")
    assert load_or_create_secret(path) == "my-secret"


def test_empty_secret_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    path.write_text("\n")
    with pytest.raises(ValueError, match="empty"):
        load_or_create_secret(path)
