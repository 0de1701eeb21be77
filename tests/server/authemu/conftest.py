"""In-process Auth emulator for the core tests: requests go straight to AuthEmulator.handle."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest

from focuscli.server.authemu.context import Settings
from focuscli.server.authemu.routes import AuthEmulator, Reply
from focuscli.server.authemu.tokens import UnsignedCodec
from focuscli.server.signing import RS256Codec, SigningKey

NOW = 1_700_000_000.0
PROJECT = "demo-focus"
SECRET = "test-admin-secret-0123456789"
V1 = "/identitytoolkit.googleapis.com/v1"
TOKEN_URL = "/securetoken.googleapis.com/v1/token"


def claims_of(token: str) -> dict[str, Any]:
    """The payload of a JWT, unverified (what a test inspects)."""
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


class Emu:
    """One AuthEmulator with a settable clock; ``call`` returns (status, body) and shows the body
    on a wrong status when ``expect`` is given."""

    def __init__(self, *, secure: bool, key: SigningKey | None = None, lifetime: int = 3600) -> None:
        self.secure = secure
        self.now = NOW
        codec = RS256Codec(key or SigningKey.ephemeral()) if secure else UnsignedCodec()
        self.codec = codec
        self.emulator = AuthEmulator(
            default_project=PROJECT, settings=Settings(codec=codec, secure=secure, lifetime=lifetime),
            admin_secret=SECRET if secure else None,
        )
        self.writes: dict[tuple[str, str, str], str | None] = {}
        self.last: Reply | None = None

    @property
    def admin_header(self) -> dict[str, str]:
        return {"authorization": f"Bearer {SECRET if self.secure else 'owner'}"}

    def request(
        self, method: str, path: str, body: Any = None, *, key: str | None = "fake-api-key",
        headers: dict[str, str] | None = None, admin: bool = False, query: str = "",
        raw: bytes | None = None,
    ) -> Reply:  # fmt: skip
        hdrs = {"content-type": "application/json"}
        if admin:
            hdrs.update(self.admin_header)
        hdrs.update({k.lower(): v for k, v in (headers or {}).items()})
        params = [query] if query else []
        if key is not None:
            params.append(f"key={key}")
        data = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
        reply = self.emulator.handle(method, path, "&".join(params), hdrs, data,
                                     now=self.now, base_url="http://127.0.0.1:9099")
        for name, value in reply.writes.items():
            self.writes[name] = value
        self.last = reply
        return reply

    def call(self, op: str, body: Any = None, *, expect: int | None = 200, **kw: Any) -> dict[str, Any]:
        path = op if op.startswith("/") else f"{V1}/{op}"
        reply = self.request(kw.pop("method", "POST"), path, body, **kw)
        body: dict[str, Any] = json.loads(reply.encoded())  # as it goes on the wire
        if expect is not None:
            assert reply.status == expect, json.dumps(body, indent=2)
        return body

    def error(self, op: str, body: Any = None, **kw: Any) -> str:
        """The error message of a call that must fail with 400."""
        out = self.call(op, body, expect=kw.pop("expect", 400), **kw)
        return str(out["error"]["message"])

    # -- arranging through the API ------------------------------------------------------------

    def sign_up(self, email: str | None = None, password: str = "secret6", **extra: Any) -> dict[str, Any]:
        body: dict[str, Any] = {"returnSecureToken": True, **extra}
        if email is not None:
            body.update(email=email, password=password)
        return self.call("accounts:signUp", body)

    def refresh(self, token: str, *, expect: int | None = 200) -> dict[str, Any]:
        body = {"grant_type": "refresh_token", "refresh_token": token}
        return self.call(TOKEN_URL, body, expect=expect)

    def admin_update(self, local_id: str, **fields: Any) -> dict[str, Any]:
        return self.call(f"{V1}/projects/{PROJECT}/accounts:update", {"localId": local_id, **fields},
                         admin=True, key=None)


@pytest.fixture(scope="session")
def signing_key() -> SigningKey:
    """One key for the whole run (generating RSA keys is slow); tests never write it anywhere."""
    return SigningKey.ephemeral()


@pytest.fixture(params=["emulator", "secure"])
def emu(request: pytest.FixtureRequest, signing_key: SigningKey) -> Iterator[Emu]:
    """The emulator in each mode."""
    yield Emu(secure=request.param == "secure", key=signing_key)


@pytest.fixture
def emulator_mode() -> Emu:
    return Emu(secure=False)


@pytest.fixture
def secure_mode(signing_key: SigningKey) -> Emu:
    return Emu(secure=True, key=signing_key)
