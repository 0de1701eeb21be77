"""Report ranges as typed: `--since D` or `--from DATE --to DATE`, as server-time bounds in a time zone."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from typing import Final

from focuscli import timer

DAY_MS: Final = 24 * 3_600_000
MAX_DAYS: Final = 3660  # about ten years: a range longer than that is a typo
DEFAULT_SINCE: Final = "7d"
DATE_FORMS: Final = "use YYYY-MM-DD, today or yesterday"
SINCE_FORMS: Final = "use a duration (7d, 2w, 36h, 1d12h, 90m, 1h30m) or a date (YYYY-MM-DD, today, yesterday)"
_UNITS: Final = {"w": 7 * DAY_MS, "d": DAY_MS, "h": 3_600_000, "m": 60_000}
_SPAN = re.compile(r"(?:([0-9]{1,5})w)?(?:([0-9]{1,6})d)?(?:([0-9]{1,7})h)?(?:([0-9]{1,9})m)?", re.ASCII)


class PeriodError(ValueError):
    """A range that cannot be used; str() is one line naming the option and what to type."""


@dataclass(frozen=True)
class Period:
    """[start, end) in server ms, and the dates it covers (in the time zone it was made in)."""

    start: int
    end: int
    first: str  # YYYY-MM-DD
    last: str


def local_date(ms: int, tz: tzinfo | None) -> date:
    """The calendar date of server time ``ms`` in ``tz`` (None: this machine's local time)."""
    return datetime.fromtimestamp(ms / 1000, tz).date()


def midnight(day: date, tz: tzinfo | None) -> int:
    """Server ms at which ``day`` begins in ``tz`` (None: local time, DST rules included)."""
    return int(datetime(day.year, day.month, day.day, tzinfo=tz).timestamp() * 1000)


def parse_date(text: str, what: str, today: date) -> date:
    """A date as typed: YYYY-MM-DD, ``today`` or ``yesterday``."""
    word = text.strip().lower()
    if word == "today":
        return today
    if word == "yesterday":
        return today - timedelta(days=1)
    if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", word, re.ASCII):
        try:
            return date.fromisoformat(word)
        except ValueError:
            pass
    raise PeriodError(f"{what}: invalid date {text[:40]!r}: {DATE_FORMS}")


def parse_span(text: str) -> int:
    """A look-back in ms: 7d, 2w, 36h, 1d12h, 90m, or the timer's forms (90s, 1h30m, 25:00)."""
    s = text.strip().lower()
    m = _SPAN.fullmatch(s)
    if s and m is not None and any(m.groups()):
        return sum(int(g) * unit for g, unit in zip(m.groups(), _UNITS.values(), strict=True) if g)
    try:
        return timer.parse_duration(text)
    except timer.DurationError:
        raise PeriodError(f"--since: invalid duration or date {text[:40]!r}: {SINCE_FORMS}") from None


def period(
    *, since: str | None, first: str | None, last: str | None, now: int, tz: tzinfo | None = None
) -> Period:
    """The range the options name, ending at ``now`` at the latest (server ms); PeriodError for
    options that exclude each other, bad dates or durations, and empty or future ranges.

    ``--since D``: the last D up to now, or from the start of a date. ``--from DATE [--to
    DATE]``: whole days in ``tz``, ``--to`` included (default: today). Neither: ``--since 7d``.
    """
    today = local_date(now, tz)
    if since is not None and (first is not None or last is not None):
        raise PeriodError("--since and --from/--to exclude each other; pick one")
    if last is not None and first is None:
        raise PeriodError("--to needs --from (the first day of the range)")
    if first is not None:
        begin = parse_date(first, "--from", today)
        if begin > today:
            raise PeriodError(f"the range begins in the future ({begin.isoformat()}); nothing to report yet")
        finish = parse_date(last, "--to", today) if last is not None else today
        if finish < begin:
            raise PeriodError(f"--to {finish.isoformat()} is before --from {begin.isoformat()}")
        start, end = midnight(begin, tz), midnight(finish + timedelta(days=1), tz)
    else:
        text = DEFAULT_SINCE if since is None else since
        try:
            begin = parse_date(text, "--since", today)
            start = midnight(begin, tz)
        except PeriodError:
            span = parse_span(text)
            if span <= 0:
                raise PeriodError(f"--since: the duration must be more than 0, got {text.strip()[:40]}") from None
            if span > MAX_DAYS * DAY_MS:
                raise PeriodError(f"--since: at most {MAX_DAYS} days, got {text.strip()[:40]}") from None
            start = now - span
        end = now
    if start > now:
        raise PeriodError(f"the range begins in the future ({local_date(start, tz).isoformat()}); nothing to report yet")
    end = min(end, now)
    if end - start > MAX_DAYS * DAY_MS + DAY_MS:
        raise PeriodError(f"the range is longer than {MAX_DAYS} days; pick a shorter one")
    return Period(start, end, local_date(start, tz).isoformat(), local_date(max(start, end - 1), tz).isoformat())
