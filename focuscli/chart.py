"""The terminal chart of `focus report`: focus time per day (week, month) as bars stacked by member."""

from __future__ import annotations

from datetime import date
from typing import Any, Final

from rich.console import Console, Group
from rich.text import Text

from focuscli.inert import text as shown
from focuscli.timer import format_duration

COLORS: Final = ("cyan", "magenta", "green", "yellow", "blue", "red", "bright_cyan", "bright_magenta")
MARKS: Final = ("█", "▓", "▒", "░")  # without colour, members tell apart by their mark
OTHERS: Final = "others"
MAX_DAY_ROWS: Final = 31  # above that many days, a row per week; above MAX_WEEK_ROWS weeks, per month
MAX_WEEK_ROWS: Final = 53


def rows(report: dict[str, Any]) -> tuple[str, list[tuple[str, dict[str, int]]]]:
    """The chart's unit ("day", "week" or "month") and its rows: (label, member uid -> focus ms)."""
    days = report["days"]
    unit = "day" if len(days) <= MAX_DAY_ROWS else "week" if len(days) <= MAX_WEEK_ROWS * 7 else "month"
    out: list[tuple[str, dict[str, int]]] = []
    for d in days:
        day = date.fromisoformat(d["date"])
        if unit == "day":
            label = f"{day.strftime('%a')} {d['date'][5:]}"
        elif unit == "week":
            year, week, _ = day.isocalendar()
            label = f"{year}-W{week:02d}"
        else:
            label = d["date"][:7]
        if not out or out[-1][0] != label:
            out.append((label, {}))
        bucket = out[-1][1]
        for uid, ms in d["members"].items():
            bucket[uid] = bucket.get(uid, 0) + ms
    return unit, out


def chart(report: dict[str, Any], width: int, *, color: bool = True, max_members: int = len(COLORS)) -> Group:
    """Bars of each row's focus time, one segment per member (the most focused first; past
    ``max_members``, the rest as one "others" segment), scaled so that the longest fills the
    ``width`` left after the labels and figures; a legend below."""
    unit, data = rows(report)
    totals: dict[str, int] = {}
    for _, bucket in data:
        for uid, ms in bucket.items():
            totals[uid] = totals.get(uid, 0) + ms
    ranked = sorted(totals, key=lambda uid: (-totals[uid], uid))
    shown_uids = ranked[:max_members] if len(ranked) <= max_members else ranked[: max_members - 1]
    names = {m["uid"]: shown(m["name"]) for m in report["members"]}
    keys = [*shown_uids, *([OTHERS] if len(ranked) > len(shown_uids) else [])]
    style = {k: (COLORS[i % len(COLORS)] if color else "", "█" if color else MARKS[i % len(MARKS)]) for i, k in enumerate(keys)}

    def segments(bucket: dict[str, int]) -> list[tuple[str, int]]:
        parts = [(uid, bucket.get(uid, 0)) for uid in shown_uids]
        rest = sum(ms for uid, ms in bucket.items() if uid not in shown_uids)
        return [*parts, *([(OTHERS, rest)] if OTHERS in keys else [])]

    figures = [format_duration(sum(b.values())) if b else "" for _, b in data]
    label_w = max((len(label) for label, _ in data), default=0)
    fig_w = max((len(f) for f in figures), default=0)
    bar_w = max(1, width - label_w - fig_w - 2)
    scale = max((sum(b.values()) for _, b in data), default=0)
    lines = [Text(f"focus time per {unit}, by member", style="bold")]
    for (label, bucket), figure in zip(data, figures, strict=True):
        line = Text(label.ljust(label_w) + " ")
        done, cells = 0, 0
        for key, ms in segments(bucket):
            done += ms
            upto = round(done / scale * bar_w) if scale else 0
            if upto > cells:
                colour, mark = style[key]
                line.append(mark * (upto - cells), style=colour)
                cells = upto
        line.append(" " * (bar_w - cells) + " " + figure.rjust(fig_w))
        line.rstrip()
        lines.append(line)
    legend = Text()
    for key in keys:
        colour, mark = style[key]
        if legend:
            legend.append("  ")
        legend.append(mark, style=colour)
        name = "others" if key == OTHERS else names.get(key, shown(key))
        ms = sum(totals[u] for u in ranked if u not in shown_uids) if key == OTHERS else totals[key]
        legend.append(f" {name} {format_duration(ms)}")
    if legend:
        lines.append(legend)
    return Group(*lines)


def show(report: dict[str, Any], headline: list[str], table: list[str], console: Console | None = None) -> None:
    """`focus report` on a terminal: the summary, the chart (as wide as the terminal, when
    someone focused) and the table, none of it read as markup."""
    console = console or Console(highlight=False)
    for line in headline:
        console.print(Text(line))
    if any(day["members"] for day in report["days"]):
        console.print()
        console.print(chart(report, console.width, color=console.color_system is not None))
    console.print()
    for line in table:
        console.print(Text(line), no_wrap=True, overflow="ellipsis")
