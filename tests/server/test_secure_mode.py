"""`focus serve --secure` over HTTP: signed ID tokens verified on every read, write and stream;
each forgery refused with 401 and the data unchanged; the admin secret alone is admin."""

from __future__ import annotations

import base64
import json
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from focuscli.server import LocalServer
from focuscli.server.auth import EXPIRED, OVERRIDE_NEEDS_ADMIN, UNPARSABLE
from focuscli.server.authemu.tokens import unsigned
from focuscli.server.signing import KEY_FILE

pytestmark = pytest.mark.focus_serve

SECRET = "secure-mode-test-secret-0123456789"
ADMIN = {"Authorization": f"Bearer {SECRET}"}
RULES = json.dumps({"rules": {"users": {"$uid": {".read": "auth.uid === $uid", ".write": "auth.uid === $uid"}}}})
LIFETIME = 60


class Clock:
    """The servers' clock, moved by tests (never slept on)."""

    def __init__(self) -> None:
        import time

        self.now = time.time()
        self.lock = threading.Lock()

    def __call__(self) -> float:
        with self.lock:
            return self.now

    def advance(self, seconds: float) -> None:
        with self.lock:
            self.now += seconds


def payload(token: str) -> dict[str, Any]:
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def b64(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def sign_up(url: str, email: str) -> dict[str, Any]:
    resp = requests.post(f"{url}/identitytoolkit.googleapis.com/v1/accounts:signUp?key=k",
                         json={"email": email, "password": "secret6", "returnSecureToken": True}, timeout=10)
    assert resp.status_code == 200, resp.text
    return resp.json()


@pytest.fixture(scope="module")
def clock() -> Clock:
    return Clock()


@pytest.fixture(scope="module")
def secure(tmp_path_factory: pytest.TempPathFactory, clock: Clock) -> Iterator[LocalServer]:
    data = tmp_path_factory.mktemp("secure-a")
    with LocalServer(port=0, data_dir=data, secure=True, admin_token=SECRET, clock=clock,
                     token_lifetime=LIFETIME, rules_source=RULES, keepalive=0.2) as server:
        yield server


@pytest.fixture(scope="module")
def members(secure: LocalServer) -> dict[str, dict[str, Any]]:
    ada, bob = sign_up(secure.url, "ada@example.com"), sign_up(secure.url, "bob@example.com")
    for who in (ada, bob):
        path = f"{secure.url}/users/{who['localId']}.json"
        assert requests.put(path, params={"auth": who["idToken"]}, json={"name": who["email"]}, timeout=10).status_code == 200
    return {"ada": ada, "bob": bob}


@pytest.fixture(scope="module")
def foreign_tokens(secure: LocalServer, tmp_path_factory: pytest.TempPathFactory, members: Any) -> dict[str, str]:
    """Validly signed tokens the secure server must still refuse: another project's (same key),
    and another server's (a key id it does not know)."""
    ada_uid = members["ada"]["localId"]
    shared = tmp_path_factory.mktemp("secure-b")
    shutil.copy(Path(secure.config.data_dir or "") / KEY_FILE, shared / KEY_FILE)
    tokens = {}
    with LocalServer(port=0, data_dir=shared, secure=True, admin_token=SECRET, project_id="other-project") as other:
        tokens["another project (same key)"] = sign_up(other.url, "ada@example.com")["idToken"]
    with LocalServer(port=0, secure=True, admin_token=SECRET) as stranger:
        made = requests.post(f"{stranger.url}/identitytoolkit.googleapis.com/v1/projects/demo-focus/accounts",
                             json={"localId": ada_uid, "email": "x@example.com", "password": "secret6"},
                             headers=ADMIN, timeout=10)
        assert made.status_code == 200, made.text
        signed_in = requests.post(f"{stranger.url}/identitytoolkit.googleapis.com/v1/accounts:signInWithPassword?key=k",
                                  json={"email": "x@example.com", "password": "secret6"}, timeout=10).json()
        tokens["another server's key, the victim's uid"] = signed_in["idToken"]
    return tokens


def forgeries(members: dict[str, dict[str, Any]], foreign: dict[str, str]) -> dict[str, str]:
    ada, bob = members["ada"], members["bob"]
    claims = payload(ada["idToken"])
    ada_head, _, ada_sig = ada["idToken"].split(".")
    bob_head, _, bob_sig = bob["idToken"].split(".")
    as_ada = {**payload(bob["idToken"]), "sub": ada["localId"], "user_id": ada["localId"]}
    return {
        "unsigned (the emulator's form)": unsigned(claims),
        "payload changed under the original signature": f"{ada_head}.{b64({**claims, 'admin': True})}.{ada_sig}",
        "another user's signature on a modified payload": f"{bob_head}.{b64(as_ada)}.{bob_sig}",
        "kid removed": f"{b64({'alg': 'RS256', 'typ': 'JWT'})}.{ada['idToken'].split('.', 1)[1]}",
        "owner": "owner",
        **foreign,
    }


FORGERY_NAMES = [
    "unsigned (the emulator's form)", "payload changed under the original signature",
    "another user's signature on a modified payload", "kid removed", "owner",
    "another project (same key)", "another server's key, the victim's uid",
]  # fmt: skip


def data(secure: LocalServer) -> Any:
    resp = requests.get(f"{secure.url}/.json", headers=ADMIN, timeout=10)
    assert resp.status_code == 200
    return resp.json()


@pytest.mark.parametrize("name", FORGERY_NAMES)
@pytest.mark.parametrize("carrier", ["auth", "access_token", "bearer"])
def test_forged_tokens_are_refused_everywhere(
    secure: LocalServer, members: Any, foreign_tokens: Any, name: str, carrier: str
) -> None:
    token = forgeries(members, foreign_tokens)[name]
    victim = f"{secure.url}/users/{members['ada']['localId']}.json"
    params = {} if carrier == "bearer" else {carrier: token}
    headers = {"Authorization": f"Bearer {token}"} if carrier == "bearer" else {}
    before = data(secure)
    for method, body in (("GET", None), ("PUT", {"name": "pwned"}), ("PATCH", {"name": "pwned"}), ("DELETE", None)):
        resp = requests.request(method, victim, params=params, headers=headers, json=body, timeout=10)
        assert (resp.status_code, resp.json()) == (401, {"error": UNPARSABLE}), (method, resp.text)
    stream = requests.get(victim, params=params, headers={**headers, "Accept": "text/event-stream"}, timeout=10)
    assert (stream.status_code, stream.json()) == (401, {"error": UNPARSABLE})
    assert data(secure) == before


def test_a_member_reads_and_writes_only_as_itself(secure: LocalServer, members: Any) -> None:
    ada, bob = members["ada"], members["bob"]
    own = f"{secure.url}/users/{ada['localId']}.json"
    assert requests.get(own, params={"auth": ada["idToken"]}, timeout=10).json() == {"name": "ada@example.com"}
    other = requests.get(f"{secure.url}/users/{bob['localId']}.json", params={"auth": ada["idToken"]}, timeout=10)
    assert (other.status_code, other.json()) == (401, {"error": "Permission denied"})


def test_overrides_need_the_secret(secure: LocalServer, members: Any) -> None:
    ada = members["ada"]
    own = f"{secure.url}/users/{ada['localId']}.json"
    override = json.dumps({"uid": ada["localId"]})
    for params in ({"auth_variable_override": override},
                   {"auth_variable_override": override, "auth": members["bob"]["idToken"]},
                   {"auth_variable_override": override, "access_token": "owner"}):
        before = data(secure)
        resp = requests.put(own, params=params, json={"name": "pwned"}, timeout=10)
        assert (resp.status_code, resp.json()) == (401, {"error": OVERRIDE_NEEDS_ADMIN})
        assert data(secure) == before
    ok = requests.get(own, params={"auth_variable_override": override, "access_token": SECRET}, timeout=10)
    assert ok.json() == {"name": "ada@example.com"}


def test_the_secret_is_admin(secure: LocalServer, members: Any) -> None:
    assert requests.put(f"{secure.url}/admin-only.json", json=1, headers=ADMIN, timeout=10).status_code == 200
    rules = requests.get(f"{secure.url}/.settings/rules.json", params={"access_token": SECRET}, timeout=10)
    assert rules.status_code == 200
    for token in ("owner", "Owner", SECRET + "x"):
        resp = requests.get(f"{secure.url}/.settings/rules.json", headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert (resp.status_code, resp.json()) == (401, {"error": UNPARSABLE})


def test_auth_admin_endpoints_need_the_secret(secure: LocalServer, members: Any) -> None:
    lookup = f"{secure.url}/identitytoolkit.googleapis.com/v1/projects/demo-focus/accounts:lookup"
    body = {"localId": [members["ada"]["localId"]]}
    owner = requests.post(lookup, json=body, headers={"Authorization": "Bearer owner"}, timeout=10)
    assert (owner.status_code, owner.json()["error"]["status"]) == (401, "UNAUTHENTICATED")
    keyed = requests.post(lookup + "?key=k", json=body, timeout=10)
    assert keyed.json()["error"]["message"].startswith("INSUFFICIENT_PERMISSION")
    assert requests.post(lookup, json=body, headers=ADMIN, timeout=10).json()["users"][0]["email"] == "ada@example.com"
    codes = f"{secure.url}/emulator/v1/projects/demo-focus/oobCodes"
    assert requests.get(codes, timeout=10).status_code == 401
    assert requests.get(codes, headers=ADMIN, timeout=10).json() == {"oobCodes": []}


def test_jsonp_and_inspect(secure: LocalServer, members: Any) -> None:
    ada = members["ada"]
    own = f"{secure.url}/users/{ada['localId']}.json"
    as_member = requests.get(own, params={"auth": ada["idToken"], "callback": "cb"}, timeout=10)
    assert as_member.text == 'cb({"name":"ada@example.com"});'
    as_admin = requests.get(own, params={"access_token": SECRET, "callback": "cb"}, timeout=10)
    assert as_admin.status_code == 403 and "JSONP" in as_admin.json()["error"]
    inspect = f"{secure.url}/.inspect/databases.json"
    assert requests.get(inspect, params={"auth": ada["idToken"]}, timeout=10).json() == {"error": "Permission denied"}
    names = requests.get(inspect, headers=ADMIN, timeout=10).json()
    assert {"name": "fake-server"} in names and not any(n["name"].startswith(".") for n in names)


def test_published_keys_verify_the_servers_tokens(secure: LocalServer, members: Any) -> None:
    import jwt

    jwks = requests.get(f"{secure.url}/www.googleapis.com/service_accounts/v1/jwk/securetoken@system.gserviceaccount.com", timeout=10).json()
    token = members["ada"]["idToken"]
    key = jwt.PyJWKSet.from_dict(jwks)[jwt.get_unverified_header(token)["kid"]].key
    claims = jwt.decode(token, key, algorithms=["RS256"], audience="demo-focus",
                        issuer="https://securetoken.google.com/demo-focus", options={"verify_iat": False, "verify_exp": False})
    assert claims["sub"] == members["ada"]["localId"]


def test_expiry_and_refresh(tmp_path: Path) -> None:
    """An expired token is refused with the expiry text; the refreshed one works; a stream whose
    token expires gets auth_revoked and ends."""
    clock = Clock()
    with LocalServer(port=0, secure=True, admin_token=SECRET, clock=clock, token_lifetime=LIFETIME,
                     rules_source=RULES, keepalive=0.2) as server:
        ada = sign_up(server.url, "ada@example.com")
        own = f"{server.url}/users/{ada['localId']}.json"
        assert requests.put(own, params={"auth": ada["idToken"]}, json=1, timeout=10).status_code == 200
        stream = requests.get(own, params={"auth": ada["idToken"]}, headers={"Accept": "text/event-stream"},
                              stream=True, timeout=10)
        lines = stream.iter_lines()
        assert [next(lines), next(lines)] == [b"event: put", b'data: {"path":"/","data":1}']
        clock.advance(LIFETIME)
        events = []
        for line in lines:
            if line.startswith(b"event: ") and line != b"event: keep-alive":
                events.append(line)
            if line == b"data: credential is no longer valid":
                events.append(line)
        assert events == [b"event: auth_revoked", b"data: credential is no longer valid"]  # then the end
        for method, body in (("GET", None), ("PUT", 2), ("DELETE", None)):
            expired = requests.request(method, own, params={"auth": ada["idToken"]}, json=body, timeout=10)
            assert (expired.status_code, expired.json()) == (401, {"error": EXPIRED})
        reopened = requests.get(own, params={"auth": ada["idToken"]}, headers={"Accept": "text/event-stream"}, timeout=10)
        assert (reopened.status_code, reopened.json()) == (401, {"error": EXPIRED})
        assert requests.get(own, headers=ADMIN, timeout=10).json() == 1
        fresh = requests.post(f"{server.url}/securetoken.googleapis.com/v1/token?key=k",
                              data={"grant_type": "refresh_token", "refresh_token": ada["refreshToken"]}, timeout=10)
        assert requests.get(own, params={"auth": fresh.json()["id_token"]}, timeout=10).json() == 1
