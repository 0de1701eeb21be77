"""Compiler: check a rule expression's syntax tree once, then evaluate it cheaply many times.

``compile_expression`` walks the tree a single time. At each node it works out the node's
static type (rules.md §4, §10), refuses what cannot be valid (unknown names and methods, wrong
argument shapes, operands that can never have the right type, a rule that cannot be boolean)
and builds a small Python closure that evaluates the node. Evaluation is then a walk over those
closures with no dispatch, lookups or re-parsing left to do. Operands whose type is only known at
run time ("any": values read from ``auth``; "primitive": ``val()`` results, query fields, mixed
``+``/ternaries) are checked as they are computed; a failed check raises EvalError and the rule
as a whole counts as false (rules.md §11).

The runtime values and their JavaScript semantics are in ``values``; the evaluation context in
``snapshot``; the snapshot and string methods in ``methods``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn

from ..server import tree
from . import ast
from .errors import EvalError, RuleTypeError
from .methods import SNAPSHOT_METHODS, STRING_METHODS, snap_has_all, string_receiver
from .parser import parse
from .regex import RegexError, compile_regex
from .snapshot import Context, Snapshot, split_child_path
from .statictypes import ANY, ARRAY, BOOL, NULL, NUM, PRIM, QUERY, QUERY_FIELDS, REGEX, SNAP, STR
from .values import BINARY_OPS, equal, get_member, need_bool, negate, string_length

Fn = Callable[["Context"], Any]

_NUMERIC = frozenset({NUM, ANY, PRIM})
_ADDABLE = frozenset({NUM, STR, ANY, PRIM})
_TRUTH = frozenset({BOOL, ANY, PRIM})
_STRINGISH = frozenset({STR, ANY, PRIM})
_OPAQUE = frozenset({SNAP, QUERY, REGEX, ARRAY})

# Which kind of rule an expression belongs to decides which variables exist.
READ, WRITE, VALIDATE = ".read", ".write", ".validate"

# Upload-time messages. Where production's wording is known (its answers to `firebase deploy`
# dry runs, as recorded by pyric's r29 capture) it is used verbatim; the rest follow its style.
NOT_BOOLEAN = "Expression must evaluate to a boolean."
UNKNOWN_VARIABLE = "Unknown variable '{name}'."
NEWDATA_IN_READ = "newData is invalid in .read expressions."
NO_SUCH_MEMBER = "No such method/property '{name}'."
NOT_A_FUNCTION = "Type error: Function call on target that is not a function."
STRING_ARGUMENT = "{name}() expects a string argument."
REGEX_ARGUMENT = "matches() expects a regular expression literal argument."
ARRAY_ARGUMENT = "hasChildren() expects an array literal argument."
BOOLEAN_OPERAND = "{op} only operates on booleans."
NUMBER_OPERAND = "Invalid {op} expression: {side} operand is not a number."
ORDERED_OPERAND = "Invalid {op} expression: {side} operand must be a number or string."
MIXED_ORDER = "Invalid {op} expression: a number cannot be compared with a string."
OPAQUE_OPERAND = "Invalid {op} expression: {side} operand cannot be {what}."
MIXED_BRANCHES = "Invalid ?: expression: the branches cannot be {a} and {b}."
REGEX_PLACE = "A regular expression literal is only allowed as the argument of matches()."
ARRAY_PLACE = "An array literal is only allowed as the argument of hasChildren()."
CALL_METHOD = "{name} is a method; call it: {name}()."
COMPUTED_NAME = "Method and property names must be literal strings here."


@dataclass(frozen=True)
class Expression:
    """One checked, compiled rule expression."""

    text: str
    tree: ast.Node
    type: str
    fn: Fn

    def holds(self, ctx: Context) -> bool:
        """True when the expression evaluates to exactly ``true``; runtime errors give False."""
        try:
            return self.fn(ctx) is True
        except (EvalError, ArithmeticError, RecursionError):
            return False


def compile_expression(
    text: str, kind: str = VALIDATE, wildcards: frozenset[str] | set[str] = frozenset()
) -> Expression:
    """Parse, check and compile ``text`` as a ``kind`` rule (``.read``, ``.write`` or
    ``.validate``) with the ``$`` names in ``wildcards`` in scope. Raises ExpressionError."""
    node = parse(text)
    compiler = _Compiler(text, kind, frozenset(wildcards))
    typ, fn = compiler.compile(node)
    compiler.check_boolean(node, typ)
    return Expression(text, node, typ, fn)


class _Compiler:
    def __init__(self, text: str, kind: str, wildcards: frozenset[str]) -> None:
        self.text = text
        self.kind = kind
        self.wildcards = wildcards
        self.types: dict[int, str] = {}  # id(node) -> static type, for check_boolean

    def fail(self, offset: int, message: str) -> NoReturn:
        raise RuleTypeError(message, self.text, offset)

    def compile(self, node: ast.Node) -> tuple[str, Fn]:
        method = getattr(self, "c_" + type(node).__name__)
        typ, fn = method(node)
        self.types[id(node)] = typ
        return typ, fn

    def check_boolean(self, node: ast.Node, typ: str) -> None:
        """The whole rule, and each branch of a conditional at the top, is a boolean.

        Statically: production refuses ``auth.uid`` as a whole rule (pyric r29), so an "any"
        value is not enough here, unlike for the operands of ``!``, ``&&``, ``||`` and ``?:``,
        which are checked when the rule runs (rules.md §19 item 8)."""
        if isinstance(node, ast.Conditional):
            self.check_boolean(node.then, self.types[id(node.then)])
            self.check_boolean(node.otherwise, self.types[id(node.otherwise)])
        elif typ != BOOL:
            self.fail(node.start, NOT_BOOLEAN)

    def operand(self, node: ast.Node, allowed: frozenset[str], message: str) -> tuple[str, Fn]:
        typ, fn = self.compile(node)
        if typ not in allowed:
            self.fail(node.start, message)
        return typ, fn

    def operands(
        self, node: ast.Binary, allowed: frozenset[str], message: str
    ) -> tuple[str, Fn, str, Fn]:
        """Both operands of a binary operator; ``message`` is formatted with op and side."""
        lt, lf = self.operand(node.left, allowed, message.format(op=node.op, side="left"))
        rt, rf = self.operand(node.right, allowed, message.format(op=node.op, side="right"))
        return lt, lf, rt, rf

    # -- leaves ---------------------------------------------------------------------------------

    def c_Literal(self, node: ast.Literal) -> tuple[str, Fn]:
        value = node.value
        typ = (
            NULL if value is None else BOOL if type(value) is bool
            else STR if type(value) is str else NUM
        )  # fmt: skip
        return typ, lambda c: value

    def c_Regex(self, node: ast.Regex) -> tuple[str, Fn]:
        self.fail(node.start, REGEX_PLACE)

    def c_Array(self, node: ast.Array) -> tuple[str, Fn]:
        self.fail(node.start, ARRAY_PLACE)

    def c_Name(self, node: ast.Name) -> tuple[str, Fn]:
        name = node.name
        if name == "auth":
            return ANY, lambda c: c.auth
        if name == "now":
            return NUM, lambda c: c.now
        if name == "root":
            return SNAP, lambda c: Snapshot(c.root, (), c.root)
        if name == "data":
            return SNAP, lambda c: Snapshot(c.root, c.path, c.old)
        if name == "newData":
            if self.kind == READ:
                self.fail(node.start, NEWDATA_IN_READ)
            return SNAP, lambda c: Snapshot(c.new_root, c.path, c.new)
        if name == "query":
            return QUERY, lambda c: c.query
        if name.startswith("$"):
            if name not in self.wildcards:
                self.fail(node.start, UNKNOWN_VARIABLE.format(name=name))
            return STR, lambda c: c.bindings[name]
        self.fail(node.start, UNKNOWN_VARIABLE.format(name=name))

    # -- operators ------------------------------------------------------------------------------

    def c_Unary(self, node: ast.Unary) -> tuple[str, Fn]:
        if node.op == "!":
            typ, fn = self.operand(node.operand, _TRUTH, BOOLEAN_OPERAND.format(op="!"))
            if typ == BOOL:
                return BOOL, lambda c: not fn(c)
            return BOOL, lambda c: not need_bool(fn(c), "'!'")
        message = NUMBER_OPERAND.format(op="-", side="the")
        _, fn = self.operand(node.operand, _NUMERIC, message)
        return NUM, lambda c: negate(fn(c))

    def c_Binary(self, node: ast.Binary) -> tuple[str, Fn]:
        op = node.op
        if op in ("==", "===", "!=", "!=="):
            return self.equality(node)
        if op == "+":
            lt, lf, rt, rf = self.operands(node, _ADDABLE, ORDERED_OPERAND)
            typ = STR if STR in (lt, rt) else NUM if lt == rt == NUM else PRIM
        elif op in ("<", "<=", ">", ">="):
            lt, lf, rt, rf = self.operands(node, _ADDABLE, ORDERED_OPERAND)
            if {lt, rt} == {NUM, STR}:
                self.fail(node.op_start, MIXED_ORDER.format(op=op))
            typ = BOOL
        else:
            _, lf, _, rf = self.operands(node, _NUMERIC, NUMBER_OPERAND)
            typ = NUM
        impl = BINARY_OPS[op]
        return typ, lambda c: impl(lf(c), rf(c))

    def equality(self, node: ast.Binary) -> tuple[str, Fn]:
        fns = []
        for side, name in ((node.left, "left"), (node.right, "right")):
            typ, fn = self.compile(side)
            if typ in _OPAQUE:
                message = OPAQUE_OPERAND.format(op=node.op, side=name, what=_a(typ))
                self.fail(side.start, message)
            fns.append(fn)
        negated = node.op in ("!=", "!==")
        if _is_null_or_string(node.right):
            return BOOL, _equal_to_literal(fns[0], node.right, negated)
        if _is_null_or_string(node.left):
            return BOOL, _equal_to_literal(fns[1], node.left, negated)
        lf, rf = fns
        if negated:
            return BOOL, lambda c: not equal(lf(c), rf(c))
        return BOOL, lambda c: equal(lf(c), rf(c))

    def c_Logical(self, node: ast.Logical) -> tuple[str, Fn]:
        op = node.op
        fns = []
        for operand in node.operands:
            typ, fn = self.operand(operand, _TRUTH, BOOLEAN_OPERAND.format(op=op))
            fns.append(fn if typ == BOOL else _checked_bool(fn, op))
        if len(fns) == 2:
            a, b = fns
            if op == "&&":
                return BOOL, lambda c: a(c) and b(c)
            return BOOL, lambda c: a(c) or b(c)
        if len(fns) == 3:
            a, b, d = fns
            if op == "&&":
                return BOOL, lambda c: a(c) and b(c) and d(c)
            return BOOL, lambda c: a(c) or b(c) or d(c)
        chain = tuple(fns)
        if op == "&&":
            return BOOL, lambda c: all(f(c) for f in chain)
        return BOOL, lambda c: any(f(c) for f in chain)

    def c_Conditional(self, node: ast.Conditional) -> tuple[str, Fn]:
        tt, tf = self.operand(node.test, _TRUTH, BOOLEAN_OPERAND.format(op="?:"))
        test = tf if tt == BOOL else _checked_bool(tf, "?:")
        at, af = self.compile(node.then)
        bt, bf = self.compile(node.otherwise)
        if at == bt:
            typ = at
        elif at in _OPAQUE or bt in _OPAQUE:
            self.fail(node.start, MIXED_BRANCHES.format(a=_a(at), b=_a(bt)))
        else:
            typ = ANY if ANY in (at, bt) else PRIM
        return typ, lambda c: af(c) if test(c) else bf(c)

    # -- members and calls ----------------------------------------------------------------------

    def member_name(self, node: ast.Member) -> str | None:
        """The literal member name, or None for a computed (non-literal) subscript."""
        if isinstance(node.key, ast.Literal) and type(node.key.value) is str:
            return node.key.value
        return None

    def c_Member(self, node: ast.Member) -> tuple[str, Fn]:
        typ, obj = self.compile(node.obj)
        name = self.member_name(node)
        at = node.key.start
        if typ == ANY:
            if name is not None:
                return ANY, lambda c: get_member(obj(c), name)
            kt, key = self.compile(node.key)
            if kt in _OPAQUE:
                self.fail(at, OPAQUE_OPERAND.format(op="[]", side="the", what=_a(kt)))
            return ANY, lambda c: get_member(obj(c), key(c))
        if name is None:
            self.fail(at, COMPUTED_NAME)
        if typ == SNAP and name in SNAPSHOT_METHODS:
            self.fail(at, CALL_METHOD.format(name=name))
        if typ == QUERY and name in QUERY_FIELDS:
            return QUERY_FIELDS[name], lambda c: obj(c)[name]
        if typ in (STR, PRIM):
            if name == "length":
                if typ == STR:
                    return NUM, lambda c: string_length(obj(c))
                return NUM, lambda c: string_length(string_receiver(obj(c), "length"))
            if name in STRING_METHODS:
                self.fail(at, CALL_METHOD.format(name=name))
        self.fail(at, NO_SUCH_MEMBER.format(name=name))

    def c_Call(self, node: ast.Call) -> tuple[str, Fn]:
        typ, fn, receiver, name = self.call(node)
        if receiver is not None and name not in ("child", "parent"):
            return typ, _noting_read(receiver, fn)  # reads data: a ReadSet may want the place
        return typ, fn

    def call(self, node: ast.Call) -> tuple[str, Fn, Fn | None, str]:
        """The call's type and function, its snapshot receiver (None for a string's) and name."""
        callee = node.callee
        if not isinstance(callee, ast.Member):
            self.fail(node.start, NOT_A_FUNCTION)
        typ, obj = self.compile(callee.obj)
        name = self.member_name(callee)
        at = callee.key.start
        if name is None:
            self.fail(at, COMPUTED_NAME)
        methods = SNAPSHOT_METHODS if typ == SNAP else STRING_METHODS
        method = methods.get(name) if typ == SNAP or typ in _STRINGISH else None
        if method is None:
            # An "any" value's members are values, not methods; other types have named members.
            known = typ == ANY or name == "length" or (typ == QUERY and name in QUERY_FIELDS)
            self.fail(at, NOT_A_FUNCTION if known else NO_SUCH_MEMBER.format(name=name))
        if len(node.args) not in method.arity:
            counts = " or ".join(str(n) for n in method.arity)
            plural = "" if method.arity == (1,) else "s"
            self.fail(at, f"{name}() expects {counts} argument{plural}.")
        receiver = obj if typ == SNAP else None
        if name == "matches":
            return BOOL, self.matches(node, obj), receiver, name
        if name == "hasChildren" and node.args:
            return BOOL, self.has_children(node, obj), receiver, name
        impl = method.impl
        if name in ("child", "hasChild") and isinstance(node.args[0], ast.Literal):
            arg = node.args[0]
            if type(arg.value) is not str:
                self.fail(arg.start, STRING_ARGUMENT.format(name=name))
            segments = split_child_path(arg.value)
            if name == "child":
                return SNAP, lambda c: obj(c).child(segments), receiver, name
            return (
                BOOL,
                lambda c: segments is not None and (tree.get(obj(c).node, segments) is not None),
                receiver,
                name,
            )
        args = []
        for argument in node.args:
            _, fn = self.operand(argument, _STRINGISH, STRING_ARGUMENT.format(name=name))
            args.append(fn)
        if not args:
            return method.result, lambda c: impl(obj(c)), receiver, name
        if len(args) == 1:
            (a,) = args
            return method.result, lambda c: impl(obj(c), a(c)), receiver, name
        a, b = args
        return method.result, lambda c: impl(obj(c), a(c), b(c)), receiver, name

    def matches(self, node: ast.Call, obj: Fn) -> Fn:
        arg = node.args[0]
        if not isinstance(arg, ast.Regex):
            self.fail(arg.start, REGEX_ARGUMENT)
        try:
            pattern = compile_regex(arg.pattern, arg.flags)
        except RegexError as err:
            self.fail(arg.start + err.offset, err.message)
        search = pattern.search
        return lambda c: search(string_receiver(obj(c), "matches")) is not None

    def has_children(self, node: ast.Call, obj: Fn) -> Fn:
        arg = node.args[0]
        if not isinstance(arg, ast.Array):
            self.fail(arg.start, ARRAY_ARGUMENT)
        if all(isinstance(i, ast.Literal) and type(i.value) is str for i in arg.items):
            names = [i.value for i in arg.items if isinstance(i, ast.Literal)]
            paths = [split_child_path(n) for n in names]
            if all(p is not None for p in paths):
                keys = [p for p in paths if p is not None]
                return lambda c: _has_all(obj(c).node, keys)
        message = STRING_ARGUMENT.format(name="hasChildren")
        fns = [self.operand(i, _STRINGISH, message)[1] for i in arg.items]
        return lambda c: snap_has_all(obj(c), [f(c) for f in fns])


def _has_all(node: tree.Node, keys: list[tuple[str, ...]]) -> bool:
    get = tree.get
    return all(get(node, segments) is not None for segments in keys)


def _is_null_or_string(node: ast.Node) -> bool:
    return isinstance(node, ast.Literal) and (node.value is None or type(node.value) is str)


def _equal_to_literal(other: Fn, literal: ast.Node, negated: bool) -> Fn:
    """Fast paths for the most common comparisons: with null, or with a string literal."""
    assert isinstance(literal, ast.Literal)
    value = literal.value
    if value is None:
        if negated:
            return lambda c: other(c) is not None
        return lambda c: other(c) is None
    if negated:
        return lambda c: not equal(other(c), value)
    return lambda c: equal(other(c), value)


def _a(typ: str) -> str:
    """A static type's name with its article, for messages."""
    if typ == NULL:
        return "null"
    return ("an " if typ[0] in "aeiou" else "a ") + typ


def _checked_bool(fn: Fn, op: str) -> Fn:
    """A deferred boolean operand (rules.md §19 item 8): anything but a boolean is an error."""

    def checked(c: Context) -> bool:
        return need_bool(fn(c), f"'{op}'")

    return checked


def _noting_read(receiver: Fn, fn: Fn) -> Fn:
    """``fn`` (a snapshot method that reads data), telling the context's ReadSet where it read."""

    def call(c: Context) -> Any:
        reads = c.reads
        if reads is not None:
            reads.note(receiver(c).path)
        return fn(c)

    return call
