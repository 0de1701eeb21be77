"""The Auth emulator's front: (method, path) to operation, credentials, project, body, reply.

``AuthEmulator.handle`` takes one request value and returns a ``Reply``: status, JSON body, and
the records its operation changed (for the adapter to make durable). No I/O; stdlib only.
"""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote

from focuscli.server.authemu import accounts, manage, oob, signin
from focuscli.server.authemu import errors as E
from focuscli.server.authemu.context import Call, Settings
from focuscli.server.authemu.state import ProjectState

IDENTITY = "/identitytoolkit.googleapis.com"
SECURE_TOKEN = "/securetoken.googleapis.com"
EMULATOR = "/emulator"
PREFIXES = (IDENTITY + "/", SECURE_TOKEN + "/")
READY = {"authEmulator": {"ready": True, "docs": "https://firebase.google.com/docs/emulator-suite",
                          "apiSpec": "/emulator/openapi.json"}}  # fmt: skip
NO_PAGE = ("No web page is served at / yet: this is focus serve's API "
           "(Realtime Database REST and the Auth emulator).")  # fmt: skip
JSON_TYPE = "application/json; charset=utf-8"
PROJECT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")

Operation = Callable[[Call], dict[str, Any]]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    operation: Operation | str  # a name: a known operation this emulator does not implement
    security: str  # "client": API key or admin; "emulator": none in emulator mode, admin in secure


def _route(method: str, path: str, operation: Operation | str, security: str = "client") -> Route:
    regex = re.escape(path).replace(r"\{p\}", "(?P<project>[^/:]+)")
    return Route(method, re.compile(regex), operation, security)


V1 = IDENTITY + "/v1"
ROUTES = [
    _route("POST", V1 + "/accounts:signUp", signin.sign_up),
    _route("POST", V1 + "/accounts:signInWithPassword", signin.sign_in_with_password),
    _route("POST", V1 + "/accounts:signInWithCustomToken", signin.sign_in_with_custom_token),
    _route("POST", V1 + "/accounts:signInWithEmailLink", signin.sign_in_with_email_link),
    _route("POST", V1 + "/accounts:lookup", accounts.lookup),
    _route("POST", V1 + "/accounts:update", accounts.update),
    _route("POST", V1 + "/accounts:delete", accounts.delete),
    _route("POST", V1 + "/accounts:sendOobCode", oob.send_oob_code),
    _route("POST", V1 + "/accounts:resetPassword", oob.reset_password),
    _route("POST", V1 + "/projects/{p}/accounts", signin.sign_up),
    _route("POST", V1 + "/projects/{p}/accounts:lookup", accounts.lookup),
    _route("POST", V1 + "/projects/{p}/accounts:update", accounts.update),
    _route("POST", V1 + "/projects/{p}/accounts:delete", accounts.delete),
    _route("POST", V1 + "/projects/{p}/accounts:sendOobCode", oob.send_oob_code),
    _route("POST", V1 + "/projects/{p}/accounts:batchDelete", manage.batch_delete),
    _route("GET", V1 + "/projects/{p}/accounts:batchGet", manage.batch_get),
    _route("POST", V1 + "/projects/{p}:createSessionCookie", manage.create_session_cookie),
    _route("POST", V1 + "/projects/{p}/accounts:batchCreate", "identitytoolkit.projects.accounts.batchCreate"),
    _route("POST", V1 + "/projects/{p}/accounts:query", "identitytoolkit.projects.accounts.query"),
    _route("POST", V1 + "/projects/{p}:queryAccounts", "identitytoolkit.projects.queryAccounts"),
    _route("POST", SECURE_TOKEN + "/v1/token", signin.grant_token),
    _route("DELETE", EMULATOR + "/v1/projects/{p}/accounts", manage.delete_all_accounts, "emulator"),
    _route("GET", EMULATOR + "/v1/projects/{p}/config", manage.get_config, "emulator"),
    _route("PATCH", EMULATOR + "/v1/projects/{p}/config", manage.update_config, "emulator"),
    _route("GET", EMULATOR + "/v1/projects/{p}/oobCodes", manage.list_oob_codes, "emulator"),
    _route("GET", EMULATOR + "/v1/projects/{p}/verificationCodes", manage.list_verification_codes,
           "emulator"),
]
# Other Identity Toolkit operations (federated and phone sign-in, MFA, tenants, passkeys): 501.
_OTHER_ACCOUNT_OP = re.compile(re.escape(IDENTITY) + r"/v[12]/(accounts[:/][A-Za-z/:]+)")
_TENANT_OP = re.compile(re.escape(V1) + r"/projects/[^/]+/tenants(/.*)?")

# Member types, shared by every operation (Google's JSON mapping: numbers are accepted where a
# string is expected). Lookups by an admin take lists instead (LOOKUP_LISTS).
STRINGS = frozenset({
    "email", "password", "idToken", "displayName", "photoUrl", "localId", "phoneNumber", "token",
    "oobCode", "newPassword", "continueUrl", "newEmail", "customAttributes", "validSince",
    "createdAt", "lastLoginAt", "grantType", "refreshToken", "targetProjectId", "tenantId",
    "validDuration",
})  # fmt: skip
BOOLEANS = frozenset({
    "returnSecureToken", "emailVerified", "disabled", "disableUser", "returnOobLink",
    "canHandleCodeInApp", "force",
})  # fmt: skip
STRING_LISTS = frozenset({"deleteAttribute", "deleteProvider", "localIds"})
OBJECTS = frozenset({"signIn", "emailPrivacyConfig"})
OBJECT_LISTS = frozenset({"federatedUserId"})
LOOKUP_LISTS = frozenset({"localId", "email", "phoneNumber"})


@dataclass
class Reply:
    status: int
    body: dict[str, Any]
    writes: dict[tuple[str, str, str], str | None] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)

    def encoded(self) -> bytes:
        """Pretty-printed (two spaces, as the emulator), members without a value left out."""
        return json.dumps(_compact(self.body), indent=2, ensure_ascii=False).encode("utf-8", "backslashreplace")


def _compact(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _compact(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_compact(v) for v in value]
    return value


def owns(path: str) -> bool:
    """Whether a request path belongs to the Auth emulator (the rest is the database's).

    The Google host names cannot be database keys (they hold dots); ``emulator`` can, so a
    database path under it (``/emulator/x.json``) stays the database's.
    """
    if path == "/" or path.startswith(PREFIXES):
        return True
    return path.startswith(EMULATOR + "/") and not path.endswith((".json", ".upload"))


class AuthEmulator:
    """Every project's accounts behind the Identity Toolkit, Secure Token and emulator routes."""

    def __init__(self, *, default_project: str, settings: Settings, admin_secret: str | None) -> None:
        self.default_project = default_project
        self.settings = settings
        self.admin_secret = admin_secret
        self.projects: dict[str, ProjectState] = {}

    def project(self, project_id: str) -> ProjectState:
        """A project's state; a new one is kept only once something is written to it (requests
        naming made-up projects leave nothing behind)."""
        state = self.projects.get(project_id)
        return state if state is not None else ProjectState(project_id)

    # -- persistence --------------------------------------------------------------------------

    def load(self, records: dict[tuple[str, str, str], str]) -> None:
        """Rebuild every project from (project, kind, key) -> JSON text records."""
        self.projects.clear()
        for (project_id, kind, key), text in records.items():
            self.projects.setdefault(project_id, ProjectState(project_id)).load(kind, key, text)
        for state in self.projects.values():
            state.finish_load()

    # -- requests -----------------------------------------------------------------------------

    def handle(
        self, method: str, path: str, query: str, headers: dict[str, str], body: bytes, *,
        now: float, base_url: str,
    ) -> Reply:  # fmt: skip
        """One request (``headers`` keys lower-case, ``path`` still percent-encoded)."""
        params = dict(parse_qsl(query, keep_blank_values=True))
        call: Call | None = None
        try:
            if path == "/" and method in ("GET", "HEAD"):
                if "text/html" in headers.get("accept", ""):
                    raise E.AuthApiError(404, NO_PAGE, status="NOT_FOUND",
                                         errors=[{"message": NO_PAGE, "reason": "notFound"}])
                mode = "secure" if self.settings.secure else "emulator"
                return Reply(200, {**READY, "focusServe": {"mode": mode, "projectId": self.default_project}})
            route, target = self._match(method, path)
            privileged = self._authenticate(route, headers, params)
            fields = self._body(route, method, headers, body)
            if isinstance(route.operation, str):
                raise E.not_implemented(route.operation)
            if target is None and fields.get("targetProjectId"):
                target = str(fields["targetProjectId"])
            if target is not None and route.security == "client" and not privileged:
                E.fail(E.TARGET_PROJECT_NEEDS_OAUTH)
            project_id = self.default_project if target is None else target
            if not PROJECT_ID.fullmatch(project_id):
                E.fail(E.INVALID_PROJECT_ID)
            call = Call(self.project(project_id), fields, privileged, now, self.settings,
                        query=params, base_url=base_url)
            return Reply(200, route.operation(call), self._writes(call), call.log)
        except E.AuthApiError as err:
            return Reply(err.code, err.envelope(), self._writes(call), call.log if call else [])

    def _writes(self, call: Call | None) -> dict[tuple[str, str, str], str | None]:
        if call is None:
            return {}
        project_id = call.state.project_id
        writes = call.state.take_writes()
        if writes:
            self.projects.setdefault(project_id, call.state)
        return {(project_id, kind, key): v for (kind, key), v in writes.items()}

    def _match(self, method: str, path: str) -> tuple[Route, str | None]:
        for route in ROUTES:
            match = route.pattern.fullmatch(path)
            if match and route.method == method:
                project = match.groupdict().get("project")
                return route, None if project is None else unquote(project)
        other = _OTHER_ACCOUNT_OP.fullmatch(path) or _TENANT_OP.fullmatch(path)
        if other and method == "POST":
            rest = other.group(1) if other.re is _OTHER_ACCOUNT_OP else "projects.tenants"
            name = "identitytoolkit." + rest.replace(":", ".").replace("/", ".")
            return Route(method, re.compile(""), name, "client"), None
        raise E.not_found()

    def _authenticate(self, route: Route, headers: dict[str, str], params: dict[str, str]) -> bool:
        """True for an admin (OAuth) caller; errors for a bad credential or none where one is due."""
        privileged = False
        authorization = headers.get("authorization", "")
        if authorization[:7].lower() == "bearer ":
            privileged = self._is_admin(authorization[7:].strip())
            if not privileged:
                raise E.invalid_credentials()
        if route.security == "emulator":
            if self.settings.secure and not privileged:
                raise E.login_required()  # secure mode: the emulator endpoints are admin only
            return privileged
        if not privileged and not (params.get("key") or headers.get("x-goog-api-key")):
            raise E.missing_api_key()
        return privileged

    def _is_admin(self, token: str) -> bool:
        if self.admin_secret is not None:
            return hmac.compare_digest(token.encode("utf-8", "surrogatepass"),
                                       self.admin_secret.encode("utf-8"))
        # Emulator mode: `owner` (any case) or a production OAuth token, as the Auth emulator.
        return token.lower() == "owner" or token.startswith("ya29.")

    def _body(
        self, route: Route, method: str, headers: dict[str, str], body: bytes
    ) -> dict[str, Any]:
        if method in ("GET", "DELETE") or not body.strip():
            return {}
        content_type = headers.get("content-type", "")
        if content_type.startswith("application/x-www-form-urlencoded"):
            try:
                raw: Any = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
            except UnicodeDecodeError:
                raise E.invalid_argument("the form body is not UTF-8") from None
        else:
            try:
                raw = json.loads(body.decode("utf-8"))
            except UnicodeDecodeError:
                raise E.invalid_argument("the body is not UTF-8") from None
            except json.JSONDecodeError as err:
                raise E.invalid_argument(f"{err.msg} at position {err.pos}") from None
            except RecursionError:
                raise E.invalid_argument("nested too deep") from None
        if not isinstance(raw, dict):
            raise E.invalid_argument("the body must be a JSON object")
        try:
            fields: dict[str, Any] = _camel_keys(raw)
        except RecursionError:
            raise E.invalid_argument("nested too deep") from None
        lists = LOOKUP_LISTS if route.operation is accounts.lookup else frozenset()
        for name, value in list(fields.items()):
            fields[name] = _typed(name, value, lists)
        return fields


def _typed(name: str, value: Any, lists: frozenset[str]) -> Any:
    if value is None:
        return None
    if name in lists or name in STRING_LISTS:
        if not isinstance(value, list):
            raise E.invalid_argument(f"/{name} must be array")
        return [_typed(f"{name}/{i}", item, frozenset()) if not isinstance(item, str) else item
                for i, item in enumerate(value)]
    if name in STRINGS or "/" in name:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value) if not isinstance(value, float) or not value.is_integer() else str(int(value))
        if not isinstance(value, str):
            raise E.invalid_argument(f"/{name} must be string")
    elif name in BOOLEANS and not isinstance(value, bool):
        raise E.invalid_argument(f"/{name} must be boolean")
    elif name in OBJECTS and not isinstance(value, dict):
        raise E.invalid_argument(f"/{name} must be object")
    elif name in OBJECT_LISTS and not (isinstance(value, list) and all(isinstance(v, dict) for v in value)):
        raise E.invalid_argument(f"/{name} must be array of objects")
    elif name == "requestType" and (not isinstance(value, str | int) or isinstance(value, bool)):
        raise E.invalid_argument("/requestType must be string")
    return value


_WORD_BREAK = re.compile(r"[_\-\s]+")


def _camel_keys(value: Any) -> Any:  # (a dict in, a dict out)
    """Keys in camelCase at every depth (Google's REST mapping takes snake_case too)."""
    if isinstance(value, list):
        return [_camel_keys(v) for v in value]
    if not isinstance(value, dict):
        return value
    result = {}
    for key, item in value.items():
        words = [w for w in _WORD_BREAK.split(str(key)) if w]
        camel = (words[0][:1].lower() + words[0][1:] + "".join(w[:1].upper() + w[1:] for w in words[1:])
                 if words else key)
        result[camel] = _camel_keys(item)
    return result
