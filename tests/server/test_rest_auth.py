"""Authentication, authorization and the emulator admin endpoints (spec §6, §8.1–8.3).

Rules here only use literal true/false values (rule expressions are tested elsewhere).
"""

from __future__ import annotations

import base64
import json
import re
import time
from typing import Any

import pytest
import requests

DENIED = {"error": "Permission denied"}
UNPARSABLE = {"error": "Could not parse auth token."}
JSON_CT = "application/json; charset=utf-8"
OPEN_RULES = {"rules": {".read": True, ".write": True}}

RULES = {
    "rules": {
        "public": {".read": True, ".write": True},
        "closed": {".read": False, ".write": False},
        "protected": {
            "user1": {".read": True, ".write": True},
            "user2": {".read": True},
        },
    }
}


def b64url(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unsigned_jwt(uid: str, **claims: Any) -> str:
    """A token shaped like the client SDKs' emulator tokens (§6.3): alg none, empty signature."""
    now = int(time.time())
    payload = {
        "iss": "https://securetoken.google.com/demo-focus",
        "aud": "demo-focus",
        "iat": now,
        "exp": now + 3600,
        "auth_time": now,
        "sub": uid,
        "user_id": uid,
        "firebase": {"sign_in_provider": "custom", "identities": {}},
        **claims,
    }
    return f"{b64url({'alg': 'none', 'type': 'JWT'})}.{b64url(payload)}."


@pytest.fixture
def ruled(rest: Any) -> Any:
    """The namespace with data everywhere (written as admin) and RULES uploaded."""
    data = {
        "public": {"v": "pub"},
        "closed": {"v": "secret"},
        "protected": {"user1": "test", "user2": "test"},
        "top": 1,
    }
    assert rest.put("/.json", data).status_code == 200
    rest.set_rules(RULES)
    return rest


def assert_denied(resp: Any) -> None:
    assert resp.status_code == 401, resp.text
    assert resp.headers["Content-Type"] == JSON_CT
    assert resp.json() == DENIED


# ---------------------------------------------------------------------------------------------
# admin carriers


def test_bearer_owner_is_admin(ruled: Any) -> None:
    assert ruled.value("/closed.json") == {"v": "secret"}
    assert ruled.put("/closed/v.json", "changed").status_code == 200
    assert ruled.value("/closed/v.json") == "changed"


def test_access_token_owner_is_admin(ruled: Any) -> None:
    resp = ruled.get("/closed.json", admin=False, params={"access_token": "owner"})
    assert resp.status_code == 200
    assert resp.json() == {"v": "secret"}
    put = ruled.put("/closed/v.json", "x", admin=False, params={"access_token": "owner"})
    assert put.status_code == 200


def test_authorization_header_name_is_case_insensitive(ruled: Any) -> None:
    resp = ruled.get("/closed.json", admin=False, headers={"authorization": "Bearer owner"})
    assert resp.status_code == 200


# ---------------------------------------------------------------------------------------------
# denial


@pytest.mark.parametrize("path", ["/closed.json", "/closed/v.json", "/.json", "/protected.json"])
def test_unauthenticated_read_denied(ruled: Any, path: str) -> None:
    assert_denied(ruled.get(path, admin=False))


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PUT", "/closed/v.json", "x"),
        ("POST", "/closed.json", "x"),
        ("PATCH", "/closed.json", {"v": "x"}),
        ("DELETE", "/closed.json", None),
        ("PUT", "/top.json", 2),
        ("PUT", "/protected/user2.json", "x"),
    ],
)
def test_unauthenticated_write_denied(ruled: Any, method: str, path: str, body: Any) -> None:
    before = ruled.value("/.json")
    assert_denied(ruled.request(method, path, admin=False, json=body))
    assert ruled.value("/.json") == before


def test_public_paths_open_to_everyone(ruled: Any) -> None:
    resp = ruled.get("/public.json", admin=False)
    assert resp.status_code == 200 and resp.json() == {"v": "pub"}
    assert ruled.put("/public/n.json", 1, admin=False).status_code == 200
    assert ruled.value("/public.json") == {"v": "pub", "n": 1}


def test_grants_cascade_and_cannot_be_revoked_deeper(rest: Any) -> None:
    rest.set_rules({"rules": {"open": {".read": True, "inner": {".read": False}}}})
    assert rest.put("/open/inner/x.json", 1).status_code == 200
    resp = rest.get("/open/inner/x.json", admin=False)
    assert resp.status_code == 200 and resp.json() == 1
    assert rest.get("/open/inner.json", admin=False).json() == {"x": 1}


def test_multi_path_patch_with_one_denied_entry_writes_nothing(ruled: Any) -> None:
    before = ruled.value("/.json")
    resp = ruled.patch("/.json", {"public/a": 1, "closed/b": 2}, admin=False)
    assert_denied(resp)
    assert ruled.value("/.json") == before


def test_multi_path_patch_needs_no_grant_at_request_path(ruled: Any) -> None:
    resp = ruled.patch("/.json", {"public/a": 1, "protected/user1": "new"}, admin=False)
    assert resp.status_code == 200
    assert ruled.value("/public/a.json") == 1
    assert ruled.value("/protected/user1.json") == "new"


def test_denied_query(ruled: Any) -> None:
    resp = ruled.get(
        "/protected.json", admin=False, params={"orderBy": '"$key"', "limitToFirst": "2"}
    )
    assert_denied(resp)


# ---------------------------------------------------------------------------------------------
# auth_variable_override (§6.2), the EMU-CI TestAuthVariableOverride scenarios

USER1 = json.dumps({"uid": "user1"}, separators=(",", ":"))


def as_override(override: str) -> dict[str, str]:
    return {"auth_variable_override": override}


def test_override_no_access(ruled: Any) -> None:
    assert_denied(ruled.get("/closed.json", params=as_override(USER1)))
    assert_denied(ruled.put("/closed.json", "test2", params=as_override(USER1)))
    assert ruled.value("/closed.json") == {"v": "secret"}


def test_override_read_only(ruled: Any) -> None:
    resp = ruled.get("/protected/user2.json", params=as_override(USER1))
    assert resp.status_code == 200 and resp.json() == "test"
    assert_denied(ruled.put("/protected/user2.json", "test2", params=as_override(USER1)))
    assert ruled.value("/protected/user2.json") == "test"


def test_override_read_write(ruled: Any) -> None:
    resp = ruled.get("/protected/user1.json", params=as_override(USER1))
    assert resp.status_code == 200 and resp.json() == "test"
    put = ruled.put("/protected/user1.json", "test2", params=as_override(USER1))
    assert put.status_code == 200
    assert ruled.value("/protected/user1.json") == "test2"


def test_override_query_denied(ruled: Any) -> None:
    params = {"orderBy": '"$key"', "limitToFirst": "2", **as_override(USER1)}
    assert_denied(ruled.get("/protected.json", params=params))


def test_override_null(ruled: Any) -> None:
    resp = ruled.get("/public.json", params=as_override("null"))
    assert resp.status_code == 200 and resp.json() == {"v": "pub"}
    assert_denied(ruled.get("/closed.json", params=as_override("null")))


def test_override_sdk_wire_form(ruled: Any) -> None:
    # the Admin SDK appends the override unencoded after ns (§1.6)
    resp = ruled.session.get(
        ruled.url("/closed.json") + f"?ns={ruled.ns}&auth_variable_override={USER1}",
        headers={"authorization": "Bearer owner"},
        timeout=10,
    )
    assert_denied(resp)


def test_without_override_admin_bypasses_rules(ruled: Any) -> None:
    assert ruled.value("/closed.json") == {"v": "secret"}


# ---------------------------------------------------------------------------------------------
# ID tokens (§6.3)


@pytest.mark.parametrize("carrier", ["auth", "bearer"])
def test_unsigned_jwt_is_a_user_not_admin(ruled: Any, carrier: str) -> None:
    # "bearer": spec §12.14: inferred — non-owner Bearer values are treated as ID tokens
    token = unsigned_jwt("alice")

    def call(method: str, path: str, body: Any = None) -> Any:
        if carrier == "auth":
            return ruled.request(method, path, admin=False, params={"auth": token}, json=body)
        headers = {"Authorization": f"Bearer {token}"}
        return ruled.request(method, path, admin=False, headers=headers, json=body)

    resp = call("GET", "/public.json")
    assert resp.status_code == 200 and resp.json() == {"v": "pub"}
    assert call("PUT", "/public/by.json", "alice").status_code == 200
    assert_denied(call("GET", "/closed.json"))
    assert_denied(call("GET", "/.json"))
    assert_denied(call("PUT", "/closed/v.json", "x"))
    assert ruled.value("/public/by.json") == "alice"


@pytest.mark.parametrize("token", ["garbage", "a.b.c", "%%%"])
def test_unparsable_auth_param_is_401(ruled: Any, token: str) -> None:
    resp = ruled.get("/public.json", admin=False, params={"auth": token})
    assert resp.status_code == 401
    assert resp.json() == UNPARSABLE


def test_unparsable_bearer_is_401(ruled: Any) -> None:
    # spec §12.14: inferred — unknown Bearer values are ID tokens; unparsable ones are 401
    resp = ruled.get("/public.json", admin=False, headers={"Authorization": "Bearer garbage"})
    assert resp.status_code == 401
    assert resp.json() == UNPARSABLE


# ---------------------------------------------------------------------------------------------
# rules endpoints (§8.1, §8.2)

RULES_SOURCE = """// focus test rules
{
  /* block comment */
  "rules": {
    ".read": true,   // trailing comment
    ".write": true,
    "closed": { ".read": false }
  }
}
"""


def test_default_rules_are_open(rest: Any) -> None:
    resp = rest.get("/.settings/rules.json", params={"format": "strict"})
    assert resp.status_code == 200
    assert resp.json() == OPEN_RULES


def test_fresh_namespace_is_open_to_everyone(rest: Any) -> None:
    assert rest.put("/a.json", 1, admin=False).status_code == 200
    resp = rest.get("/.json", admin=False)
    assert resp.status_code == 200 and resp.json() == {"a": 1}


def test_rules_upload_and_read_back_verbatim(rest: Any) -> None:
    put = rest.put("/.settings/rules.json", data=RULES_SOURCE.encode())
    assert put.status_code == 200
    assert put.json() == {"status": "ok"}
    got = rest.get("/.settings/rules.json")
    assert got.status_code == 200
    assert got.text == RULES_SOURCE


def test_rules_format_strict(rest: Any) -> None:
    rest.set_rules(RULES_SOURCE)
    resp = rest.get("/.settings/rules.json", params={"format": "strict"})
    assert resp.status_code == 200
    assert resp.json() == {"rules": {".read": True, ".write": True, "closed": {".read": False}}}


def test_rules_round_trip_like_the_sdk_fixture(rest: Any) -> None:
    # EMU-CI: GET format=strict, edit rules['rules'], PUT the object back as JSON
    rules = rest.get("/.settings/rules.json", params={"format": "strict"}).json()
    rules["rules"] = {".read": True, ".write": True, "x": {".indexOn": ["h"]}}
    assert rest.put("/.settings/rules.json", rules).status_code == 200
    assert rest.get("/.settings/rules.json", params={"format": "strict"}).json() == rules


def test_rules_take_effect_and_reset(rest: Any) -> None:
    assert rest.put("/closed.json", 1).status_code == 200
    rest.set_rules(RULES)
    assert_denied(rest.get("/closed.json", admin=False))
    rest.set_rules(OPEN_RULES)
    resp = rest.get("/closed.json", admin=False)
    assert resp.status_code == 200 and resp.json() == 1


def test_rules_are_per_namespace(rest: Any, server_url: str) -> None:
    other = {"ns": rest.ns + "x"}
    url = server_url + "/closed.json"
    owner = {"Authorization": "Bearer owner"}
    assert requests.put(url, params=other, json=1, headers=owner, timeout=10).status_code == 200
    rest.set_rules(RULES)
    resp = requests.get(url, params=other, timeout=10)
    assert resp.status_code == 200 and resp.json() == 1


@pytest.mark.parametrize(
    "source",
    [
        '{"rules": {".read": true,,}}',
        '{"rules": {"a.b": {".read": true}}}',
        "rules = {}",
        '{"rules": {".read": true}',
    ],
)
def test_broken_rules_are_400(rest: Any, source: str) -> None:
    rest.set_rules(RULES_SOURCE)
    resp = rest.put("/.settings/rules.json", data=source.encode())
    assert resp.status_code == 400
    body = resp.json()
    assert set(body) == {"error"}
    assert re.match(r"^\d+:\d+: .+", body["error"]), body["error"]
    assert rest.get("/.settings/rules.json").text == RULES_SOURCE


@pytest.mark.parametrize("who", ["anonymous", "jwt"])
def test_rules_endpoints_need_admin(rest: Any, who: str) -> None:
    rest.set_rules(RULES_SOURCE)
    kwargs: dict[str, Any] = {"admin": False}
    if who == "jwt":
        kwargs["params"] = {"auth": unsigned_jwt("mallory")}
    put = rest.put("/.settings/rules.json", OPEN_RULES, **kwargs)
    assert put.status_code == 403
    assert isinstance(put.json()["error"], str)
    get = rest.get("/.settings/rules.json", **kwargs)
    assert get.status_code == 403
    assert rest.get("/.settings/rules.json").text == RULES_SOURCE


def test_rules_upload_with_access_token(rest: Any) -> None:
    resp = rest.put(
        "/.settings/rules.json",
        data=RULES_SOURCE.encode(),
        admin=False,
        params={"access_token": "owner"},
    )
    assert resp.status_code == 200


# ---------------------------------------------------------------------------------------------
# import / export / inspect (§8.1, §8.3)

EXPORT = {
    "users": {"ada": {"name": "Ada", ".priority": 1}, "bob": {"name": "Bob"}},
    "counter": {".value": 3, ".priority": "p"},
    "list": {"0": "a", "1": "b"},
}


def test_import_like_firebase_tools(rest: Any) -> None:
    resp = rest.put(
        "/.json",
        data=json.dumps(EXPORT).encode(),
        params={"disableTriggers": "true", "writeSizeLimit": "unlimited"},
        headers={"Content-Type": "application/json"},
    )
    assert resp.status_code == 200
    assert rest.value("/.json") == {
        "users": {"ada": {"name": "Ada"}, "bob": {"name": "Bob"}},
        "counter": 3,
        "list": ["a", "b"],
    }
    exported = rest.get("/.json", params={"format": "export"})
    assert exported.status_code == 200
    assert exported.json() == EXPORT


@pytest.mark.parametrize("limit", ["tiny", "small", "medium", "large", "unlimited"])
@pytest.mark.parametrize("method", ["PUT", "POST", "PATCH", "DELETE"])
def test_write_size_limit_values_accepted(rest: Any, limit: str, method: str) -> None:
    # spec §12.13: inferred — all five budgets are accepted for small writes
    body = None if method == "DELETE" else {"a": 1}
    resp = rest.request(method, "/w.json", params={"writeSizeLimit": limit}, json=body)
    assert resp.status_code == 200


def test_ui_file_upload(rest: Any) -> None:
    # §8.1 emulator UI import: multipart part `myFile`; spec INF: replace semantics at <path>
    assert rest.put("/imp.json", {"old": 1}).status_code == 200
    resp = rest.post(
        "/imp/.upload",
        admin=False,
        params={"access_token": "owner", "writeSizeLimit": "unlimited"},
        data=None,
        files={"myFile": ("data.json", json.dumps({"a": {"b": [1, 2]}}), "application/json")},
    )
    assert 200 <= resp.status_code < 300, resp.text
    assert rest.value("/imp.json") == {"a": {"b": [1, 2]}}


def test_clear_database_as_owner(rest: Any) -> None:
    assert rest.put("/.json", {"a": 1}).status_code == 200
    assert rest.put("/.json", data=b"null").status_code == 200
    assert rest.value("/.json") is None


@pytest.mark.parametrize("admin", [True, False])
def test_inspect_databases_lists_namespace(rest: Any, admin: bool) -> None:
    assert rest.put("/x.json", 1).status_code == 200
    resp = rest.get("/.inspect/databases.json", admin=admin)
    assert resp.status_code == 200
    listing = resp.json()
    assert isinstance(listing, list)
    assert all(isinstance(entry, dict) and "name" in entry for entry in listing)
    assert rest.ns in {entry["name"] for entry in listing}
