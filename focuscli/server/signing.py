"""Signed ID tokens for secure mode: the server's RS256 key, signing, verification, public keys.

The verifier picks the algorithm (RS256 only, whatever a token's header says), the key by `kid`
among ours, and then every claim check of ``tokens.check_id_token_claims``; nothing is optional.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import os
import stat
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from focuscli.server.auth import create_private_file
from focuscli.server.authemu.tokens import TokenInvalid, check_id_token_claims, decode_unverified

ALGORITHM = "RS256"
KEY_FILE = "auth-signing-key.pem"
CACHE_SIZE = 8192
# Where the public keys are published, mirroring Google's URLs with the host as the first path
# segment (the emulators' convention): a JWK set, and a map of key id -> x509 certificate.
JWKS_PATH = "/www.googleapis.com/service_accounts/v1/jwk/securetoken@system.gserviceaccount.com"
X509_PATH = "/www.googleapis.com/robot/v1/metadata/x509/securetoken@system.gserviceaccount.com"


class KeyFileError(Exception):
    """The signing key file cannot be used (unreadable, not a key, readable by others)."""


class SigningKey:
    """One RSA private key and its key id (derived from the public key, so it is stable)."""

    def __init__(self, private: rsa.RSAPrivateKey) -> None:
        self.private = private
        self.public = private.public_key()
        der = self.public.public_bytes(serialization.Encoding.DER,
                                       serialization.PublicFormat.SubjectPublicKeyInfo)
        self.kid = hashlib.sha256(der).hexdigest()[:20]

    @classmethod
    def ephemeral(cls) -> SigningKey:
        """A key for this process only (``--memory``: tokens die with the server)."""
        return cls(rsa.generate_private_key(public_exponent=65537, key_size=2048))

    @classmethod
    def load_or_create(cls, path: os.PathLike[str] | str) -> SigningKey:
        """The key stored at ``path``, created there (mode 0600, atomically) when missing."""
        path = os.fspath(path)
        if not os.path.exists(path):
            _create_key_file(path)
        try:
            mode = os.stat(path).st_mode
            if mode & (stat.S_IRWXG | stat.S_IRWXO):
                raise KeyFileError(f"{path} is readable by other users; run: chmod 600 {path}")
            with open(path, "rb") as fh:
                key = serialization.load_pem_private_key(fh.read(), password=None)
        except OSError as err:
            raise KeyFileError(f"cannot read {path}: {err.strerror or err}") from None
        except ValueError:
            raise KeyFileError(f"{path} does not hold a PEM private key") from None
        if not isinstance(key, rsa.RSAPrivateKey):
            raise KeyFileError(f"{path} does not hold an RSA private key")
        return cls(key)


def _create_key_file(path: str) -> None:
    pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    create_private_file(path, pem)  # another server racing us: its key is kept


def verify_id_token(
    token: str, *, keys: Mapping[str, rsa.RSAPublicKey], project_id: str, now: float
) -> dict[str, Any]:
    """The claims of a signed ID token; TokenInvalid (TokenExpired for a passed `exp`) otherwise."""
    header, _ = decode_unverified(token)
    if header.get("alg") != ALGORITHM:
        raise TokenInvalid("algorithm")
    kid = header.get("kid")
    if not isinstance(kid, str) or kid not in keys:
        raise TokenInvalid("key-id")
    claims = _verified_payload(token, keys[kid])
    check_id_token_claims(claims, project_id=project_id, now=now)
    return claims


def _verified_payload(token: str, key: rsa.RSAPublicKey) -> dict[str, Any]:
    try:
        payload = jwt.PyJWS().decode(token, key, algorithms=[ALGORITHM])
    except jwt.InvalidSignatureError:
        raise TokenInvalid("signature") from None
    except jwt.PyJWTError:
        raise TokenInvalid("malformed") from None
    claims = json.loads(payload)
    if not isinstance(claims, dict):
        raise TokenInvalid("malformed")
    return claims


class RS256Codec:
    """Secure mode's TokenCodec: signs with our key; reads only tokens it can verify.

    Signature checks are cached (bounded, by the exact token text); the claim checks, expiry
    included, run on every read against the caller's ``now``.
    """

    signed = True

    def __init__(self, key: SigningKey, *, cache_size: int = CACHE_SIZE) -> None:
        self.key = key
        self.keys: dict[str, rsa.RSAPublicKey] = {key.kid: key.public}
        self._cache: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()  # read from the event loop and the Auth worker thread

    def encode(self, claims: dict[str, Any]) -> str:
        return jwt.encode(claims, self.key.private, algorithm=ALGORITHM,
                          headers={"kid": self.key.kid, "typ": "JWT"})

    def read(self, token: str, *, project_id: str, now: float) -> dict[str, Any]:
        with self._lock:
            claims = self._cache.get(token)
            if claims is not None:
                self._cache.move_to_end(token)
        if claims is None:
            claims = verify_id_token(token, keys=self.keys, project_id=project_id, now=now)
            with self._lock:
                self._cache[token] = claims
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
            return claims
        check_id_token_claims(claims, project_id=project_id, now=now)
        return claims

    def jwks(self) -> dict[str, Any]:
        numbers = self.key.public.public_numbers()
        return {"keys": [{"kty": "RSA", "alg": ALGORITHM, "use": "sig", "kid": self.key.kid,
                          "n": _b64_int(numbers.n), "e": _b64_int(numbers.e)}]}

    def x509_certificates(self) -> dict[str, str]:
        """kid -> a self-signed certificate of the public key (the form firebase-admin fetches)."""
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "focus serve ID tokens")])
        start = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=1)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public)
            .serial_number(int(self.key.kid, 16))
            .not_valid_before(start)
            .not_valid_after(start + datetime.timedelta(days=3650))
            .sign(self.key.private, hashes.SHA256())
        )
        return {self.key.kid: cert.public_bytes(serialization.Encoding.PEM).decode("ascii")}


def _b64_int(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")
