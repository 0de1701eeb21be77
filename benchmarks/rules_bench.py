"""Writes/s through a realistic rules file against writes/s with open rules (goal: >= 70 %).

Starts `focus serve --memory` as shipped, seeds two namespaces as admin, then sends sequential
PUTs from one keep-alive client as a member (``auth_variable_override``), so both runs take the
same request path and only the rules differ. Rounds alternate open/rules; medians are reported.

With ``--secure`` the server runs in secure mode and the member is a real one: it signs up with
the server's Auth emulator and sends its RS256 ID token as ``auth=`` on every write (verified on
every request, through the server's verification cache), the admin seeds with the admin secret.

    python benchmarks/rules_bench.py [--writes N] [--rounds R] [--secure]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent))

from serve_bench import RawHttp, Server  # noqa: E402

RULES = {
    "rules": {
        "rooms": {
            "$room": {
                ".read": "auth != null && root.child('members').child($room).child(auth.uid).exists()",
                "log": {
                    "$id": {
                        ".write": "auth != null && !data.exists() && "
                        "root.child('members/' + $room + '/' + auth.uid).exists()",
                        ".validate": "newData.hasChildren(['by', 'at', 'action'])",
                        "by": {".validate": "newData.val() === auth.uid"},
                        "at": {".validate": "newData.val() === now"},
                        "action": {
                            ".validate": "newData.isString() && "
                            "newData.val().matches(/^(start|pause|resume|stop)$/)"
                        },
                        "$other": {".validate": False},
                    }
                },
            }
        },
        "members": {"$room": {"$uid": {".read": "auth.uid === $uid", ".write": "auth.uid === $uid"}}},
    }
}
AS_MEMBER = "auth_variable_override=" + quote(json.dumps({"uid": "u1"}, separators=(",", ":")))


def body_for(uid: str) -> bytes:
    return json.dumps({"by": uid, "at": {".sv": "timestamp"}, "action": "pause"}).encode()


def seed(client: RawHttp, ns: str, rules: dict[str, object] | None, uid: str) -> None:
    if rules is not None:
        status, body = client.request("PUT", f"/.settings/rules.json?ns={ns}", json.dumps(rules).encode())
        assert status == 200, body
    status, body = client.request("PUT", f"/members/r1/{uid}.json?ns={ns}", b"true")
    assert status == 200, body


def sign_up(client: RawHttp) -> tuple[str, str]:
    """A member of the server's Auth emulator (``client`` sends no admin credential, or this
    would be an admin's account creation, which returns no tokens): (uid, `auth=` parameter)."""
    request = json.dumps({"email": "bench@example.com", "password": "bench-secret", "returnSecureToken": True})
    status, body = client.request("POST", "/identitytoolkit.googleapis.com/v1/accounts:signUp?key=bench",
                                  request.encode())
    assert status == 200, body
    reply = json.loads(body)
    return reply["localId"], "auth=" + reply["idToken"]


def run(client: RawHttp, ns: str, start: int, count: int, credential: str, body: bytes) -> float:
    began = time.perf_counter()
    for i in range(start, start + count):
        target = f"/rooms/r1/log/e{i}.json?ns={ns}&print=silent&{credential}"
        status, answer = client.request("PUT", target, body)
        if status != 204:
            raise SystemExit(f"write {i} in {ns} answered {status}: {answer[:200]!r}")
    return count / (time.perf_counter() - began)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writes", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--secure", action="store_true", help="secure mode, a signed-in member")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        secret = Path(work) / "admin-secret"
        extra = ("--secure", "--admin-secret-file", str(secret)) if args.secure else ()
        server = Server(Path(work), "rules", "--memory", *extra)
        try:
            admin = RawHttp(server.port, f"Bearer {secret.read_text().strip()}") if args.secure else RawHttp(server.port)
            member = RawHttp(server.port, None) if args.secure else admin
            uid, credential = sign_up(member) if args.secure else ("u1", AS_MEMBER)
            seed(admin, "open", None, uid)
            seed(admin, "rules", RULES, uid)
            body = body_for(uid)
            open_rates, rules_rates = [], []
            for r in range(args.rounds):
                open_rates.append(run(member, "open", r * args.writes, args.writes, credential, body))
                rules_rates.append(run(member, "rules", r * args.writes, args.writes, credential, body))
            admin.close()
            member.close()
        finally:
            code = server.stop()
    open_rate, rules_rate = statistics.median(open_rates), statistics.median(rules_rates)
    ratio = rules_rate / open_rate
    who = "a signed-in member (secure mode, RS256 ID token)" if args.secure else "a member"
    print(f"writes/s as {who}, open rules: {open_rate:,.0f}/s (rounds: {', '.join(f'{x:,.0f}' for x in open_rates)})")
    print(f"writes/s as {who}, realistic rules: {rules_rate:,.0f}/s (rounds: {', '.join(f'{x:,.0f}' for x in rules_rates)})")
    print(f"ratio: {ratio:.0%}  [goal >= 70%: {'PASS' if ratio >= 0.7 else 'FAIL'}]; server exit {code}")
    return 0 if ratio >= 0.7 and code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
