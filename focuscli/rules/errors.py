"""Errors of the rules expression language.

    ExpressionError          a rule expression cannot be loaded (upload fails)
    ├── RuleSyntaxError      the text does not lex or parse
    │   ├── LexError
    │   └── ParseError
    └── RuleTypeError        it parses, but a static check fails (unknown name, wrong type, ...)

    EvalError                a runtime error while evaluating; the rule then counts as false

    RuleSourceError          (a server RulesError) an ExpressionError placed in the rules source

Every ExpressionError knows the expression text and the character offset of the bad token, and
``str()`` is ``"<line>:<column>: <message>"`` (within the expression), then the line of the
expression holding the offset and a caret under it.
``compile_rules`` turns these into the server's ``RulesError``, which names the line and column
in the rules *source* instead (see ``ruleset.located``).
"""

from __future__ import annotations

from .document import RulesError


class ExpressionError(ValueError):
    """A rule expression that cannot be loaded, with the position of the offending token."""

    def __init__(self, message: str, expression: str, offset: int) -> None:
        super().__init__(message)
        self.message = message
        self.expression = expression
        self.offset = max(0, min(offset, len(expression)))

    @property
    def line(self) -> int:
        """1-based line of the offset inside the expression."""
        return self.expression.count("\n", 0, self.offset) + 1

    @property
    def column(self) -> int:
        """1-based column of the offset inside its line of the expression."""
        return self.offset - (self.expression.rfind("\n", 0, self.offset) + 1) + 1

    def __str__(self) -> str:
        where = f"{self.line}:{self.column}: {self.message}\n"
        return where + caret_lines(self.expression, self.offset)


class RuleSyntaxError(ExpressionError):
    """The expression is not well formed."""


class LexError(RuleSyntaxError):
    """A character sequence that is no token (bad character, unterminated literal)."""


class ParseError(RuleSyntaxError):
    """Tokens in an order the grammar does not allow, or unsupported syntax."""


class RuleTypeError(ExpressionError):
    """A well-formed expression that the upload-time checks refuse."""


class RuleSourceError(RulesError):
    """An expression error located in the rules *source*.

    ``str()`` is the server's one-line ``"<line>:<column>: <message>"``, as the emulator answers
    a bad upload (``4:24: Unknown variable 'sam_var'.``); ``detail`` holds the source line and a
    caret under the offending character, for people (``pretty()`` joins the two)."""

    def __init__(
        self, line: int, column: int, message: str, detail: str, cause: ExpressionError
    ) -> None:
        super().__init__(line, column, message)
        self.detail = detail
        self.cause = cause

    def pretty(self) -> str:
        return f"{self}\n{self.detail}"


class EvalError(Exception):
    """A runtime error (wrong operand type, ``root.parent()``, ...): the rule is not true."""


def caret_lines(text: str, offset: int) -> str:
    """The line of ``text`` holding ``offset`` and, below it, a caret under that character.

    Tabs before the offset are repeated in the caret line so the caret lines up in a terminal.
    """
    start = text.rfind("\n", 0, offset) + 1
    end = text.find("\n", offset)
    line = text[start : len(text) if end < 0 else end]
    pad = "".join("\t" if ch == "\t" else " " for ch in text[start:offset])
    return f"{line}\n{pad}^"
