"""The report cache (focuscli/replaycache.py) never changes a report: with a warm cache, after more
actions, a recreated session, a damaged file or a file of another backend, the report is the one
made without it.

Differential: random histories (written with the timer core, as the CLI writes them: each rev's
state record and log entry) are stored in a real `focus serve` a part at a time; after each part
the report of several ranges is made through the cache and without it, at the same server time,
and compared whole (every block, every share, the report's JSON). End to end: `focus report
--json` twice with actions between, against the same command with FOCUS_NO_CACHE=1.
"""

from __future__ import annotations

import hashlib
import json
import marshal
import os
import random
import shutil
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from focuscli import history, period, replaycache, timer
from focuscli import report as core
from focuscli.service import new_with_times
from focuscli.timer import Cycle, TimerState
from tests.conftest import FOCUS_RULES, focus_env

M = 60_000
DAY = 86_400_000
UIDS = ("ana", "bob", "cy")  # cy has left: named by the actions and the roster only


def generate(
    rng: random.Random, n: int, base: int, *, prefix: list[dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """``n`` state records of random actions from ``base`` on (server ms), at most ~n*25 min
    long: every action of the timer, auto-advance on and off, short cycles so that phases run
    out and advance between actions, equal times, a name that changes. ``prefix``: records to
    begin with (the same first revs)."""
    records = list(prefix or [])
    state = TimerState.from_wire(records[-1]) if records else TimerState()
    t = records[-1]["updated_at"] if records else base
    while len(records) < n:
        t += rng.choice((0, 1, 1_000, M, 3 * M, 7 * M, 12 * M, 30 * M, 2 * 60 * M))
        new = act(rng, state, t)
        if new is not None:
            state = new
            records.append(state.to_wire())
    return records


def act(rng: random.Random, state: TimerState, t: int) -> TimerState | None:
    """A random action of a random member on ``state`` at ``t`` (as stored: times resolved,
    the actor's name then), or None when it makes no sense there."""
    by = rng.choice(UIDS)
    name = f"{by}{rng.choice(('', '', '2'))}"
    roll = rng.random()
    try:
        if roll < 0.25:
            new = timer.start(state, by, t, label=rng.choice((None, "spec", "review")),
                              phase=rng.choice(("focus", "focus", "short_break", "long_break")),
                              duration_ms=rng.choice((None, 5 * M, 20 * M)))  # fmt: skip
        elif roll < 0.35:
            new = timer.pause(state, by, t)
        elif roll < 0.45:
            new = timer.resume(state, by, t)
        elif roll < 0.55:
            new = timer.stop(state, by, t)
        elif roll < 0.65:
            new = timer.skip(state, by, t)
        elif roll < 0.75:
            new = timer.extend(state, by, t, rng.choice((M, 10 * M)))
        elif roll < 0.83:
            new = timer.relabel(state, by, t, rng.choice(("spec", "docs", "")))
        elif roll < 0.95:
            cycle = Cycle(focus_ms=rng.choice((4, 10, 25)) * M, short_break_ms=2 * M, long_break_ms=5 * M,
                          long_every=rng.choice((1, 2, 4)), auto_advance=rng.random() < 0.6)  # fmt: skip
            new = timer.configure(state, by, t, cycle)
        else:
            new = timer.reset(state, by, t)
    except timer.TimerError:
        return None
    return replace(new_with_times(new, t), updated_by_name=name)


def log_entry(record: dict[str, Any]) -> dict[str, Any]:
    entry = {"action": record["action"], "by": record["updated_by"], "name": record["updated_by_name"],
             "at": record["updated_at"], "rev": record["rev"]}  # fmt: skip
    if record["action"] in ("start", "skip"):
        entry.update(phase=record["phase"], ms=record["duration_ms"])
    return entry


def session_node(
    records: list[dict[str, Any]], created: int, presence: dict[str, Any]
) -> dict[str, Any]:
    return {
        "meta": {"owner": "ana", "created_at": created},
        "members": {u: {"joined_at": created, "name": u} for u in ("ana", "bob")},
        "state": records[-1],
        "states": {str(r["rev"]): r for r in records},
        "log": {str(r["rev"]): log_entry(r) for r in records},
        "presence": presence,
        "roster": {f"join-{u}-{created}": {"uid": u, "name": f"{u} then", "event": "joined", "at": created, "by": u} for u in UIDS},
    }  # fmt: skip


def spans(rng: random.Random, base: int, now: int) -> dict[str, Any]:
    """Presence: closed spans, stale ones, and one still fresh at ``now``."""
    out: dict[str, Any] = {}
    for i in range(rng.randint(0, 12)):
        start = rng.randint(base - DAY, now - M)
        seen = min(now, start + rng.randint(M, 5 * 60 * M))
        span: dict[str, Any] = {
            "uid": rng.choice(UIDS),
            "name": "watcher",
            "from": start,
            "seen": seen,
        }
        if rng.random() < 0.6:
            span["to"] = seen
        out[f"span{i:04d}{rng.randrange(10**6):06d}"] = span
    out["span-fresh-000"] = {"uid": "bob", "name": "bob", "from": now - 90 * M, "seen": now - 5_000}
    return out


def report_both(
    focus: Any, cache_dir: Path, url: str, sid: str, start: int, end: int, *,
    now: int | None = None, tz: tzinfo = UTC,
) -> tuple[bool, Any]:  # fmt: skip
    """Whether the cache answered, and the report; asserts it is the one made without it.
    ``now``: the server's time (default: asked); ``tz``: the time zone of the report's days."""
    now = focus.server_now() if now is None else now
    data, _, horizon = history.read(focus, sid, start, end, now=now)
    expected = core.analyse(data, start=start, end=end, now=now, horizon=horizon)
    got = replaycache.report(focus, cache_dir, url, sid, start, end, now=now, tz=tz)
    want = core.summarise(expected, start=start, end=end, now=now, tz=tz)
    if got is None:
        return False, want
    seen, at = got
    assert at == now
    # every block's figures, each member's share of it included, summed by the day it began
    assert seen.blocks == []
    assert dict(seen.days) == core.day_sums(expected.blocks, tz)
    assert (seen.names, seen.members, seen.inexact) == (
        expected.names,
        expected.members,
        expected.inexact,
    )
    assert core.summarise(seen, start=start, end=end, now=now, tz=tz) == want
    return True, want


def content(cache: dict[str, Any] | None) -> dict[str, Any]:
    """What a cache holds, whatever the time it was written (``settled``, ``spans_to``) and
    however marshal shared its objects (the bytes of its chunks)."""
    assert cache is not None
    blocks = [t for *_, blob in cache["chunks"] for t in marshal.loads(blob)]
    return {**{k: v for k, v in cache.items() if k not in ("settled", "spans_to", "chunks")}, "blocks": blocks}


def ranges(rng: random.Random, base: int, now: int) -> list[tuple[int, int]]:
    """The whole history, recent days up to now and beyond, random ones (some end before now:
    the cache does not answer those)."""
    out = [(base - DAY, now + DAY), (now - 2 * DAY, now + 3_600_000)]
    for _ in range(3):
        a = rng.randint(base - 60 * M, now)
        out.append((a, a + rng.choice((60 * M, DAY, 7 * DAY))))
    return out


@pytest.mark.parametrize("seed", range(24))
def test_a_warm_cache_gives_the_report_made_without_it(
    seed: int, rest: Any, member: Any, server_url: str, ns: str, tmp_path: Path
) -> None:
    rng = random.Random(seed)
    focus = member("ana")
    url, sid, cache_dir = f"{server_url}?ns={ns}", f"team{seed}", tmp_path / "cache"
    now = focus.server_now()
    n = rng.randint(3, 120)
    base = now - n * 25 * M - rng.randint(1, 3) * DAY
    before = rng.getstate()
    records = generate(rng, n, base)
    if records[-1]["updated_at"] >= now - M:  # the same history, earlier: it ends before now
        base -= records[-1]["updated_at"] - now + rng.randint(2, 6 * 60) * M
        rng.setstate(before)
        records = generate(rng, n, base)
    assert records[-1]["updated_at"] < now
    presence = spans(rng, base, now)
    cuts = sorted({*rng.sample(range(1, n + 1), min(n, 3)), n})
    assert (
        rest.put(
            f"/sessions/{sid}.json", session_node(records[: cuts[0]], base, presence)
        ).status_code
        == 200
    )
    answered = 0
    stored = cuts[0]
    for cut in cuts:
        if cut > stored:  # more actions: appended, as the CLI appends them
            more: dict[str, Any] = {"state": records[cut - 1]}
            for r in records[stored:cut]:
                more[f"states/{r['rev']}"] = r
                more[f"log/{r['rev']}"] = log_entry(r)
            assert rest.patch(f"/sessions/{sid}.json", more).status_code == 200
            stored = cut
        for start, end in ranges(rng, base, now):
            answered += report_both(focus, cache_dir, url, sid, start, end)[0]
        path = replaycache.path_for(cache_dir, url, sid)
        cache = replaycache.load(path, (url, sid, base, records[0]["updated_at"]))
        assert cache is not None and cache["pending"] == records[cut - 1]  # read up to the last rev
        assert path.stat().st_mode & 0o777 == 0o600
    assert answered >= 2 * len(cuts)  # the cache answered (whole history, recent days)
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left

    # a damaged file (cut short, a flipped byte, garbage): not used, made again
    whole, identity = path.read_bytes(), (url, sid, base, records[0]["updated_at"])
    kept = replaycache.load(path, identity)

    def whole_file(data: dict[str, Any]) -> bytes:  # a digest that matches: not this shape all the same
        payload = marshal.dumps(data)
        return replaycache.MAGIC + hashlib.sha256(payload).digest() + payload

    assert kept is not None and kept["chunks"]
    for damaged in (
        whole[: len(whole) // 2],
        whole[:-7] + bytes([whole[-7] ^ 1]) + whole[-6:],
        b"x" * 100,
        b"",
        whole_file({**kept, "pending": 5}),
        whole_file({**kept, "days": {k: v[:-1] for k, v in kept["days"].items()}}),  # an older layout
        whole_file({**kept, "chunks": [(0, 2**62, 3, b"not marshal")]}),
        whole_file({**kept, "spans": [("uid",)] * len(kept["spans"])}),
    ):
        path.write_bytes(damaged)
        assert report_both(focus, cache_dir, url, sid, base - DAY, now + DAY)[0]
        assert content(replaycache.load(path, identity)) == content(kept)  # made again whole

    # the cache of the same session name on another backend: not this one's
    other = replaycache.path_for(cache_dir, "http://127.0.0.1:9/?ns=elsewhere", sid)
    shutil.copy(path, other)
    assert (
        replaycache.load(
            other, ("http://127.0.0.1:9/?ns=elsewhere", sid, base, records[0]["updated_at"])
        )
        is None
    )

    # the session deleted and made again with the same name, the same creation time and the
    # same first revs, then a different history: the cache of the old one is not used
    keep = rng.randint(1, n)
    again = generate(
        random.Random(seed + 1000), n + rng.randint(0, 20), base, prefix=records[:keep]
    )
    again = [r for r in again if r["updated_at"] < now - M]  # all before now
    assert rest.delete(f"/sessions/{sid}.json").status_code == 200
    assert rest.put(f"/sessions/{sid}.json", session_node(again, base, presence)).status_code == 200
    for start, end in ranges(rng, base, now):
        report_both(focus, cache_dir, url, sid, start, end)
    assert report_both(focus, cache_dir, url, sid, base - DAY, now + DAY)[0]
    assert replaycache.load(path, (url, sid, base, again[0]["updated_at"]))["pending"] == again[-1]  # type: ignore[index]


ZONES = (UTC, ZoneInfo("America/New_York"), ZoneInfo("Asia/Kolkata"))  # DST on 2026-03-08; +05:30


@pytest.mark.parametrize("seed", range(4))
def test_days_and_spans_kept_as_time_goes_on(
    seed: int, rest: Any, member: Any, server_url: str, ns: str, tmp_path: Path
) -> None:
    """Time goes on (the server's time as a report reads it, from days before a DST change to
    days after it): actions come, members open presence spans, keep them going while fresh and
    close them or let them go stale, as the rules let them; now and then reports of recent days,
    of whole days in three time zones and of everything, through the cache and without it, are
    the same. The cache keeps the figures of whole days and the presence spans that can no
    longer change, and is used."""
    rng = random.Random(seed)
    focus = member("ana")
    url, sid, cache_dir = f"{server_url}?ns={ns}", "team", tmp_path / "cache"
    t = int(datetime(2026, 3, 4, 9, tzinfo=UTC).timestamp() * 1000) + rng.randrange(DAY)
    created = t
    state, records, presence = TimerState(), [], {}
    node = {"meta": {"owner": "ana", "created_at": created},
            "members": {u: {"joined_at": created, "name": u} for u in ("ana", "bob")}}  # fmt: skip
    assert rest.put(f"/sessions/{sid}.json", node).status_code == 200
    answered = 0
    for step in range(110):
        t += rng.choice((5_000, 20_000, 20_000, 40_000, 40_000, 50_000, 10 * M, 2 * 60 * M, 9 * 60 * M, DAY))
        update: dict[str, Any] = {}
        for _ in range(rng.choice((0, 0, 1, 3))):
            new = act(rng, state, t)
            if new is not None:
                state = new
                record = state.to_wire()
                records.append(record)
                update.update({"state": record, f"states/{state.rev}": record, f"log/{state.rev}": log_entry(record)})
        for key, span in presence.items():  # as a watch does, within the rules
            fresh = "to" not in span and t - span["seen"] <= core.PRESENCE_FRESH_MS
            if fresh and rng.random() < 0.8:
                span["seen" if rng.random() < 0.85 else "to"] = t
                update[f"presence/{key}"] = dict(span)
        if rng.random() < 0.4:
            key = f"span{step:04d}{rng.randrange(10**6):06d}"
            who = rng.choice((*UIDS, "dee", "dee"))  # dee watches and never acts
            presence[key] = {"uid": who, "name": f"{who} watching", "from": t, "seen": t}
            update[f"presence/{key}"] = dict(presence[key])
        if update:
            assert rest.patch(f"/sessions/{sid}.json", update).status_code == 200
        if not records or rng.random() < 0.6:
            continue
        tz = ZONES[step % len(ZONES)]
        today = datetime.fromtimestamp(t / 1000, tz).date()
        start, end = rng.choice((
            (t - 7 * DAY, t),
            (period.midnight(today - timedelta(days=rng.randint(1, 10)), tz), t),
            (created - DAY, t + DAY),
        ))  # fmt: skip
        answered += report_both(focus, cache_dir, url, sid, start, end, now=t, tz=tz)[0]
    cache = replaycache.load(replaycache.path_for(cache_dir, url, sid), (url, sid, created, records[0]["updated_at"]))
    assert cache is not None and cache["days"] and cache["spans"]
    assert answered >= 10


def test_a_span_seen_before_the_range_and_ended_in_it(
    rest: Any, member: Any, server_url: str, ns: str, tmp_path: Path
) -> None:
    """A presence span whose last heartbeat came before a range's start but whose clean end came
    after it (the rules allow PRESENCE_FRESH_MS between them) counts in that range, with the
    cache and without it: who attended a block does not depend on the range asked for."""
    focus = member("ana")
    url, cache_dir = f"{server_url}?ns={ns}", tmp_path / "cache"
    now = focus.server_now()
    s = now - 2 * DAY
    started = timer.start(TimerState(), "ana", s, label="spec", duration_ms=25 * M)
    records = [replace(new_with_times(started, s), updated_by_name="ana").to_wire()]
    span = {"uid": "dee", "name": "Dee", "from": s - 60_000, "seen": s - 30_000, "to": s + 10_000}
    assert rest.put("/sessions/team.json", session_node(records, s - 3 * DAY, {"span-dee-0001": span})).status_code == 200
    assert report_both(focus, cache_dir, url, "team", s - 3 * DAY, now)[0]  # makes the cache
    for start in (s - 5_000, s - 3 * DAY):
        answered, got = report_both(focus, cache_dir, url, "team", start, now)
        assert answered
        dee = next(m for m in got["members"] if m["uid"] == "dee")
        assert (dee["name"], dee["focus_ms"], dee["completed"]) == ("Dee", 10_000, 1)


def test_a_block_run_past_the_range_on_a_day_kept_whole(
    rest: Any, member: Any, server_url: str, ns: str, tmp_path: Path
) -> None:
    """A range that ends before now, whose last block (on a day whose figures the cache keeps)
    ran past its end: the presence spans it reads reach as far as that block, with the cache as
    without it (here: the name a watcher had then)."""
    focus = member("ana")
    url, cache_dir = f"{server_url}?ns={ns}", tmp_path / "cache"
    midnight = int(datetime(2026, 3, 10, tzinfo=UTC).timestamp() * 1000)
    at = midnight - 10 * M  # 23:50, 25 minutes: it ends at 00:15 the next day
    started = timer.start(TimerState(), "ana", at, label="spec", duration_ms=25 * M)
    states = [new_with_times(started, at)]
    for action, when in ((timer.stop, 30), (timer.start, 60), (timer.pause, 70)):  # the next day
        states.append(new_with_times(action(states[-1], "bob", midnight + when * M), midnight + when * M))
    records = [replace(state, updated_by_name=state.updated_by).to_wire() for state in states]
    span = {"uid": "cy", "name": "Cy watching", "from": midnight + 5 * M, "seen": midnight + 10 * M, "to": midnight + 10 * M}
    node = session_node(records, midnight - 3 * DAY, {"span-cy-00001": span})
    assert rest.put("/sessions/team.json", node).status_code == 200
    now = midnight + 12 * 60 * M
    assert report_both(focus, cache_dir, url, "team", midnight - 3 * DAY, now, now=now)[0]  # makes the cache
    answered, got = report_both(focus, cache_dir, url, "team", midnight - 3 * DAY, midnight, now=now)
    assert answered
    cy = next(m for m in got["members"] if m["uid"] == "cy")
    assert (cy["name"], cy["focus_ms"]) == ("Cy watching", 5 * M)


def test_histories_the_cache_does_not_answer(
    rest: Any, member: Any, server_url: str, ns: str, tmp_path: Path
) -> None:
    """Log-only revs (clients from before state records) and ranges ending before now: the
    report is made without the cache (and is the same)."""
    focus = member("ana")
    url, cache_dir = f"{server_url}?ns={ns}", tmp_path / "cache"
    now = focus.server_now()
    base = now - 3 * DAY
    records = generate(random.Random(7), 40, base)
    node = session_node(records, base, {})
    for rev in ("3", "4"):
        del node["states"][rev]
    assert rest.put("/sessions/gappy.json", node).status_code == 200
    answered, want = report_both(focus, cache_dir, url, "gappy", base - DAY, now + DAY)
    assert not answered and want["inexact_actions"] == 2
    assert not replaycache.path_for(cache_dir, url, "gappy").exists()
    assert rest.put("/sessions/past.json", session_node(records, base, {})).status_code == 200
    assert not report_both(focus, cache_dir, url, "past", base - DAY, base + DAY)[0]


def _report(env: dict[str, str], day: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "focuscli", "report", "--json", "--from", day, "--to", day, "--session", "team"],
        env=env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert (done.returncode, done.stderr) == (0, "")
    result = json.loads(done.stdout)
    for moving in ("now", "now_iso", "to", "to_iso"):  # a range up to now ends now
        result.pop(moving)
    return result


def _act(env: dict[str, str], *args: str) -> None:
    done = subprocess.run([sys.executable, "-m", "focuscli", *args, "--session", "team"], env=env,
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)  # fmt: skip
    assert done.returncode == 0, done.stderr


def test_focus_report_twice_with_actions_between(
    rest: Any, member: Any, server_url: str, ns: str, tmp_path: Path
) -> None:
    rest.set_rules(FOCUS_RULES)
    focus = member("ana")
    now = focus.server_now()
    today = datetime.fromtimestamp(now / 1000, UTC).date()
    base = int(datetime(today.year, today.month, today.day, tzinfo=UTC).timestamp() * 1000)
    records = [
        r for r in generate(random.Random(3), 30, base - DAY) if r["updated_at"] < now - 60 * M
    ]
    last = TimerState.from_wire(records[-1])
    if last.status != "idle":  # the team stopped 50 minutes ago
        stopped = timer.stop(last, "bob", now - 50 * M)
        records.append(
            replace(new_with_times(stopped, now - 50 * M), updated_by_name="bob").to_wire()
        )
    data = {"sessions": {"team": session_node(records, base - DAY, {})},
            "users": {u: {"sessions": {"team": {"joined_at": base - DAY}}} for u in ("ana", "bob")}}  # fmt: skip
    assert rest.patch("/.json", data).status_code == 200
    url = f"{server_url}?ns={ns}"
    env = focus_env(url, "ana", tmp_path / "ana", TZ="UTC")
    plain = {**focus_env(url, "ana", tmp_path / "plain", TZ="UTC"), "FOCUS_NO_CACHE": "1",
             "XDG_CACHE_HOME": str(tmp_path / "plain" / "cache")}  # fmt: skip
    day = today.isoformat()
    assert _report(env, day) == _report(plain, day)
    cached = list((tmp_path / "ana" / "cache" / "focus" / "reports").iterdir())
    assert len(cached) == 1 and cached[0].stat().st_mode & 0o777 == 0o600
    before = cached[0].read_bytes()
    _act(env, "start", "--label", "cache")
    _act(env, "pause")
    _act(env, "stop")
    first = _report(env, day)
    assert first == _report(plain, day)
    assert first["totals"]["actions"] == sum(1 for r in records if r["updated_at"] >= base) + 3
    assert cached[0].read_bytes() != before  # the new revs were added to the cache
    assert not (tmp_path / "plain" / "cache").exists()  # FOCUS_NO_CACHE=1: nothing written
    assert _report(env, (today - timedelta(days=1)).isoformat()) == _report(
        plain, (today - timedelta(days=1)).isoformat()
    )
    assert os.listdir(tmp_path / "ana" / "cache" / "focus" / "reports") == [cached[0].name]


def test_a_short_range_of_a_long_history_makes_no_cache(
    rest: Any, member: Any, server_url: str, ns: str, tmp_path: Path
) -> None:
    """With no cache, a range under 1/16 of the history's time is read by range alone (reading
    all of it would be slower); a longer one makes the cache, which the short one then uses."""
    focus = member("ana")
    url, cache_dir = f"{server_url}?ns={ns}", tmp_path / "cache"
    now = focus.server_now()
    base = now - 40 * DAY
    records = generate(random.Random(11), 60, base)
    assert rest.put("/sessions/long.json", session_node(records, base, {})).status_code == 200
    path = replaycache.path_for(cache_dir, url, "long")
    assert not report_both(focus, cache_dir, url, "long", now - DAY, now + DAY)[0]
    assert not path.exists()
    assert report_both(focus, cache_dir, url, "long", base - DAY, now + DAY)[0]
    assert path.exists()
    assert report_both(focus, cache_dir, url, "long", now - DAY, now + DAY)[0]
