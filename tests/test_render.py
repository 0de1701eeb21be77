"""Plain-text and CSV output: dates beside times when not today (in the user's time zone),
ISO 8601 in CSV, and `focus who` in aligned columns."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from focuscli.render import clock_time, log_csv, log_lines, members_lines

DAY_MS = 24 * 3600 * 1000


@pytest.fixture
def new_york(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The user's time zone is America/New_York (UTC-5 in winter) for this test."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def _today_at(hour: int, minute: int, second: int) -> int:
    """Server ms of today's hh:mm:ss, local time."""
    t = time.localtime()
    return int(time.mktime((t.tm_year, t.tm_mon, t.tm_mday, hour, minute, second, 0, 0, -1)) * 1000)


def test_times_of_today_have_no_date_others_do(new_york: None) -> None:
    today = _today_at(12, 0, 5)
    assert clock_time(today) == "12:00:05"
    assert clock_time(1_700_000_000_000) == "2023-11-14 17:13:20"  # 22:13:20 UTC
    assert clock_time(None) == "-"


def test_log_lines_show_dates_when_any_entry_is_not_from_today(new_york: None) -> None:
    today = _today_at(12, 0, 5)
    now_only = log_lines([{"rev": 9, "at": today, "action": "pause", "by": "bob"}], 0)
    assert now_only == ["12:00:05  #9  pause by bob"]
    week = [
        {"rev": 1, "at": 1_700_000_000_000, "action": "start", "by": "ana", "phase": "focus", "ms": 1_500_000},
        {"rev": 2, "at": today, "action": "stop", "by": "bob"},
    ]
    day = time.strftime("%Y-%m-%d", time.localtime(today / 1000))
    assert log_lines(week, 0) == [
        "2023-11-14 17:13:20  #1  start by ana focus 25:00",
        f"{day} 12:00:05  #2  stop by bob",
    ]


def test_log_csv_has_iso_8601_beside_epoch_ms(new_york: None) -> None:
    entries = [
        {"rev": 1, "at": 1_700_000_000_123, "action": "start", "by": "ana", "name": "Ana", "phase": "focus", "ms": 1_500_000, "label": "a, b"},
        {"rev": 2, "at": 1_690_000_000_000, "action": "pause", "by": "bob"},  # summer: UTC-4
    ]
    assert log_csv(entries).splitlines() == [
        "rev,at,at_iso,action,by,by_uid,phase,ms,label",
        '1,1700000000123,2023-11-14T17:13:20.123-05:00,start,Ana,ana,focus,1500000,"a, b"',
        "2,1690000000000,2023-07-22T00:26:40.000-04:00,pause,bob,bob,,,",
    ]


def test_who_is_aligned_and_dates_last_weeks_visits(new_york: None) -> None:
    server_now = _today_at(12, 0, 30)
    presence = {
        "ana": {"here": False, "seen_at": 1_700_000_000_000},
        "bob": {"here": True, "seen_at": server_now - 5_000},
        "caroline": {"here": False, "seen_at": None},
        "dave": {"here": False, "seen_at": _today_at(11, 0, 0)},
    }
    assert members_lines(presence, 0) == [
        "ana       away (seen 2023-11-14 17:13:20)",
        "bob       here",
        "caroline  away (never watched)",
        "dave      away (seen 11:00:00)",
    ]
