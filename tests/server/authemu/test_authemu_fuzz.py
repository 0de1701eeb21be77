"""Anything a stranger sends the Auth emulator gets an answer in Google's envelope, never a 500."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from focuscli.server.authemu.routes import ROUTES
from focuscli.server.signing import SigningKey
from tests.server.authemu.conftest import SECRET, Emu

FIELDS = ["email", "password", "idToken", "displayName", "localId", "localIds", "token", "oobCode",
          "newPassword", "requestType", "continueUrl", "newEmail", "customAttributes", "validSince",
          "grantType", "grant_type", "refreshToken", "targetProjectId", "returnOobLink", "disableUser",
          "deleteAttribute", "deleteProvider", "federatedUserId", "phoneNumber", "force", "signIn",
          "emailPrivacyConfig", "validDuration", "returnSecureToken", "claims", "emailVerified"]  # fmt: skip
ROUTE_CALLS = sorted({(r.method, r.pattern.pattern.replace("\\", "").replace("(?P<project>[^/:]+)", "demo-focus"))
                      for r in ROUTES})
PATHS = [path for _, path in ROUTE_CALLS] + ["/", "/identitytoolkit.googleapis.com/v2/accounts:revokeToken", "/emulator/v1/projects/%2E%2E/config",
          "/identitytoolkit.googleapis.com/v1/projects/a%2Fb/accounts:lookup", "/emulator/nothing"]

scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=False),
                    st.text(max_size=30), st.sampled_from(["a@b.c", "secret6", "PASSWORD_RESET", "refresh_token",
                                                           "{}", '{"uid": "x"}', "\ud800", "x" * 2000]))  # fmt: skip
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)
bodies = st.one_of(
    st.dictionaries(st.sampled_from(FIELDS), values, max_size=6).map(lambda d: json.dumps(d).encode()),
    st.dictionaries(st.sampled_from(FIELDS), values, max_size=6).map(lambda d: json.dumps(d).encode()),
    values.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=40),
    st.just(b"[" * 5000 + b"]" * 5000),
)
KEY = SigningKey.ephemeral()
credentials = st.sampled_from([{}, {"key": "k"}, {"key": "k"}, {"admin": True}, {"admin": True}, {"bearer": "nope"}, {"bearer": "owner"},
                               {"bearer": SECRET}, {"bearer": "ya29.x"}, {"basic": True}])  # fmt: skip


calls = st.one_of(st.sampled_from(ROUTE_CALLS), st.sampled_from(ROUTE_CALLS),
                  st.tuples(st.sampled_from(["GET", "POST", "PATCH", "DELETE", "PUT"]), st.sampled_from(PATHS)))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(secure=st.booleans(), call=calls, body=bodies, credential=credentials,
       content_type=st.sampled_from(["application/json", "application/json", "application/x-www-form-urlencoded", ""]),
       query=st.sampled_from(["", "maxResults=-1", "maxResults=x", "nextPageToken=%00", "key="]))  # fmt: skip
def test_no_request_breaks_the_emulator(
    secure: bool, call: tuple[str, str], body: bytes, credential: dict[str, Any], content_type: str, query: str
) -> None:
    method, path = call
    emu = Emu(secure=secure, key=KEY)
    headers = {"content-type": content_type}
    if "bearer" in credential:
        headers["authorization"] = f"Bearer {credential['bearer']}"
    if "basic" in credential:
        headers["authorization"] = "Basic eDp5"
    reply = emu.request(method, path, key="k" if "key" in credential else None, headers=headers,
                        admin=bool(credential.get("admin")), query=query, raw=body)
    assert reply.status < 500 or reply.status == 501, (reply.status, reply.body)
    event(f"status {reply.status}")
    decoded = json.loads(reply.encoded())
    if reply.status >= 400:
        error = decoded["error"]
        assert error["code"] == reply.status and isinstance(error["message"], str) and error["errors"]
    for text in reply.writes.values():
        assert text is None or isinstance(json.loads(text), dict)

