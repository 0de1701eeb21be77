"""The live full-screen view of `focus watch`: a `Snapshot` in, a Rich renderable out.

Pure: no I/O and no clock; everything time-dependent (the remaining time, "4 s ago", "offline
since") comes in the snapshot, so tests print `screen(snapshot)` on a fixed-width, colourless
console and compare plain text. `terminal.py` owns the Live loop that builds snapshots.

Text from the database (session, label, names, the last action, details) arrives inert
(`focuscli.service.Status`), and is made inert here once more; all of it goes into `Text`
objects, never into markup, so ``[bold red]`` in a label is just those characters.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

from rich.align import Align
from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.text import Text

from focuscli.inert import text as inert
from focuscli.timer import TimerView, format_duration

PHASE_NAMES = {"focus": "focus", "short_break": "short break", "long_break": "long break"}
PHASE_COLOURS = {"focus": "red3", "short_break": "green3", "long_break": "dodger_blue1"}
VERBS = {
    "start": "started", "pause": "paused", "resume": "resumed", "stop": "stopped",
    "skip": "skipped", "extend": "extended", "settings": "cycle settings changed",
    "label": "relabelled", "reset": "reset",
}  # fmt: skip
KEYS_HELP = "space pause/resume · s skip · n start next · q quit"
OFFLINE_AFTER_S = 10.0  # reconnecting longer than this shows as "offline since HH:MM:SS"

# 5-row glyphs, 3 "pixels" wide (":" is 1); each pixel is drawn 2*scale columns by scale rows.
GLYPHS = {
    "0": ("###", "# #", "# #", "# #", "###"),
    "1": ("  #", "  #", "  #", "  #", "  #"),
    "2": ("###", "  #", "###", "#  ", "###"),
    "3": ("###", "  #", "###", "  #", "###"),
    "4": ("# #", "# #", "###", "  #", "  #"),
    "5": ("###", "#  ", "###", "  #", "###"),
    "6": ("###", "#  ", "###", "# #", "###"),
    "7": ("###", "  #", "  #", "  #", "  #"),
    "8": ("###", "# #", "###", "# #", "###"),
    "9": ("###", "# #", "###", "  #", "###"),
    ":": (" ", "#", " ", "#", " "),
}
GLYPH_ROWS = 5
INFO_LINES = 10  # header, blanks, bar, label, members, last action, notice, connection, keys


@dataclass(frozen=True)
class Member:
    name: str
    here: bool | None  # None: presence not known (yet)


@dataclass(frozen=True)
class Snapshot:
    """Everything one frame shows. ``view`` is already advanced to ``server_now``."""

    session: str
    view: TimerView
    server_now: int  # estimated server ms of this frame
    members: tuple[Member, ...] = ()
    connection: str = "live"  # connecting | live | reconnecting
    connection_detail: str = ""
    connection_since: float | None = None  # local epoch seconds the connection state began
    now: float = 0.0  # local epoch seconds of this frame
    notice: str = ""  # e.g. an action refused ("nothing to pause"), shown for a few seconds
    problem: str = ""  # the timer is malformed in the database: this line instead of the timer
    width: int = 80
    height: int = 24


def advance(view: TimerView, elapsed_ms: int) -> TimerView:
    """``view`` ``elapsed_ms`` later, without the network: a running timer counts down (to 0)."""
    if view.status != "running" or elapsed_ms <= 0:
        return view
    remaining = max(0, view.remaining_ms - elapsed_ms)
    return dataclasses.replace(view, remaining_ms=remaining, elapsed_ms=view.duration_ms - remaining)


def to_the_second(snap: Snapshot) -> Snapshot:
    """``snap`` as shown: remaining time rounded up, clocks down, to whole seconds, so that
    frames within one second compare equal and need no redraw."""
    v = snap.view
    remaining = min(v.duration_ms, -(-v.remaining_ms // 1000) * 1000) if v.remaining_ms > 0 else 0
    view = dataclasses.replace(v, remaining_ms=remaining, elapsed_ms=v.duration_ms - remaining)
    return dataclasses.replace(snap, view=view, server_now=snap.server_now // 1000 * 1000, now=float(int(snap.now)))


def big_digits(text: str, scale: int = 1) -> list[str]:
    """``text`` (digits and ':') as GLYPH_ROWS * scale lines of block characters."""
    rows: list[str] = []
    for r in range(GLYPH_ROWS):
        parts = []
        for ch in text:
            glyph = GLYPHS.get(ch, ("   ",) * GLYPH_ROWS)
            parts.append("".join(("█" if px == "#" else " ") * 2 * scale for px in glyph[r]))
        line = (" " * scale * 2).join(parts)
        rows.extend([line] * scale)
    return rows


def big_width(text: str, scale: int = 1) -> int:
    pixels = sum(len(GLYPHS.get(ch, GLYPHS["0"])[0]) for ch in text)
    return pixels * 2 * scale + max(0, len(text) - 1) * 2 * scale


def digit_scale(text: str, width: int, height: int) -> int:
    """The largest scale at which the big digits and the info lines fit (0: they do not)."""
    scale = 0
    while True:
        nxt = scale + 1
        if big_width(text, nxt) + 4 > width or GLYPH_ROWS * nxt + INFO_LINES + 2 > height:
            return scale
        scale = nxt


def ago(ms: int) -> str:
    seconds = max(0, ms // 1000)
    if seconds < 60:
        return f"{seconds} s ago"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    return f"{seconds // 3600} h ago"


def last_action(view: TimerView, server_now: int) -> str:
    """"paused by ana · 4 s ago" (empty when nobody has acted yet)."""
    if not view.action or not view.updated_by:
        return ""
    verb = VERBS.get(view.action, inert(view.action))
    text = f"{verb} by {inert(view.updated_by_name or view.updated_by)}"
    if view.updated_at is not None:
        text += f" · {ago(server_now - view.updated_at)}"
    return text


def connection_text(snap: Snapshot) -> str:
    if snap.connection == "live":
        return "● live"
    if snap.connection == "reconnecting":
        detail = f" ({inert(snap.connection_detail)})" if snap.connection_detail else ""
        since = snap.connection_since
        if since is not None and snap.now - since >= OFFLINE_AFTER_S:
            return f"○ offline since {time.strftime('%H:%M:%S', time.localtime(since))}, reconnecting{detail}"
        return f"○ reconnecting{detail}"
    return f"○ {snap.connection}…"


def members_text(members: tuple[Member, ...]) -> Text:
    text = Text()
    here = [inert(m.name) for m in members if m.here is not False]
    away = [inert(m.name) for m in members if m.here is False]
    if here:
        text.append("here: ", style="dim")
        text.append(", ".join(here))
    if away:
        if here:
            text.append("   ")
        text.append("away: ", style="dim")
        text.append(", ".join(away), style="dim")
    return text


def state_text(view: TimerView) -> str:
    phase = PHASE_NAMES.get(view.phase, view.phase)
    if view.status == "idle":
        return f"stopped · next: {phase} · round {view.round}"
    return f"{phase} · round {view.round} · {view.status}"


def progress_bar(view: TimerView, width: int, colour: str) -> Text:
    width = max(1, width)
    done = 0 if view.duration_ms <= 0 else round(width * view.elapsed_ms / view.duration_ms)
    done = min(width, max(0, done))
    bar = Text("█" * done, style=colour)
    bar.append("░" * (width - done), style="dim")
    return bar


def screen(snap: Snapshot) -> RenderableType:
    """The whole watch screen for one frame, sized to ``snap.width`` x ``snap.height``."""
    if snap.problem:
        return problem_screen(snap)
    v = snap.view
    colour = PHASE_COLOURS.get(v.phase, "white")
    digits_style = f"bold {colour}" if v.status == "running" else f"{colour} dim" if v.status == "idle" else colour
    clock = format_duration(v.remaining_ms)
    scale = digit_scale(clock, snap.width, snap.height)

    live = snap.connection == "live"
    if not live:  # what it was when last seen, never as if it were live
        digits_style = f"{colour} dim"
        header = Text(f"{state_text(v)} when last seen", style=f"{colour} dim")
    else:
        header = Text(state_text(v).upper() if v.status == "running" else state_text(v), style=f"bold {colour}")
    lines: list[RenderableType] = [Align.center(header), Text("")]
    if scale:
        lines.append(Align.center(Text("\n".join(big_digits(clock, scale)), style=digits_style)))
    else:
        lines.append(Align.center(Text(clock, style=f"bold {colour}")))
    lines.append(Text(""))
    bar_width = max(10, min(snap.width - 8, big_width(clock, max(scale, 1)) if scale else snap.width - 8))
    lines.append(Align.center(progress_bar(v, bar_width, colour)))
    if v.label:
        lines.append(Align.center(Text(inert(v.label), style="italic")))
    if snap.members:
        lines.append(Align.center(members_text(snap.members)))
    action = last_action(v, snap.server_now)
    if action:
        lines.append(Align.center(Text(action, style="dim")))
    if snap.notice:
        lines.append(Align.center(Text(inert(snap.notice), style="bold yellow")))
    live_style = "green" if snap.connection == "live" else "yellow"
    lines.append(Align.center(Text(connection_text(snap), style=live_style)))
    lines.append(Align.center(Text(KEYS_HELP, style="dim")))
    body = Group(*lines)
    if snap.height < len(lines) + 2 or snap.width < 30:  # too small for a frame: bare lines
        return body
    return Panel(
        Align.center(body, vertical="middle"),
        title=Text(f" {inert(snap.session)} ", style="bold"),
        border_style=colour,
        width=snap.width,
        height=snap.height,
    )


def problem_screen(snap: Snapshot) -> RenderableType:
    """The screen while the timer is malformed in the database: the line saying so and what to
    do, who is here, the connection; the countdown comes back once someone repairs it."""
    lines: list[RenderableType] = [
        Align.center(Text("THE TIMER CANNOT BE SHOWN", style="bold red")),
        Text(""),
        Align.center(Text(snap.problem, style="yellow")),
        Text(""),
    ]
    if snap.members:
        lines.append(Align.center(members_text(snap.members)))
    if snap.notice:
        lines.append(Align.center(Text(snap.notice, style="bold yellow")))
    lines.append(Align.center(Text(connection_text(snap), style="green" if snap.connection == "live" else "yellow")))
    lines.append(Align.center(Text("q quit", style="dim")))
    body = Group(*lines)
    if snap.height < len(lines) + 2 or snap.width < 30:
        return body
    return Panel(Align.center(body, vertical="middle"), title=Text(f" {snap.session} ", style="bold"),
                 border_style="red", width=snap.width, height=snap.height)
