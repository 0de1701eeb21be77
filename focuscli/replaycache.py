"""The replayed history of a session, kept on disk so that a report reads and replays only what is new.

``states/<rev>`` records are append-only (the rules refuse to change or remove one), so the
blocks replayed from revs 1..N are a pure function of them: the cache keeps the replay as it
stands after rev N was fed (`focuscli.blocks.Replay`: its final blocks, the block still open and
rev N's record, whose run up to the next rev or the horizon is not made yet), and for each rev its
server time and who took it (the report's action counts and names). A report reads the records
from rev N on (one ``orderBy="$key"`` query: rev keys are 32-bit integers, which RTDB orders as
numbers), checks that rev N's record is the one the cache holds and that the session is the same
one (its ``meta/created_at`` and rev 1's time), feeds the new revs, writes the cache back and
finishes the replay at the horizon. Presence, the roster and the members are read as without the
cache (a span still open moves on). Anything that does not fit (another version, a damaged file,
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
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from focuscli import blocks as blk
from focuscli import history as hist
from focuscli import report as core
from focuscli.blocks import Block, Replay, Step

VERSION = 1
MAGIC = b"focus-replay\n"
MAX_BYTES = 64 * 1024 * 1024  # a bigger cache is not written (a year of a busy team is ~3 MB)
MAX_FILES = 64  # at most this many sessions' caches: the least recently used go
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
        or hashlib.blake2b(raw[head:], digest_size=32).digest() != raw[len(MAGIC) : head]
    ):
        return None
    try:
        data = marshal.loads(raw[head:])
    except (EOFError, ValueError, TypeError):
        return None
    if not isinstance(data, dict) or data.get("version") != (VERSION, *sys.version_info[:2]):
        return None
    if data.get("identity") != identity:
        return None
    return data


def save(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` to ``path`` atomically (tmp + rename), mode 0600; a failure leaves the
    cache as it was (the report does not depend on it)."""
    payload = marshal.dumps(data)
    if len(payload) > MAX_BYTES:
        return
    blob = MAGIC + hashlib.blake2b(payload, digest_size=32).digest() + payload
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
# The report


def report(
    focus: Any, cache_dir: Path | None, url: str, session: str, start: int, end: int, *,
    now: int | None = None,
) -> tuple[core.History, int] | None:  # fmt: skip
    """(`report.History` of [start, end), now) through the cache, or None when the cache
    cannot answer exactly as `history.read` + `report.analyse` would (the caller does that).
    ``now``: the server's time (default: asked)."""
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
    fresh = None
    if cached is not None:
        try:
            fresh = _resume(focus, session, base, cached, horizon)
        except (KeyError, TypeError, ValueError, IndexError, AttributeError):
            fresh = None  # not the shape this version writes: made again
    if fresh is None:
        if (now - start) * COLD_SHARE < now - first:
            return None  # a short range of a long history: its own read is cheaper than all of it
        cached = None
        fresh = _resume(focus, session, base, None, horizon)
        if fresh is None:
            return None
    replay, frozen, ats, bys, uids, named, pending_record = fresh
    if replay.pending is None:
        return None
    keep = {
        "version": (VERSION, *sys.version_info[:2]), "identity": identity,
        "frozen": frozen, "current": _freeze(replay.current) if replay.current is not None else None,
        "pending": pending_record, "ats": ats, "bys": bys, "uids": uids, "named": named,
    }  # fmt: skip
    if cached is None or cached["pending"] != pending_record:
        save(path, keep)
    live = replay.finish(horizon)
    # (read only from here: the lists and dicts unmarshalled for this run need no copies)
    chosen = [Block(*t) for t in frozen if start <= t[2] < end]
    chosen += [b for b in live if start <= b.start < end]

    with hist.translated(focus, session):
        presence = db.query(f"{base}/presence", order_by="seen", start_at=start)
        roster = db.query(f"{base}/roster", order_by="at", start_at=start, end_at=horizon)
    # the revs a read without the cache takes: those in [start, horizon] and the one before
    m = len(ats)
    window = max(1, min(bisect.bisect_left(ats, start), m))
    names = {uids[u]: name for u, (rev, name) in named.items() if rev >= window}
    actions: dict[str, int] = {}
    for u in bys[bisect.bisect_left(ats, start) : bisect.bisect_left(ats, end)]:
        if u >= 0:
            actions[uids[u]] = actions.get(uids[u], 0) + 1
    history = {
        "presence": presence if isinstance(presence, dict) else {},
        "roster": roster if isinstance(roster, dict) else {},
        "members": members,
    }
    return core.attend(
        chosen, history, start=start, end=end, now=now, named=names, actions=actions
    ), now


def _resume(
    focus: Any, session: str, base: str, cached: dict[str, Any] | None, horizon: int
) -> tuple[Any, ...] | None:
    """The replay fed every rev up to the horizon, from the cache (None: from rev 1), with the
    cache's other lists brought up to date; None when the cache does not hold (rev N's record
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
        replay, frozen = Replay(), []
        ats: list[int] = []
        bys: list[int] = []
        uids: list[str] = []
        named: dict[int, tuple[int, str]] = {}
    else:
        try:
            frozen, ats, bys, uids, named = (
                cached["frozen"],
                cached["ats"],
                cached["bys"],
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
    # every block but the current one is final: into the frozen list
    done = replay.blocks[:-1] if replay.current is not None else replay.blocks
    frozen = frozen + [_freeze(b) for b in done if blk.shown(b)]
    replay.blocks = [replay.current] if replay.current is not None else []
    pending = replay.pending
    assert pending is not None
    return replay, frozen, ats, bys, uids, named, records[pending.rev]
