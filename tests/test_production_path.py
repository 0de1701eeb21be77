"""focus in production mode, end to end: an https database URL, members signed in with Firebase
Authentication, and a service-account key only for the administrator's rules check.

Everything production has, built locally from real components:

* TLS: a trustme CA issues the certificates of the servers below; the CA is trusted only through
  the environment (SSL_CERT_FILE for focus's member path, REQUESTS_CA_BUNDLE for google-auth's
  requests on the administrator's path), exactly as a user would trust a corporate CA.
* Identity Toolkit, Secure Token and the database: `focus serve --secure` over HTTPS, standing in
  for Google's sign-in hosts (the client is pointed at it with FOCUS_AUTH_URL, the way it would
  be at a proxy) and for the database, which verifies every member's RS256-signed ID token and
  puts requests without `ns` (what a production URL sends) in the `fake-server` namespace. Its
  only administrator credential is the OAuth access token below (`owner` is refused).
* OAuth2 for the administrator: a token endpoint (aiohttp over HTTPS) that accepts only the
  JWT-bearer grant, checks the assertion's signature against the service account's public key,
  its issuer and its audience, and answers with that access token. The service account JSON is
  generated here and names that endpoint as its `token_uri`. (google-auth always sets the
  assertion's `aud` to Google's token endpoint, https://oauth2.googleapis.com/token, not to
  `token_uri`: that is the audience Google's endpoint checks, so it is the one checked here.)

So a passing test proves the https code path of focus for members (settings -> sign-in over TLS ->
ID tokens as `auth=` -> the database's verification) without any key file, and the
administrator's path (`focus doctor` -> google-auth -> the rules in force) with one.
"""

from __future__ import annotations

import asyncio
import io
import json
import ssl
import sys
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
API_KEY = "AIzaSy-local-test-web-api-key"
PASSWORD = "a long enough password"
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
    """`focus serve --secure` over HTTPS: sign-in and the database, admin only with the OAuth
    access token; its URL."""
    from focuscli.server import LocalServer

    with LocalServer(
        host="127.0.0.1",
        port=0,
        rules_source=RULES,
        admin_token=ACCESS_TOKEN,
        ssl_context=tls.server_context,
        secure=True,
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
        "FIREBASE_DATABASE_EMULATOR_HOST",
        "FIREBASE_AUTH_EMULATOR_HOST",
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
    monkeypatch.setenv("SSL_CERT_FILE", str(tls.ca_pem))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls.ca_pem))
    monkeypatch.setenv("FOCUS_API_KEY", API_KEY)
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


@pytest.fixture
def focus(
    run_cli: Any,
    environment: None,
    database: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Any:
    """Run `focus --db URL --user USER ARGS...` in-process with Google's sign-in hosts at the
    local server (FOCUS_AUTH_URL); `stdin` feeds --password-stdin; a CliResult."""

    def run(*args: str, user: str = "ana", db: str | None = None, auth: str | None = None,
            credentials: Path | None = None, stdin: str = "") -> Any:  # fmt: skip
        monkeypatch.setenv("FOCUS_AUTH_URL", auth or database)
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        extra = ["--credentials", str(credentials)] if credentials is not None else []
        argv = ["--db", db or database, *extra, "--user", user, *args]
        return run_cli(argv, tmp_path / user)

    return run


def sign_up(focus: Any, user: str) -> None:
    created = focus("login", f"{user}@example.com", "--create", "--name", user.capitalize(),
                    "--password-stdin", user=user, stdin=PASSWORD + "\n")  # fmt: skip
    assert created.code == 0, created


def one_line(result: Any) -> str:
    """The single stderr line of a failed command (asserts there is exactly one, no traceback)."""
    assert result.out == "", result
    assert result.err.endswith("\n") and result.err.count("\n") == 1, result
    assert "Traceback" not in result.err and "internal error" not in result.err, result
    return result.err.rstrip("\n")


# -- tests -----------------------------------------------------------------------------------


def test_production_settings_resolve_the_local_https_url(database: str, service_account: Path) -> None:
    from focuscli.settings import resolve
    from focuscli.signin import AuthService

    settings = resolve(
        db=database, credentials=str(service_account), user="ana", session=None,
        environ={"HOME": "/nonexistent", "FOCUS_CONFIG": "", "FOCUS_API_KEY": API_KEY},
    )
    assert settings.target.kind == "production"
    assert settings.target.url == database
    assert settings.target.credentials == str(service_account)  # for the administrator only
    assert settings.auth == AuthService("https://", API_KEY)
    assert settings.auto_profiles == "no"


def test_two_members_share_a_session_over_https_signed_in(
    focus: Any, database: str, tls: Tls, token_endpoint: TokenEndpoint
) -> None:
    """Members sign in (email and password over TLS) and act with signed ID tokens the database
    verifies; no member command fetches an OAuth token or reads a key file."""
    not_signed_in = focus("start", "5m", "--session", "team")
    assert (not_signed_in.code, one_line(not_signed_in)) == (
        1, f"focus: profile 'ana' is not signed in to {database}; sign in with: focus --user ana login EMAIL "
        "(or create an account: add --create --name NAME)")  # fmt: skip
    sign_up(focus, "ana")
    sign_up(focus, "bob")
    started = focus("start", "5m", "--session", "team")
    assert (started.code, started.out, started.err) == (0, "team: started focus (5:00)\n", CREATED_NOTE), started

    # The rules apply as each member: bob is not a member yet, so he can neither read nor act.
    not_a_member = "focus: you (Bob) are not a member of 'team'; join with: focus join team --code CODE"
    for args in (("status", "--session", "team"), ("pause", "--session", "team")):
        refused = focus(*args, user="bob")
        assert refused.code == 1, refused
        assert one_line(refused) == not_a_member

    invite = focus("session", "invite", "--json", "--session", "team")
    code = json.loads(invite.out)["code"]
    joined = focus("join", "team", "--code", code, user="bob")
    assert (joined.code, joined.err, joined.out) == (0, "", "joined team\n")
    status = focus("status", "--json", user="bob")
    assert status.code == 0, status
    data = json.loads(status.out)
    assert (data["session"], data["phase"], data["status"], data["updated_by"]) == ("team", "focus", "running", "Ana")
    assert 0 < data["remaining_ms"] <= 300_000
    whoami = json.loads(focus("whoami", "--json", user="bob").out)
    assert (whoami["verified"], whoami["algorithm"], whoami["backend"]["kind"]) == ("signed", "RS256", "production")

    assert token_endpoint.calls == 0  # members never touch the administrator's credentials
    # The data is in the default namespace (no `ns`, as production requests have), readable
    # with the OAuth access token, the server's only administrator credential.
    state = admin_get(database, "/sessions/team/state", tls)
    assert state.status_code == 200, state.text
    assert (state.json()["status"], state.json()["updated_by_name"]) == ("running", "Ana")
    members = admin_get(database, "/sessions/team/members", tls).json()
    assert sorted(rec["name"] for rec in members.values()) == ["Ana", "Bob"]
    assert state.json()["updated_by"] == whoami["uid"] or state.json()["updated_by"] in members
    assert admin_get(database, "/sessions/team/state", tls, token="owner").status_code == 401


@pytest.mark.parametrize("trust", ["system", "unset"])
def test_the_ca_must_be_trusted(
    focus: Any, database: str, tls: Tls, monkeypatch: pytest.MonkeyPatch, trust: str
) -> None:
    """Without the CA trusted (SSL_CERT_FILE, else REQUESTS_CA_BUNDLE, else the system's), focus
    fails in one line naming the server, and nothing is written."""
    import certifi

    monkeypatch.delenv("REQUESTS_CA_BUNDLE")
    if trust == "system":
        monkeypatch.setenv("SSL_CERT_FILE", certifi.where())
    else:
        monkeypatch.delenv("SSL_CERT_FILE")
    failed = focus("login", "ana@example.com", "--create", "--name", "Ana", "--password-stdin", stdin=PASSWORD + "\n")
    assert failed.code == 1, failed
    assert one_line(failed) == (
        f"focus: cannot reach the sign-in service at {database} (TLS certificate not trusted; see SSL_CERT_FILE); "
        "check your network"
    )
    assert admin_get(database, "/sessions", tls).json() is None  # nothing was written


def test_requests_ca_bundle_trusts_the_ca_too(focus: Any, tls: Tls, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SSL_CERT_FILE")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls.ca_pem))
    sign_up(focus, "ana")
    started = focus("start", "5m", "--session", "team")
    assert (started.code, started.out) == (0, "team: started focus (5:00)\n"), started


def test_a_database_certificate_from_an_unknown_ca_is_refused(focus: Any, database: str, tmp_path: Path) -> None:
    """Signing in works (its CA is trusted) but the database's certificate is not: refused."""
    from focuscli.server import LocalServer

    sign_up(focus, "ana")
    rogue = _tls(trustme.CA(), tmp_path / "rogue")
    with LocalServer(
        port=0, rules_source=RULES, admin_token=ACCESS_TOKEN, ssl_context=rogue.server_context, secure=True
    ) as server:
        began = time.monotonic()
        failed = focus("start", "5m", "--session", "team", db=server.url, auth=database)
        assert time.monotonic() - began < 10  # fails fast instead of retrying for minutes
    assert failed.code == 1, failed
    assert one_line(failed) == (
        f"focus: cannot reach the database at {server.url} (TLS certificate not trusted; see SSL_CERT_FILE); "
        "check the URL and your network"
    )


def test_a_database_that_does_not_trust_the_sign_in_is_one_line(focus: Any, database: str, tls: Tls) -> None:
    """Tokens signed by another project's keys (here: another server's) are refused by the
    database with 401; after one refresh the member is told to sign in again."""
    from focuscli.server import LocalServer

    sign_up(focus, "ana")
    with LocalServer(port=0, rules_source=RULES, admin_token=ACCESS_TOKEN, ssl_context=tls.server_context,
                     secure=True) as other:  # fmt: skip
        failed = focus("start", "5m", "--session", "team", db=other.url, auth=database)
    assert failed.code == 1, failed
    assert one_line(failed) == (
        "focus: the database did not accept your sign-in (Could not parse auth token.); "
        "sign in again with: focus login EMAIL"
    )


def test_the_administrator_compares_the_rules_with_a_key(
    focus: Any, service_account: Path, token_endpoint: TokenEndpoint
) -> None:
    """`focus doctor` signs the member in as always; only its rules check uses the key."""
    sign_up(focus, "ana")
    done = focus("doctor", credentials=service_account)
    assert done.code == 0, done
    assert done.out.splitlines()[-1] == "rules: the rules in force match firebase/database.rules.json"
    assert len(token_endpoint.grants) == 1 and token_endpoint.rejected == []
    for claims in token_endpoint.grants:
        assert claims["aud"] == GOOGLE_TOKEN_AUDIENCE and claims["iss"] == CLIENT_EMAIL
        # firebase-admin's scopes; Realtime Database wants userinfo.email plus a Firebase scope.
        assert {
            "https://www.googleapis.com/auth/userinfo.email",
            "https://www.googleapis.com/auth/firebase",
        } <= set(claims["scope"].split())
    member = focus("doctor")
    assert member.code == 0, member
    assert member.out.splitlines()[-1] == (
        "rules: not compared (reading the rules in force is for administrators: needs a "
        "service-account key (--credentials or GOOGLE_APPLICATION_CREDENTIALS))"
    )


def test_a_key_that_is_not_a_service_account_is_a_usage_error(
    focus: Any, tmp_path: Path, token_endpoint: TokenEndpoint
) -> None:
    sign_up(focus, "ana")
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
    failed = focus("doctor", credentials=not_a_service_account)
    assert failed.code == 2, failed
    line = failed.err.rstrip("\n").splitlines()[-1]
    assert line.startswith(f"focus: credentials file {not_a_service_account} is not a service-account key"), line
    assert token_endpoint.calls == 0


def test_a_token_endpoint_that_refuses_the_key_fails_the_rules_check(
    focus: Any, service_account: Path, token_endpoint: TokenEndpoint
) -> None:
    sign_up(focus, "ana")
    token_endpoint.refuse_with = 401
    failed = focus("doctor", credentials=service_account)
    assert failed.code == 1, failed
    assert failed.out.splitlines()[-1].startswith("rules: cannot check (cannot sign in with the service account: ")
    assert failed.err == "focus: could not check the rules in force; see above\n"
    assert token_endpoint.calls >= 1 and token_endpoint.grants == []
