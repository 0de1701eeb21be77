"""``may_write``: refusing a write before its body is read refuses nothing the full check allows."""

from __future__ import annotations

from pathlib import Path

import pytest

from focuscli.rules import compile_rules
from focuscli.rules.document import RulesDocument

FOCUS = compile_rules(RulesDocument.parse(
    (Path(__file__).resolve().parent.parent.parent / "firebase" / "database.rules.json").read_text()
))  # fmt: skip
ALICE = {"uid": "alice", "token": {}}


@pytest.mark.parametrize(
    ("path", "auth", "method", "expected"),
    [
        (("users", "alice", "sessions", "s1"), ALICE, "PUT", True),
        (("users", "alice", "sessions"), ALICE, "PUT", False),  # a whole list: granted per entry only
        (("users", "alice"), ALICE, "PUT", False),
        (("users", "alice", "sessions", "s1"), None, "PUT", False),  # anonymous: every grant needs auth
        (("users", "bob"), ALICE, "PUT", False),  # auth.uid === $uid, with $uid known
        (("users",), ALICE, "PATCH", True),  # a PATCH may reach users/alice
        (("users",), ALICE, "PUT", False),  # a PUT there needs a grant at or above users
        (("users",), ALICE, "POST", False),  # a new child of users is a whole users/$uid
        ((), None, "PATCH", False),
        (("sessions", "s1"), None, "PATCH", False),
        (("sessions", "s1"), ALICE, "DELETE", True),  # depends on the data: might be allowed
        (("sessions", "s1", "members", "bob"), ALICE, "PUT", True),  # a session's deletion grant
        (("elsewhere",), ALICE, "PUT", False),  # no rule at all
    ],
)  # fmt: skip
def test_focus_rules(path: tuple[str, ...], auth: object, method: str, expected: bool) -> None:
    assert FOCUS.may_write(path, auth, 0, method) is expected


def test_only_the_parts_without_data_are_decided() -> None:
    rules = compile_rules(RulesDocument.parse('''{"rules": {
        "a": {".write": "newData.val() === 1 || auth.uid === 'x'"},
        "b": {".write": "auth.token.admin === true && data.exists()"},
        "c": {".write": "now > 0 && root.child('open').val() === true"},
        "d": {".write": "auth.uid.length > 100"}
    }}'''))  # fmt: skip
    assert rules.may_write(("a",), None, 1, "PUT")  # the newData part might hold
    assert not rules.may_write(("b",), {"uid": "u", "token": {}}, 1, "PUT")
    assert rules.may_write(("b",), {"uid": "u", "token": {"admin": True}}, 1, "PUT")
    assert rules.may_write(("c",), None, 1, "PUT")
    assert not rules.may_write(("c",), None, 0, "PUT")  # now > 0 is false whatever the data
    assert not rules.may_write(("d",), None, 1, "PUT")  # an error (null.length) is a false rule
