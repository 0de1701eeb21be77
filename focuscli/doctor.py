"""`focus doctor`: which backend, how far away, how skewed, who you are, and which rules are in force."""

from __future__ import annotations

from collections.abc import Iterator

from focuscli.errors import BackendError, FocusError, PermissionDenied
from focuscli.shell import Invocation


class DoctorFailed(FocusError):
    """A check could not be done or found a problem (reported after the other checks)."""


def report(inv: Invocation) -> Iterator[str]:
    """Lines of the report; raises DoctorFailed at the end when a check failed.

    Every line states what was checked. The rules in force can only be read by an
    administrator: with no administrator credential at hand (a member's usual case: no
    service-account key, not the server's machine) that check is named as not done and why,
    and is not a failure; any check that was attempted and could not finish is.
    """
    from focuscli import adminapi, embedded
    from focuscli.account import token_part
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
    token = inv.account.id_token()
    try:
        offset, rtt = focus.db.server_time()
    except PermissionDenied as err:
        yield f"round trip: cannot measure ({err.message}; are focus's rules in force?)"
    else:
        yield f"round trip: {rtt} ms; server clock offset: {offset:+d} ms (server minus this machine)"
    header, claims = token_part(token, 0), token_part(token, 1)
    email = f" <{claims['email']}>" if isinstance(claims.get("email"), str) else ""
    how = "signed ID token" if header.get("alg") not in (None, "none") else "unsigned emulator token"
    yield f"identity: {claims.get('name') or '(no name)'}{email}, uid {focus.uid} ({how}; profile {settings.user})"
    packaged = embedded.packaged_rules()
    expected = RulesDocument.parse(packaged.read_text(encoding="utf-8")).strict_json()
    secret_file = embedded.admin_secret_path(settings) if target.kind == "embedded" else settings.admin_secret_file
    admin: str | None = None
    if target.kind != "production":
        admin = adminapi.admin_token(secret_file, emulator_mode=settings.auth.mode(inv.client) == "emulator")
    try:
        in_force = adminapi.rules_in_force(target, admin_token=admin)
    except adminapi.NoAdminCredential as err:
        yield f"rules: not compared (reading the rules in force is for administrators: {err.message})"
        return
    except BackendError as err:
        yield f"rules: cannot check ({err.message})"
        raise DoctorFailed("could not check the rules in force; see above") from None
    if in_force == expected:
        yield "rules: the rules in force match firebase/database.rules.json"
    else:
        raise DoctorFailed(
            "the rules in force differ from firebase/database.rules.json; deploy them with "
            "`firebase deploy --only database` (in firebase/) or restart focus serve with --rules"
        )
