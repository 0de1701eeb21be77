"""Expression syntax tree: one frozen dataclass per node kind.

Every node keeps ``start``/``end``, character offsets into the expression text, so that static
checks can point at the exact token they refuse.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Node:
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Literal(Node):
    """``true``, ``false``, ``null``, a number or a string."""

    value: Any


@dataclass(frozen=True, slots=True)
class Regex(Node):
    """``/pattern/flags``; legal only as the argument of ``matches``."""

    pattern: str
    flags: str


@dataclass(frozen=True, slots=True)
class Array(Node):
    """``[a, b]``; legal only as the argument of ``hasChildren``."""

    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Name(Node):
    """A variable: ``auth``, ``now``, ``root``, ``data``, ``newData``, ``query`` or ``$name``."""

    name: str


@dataclass(frozen=True, slots=True)
class Member(Node):
    """``obj.name`` (``key`` is a string Literal then) or ``obj[key]``."""

    obj: Node
    key: Node
    computed: bool


@dataclass(frozen=True, slots=True)
class Call(Node):
    """``callee(args...)``; the callee must name a method (a Member)."""

    callee: Node
    args: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Unary(Node):
    """``!operand`` or ``-operand``."""

    op: str
    operand: Node


@dataclass(frozen=True, slots=True)
class Binary(Node):
    """Arithmetic, comparison and equality operators; ``op_start`` locates the operator."""

    op: str
    left: Node
    right: Node
    op_start: int


@dataclass(frozen=True, slots=True)
class Logical(Node):
    """A chain of one of ``&&`` and ``||`` (short-circuit, left to right), kept flat so that
    long generated chains do not make the tree deep."""

    op: str
    operands: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Conditional(Node):
    """``test ? then : otherwise`` (only the chosen branch is evaluated)."""

    test: Node
    then: Node
    otherwise: Node
