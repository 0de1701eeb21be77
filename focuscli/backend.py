"""The Firebase boundary: the one module that talks to Realtime Database through firebase_admin.

Every `Database` owns a *named* firebase_admin App whose requests all run as one user
(``databaseAuthVariableOverride = {"uid": uid}``), so the security rules apply to everything
focus does, on production, the official emulator and `focus serve` alike. firebase_admin is
imported lazily so that ``import focuscli.backend`` stays cheap (``focus --help`` never loads it).

Errors leave this module only as `focuscli.errors` types:

    BackendError                     any other refusal, with the server's message
    ├── PermissionDenied             the rules refused the read or write
    └── Unreachable                  no answer: connection refused, DNS failure or timeout

Note: the SDK itself reads FIREBASE_DATABASE_EMULATOR_HOST from the process environment; when it
is set, https:// database URLs are sent to that emulator (which is how the emulator target of
`focuscli.settings` works).
"""

from __future__ import annotations

import importlib
import itertools
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from focuscli.errors import BackendError, UsageError
from focuscli.failures import failure_reason
from focuscli.stream import Stream

SERVER_TIMESTAMP: dict[str, str] = {".sv": "timestamp"}
CONNECT_TIMEOUT = 2.0  # seconds; the SDK retries a failed connect once, so ≤ ~4 s to "unreachable"
CLOCK_SAMPLES = 3
EMULATOR_PROJECT = "demo-focus"
# Stream reconnection: first retry, cap (seconds). The cap bounds how long a watcher lags a
# server that is back after an outage of any length (doubling to 10 s left it up to 8 s late
# after a 5 s outage); a failed attempt is a refused connect or one request, cheap either way.
STREAM_BACKOFF = (0.5, 1.0)

_app_ids = itertools.count(1)


@dataclass(frozen=True)
class Target:
    """Where the data lives: ``kind`` is "production", "emulator" or "embedded"."""

    url: str  # https://<db>.firebaseio.com (production) or http://host:port?ns=NAME
    credentials: str | None = None  # service-account JSON path; production only
    kind: str = "embedded"

    def display_url(self) -> str:
        """The URL without its query (``http://127.0.0.1:9000``), for messages."""
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc}"


class PermissionDenied(BackendError):
    """The security rules refused the operation."""


class Unreachable(BackendError):
    """Nothing answered at the database URL (refused, unresolvable or timed out)."""


def _project_id(target: Target, certificate_project: str | None) -> str:
    """The projectId option: the service account's project, else derived from the URL."""
    if certificate_project:
        return certificate_project
    parts = urlsplit(target.url)
    if parts.scheme == "https":
        label = (parts.hostname or "").split(".")[0]
        return label.removesuffix("-default-rtdb") or EMULATOR_PROJECT
    return EMULATOR_PROJECT


def _server_now_sentinels() -> tuple[object, ...]:
    """`focuscli.timer.SERVER_NOW`, imported when first needed (empty if timer is absent)."""
    try:
        timer = importlib.import_module("focuscli.timer")
    except ModuleNotFoundError as err:
        if err.name != "focuscli.timer":
            raise
        return ()
    sentinel = getattr(timer, "SERVER_NOW", None)
    return () if sentinel is None else (sentinel,)


def to_wire(value: Any, sentinels: tuple[object, ...] | None = None) -> Any:
    """`value` with every SERVER_NOW sentinel (at any depth) replaced by {".sv": "timestamp"}."""
    marks = _server_now_sentinels() if sentinels is None else sentinels
    if any(value is mark for mark in marks):
        return dict(SERVER_TIMESTAMP)
    if isinstance(value, dict):
        return {key: to_wire(item, marks) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [to_wire(item, marks) for item in value]
    return value


def _clean_path(path: str) -> str:
    return "/" + "/".join(seg for seg in path.split("/") if seg)


class Database:
    """Realtime Database as one user: ``with Database(target, "ana") as db: db.get("/x")``."""

    def __init__(
        self,
        target: Target,
        uid: str,
        *,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        import firebase_admin  # type: ignore[import-untyped, unused-ignore]
        from firebase_admin import credentials  # type: ignore[import-untyped, unused-ignore]

        self.target = target
        self.uid = uid
        self._clock = clock
        credential: Any = None
        certificate_project: str | None = None
        if target.kind == "production":
            if os.environ.get("FIREBASE_DATABASE_EMULATOR_HOST"):  # the SDK would obey it
                raise UsageError(
                    f"FIREBASE_DATABASE_EMULATOR_HOST is set, so {target.url} would go to the "
                    "emulator; unset it to use the production database"
                )
            credential, certificate_project = _certificate(target.credentials)
        else:
            _check_emulator_url(target)
        options: dict[str, Any] = {
            "databaseURL": target.url,
            "databaseAuthVariableOverride": {"uid": uid},
            "httpTimeout": (min(CONNECT_TIMEOUT, timeout), timeout),
            "projectId": _project_id(target, certificate_project),
        }
        if credential is None:  # lazy and never loaded: emulator URLs use the SDK's own
            credential = credentials.ApplicationDefault()
        name = f"focus-{uid}-{os.getpid()}-{next(_app_ids)}"
        try:
            self._app: Any = firebase_admin.initialize_app(credential, options, name=name)
        except ValueError as err:
            raise UsageError(f"cannot use the database URL {target.url}: {err}") from None
        self._closed = False
        self._streams: list[Stream] = []
        self._bound_retries()

    def _bound_retries(self) -> None:
        """Give up at once on failures the SDK's retry policy does not name.

        firebase-admin retries connect/read errors and 500/503 answers with a bounded budget,
        but anything else (an untrusted TLS certificate, say) falls under urllib3's overall
        budget of 10 retries with backoff up to 120 s: minutes of silence before one error
        line. Its database session gets the same policy with ``other=0``.
        """
        import requests
        from firebase_admin import db  # type: ignore[import-untyped, unused-ignore]

        try:
            session = db.reference("/", app=self._app)._client.session
        except ValueError as err:
            raise UsageError(f"cannot use the database URL {self.target.url}: {err}") from None
        for prefix in ("http://", "https://"):
            adapter = session.get_adapter(prefix)
            retries = adapter.max_retries.new(other=0)
            session.mount(prefix, requests.adapters.HTTPAdapter(max_retries=retries))
        # The database answers 401 to a request its rules refuse (a compare-and-set that lost a
        # race, a non-member), and google-auth's session takes every 401 for a stale token:
        # it refreshes the credential and sends the request again, twice. Tokens are already
        # refreshed ahead of their expiry, so a 401 is final: one request, no OAuth round trips.
        if hasattr(session, "_max_refresh_attempts"):
            session._max_refresh_attempts = 0

    # -- operations -------------------------------------------------------------------------

    def get(self, path: str) -> Any:
        """The value at `path` (None if there is nothing)."""
        return self._call(path, lambda ref: ref.get())

    def get_last(self, path: str, n: int) -> Any:
        """The last `n` children of `path` by key (an ordered dict, or None)."""
        return self._call(path, lambda ref: ref.order_by_key().limit_to_last(n).get())

    def set(self, path: str, value: Any) -> None:
        """Replace the value at `path` (SERVER_NOW becomes the server's timestamp)."""
        wire = to_wire(value)
        self._call(path, lambda ref: ref.set(wire))

    def update(self, path: str, values: dict[str, Any]) -> None:
        """One atomic multi-path update below `path` (keys may be `a/b` paths)."""
        wire = to_wire(values)
        self._call(path, lambda ref: ref.update(wire))

    def server_time(self) -> tuple[int, int]:
        """(offset_ms, rtt_ms): estimated server clock minus local clock, NTP-style.

        Each sample PUTs {".sv": "timestamp"} at /users/<uid>/clock, noting the local clock
        just before (t0) and after (t1), then reads the stored timestamp `ts` back. The server
        stamped the value somewhere inside [t0, t1]; assuming the middle, offset = ts - (t0+t1)/2,
        wrong by at most rtt/2. Of CLOCK_SAMPLES samples the one with the smallest rtt wins.
        """
        path = f"/users/{self.uid}/clock"
        best: tuple[int, int] | None = None
        for _ in range(CLOCK_SAMPLES):
            before = self._clock()
            started = time.perf_counter()
            self._call(path, lambda ref: ref.set(dict(SERVER_TIMESTAMP)))
            rtt_ms = (time.perf_counter() - started) * 1000.0
            middle_ms = (before * 1000.0) + rtt_ms / 2.0
            stamp = self.get(path)
            if not isinstance(stamp, int | float) or isinstance(stamp, bool):
                raise BackendError(f"the server did not store a timestamp at {path}")
            sample = (round(stamp - middle_ms), round(rtt_ms))
            if best is None or sample[1] < best[1]:
                best = sample
        assert best is not None
        return best

    def stream(
        self, path: str, *, watchdog_s: float = 45.0, backoff: tuple[float, float] = STREAM_BACKOFF
    ) -> Stream:
        """Follow `path` live as this user (rules apply): a `Stream` of `StreamEvent`.

        Uses the SDK's client for this App (base URL, ``ns`` and ``auth_variable_override``
        params, and its listener session: OAuth in production, ``Bearer owner`` on emulators)
        but its own reader: a read timeout of `watchdog_s` (the server sends a keep-alive after
        30 s of silence, so a quiet connection is a dead one), reconnection with exponential
        backoff from ``backoff[0]`` to ``backoff[1]`` s, and a "connected" event followed by a
        full-state ``put`` after every (re)connect. Returns at once; connection trouble
        arrives as events, never as exceptions. Closed by `close()` or with the Database.
        """
        from firebase_admin import db  # type: ignore[import-untyped, unused-ignore]

        where = _clean_path(path)
        if self._closed:
            raise BackendError("the database connection is closed")
        low, high = backoff
        if not watchdog_s > 0 or not 0 < low <= high:
            raise UsageError("stream needs watchdog_s > 0 and backoff 0 < first <= cap")
        try:
            ref = db.reference(where, app=self._app)
        except ValueError as err:
            raise UsageError(f"invalid database request at {where}: {err}") from None
        client = ref._client
        session = client.create_listener_session()  # keeps auth across production's 307
        url = client.base_url + ref._add_suffix()

        def refresh() -> None:
            from google.auth.transport.requests import Request

            session.credentials.refresh(Request())

        stream = Stream(
            session,
            url,
            dict(client.params),
            where=where,
            watchdog_s=watchdog_s,
            backoff=(low, high),
            refresh=refresh,
        )
        self._streams = [s for s in self._streams if not s.closed]
        self._streams.append(stream)
        return stream

    def rules_json(self) -> Any:
        """The security rules in force, as strict JSON (comments dropped); needs admin access.

        Read with the admin's credentials (the service account in production, the emulator's
        ``Bearer owner`` otherwise), since no user may read the rules.
        """
        import requests

        from focuscli.rules.document import RulesDocument, RulesError

        parts = urlsplit(self.target.url)
        if self.target.kind == "production":
            session: Any = _admin_session(self.target.credentials)
            url, params = f"https://{parts.netloc}/.settings/rules.json", dict[str, str]()
        else:
            session = requests.Session()
            session.headers["Authorization"] = "Bearer owner"
            url, params = _emulator_rules_url(self.target)
        try:
            with session:
                response = session.get(url, params=params, timeout=(CONNECT_TIMEOUT, 10.0))
        except requests.RequestException as err:
            raise Unreachable(
                f"cannot reach the database at {self.target.display_url()} ({failure_reason(err)})"
            ) from None
        if response.status_code in (401, 403):
            raise PermissionDenied("permission denied at /.settings/rules.json")
        if response.status_code != 200:
            raise BackendError(f"cannot read the rules: HTTP {response.status_code}")
        try:
            return RulesDocument.parse(response.text).strict_json()
        except RulesError as err:
            raise BackendError(f"the rules in force do not parse: {err}") from None

    # -- lifecycle --------------------------------------------------------------------------

    def close(self) -> None:
        """Delete the App (closes its HTTP sessions); safe to call twice."""
        if self._closed:
            return
        import firebase_admin  # type: ignore[import-untyped, unused-ignore]

        self._closed = True
        for stream in self._streams:
            stream.close()
        firebase_admin.delete_app(self._app)

    def __enter__(self) -> Database:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- internals --------------------------------------------------------------------------

    def _call(self, path: str, operation: Callable[[Any], Any]) -> Any:
        from firebase_admin import db, exceptions  # type: ignore[import-untyped, unused-ignore]
        from google.auth import exceptions as auth_exceptions

        where = _clean_path(path)
        if self._closed:
            raise BackendError("the database connection is closed")
        try:
            ref = db.reference(where, app=self._app)
            return operation(ref)
        except (exceptions.UnauthenticatedError, exceptions.PermissionDeniedError):
            raise PermissionDenied(f"permission denied at {where}") from None
        except exceptions.FirebaseError as err:
            raise self._translate(err) from None
        except auth_exceptions.TransportError as err:  # fetching an access token failed
            raise Unreachable(
                f"cannot reach Google's sign-in service for {self.target.display_url()} "
                f"({failure_reason(err)}); check your network"
            ) from None
        except auth_exceptions.GoogleAuthError as err:
            detail = err.args[0] if err.args and isinstance(err.args[0], str) else str(err)
            first = (detail.splitlines() or [""])[0][:200]
            raise BackendError(f"cannot sign in with the service account: {first}") from None
        except json.JSONDecodeError:  # answered, but not with JSON: a web server, a proxy...
            raise BackendError(
                f"unexpected answer from {self.target.display_url()} (not JSON); "
                "is that a Realtime Database?"
            ) from None
        except ValueError as err:  # the SDK's own argument checks (bad path, bad value)
            raise UsageError(f"invalid database request at {where}: {err}") from None
        except TypeError as err:  # a value that is not JSON
            raise UsageError(f"cannot store this value at {where}: {err}") from None

    def _translate(self, err: Any) -> BackendError:
        import requests

        cause = err.cause
        if err.http_response is None and isinstance(cause, requests.RequestException):
            reason = failure_reason(cause)
            hint = (
                "check the URL and your network"
                if self.target.kind == "production"
                else "is focus serve running?"
            )
            return Unreachable(
                f"cannot reach the database at {self.target.display_url()} ({reason}); {hint}"
            )
        message = str(err) or type(err).__name__
        if (
            message.startswith("Unexpected response from database")
            and err.http_response is not None
        ):
            return BackendError(
                f"unexpected answer from {self.target.display_url()} "
                f"(HTTP {err.http_response.status_code}); is that a Realtime Database?"
            )
        return BackendError(f"the database refused the request: {message}")


def _check_emulator_url(target: Target) -> None:
    parts = urlsplit(target.url)
    if parts.scheme == "https":
        # The SDK sends https URLs to the emulator only while this variable is set.
        if not os.environ.get("FIREBASE_DATABASE_EMULATOR_HOST"):
            raise UsageError(
                f"{target.url} is an emulator target but FIREBASE_DATABASE_EMULATOR_HOST is not set"
            )
        return
    names = parse_qs(parts.query).get("ns", [])
    if parts.scheme != "http" or not parts.netloc or len(names) != 1 or not names[0]:
        raise UsageError(f"invalid emulator URL {target.url}: use http://host:port?ns=NAME")


def _emulator_rules_url(target: Target) -> tuple[str, dict[str, str]]:
    """Where an emulator (or focus serve) serves the rules of the target's namespace."""
    parts = urlsplit(target.url)
    if parts.scheme == "http":
        ns = parse_qs(parts.query).get("ns", [""])[0]
        return f"http://{parts.netloc}/.settings/rules.json", {"ns": ns}
    host = os.environ.get("FIREBASE_DATABASE_EMULATOR_HOST", "")
    ns = (parts.hostname or "").split(".")[0]
    return f"http://{host}/.settings/rules.json", {"ns": ns}


def _admin_session(path: str | None) -> Any:
    """An authorised requests session with the service account's database scopes."""
    from google.auth.transport.requests import AuthorizedSession

    certificate, _ = _certificate(path)
    session_type: Any = AuthorizedSession  # google-auth is untyped here
    return session_type(certificate.get_credential())


def _certificate(path: str | None) -> tuple[Any, str | None]:
    """A credentials.Certificate from a service-account JSON file, and its project id."""
    from firebase_admin import credentials  # type: ignore[import-untyped, unused-ignore]

    if not path:
        raise UsageError(
            "a production database needs a service-account key: "
            "use --credentials or GOOGLE_APPLICATION_CREDENTIALS"
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
        certificate = credentials.Certificate(info)
    except ValueError as err:
        first = str(err).splitlines()[0] if str(err) else "not a service-account key"
        raise UsageError(f"credentials file {path} is not a service-account key: {first}") from None
    project = info.get("project_id") if isinstance(info, dict) else None
    return certificate, project if isinstance(project, str) and project else None
