"""The watch screen as plain text: renderables printed on a fixed-width, colourless console."""

from __future__ import annotations

import io
import time
from dataclasses import replace

import pytest
from rich.console import Console

from focuscli.timer import TimerView
from focuscli.view import Member, Snapshot, advance, big_digits, last_action, screen, to_the_second

MIN = 60_000


def _view(status: str = "running", remaining: int = 25 * MIN - 1000, phase: str = "focus", **kw: object) -> TimerView:
    fields: dict[str, object] = dict(
        status=status, phase=phase, round=2, remaining_ms=remaining, duration_ms=25 * MIN,
        elapsed_ms=25 * MIN - remaining, label="write the report", ends_at=None, rev=3,
        updated_at=100_000, updated_by="ana", action="start",
    )  # fmt: skip
    fields.update(kw)
    return TimerView(**fields)  # type: ignore[arg-type]


def _snap(view: TimerView | None = None, **kw: object) -> Snapshot:
    base = Snapshot(
        session="team", view=view or _view(), server_now=104_000,
        members=(Member("ana", True), Member("bob", False)), now=1000.0, connection_since=990.0,
    )  # fmt: skip
    return replace(base, **kw)  # type: ignore[arg-type]


def _text(snap: Snapshot) -> str:
    console = Console(width=snap.width, height=snap.height, color_system=None, record=True, file=io.StringIO())
    console.print(screen(snap))
    return console.export_text()


def _lines(text: str) -> list[str]:
    """Lines with the frame and the centring stripped."""
    return [line.strip("│ ").rstrip() for line in text.splitlines()]


def test_big_digits_for_24_59() -> None:
    text = _text(_snap())
    expected = [line.strip() for line in big_digits("24:59", 2)]
    lines = _lines(text)
    start = lines.index(expected[0])
    assert lines[start : start + 10] == expected
    assert big_digits("24:59") == [
        "██████  ██  ██      ██████  ██████",
        "    ██  ██  ██  ██  ██      ██  ██",
        "██████  ██████      ██████  ██████",
        "██          ██  ██      ██      ██",
        "██████      ██      ██████  ██████",
    ]
    assert "FOCUS · ROUND 2 · RUNNING" in lines
    assert "write the report" in lines
    assert "here: ana   away: bob" in lines
    assert "started by ana · 4 s ago" in lines
    assert "● live" in lines
    assert "space pause/resume · s skip · n start next · q quit" in lines
    assert text.splitlines()[0].startswith("╭") and " team " in text.splitlines()[0]
    assert len(text.splitlines()) == 24 and all(len(line) == 80 for line in text.splitlines())


def test_small_terminal_falls_back_to_plain_time() -> None:
    lines = _lines(_text(_snap(width=40, height=12)))
    assert "24:59" in lines
    assert not any("██" in line for line in lines)
    assert "here: ana   away: bob" in lines
    tiny = _lines(_text(_snap(width=30, height=6)))  # no room for a frame either
    assert "24:59" in tiny
    assert not any(line.startswith("╭") for line in tiny)


def test_paused_done_and_idle_states() -> None:
    paused = _lines(_text(_snap(_view("paused", 4 * MIN, action="pause", updated_by="bob"))))
    assert "focus · round 2 · paused" in paused
    assert "paused by bob · 4 s ago" in paused
    assert big_digits("4:00", 2)[0].strip() in paused
    done = _lines(_text(_snap(_view("done", 0, phase="short_break"))))
    assert "short break · round 2 · done" in done
    assert big_digits("0:00", 2)[0].strip() in done
    idle = _lines(_text(_snap(_view("idle", 25 * MIN, action="stop", label=None))))
    assert "stopped · next: focus · round 2" in idle
    assert "stopped by ana · 4 s ago" in idle
    assert "write the report" not in idle


def test_members_here_away_and_unknown() -> None:
    lines = _lines(_text(_snap(members=(Member("ana", True), Member("cara", None), Member("bob", False)))))
    assert "here: ana, cara   away: bob" in lines
    alone = _lines(_text(_snap(members=(Member("bob", False),))))
    assert "away: bob" in alone


def test_connection_states() -> None:
    lines = _lines(_text(_snap(connection="reconnecting", connection_detail="read timed out", connection_since=995.0)))
    assert "○ reconnecting (read timed out)" in lines
    long_ago = _text(_snap(connection="reconnecting", connection_since=900.0))
    when = time.strftime("%H:%M:%S", time.localtime(900.0))
    assert f"○ offline since {when}, reconnecting" in _lines(long_ago)


def test_a_disconnected_watch_never_says_running_as_if_live() -> None:
    for connection in ("reconnecting", "connecting"):
        lines = _lines(_text(_snap(connection=connection, connection_since=995.0)))
        assert not any("RUNNING" in line for line in lines), lines
        assert "focus · round 2 · running when last seen" in lines
    assert "FOCUS · ROUND 2 · RUNNING" in _lines(_text(_snap()))


def test_last_action_ages_and_notice() -> None:
    lines = _lines(_text(_snap(server_now=100_000 + 125_000, notice="pause: the timer is already paused")))
    assert "started by ana · 2 min ago" in lines
    assert "pause: the timer is already paused" in lines


@pytest.mark.parametrize(
    ("action", "text"),
    [
        ("start", "started by bob · 2 min ago"),
        ("pause", "paused by bob · 2 min ago"),
        ("resume", "resumed by bob · 2 min ago"),
        ("stop", "stopped by bob · 2 min ago"),
        ("skip", "skipped by bob · 2 min ago"),
        ("extend", "extended by bob · 2 min ago"),
        ("settings", "cycle settings changed by bob · 2 min ago"),
        ("label", "relabelled by bob · 2 min ago"),
    ],
)
def test_last_action_reads_as_a_sentence_for_every_action(action: str, text: str) -> None:
    assert last_action(_view(action=action, updated_by="bob"), 100_000 + 125_000) == text


def test_the_key_line_offers_a_start_key() -> None:
    assert "space pause/resume · s skip · n start next · q quit" in _lines(_text(_snap(_view("idle", 25 * MIN, action="stop"))))


def test_advance_counts_down_only_while_running() -> None:
    running = advance(_view(), 2500)
    assert (running.remaining_ms, running.elapsed_ms) == (25 * MIN - 3500, 3500)
    assert advance(_view(remaining=1000), 5000).remaining_ms == 0
    paused = _view("paused", 4 * MIN)
    assert advance(paused, 5000) == paused


def test_frames_within_a_second_compare_equal() -> None:
    a = to_the_second(_snap(advance(_view(), 100), server_now=104_100, now=1000.1))
    b = to_the_second(_snap(advance(_view(), 900), server_now=104_900, now=1000.9))
    c = to_the_second(_snap(advance(_view(), 1100), server_now=105_100, now=1001.1))
    assert a == b != c
    assert a.view.remaining_ms == 25 * MIN - 1000 and c.view.remaining_ms == 25 * MIN - 2000
    assert _text(a) == _text(_snap())
