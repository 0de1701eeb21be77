"""Reading a session's history for a report: the time range asked for, by indexed queries, never all of it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from focuscli.backend import PermissionDenied
from focuscli.blocks import by_rev
from focuscli.errors import BackendError
from focuscli.report import LOOKAHEAD_MS, PRESENCE_FRESH_MS
from focuscli.service import Focus

# History from before state records (older clients): the log is replayed from this long before
# the range, so that a block begun a little before it is known when the range begins.
LEGACY_LOOKBACK_MS = 2 * 24 * 3_600_000


def read(
    focus: Focus, session: str, start: int, end: int, *, now: int | None = None
) -> tuple[dict[str, Any], int, int]:
    """(history, now, horizon) for the blocks that began in [start, end) (server ms): the
    `focuscli.report.analyse` input, read up to ``horizon`` (``end`` plus LOOKAHEAD_MS, so that
    blocks begun in the range can end, at most now).

    Reads: the state records in the range and the one before it (the timer as the range
    begins), the presence spans that can reach into it (those seen PRESENCE_FRESH_MS before its
    start or later: the rules let a span be ended only that long after its last heartbeat, so
    which spans a block overlaps does not depend on the range), the roster entries in it, the
    members and the current state; log entries only for revs with no state record. Every read
    of a list is a ranged query on an indexed child (``.indexOn`` in the rules). ``now``: the
    server's time (default: asked).
    """
    members = focus.members(session)  # also tells a non-member so, in one line
    now = focus.server_now() if now is None else now
    horizon = min(now, end + LOOKAHEAD_MS)
    base = f"sessions/{session}"
    db = focus.db
    with translated(focus, session):
        state = db.get(f"{base}/state")
        records = by_rev(db.query(f"{base}/states", order_by="updated_at", start_at=start, end_at=horizon))
        _add_baseline(db, base, records, state)
        log = _log_for_gaps(focus, base, records, state, start, horizon)
        presence = db.query(f"{base}/presence", order_by="seen", start_at=start - PRESENCE_FRESH_MS)
        roster = db.query(f"{base}/roster", order_by="at", start_at=start, end_at=horizon)
    history = {
        "state": state,
        "states": {str(rev): record for rev, record in sorted(records.items())},
        "log": {str(rev): entry for rev, entry in sorted(log.items())},
        "presence": presence if isinstance(presence, dict) else {},
        "roster": roster if isinstance(roster, dict) else {},
        "members": members,
    }
    return history, now, horizon


@contextmanager
def translated(focus: Focus, session: str) -> Iterator[None]:
    """The reads of a report: a member removed meanwhile is told so in the usual line, rules
    from before reports (no index) in one that says what to do."""
    try:
        yield
    except PermissionDenied:
        focus.members(session)  # removed meanwhile: the usual line
        raise
    except BackendError as err:
        if "Index not defined" in err.message:  # production, with rules from before reports
            raise BackendError(
                "the rules in force have no index for reports (they predate them); deploy focus's "
                "rules: cd firebase && firebase deploy --only database"
            ) from None
        raise


def _add_baseline(db: Any, base: str, records: dict[int, dict[str, Any]], state: Any) -> None:
    """Add the state record of the rev before the range's first one: the timer as the range
    begins (revs are consecutive, so it is one plain read by its key). With no action in the
    range, that is the current state (the record of its rev is equal to it)."""
    if records:
        rev = min(records) - 1
        if rev > 0:
            record = db.get(f"{base}/states/{rev}")
            if isinstance(record, dict):
                records[rev] = record
    elif isinstance(state, dict) and isinstance(state.get("rev"), int) and state["rev"] > 0:
        records[state["rev"]] = state


def _log_for_gaps(
    focus: Focus, base: str, records: dict[int, dict[str, Any]], state: Any, start: int, horizon: int
) -> dict[int, dict[str, Any]]:
    """The log entries of the revs the state records leave out: those written by clients from
    before state records, which the report replays from the log."""
    db = focus.db
    log: dict[int, dict[str, Any]] = {}
    current = state.get("rev") if isinstance(state, dict) else None
    if not records:
        if isinstance(current, int) and current > 0:  # history from before state records only
            log.update(by_rev(db.query(f"{base}/log", order_by="at", start_at=start - LEGACY_LOOKBACK_MS, end_at=horizon)))
        return log
    revs = sorted(records)
    first, last = records[revs[0]], records[revs[-1]]
    if revs[0] > 1 and isinstance(first.get("updated_at"), int) and first["updated_at"] >= start:
        # nothing recorded before the range: the revs just before its first record are log-only
        log.update(by_rev(db.query(
            f"{base}/log", order_by="at", start_at=start - LEGACY_LOOKBACK_MS, end_at=first["updated_at"]
        )))  # fmt: skip
    # the first and last rev missing between them (not every one: revs as stored may be far apart)
    gaps = [(a + 1, b - 1) for a, b in zip(revs, revs[1:], strict=False) if b - a > 1]
    if gaps:
        log.update(by_rev(db.query(f"{base}/log", order_by="$key", start_at=str(gaps[0][0]), end_at=str(gaps[-1][1]))))
    if isinstance(current, int) and current > revs[-1] and isinstance(last.get("updated_at"), int):
        log.update(by_rev(db.query(f"{base}/log", order_by="at", start_at=last["updated_at"], end_at=horizon)))
    return {rev: entry for rev, entry in log.items() if rev not in records}
