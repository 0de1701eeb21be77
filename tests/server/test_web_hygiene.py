"""Who may reach focus serve from a browser: Host names (DNS rebinding, every mode) and, in
secure mode, web origins (CORS); the emulator mode's CORS, as the official emulators answer."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from focuscli.server import LocalServer
from focuscli.server.origins import HostPolicy, OriginPolicy, host_name

pytestmark = pytest.mark.focus_serve

SECRET = "web-hygiene-secret-0123456789abcdef"
SIGN_UP = "/identitytoolkit.googleapis.com/v1/accounts:signUp?key=k"


@pytest.fixture(scope="module")
def emulator() -> Iterator[LocalServer]:
    with LocalServer(port=0, allow_hosts=("focus.test",)) as server:
        yield server


@pytest.fixture(scope="module")
def secure() -> Iterator[LocalServer]:
    with LocalServer(port=0, secure=True, admin_token=SECRET,
                     allow_origins=("https://app.example",)) as server:
        yield server


def get(server: LocalServer, path: str, **headers: str) -> requests.Response:
    return requests.get(server.url + path, headers=headers, timeout=10)


@pytest.mark.parametrize("host", ["evil.example", "evil.example:9000", "127.0.0.1.nip.io", "localhost.evil.example", "[", "a:b:c"])
def test_foreign_host_names_are_misdirected(emulator: LocalServer, host: str) -> None:
    for path in ("/.json", "/", SIGN_UP.split("?")[0]):
        resp = get(emulator, path, Host=host)
        assert resp.status_code == 421, (path, resp.text)
        assert "is not a name of this server" in resp.json()["error"]


def test_the_servers_own_names(emulator: LocalServer) -> None:
    port = emulator.url.rsplit(":", 1)[1]
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"LOCALHOST:{port}", f"[::1]:{port}",
                 "localhost", f"focus.test:{port}", "focus.test."):
        assert get(emulator, "/.json", Host=host).status_code == 200, host


def test_host_policy_by_bind_address() -> None:
    loopback = HostPolicy("127.0.0.1")
    assert loopback.allows("127.0.0.1:9000") and loopback.allows("localhost") and loopback.allows(None)
    own_names = {socket.gethostname().lower(), socket.getfqdn().lower()}
    assert loopback.allows(socket.gethostname() + ":9000") == (socket.gethostname().lower() == "localhost")
    lan = HostPolicy("192.0.2.10", ["focus.lan"])
    assert lan.allows("192.0.2.10:9000") and lan.allows("focus.lan") and lan.allows(socket.gethostname())
    assert lan.allows("localhost:9000") == ("localhost" in own_names)  # only as the machine's name
    assert not lan.allows("127.0.0.1") and not lan.allows("evil.example")
    wildcard = HostPolicy("0.0.0.0")
    assert wildcard.allows("127.0.0.1:1") and wildcard.allows(socket.gethostname()) and wildcard.allows("[::1]:1")
    assert not wildcard.allows("203.0.113.9:9000")  # TEST-NET-3: never this machine's
    assert not wildcard.allows("evil.example")
    assert [host_name(h) for h in ("[::1]:80", "A.Example.:8", "x:y", "[::1]x")] == ["::1", "a.example", None, None]


def test_emulator_mode_reflects_origins(emulator: LocalServer) -> None:
    db = get(emulator, "/.json", Origin="https://anywhere.example")
    assert db.headers["access-control-allow-origin"] == "https://anywhere.example"
    auth = requests.post(emulator.url + SIGN_UP, json={}, headers={"Origin": "https://anywhere.example"}, timeout=10)
    assert (auth.status_code, auth.headers["access-control-allow-origin"]) == (200, "https://anywhere.example")
    preflight = requests.options(emulator.url + SIGN_UP, timeout=10, headers={
        "Origin": "example.com", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "Authorization,X-Client-Version,X-Whatever-Header",
        "Access-Control-Request-Private-Network": "true"})  # fmt: skip
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "example.com"
    assert preflight.headers["access-control-allow-headers"] == "Authorization,X-Client-Version,X-Whatever-Header"
    assert preflight.headers["access-control-allow-private-network"] == "true"


@pytest.mark.parametrize("origin", ["https://evil.example", "null", "http://127.0.0.1:1", "https://app.example.evil"])
def test_secure_mode_refuses_foreign_origins(secure: LocalServer, origin: str) -> None:
    for method, path in (("GET", "/.json"), ("POST", SIGN_UP), ("OPTIONS", "/.json"), ("OPTIONS", SIGN_UP)):
        resp = requests.request(method, secure.url + path, json={} if method == "POST" else None,
                                headers={"Origin": origin, "Access-Control-Request-Method": "POST"}, timeout=10)
        assert resp.status_code == 403, (method, path, resp.text)
        assert "access-control-allow-origin" not in resp.headers
        assert resp.json()["error"].startswith(f"Origin {origin} may not use this server")


def test_secure_mode_answers_its_own_and_configured_origins(secure: LocalServer) -> None:
    own = secure.url  # the page a secure server may serve itself
    for origin in (own, "https://app.example", "HTTPS://APP.EXAMPLE"):
        resp = get(secure, "/.json", Origin=origin)
        assert (resp.status_code, resp.headers["access-control-allow-origin"]) == (200, origin)
        auth = requests.post(secure.url + SIGN_UP, json={}, headers={"Origin": origin}, timeout=10)
        assert auth.status_code == 200
    assert get(secure, "/.json").status_code == 200  # no Origin: not a browser


def test_origin_policy() -> None:
    policy = OriginPolicy(secure=True, allowed=["https://App.Example/", "not an origin"])
    assert policy.allowed == {"https://app.example"}
    assert policy.allows(None, "h", "http") and policy.allows("http://h:1", "H:1", "http")
    assert not policy.allows("http://h:1", "h:2", "http") and not policy.allows("https://h:1", "h:1", "http")
    assert OriginPolicy(secure=False).allows("https://evil.example", "h", "http")


def test_cli_flags(run_cli: Any, tmp_path: Any) -> None:
    bad = run_cli(["serve", "--memory", "--allow-origin", "app.example"], tmp_path)
    assert (bad.code, bad.err.strip()) == (2, "focus: --allow-origin 'app.example': give scheme://host[:port], e.g. https://app.example.com")
    bad = run_cli(["serve", "--memory", "--project", "my.project"], tmp_path)
    assert bad.code == 2 and "--project 'my.project'" in bad.err
