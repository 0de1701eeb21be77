"""Ruleset: a rules document compiled into a tree of rule nodes, and the read/write decisions.

Matching (rules.md §2): from the root rule node, each path key descends into the named child of
that key or, when there is none, into the wildcard child, binding ``$name`` to the key. Named
children win over their wildcard sibling for every rule kind (§19 item 1: the shadowing reading,
as targaryen and the documented ``$other`` idiom have it).

Reads (§12): allowed when some ``.read`` on the matched chain from the root to the path holds.
Writes (§13), per write path W: some ``.write`` on the chain root..W holds, and every
``.validate`` holds on the chain nodes whose new data is non-null and on every non-null node of
the new tree strictly below W that a rule node matches. Null new data is never validated.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..server import tree
from ..server.tree import Node, Path
from .document import INDEX_ON, RuleKey, RulesDocument
from .errors import ExpressionError, RuleSourceError, caret_lines
from .evaluate import READ, VALIDATE, WRITE, Expression, compile_expression
from .reach import Reach
from .snapshot import NO_QUERY, Context, ReadSet

Rule = Expression | bool | None  # a literal true/false is kept as a bool: no evaluation needed


class RuleNode:
    """The rules at one location of the rules tree, and its children."""

    __slots__ = ("read", "write", "validate", "index_on", "named", "wildcard", "wildcard_name",
                 "validates_below")  # fmt: skip

    def __init__(self) -> None:
        self.read: Rule = None
        self.write: Rule = None
        self.validate: Rule = None
        self.index_on: tuple[str, ...] = ()
        self.named: dict[str, RuleNode] = {}
        self.wildcard: RuleNode | None = None
        self.wildcard_name = ""
        self.validates_below = False  # some rule node strictly below has a .validate

    def child(self, key: str) -> RuleNode | None:
        named = self.named.get(key)
        return named if named is not None else self.wildcard


def located(doc: RulesDocument, key: RuleKey, err: ExpressionError) -> RuleSourceError:
    """``err`` re-addressed to the rules source (line and column of the offending character)."""
    line, column = doc.expression_position(key, err.offset)
    lines = doc.source.split("\n")
    offset = sum(len(text) + 1 for text in lines[: line - 1]) + column - 1
    return RuleSourceError(line, column, err.message, caret_lines(doc.source, offset), err)


def compile_tree(doc: RulesDocument) -> RuleNode:
    """The rule-node tree of ``doc``; every expression parsed and checked. Raises RulesError."""
    return _compile_node(doc, doc.rules, (), frozenset())


def _compile_node(
    doc: RulesDocument, rules: Mapping[str, Any], path: RuleKey, wildcards: frozenset[str]
) -> RuleNode:
    node = RuleNode()
    for key, value in rules.items():  # in document order, so the first error is reported
        if key in (READ, WRITE, VALIDATE):
            setattr(node, key[1:], _compile_rule(doc, path + (key,), key, value, wildcards))
        elif key == INDEX_ON:
            node.index_on = (value,) if isinstance(value, str) else tuple(value)
        elif key.startswith("$"):
            node.wildcard_name = key
            node.wildcard = _compile_node(doc, value, path + (key,), wildcards | {key})
        else:
            node.named[key] = _compile_node(doc, value, path + (key,), wildcards)
    kids = [*node.named.values(), *([node.wildcard] if node.wildcard else [])]
    node.validates_below = any(k.validate is not None or k.validates_below for k in kids)
    return node


def _compile_rule(
    doc: RulesDocument, key: RuleKey, kind: str, value: bool | str, wildcards: frozenset[str]
) -> Rule:
    if isinstance(value, bool):
        return value
    try:
        expression = compile_expression(value, kind, wildcards)
    except ExpressionError as err:
        raise located(doc, key, err) from None
    if expression.text.strip() in ("true", "false"):
        return expression.text.strip() == "true"
    return expression


def _holds(rule: Rule, ctx: Context) -> bool:
    if rule is True or rule is False:
        return rule
    assert rule is not None
    return rule.holds(ctx)


def query_variable(params: Mapping[str, str] | None) -> Mapping[str, Any]:
    """The ``query`` variable for a read with these REST parameters (rules.md §15.1)."""
    if not params or not any(name in params for name in _PARAMS):
        return NO_QUERY
    result = dict(NO_QUERY)
    order = _decode(params.get("orderBy"))
    if order is not None:
        result["orderByKey"] = order == "$key"
        result["orderByValue"] = order == "$value"
        result["orderByPriority"] = order == "$priority"
        if order not in ("$key", "$value", "$priority"):
            result["orderByChild"] = order
    for name in ("startAt", "endAt", "equalTo", "limitToFirst", "limitToLast"):
        raw = params.get(name)
        if raw is not None:
            result[name] = _decode(raw, keep_raw=True)
    return result


_PARAMS = ("orderBy", "startAt", "endAt", "equalTo", "limitToFirst", "limitToLast")


def _decode(raw: str | None, keep_raw: bool = False) -> Any:
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        return raw if keep_raw else None  # a raw key, as firebase-tools sends with shallow
    if type(value) in (dict, list):
        return None
    return value


class CompiledRules:
    """The Access implementation for one compiled rules document (server/access.py)."""

    def __init__(self, root: RuleNode) -> None:
        self.root = root
        self._reach = Reach(root)

    def may_write(self, path: Path, auth: dict[str, Any] | None, now_ms: int, method: str) -> bool:
        """Could a ``method`` write at ``path`` by ``auth`` be permitted, whatever it sends?
        (False only when certain: such a write can be refused before its body is read.)"""
        return self._reach.may_write(path, auth, now_ms, method)

    # -- reads --------------------------------------------------------------------------------

    def can_read(
        self, path: Path, auth: dict[str, Any] | None, root: Node, now_ms: int,
        query: Mapping[str, str] | None,
    ) -> bool:  # fmt: skip
        """May ``auth`` read ``path``: some ``.read`` on the chain from the root holds."""
        query_value: Mapping[str, Any] | None = None
        rule_node: RuleNode | None = self.root
        node: Node = root
        bindings: dict[str, str] = {}
        depth = 0
        while rule_node is not None:
            rule = rule_node.read
            if rule is not None and rule is not False:
                if rule is True:
                    return True
                if query_value is None:
                    query_value = query_variable(query)
                ctx = Context(auth, now_ms, root, None, path[:depth], node, None, bindings,
                              query_value)  # fmt: skip
                if rule.holds(ctx):
                    return True
            if depth == len(path):
                return False
            key = path[depth]
            depth += 1
            child = rule_node.named.get(key)
            if child is None and rule_node.wildcard is not None:
                child = rule_node.wildcard
                bindings = {**bindings, rule_node.wildcard_name: key}
            rule_node = child
            node = _child(node, key)
        return False

    # -- writes -------------------------------------------------------------------------------

    def can_write(
        self, path: Path, auth: dict[str, Any] | None, old_root: Node, new_root: Node,
        now_ms: int, reads: ReadSet | None = None,
    ) -> bool:  # fmt: skip
        """May ``auth`` write at ``path`` (one write path), turning ``old_root`` into
        ``new_root``: permitted by a ``.write`` at or above it, and every ``.validate`` that
        applies holds. ``reads``, when given, collects where the decision looked at data."""
        chain: list[tuple[RuleNode, Context]] = []
        rule_node: RuleNode | None = self.root
        old: Node = old_root
        new: Node = new_root
        bindings: dict[str, str] = {}
        depth = 0
        permitted = False
        while True:
            assert rule_node is not None
            ctx = Context(auth, now_ms, old_root, new_root, path[:depth], old, new, bindings,
                          NO_QUERY, reads)  # fmt: skip
            chain.append((rule_node, ctx))
            if not permitted and rule_node.write is not None:
                permitted = _holds(rule_node.write, ctx)
            if depth == len(path):
                break
            key = path[depth]
            depth += 1
            child = rule_node.named.get(key)
            if child is None:
                if rule_node.wildcard is None:
                    break
                child = rule_node.wildcard
                bindings = {**bindings, rule_node.wildcard_name: key}
            rule_node = child
            old, new = _child(old, key), _child(new, key)
        if not permitted:
            return False
        for rule_node, ctx in chain:
            if ctx.new is None:
                if reads is not None:
                    reads.note(ctx.path)  # whether anything is left here decides what is checked
                return True  # null here means null below: nothing further is validated
            if rule_node.validate is not None and not _holds(rule_node.validate, ctx):
                return False
        if len(chain) <= len(path):
            return True  # the rules end above the write location: nothing below to validate
        last, ctx = chain[-1]
        return _valid_below(last, ctx)

    def index_on(self, path: Path) -> tuple[str, ...]:
        """The ``.indexOn`` of the rule node matching ``path`` exactly (or none)."""
        rule_node: RuleNode | None = self.root
        for key in path:
            assert rule_node is not None
            rule_node = rule_node.child(key)
            if rule_node is None:
                return ()
        assert rule_node is not None
        return rule_node.index_on


def _child(node: Node, key: str) -> Node:
    if type(node) is dict and not key.startswith("."):
        return node.get(key)
    return None


def _valid_below(rule_node: RuleNode, ctx: Context) -> bool:
    """Every non-null new node strictly under ``ctx.path`` passes its matching ``.validate``."""
    if not rule_node.validates_below:
        return True
    for key, new_child in tree.children(ctx.new):
        child = rule_node.named.get(key)
        bindings = ctx.bindings
        if child is None:
            child = rule_node.wildcard
            if child is None:
                continue
            bindings = {**bindings, rule_node.wildcard_name: key}
        child_ctx = Context(ctx.auth, ctx.now, ctx.root, ctx.new_root, ctx.path + (key,),
                            _child(ctx.old, key), new_child, bindings, ctx.query,
                            ctx.reads)  # fmt: skip
        if child.validate is not None and not _holds(child.validate, child_ctx):
            return False
        if not _valid_below(child, child_ctx):
            return False
    return True
