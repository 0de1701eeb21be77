"""Parser: precedence and associativity, exact error messages, and a fuzz test."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from focuscli.rules import ast
from focuscli.rules.errors import ParseError, RuleSyntaxError
from focuscli.rules.parser import parse


def sexpr(node: ast.Node) -> str:
    """A compact prefix rendering of a tree, for readable assertions."""
    if isinstance(node, ast.Literal):
        if node.value is None:
            return "null"
        return repr(node.value) if isinstance(node.value, str) else str(node.value).lower()
    if isinstance(node, ast.Name):
        return node.name
    if isinstance(node, ast.Regex):
        return f"/{node.pattern}/{node.flags}"
    if isinstance(node, ast.Array):
        return "[" + " ".join(sexpr(i) for i in node.items) + "]"
    if isinstance(node, ast.Member):
        key = sexpr(node.key) if node.computed else str(node.key.value)  # type: ignore[attr-defined]
        return f"({'[]' if node.computed else '.'} {sexpr(node.obj)} {key})"
    if isinstance(node, ast.Call):
        return "(call " + " ".join(sexpr(n) for n in (node.callee, *node.args)) + ")"
    if isinstance(node, ast.Unary):
        return f"({node.op} {sexpr(node.operand)})"
    if isinstance(node, (ast.Binary, ast.Logical)):
        return f"({node.op} {sexpr(node.left)} {sexpr(node.right)})"
    assert isinstance(node, ast.Conditional)
    return f"(? {sexpr(node.test)} {sexpr(node.then)} {sexpr(node.otherwise)})"


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        ("a || b && c", "(|| a (&& b c))"),
        ("a && b || c", "(|| (&& a b) c)"),
        ("2 + 3 * 4", "(+ 2 (* 3 4))"),
        ("(2 + 3) * 4", "(* (+ 2 3) 4)"),
        ("10 - 2 - 3", "(- (- 10 2) 3)"),
        ("8 / 4 / 2", "(/ (/ 8 4) 2)"),
        ("a % b * c", "(* (% a b) c)"),
        ("1 + 2 < 4 == true", "(== (< (+ 1 2) 4) true)"),
        ("a === b && c !== d", "(&& (=== a b) (!== c d))"),
        ("a < b == c > d", "(== (< a b) (> c d))"),
        ("!a && b", "(&& (! a) b)"),
        ("!a.b()", "(! (call (. a b)))"),
        ("-a * b", "(* (- a) b)"),
        ("- -a", "(- (- a))"),
        ("a ? b : c ? d : e", "(? a b (? c d e))"),
        ("a ? b ? c : d : e", "(? a (? b c d) e)"),
        ("a || b ? c : d", "(? (|| a b) c d)"),
        ("a ? b || c : d && e", "(? a (|| b c) (&& d e))"),
        ("root.child('a').val()", "(call (. (call (. root child) 'a') val))"),
        ("auth.token['x'][$k]", "([] ([] (. auth token) 'x') $k)"),
        ("root['exists']()", "(call ([] root 'exists'))"),
        ("d.hasChildren(['a', 'b/c'])", "(call (. d hasChildren) ['a' 'b/c'])"),
        ("s.matches(/^a+$/i)", "(call (. s matches) /^a+$/i)"),
        ("x.replace('.', ',')", "(call (. x replace) '.' ',')"),
        ("auth.true == null", "(== (. auth true) null)"),
        ("((a))", "a"),
        ("a\n  && b", "(&& a b)"),
    ],
)
def test_precedence_and_shape(text: str, tree: str) -> None:
    assert sexpr(parse(text)) == tree


def test_spans_cover_the_source() -> None:
    node = parse("  (a.b) === 'x'")
    assert isinstance(node, ast.Binary)
    assert (node.start, node.end, node.op_start) == (2, 15, 8)
    assert (node.left.start, node.left.end) == (2, 7)  # the parentheses belong to it


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "Empty expression at 1:1\n\n^"),
        ("   ", "Empty expression at 1:4\n   \n   ^"),
        ("auth != ", "Unexpected end of expression at 1:9\nauth != \n        ^"),
        ("auth != )", "Unexpected ')' at 1:9\nauth != )\n        ^"),
        ("(a", "Unexpected end of expression at 1:3\n(a\n  ^"),
        ("(a]", "Expected ')' but found ']' at 1:3\n(a]\n  ^"),
        ("a b", "Unexpected 'b' at 1:3\na b\n  ^"),
        ("a 'b'", "Unexpected string at 1:3\na 'b'\n  ^"),
        ("f(1,)", "Unexpected ')' at 1:5\nf(1,)\n    ^"),
        ("a.", "Expected a name after '.' but found end of expression at 1:3\na.\n  ^"),
        ("a.'b'", "Expected a name after '.' but found string at 1:3\na.'b'\n  ^"),
        ("a ? b", "Unexpected end of expression at 1:6\na ? b\n     ^"),
        ("a ? b , c", "Expected ':' but found ',' at 1:7\na ? b , c\n      ^"),
        ("root = 5", "Assignment is not supported at 1:6\nroot = 5\n     ^"),
        ("var x = 8", "'var' is not supported at 1:1\nvar x = 8\n^"),
        ("a; b", "Only a single expression is allowed (no ';') at 1:2\na; b\n ^"),
        ("2 ** 3", "The '**' operator is not supported at 1:3\n2 ** 3\n  ^"),
        ("a++", "The '++' operator is not supported at 1:2\na++\n ^"),
        ("+a", "Unary '+' is not supported at 1:1\n+a\n^"),
        ("typeof a", "'typeof' is not supported at 1:1\ntypeof a\n^"),
        ("a in b", "'in' is not supported at 1:3\na in b\n  ^"),
        ("new Date()", "'new' is not supported at 1:1\nnew Date()\n^"),
        ("{}", "Object literals are not supported at 1:1\n{}\n^"),
        ("a & b", "Bitwise operators are not supported at 1:3\na & b\n  ^"),
        ("x => 1", "Functions are not supported at 1:3\nx => 1\n  ^"),
        ("a &&\n  b ||\n  )", "Unexpected ')' at 3:3\n  )\n  ^"),
        ("a, b", "Unexpected ',' at 1:2\na, b\n ^"),
        ("1 2", "Unexpected number at 1:3\n1 2\n  ^"),
        ("/re/ 're'", "Unexpected string at 1:6\n/re/ 're'\n     ^"),
        ("f(/a/ /b/)", "Unexpected end of expression at 1:11\nf(/a/ /b/)\n          ^"),
        ("a == /b/", "Unexpected end of expression at 1:9\na == /b/\n        ^"),
        ("true false", "Unexpected 'false' at 1:6\ntrue false\n     ^"),
    ],
)
def test_error_messages(text: str, message: str) -> None:
    with pytest.raises(ParseError) as info:
        parse(text)
    assert str(info.value) == message


def test_error_attributes() -> None:
    with pytest.raises(ParseError) as info:
        parse("a &&\n  )")
    err = info.value
    assert (err.message, err.offset, err.line, err.column) == ("Unexpected ')'", 7, 2, 3)
    assert err.expression == "a &&\n  )"


def test_deep_nesting_is_a_syntax_error_not_a_crash() -> None:
    with pytest.raises(ParseError, match="nested too deeply"):
        parse("(" * 1000 + "a" + ")" * 1000)
    with pytest.raises(ParseError, match="nested too deeply"):
        parse(" + ".join(["1"] * 5000))
    with pytest.raises(ParseError, match="nested too deeply"):
        parse("!" * 1000 + "a")
    assert sexpr(parse(" + ".join(["1"] * 50))).count("+") == 49


_FRAGMENTS = st.sampled_from(
    [
        "auth", "now", "root", "data", "newData", "query", "$uid", "true", "false", "null",
        "1", "0.5", "'s'", '"d"', "/re/", "/a[/]b/i", ".", "[", "]", "(", ")", ",", "?", ":",
        "!", "-", "+", "*", "/", "%", "<", "<=", ">", ">=", "==", "===", "!=", "!==", "&&",
        "||", "=", ";", "**", "child", "val", " ", "\n", "'", '"', "\\", "{", "}", "#", "é",
        "typeof", "1e", "0x1",
    ]
)  # fmt: skip


@settings(max_examples=600, deadline=None)
@given(st.lists(_FRAGMENTS, max_size=30).map("".join))
def test_fuzz_token_soup_never_crashes(text: str) -> None:
    try:
        parse(text)
    except RuleSyntaxError as err:
        assert 0 <= err.offset <= len(text)
        str(err)


@settings(max_examples=600, deadline=None)
@given(st.text(max_size=60))
def test_fuzz_any_text_never_crashes(text: str) -> None:
    try:
        parse(text)
    except RuleSyntaxError as err:
        assert 0 <= err.offset <= len(text)
        str(err)
