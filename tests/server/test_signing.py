"""Secure mode's signed ID tokens: each reason to refuse one is its own case; the key file; the
published keys; the verification cache; and Identities, which turns them into the rules' auth."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import stat
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from focuscli.server.auth import (
    EXPIRED,
    OVERRIDE_NEEDS_ADMIN,
    UNPARSABLE,
    AuthError,
    Identities,
    Identity,
)
from focuscli.server.authemu.tokens import (
    CUSTOM_TOKEN_AUDIENCE,
    TokenExpired,
    TokenInvalid,
    unsigned,
)
from focuscli.server.signing import KeyFileError, RS256Codec, SigningKey, verify_id_token

NOW = 1_700_000_000.0
PROJECT = "demo-focus"
SECRET = "the-admin-secret-0123456789abcdef"


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return SigningKey.ephemeral()


@pytest.fixture(scope="module")
def other_key() -> SigningKey:
    return SigningKey.ephemeral()


def good_claims(**changes: Any) -> dict[str, Any]:
    claims = {
        "iss": f"https://securetoken.google.com/{PROJECT}", "aud": PROJECT, "sub": "ada",
        "user_id": "ada", "iat": int(NOW) - 10, "exp": int(NOW) + 3600, "auth_time": int(NOW) - 10,
        "firebase": {"identities": {}, "sign_in_provider": "password"},
    }  # fmt: skip
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def sign(claims: Any, key: SigningKey, *, kid: str | None = "KEY", alg: str = "RS256") -> str:
    headers = {} if kid is None else {"kid": key.kid if kid == "KEY" else kid}
    if isinstance(claims, dict):
        return jwt.encode(claims, key.private, algorithm=alg, headers=headers)
    return jwt.api_jws.encode(json.dumps(claims).encode(), key.private, algorithm=alg, headers=headers)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hs256_with_public_key(key: SigningKey) -> str:
    """The classic algorithm confusion: HMAC keyed with the (public) verification key."""
    pem = key.public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    head = b64(json.dumps({"alg": "HS256", "kid": key.kid, "typ": "JWT"}).encode())
    body = b64(json.dumps(good_claims()).encode())
    mac = hmac.new(pem, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(mac)}"


def tampered(key: SigningKey) -> str:
    head, _, sig = sign(good_claims(), key).split(".")
    body = b64(json.dumps(good_claims(sub="eve", user_id="eve")).encode())
    return f"{head}.{body}.{sig}"


REJECTIONS: dict[str, tuple[Any, str]] = {
    "unsigned (alg none)": (lambda k, o: unsigned(good_claims()), "algorithm"),
    "HS256 keyed with our public key": (lambda k, o: hs256_with_public_key(k), "algorithm"),
    "RS512 instead of RS256": (lambda k, o: sign(good_claims(), k, alg="RS512"), "algorithm"),
    "payload changed under the original signature": (lambda k, o: tampered(k), "signature"),
    "another key's signature under our key id": (lambda k, o: sign(good_claims(), o, kid=k.kid), "signature"),
    "a key id that is not ours": (lambda k, o: sign(good_claims(), o), "key-id"),
    "no key id": (lambda k, o: sign(good_claims(), k, kid=None), "key-id"),
    "expired": (lambda k, o: sign(good_claims(exp=int(NOW) - 1), k), "expired"),
    "expiring this very second": (lambda k, o: sign(good_claims(exp=int(NOW)), k), "expired"),
    "another project (aud)": (lambda k, o: sign(good_claims(aud="other-project"), k), "audience"),
    "another issuer": (lambda k, o: sign(good_claims(iss="https://securetoken.google.com/other"), k), "issuer"),
    "a custom token": (lambda k, o: sign(good_claims(aud=CUSTOM_TOKEN_AUDIENCE), k), "custom-token"),
    "no subject": (lambda k, o: sign(good_claims(sub=None), k), "subject"),
    "an empty subject": (lambda k, o: sign(good_claims(sub=""), k), "subject"),
    "a subject of 129 characters": (lambda k, o: sign(good_claims(sub="u" * 129), k), "subject"),
    "a subject that is a number": (lambda k, o: sign(good_claims(sub=42), k), "subject"),
    "no exp": (lambda k, o: sign(good_claims(exp=None), k), "times"),
    "no iat": (lambda k, o: sign(good_claims(iat=None), k), "times"),
    "iat a boolean": (lambda k, o: sign(good_claims(iat=True), k), "times"),
    "issued in the future": (lambda k, o: sign(good_claims(iat=int(NOW) + 60), k), "issued-in-future"),
    "signed in in the future": (lambda k, o: sign(good_claims(auth_time=int(NOW) + 60), k), "auth-time"),
    "not a JWT": (lambda k, o: "not-a-token", "malformed"),
    "two segments": (lambda k, o: ".".join(sign(good_claims(), k).split(".")[:2]), "malformed"),
    "a signed array instead of claims": (lambda k, o: sign(["ada"], k), "malformed"),
}


@pytest.mark.parametrize("case", list(REJECTIONS), ids=list(REJECTIONS))
def test_each_rejection(case: str, key: SigningKey, other_key: SigningKey) -> None:
    make, reason = REJECTIONS[case]
    with pytest.raises(TokenInvalid) as info:
        verify_id_token(make(key, other_key), keys={key.kid: key.public}, project_id=PROJECT, now=NOW)
    assert info.value.reason == reason
    assert isinstance(info.value, TokenExpired) == (reason == "expired")


def test_a_good_token(key: SigningKey) -> None:
    claims = good_claims()
    assert verify_id_token(sign(claims, key), keys={key.kid: key.public}, project_id=PROJECT, now=NOW) == claims


def test_the_cache_still_checks_time_and_project(key: SigningKey) -> None:
    codec = RS256Codec(key, cache_size=2)
    token = codec.encode(good_claims())
    assert codec.read(token, project_id=PROJECT, now=NOW)["sub"] == "ada"
    assert codec.read(token, project_id=PROJECT, now=NOW + 1)["sub"] == "ada"  # from the cache
    with pytest.raises(TokenExpired):
        codec.read(token, project_id=PROJECT, now=NOW + 3600)
    with pytest.raises(TokenInvalid, match="audience"):
        codec.read(token, project_id="other-project", now=NOW)
    for sub in ("b", "c"):
        codec.read(codec.encode(good_claims(sub=sub)), project_id=PROJECT, now=NOW)
    assert len(codec._cache) == 2  # bounded


def test_the_key_file_is_private_created_once_and_checked(tmp_path: Path) -> None:
    path = tmp_path / "data" / "auth-signing-key.pem"
    first = SigningKey.load_or_create(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert sorted(os.listdir(path.parent)) == ["auth-signing-key.pem"]  # no temporary file left
    assert SigningKey.load_or_create(path).kid == first.kid
    os.chmod(path, 0o640)
    with pytest.raises(KeyFileError, match="readable by other users"):
        SigningKey.load_or_create(path)
    path.write_text("not a key\n")
    os.chmod(path, 0o600)
    with pytest.raises(KeyFileError, match="does not hold a PEM private key"):
        SigningKey.load_or_create(path)


def test_published_keys_verify_our_tokens(key: SigningKey) -> None:
    codec = RS256Codec(key)
    token = codec.encode(good_claims())
    jwk = codec.jwks()["keys"][0]
    assert (jwk["kid"], jwk["alg"], jwk["use"], jwk["kty"]) == (key.kid, "RS256", "sig", "RSA")
    public = jwt.PyJWK(jwk).key
    options = {"verify_aud": False, "verify_exp": False, "verify_iat": False}
    assert jwt.decode(token, public, algorithms=["RS256"], options=options)["sub"] == "ada"
    pem = codec.x509_certificates()[key.kid]
    cert_key = x509.load_pem_x509_certificate(pem.encode()).public_key()
    assert jwt.decode(token, cert_key, algorithms=["RS256"], options=options)["sub"] == "ada"


# -- Identities in secure mode -----------------------------------------------------------------


@pytest.fixture
def identities(key: SigningKey) -> Identities:
    return Identities(admin_secret=SECRET, codec=RS256Codec(key), project_id=PROJECT)


def resolve(identities: Identities, headers: dict[str, str] | None = None, **params: str) -> Identity:
    return identities.resolve(headers or {}, params, now=NOW)


def test_secure_identities(identities: Identities, key: SigningKey) -> None:
    token = sign(good_claims(admin=True), key)
    member = resolve(identities, auth=token)
    assert member == Identity(admin=False, auth={"uid": "ada", "token": good_claims(admin=True),
                                                 "provider": "password"})
    assert resolve(identities, {"authorization": f"Bearer {SECRET}"}).admin
    assert resolve(identities) == Identity(admin=False, auth=None)
    as_ada = resolve(identities, access_token=SECRET, auth_variable_override='{"uid": "ada"}')
    assert as_ada == Identity(admin=False, auth={"uid": "ada"}) and as_ada.admin_credential


@pytest.mark.parametrize(
    ("carrier", "message"),
    [
        pytest.param({"auth": "owner"}, UNPARSABLE, id="owner"),
        pytest.param({"access_token": "owner"}, UNPARSABLE, id="access_token owner"),
        pytest.param({"auth": "UNSIGNED"}, UNPARSABLE, id="unsigned token"),
        pytest.param({"auth": "EXPIRED"}, EXPIRED, id="expired token"),
        pytest.param({"auth_variable_override": '{"uid": "ada"}'}, OVERRIDE_NEEDS_ADMIN, id="override alone"),
        pytest.param({"auth": "GOOD", "auth_variable_override": "null"}, OVERRIDE_NEEDS_ADMIN, id="override with a member token"),
    ],
)
def test_secure_refusals(identities: Identities, key: SigningKey, carrier: dict[str, str], message: str) -> None:
    tokens = {"UNSIGNED": unsigned(good_claims()), "EXPIRED": sign(good_claims(exp=int(NOW) - 5), key),
              "GOOD": sign(good_claims(), key)}
    params = {k: tokens.get(v, v) for k, v in carrier.items()}
    with pytest.raises(AuthError) as info:
        resolve(identities, **params)
    assert (info.value.status, info.value.message) == (401, message)


def test_secure_mode_needs_a_secret(key: SigningKey) -> None:
    with pytest.raises(ValueError, match="admin secret"):
        Identities(admin_secret=None, codec=RS256Codec(key), project_id=PROJECT)
