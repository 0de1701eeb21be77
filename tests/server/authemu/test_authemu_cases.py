"""The Auth emulator's answers to bad requests, in both modes: cases/errors.json, one request and
its expected status and message each (the emulator's order of checks is pinned by the cases).

A case's ``given`` names fixtures made through the API first; ``{name.idToken}``,
``{name.refreshToken}``, ``{name.localId}`` and ``{name.unsignedIdToken}`` in a request refer to
them (a named user is made when a request mentions it).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from focuscli.server.authemu import errors as E
from focuscli.server.authemu.tokens import unsigned
from tests.server.authemu.conftest import PROJECT, V1, Emu, claims_of

CASES = json.loads((Path(__file__).parent / "cases" / "errors.json").read_text())
GIVEN_ORDER = ["privacy", "ada", "anon", "dis", "gone", "nopw", "phone"]
PLACEHOLDER = re.compile(r"\{(\w+)\.(\w+)\}")


def _arrange(emu: Emu, name: str) -> dict[str, Any]:
    if name == "privacy":
        emu.call(f"/emulator/v1/projects/{PROJECT}/config",
                 {"emailPrivacyConfig": {"enableImprovedEmailPrivacy": True}}, method="PATCH",
                 admin=True, key=None)
        return {}
    if name == "anon":
        return emu.sign_up()
    if name in ("nopw", "phone"):
        body = {"email": "nopw@example.com"} if name == "nopw" else {"phoneNumber": "+15550001"}
        return emu.call(f"{V1}/projects/{PROJECT}/accounts", body, admin=True, key=None)
    user = emu.sign_up(f"{name}@example.com")
    if name == "dis":
        emu.admin_update(user["localId"], disableUser=True)
    if name == "gone":
        emu.call(f"{V1}/projects/{PROJECT}/accounts:delete", {"localId": user["localId"]},
                 admin=True, key=None)
    if "idToken" in user:
        user["unsignedIdToken"] = unsigned(claims_of(user["idToken"]))
    return user


def _fill(value: Any, given: dict[str, dict[str, Any]]) -> Any:
    if isinstance(value, str):
        return PLACEHOLDER.sub(lambda m: str(given[m.group(1)][m.group(2)]), value)
    if isinstance(value, list):
        return [_fill(v, given) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, given) for k, v in value.items()}
    return value


def _params() -> list[Any]:
    params = []
    for case in CASES:
        for mode in case.get("modes", ["emulator", "secure"]):
            params.append(pytest.param(case, mode, id=f"{mode}: {case['name']}"))
    return params


@pytest.mark.parametrize(("case", "mode"), _params())
def test_case(case: dict[str, Any], mode: str, emulator_mode: Emu, secure_mode: Emu) -> None:
    emu = secure_mode if mode == "secure" else emulator_mode
    text = json.dumps(case["request"])
    wanted = set(case.get("given", [])) | {m.group(1) for m in PLACEHOLDER.finditer(text)}
    given = {name: _arrange(emu, name) for name in GIVEN_ORDER if name in wanted}
    request = _fill(case["request"], given)
    headers = dict(request.get("headers", {}))
    reply = emu.request(
        request["method"], request["path"], request.get("body"),
        key="fake-api-key" if request.get("key", True) else None, headers=headers,
        admin=request.get("auth") == "admin",
        raw=request["raw"].encode() if "raw" in request else None,
    )
    expect = {**case["expect"], **case.get(mode, {})}
    shown = json.dumps(reply.body, indent=2)
    assert reply.status == expect["status"], shown
    if reply.status >= 400:
        error = reply.body["error"]
        assert error["code"] == reply.status
        if reply.status != 401:  # 401 items say "Invalid Credentials" / "Login Required."
            assert error["errors"][0]["message"] == error["message"]
        if "message" in expect:
            assert error["message"] == expect["message"], shown
        if "message_starts" in expect:
            assert error["message"].startswith(expect["message_starts"]), shown
        assert ("status" in error) == (reply.status != 400 or error["message"].startswith("Invalid JSON")), shown


def test_every_business_error_string_is_in_the_catalogue() -> None:
    """Each 400 message a case expects is one of errors.py's strings (the one table)."""
    table = {v for k, v in vars(E).items() if k.isupper() and isinstance(v, str)}
    for case in CASES:
        for expect in (case["expect"], *(case.get(m, {}) for m in ("emulator", "secure"))):
            message = expect.get("message")
            if message is None or expect.get("status", case["expect"]["status"]) == 200:
                continue
            dynamic = ("FORBIDDEN_CLAIM : ", "INVALID_CUSTOM_TOKEN : ((Invalid aud", "Invalid JSON payload",
                       "identitytoolkit.", "deleteAttribute", "signIn.")
            assert message in table or message.startswith(dynamic), message
