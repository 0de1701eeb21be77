"""Off loopback the emulator's open door closes (secure mode): only the generated admin secret is admin."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest
import requests

pytestmark = pytest.mark.focus_serve


def test_loopback_accepts_owner(spawn_server: Any) -> None:
    server = spawn_server("--port", "0", "--memory")
    resp = requests.put(f"{server.url}/a.json", json=1, headers={"Authorization": "Bearer owner"}, timeout=5)
    assert resp.status_code == 200


def test_non_loopback_bind_refuses_owner_and_accepts_the_secret(spawn_server: Any, tmp_path: Path) -> None:
    secret_file = tmp_path / "secret"
    server = spawn_server("--host", "0.0.0.0", "--port", "0", "--memory", "--admin-secret-file", str(secret_file))
    local = server.url.replace("0.0.0.0", "127.0.0.1")
    secret = secret_file.read_text().strip()
    assert len(secret) >= 32
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600

    denied = requests.get(f"{local}/.settings/rules.json", headers={"Authorization": "Bearer owner"}, timeout=5)
    assert (denied.status_code, denied.json()) == (401, {"error": "Could not parse auth token."})
    via_query = requests.put(f"{local}/a.json?access_token=owner", json=1, timeout=5)
    assert via_query.status_code == 401

    ok = requests.put(f"{local}/a.json", json=1, headers={"Authorization": f"Bearer {secret}"}, timeout=5)
    assert ok.status_code == 200
    ok = requests.get(f"{local}/.settings/rules.json?access_token={secret}", timeout=5)
    assert ok.status_code == 200

    code, _, err = server.terminate()
    assert code == 0
    assert f"(secure mode: signed ID tokens only, admin secret in {secret_file}; in memory); " in server.ready_line
    assert "FIREBASE_AUTH_EMULATOR_HOST" not in server.ready_line  # firebase-admin's `owner` is refused
    assert err == ""


def test_the_secret_survives_restarts(spawn_server: Any, tmp_path: Path) -> None:
    secret_file = tmp_path / "secret"
    first = spawn_server("--host", "0.0.0.0", "--port", "0", "--memory", "--admin-secret-file", str(secret_file))
    before = secret_file.read_text()
    first.terminate()
    spawn_server("--host", "0.0.0.0", "--port", "0", "--memory", "--admin-secret-file", str(secret_file))
    assert secret_file.read_text() == before
