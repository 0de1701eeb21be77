"""The same rules cases (``cases/*.json``) over the REST protocol, as an emulator client sees them.

Each case runs in a fresh namespace: upload the rules and seed the data as admin (``Bearer
owner``), then send the operation as admin with ``auth_variable_override`` set to the case's
``auth``, which turns the rules back on. 200 means allowed, 401 denied; anything else fails the
case. Runs against ``focus serve`` or, with FIREBASE_DATABASE_EMULATOR_HOST set, the emulator.
Denied operations must leave the data exactly as it was; allowed writes of plain values must
leave that value at the path.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

CASES = Path(__file__).parent / "cases"


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
    spec = json.loads((CASES / f"{stem}.json").read_text())
    case = spec["cases"][index]
    rest.set_rules(json.dumps({"rules": spec["rules"]}))
    seeded = rest.put("/.json", data=json.dumps(spec.get("data")).encode())
    assert seeded.status_code == 200, seeded.text
    before = rest.value("/.json")
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
    after = rest.value("/.json")
    if verdict == "deny":
        assert after == before, "a denied operation changed the data"
    elif op == "write" and _plain(case["value"]):
        assert rest.value(url) == case["value"], "the allowed write did not land"


def _plain(value: Any) -> bool:
    """Values that read back exactly as written: no server values, nulls or arrays."""
    if isinstance(value, dict):
        return bool(value) and all(not k.startswith(".") and _plain(v) for k, v in value.items())
    return value is not None and not isinstance(value, list)
