"""Accounts have the database's guarantees (`focus serve` as shipped, in a subprocess): an
acknowledged sign-up survives SIGTERM and kill -9; `--memory` keeps nothing; nothing secret is
kept in clear; in secure mode the signing key, and so the tokens, survive a restart."""

from __future__ import annotations

import os
import signal
import stat
from pathlib import Path
from typing import Any

import pytest
import requests

pytestmark = pytest.mark.focus_serve

V1 = "/identitytoolkit.googleapis.com/v1"


def post(url: str, op: str, body: dict[str, Any]) -> requests.Response:
    return requests.post(f"{url}{V1}/{op}?key=k", json=body, timeout=10)


def sign_up(url: str, email: str, password: str = "Sup3r-secret") -> dict[str, Any]:
    resp = post(url, "accounts:signUp", {"email": email, "password": password, "displayName": "Ada",
                                         "returnSecureToken": True})
    assert resp.status_code == 200, resp.text
    return resp.json()


def refresh(url: str, token: str) -> requests.Response:
    return requests.post(f"{url}/securetoken.googleapis.com/v1/token?key=k",
                         data={"grant_type": "refresh_token", "refresh_token": token}, timeout=10)


def every_byte(directory: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file())


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "kill-9"])
def test_accounts_survive_a_restart(spawn_server: Any, tmp_path: Path, stop: int) -> None:
    data = tmp_path / "db"
    first = spawn_server("--port", "0", "--data-dir", str(data))
    made = sign_up(first.url, "ada@example.com")
    post(first.url, "accounts:update", {"idToken": made["idToken"], "displayName": "Ada L."})
    post(first.url, "accounts:sendOobCode", {"requestType": "EMAIL_SIGNIN", "email": "bob@example.com"})
    if stop == signal.SIGKILL:
        first.kill()  # right after the acknowledgements: nothing flushed on the way out
    else:
        assert first.terminate(stop)[0] == 0

    second = spawn_server("--port", "0", "--data-dir", str(data))
    signed_in = post(second.url, "accounts:signInWithPassword", {"email": "ada@example.com", "password": "Sup3r-secret"})
    assert (signed_in.status_code, signed_in.json()["localId"], signed_in.json()["displayName"]) == (
        200, made["localId"], "Ada L.")
    assert refresh(second.url, made["refreshToken"]).status_code == 200
    codes = requests.get(f"{second.url}/emulator/v1/projects/demo-focus/oobCodes", timeout=10).json()["oobCodes"]
    assert [c["email"] for c in codes] == ["bob@example.com"]
    # the accounts are no database: REST cannot name their namespace, /.inspect does not list it
    assert requests.get(f"{second.url}/.json?ns=.auth", timeout=10).status_code == 400
    assert requests.get(f"{second.url}/.inspect/databases.json", timeout=10).json() == []
    second.terminate()

    kept = every_byte(data)
    for secret in (b"Sup3r-secret", made["refreshToken"].encode()):
        assert secret not in kept


def test_memory_keeps_no_accounts(spawn_server: Any) -> None:
    first = spawn_server("--port", "0", "--memory")
    sign_up(first.url, "ada@example.com")
    first.terminate()
    second = spawn_server("--port", "0", "--memory")
    resp = post(second.url, "accounts:signInWithPassword", {"email": "ada@example.com", "password": "Sup3r-secret"})
    assert resp.json()["error"]["message"] == "EMAIL_NOT_FOUND"


def test_secure_mode_keeps_its_key(spawn_server: Any, tmp_path: Path) -> None:
    data = tmp_path / "db"
    first = spawn_server("--port", "0", "--secure", "--data-dir", str(data))
    assert "(secure mode: signed ID tokens only, admin secret in " in first.ready_line
    key = data / "auth-signing-key.pem"
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    made = sign_up(first.url, "ada@example.com")
    first.terminate()
    second = spawn_server("--port", "0", "--secure", "--data-dir", str(data))
    # The token from before the restart still verifies (same key), on the database and on Auth.
    assert requests.get(f"{second.url}/x.json", params={"auth": made["idToken"]}, timeout=10).status_code == 200
    lookup = post(second.url, "accounts:lookup", {"idToken": made["idToken"]})
    assert lookup.json()["users"][0]["email"] == "ada@example.com"
