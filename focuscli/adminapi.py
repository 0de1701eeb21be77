"""Administrator tasks, kept apart from the member path: reading the security rules in force.

Members never need what this module uses. A Firebase project's rules are read with a
service-account key (google-auth through firebase-admin's certificate loader: OAuth with the
database scopes); a `focus serve` in secure mode (the embedded default among them) with its
admin secret; an emulator-mode server or the official emulator with the emulator's ``owner``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from focuscli.backend import Target
from focuscli.errors import BackendError, PermissionDenied, Unreachable, UsageError
from focuscli.failures import failure_reason

TIMEOUT = (2.0, 10.0)


def rules_in_force(target: Target, *, admin_token: str | None) -> Any:
    """The security rules the database enforces, as strict JSON (comments dropped).

    A Firebase project is read with its service-account key (``target.credentials``), anything
    else with ``admin_token`` (see `admin_token`). Raises `NoAdminCredential` without either.
    """
    import requests

    from focuscli.rules.document import RulesDocument, RulesError

    session: Any
    if target.kind == "production":
        if not target.credentials:
            raise NoAdminCredential(
                "needs a service-account key (--credentials or GOOGLE_APPLICATION_CREDENTIALS)"
            )
        session = _admin_session(target.credentials)
        url, params = f"{target.display_url()}/.settings/rules.json", {}
    else:
        if admin_token is None:
            raise NoAdminCredential(
                "needs the server's admin secret: set admin_secret_file in the config, or "
                "FOCUS_ADMIN_SECRET_FILE (focus serve prints where it keeps it)"
            )
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {admin_token}"
        url, params = f"{target.display_url()}/.settings/rules.json", {"ns": target.namespace() or ""}
    from google.auth import exceptions as auth_exceptions

    try:
        with session:
            response = session.get(url, params=params, timeout=TIMEOUT)
    except requests.RequestException as err:
        raise Unreachable(
            f"cannot reach the database at {target.display_url()} ({failure_reason(err)})"
        ) from None
    except auth_exceptions.TransportError as err:  # fetching an access token failed
        raise Unreachable(f"cannot reach Google's sign-in service ({failure_reason(err)})") from None
    except auth_exceptions.GoogleAuthError as err:
        detail = err.args[0] if err.args and isinstance(err.args[0], str) else str(err)
        first = (detail.splitlines() or [""])[0][:200]
        raise BackendError(f"cannot sign in with the service account: {first}") from None
    if response.status_code in (401, 403):
        raise PermissionDenied("permission denied at /.settings/rules.json")
    if response.status_code != 200:
        raise BackendError(f"cannot read the rules: HTTP {response.status_code}")
    try:
        return RulesDocument.parse(response.text).strict_json()
    except RulesError as err:
        raise BackendError(f"the rules in force do not parse: {err}") from None


class NoAdminCredential(BackendError):
    """Nothing available here is an administrator of the database (the message says what is)."""


def admin_token(secret_file: Path | None, *, emulator_mode: bool) -> str | None:
    """How to be administrator of an emulator or a `focus serve`: the server's admin secret
    (from `secret_file`, when given and present), else ``owner`` if the server is in emulator
    mode (as the official emulator is), else None (nothing here is administrator)."""
    if secret_file is not None:
        try:
            secret = secret_file.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            secret = ""
        except OSError as err:
            reason = err.strerror.lower() if err.strerror else str(err)
            raise UsageError(f"cannot read the admin secret {secret_file}: {reason}") from None
        if secret:
            return secret
    return "owner" if emulator_mode else None


def _admin_session(path: str) -> Any:
    """An authorised requests session with the service account's database scopes."""
    from google.auth.transport.requests import AuthorizedSession

    cert, _ = certificate(path)
    session_type: Any = AuthorizedSession  # google-auth is untyped here
    return session_type(cert.get_credential())


def certificate(path: str | None) -> tuple[Any, str | None]:
    """A credentials.Certificate from a service-account JSON file, and its project id."""
    from firebase_admin import credentials  # type: ignore[import-untyped, unused-ignore]

    if not path:
        raise UsageError(
            "a service-account key is needed: use --credentials or GOOGLE_APPLICATION_CREDENTIALS"
        )
    try:
        with open(path, encoding="utf-8") as handle:
            info = json.load(handle)
    except FileNotFoundError:
        raise UsageError(f"credentials file not found: {path}") from None
    except OSError as err:
        reason = err.strerror.lower() if err.strerror else str(err)
        raise UsageError(f"cannot read credentials file {path}: {reason}") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise UsageError(f"credentials file {path} is not JSON") from None
    if not isinstance(info, dict):
        raise UsageError(
            f"credentials file {path} is not a service-account key: "
            'expected a JSON object with "type": "service_account"'
        )
    try:
        cert = credentials.Certificate(info)
    except ValueError as err:
        first = str(err).splitlines()[0] if str(err) else "not a service-account key"
        raise UsageError(f"credentials file {path} is not a service-account key: {first}") from None
    project = info.get("project_id")
    return cert, project if isinstance(project, str) and project else None
