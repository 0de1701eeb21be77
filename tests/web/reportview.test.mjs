// What the page's Report section shows (focuscli/web/reportview.js): figures, chart geometry,
// tables and colours, from a report built by report.js.

import assert from "node:assert/strict";
import { test } from "node:test";

import { byRev, buildReport } from "../../focuscli/web/report.js";
import { makeState, pause, resume, start, stateToWire, stop, withServerTimes } from "../../focuscli/web/timer.js";
import {
  CHART, NO_LABEL, PALETTE, chart, command, dayName, dayRows, labelRows, memberColours, memberRows, totals,
} from "../../focuscli/web/reportview.js";

const M = 60_000;
const MON = Date.UTC(2024, 5, 3, 7); // Monday 2024-06-03 09:00 in Berlin
const DAY = 86_400_000;

// Monday: ana's 25-min block (bob watching), bob's block stopped after 10 min; Tuesday: a
// 50-min block of ana's with a 10-min pause (tests/test_report.py's week, shortened). Written
// as the clients write it: each action's state, made by the timer core, at its server time.
function week() {
  const states = {};
  let s = makeState();
  const act = (fn, by, at, ...args) => {
    const next = fn(s, by, at, ...args);
    s = makeState({ ...withServerTimes(makeState({ ...next, updated_by_name: by }), at), updated_at: at });
    states[s.rev] = stateToWire(s);
  };
  act(start, "ana", MON, { label: "<b>spec</b>" });
  act(start, "bob", MON + 60 * M, { label: "review" });
  act(stop, "bob", MON + 70 * M);
  act(start, "ana", MON + DAY, { duration_ms: 50 * M });
  act(pause, "ana", MON + DAY + 20 * M);
  act(resume, "ana", MON + DAY + 30 * M);
  return {
    state: states[s.rev], states, log: {}, roster: {},
    presence: { s1: { uid: "bob", name: "bob", from: MON - 5 * M, seen: MON + 30 * M, to: MON + 30 * M } },
    members: { ana: { name: "ana" }, bob: { name: "bob" }, cy: { name: "cy" } },
  };
}

const START = MON - 9 * 3_600_000; // 2024-06-03 00:00 Berlin
const report = buildReport(week(), { start: START, end: START + 7 * DAY, now: START + 7 * DAY, tz: "Europe/Berlin" });

test("the week's report, as the section's figures and notes", () => {
  const { figures, notes } = totals(report);
  assert.deepEqual(figures.map((f) => [f.key, f.value, f.text]), [
    ["focus_ms", 85 * M, "1:25:00"], ["completed", 2, "2"], ["interrupted", 1, "1"], ["breaks", 0, "0 (0:00)"],
    ["longest_streak", 2, "2 days"],
  ]);
  assert.deepEqual(notes, ["3 focus blocks; 2 members took part, 6 actions", "longest streak 2024-06-03 – 2024-06-04"]);
});

test("colours: fixed by uid, distinct for up to PALETTE members, the same whatever the order", () => {
  const uids = Array.from({ length: PALETTE }, (_, i) => `member-${i}`);
  const a = memberColours(uids);
  assert.equal(new Set(a.values()).size, PALETTE);
  assert.deepEqual(memberColours([...uids].reverse()), a);
  const more = memberColours([...uids, "one-more"]);
  assert.ok([...more.values()].every((c) => Number.isInteger(c) && c >= 0 && c < PALETTE));
});

test("the chart: a bar per day, stacked by member (most focus at the bottom), in the box", () => {
  const colours = memberColours(["ana", "bob", "cy"]);
  const c = chart(report, colours);
  assert.equal(c.bars.length, 7);
  assert.deepEqual(c.bars.map((b) => b.label), ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]);
  const [mon, tue] = c.bars;
  assert.deepEqual(mon.segments.map((s) => [s.uid, s.ms]), [["ana", 25 * M], ["bob", 35 * M]]);
  assert.deepEqual(tue.segments.map((s) => [s.uid, s.ms]), [["ana", 50 * M]]);
  // Monday's stack (25 + 35 min of members' time) is the tallest: it reaches the top; segments touch
  assert.equal(Math.round(mon.segments[1].y), CHART.top);
  assert.equal(Math.round(tue.segments[0].y), Math.round(c.baseline - (50 / 60) * (c.baseline - CHART.top)));
  assert.equal(mon.segments[0].y, mon.segments[1].y + mon.segments[1].height);
  assert.equal(mon.segments[0].y + mon.segments[0].height, c.baseline);
  assert.equal(mon.segments[0].colour, colours.get("ana"));
  assert.equal(mon.segments[1].title, "bob: 35:00 on Mon 2024-06-03");
  assert.equal(c.summary, "Focus time per day, each member's stacked (as focus report's chart); the highest: Mon 2024-06-03, 1:00:00 across members.");
});

test("a month's bars are labelled by day of month, at most CHART.labels of them", () => {
  const long = buildReport(week(), { start: START, end: START + 30 * DAY, now: START + 30 * DAY, tz: "Europe/Berlin" });
  const labels = chart(long, memberColours([])).bars.map((b) => b.label).filter(Boolean);
  assert.ok(labels.length <= CHART.labels);
  assert.deepEqual(labels.slice(0, 2), ["3", "7"]);
});

test("an empty range says so", () => {
  const empty = buildReport({}, { start: START, end: START + DAY, now: START + DAY, tz: "Europe/Berlin" });
  assert.equal(chart(empty, new Map()).summary, "Focus time per day: none in this range.");
  assert.deepEqual(labelRows(empty), []);
});

test("tables: per day (the chart's text alternative), per member, per label; labels stay as stored", () => {
  const colours = memberColours(["ana", "bob", "cy"]);
  const days = dayRows(report);
  assert.deepEqual(days.members.map((m) => m.name), ["ana", "bob"]);
  assert.deepEqual(days.rows[0], {
    date: "2024-06-03", day: "Mon 2024-06-03", focus_ms: 35 * M, focus: "35:00", completed: 1, interrupted: 1,
    breaks: "0:00", members: ["25:00", "35:00"],
  });
  assert.deepEqual(memberRows(report, colours).map((m) => [m.name, ...m.cells]), [
    ["ana", "1:15:00", "2", "0", "0", "0:00", "4", "2 days"],
    ["bob", "35:00", "1", "1", "0", "0:00", "2", "1 day"],
    ["cy", "0:00", "0", "0", "0", "0:00", "0", "0 days"],
  ]);
  assert.deepEqual(labelRows(report).map((l) => [l.label, l.none, ...l.cells]), [
    [NO_LABEL, true, "50:00", "1", "0", "0"],
    ["<b>spec</b>", false, "25:00", "1", "0", "0"],
    ["review", false, "10:00", "0", "1", "0"],
  ]);
});

test("names and the command", () => {
  assert.equal(dayName("2024-06-09"), "Sun 2024-06-09");
  assert.equal(command({ since: "2024-06-03" }, "team"), "focus report --since 2024-06-03 --session team");
});

test("byRev reads the SDK's arrays with holes (dense integer keys with some missing)", () => {
  const sparse = [];
  sparse[2] = { rev: 2 };
  sparse[4] = { rev: 4 };
  assert.deepEqual([...byRev(sparse).keys()], [2, 4]);
});
