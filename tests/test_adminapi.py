"""focuscli.adminapi: the administrator's rules check, and its one-line errors for key files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from focuscli import adminapi
from focuscli.backend import Target
from focuscli.errors import PermissionDenied, UsageError


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "credentials file not found: {path}"),
        ("-----BEGIN PRIVATE KEY-----\n", "credentials file {path} is not JSON"),
        ('{"project_id": "demo"}', 'credentials file {path} is not a service-account key: Invalid service account '
         'certificate. Certificate must contain a "type" field set to "service_account".'),
        ("[1, 2]", 'credentials file {path} is not a service-account key: expected a JSON object with "type": "service_account"'),
    ],
    ids=["missing", "not json", "not a key", "an array"],
)
def test_a_bad_key_file_is_one_line(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "key.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(UsageError) as info:
        adminapi.certificate(str(path))
    assert info.value.message == message.format(path=path)


def test_a_directory_is_not_a_key_file(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as info:
        adminapi.certificate(str(tmp_path))
    assert info.value.message == f"cannot read credentials file {tmp_path}: is a directory"


def test_without_an_administrator_credential_nothing_is_tried() -> None:
    with pytest.raises(adminapi.NoAdminCredential) as info:
        adminapi.rules_in_force(Target("https://x-default-rtdb.firebaseio.com", None, "production"), admin_token=None)
    assert "service-account key" in info.value.message
    with pytest.raises(adminapi.NoAdminCredential) as info:
        adminapi.rules_in_force(Target("http://127.0.0.1:1?ns=x", None, "emulator"), admin_token=None)
    assert "admin secret" in info.value.message


def test_admin_token_prefers_the_secret_then_owner_in_emulator_mode(tmp_path: Path) -> None:
    secret = tmp_path / "admin-secret"
    assert adminapi.admin_token(secret, emulator_mode=True) == "owner"  # no file yet
    assert adminapi.admin_token(secret, emulator_mode=False) is None
    secret.write_text("s3cret\n")
    assert adminapi.admin_token(secret, emulator_mode=False) == "s3cret"
    assert adminapi.admin_token(None, emulator_mode=True) == "owner"


def test_the_rules_in_force_are_read_as_administrator(rest: Any, server_url: str, ns: str) -> None:
    rest.set_rules('{\n  // a comment\n  "rules": {".read": "auth != null", ".write": false}\n}')
    target = Target(f"{server_url}?ns={ns}", None, "emulator")
    assert adminapi.rules_in_force(target, admin_token="owner") == {"rules": {".read": "auth != null", ".write": False}}
    with pytest.raises(PermissionDenied):
        adminapi.rules_in_force(target, admin_token="not-an-admin")
