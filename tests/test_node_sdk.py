"""The official JavaScript SDKs (`firebase` for browsers and Node, firebase-admin for Node)
against focus serve over the realtime protocol: the Node suite in tests/node, run by `node
--test` against servers tests/node_harness.py starts (port 0), its files in parallel."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests import node
from tests.node_harness import Control

NODE_DIR = Path(__file__).resolve().parent / "node"
PROXIES = ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy")


@pytest.mark.focus_serve
def test_the_javascript_sdks_against_focus_serve(tmp_path: Path) -> None:
    node.npm_ci(NODE_DIR)
    files = sorted(p.name for p in NODE_DIR.glob("*.test.mjs"))
    assert files, "no Node test files"
    with Control(tmp_path) as control:
        env = node.environ()
        for name in PROXIES:  # the SDK hands a proxy to its WebSocket even for ws://127.0.0.1
            env.pop(name, None)
        env["FOCUS_URL"] = control.servers.get("main")[0].url
        env["FOCUS_CONTROL"] = control.url
        done = subprocess.run(
            [node.executable("node"), "--test", "--test-concurrency=4", "--test-timeout=90000",
             "--test-reporter=spec", *files],
            cwd=NODE_DIR, env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
    if done.returncode != 0:
        pytest.fail(f"node --test failed ({done.returncode}):\n{done.stdout}\n{done.stderr}", pytrace=False)
    assert " fail 0" in done.stdout, done.stdout
    summary = [line for line in done.stdout.splitlines() if line.startswith("ℹ tests ")]
    assert summary and int(summary[0].split()[-1]) >= 38, summary
