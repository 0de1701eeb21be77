"""Rules coverage: how often each rule expression of a namespace ran, and what it gave.

``/.inspect/coverage`` (HTML: the rules source with every expression marked, its counts on
mouse-over) and ``/.inspect/coverage.json`` report it, as the emulator does (rtdb-rest.md
§8.1). Counting starts when the rules are compiled: an upload starts it afresh. Literal
``true``/``false`` rules are not expressions and are not counted. Stdlib only.
"""

from __future__ import annotations

import html
import weakref
from typing import Any

from focuscli.rules import CompiledRules, EvalError, Expression
from focuscli.rules.document import RulesDocument

_KINDS = ((".read", "read"), (".write", "write"), (".validate", "validate"))


class Counted:
    """A compiled rule expression that counts its evaluations (true, false, error)."""

    __slots__ = ("expression", "path", "kind", "start", "end", "true", "false", "errors")

    def __init__(self, expression: Expression, path: tuple[str, ...], kind: str,
                 start: tuple[int, int], end: tuple[int, int]) -> None:  # fmt: skip
        self.expression = expression
        self.path, self.kind, self.start, self.end = path, kind, start, end
        self.true = self.false = self.errors = 0

    @property
    def tree(self) -> Any:
        """The expression's syntax tree, as ``Expression.tree`` (rules/reach.py reads it)."""
        return self.expression.tree

    @property
    def text(self) -> str:
        return self.expression.text

    def holds(self, ctx: Any) -> bool:
        """As ``Expression.holds`` (exactly ``true`` holds; a runtime error does not), counted."""
        try:
            value = self.expression.fn(ctx)
        except (EvalError, ArithmeticError, RecursionError):
            self.errors += 1
            return False
        if value is True:
            self.true += 1
            return True
        self.false += 1
        return False

    def as_json(self) -> dict[str, Any]:
        return {
            "path": "/" + "/".join(self.path),
            "rule": self.kind,
            "expression": self.expression.text,
            "line": self.start[0],
            "column": self.start[1],
            "evaluations": self.true + self.false + self.errors,
            "true": self.true,
            "false": self.false,
            "errors": self.errors,
        }


_REPORTS: weakref.WeakKeyDictionary[CompiledRules, tuple[RulesDocument, list[Counted]]] = (
    weakref.WeakKeyDictionary()
)


def instrument(rules: CompiledRules, doc: RulesDocument) -> CompiledRules:
    """Make every rule expression of ``rules`` count its evaluations; returns ``rules``."""
    counted: list[Counted] = []
    pending: list[tuple[Any, tuple[str, ...]]] = [(rules.root, ())]
    while pending:
        node, path = pending.pop()
        for key, slot in _KINDS:
            rule = getattr(node, slot)
            if isinstance(rule, Expression):
                start = doc.expression_position(path + (key,), 0)
                end = doc.expression_position(path + (key,), len(rule.text))
                wrapped = Counted(rule, path, key, start, end)
                setattr(node, slot, wrapped)  # the ruleset only calls .holds(ctx)
                counted.append(wrapped)
        pending.extend((child, path + (name,)) for name, child in node.named.items())
        if node.wildcard is not None:
            pending.append((node.wildcard, path + (node.wildcard_name,)))
    counted.sort(key=lambda c: c.start)
    _REPORTS[rules] = (doc, counted)
    return rules


def report(access: object) -> tuple[str, list[dict[str, Any]]]:
    """(rules source, counts per expression in source order) of a namespace's access."""
    found = _REPORTS.get(access) if isinstance(access, CompiledRules) else None
    if found is None:
        return "", []
    doc, counted = found
    return doc.source, [c.as_json() for c in counted]


def page(namespace: str, access: object) -> str:
    """The HTML report: the rules source, each expression marked by how it fared."""
    source, _ = report(access)
    found = _REPORTS.get(access) if isinstance(access, CompiledRules) else None
    counted = found[1] if found else []
    lines = source.split("\n")
    starts = [0]
    for text in lines:
        starts.append(starts[-1] + len(text) + 1)

    def offset(position: tuple[int, int]) -> int:
        return starts[position[0] - 1] + position[1] - 1

    parts: list[str] = []
    at = 0
    for item in counted:
        begin, end = offset(item.start), offset(item.end)
        if begin < at:
            continue
        total = item.true + item.false + item.errors
        kind = "none" if total == 0 else "error" if item.errors else "true" if not item.false else \
            "false" if not item.true else "both"
        title = f"{total} evaluations: {item.true} true, {item.false} false, {item.errors} errors"
        parts.append(html.escape(source[at:begin]))
        parts.append(f'<span class="{kind}" title="{html.escape(title)}">'
                     f"{html.escape(source[begin:end])}</span>")  # fmt: skip
        at = end
    parts.append(html.escape(source[at:]))
    body = "".join(parts) if source else "No rules uploaded: everything is allowed, nothing is evaluated."
    return (
        "<!doctype html>\n<html><head><meta charset=\"utf-8\">"
        f"<title>Rules coverage: {html.escape(namespace)}</title><style>"
        "body{font-family:sans-serif} pre{line-height:1.5} span{border-radius:3px;padding:0 2px}"
        ".none{background:#ddd} .true{background:#bfb} .false{background:#fcc}"
        ".both{background:#ffb} .error{background:#f99;text-decoration:underline wavy}"
        "</style></head><body>"
        f"<h1>Rules coverage: {html.escape(namespace)}</h1>"
        "<p>Hover over an expression for its evaluations. Grey: never evaluated; green: always "
        "true; red: always false; yellow: both; underlined: runtime errors.</p>"
        f"<pre>{body}</pre></body></html>\n"
    )
