"""`focus doctor`: which backend, how far away, how skewed, who you are, and which rules are in force."""

from __future__ import annotations

from collections.abc import Iterator

from focuscli.errors import BackendError, FocusError
from focuscli.shell import Invocation


class RulesDiffer(FocusError):
    """The rules in force are not focus's own (reported after the other checks)."""


def report(inv: Invocation) -> Iterator[str]:
    """Lines of the report; raises RulesDiffer at the end when the rules in force differ."""
    from focuscli import embedded
    from focuscli.backend import PermissionDenied
    from focuscli.rules.document import RulesDocument

    settings = inv.settings
    target = settings.target
    yield f"backend: {target.kind} at {target.display_url()}"
    focus = inv.focus  # starts the embedded server when needed
    if target.kind == "embedded":
        info = embedded.status(settings)
        pid = info.get("pid")
        yield f"embedded server: {'running' if info.get('running') else 'not started by focus'}" + (
            f" (pid {pid}, log {info.get('log')})" if pid else ""
        )
    try:
        offset, rtt = focus.db.server_time()
    except PermissionDenied as err:
        yield f"round trip: cannot measure ({err.message}; are focus's rules in force?)"
    else:
        yield f"round trip: {rtt} ms; server clock offset: {offset:+d} ms (server minus this machine)"
    yield f"identity: {settings.user}"
    packaged = embedded.packaged_rules()
    expected = RulesDocument.parse(packaged.read_text(encoding="utf-8")).strict_json()
    try:
        in_force = focus.db.rules_json()
    except BackendError as err:
        yield f"rules: cannot check ({err.message})"
        return
    if in_force == expected:
        yield "rules: the rules in force match firebase/database.rules.json"
    else:
        raise RulesDiffer(
            "the rules in force differ from firebase/database.rules.json; deploy them with "
            "`firebase deploy --only database` (in firebase/) or restart focus serve with --rules"
        )
