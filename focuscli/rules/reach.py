"""Before a write's data is read: could any ``.write`` rule let this caller write here at all?

A write at W is permitted by a ``.write`` on the rule chain from the root to W (ruleset.py);
a PATCH's write paths lie below its location, a POST's one level below. So a caller may write
at a location only if some ``.write`` on the chain, or in the rules below (PATCH) or one level
below (POST), can hold. Whether one can hold is decided without the data: the parts of a rule
that look only at ``auth``, ``now`` and bound ``$`` variables are evaluated, everything that
looks at data (``root``, ``data``, ``newData``) or at a wildcard bound by a key the caller has
not sent yet counts as "might hold". ``may_write`` is False only when no data could change the
answer, so refusing such a write before reading its body refuses nothing the full check allows.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ..server.tree import Path
from . import ast
from .errors import ExpressionError
from .evaluate import WRITE, Expression, compile_expression
from .snapshot import NO_QUERY, Context

_DATA_NAMES = frozenset({"root", "data", "newData", "query"})


class Reach:
    """The ``may_write`` question for one compiled rule tree (fragments compiled on first use)."""

    def __init__(self, root: Any) -> None:
        self.root = root  # ruleset.RuleNode
        self._fragments: dict[tuple[int, int, int, frozenset[str]], Expression | None] = {}

    def may_write(self, path: Path, auth: Any, now_ms: int, method: str) -> bool:
        """Could a ``method`` (PUT, POST, PATCH, DELETE) at ``path`` by ``auth`` be permitted?"""
        node = self.root
        bindings: dict[str, str] = {}
        depth = 0
        while True:
            if self._can_hold(node.write, auth, now_ms, path[:depth], bindings):
                return True
            if depth == len(path):
                break
            key = path[depth]
            depth += 1
            child = node.named.get(key)
            if child is None:
                if node.wildcard is None:
                    return False  # no rules below: nothing further can grant it
                child = node.wildcard
                bindings = {**bindings, node.wildcard_name: key}
            node = child
        if method == "POST":  # the new child: a push id, matched by a named key or the wildcard
            children = [*node.named.values(), *([node.wildcard] if node.wildcard else [])]
            return any(self._can_hold(c.write, auth, now_ms, path, bindings) for c in children)
        if method == "PATCH":
            return self._below(node, auth, now_ms, path, bindings)
        return False

    def _below(self, node: Any, auth: Any, now_ms: int, path: Path, bindings: dict[str, str]) -> bool:
        for key, child in node.named.items():
            if self._can_hold(child.write, auth, now_ms, path + (key,), bindings):
                return True
            if self._below(child, auth, now_ms, path + (key,), bindings):
                return True
        wild = node.wildcard
        if wild is not None:  # its key (and so the variable) is not known before the body
            if self._can_hold(wild.write, auth, now_ms, path + ("",), bindings):
                return True
            if self._below(wild, auth, now_ms, path + ("",), bindings):
                return True
        return False

    # -- one rule ---------------------------------------------------------------------------------

    def _can_hold(
        self, rule: Any, auth: Any, now_ms: int, path: Path, bindings: dict[str, str]
    ) -> bool:  # fmt: skip
        if rule is None or rule is False:
            return False
        if rule is True:
            return True
        ctx = Context(auth, now_ms, None, None, path, None, None, bindings, NO_QUERY)
        return self._maybe(rule, rule.tree, ctx)

    def _maybe(self, rule: Expression, node: ast.Node, ctx: Context) -> bool:
        """False only if ``node`` (a part of ``rule``) is certainly not true."""
        if isinstance(node, ast.Logical):
            if node.op == "&&":
                return all(self._maybe(rule, part, ctx) for part in node.operands)
            return any(self._maybe(rule, part, ctx) for part in node.operands)
        fragment = self._fragment(rule, node, frozenset(ctx.bindings))
        if fragment is None:
            return True
        return fragment.holds(ctx)  # an error there is an error (a false rule) in the whole too

    def _fragment(self, rule: Expression, node: ast.Node, bound: frozenset[str]) -> Expression | None:
        """``node`` compiled on its own, if it can be decided without data; else None."""
        key = (id(rule), node.start, node.end, bound)
        if key not in self._fragments:
            fragment = None
            if _decidable(node, bound):
                try:  # a part that is not a boolean on its own is "maybe" too
                    fragment = compile_expression(rule.text[node.start : node.end], WRITE, bound)
                except ExpressionError:
                    fragment = None
            self._fragments[key] = fragment
        return self._fragments[key]


def _decidable(node: ast.Node, bound: frozenset[str]) -> bool:
    """True when ``node`` looks at no data and at no unbound wildcard."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, ast.Name):
            if item.name in _DATA_NAMES or (item.name.startswith("$") and item.name not in bound):
                return False
            continue
        for field in dataclasses.fields(item):
            value = getattr(item, field.name)
            if isinstance(value, ast.Node):
                stack.append(value)
            elif isinstance(value, tuple):
                stack.extend(v for v in value if isinstance(v, ast.Node))
    return True
