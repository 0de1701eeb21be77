"""Rules semantics as data: every case under ``cases/*.json`` against ``compile_rules``.

A case file holds one rules object (what goes under ``"rules"``), the data before each case, and
the cases: ``{"name", "auth", "op", "path", "value", "now", "query", "expect"}``. ``op`` is
``read``; ``write`` (a PUT of ``value``, where null is a delete); or ``update`` (a PATCH of the
object ``value`` at ``path``, each member a write path that must be allowed against one merged
new tree). ``query`` holds raw REST query parameters. Server values in written data resolve to
``now``, as the server does before rules run. Run one file with ``RULES_CASES=<stem>``.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Any

import pytest

from focuscli.rules import CompiledRules, compile_rules
from focuscli.rules.document import RulesDocument
from focuscli.server import tree

CASES = Path(__file__).parent / "cases"
DEFAULT_NOW = 1_700_000_000_000


def _files() -> list[Path]:
    only = os.environ.get("RULES_CASES")
    return [p for p in sorted(CASES.glob("*.json")) if not only or p.stem == only]


def _params() -> list[Any]:
    params = []
    for path in _files():
        spec = json.loads(path.read_text())
        for index, case in enumerate(spec["cases"]):
            params.append(pytest.param(path.stem, index, id=f"{path.stem}:{case['name']}"))
    return params


@functools.cache
def _load(stem: str) -> tuple[CompiledRules, Any, list[dict[str, Any]]]:
    spec = json.loads((CASES / f"{stem}.json").read_text())
    rules = compile_rules(RulesDocument.parse(json.dumps({"rules": spec["rules"]})))
    data = tree.normalize(spec.get("data"), (), None)
    return rules, data, spec["cases"]


def _path(text: str) -> tree.Path:
    return tree.parse_path(text.split("/"))


def decide(rules: CompiledRules, data: Any, case: dict[str, Any]) -> bool:
    """Whether ``case`` is allowed, the way the server asks its Access."""
    auth = case.get("auth")
    now = case.get("now", DEFAULT_NOW)
    path = _path(case["path"])
    op = case["op"]
    if op == "read":
        return rules.can_read(path, auth, data, now, case.get("query"))
    resolve = tree.server_values(now, data)
    if op == "write":
        targets = [path]
        new_root = tree.set_at(data, path, tree.normalize(case["value"], path, resolve))
    elif op == "update":
        targets = [path + _path(rel) for rel in case["value"]]
        new_root = data
        for target, value in zip(targets, case["value"].values(), strict=True):
            new_root = tree.set_at(new_root, target, tree.normalize(value, target, resolve))
    else:
        raise AssertionError(f"unknown op {op!r}")
    return all(rules.can_write(target, auth, data, new_root, now) for target in targets)


@pytest.mark.parametrize(("stem", "index"), _params())
def test_case(stem: str, index: int) -> None:
    rules, data, cases = _load(stem)
    case = cases[index]
    assert case["expect"] in ("allow", "deny"), case
    verdict = "allow" if decide(rules, data, case) else "deny"
    assert verdict == case["expect"], json.dumps(case)


def test_there_are_enough_cases() -> None:
    assert len(_params()) >= 150
