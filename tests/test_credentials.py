"""focuscli.credentials: the member's sign-ins on disk — 0600, atomic, locked, repaired if too open."""

from __future__ import annotations

import json
import multiprocessing
import os
import stat
from pathlib import Path

import pytest

from focuscli.credentials import CredentialStore
from focuscli.errors import UsageError

RECORD = {"uid": "u1", "email": "ana@example.com", "name": "ana", "refresh_token": "r1", "how": "login"}


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_sign_in_is_kept_per_backend_and_profile(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path / "focus" / "credentials.json")
    assert store.get("http://127.0.0.1:9000", "ana") is None
    store.put("http://127.0.0.1:9000", "ana", RECORD)
    store.put("http://127.0.0.1:9000", "bob", {**RECORD, "uid": "u2"})
    store.put("firebase:KEY", "ana", {**RECORD, "uid": "u3"})
    assert store.get("http://127.0.0.1:9000", "ana") == RECORD
    assert store.get("firebase:KEY", "ana")["uid"] == "u3"  # type: ignore[index]
    assert set(store.profiles("http://127.0.0.1:9000")) == {"ana", "bob"}
    assert store.remove("http://127.0.0.1:9000", "ana") is True
    assert store.remove("http://127.0.0.1:9000", "ana") is False
    assert store.get("http://127.0.0.1:9000", "ana") is None
    data = json.loads((tmp_path / "focus" / "credentials.json").read_text())
    assert data["schema"] == 1 and set(data["sign_ins"]) == {"http://127.0.0.1:9000", "firebase:KEY"}


def test_file_and_directory_are_private(tmp_path: Path) -> None:
    path = tmp_path / "config" / "focus" / "credentials.json"
    CredentialStore(path).put("b", "ana", RECORD)
    assert _mode(path) == 0o600
    assert _mode(path.parent) == 0o700
    assert sorted(p.name for p in path.parent.iterdir()) == ["credentials.json", "credentials.lock"]


def test_a_file_readable_by_others_is_made_private_and_said_so(tmp_path: Path) -> None:
    path = tmp_path / "credentials.json"
    CredentialStore(path).put("b", "ana", RECORD)
    path.chmod(0o644)
    said: list[str] = []
    assert CredentialStore(path, say=said.append).get("b", "ana") == RECORD
    assert _mode(path) == 0o600
    assert said == [f"{path} was readable by others; it is now readable by you only (0600)"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "cannot read your sign-ins in {path}: Expecting property name enclosed in double quotes: line 1 column 2 (char 1); remove the file and sign in again"),
        ("[1, 2]", "{path} is not a focus credentials file; remove it and sign in again"),
        ('{"schema": 1}', "{path} is not a focus credentials file; remove it and sign in again"),
    ],
    ids=["not json", "not an object", "no sign_ins"],
)
def test_a_damaged_file_is_one_clear_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "credentials.json"
    path.write_text(content)
    path.chmod(0o600)
    with pytest.raises(UsageError) as info:
        CredentialStore(path).get("b", "ana")
    assert info.value.message == message.format(path=path)


def test_an_unwritable_directory_is_one_clear_line(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        blocker = tmp_path / "not-a-dir"
        blocker.write_text("x")
        path = blocker / "credentials.json"  # its "directory" is a file: even root cannot
    else:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        path = locked / "focus" / "credentials.json"
    with pytest.raises(UsageError) as info:
        CredentialStore(path).put("b", "ana", RECORD)
    assert info.value.message.startswith(f"cannot save your sign-in in {path.parent}: ")


def test_a_failed_write_leaves_the_old_file_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "credentials.json"
    store = CredentialStore(path)
    store.put("b", "ana", RECORD)
    before = path.read_bytes()

    def full_disk(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(UsageError, match="no space left on device"):
        store.put("b", "bob", RECORD)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["credentials.json", "credentials.lock"]


def _writer(path: str, profile: str, count: int) -> None:
    store = CredentialStore(Path(path))
    for i in range(count):
        store.put("b", f"{profile}-{i}", {**RECORD, "uid": f"{profile}{i}"})


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    """Two processes adding sign-ins at once: the lock serialises read-modify-write."""
    path = tmp_path / "credentials.json"
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_writer, args=(str(path), name, 25)) for name in ("ana", "bob")]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    assert len(CredentialStore(path).profiles("b")) == 50
