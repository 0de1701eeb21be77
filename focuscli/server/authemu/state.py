"""Accounts of one project: users and their indexes, password hashes, refresh tokens, action codes.

Everything a change touches is remembered as a persistence key (``take_writes``), so the adapter
can make exactly that durable; ``load`` rebuilds a project from those records. Stdlib only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import string
from typing import Any

PROVIDER_PASSWORD = "password"
PROVIDER_PHONE = "phone"
PROVIDER_ANONYMOUS = "anonymous"
PROVIDER_CUSTOM = "custom"

REDACTED_HASH = "UkVEQUNURUQ="  # base64("REDACTED"): what production returns instead of a hash
GENERATION = "_generation"  # internal: bumped whenever refresh tokens issued before must stop
MAX_REFRESH_TOKENS_PER_USER = 100  # older sessions of one user stop refreshing beyond this
DEFAULT_CONFIG: dict[str, Any] = {"allowDuplicateEmails": False, "enableImprovedEmailPrivacy": False}

# scrypt with the cost OWASP suggests for interactive logins (16 MiB, tens of milliseconds).
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1
_ALNUM = string.ascii_letters + string.digits
_B64URL = _ALNUM + "-_"

Key = tuple[str, str]  # (kind, key): ("user", localId), ("refresh", digest), ("oob", code), ("config", "")
User = dict[str, Any]


def random_id(length: int, alphabet: str = _ALNUM) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


def canonical_email(email: str) -> str:
    return email.lower()


def hash_password(password: str) -> dict[str, Any]:
    """The fields a user keeps for ``password``: a salted scrypt hash, never the password."""
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, _SCRYPT_N, _SCRYPT_R, _SCRYPT_P)
    return {
        "passwordHash": f"scrypt:{_SCRYPT_N}:{_SCRYPT_R}:{_SCRYPT_P}:{_b64(digest)}",
        "salt": _b64(salt),
    }


def password_matches(password: str, user: User) -> bool:
    stored, salt = user.get("passwordHash"), user.get("salt")
    if not isinstance(stored, str) or not isinstance(salt, str):
        return False
    try:
        scheme, n, r, p, digest = stored.split(":")
        if scheme != "scrypt":
            return False
        computed = _scrypt(password, base64.b64decode(salt), int(n), int(r), int(p))
        return hmac.compare_digest(_b64(computed), digest)
    except ValueError:
        return False


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    data = password.encode("utf-8", "surrogatepass")
    return hashlib.scrypt(data, salt=salt, n=n, r=r, p=p, maxmem=64 * 1024 * 1024, dklen=32)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def refresh_digest(token: str) -> str:
    """Refresh tokens are kept only as this digest (they are random, so no salt is needed)."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def public_user(user: User) -> User:
    """A user as lookups show it: internal fields dropped, password material redacted."""
    shown = {k: v for k, v in user.items() if not k.startswith("_") and k != "salt"}
    if "passwordHash" in shown:
        shown["passwordHash"] = REDACTED_HASH
    return shown


class ProjectState:
    """The users, refresh tokens, action codes and settings of one project id."""

    def __init__(self, project_id: str) -> None:
        self.project_id = project_id
        self.users: dict[str, User] = {}
        self._by_email: dict[str, str] = {}
        self._by_phone: dict[str, str] = {}
        self._refresh: dict[str, dict[str, Any]] = {}
        self._refresh_of: dict[str, list[str]] = {}  # localId -> digests, oldest first
        self.oobs: dict[str, dict[str, Any]] = {}  # in creation order
        self._oob_seq = 0
        self.config: dict[str, Any] = dict(DEFAULT_CONFIG)
        self._dirty: set[Key] = set()

    # -- users --------------------------------------------------------------------------------

    def user(self, local_id: str) -> User | None:
        return self.users.get(local_id)

    def user_by_email(self, email: str) -> User | None:
        local_id = self._by_email.get(canonical_email(email))
        return None if local_id is None else self.users.get(local_id)

    def user_by_phone(self, phone: str) -> User | None:
        local_id = self._by_phone.get(phone)
        return None if local_id is None else self.users.get(local_id)

    def new_local_id(self) -> str:
        while True:
            local_id = random_id(28)
            if local_id not in self.users:
                return local_id

    def create_user(self, local_id: str, fields: dict[str, Any]) -> User:
        self.users[local_id] = {"localId": local_id, GENERATION: 0}
        return self.update_user(local_id, fields)

    def update_user(
        self, local_id: str, fields: dict[str, Any], *, delete_providers: list[str] | None = None
    ) -> User:
        """Set ``fields`` (a None value removes the field); indexes and provider entries follow."""
        user = self.users[local_id]
        old_email, old_phone = user.get("email"), user.get("phoneNumber")
        for name, value in fields.items():
            if value is None:
                user.pop(name, None)
            else:
                user[name] = value
        if fields.get("validSince") is not None:
            # Tokens issued before now are stale: ID tokens by their `iat` (checked against
            # validSince), refresh tokens by this counter (secure mode refuses older ones).
            user[GENERATION] = int(user.get(GENERATION, 0)) + 1
        if old_email and old_email != user.get("email"):
            self._by_email.pop(old_email, None)
        if user.get("email"):
            self._by_email[user["email"]] = local_id
        if old_phone and old_phone != user.get("phoneNumber"):
            self._by_phone.pop(old_phone, None)
        if user.get("phoneNumber"):
            self._by_phone[user["phoneNumber"]] = local_id
        providers = {p["providerId"]: p for p in user.get("providerUserInfo", [])}
        for gone in delete_providers or ():
            providers.pop(gone, None)
        if user.get("email") and (user.get("passwordHash") or user.get("emailLinkSignin")):
            entry = {"providerId": PROVIDER_PASSWORD, "email": user["email"],
                     "federatedId": user["email"], "rawId": user["email"],
                     "displayName": user.get("displayName"), "photoUrl": user.get("photoUrl")}
            providers[PROVIDER_PASSWORD] = {k: v for k, v in entry.items() if v is not None}
        else:
            providers.pop(PROVIDER_PASSWORD, None)
        if user.get("phoneNumber"):
            providers[PROVIDER_PHONE] = {"providerId": PROVIDER_PHONE,
                                         "phoneNumber": user["phoneNumber"], "rawId": user["phoneNumber"]}
        else:
            providers.pop(PROVIDER_PHONE, None)
        if providers:
            user["providerUserInfo"] = list(providers.values())
        else:
            user.pop("providerUserInfo", None)
        self._dirty.add(("user", local_id))
        return user

    def delete_user(self, local_id: str) -> None:
        user = self.users.pop(local_id, None)
        if user is None:
            return
        if user.get("email"):
            self._by_email.pop(user["email"], None)
        if user.get("phoneNumber"):
            self._by_phone.pop(user["phoneNumber"], None)
        self._dirty.add(("user", local_id))
        for digest in self._refresh_of.pop(local_id, []):
            # Kept, marked: a refresh then says the user is gone (USER_NOT_FOUND in secure mode),
            # even if a new user later takes the same uid.
            self._refresh[digest]["deleted"] = True
            self._dirty.add(("refresh", digest))

    def delete_all_users(self) -> None:
        """Every user goes, with their refresh tokens; action codes are kept (as the emulator)."""
        for local_id in list(self.users):
            self.delete_user(local_id)
        for digest in list(self._refresh):
            self._dirty.add(("refresh", digest))
        self._refresh.clear()
        self._refresh_of.clear()

    def sorted_users(self) -> list[User]:
        return [self.users[k] for k in sorted(self.users)]

    # -- refresh tokens -----------------------------------------------------------------------

    def new_refresh_token(self, user: User, provider: str, extra_claims: dict[str, Any], now: float) -> str:
        token = secrets.token_urlsafe(48)
        digest = refresh_digest(token)
        local_id = user["localId"]
        self._refresh[digest] = {"localId": local_id, "provider": provider,
                                 "extraClaims": extra_claims, "issuedAt": now,
                                 "generation": int(user.get(GENERATION, 0))}
        self._dirty.add(("refresh", digest))
        owned = self._refresh_of.setdefault(local_id, [])
        owned.append(digest)
        while len(owned) > MAX_REFRESH_TOKENS_PER_USER:
            oldest = owned.pop(0)
            self._refresh.pop(oldest, None)
            self._dirty.add(("refresh", oldest))
        return token

    def refresh_record(self, token: str) -> dict[str, Any] | None:
        return self._refresh.get(refresh_digest(token))

    # -- out-of-band codes --------------------------------------------------------------------

    def new_oob(self, email: str, new_email: str | None, request_type: str, link: str) -> dict[str, Any]:
        code = random_id(54, _B64URL)
        self._oob_seq += 1
        record = {"email": email, "newEmail": new_email, "requestType": request_type,
                  "oobCode": code, "oobLink": link.replace("{oobCode}", code), "_seq": self._oob_seq}
        self.oobs[code] = {k: v for k, v in record.items() if v is not None}
        self._dirty.add(("oob", code))
        return self.oobs[code]

    def take_oob(self, code: str) -> None:
        if self.oobs.pop(code, None) is not None:
            self._dirty.add(("oob", code))

    # -- settings -----------------------------------------------------------------------------

    def set_config(self, name: str, value: bool) -> None:
        self.config[name] = value
        self._dirty.add(("config", ""))

    # -- persistence --------------------------------------------------------------------------

    def take_writes(self) -> dict[Key, str | None]:
        """What changed since the last call: each key's JSON text, or None where it is gone."""
        writes: dict[Key, str | None] = {}
        for kind, key in sorted(self._dirty):
            value: Any
            if kind == "user":
                value = self.users.get(key)
            elif kind == "refresh":
                value = self._refresh.get(key)
            elif kind == "oob":
                value = self.oobs.get(key)
            else:
                value = self.config
            writes[(kind, key)] = None if value is None else json.dumps(value, separators=(",", ":"))
        self._dirty.clear()
        return writes

    def load(self, kind: str, key: str, text: str) -> None:
        """Restore one record written by ``take_writes`` (records arrive in any order)."""
        value = json.loads(text)
        if kind == "user":
            self.users[key] = value
            if value.get("email"):
                self._by_email[value["email"]] = key
            if value.get("phoneNumber"):
                self._by_phone[value["phoneNumber"]] = key
        elif kind == "refresh":
            self._refresh[key] = value
        elif kind == "oob":
            self.oobs[key] = value
        elif kind == "config":
            self.config.update(value)

    def finish_load(self) -> None:
        """Rebuild what ``load`` cannot know record by record (token order per user, code order)."""
        self._refresh_of.clear()
        for digest, record in sorted(self._refresh.items(), key=lambda item: item[1]["issuedAt"]):
            if not record.get("deleted"):
                self._refresh_of.setdefault(record["localId"], []).append(digest)
        self.oobs = dict(sorted(self.oobs.items(), key=lambda item: item[1].get("_seq", 0)))
        self._oob_seq = max((o.get("_seq", 0) for o in self.oobs.values()), default=0)
        self._dirty.clear()
