"""Crash durability: `kill -9` of `focus serve --data-dir` at random moments under 8 writers.

Each round starts the server on the same data directory, reads the whole tree at once and
checks it against a model of every acknowledged write, then lets 8 concurrent writers mix PUT,
multi-path PATCH (with a server-value increment), POST (push), DELETE, conditional PUT/DELETE
(if-match ETags) and large PUTs (which grow the log so that it is compacted every few rounds),
and kills the server with SIGKILL: after a number of acknowledgements, while a compaction is
under way, or while the server is still starting (recovering). Every writer owns its own keys
and sends one request at a time, so after a crash its part of the tree must be exactly its
acknowledged state, or that state plus the one request it had in flight: any lost
acknowledged write, partial multi-path update or wrong counter shows up as a difference.
Meanwhile a poller and a stream watch the counters: reads and stream events only ever show
durable data, so no counter may come back lower than they showed.
"""

from __future__ import annotations

import copy
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from focuscli.stream import SseParser
from tests.reliability.conftest import apply_event, prune

pytestmark = pytest.mark.focus_serve

WRITERS = 8
ROUNDS = 22
NS = "crash"
OWNER = {"Authorization": "Bearer owner"}
KINDS = ("c", "m", "cnt", "q", "e", "b")  # every top-level key; below each, one key per writer
BLOB_SLOTS = 3  # large values overwrite a few slots: the log grows, the tree does not
ACK_DEADLINE_S = 10.0
COMPACTION_WAIT_S = 3.0
JOIN_DEADLINE_S = 10.0


class AnyInt:
    """Equal to any int: a server timestamp whose value the client never saw."""

    def __eq__(self, other: object) -> bool:
        return type(other) is int

    def __hash__(self) -> int:
        return 0

    def __repr__(self) -> str:
        return "<any int>"


def _diff(got: Any, want: Any, path: str = "", out: list[str] | None = None) -> list[str]:
    out = [] if out is None else out
    if isinstance(got, dict) and isinstance(want, dict):
        for key in sorted(set(got) | set(want)):
            _diff(got.get(key), want.get(key), f"{path}/{key}", out)
    elif not want == got:  # noqa: SIM201 (want may be AnyInt: its __eq__ must run)
        out.append(f"{path or '/'}: got {_short(got)}, want {_short(want)}")
    return out


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


@dataclass
class Op:
    """One request and what it does to the writer's part of the tree."""

    kind: str
    method: str
    path: str
    body: Any = None
    params: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    ok: tuple[int, ...] = (200,)
    # (model, response) -> None; response None: the request was in flight, its answer unknown
    apply: Callable[[dict[str, Any], requests.Response | None], None] = lambda m, r: None


class Writer:
    """One client: its own keys under every top-level kind, one request at a time."""

    def __init__(self, wid: int) -> None:
        self.wid = wid
        self.name = f"w{wid}"
        self.model: dict[str, Any] = {}  # kind -> this writer's value there (database view)
        self.inflight: Op | None = None
        self.acked: Counter[str] = Counter()
        self.errors: list[str] = []
        self.etag: str | None = None
        self.serial = 0
        self.rng = random.Random()

    # -- the requests -------------------------------------------------------------------------

    def _next_key(self, round_no: int) -> str:
        self.serial += 1
        return f"r{round_no}n{self.serial}"

    def next_op(self, round_no: int) -> Op:
        rng = self.rng
        key = self._next_key(round_no)
        silent = {"print": "silent"} if rng.random() < 0.4 else {}
        ok = (204,) if silent else (200,)
        w = self.name
        roll = rng.random()
        c_keys = sorted((self.model.get("c") or {}).keys())
        if roll < 0.10 and c_keys:
            victim = rng.choice(c_keys)

            def delete(model: dict[str, Any], resp: requests.Response | None) -> None:
                model.setdefault("c", {}).pop(victim, None)

            return Op("delete", "DELETE", f"/c/{w}/{victim}.json", None, silent, ok=ok, apply=delete)
        if roll < 0.35:
            stamped = rng.random() < 0.5
            value: Any = (
                {"v": self.serial, "at": {".sv": "timestamp"}}
                if stamped
                else rng.choice([self.serial, f"s{self.serial}", self.serial + 0.5, True, {"x": {"y": key}}])
            )

            def put(model: dict[str, Any], resp: requests.Response | None) -> None:
                if resp is not None and resp.status_code == 200:
                    stored = resp.json()
                else:
                    stored = {"v": value["v"], "at": AnyInt()} if stamped else value
                model.setdefault("c", {})[key] = stored

            return Op("put", "PUT", f"/c/{w}/{key}.json", value, silent, ok=ok, apply=put)
        if roll < 0.60:
            body: dict[str, Any] = {
                f"m/{w}/{key}/a": self.serial,
                f"m/{w}/{key}/b": {"v": self.serial, "pad": "p" * rng.randrange(0, 200)},
                f"cnt/{w}/n": {".sv": {"increment": 1}},
                f"cnt/{w}/last": key,
            }
            moved = rng.choice(c_keys) if c_keys and rng.random() < 0.3 else None
            if moved is not None:
                body[f"c/{w}/{moved}"] = None

            def patch(model: dict[str, Any], resp: requests.Response | None) -> None:
                counter = model.setdefault("cnt", {})
                expected_n = counter.get("n", 0) + 1
                if resp is not None and resp.status_code == 200:
                    echoed = resp.json().get(f"cnt/{w}/n")
                    if echoed != expected_n:
                        self.errors.append(
                            f"PATCH {key}: increment answered {echoed!r}, expected {expected_n}"
                        )
                model.setdefault("m", {})[key] = {"a": body[f"m/{w}/{key}/a"], "b": body[f"m/{w}/{key}/b"]}
                counter["n"], counter["last"] = expected_n, key
                if moved is not None:
                    model.setdefault("c", {}).pop(moved, None)

            return Op("patch", "PATCH", "/.json", body, silent, ok=ok, apply=patch)
        if roll < 0.75:
            pushed = {"k": key, "n": self.serial}

            def push(model: dict[str, Any], resp: requests.Response | None) -> None:
                if resp is not None:  # in flight: the name is unknown, see _matches
                    model.setdefault("q", {})[resp.json()["name"]] = pushed

            return Op("push", "POST", f"/q/{w}.json", pushed, {}, ok=(200,), apply=push)
        if roll < 0.88:
            return self._conditional(key)
        blob = f"{key}|" + "x" * rng.randrange(150_000, 300_000)
        slot = f"s{rng.randrange(BLOB_SLOTS)}"

        def put_blob(model: dict[str, Any], resp: requests.Response | None) -> None:
            model.setdefault("b", {})[slot] = blob

        return Op("blob", "PUT", f"/b/{w}/{slot}.json", blob, {"print": "silent"}, ok=(204,), apply=put_blob)

    def _conditional(self, key: str) -> Op:
        current = self.model.get("e")
        n = current["n"] if current else 0
        headers = {"if-match": self.etag or "unknown-yet"}
        if current and n % 5 == 0:

            def cond_delete(model: dict[str, Any], resp: requests.Response | None) -> None:
                model.pop("e", None)
                if resp is not None:
                    self.etag = resp.headers.get("ETag")

            return Op("cond", "DELETE", f"/e/{self.name}.json", None, {}, headers, (200,), cond_delete)
        value = {"n": n + 1, "by": key}

        def cond_put(model: dict[str, Any], resp: requests.Response | None) -> None:
            model["e"] = value
            if resp is not None:
                self.etag = resp.headers.get("ETag")

        return Op("cond", "PUT", f"/e/{self.name}.json", value, {}, headers, (200,), cond_put)

    # -- the thread ---------------------------------------------------------------------------

    def run(self, url: str, round_no: int) -> None:
        """Write until the server goes away; the last request is left in ``self.inflight``."""
        self.etag = None
        with requests.Session() as session:
            while True:
                op = self.next_op(round_no)
                self.inflight = op
                try:
                    if op.kind == "cond" and self.etag is None:
                        self._read_etag(session, url)
                        if self.errors:
                            return
                        op.headers["if-match"] = str(self.etag)
                    resp = session.request(
                        op.method, url + op.path, params={"ns": NS, **op.params},
                        json=op.body, headers={**OWNER, **op.headers}, timeout=10,
                    )  # fmt: skip
                except requests.RequestException:
                    return  # the server is gone: op may or may not have been applied
                if resp.status_code not in op.ok:
                    self.errors.append(f"{op.method} {op.path}: HTTP {resp.status_code} {resp.text[:200]}")
                    return
                if op.kind == "cond" and not resp.headers.get("ETag"):
                    self.errors.append(f"{op.method} {op.path} with if-match: no ETag in the answer")
                    return
                op.apply(self.model, resp)
                self.model = {k: v for k, v in self.model.items() if v is not None and v != {}}
                self.inflight = None
                self.acked[op.kind] += 1

    def _read_etag(self, session: requests.Session, url: str) -> None:
        resp = session.get(
            f"{url}/e/{self.name}.json", params={"ns": NS},
            headers={**OWNER, "X-Firebase-ETag": "true"}, timeout=10,
        )  # fmt: skip
        want = prune(self.model.get("e"))
        if resp.status_code != 200 or resp.json() != want or not resp.headers.get("ETag"):
            self.errors.append(
                f"GET e/{self.name} with ETag: HTTP {resp.status_code} {resp.text[:200]}, want {want!r}"
            )
        self.etag = resp.headers.get("ETag")

    # -- checking -----------------------------------------------------------------------------

    def projection(self, tree: dict[str, Any]) -> dict[str, Any]:
        return {kind: value for kind in KINDS if (value := prune((tree.get(kind) or {}).get(self.name)))}

    def check(self, tree: dict[str, Any]) -> tuple[list[str], str]:
        """Differences between the tree and the acknowledged state (allowing the in-flight
        request either way); then the model becomes what the server durably holds."""
        got = self.projection(tree)
        want = {k: v for k, v in ((k, prune(v)) for k, v in self.model.items()) if v is not None}
        outcome = "none in flight"
        problems = _diff(got, want)
        op, self.inflight = self.inflight, None
        if problems and op is not None:
            applied = copy.deepcopy(self.model)
            op.apply(applied, None)
            if op.kind == "push":
                extra = set(got.get("q") or {}) - set(want.get("q") or {})
                if len(extra) == 1:
                    applied.setdefault("q", {})[extra.pop()] = op.body
            applied = {k: v for k, v in ((k, prune(v)) for k, v in applied.items()) if v is not None}
            problems_applied = _diff(got, applied)
            if not problems_applied:
                problems, outcome = [], "in flight, applied"
            else:
                problems = [f"(not applying the in-flight {op.method} {op.path})", *problems,
                            "(applying it)", *problems_applied]  # fmt: skip
        elif op is not None:
            outcome = "in flight, not applied"
        if not problems:
            self.model = copy.deepcopy(got)
        return problems, outcome


class Observer:
    """Reads the counters while the writers run, by GET and on a stream. Reads and stream
    events only ever show durable data, so what they showed must survive the kill; the
    counters only grow, so each must come back at least as high as last seen."""

    def __init__(self) -> None:
        self.seen: dict[str, tuple[int, str]] = {}  # writer -> (highest n shown, by what)
        self.reads = self.events = 0
        self.errors: list[str] = []
        self._lock = threading.Lock()

    def _saw(self, counters: Any, how: str) -> None:
        with self._lock:
            for w, entry in (counters or {}).items():
                n = entry.get("n") if isinstance(entry, dict) else None
                if isinstance(n, int) and n > self.seen.get(w, (0, ""))[0]:
                    self.seen[w] = (n, how)

    def poll(self, url: str) -> None:
        with requests.Session() as session:
            while True:
                try:
                    resp = session.get(f"{url}/cnt.json", params={"ns": NS}, headers=OWNER, timeout=10)
                except requests.RequestException:
                    return
                if resp.status_code != 200:
                    self.errors.append(f"GET /cnt: HTTP {resp.status_code} {resp.text[:200]}")
                    return
                self._saw(resp.json(), "a GET")
                self.reads += 1
                time.sleep(0.002)

    def listen(self, url: str, opened: threading.Event) -> None:
        try:
            resp = requests.get(
                f"{url}/cnt.json", params={"ns": NS}, stream=True, timeout=(5, 30),
                headers={**OWNER, "Accept": "text/event-stream"},
            )  # fmt: skip
        except requests.RequestException as err:
            self.errors.append(f"stream at /cnt: {err}")
            return
        finally:
            opened.set()
        state: Any = None
        parser = SseParser()
        try:
            while chunk := resp.raw.read1(65536):
                for name, text in parser.feed(chunk):
                    if name in ("put", "patch"):
                        message = json.loads(text)
                        state = apply_event(state, name, message["path"], message["data"])
                        self._saw(state, "a stream event")
                        self.events += 1
        except Exception:  # the server was killed
            return
        finally:
            resp.close()

    def check(self, tree: dict[str, Any]) -> list[str]:
        counters = tree.get("cnt") or {}
        problems = [
            f"{how} showed cnt/{w}/n = {n}, after the restart it is {(counters.get(w) or {}).get('n')}"
            for w, (n, how) in sorted(self.seen.items())
            if not (counters.get(w) or {}).get("n", 0) >= n
        ]
        self.seen.clear()
        return problems


# ---------------------------------------------------------------------------------------------


def _serve_argv(data: Path) -> list[str]:
    return [sys.executable, "-m", "focuscli", "serve", "--port", "0", "--data-dir", str(data)]


def _logs(data: Path) -> tuple[set[str], bool]:
    """The write-ahead logs in the directory, and whether a snapshot is being written."""
    names = os.listdir(data)
    return {n for n in names if n.startswith("wal-")}, "snapshot.json.tmp" in names


def _compacting(data: Path, logs_at_start: set[str]) -> bool:
    """A compaction is under way: the snapshot is being written, or the log was rotated (a
    newer log than any at the start of the round) while older logs are still there."""
    logs, writing = _logs(data)
    return writing or (len(logs) > 1 and max(logs) not in logs_at_start)


def _snapshot_seq(data: Path) -> int | None:
    try:
        with open(data / "snapshot.json", "rb") as f:
            head = f.read(64)
    except FileNotFoundError:
        return None
    return int(head.split(b'"seq":', 1)[1].split(b",", 1)[0])


def test_kill_9_at_random_moments_never_loses_an_acknowledged_write(
    spawn_server: Any, tmp_path: Path, figures: Any
) -> None:
    seed = int(os.environ.get("FOCUS_CRASH_SEED") or random.SystemRandom().randrange(2**32))
    rng = random.Random(seed)
    tag = f"[seed {seed}; rerun with FOCUS_CRASH_SEED={seed}]"
    data = tmp_path / "db"
    writers = [Writer(w) for w in range(WRITERS)]
    observer = Observer()
    for w in writers:
        w.rng = random.Random(f"{seed}-{w.wid}")
    started = time.monotonic()
    outcomes: Counter[str] = Counter()
    kills: Counter[str] = Counter()
    snapshot_seqs: set[int] = set()
    slowest_start = 0.0
    mid_compaction: Counter[str] = Counter()  # kills that left a compaction half done, by phase
    writing_s = 0.0

    for round_no in range(ROUNDS + 1):
        if round_no and rng.random() < 0.2:
            # kill -9 while the server is still starting (importing, recovering, binding)
            early = subprocess.Popen(
                _serve_argv(data), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            time.sleep(rng.uniform(0.1, 0.35))
            early.kill()
            early.wait(timeout=30)
            kills["while starting"] += 1

        t0 = time.monotonic()
        try:
            server = spawn_server("--port", "0", "--data-dir", str(data))
        except AssertionError as err:
            raise AssertionError(f"{tag} restart {round_no}: {err}") from None
        resp = requests.get(f"{server.url}/.json", params={"ns": NS}, headers=OWNER, timeout=30)
        slowest_start = max(slowest_start, time.monotonic() - t0)
        assert resp.status_code == 200, f"{tag} round {round_no}: tree did not load: {resp.text[:300]}"
        tree = resp.json() or {}
        stray = {k for k in tree if k not in KINDS} | {
            f"{k}/{w}" for k in KINDS if isinstance(tree.get(k), dict)
            for w in tree[k] if w not in {x.name for x in writers}
        }  # fmt: skip
        assert not stray, f"{tag} round {round_no}: unexpected data at {sorted(stray)}"
        for w in writers:
            problems, outcome = w.check(tree)
            assert not problems, (
                f"{tag} after kill {round_no}, writer {w.name} (acked so far {dict(w.acked)}): "
                + "; ".join(problems[:12])
            )
            outcomes[outcome] += 1
            # each multi-path PATCH adds one m entry and increments the counter, all or nothing
            updates, counted = len(w.model.get("m") or {}), (w.model.get("cnt") or {}).get("n", 0)
            assert updates == counted, (
                f"{tag} after kill {round_no}, writer {w.name}: {updates} multi-path updates "
                f"but the server-value increment counted {counted}"
            )
        problems = observer.check(tree)
        assert not problems, f"{tag} after kill {round_no}: " + "; ".join(problems[:8])
        if round_no == ROUNDS:
            server.kill()
            break

        logs_at_start, _ = _logs(data)
        seq_at_start = _snapshot_seq(data)
        threads = [
            threading.Thread(target=w.run, args=(server.url, round_no), name=f"writer-{w.name}", daemon=True)
            for w in writers
        ]
        opened = threading.Event()
        watchers = [
            threading.Thread(target=observer.poll, args=(server.url,), name="poller", daemon=True),
            threading.Thread(target=observer.listen, args=(server.url, opened), name="listener", daemon=True),
        ]
        for t in watchers:
            t.start()
        assert opened.wait(10), f"{tag} round {round_no}: the stream at /cnt did not open"
        acked_before = sum(sum(w.acked.values()) for w in writers)
        t_write = time.monotonic()
        for t in threads:
            t.start()
        if rng.random() < 0.4:
            # kill -9 as soon as a compaction is seen under way (the log grows by the large PUTs)
            deadline = time.monotonic() + COMPACTION_WAIT_S
            while not _compacting(data, logs_at_start) and time.monotonic() < deadline:
                assert all(t.is_alive() for t in threads), (
                    f"{tag} round {round_no}: a writer stopped: {[e for w in writers for e in w.errors]}"
                )
                time.sleep(0.0005)
            if time.monotonic() < deadline:
                trigger = "on a compaction"
                time.sleep(rng.uniform(0, 0.03))  # somewhere in it: rotation, snapshot, deletion
            else:
                trigger = "after 3 s of writes"
        else:
            target = acked_before + rng.randrange(30, 500)
            deadline = time.monotonic() + ACK_DEADLINE_S
            while sum(sum(w.acked.values()) for w in writers) < target:
                assert time.monotonic() < deadline, (
                    f"{tag} round {round_no}: fewer than {target - acked_before} writes acknowledged "
                    f"in {ACK_DEADLINE_S} s; writer errors: {[e for w in writers for e in w.errors]}"
                )
                assert all(t.is_alive() for t in threads), (
                    f"{tag} round {round_no}: a writer stopped: {[e for w in writers for e in w.errors]}"
                )
                time.sleep(0.001)
            time.sleep(rng.uniform(0, 0.01))
            trigger = "after 30-500 acks"
        server.proc.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        server.proc.wait(timeout=30)
        writing_s += time.monotonic() - t_write
        kills[trigger] += 1
        if _compacting(data, logs_at_start):
            logs, writing = _logs(data)
            phase = (
                "snapshot being written" if writing
                else "snapshot written, old logs left" if _snapshot_seq(data) != seq_at_start
                else "log rotated, no snapshot yet"
            )  # fmt: skip
            mid_compaction[phase] += 1
        server.proc.communicate(timeout=30)
        for t in threads + watchers:
            t.join(timeout=max(0.0, killed_at + JOIN_DEADLINE_S - time.monotonic()))
            assert not t.is_alive(), f"{tag} round {round_no}: {t.name} still blocked after the kill"
        errors = [e for w in writers for e in w.errors] + observer.errors
        assert not errors, f"{tag} round {round_no}: {errors[:5]}"
        if (seq := _snapshot_seq(data)) is not None:
            snapshot_seqs.add(seq)

    elapsed = time.monotonic() - started
    acked: Counter[str] = sum((w.acked for w in writers), Counter())
    total = sum(acked.values())
    assert acked["patch"] and acked["cond"] and acked["delete"] and acked["push"], f"{tag} {acked}"
    assert len(snapshot_seqs) >= 2, f"{tag} the log was never compacted during the run: {snapshot_seqs}"
    figures(
        f"{sum(kills.values())} kill -9 ({', '.join(f'{v} {k}' for k, v in sorted(kills.items()))}; "
        f"{sum(mid_compaction.values())} left a compaction half done: "
        f"{', '.join(f'{v} {k}' for k, v in sorted(mid_compaction.items()))}), "
        f"{total:,} acknowledged writes ({', '.join(f'{v:,} {k}' for k, v in sorted(acked.items()))}), "
        f"0 lost, 0 partial; in-flight at kill: {outcomes['in flight, applied']} applied, "
        f"{outcomes['in flight, not applied']} not; {observer.reads:,} GETs and {observer.events:,} "
        f"stream events of the counters, none ahead of the disk; {len(snapshot_seqs)} snapshots; "
        f"{total / max(writing_s, 1e-9):,.0f} acked writes/s; slowest restart+full read "
        f"{slowest_start * 1000:.0f} ms; {elapsed:.1f} s; seed {seed}"
    )
