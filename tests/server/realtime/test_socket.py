"""The realtime protocol over a real socket (aiohttp's client): one store behind every door,
the endpoint's refusals, and onDisconnect writes that outlive a crash."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import requests

from focuscli.server.realtime.session import Refused
from focuscli.server.ws import authenticator


class Socket:
    """A scripted realtime client: requests by number, everything received in order."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.inbox: list[Any] = []
        self.number = 0

    async def request(self, action: str, body: Any) -> int:
        self.number += 1
        await self.ws.send_str(json.dumps({"t": "d", "d": {"r": self.number, "a": action, "b": body}}))
        return self.number

    async def answer(self, number: int) -> dict[str, Any]:
        while True:
            for message in self.inbox:
                if message["t"] == "d" and message["d"].get("r") == number:
                    return dict(message["d"]["b"])
            await self.receive()

    async def receive(self) -> Any:
        message = await asyncio.wait_for(self.ws.receive_str(), 10)
        self.inbox.append(json.loads(message))
        return self.inbox[-1]

    def pushes(self) -> list[dict[str, Any]]:
        return [m["d"]["b"] for m in self.inbox if m["t"] == "d" and m["d"].get("a") == "d"]


@asynccontextmanager
async def connect(url: str, ns: str) -> AsyncIterator[Socket]:
    async with aiohttp.ClientSession() as http, http.ws_connect(f"{url}/.ws?v=5&ns={ns}") as ws:
        socket = Socket(ws)
        hello = await socket.receive()
        assert hello["d"]["t"] == "h"
        yield socket


async def sse_events(http: aiohttp.ClientSession, url: str, ns: str, path: str, count: int,
                     started: asyncio.Event) -> list[tuple[str, Any]]:  # fmt: skip
    headers = {"Accept": "text/event-stream", "Authorization": "Bearer owner"}
    events: list[tuple[str, Any]] = []
    async with http.get(f"{url}{path}.json?ns={ns}", headers=headers) as response:
        buffer = b""
        async for chunk in response.content.iter_any():
            buffer += chunk
            while b"\n\n" in buffer:
                block, buffer = buffer.split(b"\n\n", 1)
                name, data = block.decode().split("\n")
                events.append((name[len("event: "):], json.loads(data[len("data: "):])))
                started.set()
                if len(events) == count:
                    return events
    return events


def test_rest_writes_reach_sockets_and_socket_writes_reach_sse_in_commit_order(server_url: str, ns: str) -> None:
    async def scenario() -> tuple[list[str], list[str]]:
        async with connect(server_url, ns) as listener, connect(server_url, ns) as writer, aiohttp.ClientSession() as http:
            assert (await listener.answer(await listener.request("q", {"p": "/log", "h": ""})))["s"] == "ok"
            started = asyncio.Event()
            stream = asyncio.ensure_future(sse_events(http, server_url, ns, "/log", 41, started))
            await asyncio.wait_for(started.wait(), 10)
            rest = [http.put(f"{server_url}/log/r{i}.json?ns={ns}", json=i, headers={"Authorization": "Bearer owner"})
                    for i in range(20)]  # fmt: skip
            numbers = [await writer.request("p", {"p": f"/log/s{i}", "d": i}) for i in range(20)]
            for response in await asyncio.gather(*rest):
                assert response.status == 200
            for number in numbers:
                assert (await writer.answer(number))["s"] == "ok"
            while len(listener.pushes()) < 41:
                await listener.receive()
            events = await asyncio.wait_for(stream, 10)
            on_socket = [p["p"].split("/")[-1] for p in listener.pushes()[1:]]
            on_sse = [data["path"].strip("/") for name, data in events[1:]]
            return on_socket, on_sse

    on_socket, on_sse = asyncio.run(scenario())
    assert sorted(on_socket) == sorted([f"r{i}" for i in range(20)] + [f"s{i}" for i in range(20)])
    assert on_socket == on_sse


def test_long_polling_is_refused_with_a_message_and_one_log_line(caplog: pytest.LogCaptureFixture) -> None:
    from focuscli.server import LocalServer

    caplog.set_level(logging.WARNING, "focuscli.server")
    with LocalServer(port=0) as server:  # its own: the line is logged once a minute at most
        first = requests.get(f"{server.url}/.lp?start=t&ser=1&cb=1&v=5&ns=x", timeout=10)
        second = requests.get(f"{server.url}/.lp?start=t&ser=2&cb=2&v=5&ns=x", timeout=10)
    assert first.status_code == second.status_code == 404
    assert first.json()["error"].startswith("Long polling (/.lp) is not supported by focus serve")
    assert "forceWebSockets()" in first.json()["error"]
    lines = [r.getMessage() for r in caplog.records if "long polling" in r.getMessage()]
    assert lines == [
        "a client tried long polling (/.lp), which focus serve does not support; it keeps "
        "retrying until it uses WebSocket (forceWebSockets() in a browser)"
    ]


@pytest.mark.parametrize(
    ("query", "status", "error"),
    [
        ("v=5&ns=x", 400, "/.ws is the realtime protocol's endpoint: open it as a WebSocket (the Firebase SDKs do); REST paths end in .json."),
        ("v=5&ns=bad.name", 400, "Invalid namespace 'bad.name': use letters, digits, '-' and '_'."),
        ("v=4&ns=x", 400, "Unsupported realtime protocol version: focus serve speaks v=5."),
    ],
)
def test_the_endpoint_refuses_what_is_not_a_v5_websocket(server_url: str, query: str, status: int, error: str) -> None:
    response = requests.get(f"{server_url}/.ws?{query}", timeout=10)
    assert (response.status_code, response.json()) == (status, {"error": error})


def test_a_binary_frame_closes_the_socket_and_the_server_lives_on(server_url: str, ns: str) -> None:
    async def scenario() -> tuple[int | None, dict[str, Any]]:
        async with connect(server_url, ns) as socket:
            await socket.ws.send_bytes(b"\x00\x01")
            closed = await asyncio.wait_for(socket.ws.receive(), 10)
            assert closed.type == aiohttp.WSMsgType.CLOSE
        async with connect(server_url, ns) as again:
            return closed.data, await again.answer(await again.request("g", {"p": "/", "q": {}}))

    code, answer = asyncio.run(scenario())
    assert code == 1002
    assert answer == {"s": "ok", "d": None}


def test_the_socket_authenticator_takes_emulator_tokens_as_the_emulator_does() -> None:
    import base64

    def token(claims: dict[str, Any]) -> str:
        def part(value: dict[str, Any]) -> str:
            return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")
        return f"{part({'alg': 'none', 'type': 'JWT'})}.{part(claims)}."

    from focuscli.server.auth import Identities
    from focuscli.server.signing import RS256Codec, SigningKey

    loopback = authenticator(Identities(admin_secret=None))
    mock = token({"sub": "alice", "iat": 0, "exp": 3600, "firebase": {"sign_in_provider": "custom"}})
    who = loopback(mock, None, 1_700_000_000.0)  # expired in 1970, as the SDK's mock tokens are
    assert (who.admin, who.auth["uid"], who.auth["provider"], who.expires_at) == (False, "alice", "custom", None)
    live = loopback(token({"sub": "bob", "exp": 1_700_000_100}), None, 1_700_000_000.0)
    assert live.expires_at == 1_700_000_100.0  # a token still valid expires on the socket (`ac`)
    assert loopback("owner", None, 0).admin
    assert loopback("owner", '{"uid":"u1"}', 0).auth == {"uid": "u1"}
    assert loopback("owner", "null", 0).auth is None and not loopback("owner", "null", 0).admin
    with pytest.raises(Refused) as refused:
        loopback("garbage", None, 0)
    assert (refused.value.status, refused.value.message) == ("invalid_token", "Could not parse auth token.")
    # A secure server (any server teammates reach): no owner, no expired or unsigned tokens.
    shared = authenticator(Identities(admin_secret="s3cret", codec=RS256Codec(SigningKey.ephemeral()), project_id="demo-focus"))
    with pytest.raises(Refused) as refused:
        shared(mock, None, 1_700_000_000.0)
    assert refused.value.status == "invalid_token"  # unsigned: not a token here at all
    with pytest.raises(Refused):
        shared("owner", None, 0)
    assert shared("s3cret", None, 0).admin


@pytest.mark.focus_serve
def test_ondisconnect_writes_outlive_a_crash_and_run_at_the_next_start(spawn_server: Any, tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = spawn_server("--port", "0", "--data-dir", str(data))

    async def register() -> None:
        async with connect(first.url, "crash") as socket:
            ok = await socket.answer(await socket.request("o", {"p": "/presence/me", "d": {"state": "offline", "at": {".sv": "timestamp"}}}))
            assert ok == {"s": "ok", "d": ""}
            await socket.answer(await socket.request("p", {"p": "/presence/me", "d": {"state": "online"}}))
            first.proc.send_signal(signal.SIGKILL)  # the socket dies with the server, no FIN first
            first.proc.communicate(timeout=30)

    asyncio.run(register())
    second = spawn_server("--port", "0", "--data-dir", str(data))
    value = requests.get(f"{second.url}/presence/me.json?ns=crash", timeout=10).json()
    assert value["state"] == "offline" and isinstance(value["at"], int)
    code, _, err = second.terminate()
    assert code == 0
    assert "ran the onDisconnect writes of 1 connection(s) the last run left behind" in err


def test_a_silent_peer_is_cut_off_after_the_keep_alive_it_owed(server_url: str, ns: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from focuscli.server import ws

    monkeypatch.setattr(ws, "QUIET_LIMIT_S", 0.5)  # the SDK says `0` after 45 s; 60 s in production

    async def scenario() -> tuple[aiohttp.WSMsgType, int | None]:
        async with connect(server_url, ns) as socket:
            closed = await asyncio.wait_for(socket.ws.receive(), 10)
            return closed.type, closed.data

    assert asyncio.run(scenario()) == (aiohttp.WSMsgType.CLOSE, 1001)


@pytest.mark.focus_serve
def test_a_clean_stop_runs_the_ondisconnect_writes_of_every_socket(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from focuscli.server import LocalServer

    caplog.set_level(logging.WARNING, "focuscli.server")
    server = LocalServer(port=0, data_dir=tmp_path).start()
    try:
        async def register() -> None:
            async with connect(server.url, "stop") as socket:
                assert (await socket.answer(await socket.request("o", {"p": "/who/me", "d": "gone"})))["s"] == "ok"
                await socket.answer(await socket.request("p", {"p": "/who/me", "d": "here"}))
                await asyncio.to_thread(server.stop)  # the socket is still open: the server closes it

        asyncio.run(register())
        server.start()
        assert requests.get(f"{server.url}/who/me.json?ns=stop", timeout=10).json() == "gone"
        assert not [r for r in caplog.records if "left behind" in r.getMessage()]  # ran at the stop
    finally:
        server.stop()


def test_a_frame_over_64_kib_closes_the_socket_with_one_log_line(server_url: str, ns: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "focuscli.server")

    async def scenario() -> int | None:
        async with connect(server_url, ns) as socket:
            await socket.ws.send_str("x" * 70_000)  # the SDKs never send a frame over 48 KiB
            closed = await asyncio.wait_for(socket.ws.receive(), 10)
            return closed.data  # type: ignore[no-any-return]

    assert asyncio.run(scenario()) == 1009

    def lines() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.getMessage().startswith("closing a realtime")]

    deadline = time.monotonic() + 5
    while not lines() and time.monotonic() < deadline:  # the server logs once its handler ends
        time.sleep(0.02)
    assert len(lines()) == 1 and "message size" in lines()[0].lower(), lines()
