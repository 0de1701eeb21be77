"""Authorization seam: may this (non-admin) caller read or write here, under a namespace's rules."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from . import tree
from .rulesdoc import INDEX_ON, RuleKey, RulesDocument, RulesError
from .tree import Node, Path

UNSUPPORTED = "Rule expressions are not supported yet; only true and false"


class Access(Protocol):
    """What the HTTP layer asks for every non-admin request (admins bypass rules entirely)."""

    def can_read(
        self, path: Path, auth: dict[str, Any] | None, root: Node, now_ms: int,
        query: Mapping[str, str] | None,
    ) -> bool:
        """May ``auth`` read ``path`` (``root`` = current tree; ``query`` = REST query params)?"""
        ...

    def can_write(
        self, path: Path, auth: dict[str, Any] | None, old_root: Node, new_root: Node, now_ms: int,
    ) -> bool:
        """May ``auth`` write at ``path``, turning ``old_root`` into ``new_root``? One call per
        write path (a multi-path PATCH asks once per path against the same ``new_root``)."""
        ...

    def index_on(self, path: Path) -> tuple[str, ...]:
        """The ``.indexOn`` names declared for the rule node matching ``path`` (or none)."""
        ...


@dataclass
class _RuleNode:
    read: bool | None = None
    write: bool | None = None
    validate: bool | None = None
    index_on: tuple[str, ...] = ()
    named: dict[str, _RuleNode] = field(default_factory=dict)
    wildcard: _RuleNode | None = None
    validates_below: bool = False  # some node strictly below has a .validate

    def child(self, key: str) -> _RuleNode | None:
        """Named children win over the wildcard sibling (rules.md §2)."""
        return self.named.get(key, self.wildcard)


def compile_access(doc: RulesDocument | None) -> Access:
    """The Access for a namespace's rules; ``None`` (nothing uploaded) means open to everyone.

    This version understands literal rules only (``true``/``false``, as booleans or strings);
    any other expression raises RulesError at the expression. Replace this function (and
    `_literal`) when a real expression compiler exists; the Access protocol stays.
    """
    if doc is None:
        return OPEN_ACCESS
    return _LiteralAccess(_compile_node(doc, doc.rules, ()))


def _compile_node(doc: RulesDocument, rules: Mapping[str, Any], path: RuleKey) -> _RuleNode:
    node = _RuleNode()
    for key, value in rules.items():
        if key in (".read", ".write", ".validate"):
            setattr(node, key[1:], _literal(doc, path + (key,), value))
        elif key == INDEX_ON:
            node.index_on = (value,) if isinstance(value, str) else tuple(value)
        elif key.startswith("$"):
            node.wildcard = _compile_node(doc, value, path + (key,))
        else:
            node.named[key] = _compile_node(doc, value, path + (key,))
    kids = [*node.named.values(), *([node.wildcard] if node.wildcard else [])]
    node.validates_below = any(k.validate is not None or k.validates_below for k in kids)
    return node


def _literal(doc: RulesDocument, key: RuleKey, value: bool | str) -> bool:
    if isinstance(value, bool):
        return value
    text = value.strip()
    if text in ("true", "false"):
        return text == "true"
    start = len(value) - len(value.lstrip())
    raise RulesError(*doc.expression_position(key, start), UNSUPPORTED)


class _LiteralAccess:
    """Access under literal rules: cascading grants, validation on non-null new data."""

    def __init__(self, root: _RuleNode) -> None:
        self.root = root

    def _chain(self, path: Path) -> Iterator[_RuleNode]:
        """The matched rule nodes from the root down along ``path`` (stops where none match)."""
        node: _RuleNode | None = self.root
        yield self.root
        for key in path:
            node = node.child(key) if node is not None else None
            if node is None:
                return
            yield node

    def can_read(
        self, path: Path, auth: dict[str, Any] | None, root: Node, now_ms: int,
        query: Mapping[str, str] | None,
    ) -> bool:
        # A grant anywhere on the chain covers everything below; deeper rules never revoke it.
        return any(node.read is True for node in self._chain(path))

    def can_write(
        self, path: Path, auth: dict[str, Any] | None, old_root: Node, new_root: Node, now_ms: int,
    ) -> bool:
        chain = list(self._chain(path))
        if not any(node.write is True for node in chain):
            return False
        # .validate on the root..path chain, each against the merged new tree at its own
        # location; null new data is never validated (so deletions always pass).
        value = new_root
        for depth, node in enumerate(chain):
            if depth:
                value = tree.get(value, path[depth - 1 : depth])
            if value is None:
                return True  # everything further down the chain is null as well
            if node.validate is False:
                return False
        if len(chain) <= len(path):
            return True  # the rules end above the write location: nothing below to validate
        return _valid_below(chain[-1], value)

    def index_on(self, path: Path) -> tuple[str, ...]:
        chain = list(self._chain(path))
        return chain[-1].index_on if len(chain) == len(path) + 1 else ()


def _valid_below(rule: _RuleNode, value: Node) -> bool:
    """Every non-null node strictly under ``value`` passes the ``.validate`` matching it."""
    if not rule.validates_below:
        return True
    for key, child_value in tree.children(value):
        child_rule = rule.child(key)
        if child_rule is None:
            continue
        if child_rule.validate is False:
            return False  # children() never yields null values
        if not _valid_below(child_rule, child_value):
            return False
    return True


OPEN_ACCESS: Access = _LiteralAccess(_RuleNode(read=True, write=True))
"""The emulator's behaviour before any rules are uploaded: everything allowed."""
