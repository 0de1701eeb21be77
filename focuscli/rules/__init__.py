r"""Firebase Realtime Database security rules: compile a rules document once, then ask it.

The pipeline, one module per stage: ``lexer`` (text -> tokens), ``parser`` (tokens -> ``ast``,
a Pratt parser), ``evaluate`` (static checks, then closures evaluated against immutable tree
snapshots), ``ruleset`` (the rule-node tree, the read cascade and write validation). The
evaluator's runtime lives beside it: ``values`` (JavaScript value semantics), ``snapshot`` (the
evaluation context), ``methods`` (snapshot and string methods) and ``statictypes``. The
language is specified in ``shared/spec/rules.md``.

Choices on the spec's open questions (rules.md §19) and other unrecorded corners:

* §19.1 a named child shadows its wildcard sibling for ``.read``/``.write``/``.validate`` alike
  (production agrees: pyric's r19 capture).
* §19.3 strings order by UTF-16 code unit; §19.11 ``length`` counts UTF-16 code units.
* §19.4 ``val()`` of a node with children is an opaque object: equal only to itself (so
  ``!= null`` holds), and ``+``, ordering and string members on it are runtime errors.
* §19.5 ``hasChildren([])`` is true, on any node (production, pyric r27; not targaryen's
  error); ``child('')``, ``hasChild('')`` and paths with an invalid key (``.``, ``..``
  included: pyric r18) give an empty snapshot / false.
* §19.8 operands of ``!``, ``&&``, ``||`` and ``?:`` may be "any"-typed (``auth.admin``):
  accepted at upload, and anything but a boolean at run time is an error. The rule as a whole
  must be statically boolean (production refuses ``auth.uid`` as a rule: pyric r29).
* §19.12 JavaScript conventions: ``x % 0`` is NaN (like ``x / 0``), numbers join strings in
  JavaScript's shortest form (``0.1 + 0.2 + ''``), ints stay exact up to 2**53.
* Type mismatches that can never work (``'a' - 1``, ``true > 1``, ``child(5)``) are refused at
  upload, as production does (pyric r29), with production's message texts where known.
* Regex: ``(?``-groups, backreferences and unknown letter escapes are refused at upload;
  ``.`` excludes line terminators, ``\d``/``\w`` are ASCII, as in JavaScript.
* Member access on ``auth`` values: null gives null (except ``.length``, an error); JSON arrays
  index by number; anything else on a number or boolean is a runtime error.

    >>> from focuscli.rules.document import RulesDocument
    >>> rules = compile_rules(RulesDocument.parse('{"rules": {".read": "auth != null"}}'))
    >>> rules.can_read(("a",), {"uid": "u1"}, None, 0, None)
    True
"""

from __future__ import annotations

from .document import RulesDocument
from .errors import (
    EvalError,
    ExpressionError,
    LexError,
    ParseError,
    RuleSourceError,
    RuleSyntaxError,
    RuleTypeError,
)
from .evaluate import Expression, compile_expression
from .ruleset import CompiledRules, compile_tree

__all__ = [
    "CompiledRules", "EvalError", "Expression", "ExpressionError", "LexError", "ParseError",
    "RuleSourceError", "RuleSyntaxError", "RuleTypeError", "compile_expression", "compile_rules",
]  # fmt: skip


def compile_rules(doc: RulesDocument) -> CompiledRules:
    """Compile every expression of ``doc`` (checked as at upload). Raises ``RuleSourceError`` (a
    ``RulesError``) naming the line and column of the first offending token in the source."""
    return CompiledRules(compile_tree(doc))
