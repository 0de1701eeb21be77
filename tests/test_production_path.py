"""focus in production mode, end to end: an https database URL and a service-account key.

Everything production has, built locally from real components:

* TLS: a trustme CA issues the certificates of both servers below; the CA is trusted only
  through the environment (REQUESTS_CA_BUNDLE, which requests, google-auth and firebase-admin's
  sessions all honour), exactly as a user would trust a corporate CA.
* OAuth2: a token endpoint (aiohttp over HTTPS) that accepts only the JWT-bearer grant, checks
  the assertion's signature against the service account's public key, its issuer and its
  audience, and answers with an access token. The service account JSON is generated here and
  names that endpoint as its `token_uri`. (google-auth always sets the assertion's `aud` to
  Google's token endpoint, https://oauth2.googleapis.com/token, not to `token_uri`: that is the
  audience Google's endpoint checks, so it is the one checked here too.)
* The database: `focus serve`'s server over HTTPS, with focus's rules, whose only admin
  credential is that access token (the emulator's `owner` is refused), and which puts requests
  without `ns` (what firebase-admin sends to a production URL) in the `fake-server` namespace.

So a passing test proves the https + OAuth code path of focus (settings -> backend ->
firebase-admin -> google-auth), not just the emulator path the other tests use.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

pytestmark = pytest.mark.focus_serve

trustme = pytest.importorskip("trustme")

ROOT = Path(__file__).resolve().parent.parent
RULES = (ROOT / "firebase" / "database.rules.json").read_text()

ACCESS_TOKEN = "ya29.local-test-access-token"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# The `aud` google-auth puts in every JWT-bearer assertion, whatever the key's token_uri says
# (google.oauth2.service_account._GOOGLE_OAUTH2_TOKEN_ENDPOINT); Google's endpoint requires it.
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"
CLIENT_EMAIL = "focus-ci@focus-prod-test.iam.gserviceaccount.com"
PROJECT_ID = "focus-prod-test"
CREATED_NOTE = (
    "focus: created session team (you own it); invite others with: focus session invite\n"
)
WAIT = 10.0  # seconds: the bound of every wait in this module


# -- TLS -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tls:
    ca_pem: Path  # the CA certificate, to trust through the environment
    server_context: ssl.SSLContext  # a server context with a certificate for 127.0.0.1/localhost


def _tls(ca: Any, directory: Path) -> Tls:
    cert = ca.issue_cert("127.0.0.1", "localhost")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    directory.mkdir(parents=True, exist_ok=True)
    ca_pem = directory / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_pem))
    return Tls(ca_pem, context)


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    return _tls(trustme.CA(), tmp_path_factory.mktemp("tls"))


# -- the service account ---------------------------------------------------------------------


@dataclass(frozen=True)
class KeyPair:
    private_pem: str
    public_pem: str


@pytest.fixture(scope="module")
def key_pair() -> KeyPair:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    return KeyPair(private_pem, public_pem)


def _service_account(path: Path, key: KeyPair, token_uri: str) -> Path:
    path.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": PROJECT_ID,
                "private_key_id": "0123456789abcdef0123456789abcdef01234567",
                "private_key": key.private_pem,
                "client_email": CLIENT_EMAIL,
                "client_id": "100000000000000000001",
                "auth_uri": "https://accounts.google.com/o/oauth2/auth",
                "token_uri": token_uri,
            }
        ),
        encoding="utf-8",
    )
    return path


# -- the OAuth2 token endpoint ---------------------------------------------------------------


@dataclass
class TokenEndpoint:
    """A JWT-bearer token endpoint over HTTPS on a background thread; `url` is the token_uri."""

    public_pem: str
    ssl_context: ssl.SSLContext
    url: str = ""
    refuse_with: int | None = None  # answer every request with this status (e.g. 401)
    grants: list[dict[str, Any]] = field(default_factory=list)  # verified assertion claims
    rejected: list[str] = field(default_factory=list)  # why each refused request was refused
    _loop: asyncio.AbstractEventLoop | None = None
    _runner: Any = None
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def calls(self) -> int:
        with self._lock:
            return len(self.grants) + len(self.rejected)

    async def _token(self, request: Any) -> Any:
        from aiohttp import web
        from google.auth import exceptions as auth_exceptions
        from google.auth import jwt

        def refuse(status: int, error: str, why: str) -> Any:
            with self._lock:
                self.rejected.append(why)
            return web.json_response({"error": error, "error_description": why}, status=status)

        if self.refuse_with is not None:
            return refuse(self.refuse_with, "invalid_client", "The OAuth client was not found.")
        if request.content_type != "application/x-www-form-urlencoded":
            return refuse(400, "invalid_request", f"unexpected content type {request.content_type}")
        form = await request.post()
        if form.get("grant_type") != JWT_BEARER:
            return refuse(400, "unsupported_grant_type", f"grant_type {form.get('grant_type')!r}")
        assertion = form.get("assertion")
        if not isinstance(assertion, str) or not assertion:
            return refuse(400, "invalid_request", "no assertion")
        try:
            claims = jwt.decode(  # type: ignore[no-untyped-call, unused-ignore]
                assertion,
                certs=self.public_pem,
                audience=GOOGLE_TOKEN_AUDIENCE,
                clock_skew_in_seconds=30,
            )
        except (ValueError, auth_exceptions.GoogleAuthError) as err:
            return refuse(400, "invalid_grant", f"bad assertion: {err}")
        if claims.get("aud") != GOOGLE_TOKEN_AUDIENCE or claims.get("iss") != CLIENT_EMAIL:
            return refuse(400, "invalid_grant", f"unexpected aud/iss in {claims}")
        with self._lock:
            self.grants.append(claims)
        return web.json_response(
            {"access_token": ACCESS_TOKEN, "expires_in": 3600, "token_type": "Bearer"}
        )

    def start(self) -> TokenEndpoint:
        from aiohttp import web

        ready = threading.Event()
        failure: list[BaseException] = []

        async def setup() -> None:
            app = web.Application()
            app.router.add_post("/token", self._token)
            self._runner = web.AppRunner(app, access_log=None)
            await self._runner.setup()
            site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self.ssl_context)
            await site.start()
            port = self._runner.addresses[0][1]
            self.url = f"https://127.0.0.1:{port}/token"

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(setup())
            except BaseException as err:  # reported to the starting thread
                failure.append(err)
                ready.set()
                loop.close()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=serve, name="token-endpoint", daemon=True)
        self._thread.start()
        assert ready.wait(WAIT), "the token endpoint did not start"
        if failure:
            raise failure[0]
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(WAIT)
            assert not self._thread.is_alive(), "the token endpoint did not stop"


@pytest.fixture
def token_endpoint(tls: Tls, key_pair: KeyPair) -> Iterator[TokenEndpoint]:
    endpoint = TokenEndpoint(key_pair.public_pem, tls.server_context).start()
    yield endpoint
    endpoint.stop()


@pytest.fixture
def service_account(tmp_path: Path, key_pair: KeyPair, token_endpoint: TokenEndpoint) -> Path:
    return _service_account(tmp_path / "service-account.json", key_pair, token_endpoint.url)


# -- the database ----------------------------------------------------------------------------


@pytest.fixture
def database(tls: Tls) -> Iterator[str]:
    """`focus serve`'s server over HTTPS, admin only with the OAuth access token; its URL."""
    from focuscli.server import LocalServer

    with LocalServer(
        host="127.0.0.1",
        port=0,
        rules_source=RULES,
        admin_token=ACCESS_TOKEN,
        ssl_context=tls.server_context,
    ) as server:
        assert server.url.startswith("https://127.0.0.1:")
        yield server.url


def admin_get(url: str, path: str, tls: Tls, token: str = ACCESS_TOKEN) -> requests.Response:
    """GET `path`.json in the default namespace (no `ns`, as in production) over verified TLS."""
    with requests.Session() as session:
        session.trust_env = False  # this check trusts the test CA explicitly, not via environment
        return session.get(
            f"{url}{path}.json",
            headers={"Authorization": f"Bearer {token}"},
            verify=str(tls.ca_pem),
            timeout=WAIT,
        )


# -- running focus ---------------------------------------------------------------------------


@pytest.fixture
def environment(tls: Tls, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Production mode only: no emulator, no other configuration; the test CA trusted."""
    for var in (
        "FIREBASE_DATABASE_EMULATOR_HOST",  # backend refuses production while this is set
        "FOCUS_DATABASE_URL",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "FOCUS_SESSION",
        "FOCUS_CONFIG",
        "FOCUS_PROJECT",
        "FOCUS_USER",
        "FOCUS_DEBUG",
        "CURL_CA_BUNDLE",
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls.ca_pem))
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


@pytest.fixture
def focus(
    run_cli: Any,
    environment: None,
    database: str,
    service_account: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Any:
    """Run `focus --db URL --credentials SA --user USER ARGS...` in-process; a CliResult."""

    def run(*args: str, user: str = "ana", db: str | None = None, credentials: Path | None = None) -> Any:
        argv = [
            "--db", db or database,
            "--credentials", str(credentials or service_account),
            "--user", user,
            *args,
        ]  # fmt: skip
        return run_cli(argv, tmp_path / user)

    return run


def one_line(result: Any) -> str:
    """The single stderr line of a failed command (asserts there is exactly one, no traceback)."""
    assert result.out == "", result
    assert result.err.endswith("\n") and result.err.count("\n") == 1, result
    assert "Traceback" not in result.err and "internal error" not in result.err, result
    return result.err.rstrip("\n")


# -- tests -----------------------------------------------------------------------------------


def test_production_settings_resolve_the_local_https_url(database: str, service_account: Path) -> None:
    from focuscli.settings import resolve

    settings = resolve(
        db=database, credentials=str(service_account), user="ana", session=None,
        environ={"HOME": "/nonexistent", "FOCUS_CONFIG": ""},
    )
    assert settings.target.kind == "production"
    assert settings.target.url == database
    assert settings.target.credentials == str(service_account)


def test_two_members_share_a_session_over_https_and_oauth(
    focus: Any, database: str, tls: Tls, token_endpoint: TokenEndpoint
) -> None:
    def signing_in(*args: str, user: str = "ana") -> tuple[Any, int]:
        """`focus ARGS` as `user`, and how many access tokens it fetched."""
        before = len(token_endpoint.grants)
        result = focus(*args, user=user)
        return result, len(token_endpoint.grants) - before

    started, tokens = signing_in("start", "5m", "--session", "team")
    assert (started.code, started.out) == (0, "team: started focus (5:00)\n"), started
    assert started.err in ("", CREATED_NOTE), started
    assert tokens == 1  # one access token per focus process (each builds its own App)

    # The rules apply as each user: bob is not a member yet, so he can neither read nor act.
    # (A refusal is HTTP 401, as on production, so google-auth refreshes the token and retries
    # before giving up: such a command fetches more than one token.)
    not_a_member = "focus: you (bob) are not a member of 'team'; join with: focus join team --code CODE"
    for args in (("status", "--session", "team"), ("pause", "--session", "team")):
        refused, tokens = signing_in(*args, user="bob")
        assert refused.code == 1, refused
        assert one_line(refused) == not_a_member
        assert tokens >= 1

    invite, tokens = signing_in("session", "invite", "--json", "--session", "team")
    assert (invite.code, tokens) == (0, 1), invite
    code = json.loads(invite.out)["code"]
    joined, tokens = signing_in("join", "team", "--code", code, user="bob")
    assert (joined.code, joined.err, joined.out, tokens) == (0, "", "joined team\n", 1)
    status, tokens = signing_in("status", "--json", user="bob")
    assert (status.code, tokens) == (0, 1), status
    data = json.loads(status.out)
    assert (data["session"], data["phase"], data["status"]) == ("team", "focus", "running")
    assert data["updated_by"] == "ana"
    assert 0 < data["remaining_ms"] <= 300_000

    # Every grant was a valid JWT-bearer assertion signed with the service account's key,
    # POSTed to the key's token_uri (the local endpoint).
    assert token_endpoint.rejected == []
    for claims in token_endpoint.grants:
        assert claims["aud"] == GOOGLE_TOKEN_AUDIENCE and claims["iss"] == CLIENT_EMAIL
        # firebase-admin's scopes; Realtime Database wants userinfo.email plus a Firebase scope.
        assert {
            "https://www.googleapis.com/auth/userinfo.email",
            "https://www.googleapis.com/auth/firebase",
        } <= set(claims["scope"].split())

    # The data is in the default namespace (no `ns`, as production requests have), readable
    # with the OAuth access token, which is the server's only admin credential.
    state = admin_get(database, "/sessions/team/state", tls)
    assert state.status_code == 200, state.text
    assert (state.json()["status"], state.json()["updated_by"]) == ("running", "ana")
    members = admin_get(database, "/sessions/team/members", tls)
    assert sorted(members.json()) == ["ana", "bob"]
    assert admin_get(database, "/sessions/team/state", tls, token="owner").status_code == 401


@pytest.mark.parametrize("trust", ["certifi", "unset", "SSL_CERT_FILE"])
def test_the_ca_must_be_trusted(
    focus: Any, database: str, tls: Tls, monkeypatch: pytest.MonkeyPatch, trust: str
) -> None:
    """Without the CA in requests' bundle, focus fails in one line naming the database URL.

    requests (so google-auth and firebase-admin) verifies against REQUESTS_CA_BUNDLE, else
    CURL_CA_BUNDLE, else certifi's bundle; it never reads SSL_CERT_FILE (it passes its bundle
    to ssl explicitly), so that variable alone does not trust the CA.
    """
    import certifi

    if trust == "certifi":
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())
    else:
        monkeypatch.delenv("REQUESTS_CA_BUNDLE")
    if trust == "SSL_CERT_FILE":
        monkeypatch.setenv("SSL_CERT_FILE", str(tls.ca_pem))
    failed = focus("start", "5m", "--session", "team")
    assert failed.code == 1, failed
    line = one_line(failed)
    assert line.startswith("focus: ") and database in line, line
    assert admin_get(database, "/sessions/team", tls).json() is None  # nothing was written


def test_curl_ca_bundle_trusts_the_ca_too(
    focus: Any, tls: Tls, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REQUESTS_CA_BUNDLE")
    monkeypatch.setenv("CURL_CA_BUNDLE", str(tls.ca_pem))
    started = focus("start", "5m", "--session", "team")
    assert (started.code, started.out) == (0, "team: started focus (5:00)\n"), started


def test_a_database_certificate_from_an_unknown_ca_is_refused(
    focus: Any, token_endpoint: TokenEndpoint, tmp_path: Path
) -> None:
    """Signing in works (its CA is trusted) but the database's certificate is not: refused."""
    from focuscli.server import LocalServer

    rogue = _tls(trustme.CA(), tmp_path / "rogue")
    with LocalServer(
        port=0, rules_source=RULES, admin_token=ACCESS_TOKEN, ssl_context=rogue.server_context
    ) as server:
        began = time.monotonic()
        failed = focus("start", "5m", "--session", "team", db=server.url)
        assert time.monotonic() - began < 10  # fails fast instead of retrying for minutes
    assert failed.code == 1, failed
    line = one_line(failed)
    assert line.startswith(f"focus: cannot reach the database at {server.url} "), line
    assert "TLS certificate not trusted" in line
    assert len(token_endpoint.grants) == 1  # it got as far as the database


def test_a_key_that_is_not_a_service_account_is_a_usage_error(
    focus: Any, tmp_path: Path, token_endpoint: TokenEndpoint
) -> None:
    not_a_service_account = tmp_path / "user.json"
    not_a_service_account.write_text(
        json.dumps(
            {
                "type": "authorized_user",
                "client_id": "1.apps.googleusercontent.com",
                "client_secret": "secret",
                "refresh_token": "1//refresh",
            }
        ),
        encoding="utf-8",
    )
    failed = focus("start", "5m", "--session", "team", credentials=not_a_service_account)
    assert failed.code == 2, failed
    line = one_line(failed)
    assert line.startswith(f"focus: credentials file {not_a_service_account} is not a service-account key"), line
    assert token_endpoint.calls == 0


def test_a_token_endpoint_that_refuses_the_key_is_a_runtime_error(
    focus: Any, database: str, tls: Tls, token_endpoint: TokenEndpoint
) -> None:
    token_endpoint.refuse_with = 401
    failed = focus("start", "5m", "--session", "team")
    assert failed.code == 1, failed
    line = one_line(failed)
    assert line.startswith("focus: cannot sign in with the service account: "), line
    assert token_endpoint.calls >= 1 and token_endpoint.grants == []
    assert admin_get(database, "/sessions/team", tls).json() is None  # nothing was written
