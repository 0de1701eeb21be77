"""A data directory that fails: nothing unwritten is read back, and the directory is released.

(kill -9 under concurrent writers is tests/reliability/test_crash_durability.py.)
"""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

pytestmark = pytest.mark.focus_serve

OWNER = {"Authorization": "Bearer owner"}


def test_a_failed_disk_write_is_never_read_back_and_the_directory_is_released(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    from focuscli.server import LocalServer, journal

    server = LocalServer(port=0, data_dir=str(tmp_path / "db")).start()
    try:
        url = server.url
        assert requests.put(f"{url}/a.json", json=1, headers=OWNER, timeout=5).status_code == 200

        def disk_full(fd: int, data: bytes) -> None:
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(journal, "_write_all", disk_full)  # fault injection: the disk fills up
        failed = requests.put(f"{url}/a.json", json=2, headers=OWNER, timeout=5)
        assert failed.status_code == 503
        assert failed.json()["error"].startswith("Database unavailable: ")
        assert requests.get(f"{url}/a.json", timeout=5).json() == 1  # never the unwritten 2
        assert requests.put(f"{url}/b.json", json=3, headers=OWNER, timeout=5).status_code == 503
    finally:
        server.stop()
    monkeypatch.undo()
    with LocalServer(port=0, data_dir=str(tmp_path / "db")) as again:  # the lock was released
        assert requests.get(f"{again.url}/.json", timeout=5).json() == {"a": 1}
