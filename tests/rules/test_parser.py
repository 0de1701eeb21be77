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
    if isinstance(node, ast.Logical):
        return f"({node.op} " + " ".join(sexpr(n) for n in node.operands) + ")"
    if isinstance(node, ast.Binary):
        return f"({node.op} {sexpr(node.left)} {sexpr(node.right)})"
    assert isinstance(node, ast.Conditional)
    return f"(? {sexpr(node.test)} {sexpr(node.then)} {sexpr(node.otherwise)})"


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        ("a || b && c", "(|| a (&& b c))"),
        ("a && b && c", "(&& a b c)"),
        ("a || b || c && d || e", "(|| a b (&& c d) e)"),
        ("(a && b) && c", "(&& a b c)"),
        ("a && (b || c) && d", "(&& a (|| b c) d)"),
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
        ("", "1:1: Empty expression.\n\n^"),
        ("   ", "1:4: Empty expression.\n   \n   ^"),
        ("auth != ", "1:9: Unexpected end of expression.\nauth != \n        ^"),
        ("auth != )", "1:9: Unexpected ')'.\nauth != )\n        ^"),
        ("(a", "1:3: Unexpected end of expression.\n(a\n  ^"),
        ("(a]", "1:3: Expected ')' but found ']'.\n(a]\n  ^"),
        ("a b", "1:3: Unexpected 'b'.\na b\n  ^"),
        ("a 'b'", "1:3: Unexpected string.\na 'b'\n  ^"),
        ("f(1,)", "1:5: Unexpected ')'.\nf(1,)\n    ^"),
        ("a.", "1:3: Expected a name after '.' but found end of expression.\na.\n  ^"),
        ("a.'b'", "1:3: Expected a name after '.' but found string.\na.'b'\n  ^"),
        ("a ? b", "1:6: Unexpected end of expression.\na ? b\n     ^"),
        ("a ? b , c", "1:7: Expected ':' but found ','.\na ? b , c\n      ^"),
        ("root = 5", "1:6: Rule expressions may not contain assignments.\nroot = 5\n     ^"),
        ("var x = 8", "1:1: 'var' is not supported.\nvar x = 8\n^"),
        ("a; b", "1:2: Only a single expression is allowed (no ';').\na; b\n ^"),
        ("2 ** 3", "1:3: The '**' operator is not supported.\n2 ** 3\n  ^"),
        ("a++", "1:2: The '++' operator is not supported.\na++\n ^"),
        ("+a", "1:1: Unary '+' is not supported.\n+a\n^"),
        ("typeof a", "1:1: 'typeof' is not supported.\ntypeof a\n^"),
        ("a in b", "1:3: 'in' is not supported.\na in b\n  ^"),
        ("new Date()", "1:1: 'new' is not supported.\nnew Date()\n^"),
        ("{}", "1:1: Object literals are not supported.\n{}\n^"),
        ("a & b", "1:3: Bitwise operators are not supported.\na & b\n  ^"),
        ("x => 1", "1:3: Functions are not supported.\nx => 1\n  ^"),
        ("a &&\n  b ||\n  )", "3:3: Unexpected ')'.\n  )\n  ^"),
        ("a, b", "1:2: Unexpected ','.\na, b\n ^"),
        ("1 2", "1:3: Unexpected number.\n1 2\n  ^"),
        ("/re/ 're'", "1:6: Unexpected string.\n/re/ 're'\n     ^"),
        ("f(/a/ /b/)", "1:10: Unexpected ')'.\nf(/a/ /b/)\n         ^"),
        ("true false", "1:6: Unexpected 'false'.\ntrue false\n     ^"),
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
    assert (err.message, err.offset, err.line, err.column) == ("Unexpected ')'.", 7, 2, 3)
    assert err.expression == "a &&\n  )"


def test_deep_nesting_is_a_syntax_error_not_a_crash() -> None:
    with pytest.raises(ParseError, match="nested too deeply"):
        parse("(" * 1000 + "a" + ")" * 1000)
    with pytest.raises(ParseError, match="nested too deeply"):
        parse(" + ".join(["1"] * 5000))
    with pytest.raises(ParseError, match="nested too deeply"):
        parse("!" * 1000 + "a")
    assert sexpr(parse(" + ".join(["1"] * 50))).count("+") == 49


def test_long_logical_chains_stay_flat() -> None:
    node = parse(" || ".join(["a"] * 5000))
    assert isinstance(node, ast.Logical) and len(node.operands) == 5000


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
