/** What the page's Report section shows for a report (report.js `buildReport`): texts, tables and the chart's geometry, as plain data. */

// page.js draws this with DOM APIs (textContent, createElementNS): names and labels come from
// the database and stay text. Words and clock texts are `focus report`'s (focuscli/summary.py).
// Each member has a colour (one of PALETTE CSS classes) fixed by their uid among the session's
// members, so the chart, its legend and every range agree on who is which colour.

import { weekday } from "./ranges.js";
import { formatDuration } from "./timer.js";

export const PALETTE = 8; // colours .m0 … .m7 in page.css
export const WEEKDAYS = Object.freeze(["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]);
export const CHART = Object.freeze({ width: 640, height: 200, top: 8, bottom: 1, gap: 0.2, labels: 8 });
export const NO_LABEL = "(no label)";

const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;

function hash(text) {
  let h = 0x811c9dc5; // FNV-1a, 32 bits
  for (const c of text) {
    h ^= c.codePointAt(0);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** uid -> colour index (0 … PALETTE-1): by a hash of the uid, the next free one on a clash
 * (in uid order), so that up to PALETTE members never share a colour. */
export function memberColours(uids) {
  const out = new Map();
  const taken = new Set();
  for (const uid of [...new Set(uids)].sort()) {
    let i = hash(uid) % PALETTE;
    for (let tries = 0; tries < PALETTE && taken.has(i); tries += 1) i = (i + 1) % PALETTE;
    if (taken.size >= PALETTE) taken.clear(); // more members than colours: a new round
    taken.add(i);
    out.set(uid, i);
  }
  return out;
}

/** "Mon 2024-06-03" (focus report's day rows). */
export const dayName = (date) => `${WEEKDAYS[weekday(date)]} ${date}`;

/** The summary lines: focus_summary's words (focuscli/summary.py `headline`), and figures by key. */
export function totals(report) {
  const t = report.totals;
  const blocks = t.completed + t.interrupted + t.in_progress;
  const streak = t.longest_streak;
  const figures = [
    { key: "focus_ms", name: "Focus time", value: t.focus_ms, text: formatDuration(t.focus_ms) },
    { key: "completed", name: "Completed blocks", value: t.completed, text: String(t.completed) },
    { key: "interrupted", name: "Interrupted blocks", value: t.interrupted, text: String(t.interrupted) },
    { key: "breaks", name: "Breaks", value: t.breaks, text: `${t.breaks} (${formatDuration(t.break_ms)})` },
    {
      key: "longest_streak", name: "Longest streak", value: streak.days,
      text: streak.days ? plural(streak.days, "day") : "none",
    },
  ];
  const notes = [`${plural(blocks, "focus block")}${t.in_progress ? `, ${t.in_progress} in progress` : ""}; ${plural(t.members, "member")} took part, ${plural(t.actions, "action")}`];
  if (streak.days > 1) notes.push(`longest streak ${streak.from} – ${streak.to}`);
  if (t.unattended.blocks) {
    notes.push(`not counted: ${plural(t.unattended.blocks, "focus block")} (${formatDuration(t.unattended.focus_ms)}) that ran with nobody there`);
  }
  if (!report.exact) notes.push(`approximate: ${plural(report.inexact_actions, "action")} from before state history, replayed from the log`);
  return { figures, notes };
}

/** The chart: one bar per day, each member's focus time on it stacked (the most focused member
 * at the bottom; a block two members attended counts for both, as in focus report's chart), in
 * a CHART.width x CHART.height box (drawn stretched to the page's width); each bar's label for
 * the row under it, at most CHART.labels of them not empty. */
export function chart(report, colours) {
  const { width, height, top, bottom, gap, labels } = CHART;
  const order = report.members.map((m) => m.uid);
  const names = new Map(report.members.map((m) => [m.uid, m.name]));
  const days = report.days;
  const most = Math.max(0, ...days.map((d) => Object.values(d.members).reduce((a, b) => a + b, 0)));
  const slot = width / Math.max(1, days.length);
  const every = Math.max(1, Math.ceil(days.length / labels));
  const plot = height - top - bottom;
  const bars = days.map((day, i) => {
    const x = i * slot + (slot * gap) / 2;
    let y = height - bottom;
    const uids = [...order.filter((u) => Object.hasOwn(day.members, u)), ...Object.keys(day.members).filter((u) => !names.has(u)).sort()];
    const segments = [];
    for (const uid of uids) {
      const ms = day.members[uid];
      if (!(ms > 0)) continue;
      const h = most ? (ms / most) * plot : 0;
      y -= h;
      segments.push({
        uid, ms, x, y, width: slot * (1 - gap), height: h, colour: colours.get(uid) ?? 0,
        title: `${names.get(uid) ?? uid}: ${formatDuration(ms)} on ${dayName(day.date)}`,
      });
    }
    const short = days.length > 8 ? String(Number(day.date.slice(8, 10))) : WEEKDAYS[weekday(day.date)];
    return {
      date: day.date, x: x + (slot * (1 - gap)) / 2, focus_ms: day.focus_ms, segments,
      label: i % every === 0 ? short : "",
    };
  });
  const stacks = days.map((d) => Object.values(d.members).reduce((a, b) => a + b, 0));
  const highest = stacks.indexOf(most);
  const summary = most === 0
    ? "Focus time per day: none in this range."
    : `Focus time per day, each member's stacked (as focus report's chart); the highest: ${dayName(days[highest].date)}, ${formatDuration(most)} across members.`;
  return { width, height, baseline: height - bottom, bars, summary };
}

/** Rows of the per-day table (the chart's text alternative): date, focus, then each member's. */
export function dayRows(report) {
  const active = report.members.filter((m) => report.days.some((d) => (d.members[m.uid] ?? 0) > 0));
  return {
    members: active.map((m) => ({ uid: m.uid, name: m.name })),
    rows: report.days.map((d) => ({
      date: d.date, day: dayName(d.date), focus_ms: d.focus_ms, focus: formatDuration(d.focus_ms),
      completed: d.completed, interrupted: d.interrupted, breaks: formatDuration(d.break_ms),
      members: active.map((m) => formatDuration(d.members[m.uid] ?? 0)),
    })),
  };
}

/** Rows of the per-member table (focus report --by member). */
export function memberRows(report, colours) {
  return report.members.map((m) => ({
    uid: m.uid, name: m.name, colour: colours.get(m.uid) ?? 0, focus_ms: m.focus_ms,
    cells: [
      formatDuration(m.focus_ms), String(m.completed), String(m.interrupted), String(m.in_progress),
      formatDuration(m.break_ms), String(m.actions), plural(m.longest_streak, "day"),
    ],
  }));
}

/** Rows of the per-label table (focus report --by label). */
export function labelRows(report) {
  return report.labels.map((l) => ({
    label: l.label === null ? NO_LABEL : l.label, none: l.label === null, focus_ms: l.focus_ms,
    cells: [formatDuration(l.focus_ms), String(l.completed), String(l.interrupted), String(l.in_progress)],
  }));
}

export const MEMBER_COLUMNS = Object.freeze(["Member", "Focus", "Completed", "Interrupted", "In progress", "Breaks", "Actions", "Streak"]);
export const LABEL_COLUMNS = Object.freeze(["Label", "Focus", "Completed", "Interrupted", "In progress"]);

/** The command that gives the same report on a terminal in the same time zone. */
export function command(range, session) {
  return `focus report --since ${range.since} --session ${session}`;
}
