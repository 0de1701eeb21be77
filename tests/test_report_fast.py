"""`focus report` through the console script's fast path (focuscli/entry.py) prints exactly what the full CLI prints.

The fast path runs in a `python -m focuscli` process (with ``-X importtime``, which shows that
typer was never imported); the full CLI runs in this process, as the other tests run it. Both
see the same week (tests/test_report.py) and the same environment.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FOCUS_RULES, focus_env
from tests.test_report import RANGE, berlin, week  # noqa: F401  (berlin: a fixture)

CASES = [
    [*RANGE],
    [*RANGE, "--by", "member"],
    ["--by=label", "--csv", *RANGE],
    ["--csv", *RANGE],
    ["--since", "30d", "--session=team", "--by", "label"],
    ["-s", "team", "--from=2024-06-04", "--to", "2024-06-05"],
    ["--json", "--csv", *RANGE],  # usage errors: exit 2, one line
    [*RANGE, "--by", "week"],
    ["--since", "5x", "--session", "team"],
    ["--from", "2024-06-09", "--to", "2024-06-03", "--session", "team"],
    ["--session", "nosuch", *RANGE[:4]],  # not a member: exit 1
]


@pytest.mark.parametrize("args", CASES, ids=lambda a: " ".join(a))
def test_fast_path_prints_what_the_full_cli_prints(
    args: list[str], rest: Any, server_url: str, ns: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    run_cli: Any, berlin: None,  # noqa: F811
) -> None:  # fmt: skip
    rest.set_rules(FOCUS_RULES)
    week().store(rest)
    env = focus_env(
        f"{server_url}?ns={ns}", "ana", tmp_path / "ana", TZ="Europe/Berlin", COLUMNS="200"
    )
    for name in ("FOCUS_DATABASE_URL", "FOCUS_USER"):
        monkeypatch.setenv(name, env[name])
    for name in ("FOCUS_SESSION", "FOCUS_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    full = run_cli(["report", *args], tmp_path / "ana")

    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "focuscli", "report", *args],
        env=env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    imports = [line for line in done.stderr.splitlines() if line.startswith("import time:")]
    err = "".join(
        line + "\n" for line in done.stderr.splitlines() if not line.startswith("import time:")
    )
    assert imports and not [
        line for line in imports if line.split("|")[-1].strip().startswith(("typer", "click"))
    ]
    assert (done.returncode, err) == (full.code, full.err)
    assert full.code != 0 or full.out
    if "--json" in args and full.code == 0:
        fast_json, full_json = json.loads(done.stdout), json.loads(full.out)
        del fast_json["now"], full_json["now"]
        assert fast_json == full_json
    else:
        assert done.stdout == full.out


def test_anything_else_goes_to_the_full_cli(tmp_path: Path) -> None:
    """--help, repeated options, options of other commands: typer answers them."""
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path), "COLUMNS": "100"}
    for args in (["--help"], ["--since", "1d", "--since", "2d", "--help"], ["--watch"]):
        done = subprocess.run([sys.executable, "-X", "importtime", "-m", "focuscli", "report", *args],
                              env=env, capture_output=True, text=True, timeout=60)  # fmt: skip
        imported = [
            line.split("|")[-1].strip()
            for line in done.stderr.splitlines()
            if line.startswith("import time:")
        ]
        assert "typer" in imported
        assert done.returncode == (0 if "--help" in args else 2)
