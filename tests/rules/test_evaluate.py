"""Evaluator internals: JavaScript number text, equality, regex translation, robustness."""

from __future__ import annotations

import inspect
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from focuscli.rules import ExpressionError, compile_expression, compile_rules
from focuscli.rules.document import RulesDocument
from focuscli.rules.regex import RegexError, compile_regex
from focuscli.rules.snapshot import Children, Context
from focuscli.rules.values import equal, number_text, string_length
from focuscli.server import access


@pytest.mark.parametrize(
    ("number", "text"),
    [
        (0, "0"), (-0.0, "0"), (1, "1"), (-5, "-5"), (2.0, "2"), (1.5, "1.5"), (0.1, "0.1"),
        (0.1 + 0.2, "0.30000000000000004"), (100, "100"), (1e21, "1e+21"), (1e20, "100000000000000000000"),
        (123456789012345680000.0, "123456789012345680000"), (1.5e300, "1.5e+300"),
        (0.000001, "0.000001"), (0.0000001, "1e-7"), (1.25e-7, "1.25e-7"), (-2.5e-10, "-2.5e-10"),
        (math.nan, "NaN"), (math.inf, "Infinity"), (-math.inf, "-Infinity"), (2**53, "9007199254740992"),
        (10**21, "1e+21"), (1 / 3, "0.3333333333333333"),
    ],
)  # fmt: skip
def test_number_text_is_javascripts(number: float, text: str) -> None:
    assert number_text(number) == text


def test_equal_has_no_coercion() -> None:
    assert equal(1, 1.0)
    assert not equal(1, True)
    assert not equal(0, False)
    assert not equal("1", 1)
    assert not equal(None, False)
    assert equal(None, None)
    assert not equal(math.nan, math.nan)
    node = {"a": 1}
    assert not equal(Children(node), Children(node))
    auth = {"a": 1}
    assert equal(auth, auth) and not equal(auth, {"a": 1})


def test_length_counts_utf16_code_units() -> None:
    assert string_length("abc") == 3
    assert string_length("é") == 1
    assert string_length("\U0001f600") == 2


@pytest.mark.parametrize(
    ("pattern", "flags", "text", "found"),
    [
        ("a", "", "ba", True), ("^a", "", "ba", False), ("a$", "", "ab", False),
        ("^ab$", "", "ab\n", False), ("^a.c$", "", "a\nc", False), ("^a.c$", "", "abc", True),
        ("\\d", "", "\u0663", False), ("\\w", "", "é", False), ("^[\\w-]+$", "", "a-b_c", True),
        ("^ab$", "i", "AB", True), ("[^]", "", "x", True), ("[]", "", "x", False),
        ("^[a\\-z]$", "", "-", True), ("^[a-]$", "", "-", True), ("^[\\d.]+$", "", "1.5", True),
        ("[[]", "", "[", True), ("a{2}", "", "aa", True), ("a{,2}", "", "a{,2}", True),
        ("^\\$\\^$", "", "$^", True), ("x*?", "", "", True), ("\\x41\\u0042", "", "AB", True),
        ("[&&~|]", "", "~", True), ("\\/", "", "/", True),
    ],
)  # fmt: skip
def test_regex_dialect(pattern: str, flags: str, text: str, found: bool) -> None:
    assert (compile_regex(pattern, flags).search(text) is not None) is found


@pytest.mark.parametrize(
    "pattern",
    ["a^", "$a", "(|a)", "(a|)", "|a", "a|", "()", "(?:a)", "(?=a)", "\\1", "\\k", "*", "a**",
     "(a", "a)", "[z-a]", "[a", "\\p{L}"],
)  # fmt: skip
def test_regex_refusals(pattern: str) -> None:
    with pytest.raises(RegexError):
        compile_regex(pattern, "")


def test_compiled_rules_match_the_access_protocol() -> None:
    rules = compile_rules(RulesDocument.parse('{"rules": {}}'))
    for name in ("can_read", "can_write", "index_on"):
        ours = inspect.signature(getattr(rules, name))
        theirs = inspect.signature(getattr(access.Access, name))
        assert list(ours.parameters) == [p for p in theirs.parameters if p != "self"], name


def test_index_on() -> None:
    source = '{"rules": {"a": {".indexOn": "h", "$x": {".indexOn": ["p", "q"]}}}}'
    rules = compile_rules(RulesDocument.parse(source))
    assert rules.index_on(("a",)) == ("h",)
    assert rules.index_on(("a", "k")) == ("p", "q")
    assert rules.index_on(()) == ()
    assert rules.index_on(("b",)) == ()
    assert rules.index_on(("a", "k", "z")) == ()


def test_long_generated_chains_compile_and_evaluate() -> None:
    text = " || ".join(f"auth.uid == 'u{i}'" for i in range(3000))
    expression = compile_expression(f"auth != null && ({text})", ".read")
    ctx = Context({"uid": "u2999"}, 0, None, None, (), None, None, {}, {})
    assert expression.holds(ctx)
    ctx.auth = {"uid": "nobody"}
    assert not expression.holds(ctx)


def test_read_does_not_build_the_query_for_literal_rules() -> None:
    rules = compile_rules(RulesDocument.parse('{"rules": {".read": true}}'))
    assert rules.can_read(("a",), None, None, 0, {"orderBy": "not json"})


# -- robustness: whatever compiles evaluates to a verdict, never an exception ------------------

_PIECES = st.sampled_from(
    [
        "auth", "auth.uid", "auth.n", "auth.s", "auth.list", "auth.obj", "now", "$k", "data",
        "newData", "root", "query.orderByKey", "query.limitToFirst", "query.startAt",
        "data.val()", "newData.val()", "root.child('a').val()", "data.child($k)",
        "newData.child('x/y')", "data.parent()", "root.parent()", "1", "0", "-1", "0.5",
        "'s'", "''", "'a/b'", "true", "false", "null", "(1/0)", "[]", "['a', $k]", "/a+/i",
    ]
)  # fmt: skip
_OPS = st.sampled_from(
    [
        " + ", " - ", " * ", " / ", " % ", " < ", " <= ", " > ", " >= ", " == ", " === ",
        " != ", " && ", " || ",
    ]
)  # fmt: skip
_METHODS = st.sampled_from(
    [
        ".val()", ".exists()", ".child('a')", ".hasChild('a')", ".hasChildren()",
        ".hasChildren(['a'])", ".getPriority()", ".isNumber()", ".isString()", ".isBoolean()",
        ".length", ".contains('a')", ".beginsWith('a')", ".endsWith('')", ".replace('a', 'b')",
        ".toLowerCase()", ".toUpperCase()", ".matches(/^a/)", "['x']", "[0]", ".parent()", "",
    ]
)  # fmt: skip


@st.composite
def expressions(draw: Any, depth: int = 0) -> str:
    if depth > 2 or draw(st.booleans()):
        return str(draw(_PIECES)) + str(draw(_METHODS))
    kind = draw(st.sampled_from(["op", "not", "neg", "cond", "paren"]))
    inner = [str(draw(expressions(depth + 1))) for _ in range(3)]
    if kind == "op":
        return inner[0] + str(draw(_OPS)) + inner[1]
    if kind == "not":
        return "!" + inner[0]
    if kind == "neg":
        return "-" + inner[0]
    if kind == "cond":
        return f"{inner[0]} ? {inner[1]} : {inner[2]}"
    return "(" + inner[0] + ")" + str(draw(_METHODS))


_TREE = {"a": {"x": {"y": 1}, "k": "v", ".priority": 2}, "b": {".value": "s", ".priority": "p"}}
_AUTH = {"uid": "u", "n": 5, "s": "str", "list": [1, "a"], "obj": {"a": None}}


@settings(max_examples=800, deadline=None)
@given(expressions(), st.sampled_from([".read", ".write", ".validate"]))
def test_compiled_expressions_always_give_a_verdict(text: str, kind: str) -> None:
    try:
        expression = compile_expression(text, kind, {"$k"})
    except ExpressionError:
        return
    for auth in (None, _AUTH):
        for path, old, new in ((("a",), _TREE["a"], None), (("b",), _TREE["b"], {"x": 1})):
            query = {"orderByKey": True, "limitToFirst": None, "startAt": "a"}
            ctx = Context(auth, 1, _TREE, {"a": new}, path, old, new, {"$k": "k"}, query)
            assert expression.holds(ctx) in (True, False)
