"""Upload-time checks (rules.md §10): what is refused, with which message and where."""

from __future__ import annotations

import json

import pytest

from focuscli.rules import ExpressionError, RuleTypeError, compile_expression, compile_rules
from focuscli.rules.document import RulesDocument, RulesError
from focuscli.rules.errors import RuleSourceError

# Rules that production refuses at deploy, with its messages (pyric's r29 capture of
# `firebase deploy` dry runs): these texts are production's own.
PRODUCTION = [
    ("foo == 1", ".read", "1:1: Unknown variable 'foo'.\nfoo == 1\n^"),
    ("$nope == 'x'", ".read", "1:1: Unknown variable '$nope'.\n$nope == 'x'\n^"),
    ("newData.exists()", ".read",
     "1:1: newData is invalid in .read expressions.\nnewData.exists()\n^"),
    ("data.foo()", ".read", "1:6: No such method/property 'foo'.\ndata.foo()\n     ^"),
    ("newData.val().bar()", ".write",
     "1:15: No such method/property 'bar'.\nnewData.val().bar()\n              ^"),
    ("newData.val().length() > 0", ".write",
     "1:15: Type error: Function call on target that is not a function.\n"
     "newData.val().length() > 0\n              ^"),
    ("data.foo == 1", ".read", "1:6: No such method/property 'foo'.\ndata.foo == 1\n     ^"),
    ("data > 1", ".read",
     "1:1: Invalid > expression: left operand must be a number or string.\ndata > 1\n^"),
    ("auth.uid", ".read", "1:1: Expression must evaluate to a boolean.\nauth.uid\n^"),
    ("1", ".read", "1:1: Expression must evaluate to a boolean.\n1\n^"),
    ("data.child().exists()", ".read",
     "1:6: child() expects 1 argument.\ndata.child().exists()\n     ^"),
    ("auth.exists()", ".read",
     "1:6: Type error: Function call on target that is not a function.\nauth.exists()\n     ^"),
    ("data.contains('a')", ".read",
     "1:6: No such method/property 'contains'.\ndata.contains('a')\n     ^"),
    ("auth.uid = 'x'", ".read",
     "1:10: Rule expressions may not contain assignments.\nauth.uid = 'x'\n         ^"),
    ("'a' - 1 > 0", ".read",
     "1:1: Invalid - expression: left operand is not a number.\n'a' - 1 > 0\n^"),
    ("true > 1", ".read",
     "1:1: Invalid > expression: left operand must be a number or string.\ntrue > 1\n^"),
    ("!'a'", ".read", "1:2: ! only operates on booleans.\n!'a'\n ^"),
    ("query.foo == 1", ".read", "1:7: No such method/property 'foo'.\nquery.foo == 1\n      ^"),
    ("data.child('a', 'b').exists()", ".read",
     "1:6: child() expects 1 argument.\ndata.child('a', 'b').exists()\n     ^"),
    ("newData.val().matches('a')", ".write",
     "1:23: matches() expects a regular expression literal argument.\n"
     "newData.val().matches('a')\n                      ^"),
    ("data.hasChild(1)", ".read",
     "1:15: hasChild() expects a string argument.\ndata.hasChild(1)\n              ^"),
]  # fmt: skip

# What production accepts in the same capture.
PRODUCTION_ACCEPTS = ["auth != null", "auth.uid + 1 > 'x'", "auth.foo == 1"]


@pytest.mark.parametrize(("text", "kind", "message"), PRODUCTION)
def test_production_refusals_and_messages(text: str, kind: str, message: str) -> None:
    with pytest.raises(ExpressionError) as info:
        compile_expression(text, kind)
    assert str(info.value) == message


@pytest.mark.parametrize("text", PRODUCTION_ACCEPTS)
def test_production_acceptances(text: str) -> None:
    compile_expression(text, ".read")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("auth != null ? 7 : true",
         "1:16: Expression must evaluate to a boolean.\nauth != null ? 7 : true\n               ^"),
        ("root.exists", "1:6: exists is a method; call it: exists().\nroot.exists\n     ^"),
        ("root.val().notFound == false",
         "1:12: No such method/property 'notFound'.\nroot.val().notFound == false\n           ^"),
        ("root['exi' + 'sts']()",
         "1:6: Method and property names must be literal strings here.\n"
         "root['exi' + 'sts']()\n     ^"),
        ("root.child('x') != null",
         "1:1: Invalid != expression: left operand cannot be a RuleDataSnapshot.\n"
         "root.child('x') != null\n^"),
        ("root.val() > true",
         "1:14: Invalid > expression: right operand must be a number or string.\n"
         "root.val() > true\n             ^"),
        ("1 > 'a'",
         "1:3: Invalid > expression: a number cannot be compared with a string.\n1 > 'a'\n  ^"),
        ("-'a' < 0", "1:2: Invalid - expression: the operand is not a number.\n-'a' < 0\n ^"),
        ("true || 'a'", "1:9: || only operates on booleans.\ntrue || 'a'\n        ^"),
        ("5 ? true : false", "1:1: ?: only operates on booleans.\n5 ? true : false\n^"),
        ("root.hasChildren('a', 'b')",
         "1:6: hasChildren() expects 0 or 1 arguments.\nroot.hasChildren('a', 'b')\n     ^"),
        ("root.hasChildren('a')",
         "1:18: hasChildren() expects an array literal argument.\n"
         "root.hasChildren('a')\n                 ^"),
        ("root.hasChildren(['a', 7])",
         "1:24: hasChildren() expects a string argument.\n"
         "root.hasChildren(['a', 7])\n                       ^"),
        ("'a'.replace('a') == 'a'",
         "1:5: replace() expects 2 arguments.\n'a'.replace('a') == 'a'\n    ^"),
        ("auth.uid.matches(/bar/ig)",
         "1:24: Unsupported regular expression flag 'g'.\n"
         "auth.uid.matches(/bar/ig)\n                       ^"),
        ("auth.uid.matches(/(^foo$|bar)/)",
         "1:20: '^' is only allowed at the start of the pattern.\n"
         "auth.uid.matches(/(^foo$|bar)/)\n                   ^"),
        ("auth.uid.matches(/^(foo|)$/)",
         "1:25: A group may not have an empty alternative.\n"
         "auth.uid.matches(/^(foo|)$/)\n                        ^"),
        ("(true ? root : 1) == 1",
         "1:1: Invalid ?: expression: the branches cannot be a RuleDataSnapshot and a number.\n"
         "(true ? root : 1) == 1\n^"),
        ("/a/ == null",
         "1:1: A regular expression literal is only allowed as the argument of matches().\n"
         "/a/ == null\n^"),
        ("auth != null &&\n  data.foo()",
         "2:8: No such method/property 'foo'.\n  data.foo()\n       ^"),
    ],
)  # fmt: skip
def test_messages(text: str, message: str) -> None:
    with pytest.raises(RuleTypeError) as info:
        compile_expression(text, ".write")
    assert str(info.value) == message


REJECTED = [
    # §10.3 names
    "skies === 'blue'", "$color == 'red'", "newData.val() == 1", "this == null",
    # §10.4 not boolean (statically: production refuses `auth.uid` as a rule)
    "7", "'foo'", "null", "now", "root", "auth.uid", "auth.admin", "newData.val()", "(data.val())",
    "query.startAt", "true ? auth.a : false", "auth != null ? 7 : true", "true ? 'a' : 'b'",
    "true ? true : false ? 1 : true",
    # §10.5 calls and members that cannot exist
    "root.doesNotExist()", "root.exists", "root.child", "query.foo == 1",
    "root.val().notFound == false", "data.val()['x'] == 1", "data.val()[0] == 1",
    "root['exi' + 'sts']()", "root[$wild]()", "'abc'.foo()", "'abc'.size > 1", "'abc'.contains",
    "now.foo == 1", "auth()", "auth.uid.foo()", "(1).toString() == '1'", "query.orderByKey()",
    "root.val.length > 0",
    # §10.6 argument shapes
    "root.hasChildren('a', 'b')", "root.hasChildren('a')", "root.hasChildren(['a', 7])",
    "root.hasChildren([null])", "auth.foo.contains(7)", "'a'.beginsWith(null)",
    "'a'.replace('a') == 'a'", "root.child(5).exists()", "root.hasChild(true)",
    "root.child('a', 'b').exists()", "root.exists(1)",
    "auth.uid.matches('/foo/')", "auth.uid.matches(/bar/ig)", "auth.uid.matches(/bar/g)",
    "auth.uid.matches(/bar/m)", "auth.uid.matches(/(^foo$|bar)/)", "auth.uid.matches(/a^b/)",
    "auth.uid.matches(/a$b/)", "auth.uid.matches(/^(foo|)$/)", "auth.uid.matches(/a||b/)",
    "auth.uid.matches(/a(?:b)/)", "auth.uid.matches(/(a/)", "auth.uid.matches(/a)/)",
    "auth.uid.matches(/[a/)", "auth.uid.matches(/+a/)", "auth.uid.matches(/\\1/)",
    "auth.uid.matches(/\\q/)", "auth.uid.matches(/[z-a]/)",
    "/a/ == null", "['a'] == null", "auth.uid.matches(/a/, /b/)",
    # §10.7 comparisons
    "root.child('x') != null", "data == newData", "query == null", "root.val() > true",
    "auth.uid > null", "1 > 'a'", "true < false",
    # operand types that can never fit
    "!5", "!'a'", "1 && true", "'a' || true", "5 ? true : false", "-'a' == 1", "'a' - 1 == 1",
    "true + 1 == 2", "null + 'a' == 'a'", "root + 1 == 1", "'a' * 2 == 2", "-root == 1",
    # §10.8 and unsupported syntax
    "2 ** 3 == 8", "root = 5", "var x = 8", "true; true", "typeof auth == 'object'",
    "'a' in auth", "auth instanceof Object", "new Date() == null", "+1 == 1", "x => true",
    "{a: 1} == null", "auth.uid++", "1, true", "",
]  # fmt: skip


@pytest.mark.parametrize("text", REJECTED)
def test_rejected(text: str) -> None:
    kind = ".read" if "newData" in text else ".write"
    with pytest.raises(ExpressionError):
        compile_expression(text, kind, {"$wild"})


ACCEPTED = [
    "true", "false", "auth != null", "auth.uid === $uid", "auth.uid == $uid",
    "root['exists']()", "root.child('a')['child']('b').exists()", "auth.foo[$uid] == null",
    "auth.someString['contains']('on')", "auth.contains('75')", "auth.foo.baz == null",
    "root.hasChildren(['banned/' + auth.uid])", "root.hasChildren()", "data.hasChildren(['a', 'b'])",
    "newData.val().matches(/^[A-Z0-9._%+-]+@[A-Z0-9.-]+\\.[A-Z]{2,4}$/i)",
    "newData.val().matches(/^(19|20)[0-9][0-9][-\\/. ](0[1-9]|1[012])[-\\/. ](0[1-9]|[12][0-9]|3[01])$/)",
    "$uid === newData.val() + ''", "auth.token.email.replace('.', ',') === $uid",
    "query.orderByKey && query.limitToFirst <= 1000",
    "query.orderByChild === 'owner' && query.equalTo === auth.uid",
    "data.val() == null", "newData.val().length > 0", "root.child('x').val() > 5",
    "(1 / 0 + '') == 'NaN'", "(1 + auth.someString) == 2", "'one' > auth.someInt",
    "root.parent().exists() || true", "newData.getPriority() === null",
    "newData.isNumber() && newData.val() >= 0 && newData.val() <= 99",
    "root.child('valid_colors/' + newData.val()).exists()", "$uid.length > 3",
    "$uid.contains('public')", "now - newData.val() < 60000", "-newData.val() < 0",
    "newData.child('ts').val() === now", "data.exists() ? data.val() === newData.val() : true",
    "auth.admin && true", "!auth.banned", "auth.x ? true : false", "auth.a ? auth.b && true : false",
    "data.child('a').val() + data.child('b').val() === 3", "'a' < 'b'", "1 % 2 === 1",
    "auth.list[0] == 'x'", "auth.token.firebase.identities['google.com'][0] == 'x'",
    "auth.uid.matches(/a/) ? true : auth.uid.matches(/b/i)", "(data.val() == 1)", "!!true",
    "auth.uid.toLowerCase().toUpperCase().length == 3", "query['orderByKey'] == true",
]  # fmt: skip


@pytest.mark.parametrize("text", ACCEPTED)
def test_accepted(text: str) -> None:
    compile_expression(text, ".write", {"$uid"})


def test_newdata_only_outside_read() -> None:
    compile_expression("newData.exists()", ".write")
    compile_expression("newData.exists()", ".validate")
    with pytest.raises(RuleTypeError):
        compile_expression("newData.exists()", ".read")


def test_query_in_a_write_rule_is_allowed() -> None:
    compile_expression("query.orderByKey == true", ".write")


# -- errors located in the rules source --------------------------------------------------------


def _compile(source: str) -> RuleSourceError:
    with pytest.raises(RuleSourceError) as info:
        compile_rules(RulesDocument.parse(source))
    assert isinstance(info.value, RulesError)  # what the server catches
    assert "\n" not in str(info.value)  # one line, as the emulator answers
    return info.value


def test_error_names_the_source_position() -> None:
    source = (
        "{\n"
        "  // who may write\n"
        '  "rules": {\n'
        '    "users": {\n'
        '      "$uid": {\n'
        '        ".write": "auth.uid === $uid && newData.child(\'ts\').val() === nowx"\n'
        "      }\n"
        "    }\n"
        "  }\n"
        "}\n"
    )
    err = _compile(source)
    assert (err.line, err.column) == (6, 71)
    assert err.pretty() == (
        "6:71: Unknown variable 'nowx'.\n"
        '        ".write": "auth.uid === $uid && newData.child(\'ts\').val() === nowx"\n'
        "                                                                      ^"
    )


def test_error_in_a_multi_line_string_rule() -> None:
    source = '{"rules": {\n  ".read": "auth != null &&\n     root.nope()"\n}}'
    err = _compile(source)
    assert err.pretty() == (
        "3:11: No such method/property 'nope'.\n     root.nope()\"\n          ^"
    )


def test_error_position_accounts_for_json_escapes() -> None:
    source = '{"rules": {".read": "\\"a\\\\b\\" == x"}}'
    assert json.loads(source)["rules"][".read"] == '"a\\b" == x'
    err = _compile(source)
    assert (err.line, err.column) == (1, 34)
    assert err.message == "Unknown variable 'x'."
    assert str(err) == "1:34: Unknown variable 'x'."


def test_syntax_errors_are_located_too() -> None:
    err = _compile('{"rules": {"a": {".validate": "newData.val() >"}}}')
    assert err.pretty() == (
        "1:47: Unexpected end of expression.\n"
        '{"rules": {"a": {".validate": "newData.val() >"}}}\n'
        "                                              ^"
    )


def test_the_first_error_in_document_order_is_reported() -> None:
    err = _compile('{"rules": {"$a": {".read": "x1"}, ".read": "x2", "b": {".read": "x3"}}}')
    assert err.message == "Unknown variable 'x1'."
    err = _compile('{"rules": {"b": {".read": "x3"}, "$a": {".read": "x1"}}}')
    assert err.message == "Unknown variable 'x3'."


def test_wildcard_scope_follows_the_rules_tree() -> None:
    ok = '{"rules": {"$a": {"b": {"$c": {".read": "$a + $c == \'x\'"}}}}}'
    compile_rules(RulesDocument.parse(ok))
    err = _compile('{"rules": {"$a": {".read": true}, "b": {".read": "$a == \'x\'"}}}')
    assert err.message.startswith("Unknown variable '$a'")


def test_the_wildcard_is_in_scope_at_its_own_node() -> None:
    compile_rules(RulesDocument.parse('{"rules": {"$a": {".read": "$a == \'x\'"}}}'))


def test_literal_rules_need_no_expression_support() -> None:
    rules = compile_rules(RulesDocument.parse('{"rules": {".read": " true ", ".write": false}}'))
    assert rules.can_read((), None, None, 0, None) is True
    assert rules.can_write((), None, None, 1, 0) is False
