"""The same rules cases (``cases/*.json``) over the REST protocol, as an emulator client sees them.

Each case runs in a fresh namespace: upload the rules and seed the data as admin (``Bearer
owner``), then send the operation as admin with ``auth_variable_override`` set to the case's
``auth``, which turns the rules back on. 200 means allowed, 401 denied; anything else fails the
case. Runs against ``focus serve`` or, with FIREBASE_DATABASE_EMULATOR_HOST set, the emulator.
Skipped while the server cannot load rule expressions.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

CASES = Path(__file__).parent / "cases"
_SUPPORT: dict[str, bool] = {}


def _supports_expressions(rest: Any) -> bool:
    if "answer" not in _SUPPORT:
        resp = rest.put("/.settings/rules.json", data=b'{"rules": {".read": "auth != null"}}')
        _SUPPORT["answer"] = resp.status_code == 200
    return _SUPPORT["answer"]


def _params() -> list[Any]:
    return [
        pytest.param(path.stem, index, id=f"{path.stem}:{case['name']}")
        for path in sorted(CASES.glob("*.json"))
        for index, case in enumerate(json.loads(path.read_text())["cases"])
    ]


def _url(path: str) -> str:
    return "/.json" if path.strip("/") == "" else path.rstrip("/") + ".json"


@pytest.mark.parametrize(("stem", "index"), _params())
def test_case_over_rest(rest: Any, stem: str, index: int) -> None:
    if not _supports_expressions(rest):
        pytest.skip("the server does not load rule expressions yet")
    spec = json.loads((CASES / f"{stem}.json").read_text())
    case = spec["cases"][index]
    rest.set_rules(json.dumps({"rules": spec["rules"]}))
    seeded = rest.put("/.json", data=json.dumps(spec.get("data")).encode())
    assert seeded.status_code == 200, seeded.text
    params = {"auth_variable_override": json.dumps(case.get("auth")), **case.get("query", {})}
    url, op = _url(case["path"]), case["op"]
    if op == "read":
        resp = rest.get(url, params=params)
    elif op == "write" and case["value"] is None:
        resp = rest.delete(url, params=params)
    elif op == "write":
        resp = rest.put(url, params=params, data=json.dumps(case["value"]).encode())
    else:
        resp = rest.patch(url, params=params, data=json.dumps(case["value"]).encode())
    verdict = {200: "allow", 401: "deny"}.get(resp.status_code, f"HTTP {resp.status_code}")
    assert verdict == case["expect"], f"{json.dumps(case)} -> {resp.text}"
