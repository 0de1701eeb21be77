"""WebSocket transport for the realtime protocol: aiohttp sockets <-> realtime sessions <-> store.

One handler task per connection reads texts and feeds its Session, one request at a time
(store actions awaited in order); one writer task empties the connection's outbox, so a slow
peer never stalls a commit's fan-out (a peer too far behind is cut off). Identity comes only
from the socket's `auth`/`gauth` requests, through ``authenticator``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import secrets
import string
import time
from collections import deque
from collections.abc import Iterable
from typing import Any

from aiohttp import WSMsgType, web

from focuscli.server.auth import EXPIRED, AuthError, Identities
from focuscli.server.change import Change
from focuscli.server.realtime.actions import (
    Action,
    Barrier,
    Close,
    CloseCode,
    Commit,
    Hold,
    Log,
    Send,
)
from focuscli.server.realtime.ondisconnect import OnDisconnect, run_held
from focuscli.server.realtime.session import Authenticate, Refused, Session, Who
from focuscli.server.store import (
    DEFAULT_NAMESPACE,
    Namespace,
    Store,
    StoreUnavailable,
    namespace_error,
)
from focuscli.server.tree import Node

log = logging.getLogger("focuscli.server")

MAX_FRAME_BYTES = 64 * 1024  # the SDKs cut messages at 16,384 UTF-16 units (<= 48 KiB of UTF-8)
MAX_OUTBOX_CHARS = 64 * 1024 * 1024  # a peer this far behind is gone or stuck: cut it off
QUIET_LIMIT_S = 60.0  # a client says `0` after 45 s without traffic; 15 s later it is gone
CLOSE_WAIT_S = 2.0
_SESSION_CHARS = string.ascii_letters + string.digits
_CLOSE = object()  # the outbox's last item: close the socket


def authenticator(identities: Identities) -> Authenticate:
    """The socket's credential check: the one place it calls into ``server.auth``.

    Tokens are read as for REST (``owner``/the admin secret with an optional auth variable
    override, else an ID token), by the server's one `Identities`. An emulator-mode server
    takes unsigned ID tokens whose ``exp`` has passed, as the emulator does: the SDK's mock
    tokens expired in 1970 (rtdb-websocket.md §7.2). Tokens still valid expire on the socket
    with an `ac` push; in secure mode an expired or unverifiable token is refused.
    """

    def authenticate(credential: str, override: str | None, now: float) -> Who:
        lenient = False
        try:
            identity = identities.for_token(credential, override=override, now=now)
        except AuthError as err:
            if err.message != EXPIRED or identities.secure:
                status = "expired_token" if err.message == EXPIRED else "invalid_token"
                raise Refused(status, err.message) from None
            lenient = True
            identity = identities.for_token(credential, override=override, now=-math.inf)
        return Who(identity.admin, identity.auth, None if lenient else _expiry(identity.auth))

    return authenticate


def _expiry(auth: dict[str, Any] | None) -> float | None:
    token = (auth or {}).get("token")
    exp = token.get("exp") if isinstance(token, dict) else None
    if not isinstance(exp, int | float) or isinstance(exp, bool):
        return None
    try:
        return float(exp)
    except OverflowError:
        return None


class Connection:
    """One socket: its session, outbox and counters; a follower of its namespace."""

    def __init__(self, server: RealtimeServer, ws: web.WebSocketResponse, session: Session,
                 ns: Namespace) -> None:  # fmt: skip
        self.server = server
        self.ws = ws
        self.session = session
        self.ns = ns
        self.outbox: deque[Any] = deque()
        self.outbox_chars = 0
        self.wakeup = asyncio.Event()
        self.closed = False
        self.finished = asyncio.Event()
        self.frames_in = self.frames_out = 0
        self.last_session = ""  # the `ls` it presented: the session it continues
        self.last_in = self.last_out = time.monotonic()

    # -- store follower ---------------------------------------------------------------------

    def published(self, ns: Namespace, change: Change | None, old_root: Node, new_root: Node,
                  now_ms: int, cache: dict[Any, Any]) -> bool:  # fmt: skip
        self.perform(self.session.deliver(change, old_root, new_root, now_ms / 1000, cache))
        return not self.closed

    def close(self) -> None:
        """End the connection: what is queued goes out, then the socket closes."""
        self._enqueue_close(CloseCode.GOING_AWAY, "server shutting down")

    # -- actions ----------------------------------------------------------------------------

    def perform(self, actions: Iterable[Action]) -> None:
        """Carry out the actions that need no waiting (sends, logs, closes)."""
        for action in actions:
            if isinstance(action, Send):
                self._enqueue(action.text)
            elif isinstance(action, Close):
                self._enqueue_close(action.code, action.reason)
            elif isinstance(action, Log):
                log.warning("%s", action.message)
            else:  # pragma: no cover - sessions only ask for store work from receive/lost
                raise AssertionError(f"{action!r} needs run()")

    async def run(self, actions: list[Action]) -> None:
        """Carry out actions in order, awaiting the store where asked, and what follows."""
        queue = deque(actions)
        while queue:
            action = queue.popleft()
            if isinstance(action, Commit | Hold | Barrier):
                error = await self._store_work(action)
                queue.extendleft(reversed(self.session.settled(action.ticket, error)))
            else:
                self.perform([action])

    async def _store_work(self, action: Commit | Hold | Barrier) -> str | None:
        store = self.server.store
        try:
            if isinstance(action, Commit):
                await store.commit(self.ns, action.change, action.new_root, release=action.release)
            elif isinstance(action, Hold):
                await store.hold(self.ns, self.session.id, action.record)
            else:
                pending = store.barrier()
                if pending is not None:
                    await pending
        except StoreUnavailable as err:
            return f"Database unavailable: {err}"
        return None

    def _enqueue(self, text: str) -> None:
        if self.closed:
            return
        self.outbox.append(text)
        self.outbox_chars += len(text)
        if self.outbox_chars > MAX_OUTBOX_CHARS:
            self.outbox.clear()
            self.outbox_chars = 0
            self._enqueue_close(CloseCode.POLICY_VIOLATION, "too far behind")
            return
        self.wakeup.set()

    def _enqueue_close(self, code: CloseCode, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        self.outbox.append((_CLOSE, code, reason))
        self.wakeup.set()

    async def write_loop(self) -> None:
        """The connection's one writer: sends in order, awaiting the socket's backpressure."""
        try:
            while True:
                while not self.outbox:
                    self.wakeup.clear()
                    await self.wakeup.wait()
                item = self.outbox.popleft()
                if isinstance(item, tuple):
                    await self.ws.close(code=item[1], message=item[2].encode())
                    return
                self.outbox_chars -= len(item)
                await self.ws.send_str(item)
                self.frames_out += 1
                self.last_out = time.monotonic()
        except (ConnectionError, RuntimeError):
            self.closed = True
            with contextlib.suppress(Exception):
                await self.ws.close()


class RealtimeServer:
    """Every realtime connection of one server, on one store."""

    def __init__(self, store: Store, *, identities: Identities) -> None:
        self.store = store
        self.authenticate = authenticator(identities)
        self.connections: set[Connection] = set()
        self._sessions: dict[str, Connection] = {}
        self._ticker: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._run_orphaned()
        self._ticker = asyncio.get_running_loop().create_task(self._tick_loop())

    async def _run_orphaned(self) -> None:
        """Held onDisconnect writes found at start-up belong to connections the last run lost
        without running them (a crash): their sockets are gone, so they run now."""
        count = 0
        now = self.store.clock()
        for ns in list(self.store.namespaces.values()):
            for session_id, record in list(ns.held.items()):
                who = record.get("who") or {}
                held = OnDisconnect.from_record(record.get("writes") or [])
                outcome = run_held(held, bool(who.get("admin")), who.get("auth"), ns.root, ns.access, now)
                if outcome is None or outcome[1] is ns.root:
                    await self.store.hold(ns, session_id, None)
                else:
                    await self.store.commit(ns, outcome[0], outcome[1], release=session_id)
                count += 1
        if count:
            log.warning("ran the onDisconnect writes of %d connection(s) the last run left behind", count)

    async def stop(self) -> None:
        """Close every socket (their onDisconnect writes run) and wait for their handlers."""
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        for conn in list(self.connections):
            conn.close()
        waits = [conn.finished.wait() for conn in list(self.connections)]
        if waits:
            await asyncio.wait([asyncio.ensure_future(w) for w in waits], timeout=CLOSE_WAIT_S)

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            now, mono = self.store.clock(), time.monotonic()
            for conn in list(self.connections):
                conn.perform(conn.session.tick(now))
                if mono - max(conn.last_in, conn.last_out) > QUIET_LIMIT_S:
                    conn.perform([Close(CloseCode.GOING_AWAY, "no keep-alive from the client")])

    # -- one connection ---------------------------------------------------------------------

    async def handle(self, request: web.BaseRequest, params: dict[str, str]) -> web.StreamResponse:
        """Serve one ``/.ws`` request: the upgrade, then the connection until it ends."""
        name = params.get("ns") or DEFAULT_NAMESPACE
        refused = namespace_error(name)
        if refused:
            return _error(400, refused)
        if params.get("v", "5") != "5":
            return _error(400, "Unsupported realtime protocol version: focus serve speaks v=5.")
        ws = web.WebSocketResponse(max_msg_size=MAX_FRAME_BYTES, compress=False, autoping=True)
        if not ws.can_prepare(request).ok:
            return _error(400, "/.ws is the realtime protocol's endpoint: open it as a WebSocket "
                               "(the Firebase SDKs do); REST paths end in .json.")  # fmt: skip
        await ws.prepare(request)
        previous = self._sessions.get(params.get("ls", ""))
        if previous is not None:
            # The client has reconnected, so its last socket is dead even if no FIN came:
            # end it now, and let its onDisconnect writes land before this one starts.
            previous.close()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(previous.finished.wait(), CLOSE_WAIT_S)
        ns = self.store.lookup(name)
        host = request.headers.get("Host") or f"{request.url.host}:{request.url.port}"
        session = Session(_session_id(), host, ns, self.authenticate)
        conn = Connection(self, ws, session, ns)
        conn.last_session = params.get("ls", "")
        self.connections.add(conn)
        self._sessions[session.id] = conn
        self.store.follow(ns, conn)
        writer = asyncio.get_running_loop().create_task(conn.write_loop())
        try:
            conn.perform(session.start(self.store.clock()))
            await self._read(conn)
        finally:
            await self._end(conn, writer)
        return ws

    async def _read(self, conn: Connection) -> None:
        async for message in conn.ws:
            conn.frames_in += 1
            conn.last_in = time.monotonic()
            if message.type == WSMsgType.TEXT:
                await conn.run(conn.session.receive(message.data, self.store.clock()))
            elif message.type == WSMsgType.BINARY:
                log.warning("closing a realtime connection: it sent a binary frame")
                conn.perform([Close(CloseCode.PROTOCOL_ERROR, "binary frames are not part of the protocol")])
            elif message.type == WSMsgType.ERROR:  # aiohttp closed it: a frame over the size cap…
                log.warning("closing a realtime connection: %s", conn.ws.exception() or "a broken frame")
                break
            if conn.closed and not conn.outbox:
                break

    async def _end(self, conn: Connection, writer: asyncio.Task[None]) -> None:
        try:
            with contextlib.suppress(StoreUnavailable):
                await conn.run(conn.session.lost(self.store.clock()))
        finally:
            self.store.unsubscribe(conn.ns, conn)
            conn.close()
            with contextlib.suppress(asyncio.TimeoutError, Exception):
                await asyncio.wait_for(writer, CLOSE_WAIT_S)
            if not writer.done():
                writer.cancel()
            self.connections.discard(conn)
            if self._sessions.get(conn.session.id) is conn:
                del self._sessions[conn.session.id]
            conn.finished.set()


def _session_id() -> str:
    return "".join(secrets.choice(_SESSION_CHARS) for _ in range(32))


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)
