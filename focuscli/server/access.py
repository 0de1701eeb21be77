"""Authorization seam: may this (non-admin) caller read or write here, under a namespace's rules."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from focuscli.rules import compile_rules
from focuscli.rules.document import OPEN_RULES, RulesDocument
from focuscli.rules.snapshot import ReadSet
from focuscli.server.coverage import instrument
from focuscli.server.tree import Node, Path


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
        reads: ReadSet | None = None,
    ) -> bool:
        """May ``auth`` write at ``path``, turning ``old_root`` into ``new_root``? One call per
        write path (a multi-path PATCH asks once per path against the same ``new_root``).
        ``reads`` collects where the decision looked at data (for a check off the event loop)."""
        ...

    def may_write(self, path: Path, auth: dict[str, Any] | None, now_ms: int, method: str) -> bool:
        """Could a ``method`` write at ``path`` by ``auth`` be permitted whatever its data?
        False only when certain: the write is then refused before its body is read."""
        ...

    def index_on(self, path: Path) -> tuple[str, ...]:
        """The ``.indexOn`` names declared for the rule node matching ``path`` (or none)."""
        ...


OPEN_ACCESS: Access = compile_rules(OPEN_RULES)
"""The emulator's behaviour before any rules are uploaded: everything allowed."""


def compile_access(doc: RulesDocument | None) -> Access:
    """The Access for a namespace's rules, compiled once; ``None`` (nothing uploaded) is open.

    Raises ``RulesError`` (``line:col: message``) for a document the evaluator refuses. Its
    expressions count their evaluations for the coverage report (server/coverage.py).
    """
    if doc is None:
        return OPEN_ACCESS
    return instrument(compile_rules(doc), doc)
