"""Parser: tokens -> syntax tree, by top-down operator precedence (a Pratt parser).

Each token kind has a *binding power*, its strength at joining the expression on its left; one
table (``BINDING_POWER``) holds them all, in JavaScript's order. ``expression(rbp)`` parses a
prefix form (the token's "nud": literals, names, ``(``, ``[``, ``!``, ``-``) and then keeps
absorbing infix forms (the "led": operators, ``.``, ``[``, ``(``, ``?``) for as long as the next
token binds tighter than ``rbp``. Left associativity falls out of parsing the right operand at
the operator's own power; the conditional operator is right associative, so its branches are
parsed one step lower.

Syntax JavaScript has but rules refuse (assignment, ``**``, ``;``, ``++``, keywords such as
``typeof``) gets a specific message rather than "unexpected token".
"""

from __future__ import annotations

import dataclasses
from typing import NoReturn

from . import ast
from .errors import ParseError
from .lexer import Token, tokenize

BINDING_POWER: dict[str, int] = {
    "eof": 0, ")": 0, "]": 0, ",": 0, ":": 0,
    "?": 2,
    "||": 3,
    "&&": 4,
    "==": 5, "!=": 5, "===": 5, "!==": 5,
    "<": 6, "<=": 6, ">": 6, ">=": 6,
    "+": 7, "-": 7,
    "*": 8, "/": 8, "%": 8,
    # 9: prefix ! and -
    ".": 10, "[": 10, "(": 10,
}  # fmt: skip
PREFIX_POWER = 9
MAX_DEPTH = 200  # bounds the tree's depth, so later recursive passes cannot overflow the stack
_BINARY = frozenset({"==", "!=", "===", "!==", "<", "<=", ">", ">=", "+", "-", "*", "/", "%"})

_UNSUPPORTED_TOKENS = {
    "=": "Rule expressions may not contain assignments.",  # production's wording
    "**": "The '**' operator is not supported.",
    ";": "Only a single expression is allowed (no ';').",
    "++": "The '++' operator is not supported.",
    "--": "The '--' operator is not supported.",
    "=>": "Functions are not supported.",
    "{": "Object literals are not supported.",
    "&": "Bitwise operators are not supported.",
    "|": "Bitwise operators are not supported.",
    "^": "Bitwise operators are not supported.",
    "~": "Bitwise operators are not supported.",
}
_KEYWORDS = frozenset(
    {
        "break", "case", "catch", "class", "const", "continue", "debugger", "default", "delete",
        "do", "else", "export", "extends", "finally", "for", "function", "if", "import", "in",
        "instanceof", "let", "new", "return", "super", "switch", "this", "throw", "try",
        "typeof", "var", "void", "while", "with", "yield", "await",
    }
)  # fmt: skip


def parse(text: str) -> ast.Node:
    """The syntax tree of one rule expression. Raises LexError or ParseError."""
    return _Parser(text, tokenize(text)).parse()


def describe(token: Token) -> str:
    if token.kind == "eof":
        return "end of expression"
    if token.kind == "string":
        return "string"
    if token.kind == "number":
        return "number"
    if token.kind == "regex":
        return "regular expression"
    if token.kind == "literal":
        return {True: "'true'", False: "'false'", None: "'null'"}[token.value]
    return repr(token.value) if token.kind == "name" else f"'{token.kind}'"


class _Parser:
    def __init__(self, text: str, tokens: list[Token]) -> None:
        self.text = text
        self.tokens = tokens
        self.index = 0
        self.depth = 0  # an upper bound of the depth of the tree being built

    # -- helpers ------------------------------------------------------------------------------

    @property
    def current(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        if token.kind != "eof":
            self.index += 1
        return token

    def fail(self, token: Token, message: str | None = None) -> NoReturn:
        if message is None:
            message = _UNSUPPORTED_TOKENS.get(token.kind)
        if message is None and token.kind == "name" and token.value in _KEYWORDS:
            message = f"'{token.value}' is not supported."
        if message is None:
            message = f"Unexpected {describe(token)}."
        raise ParseError(message, self.text, token.start)

    def expect(self, kind: str) -> Token:
        token = self.current
        if token.kind != kind:
            if token.kind == "eof" or token.kind in _UNSUPPORTED_TOKENS:
                self.fail(token)
            self.fail(token, f"Expected '{kind}' but found {describe(token)}.")
        return self.advance()

    # -- grammar ------------------------------------------------------------------------------

    def parse(self) -> ast.Node:
        if self.current.kind == "eof":
            self.fail(self.current, "Empty expression.")
        node = self.expression(0)
        if self.current.kind != "eof":
            self.fail(self.current)
        return node

    def expression(self, rbp: int) -> ast.Node:
        entered = self.depth
        self.nest(self.current)
        left = self.nud(self.advance())
        while True:
            token = self.current
            power = BINDING_POWER.get(token.kind)
            if power is None:
                self.fail(token)  # e.g. a name right after an operand: "a b"
            if power <= rbp:
                self.depth = entered
                return left
            if token.kind not in ("&&", "||"):
                self.nest(token)  # a logical chain stays flat: it does not deepen the tree
            self.advance()
            left = self.led(token, left)

    def nest(self, token: Token) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            self.fail(token, "The expression is nested too deeply.")

    def nud(self, token: Token) -> ast.Node:
        kind = token.kind
        if kind in ("number", "string", "literal"):
            return ast.Literal(token.start, token.end, token.value)
        if kind == "name":
            if token.value in _KEYWORDS:
                self.fail(token)
            return ast.Name(token.start, token.end, token.value)
        if kind == "regex":
            pattern, flags = token.value
            return ast.Regex(token.start, token.end, pattern, flags)
        if kind in ("!", "-"):
            operand = self.expression(PREFIX_POWER)
            return ast.Unary(token.start, operand.end, kind, operand)
        if kind == "+":
            self.fail(token, "Unary '+' is not supported.")
        if kind == "(":
            inner = self.expression(0)
            close = self.expect(")")
            return _with_span(inner, token.start, close.end)
        if kind == "[":
            items: list[ast.Node] = []
            if self.current.kind != "]":
                items.append(self.expression(0))
                while self.current.kind == ",":
                    self.advance()
                    items.append(self.expression(0))
            close = self.expect("]")
            return ast.Array(token.start, close.end, tuple(items))
        self.fail(token)

    def led(self, token: Token, left: ast.Node) -> ast.Node:
        kind = token.kind
        if kind in _BINARY:
            right = self.expression(BINDING_POWER[kind])
            return ast.Binary(left.start, right.end, kind, left, right, token.start)
        if kind in ("&&", "||"):
            right = self.expression(BINDING_POWER[kind])
            if isinstance(left, ast.Logical) and left.op == kind:  # extend the chain
                return ast.Logical(left.start, right.end, kind, (*left.operands, right))
            return ast.Logical(left.start, right.end, kind, (left, right))
        if kind == "?":
            then = self.expression(BINDING_POWER["?"] - 1)
            self.expect(":")
            otherwise = self.expression(BINDING_POWER["?"] - 1)
            return ast.Conditional(left.start, otherwise.end, left, then, otherwise)
        if kind == ".":
            name = self.advance()
            if name.kind == "name" or name.kind == "literal":
                word = self.text[name.start : name.end]
                key = ast.Literal(name.start, name.end, word)
                return ast.Member(left.start, name.end, left, key, False)
            self.fail(name, f"Expected a name after '.' but found {describe(name)}.")
        if kind == "[":
            key_node = self.expression(0)
            close = self.expect("]")
            return ast.Member(left.start, close.end, left, key_node, True)
        if kind == "(":
            args: list[ast.Node] = []
            if self.current.kind != ")":
                args.append(self.expression(0))
                while self.current.kind == ",":
                    self.advance()
                    args.append(self.expression(0))
            close = self.expect(")")
            return ast.Call(left.start, close.end, left, tuple(args))
        self.fail(token)


def _with_span(node: ast.Node, start: int, end: int) -> ast.Node:
    """``node`` re-spanned to include its parentheses (so carets land on the ``(``)."""
    return dataclasses.replace(node, start=start, end=end)
