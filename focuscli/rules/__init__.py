"""Firebase Realtime Database security rules: compile a rules document once, then ask it.

The pipeline, one module per stage: ``lexer`` (text -> tokens), ``parser`` (tokens -> ``ast``,
a Pratt parser), ``evaluate`` (static checks, then closures evaluated against immutable tree
snapshots), ``ruleset`` (the rule-node tree, the read cascade and write validation). The
language is specified in ``shared/spec/rules.md``.

    >>> from focuscli.server.rulesdoc import RulesDocument
    >>> rules = compile_rules(RulesDocument.parse('{"rules": {".read": "auth != null"}}'))
    >>> rules.can_read(("a",), {"uid": "u1"}, None, 0, None)
    True
"""

from __future__ import annotations

from ..server.rulesdoc import RulesDocument
from .errors import EvalError, ExpressionError, LexError, ParseError, RuleSyntaxError, RuleTypeError
from .evaluate import Expression, compile_expression
from .ruleset import CompiledRules, compile_tree

__all__ = [
    "CompiledRules", "EvalError", "Expression", "ExpressionError", "LexError", "ParseError",
    "RuleSyntaxError", "RuleTypeError", "compile_expression", "compile_rules",
]  # fmt: skip


def compile_rules(doc: RulesDocument) -> CompiledRules:
    """Compile every expression of ``doc`` (checked as at upload). Raises ``RulesError`` naming
    the line and column of the offending token in the rules source."""
    return CompiledRules(compile_tree(doc))
