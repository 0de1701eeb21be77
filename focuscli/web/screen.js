/** What the page shows at one instant: a pure function of the model and the local clock. */

// screen(model, localNow) returns plain data (texts, which panel, which controls) and page.js
// copies it into the DOM with textContent only. Everything that depends on time (the time left,
// "4 s ago", who is here) is computed here from server timestamps and the server-clock estimate,
// the way focus watch computes it (focuscli/view.py, focuscli/service.py `presence`).

import { PHASE_NAMES, tabTitle, timeLeft } from "./format.js";
import { formatDuration, phaseAfter, stateFromWire, view } from "./timer.js";

export const HEARTBEAT_MS = 15_000; // focuscli/service.py HEARTBEAT_S
export const PRESENCE_FRESH_MS = 45_000; // focuscli/service.py PRESENCE_FRESH_MS
const VERBS = {
  start: "started", pause: "paused", resume: "resumed", stop: "stopped", skip: "skipped",
  extend: "extended", settings: "cycle settings changed", label: "relabelled", reset: "reset",
};

const isTime = (value) => typeof value === "number" && Number.isInteger(value);
const phaseName = (phase) => (Object.hasOwn(PHASE_NAMES, phase) ? PHASE_NAMES[phase] : String(phase));

/** The session's members with `here` (a heartbeat within PRESENCE_FRESH_MS and no clean end of
 * a watch since), `seenAt` and `awayAt`, sorted by name: focuscli/service.py `presence`. */
export function presence(members, serverNow) {
  const out = [];
  for (const [uid, record] of Object.entries(members ?? {})) {
    const rec = typeof record === "object" && record !== null ? record : {};
    const seenAt = isTime(rec.seen_at) ? rec.seen_at : null;
    const awayAt = isTime(rec.away_at) ? rec.away_at : null;
    const fresh = seenAt !== null && serverNow - seenAt <= PRESENCE_FRESH_MS;
    const here = fresh && (awayAt === null || awayAt < seenAt);
    const name = typeof rec.name === "string" && rec.name ? rec.name : uid;
    out.push({ uid, name, here, seenAt, awayAt });
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.uid < b.uid ? -1 : 1));
}

/** "4 s ago", "3 min ago", "2 h ago" (focuscli/view.py `ago`). */
export function ago(ms) {
  const seconds = Math.max(0, Math.floor(ms / 1000));
  if (seconds < 60) return `${seconds} s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  return `${Math.floor(seconds / 3600)} h ago`;
}

/** A server time as the local wall clock, HH:MM:SS. */
export function clockTime(serverMs, offset) {
  const d = new Date(serverMs - offset);
  const two = (n) => String(n).padStart(2, "0");
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}

/** "paused by ana · 4 s ago" (empty when nobody has acted yet). */
export function lastAction(v, serverNow) {
  if (!v.action || !v.updated_by) return "";
  const verb = Object.hasOwn(VERBS, v.action) ? VERBS[v.action] : v.action;
  let text = `${verb} by ${v.updated_by_name || v.updated_by}`;
  if (v.updated_at !== null) text += ` · ${ago(serverNow - v.updated_at)}`;
  return text;
}

/** One history line per log entry, newest first: focus log's words. */
export function history(log, offset) {
  const revs = Object.keys(log).filter((k) => /^[0-9]+$/.test(k)).sort((a, b) => Number(b) - Number(a));
  return revs.map((rev) => {
    const e = typeof log[rev] === "object" && log[rev] !== null ? log[rev] : {};
    const extra = [];
    if (typeof e.phase === "string") extra.push(phaseName(e.phase));
    if (isTime(e.ms)) extra.push(formatDuration(e.ms));
    if (typeof e.label === "string" && e.label) extra.push(JSON.stringify(e.label));
    const who = typeof e.name === "string" && e.name ? e.name : String(e.by ?? "?");
    const text = `${String(e.action ?? "?")} by ${who}${extra.length ? " " + extra.join(" ") : ""}`;
    return { rev, when: isTime(e.at) ? clockTime(e.at, offset) : "", text };
  });
}

/** Which controls make sense for a view (the buttons a member can press). */
export function controls(v) {
  const on = (status) => status.includes(v.status);
  return {
    start: on(["idle", "done"]),
    pause: on(["running"]),
    resume: on(["paused"]),
    skip: on(["running", "paused", "done"]),
    stop: on(["running", "paused", "done"]),
    extend: on(["running", "paused", "done"]),
  };
}

/** The phase a Start would begin by default: the one shown when stopped, the next when done. */
export function nextPhase(state, v) {
  if (v.status === "done") return phaseAfter(state.cycle, v.phase, v.round)[0];
  return v.status === "idle" ? v.phase : "focus";
}

/** What a key does now: {action} to run, or {notice} saying which key does what (as the
 * terminal's watch: space pause/resume, s skip, n start the next phase). */
export function keyAction(key, v) {
  if (![" ", "s", "S", "n", "N"].includes(key)) return {};
  if (key === "n" || key === "N") {
    if (v.status === "idle") return { action: "start" };
    if (v.status === "done") return { action: "skip" };
    return { notice: "n starts the next phase once this one is over or stopped; s skips to it now" };
  }
  if (v.status === "idle") return { notice: `the timer is stopped; n starts ${phaseName(v.phase)}` };
  if (key === "s" || key === "S") return { action: "skip" };
  if (v.status === "done") return { notice: "the phase is over; n starts the next one" };
  return { action: v.status === "paused" ? "resume" : "pause" };
}

/** A phase that time (not a member) ended between two views of the same state: the watch's
 * phase_end. Returns {ended, next} phase names, or null. */
export function phaseEnd(before, after) {
  if (!before || !after || before.rev !== after.rev) return null;
  if (before.status !== "running") return null;
  if (before.phase === after.phase && before.round === after.round && before.status === after.status) return null;
  return { ended: before.phase, next: after.phase, status: after.status };
}

function timerPanel(model, serverNow) {
  let state;
  let problem = "";
  try {
    state = stateFromWire(model.state);
  } catch (err) {
    problem = `The timer in the database is malformed (${err.message}); a member can start it clean from a terminal with: focus reset --session ${model.route.session}`;
    state = stateFromWire(null);
  }
  const v = view(state, serverNow);
  const status = v.status === "idle" ? "stopped" : v.status;
  const line = v.status === "idle"
    ? `stopped · next: ${phaseName(v.phase)} · round ${v.round}`
    : `${phaseName(v.phase)} · round ${v.round} · ${v.status}`;
  return {
    view: v,
    clock: timeLeft(v),
    phase: v.phase,
    status,
    line,
    label: v.label || "",
    progress: v.duration_ms > 0 ? Math.min(1, Math.max(0, v.elapsed_ms / v.duration_ms)) : 0,
    last: lastAction(v, serverNow),
    controls: controls(v),
    nextPhase: nextPhase(state, v),
    problem,
  };
}

/** The screen at local time `localNow` (ms): the panel to show and everything on it. */
export function screen(model, localNow) {
  const serverNow = localNow + model.offset;
  const session = model.route.session;
  const out = {
    panel: "loading",
    title: "focus",
    notice: model.notice,
    busy: model.busy,
    user: model.user,
    session,
    connection: model.connected ? "live" : model.everConnected ? "reconnecting" : "connecting",
    failure: model.failure,
  };
  if (model.stage === "failed") return { ...out, panel: "failed" };
  if (model.stage === "loading") return out;
  if (model.stage === "signed_out") return { ...out, panel: "signin", title: session ? `${session} · focus` : "focus" };
  if (model.stage === "naming") return { ...out, panel: "name" };
  if (session === null) return { ...out, panel: "sessions", sessions: model.sessions };
  if (model.meta === undefined || model.member === undefined) return { ...out, title: `${session} · focus` };
  if (model.meta === null) return { ...out, panel: "missing", title: `${session} · focus` };
  if (!model.member) {
    const owner = model.meta.owner === model.user.uid;
    return { ...out, panel: "join", owner, removed: model.removed, title: `${session} · focus` };
  }
  const timer = timerPanel(model, serverNow);
  const people = presence(model.members, serverNow);
  return {
    ...out,
    notice: timer.problem ? { text: timer.problem, error: true } : out.notice,
    panel: "timer",
    title: tabTitle(timer.view, session),
    timer,
    here: people.filter((p) => p.here).map((p) => p.name),
    away: people.filter((p) => !p.here).map((p) => p.name),
    history: history(model.log, model.offset),
    serverNow,
  };
}
