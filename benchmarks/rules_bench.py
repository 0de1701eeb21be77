"""Writes/s through a realistic rules file against writes/s with open rules (goal: >= 70 %).

Starts `focus serve --memory` as shipped, seeds two namespaces as admin, then sends sequential
PUTs from one keep-alive client as a member (``auth_variable_override``), so both runs take the
same request path and only the rules differ. Rounds alternate open/rules; medians are reported.

    python benchmarks/rules_bench.py [--writes N] [--rounds R]
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
BODY = json.dumps({"by": "u1", "at": {".sv": "timestamp"}, "action": "pause"}).encode()


def seed(client: RawHttp, ns: str, rules: dict[str, object] | None) -> None:
    if rules is not None:
        status, body = client.request("PUT", f"/.settings/rules.json?ns={ns}", json.dumps(rules).encode())
        assert status == 200, body
    status, body = client.request("PUT", f"/members/r1/u1.json?ns={ns}", b"true")
    assert status == 200, body


def run(client: RawHttp, ns: str, start: int, count: int) -> float:
    began = time.perf_counter()
    for i in range(start, start + count):
        target = f"/rooms/r1/log/e{i}.json?ns={ns}&print=silent&{AS_MEMBER}"
        status, body = client.request("PUT", target, BODY)
        if status != 204:
            raise SystemExit(f"write {i} in {ns} answered {status}: {body[:200]!r}")
    return count / (time.perf_counter() - began)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writes", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        server = Server(Path(work), "rules", "--memory")
        try:
            client = RawHttp(server.port)
            seed(client, "open", None)
            seed(client, "rules", RULES)
            open_rates, rules_rates = [], []
            for r in range(args.rounds):
                open_rates.append(run(client, "open", r * args.writes, args.writes))
                rules_rates.append(run(client, "rules", r * args.writes, args.writes))
            client.close()
        finally:
            code = server.stop()
    open_rate, rules_rate = statistics.median(open_rates), statistics.median(rules_rates)
    ratio = rules_rate / open_rate
    print(f"writes/s as a member, open rules: {open_rate:,.0f}/s (rounds: {', '.join(f'{x:,.0f}' for x in open_rates)})")
    print(f"writes/s as a member, realistic rules: {rules_rate:,.0f}/s (rounds: {', '.join(f'{x:,.0f}' for x in rules_rates)})")
    print(f"ratio: {ratio:.0%}  [goal >= 70%: {'PASS' if ratio >= 0.7 else 'FAIL'}]; server exit {code}")
    return 0 if ratio >= 0.7 and code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
