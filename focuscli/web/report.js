/** Team reports for the page: focuscli/blocks.py and focuscli/report.py, the same report from the same history. */

// One semantics, two implementations: tests/cases/report/*.json run against this module (node
// --test) and against the Python modules (pytest), block for block and figure for figure. The
// history is the session's stored values as read (untrusted); times are server ms; days are
// calendar dates in the IANA time zone given (the page passes the browser's own).

import {
  PHASES, SERVER_NOW, TimerError, ValueError, configure, extend, makeState, pause, reset, resume, skip, start,
  stateFromWire, stop, view, withServerTimes,
} from "./timer.js";

export const SCHEMA = 1;
export const COMPLETED = "completed";
export const INTERRUPTED = "interrupted";
export const RUNNING = "running";
export const PAUSED = "paused";
export const PRESENCE_FRESH_MS = 45_000;
export const LOOKAHEAD_MS = 2 * 24 * 3_600_000;
export const TALLY = Object.freeze(["focus_ms", "break_ms", "completed", "interrupted", "in_progress", "breaks"]);
export const LABEL_TALLY = Object.freeze(["focus_ms", "completed", "interrupted", "in_progress"]);
const NEW_BLOCK = ["start", "skip"];
const ENDS_BLOCK = ["start", "skip", "stop", "reset"];
const MAX_LABEL = 200;

const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
const whole = (v) => (typeof v === "number" && Number.isInteger(v) ? v : null);
const text = (v) => (typeof v === "string" ? v : null);
const cmp = (a, b) => {
  // Python's order of str: by code point (JavaScript's < compares UTF-16 code units)
  const x = Array.from(a, (c) => c.codePointAt(0));
  const y = Array.from(b, (c) => c.codePointAt(0));
  for (let i = 0; i < Math.min(x.length, y.length); i += 1) if (x[i] !== y[i]) return x[i] - y[i];
  return x.length - y.length;
};

// ---------------------------------------------------------------------------------------------
// Steps: the state each rev made

function revKey(key) {
  return /^[0-9]{1,15}$/.test(key) && String(Number(key)) === key ? Number(key) : 0;
}

/** Children keyed by rev (a Map in rev order), from a stored value: an object with rev keys,
 * or the array RTDB renders for dense integer keys; anything not an object is left out. */
export function byRev(raw) {
  const out = new Map();
  // Array.from, not map: the SDK's arrays have holes where keys are missing (map keeps them)
  const items = Array.isArray(raw) ? Array.from(raw, (v, i) => [i, v]) : isObject(raw) ? Object.entries(raw).map(([k, v]) => [revKey(k), v]) : [];
  for (const [rev, v] of items) if (isObject(v) && rev > 0) out.set(rev, v);
  return out;
}

function fromRecord(rev, record) {
  const at = whole(record.updated_at);
  let state;
  try {
    state = stateFromWire(record);
  } catch (e) {
    if (e instanceof ValueError || e instanceof TypeError) return null;
    throw e;
  }
  if (at === null || state.rev !== rev || state.started_at === SERVER_NOW || state.paused_at === SERVER_NOW) return null;
  return { rev, at, state, by: text(record.updated_by), name: text(record.updated_by_name), exact: true };
}

function relabel(state, by, label) {
  if (label.length > MAX_LABEL) throw new ValueError(`label is longer than ${MAX_LABEL} characters`);
  if (state.status === "idle") throw new TimerError("the timer is stopped");
  return makeState({
    ...state, rev: state.rev + 1, updated_at: SERVER_NOW, updated_by: by, updated_by_name: null,
    action: "label", label: label || null,
  });
}

function replayed(rev, entry, prev) {
  const at = whole(entry.at);
  const by = text(entry.by) || "";
  const action = entry.action;
  if (at === null) return null;
  const ms = whole(entry.ms);
  const label = text(entry.label);
  let next;
  try {
    if (action === "start") {
      next = start(prev, by, at, { duration_ms: ms, label, phase: Object.hasOwn(entry, "phase") ? entry.phase : "focus" });
    } else if (action === "skip") {
      next = skip(prev, by, at);
      if (PHASES.includes(entry.phase) && ms !== null && ms > 0) next = makeState({ ...next, phase: entry.phase, duration_ms: ms });
    } else if (action === "pause") {
      next = pause(prev, by, at);
    } else if (action === "resume") {
      next = resume(prev, by, at);
    } else if (action === "stop") {
      next = stop(prev, by, at);
    } else if (action === "extend" && ms !== null) {
      next = extend(prev, by, at, ms);
    } else if (action === "label") {
      next = relabel(prev, by, label || "");
    } else if (action === "settings") {
      next = configure(prev, by, at, prev.cycle);
    } else if (action === "reset") {
      next = reset(prev, by, at);
    } else {
      return null;
    }
  } catch (e) {
    if (e instanceof TimerError || e instanceof ValueError || e instanceof TypeError) return null;
    throw e;
  }
  const name = text(entry.name);
  const state = makeState({ ...withServerTimes(makeState({ ...next, rev, updated_by_name: name }), at), updated_at: at });
  return { rev, at, state, by: by || null, name, exact: false };
}

/** [steps, inexact]: the history's actions in rev order, each with the state it made, and how
 * many could not be known exactly (see focuscli/blocks.py `steps`). */
export function steps(states, log = null, { cycle = null } = {}) {
  const records = byRev(states);
  const entries = byRev(log);
  const revs = [...new Set([...records.keys(), ...entries.keys()])].sort((a, b) => a - b);
  const out = [];
  let inexact = revs.length ? revs[revs.length - 1] - revs[0] + 1 - revs.length : 0; // revs missing between them
  let prev = makeState(cycle ? { cycle } : {});
  for (const rev of revs) {
    let step = records.has(rev) ? fromRecord(rev, records.get(rev)) : null;
    if (step === null) {
      inexact += 1;
      if (entries.has(rev)) step = replayed(rev, entries.get(rev), prev);
    }
    if (step === null || (out.length && step.at < out[out.length - 1].at)) continue;
    out.push(step);
    prev = step.state;
  }
  return [out, inexact];
}

// ---------------------------------------------------------------------------------------------
// Blocks

function newBlock(phase, round, begun, rev, lengthMs, label) {
  return {
    phase, round, start: begun, rev, length_ms: lengthMs, label, end: null, outcome: RUNNING, runs: [],
    actors: new Map(), changes: 0,
  };
}

export const runningMs = (block) => block.runs.reduce((sum, [a, b]) => sum + (b - a), 0);

function run(block, from, to) {
  if (to <= from) return;
  const last = block.runs[block.runs.length - 1];
  if (last && last[1] === from) last[1] = to;
  else block.runs.push([from, to]);
}

function acted(block, step) {
  if (step.by) block.actors.set(step.by, (block.actors.get(step.by) ?? 0) + 1);
}

/** A block as the case files write it (focuscli/blocks.py Block.to_json). */
export function blockToJson(b) {
  const actors = Object.fromEntries([...b.actors.entries()].sort(([x], [y]) => cmp(x, y)));
  return {
    phase: b.phase, round: b.round, start: b.start, end: b.end, outcome: b.outcome, running_ms: runningMs(b),
    length_ms: b.length_ms, label: b.label, rev: b.rev, runs: b.runs.map((r) => [...r]), actors, changes: b.changes,
  };
}

function enter(blocks, current, step) {
  const { state, at } = step;
  if (state.status === "idle") return null;
  const v = view(state, at);
  if (current !== null && current.phase === v.phase && current.round === v.round && !NEW_BLOCK.includes(state.action)) {
    current.length_ms = v.duration_ms;
    if (current.end !== null && (v.status === "running" || v.status === "paused") && v.remaining_ms > 0) {
      current.end = null;
      current.outcome = RUNNING;
    }
    return current;
  }
  if (v.status === "done") return null;
  if (current !== null && current.end === null) {
    current.end = at; // (a history with a gap) it ended by now
    current.outcome = INTERRUPTED;
  }
  const begun = NEW_BLOCK.includes(state.action) || v.ends_at === null ? at : v.ends_at - v.duration_ms;
  const block = newBlock(v.phase, v.round, begun, step.rev, v.duration_ms, state.label);
  acted(block, step); // its start or skip (or, after a gap, the first action seen on it)
  blocks.push(block);
  return block;
}

function runOn(blocks, current, state, at, until) {
  let t = at;
  while (current !== null && current.end === null && t < until) {
    const v = view(state, t);
    const end = v.ends_at;
    if (v.status !== "running" || end === null) break;
    if (end > until) {
      run(current, t, until);
      break;
    }
    run(current, t, end);
    current.end = end;
    current.outcome = COMPLETED;
    if (!state.cycle.auto_advance) break;
    const next = view(state, end);
    current = newBlock(next.phase, next.round, end, state.rev, next.duration_ms, state.label);
    blocks.push(current);
    t = end;
  }
  return current;
}

/** Every phase run from the first step up to `horizon` (focuscli/blocks.py `replay`). */
export function replay(history, horizon) {
  const blocks = [];
  let current = null;
  history.forEach((step, i) => {
    const until = Math.max(step.at, i + 1 < history.length ? history[i + 1].at : horizon);
    const { state, at } = step;
    const action = state.action;
    if (current !== null && ENDS_BLOCK.includes(action)) {
      if (current.end === null) {
        current.end = at;
        current.outcome = INTERRUPTED;
        acted(current, step);
      }
      current = null;
    }
    const entered = enter(blocks, current, step);
    if (entered !== null && entered === current) {
      acted(entered, step);
      entered.changes += 1;
      entered.label = state.label;
    }
    current = entered;
    if (state.status === "running") current = runOn(blocks, current, state, at, until);
  });
  if (current !== null && current.end === null) {
    const last = history[history.length - 1];
    const v = view(last.state, Math.max(horizon, last.at));
    current.outcome = v.status === "paused" ? PAUSED : RUNNING;
  }
  return blocks.filter((b) => b.runs.length || b.outcome === RUNNING || b.outcome === PAUSED);
}

// ---------------------------------------------------------------------------------------------
// The report

/** The calendar date (YYYY-MM-DD) of server time `ms` in the IANA time zone `tz`. */
export function dayOf(ms, tz) {
  const parts = new Intl.DateTimeFormat("en-US", {
    timeZone: tz, year: "numeric", month: "2-digit", day: "2-digit", calendar: "gregory", numberingSystem: "latn",
  }).formatToParts(new Date(ms));
  const get = (type) => parts.find((p) => p.type === type).value;
  return `${get("year").padStart(4, "0")}-${get("month")}-${get("day")}`;
}

const DAY = 86_400_000;
const dateMs = (d) => Date.UTC(Number(d.slice(0, 4)), Number(d.slice(5, 7)) - 1, Number(d.slice(8, 10)));
const isoDate = (ms) => new Date(ms).toISOString().slice(0, 10);

function dates(first, last) {
  const out = [];
  for (let t = dateMs(first); t <= dateMs(last); t += DAY) out.push(isoDate(t));
  return out;
}

/** The longest run of consecutive dates in `days` (sorted, unique): {days, from, to}. */
export function longestStreak(days) {
  let best = { days: 0, from: null, to: null };
  let runStart = null;
  let prev = null;
  for (const d of days) {
    const t = dateMs(d);
    if (prev === null || t - prev !== DAY) runStart = t;
    prev = t;
    const length = Math.round((t - runStart) / DAY) + 1;
    if (length > best.days) best = { days: length, from: isoDate(runStart), to: d };
  }
  return best;
}

/** [uid, name, from, to] of each presence span, sorted by start (focuscli/report.py `spans`). */
export function spans(presence, now) {
  const out = [];
  const items = isObject(presence) ? Object.values(presence) : Array.isArray(presence) ? presence : [];
  for (const span of items) {
    if (!isObject(span) || typeof span.uid !== "string") continue;
    const from = whole(span.from);
    const seen = whole(span.seen);
    let end = whole(span.to);
    if (from === null || seen === null) continue;
    if (end === null) end = now - seen <= PRESENCE_FRESH_MS ? now : seen;
    if (end > from) out.push([span.uid, text(span.name), from, end]);
  }
  return out.sort((a, b) => a[2] - b[2] || cmp(a[0], b[0]) || a[3] - b[3] || cmp(a[1] ?? "", b[1] ?? ""));
}

function shares(block, present) {
  const out = new Map([...block.actors.keys()].map((uid) => [uid, runningMs(block)]));
  for (const [uid, , from, to] of present) {
    if (block.actors.has(uid)) continue;
    let overlap = 0;
    for (const [a, b] of block.runs) overlap += Math.max(0, Math.min(b, to) - Math.max(a, from));
    if (overlap > 0) out.set(uid, (out.get(uid) ?? 0) + overlap);
  }
  return out;
}

function attendance(chosen, present) {
  const out = [];
  let active = [];
  let i = 0;
  for (const block of chosen) {
    const first = block.runs.length ? block.runs[0][0] : block.start;
    const last = block.runs.length ? block.runs[block.runs.length - 1][1] : block.start;
    while (i < present.length && present[i][2] < last) active.push(present[i++]);
    active = active.filter((s) => s[3] > first);
    out.push(shares(block, active));
  }
  return out;
}

function stateCycle(current) {
  if (!isObject(current)) return null;
  try {
    return stateFromWire(current).cycle;
  } catch (e) {
    if (e instanceof ValueError || e instanceof TypeError) return null;
    throw e;
  }
}

/** The blocks that began in [start, end) and who attended them (focuscli/report.py `analyse`):
 * {blocks: [[block, Map uid -> ms]], steps, names: Map, members: [uid], inexact}. */
export function analyse(history, { start: from, end, now, horizon = null }) {
  const [all, inexact] = steps(history.states, history.log, { cycle: stateCycle(history.state) });
  const chosen = replay(all, horizon === null ? now : Math.min(now, horizon)).filter((b) => from <= b.start && b.start < end);
  const reach = Math.max(end, ...chosen.filter((b) => b.runs.length).map((b) => b.runs[b.runs.length - 1][1]));
  const present = spans(history.presence, now).filter((s) => s[3] > from && s[2] < reach);
  const names = new Map();
  const events = (isObject(history.roster) ? Object.values(history.roster) : [])
    .filter((e) => isObject(e) && typeof e.uid === "string" && typeof e.name === "string")
    .sort((a, b) => (whole(a.at) ?? 0) - (whole(b.at) ?? 0) || cmp(a.uid, b.uid) || cmp(a.name, b.name));
  for (const event of events) names.set(event.uid, event.name);
  for (const s of all) if (s.by && s.name) names.set(s.by, s.name);
  for (const [uid, name] of present) if (name) names.set(uid, name);
  const members = isObject(history.members) ? Object.keys(history.members).filter((u) => isObject(history.members[u])).sort(cmp) : [];
  for (const uid of members) if (typeof history.members[uid].name === "string") names.set(uid, history.members[uid].name);
  const share = attendance(chosen, present);
  return { blocks: chosen.map((b, i) => [b, share[i]]), steps: all, names, members, inexact };
}

const tally = () => Object.fromEntries(TALLY.map((k) => [k, 0]));

function count(t, block, ms) {
  if (block.phase === "focus") {
    t.focus_ms += ms;
    t[block.outcome === COMPLETED ? "completed" : block.outcome === INTERRUPTED ? "interrupted" : "in_progress"] += 1;
  } else {
    t.break_ms += ms;
    t.breaks += 1;
  }
}

/** The report of the blocks that began in [start, end) (focuscli/report.py `build`). */
export function buildReport(history, { start: from, end, now, tz, horizon = null }) {
  const seen = analyse(history, { start: from, end, now, horizon });
  const days = new Map(dates(dayOf(from, tz), dayOf(Math.max(from, end - 1), tz)).map((d) => [d, { ...tally(), members: {} }]));
  const totals = tally();
  const unattended = { blocks: 0, focus_ms: 0 };
  const people = new Map(seen.members.map((uid) => [uid, { ...tally(), actions: 0 }]));
  const labels = new Map();
  const teamDays = new Set();
  const memberDays = new Map();
  const person = (uid) => {
    if (!people.has(uid)) people.set(uid, { ...tally(), actions: 0 });
    return people.get(uid);
  };
  for (const [block, share] of seen.blocks) {
    if (share.size === 0) {
      if (block.phase === "focus") {
        unattended.blocks += 1;
        unattended.focus_ms += runningMs(block);
      }
      continue;
    }
    const d = dayOf(block.start, tz);
    if (!days.has(d)) days.set(d, { ...tally(), members: {} });
    const row = days.get(d);
    count(totals, block, runningMs(block));
    count(row, block, runningMs(block));
    if (block.phase === "focus") {
      const key = block.label || null;
      if (!labels.has(key)) labels.set(key, tally());
      count(labels.get(key), block, runningMs(block));
    }
    const completed = block.phase === "focus" && block.outcome === COMPLETED;
    if (completed) teamDays.add(d);
    for (const [uid, ms] of share) {
      count(person(uid), block, ms);
      if (block.phase === "focus") row.members[uid] = (row.members[uid] ?? 0) + ms;
      if (completed) {
        if (!memberDays.has(uid)) memberDays.set(uid, new Set());
        memberDays.get(uid).add(d);
      }
    }
  }
  let actions = 0;
  for (const step of seen.steps) {
    if (from <= step.at && step.at < end && step.by) {
      actions += 1;
      person(step.by).actions += 1;
    }
  }
  const memberRows = [...people.entries()].map(([uid, row]) => ({
    uid, name: seen.names.get(uid) ?? uid, ...row,
    longest_streak: longestStreak([...(memberDays.get(uid) ?? [])].sort()).days,
  }));
  memberRows.sort((a, b) => b.focus_ms - a.focus_ms || cmp(a.name, b.name) || cmp(a.uid, b.uid));
  const labelRows = [...labels.entries()].map(([label, row]) => ({ label, ...Object.fromEntries(LABEL_TALLY.map((k) => [k, row[k]])) }));
  labelRows.sort((a, b) => b.focus_ms - a.focus_ms || (a.label === null) - (b.label === null) || cmp(a.label ?? "", b.label ?? ""));
  const sortedDays = [...days.entries()].sort(([a], [b]) => cmp(a, b));
  return {
    schema: SCHEMA, from, to: end, now, exact: seen.inexact === 0, inexact_actions: seen.inexact,
    totals: {
      ...totals, actions,
      members: memberRows.filter((r) => r.focus_ms || r.break_ms || r.actions).length,
      longest_streak: longestStreak([...teamDays].sort()),
      unattended,
    },
    days: sortedDays.map(([date, row]) => ({
      date, ...Object.fromEntries(TALLY.map((k) => [k, row[k]])),
      members: Object.fromEntries(Object.entries(row.members).sort(([x], [y]) => cmp(x, y))),
    })),
    members: memberRows,
    labels: labelRows,
  };
}
