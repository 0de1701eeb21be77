"""The replayed history of a session, kept on disk so that a report reads and replays only what is new.

``states/<rev>`` records are append-only (the rules refuse to change or remove one), so the
blocks replayed from revs 1..N are a pure function of them: the cache keeps the replay as it
stands after rev N was fed (`focuscli.blocks.Replay`: its final blocks, the block still open and
rev N's record, whose run up to the next rev or the horizon is not made yet), and for each rev its
server time and who took it (the report's action counts and names). A report reads the records
from rev N on (one ``orderBy="$key"`` query: rev keys are 32-bit integers, which RTDB orders as
numbers), checks that rev N's record is the one the cache holds and that the session is the same
one (its ``meta/created_at`` and rev 1's time), feeds the new revs, writes the cache back and
finishes the replay at the horizon. Also kept, as final under the rules: presence spans last
seen more than PRESENCE_FRESH_MS (plus a margin) ago, which nobody may move on or end any more
(a report reads only the spans seen since), and the figures (`report.day_sums`) of whole days
on which no block can begin any more and whose blocks ran their last that long ago (a report
sums those instead of attributing their blocks). The roster and the members are read as without
the cache. Anything that does not fit (another version, a damaged file,
a recreated session, a history with log-only or unreadable revs, a range that ends before now)
means the report is made as without the cache: never a different report.

The file: ``$XDG_CACHE_HOME/focus/reports/<hash of database URL and session>`` (~/.cache/focus), mode 0600, written
whole to a temporary file then renamed; ``FOCUS_NO_CACHE=1`` turns the cache off; removing the
directory clears it.
"""

from __future__ import annotations

import bisect
import contextlib
import hashlib
import marshal
import os
import sys
from array import array
from collections.abc import Mapping
from dataclasses import replace
from datetime import timedelta, tzinfo
from pathlib import Path
from typing import Any

from focuscli import blocks as blk
from focuscli import history as hist
from focuscli import period
from focuscli import report as core
from focuscli.blocks import Block, Replay, Step

VERSION = 3
MAGIC = b"focus-replay\n"
MAX_BYTES = 64 * 1024 * 1024  # a bigger cache is not written (a year of a busy team is ~3 MB)
MAX_FILES = 64  # at most this many sessions' caches: the least recently used go
CHUNK = 1024  # final blocks marshalled together (a report unmarshals the chunks it needs)
MAX_DAYS = 8000  # whole days' figures kept (a decade, in two time zones); more: all dropped
SETTLE_MARGIN_MS = 15 * 60_000  # server time estimates err by far less than this
SPANS_REFRESH_MS = 3_600_000  # the cache is written again for presence spans alone this often
ENV_OFF = "FOCUS_NO_CACHE"
# With no cache, one is made (the whole history read and replayed) only for a range at least
# this share of the history's time: a week of a year is read by range until a longer report.
COLD_SHARE = 16


def enabled(environ: Mapping[str, str]) -> bool:
    return environ.get(ENV_OFF, "") in ("", "0")


def path_for(cache_dir: Path, url: str, session: str) -> Path:
    """The cache of ``session`` on the database at ``url`` (namespace included), in
    ``cache_dir`` ($XDG_CACHE_HOME/focus, focuscli.settings)."""
    key = hashlib.blake2b(f"{url}\0{session}".encode(), digest_size=16).hexdigest()
    return cache_dir / "reports" / key


# ---------------------------------------------------------------------------------------------
# The file


def _freeze(block: Block) -> tuple[Any, ...]:
    return (
        block.phase, block.round, block.start, block.rev, block.length_ms, block.label, block.end,
        block.outcome, block.runs, block.actors, block.changes,
    )  # fmt: skip


def _thaw(t: tuple[Any, ...]) -> Block:
    phase, rnd, start, rev, length, label, end, outcome, runs, actors, changes = t
    return Block(
        phase,
        rnd,
        start,
        rev,
        length,
        label,
        end,
        outcome,
        [list(r) for r in runs],
        dict(actors),
        changes,
    )


def load(path: Path, identity: tuple[Any, ...]) -> dict[str, Any] | None:
    """The cache in ``path`` when it is whole, of this version and of this session, else None."""
    try:
        raw = path.read_bytes()
    except OSError:
        return None
    head = len(MAGIC) + 32
    if (
        not raw.startswith(MAGIC)
        or hashlib.sha256(raw[head:]).digest() != raw[len(MAGIC) : head]
    ):
        return None
    try:
        data = marshal.loads(raw[head:])
    except (EOFError, ValueError, TypeError):
        return None
    if not isinstance(data, dict) or data.get("version") != (VERSION, *sys.version_info[:2]):
        return None
    if data.get("identity") != identity or any(not isinstance(data.get(k), t) for k, t in _SHAPE.items()):
        return None
    return data


_SHAPE: dict[str, type | tuple[type, ...]] = {
    "chunks": list, "current": (tuple, type(None)), "pending": dict, "ats": bytes, "bys": bytes,
    "uids": list, "named": dict, "days": dict, "span_keys": list, "spans": list, "spans_from": int,
    "spans_to": int,
    "settled": int,
}  # fmt: skip


def save(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` to ``path`` atomically (tmp + rename), mode 0600; a failure leaves the
    cache as it was (the report does not depend on it)."""
    payload = marshal.dumps(data)
    if len(payload) > MAX_BYTES:
        return
    blob = MAGIC + hashlib.sha256(payload).digest() + payload
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, blob)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        _prune(path.parent)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()


def _prune(folder: Path) -> None:
    files = [p for p in folder.iterdir() if not p.name.startswith(".")]
    if len(files) <= MAX_FILES:
        return
    files.sort(key=lambda p: p.stat().st_mtime)
    for old in files[: len(files) - MAX_FILES]:
        old.unlink()


# ---------------------------------------------------------------------------------------------
# What a report can take from the cache beyond the replay


def _add_frozen(chunks: list[tuple[int, int, int, bytes]], blocks: list[tuple[Any, ...]]) -> list[tuple[int, int, int, bytes]]:
    """``chunks`` with ``blocks`` (`_freeze`d, in replay order) appended: the final blocks kept in
    chunks of at most CHUNK, each marshalled apart with its lowest and highest start, so that a
    report unmarshals only the chunks its range needs."""
    out = list(chunks)
    if out and out[-1][2] < CHUNK:
        blocks = [*marshal.loads(out.pop()[3]), *blocks]
    for i in range(0, len(blocks), CHUNK):
        part = blocks[i : i + CHUNK]
        starts = [t[2] for t in part]
        out.append((min(starts), max(starts), len(part), marshal.dumps(part)))
    return out


def _frozen_in(chunks: list[tuple[int, int, int, bytes]], spans: list[tuple[int, int]]) -> list[Block]:
    """The final blocks that began in one of ``spans`` ([from, to) server ms), in replay order."""
    out = []
    for lo, hi, _, blob in chunks:
        if any(lo < b and hi >= a for a, b in spans):
            out += [Block(*t) for t in marshal.loads(blob) if any(a <= t[2] < b for a, b in spans)]
    return out


def _gaps(start: int, end: int, done: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """[start, end) without the (sorted, disjoint) ``done`` spans."""
    out, at = [], start
    for a, b in done:
        if a > at:
            out.append((at, a))
        at = max(at, b)
    if end > at:
        out.append((at, end))
    return out


def _days(start: int, end: int, tz: tzinfo | None) -> list[tuple[str, int, int]]:
    """(date, its first ms, the next day's first ms) of each whole day in [start, end) in ``tz``."""
    out = []
    day = period.local_date(start, tz)
    last = period.local_date(max(start, end - 1), tz)
    while day <= last:
        a, b = period.midnight(day, tz), period.midnight(day + timedelta(days=1), tz)
        if a >= start and b <= end:
            out.append((day.isoformat(), a, b))
        day += timedelta(days=1)
    return out


def _settled_days(
    blocks: list[tuple[Block, dict[str, int]]], parts: dict[str, Any], whole: list[tuple[str, int, int]],
    settled: int, tz: tzinfo | None,
) -> dict[tuple[str, int, int], Any]:  # fmt: skip
    """The figures (`report.day_sums`) of the whole days that can no longer change, keyed by
    (date, first ms, next day's first ms): no block can begin on them any more (they ended
    before ``settled``, the earliest a block still to come can begin), and every block begun on
    them ran its last before ``settled`` (so that no presence span still open can add to who
    attended it). A day is kept only when its blocks are exactly those begun in its span of
    time (time zones whose days are not one interval each keep nothing)."""
    starts = [b.start for b, _ in blocks]
    if any(x > y for x, y in zip(starts, starts[1:], strict=False)):
        return {}
    out = {}
    for d, a, b in whole:
        part = parts.get(d)
        if part is None or b > settled:
            continue
        i, j = bisect.bisect_left(starts, a), bisect.bisect_left(starts, b)
        if j - i != part[core.BLOCKS]:
            continue
        if all(core.day_of(block.start, tz) == d and block.runs and block.runs[-1][1] <= settled for block, _ in blocks[i:j]):
            out[(d, a, b)] = part
    return out


# ---------------------------------------------------------------------------------------------
# The report


def report(
    focus: Any, cache_dir: Path | None, url: str, session: str, start: int, end: int, *,
    now: int | None = None, tz: tzinfo | None = None,
) -> tuple[core.History, int] | None:  # fmt: skip
    """(`report.History` of [start, end), now) through the cache, or None when the cache
    cannot answer exactly as `history.read` + `report.analyse` would (the caller does that).
    ``now``: the server's time (default: asked); ``tz``: the time zone of the report's days
    (None: local time). The History's blocks are all summed into its ``days``."""
    if cache_dir is None:
        return None
    members = focus.members(session)
    now = focus.server_now() if now is None else now
    horizon = min(now, end + core.LOOKAHEAD_MS)
    if horizon != now:
        return None  # a range that ends before now: its replay stops at its horizon
    base = f"sessions/{session}"
    db = focus.db
    with hist.translated(focus, session):
        created = db.get(f"{base}/meta/created_at")
        first = db.get(f"{base}/states/1/updated_at")
    if not isinstance(created, int) or not isinstance(first, int):
        return None
    identity = (url, session, created, first)
    path = path_for(cache_dir, url, session)
    cached = load(path, identity)
    args = (focus, path, identity, session, start, end, now, tz, members)
    if cached is not None:
        try:
            return _answer(*args, cached)
        except (KeyError, TypeError, ValueError, IndexError, AttributeError, EOFError):
            with contextlib.suppress(OSError):  # not the shape this version writes: made again
                path.unlink()
    return _answer(*args, None)


def _answer(
    focus: Any, path: Path, identity: tuple[Any, ...], session: str, start: int, end: int, now: int,
    tz: tzinfo | None, members: Any, cached: dict[str, Any] | None,
) -> tuple[core.History, int] | None:  # fmt: skip
    """`report`, with the cache loaded (or None)."""
    base = f"sessions/{session}"
    db = focus.db
    horizon = now
    first = identity[3]
    fresh = _resume(focus, session, base, cached, horizon) if cached is not None else None
    if fresh is None:
        if (now - start) * COLD_SHARE < now - first:
            return None  # a short range of a long history: its own read is cheaper than all of it
        cached = None
        fresh = _resume(focus, session, base, None, horizon)
        if fresh is None:
            return None
    replay, final, ats, bys, uids, named, pending_record = fresh
    if replay.pending is None:
        return None
    chunks = _add_frozen(cached["chunks"] if cached is not None else [], final)
    # Presence spans and whole days' figures are kept only while the server's time goes on.
    settled = now - core.PRESENCE_FRESH_MS - SETTLE_MARGIN_MS
    trusted = cached is not None and cached["settled"] <= settled
    keep_days: dict[tuple[str, int, int], Any] = dict(cached["days"]) if trusted else {}  # type: ignore[index]

    # the blocks: those of whole days summed already, the others from the chunks and the replay
    # Blocks before the open one are final; the open one and those after it (begun by the last
    # rev's run, or by actions to come) begin at its start or the last rev's time at the earliest.
    # (Not the block the timer is in at the horizon: history may still be stored in the past.)
    frontier = min(now, replay.pending.at, *([replay.current.start] if replay.current is not None else []))
    current = marshal.loads(marshal.dumps(_freeze(replay.current))) if replay.current is not None else None
    live = replay.finish(horizon)  # (it changes the current block: what is kept is the copy above)
    whole = _days(start, end, tz)
    done = {d: keep_days[(d, a, b)] for d, a, b in whole if (d, a, b) in keep_days and b <= frontier}
    gaps = _gaps(start, end, [(a, b) for d, a, b in whole if d in done])
    # (read only from here: the lists and dicts unmarshalled for this run need no copies)
    chosen = _frozen_in(chunks, gaps) + [b for b in live if any(x <= b.start < y for x, y in gaps)]

    # presence: the spans that can no longer change from the cache, the others read
    lo = start - core.PRESENCE_FRESH_MS
    reuse = trusted and cached["spans_from"] <= lo  # type: ignore[index]
    kept_keys: list[str] = cached["span_keys"] if reuse else []  # type: ignore[index]
    kept_spans: list[tuple[Any, ...]] = cached["spans"] if reuse else []  # type: ignore[index]
    read_from = max(lo, cached["spans_to"]) if reuse else lo  # type: ignore[index]
    with hist.translated(focus, session):
        presence = db.query(f"{base}/presence", order_by="seen", start_at=read_from)
        roster = db.query(f"{base}/roster", order_by="at", start_at=start, end_at=horizon)
    new_spans = {}
    if isinstance(presence, dict):
        for key, raw in presence.items():
            one = core.span_of(raw, now)
            if one is not None:
                new_spans[key] = one
    if not new_spans.keys().isdisjoint(kept_keys):  # a span kept as final changed: an administrator's edit
        pairs = [(k, s) for k, s in zip(kept_keys, kept_spans, strict=True) if k not in new_spans]
        kept_keys, kept_spans = [k for k, _ in pairs], [s for _, s in pairs]
    present = [s[:4] for s in kept_spans if s[4] >= lo]
    present += [s[:4] for s in new_spans.values()]
    present.sort(key=core.span_order)

    # the revs a read without the cache takes: those in [start, horizon] and the one before
    m = len(ats)
    window = max(1, min(bisect.bisect_left(ats, start), m))
    names = {uids[u]: name for u, (rev, name) in named.items() if rev >= window}
    actions: dict[str, int] = {}
    for u in bys[bisect.bisect_left(ats, start) : bisect.bisect_left(ats, end)]:
        if u >= 0:
            actions[uids[u]] = actions.get(uids[u], 0) + 1
    history = {"roster": roster if isinstance(roster, dict) else {}, "members": members}
    seen = core.attend(
        chosen, history, start=start, end=end, now=now, named=names, actions=actions, present=present,
        days=done,
    )  # fmt: skip
    parts = core.day_sums(seen.blocks, tz)

    # what the next report can take from here
    added = _settled_days(seen.blocks, parts, whole, min(settled, frontier), tz)
    added = {k: v for k, v in added.items() if k not in keep_days}
    if len(keep_days) + len(added) > MAX_DAYS:
        keep_days = {}
    keep_days.update(added)
    spans_from = min(lo, cached["spans_from"]) if reuse else lo  # type: ignore[index]
    now_final = [(k, s) for k, s in new_spans.items() if s[4] < settled]
    grown = (
        cached is None
        or cached["pending"] != pending_record
        or bool(added)
        or spans_from < cached["spans_from"]
        or settled - cached["settled"] > SPANS_REFRESH_MS
        or not trusted
    )
    if grown:
        save(path, {
            "version": (VERSION, *sys.version_info[:2]), "identity": identity,
            "chunks": chunks, "current": current,
            "pending": pending_record, "ats": ats.tobytes(), "bys": bys.tobytes(), "uids": uids,
            "named": named, "days": keep_days, "span_keys": kept_keys + [k for k, _ in now_final],
            "spans": kept_spans + [s for _, s in now_final], "spans_from": spans_from, "spans_to": settled,
            "settled": settled,
        })  # fmt: skip
    for d, part in done.items():
        parts[d] = part
    return replace(seen, blocks=[], days=parts), now


def _resume(
    focus: Any, session: str, base: str, cached: dict[str, Any] | None, horizon: int
) -> tuple[Any, ...] | None:
    """The replay fed every rev up to the horizon, from the cache (None: from rev 1), the blocks
    that became final meanwhile (`_freeze`d), and the cache's other lists brought up to date; None when the cache does not hold (rev N's record
    differs) or the history is not exact (a rev missing or unreadable, times going back)."""
    db = focus.db
    n = cached["pending"]["rev"] if cached is not None else 1
    with hist.translated(focus, session):
        records = blk.by_rev(db.query(f"{base}/states", order_by="$key", start_at=str(n)))
    if cached is not None and records.get(n) != cached["pending"]:
        return None
    cycles: dict[tuple[Any, ...], Any] = {}
    new: list[Step] = []
    rev = n
    while rev in records:
        step = blk._from_record(rev, records[rev], cycles)
        if step is None:
            return None
        if step.at > horizon:
            break  # committed after now was read: as a read without the cache, left out
        new.append(step)
        rev += 1
    if rev not in records and any(r > rev for r in records):
        return None  # a rev missing: the history has gaps (log-only revs)
    if not new:
        return None
    if cached is None:
        replay = Replay()
        ats, bys = array("q"), array("q")
        uids: list[str] = []
        named: dict[int, tuple[int, str]] = {}
    else:
        try:
            ats, bys, uids, named = (
                array("q", cached["ats"]),
                array("q", cached["bys"]),
                cached["uids"],
                cached["named"],
            )
            current = _thaw(cached["current"]) if cached["current"] is not None else None
            replay = Replay([current] if current is not None else [], current, new[0])
        except (KeyError, TypeError, ValueError):
            return None
        if len(ats) != n or (ats and ats[-1] != new[0].at):
            return None
        new = new[1:]  # rev N is in the cache, pending
    index = {uid: i for i, uid in enumerate(uids)}
    for step in new:
        if ats and step.at < ats[-1]:
            return None  # out of order: the read without the cache leaves such a rev out
        ats.append(step.at)
        if step.by:
            u = index.get(step.by)
            if u is None:
                u = index[step.by] = len(uids)
                uids.append(step.by)
            bys.append(u)
            if step.name:
                named[u] = (step.rev, step.name)
        else:
            bys.append(-1)
    replay.feed(new)
    # every block but the current one is final: to be kept (`_add_frozen`)
    done = replay.blocks[:-1] if replay.current is not None else replay.blocks
    final = [_freeze(b) for b in done if blk.shown(b)]
    replay.blocks = [replay.current] if replay.current is not None else []
    pending = replay.pending
    assert pending is not None
    return replay, final, ats, bys, uids, named, records[pending.rev]
