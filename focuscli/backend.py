"""The database boundary for members: Realtime Database's REST API, signed in with an ID token.

Every request carries the member's Firebase ID token as the ``auth`` query parameter — never an
``Authorization`` header, which the database reads as an administrator's credential (spec
auth.md §5.1) — so the security rules apply to everything a member does, on production, the
official emulator and `focus serve` alike. A 401 that is not the rules' "Permission denied"
means a stale token: it is refreshed once and the request sent again (spec §5.4). Nothing here
loads firebase-admin or google-auth: a member needs neither a service-account key nor an admin
secret (`focuscli.adminapi` does the few administrator tasks).

Errors leave this module as `focuscli.errors` types:

    BackendError                     any other refusal, with the server's message
    ├── PermissionDenied             the rules refused the read or write
    └── Unreachable                  no answer: connection refused, DNS failure, timeout, TLS
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol
from urllib.parse import parse_qs, quote, urlencode, urlsplit

from focuscli.errors import BackendError, PermissionDenied, Unreachable, UsageError
from focuscli.http_client import HttpClient, NoAnswer, Reply

TYPE_CHECKING = False  # the stream module only when a stream is opened: most commands never do
if TYPE_CHECKING:
    from focuscli.stream import Stream

__all__ = [
    "Database", "PermissionDenied", "SERVER_TIMESTAMP", "Target", "TokenSource", "Unreachable",
    "to_wire",
]  # fmt: skip

SERVER_TIMESTAMP: dict[str, str] = {".sv": "timestamp"}
CONNECT_TIMEOUT = 2.0  # seconds; an unreachable database fails within about this long
CLOCK_SAMPLES = 3
# Stream reconnection: first retry, cap (seconds). The cap bounds how long a watcher lags a
# server that is back after an outage of any length (doubling to 10 s left it up to 8 s late
# after a 5 s outage); a failed attempt is a refused connect or one request, cheap either way.
STREAM_BACKOFF = (0.5, 1.0)
PERMISSION_DENIED = "Permission denied"


@dataclass(frozen=True)
class Target:
    """Where the data lives: ``kind`` is "production", "emulator" or "embedded"."""

    url: str  # https://<db>.firebaseio.com (production) or http://host:port?ns=NAME
    credentials: str | None = None  # service-account JSON: administrator tasks only
    kind: str = "embedded"

    def display_url(self) -> str:
        """The URL without its query (``http://127.0.0.1:9000``), for messages."""
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc}"

    def namespace(self) -> str | None:
        """The ``ns`` of an emulator URL (None for production, where the host names it)."""
        names = parse_qs(urlsplit(self.url).query).get("ns", [])
        return names[0] if names else None

    def rest_url(self, path: str, params: dict[str, str] | None = None) -> str:
        """The REST URL of `path` (``/a/b``) with `params` (and ``ns`` on emulators)."""
        query = dict(params or {})
        ns = self.namespace()
        if ns is not None:
            query = {"ns": ns, **query}
        encoded = "/".join(quote(segment, safe="") for segment in path.strip("/").split("/") if segment)
        return f"{self.display_url()}/{encoded}.json" + (f"?{urlencode(query)}" if query else "")


class TokenSource(Protocol):
    """The signed-in member the database sees (`focuscli.account.Account` is the real one)."""

    @property
    def uid(self) -> str: ...

    def id_token(self) -> str: ...

    def refreshed(self) -> str: ...

    def renew_at(self) -> float: ...


def to_wire(value: Any, sentinels: tuple[object, ...] | None = None) -> Any:
    """`value` with every SERVER_NOW sentinel (at any depth) replaced by {".sv": "timestamp"}."""
    if sentinels is None:
        from focuscli.timer import SERVER_NOW

        sentinels = (SERVER_NOW,)
    if any(value is mark for mark in sentinels):
        return dict(SERVER_TIMESTAMP)
    if isinstance(value, dict):
        return {key: to_wire(item, sentinels) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [to_wire(item, sentinels) for item in value]
    return value


def _clean_path(path: str) -> str:
    return "/" + "/".join(seg for seg in path.split("/") if seg)


class Database:
    """Realtime Database as one signed-in member: ``with Database(target, account) as db: ...``."""

    def __init__(
        self,
        target: Target,
        member: TokenSource,
        *,
        timeout: float = 10.0,
        ca_bundle: str | None = None,
        client: HttpClient | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        _check_url(target)
        self.target = target
        self.member = member
        self._clock = clock
        self._ca_bundle = ca_bundle
        self._client = client or HttpClient(ca_bundle=ca_bundle, timeout=timeout, connect_timeout=CONNECT_TIMEOUT)
        self._closed = False
        self._streams: list[Stream] = []

    @property
    def uid(self) -> str:
        return self.member.uid

    # -- operations -------------------------------------------------------------------------

    def get(self, path: str) -> Any:
        """The value at `path` (None if there is nothing)."""
        return self._call("GET", path)

    def get_last(self, path: str, n: int) -> Any:
        """The last `n` children of `path` by key (an object, or None)."""
        return self._call("GET", path, {"orderBy": '"$key"', "limitToLast": str(n)})

    def query(
        self, path: str, *, order_by: str, start_at: Any = None, end_at: Any = None,
        limit_first: int | None = None, limit_last: int | None = None,
    ) -> Any:  # fmt: skip
        """The children of `path` ordered by `order_by` (a child's name, or "$key"), from
        `start_at` to `end_at` (both included; None: unbounded), at most the first or last N:
        an object of those children (or None). A child order needs an ``.indexOn`` for it in
        the rules on production (spec rtdb-rest.md: "Index not defined" otherwise)."""
        params = {"orderBy": json.dumps(order_by)}
        for name, value in (("startAt", start_at), ("endAt", end_at)):
            if value is not None:
                params[name] = json.dumps(value)
        for name, count in (("limitToFirst", limit_first), ("limitToLast", limit_last)):
            if count is not None:
                params[name] = str(count)
        return self._call("GET", path, params)

    def set(self, path: str, value: Any) -> Any:
        """Replace the value at `path` (SERVER_NOW becomes the server's timestamp); returns the
        value as stored (server values resolved)."""
        return self._call("PUT", path, body=to_wire(value))

    def update(self, path: str, values: dict[str, Any]) -> None:
        """One atomic multi-path update below `path` (keys may be `a/b` paths)."""
        self._call("PATCH", path, {"print": "silent"}, body=to_wire(values))

    def server_time(self) -> tuple[int, int]:
        """(offset_ms, rtt_ms): estimated server clock minus local clock, NTP-style.

        Each sample PUTs {".sv": "timestamp"} at /users/<uid>/clock, noting the local clock
        just before; the answer is the stored timestamp ``ts``. The server stamped it somewhere
        inside the round trip; assuming the middle, offset = ts - (t0 + rtt/2), wrong by at most
        rtt/2. Of CLOCK_SAMPLES samples the one with the smallest rtt wins.
        """
        path = f"/users/{self.uid}/clock"
        best: tuple[int, int] | None = None
        for _ in range(CLOCK_SAMPLES):
            before = self._clock()
            started = time.perf_counter()
            stamp = self._call("PUT", path, body=SERVER_TIMESTAMP)
            rtt_ms = (time.perf_counter() - started) * 1000.0
            if not isinstance(stamp, int | float) or isinstance(stamp, bool):
                raise BackendError(f"the server did not store a timestamp at {path}")
            middle_ms = before * 1000.0 + rtt_ms / 2.0
            sample = (round(stamp - middle_ms), round(rtt_ms))
            if best is None or sample[1] < best[1]:
                best = sample
        assert best is not None
        return best

    def stream(
        self, path: str, *, watchdog_s: float = 45.0, backoff: tuple[float, float] = STREAM_BACKOFF
    ) -> Stream:
        """Follow `path` live as this member (rules apply): a `Stream` of `StreamEvent`.

        The stream asks for a fresh ID token at every (re)connection, reconnects by itself a
        little before the token expires (and at once on ``auth_revoked``), notices a silent
        connection after `watchdog_s`, and backs off from ``backoff[0]`` to ``backoff[1]`` s.
        Returns at once; trouble arrives as events, never as exceptions.
        """
        where = _clean_path(path)
        if self._closed:
            raise BackendError("the database connection is closed")
        low, high = backoff
        if not watchdog_s > 0 or not 0 < low <= high:
            raise UsageError("stream needs watchdog_s > 0 and backoff 0 < first <= cap")
        from focuscli.stream import Stream

        stream = Stream(
            lambda: self.target.rest_url(where, {"auth": self.member.id_token()}),
            where=where,
            watchdog_s=watchdog_s,
            backoff=(low, high),
            refresh=self.member.refreshed,
            renew_at=self.member.renew_at,
            ca_bundle=self._ca_bundle,
            clock=self._clock,
        )
        self._streams = [s for s in self._streams if not s.closed]
        self._streams.append(stream)
        return stream

    # -- lifecycle --------------------------------------------------------------------------

    def close(self) -> None:
        """Close the connection and every stream; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        for stream in self._streams:
            stream.close()
        self._client.close()

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

    def _call(self, method: str, path: str, params: dict[str, str] | None = None, *, body: Any = None) -> Any:
        where = _clean_path(path)
        if self._closed:
            raise BackendError("the database connection is closed")
        try:
            data = None if body is None else json.dumps(body, allow_nan=False).encode("utf-8")
        except (TypeError, ValueError) as err:
            raise UsageError(f"cannot store this value at {where}: {err}") from None
        headers = {"Content-Type": "application/json"} if data is not None else {}
        token = self.member.id_token()
        for attempt in (1, 2):
            url = self.target.rest_url(where, {**(params or {}), "auth": token})
            try:
                reply = self._client.request(method, url, body=data, headers=headers)
            except NoAnswer as err:
                raise Unreachable(
                    f"cannot reach the database at {err.origin} ({err.reason}); {self._hint()}"
                ) from None
            if reply.status == 401 and _error(reply) != PERMISSION_DENIED and attempt == 1:
                token = self.member.refreshed()  # a stale or unreadable token: once more, fresh
                continue
            return self._answer(reply, where)
        raise AssertionError("unreachable")  # pragma: no cover

    def _answer(self, reply: Reply, where: str) -> Any:
        if reply.status in (200, 204):
            if not reply.body:
                return None  # print=silent
            try:
                return json.loads(reply.body)
            except ValueError:
                raise self._not_rtdb("not JSON") from None
        error = _error(reply)
        if reply.status == 401 and error == PERMISSION_DENIED:
            raise PermissionDenied(f"permission denied at {where}")
        if reply.status == 401:
            raise BackendError(
                f"the database did not accept your sign-in ({error or 'HTTP 401'}); "
                "sign in again with: focus login EMAIL"
            )
        if error is None:
            raise self._not_rtdb(f"HTTP {reply.status}")
        raise BackendError(f"the database refused the request: {error}")

    def _not_rtdb(self, what: str) -> BackendError:
        return BackendError(
            f"unexpected answer from {self.target.display_url()} ({what}); is that a Realtime Database?"
        )

    def _hint(self) -> str:
        return "check the URL and your network" if self.target.kind == "production" else "is focus serve running?"


def _error(reply: Reply) -> str | None:
    """The ``error`` text of an RTDB error body, if the body is one."""
    try:
        value = json.loads(reply.body)
    except ValueError:
        return None
    error = value.get("error") if isinstance(value, dict) else None
    return error if isinstance(error, str) else None


def _check_url(target: Target) -> None:
    parts = urlsplit(target.url)
    if target.kind == "production":
        if parts.scheme != "https" or not parts.hostname:
            raise UsageError(f"invalid production database URL {target.url}: use https://…")
        return
    names = parse_qs(parts.query).get("ns", [])
    if parts.scheme != "http" or not parts.netloc or len(names) != 1 or not names[0]:
        raise UsageError(f"invalid emulator URL {target.url}: use http://host:port?ns=NAME")
