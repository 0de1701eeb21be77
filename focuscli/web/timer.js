/** The shared timer's pure core for the page: focuscli/timer.py's state, wire form, view and actions. */

// One semantics, two implementations: tests/cases/timer/*.json run against this module (node
// --test) and against focuscli/timer.py (pytest), field for field and message for message.
// Data keeps the wire's snake_case names; states, cycles and views are frozen plain objects.
// Times are integer server ms (JavaScript numbers: exact below 2**53, some 285,000 years).

import { pyRepr, reprString } from "./repr.js";

export const PHASES = Object.freeze(["focus", "short_break", "long_break"]);
export const STATUSES = Object.freeze(["idle", "running", "paused"]); // a view may also say "done"
export const UNTIL = Object.freeze(["end", "break", "focus"]);
export const SECOND_MS = 1000;
export const MINUTE_MS = 60 * SECOND_MS;
export const HOUR_MS = 60 * MINUTE_MS;
export const MAX_DURATION_MS = 24 * HOUR_MS;
export const MAX_PHASE_MS = 48 * HOUR_MS; // a phase with extensions (the rules allow 48h)
export const MAX_LONG_EVERY = 100;

/** "The server's time at commit": the RTDB placeholder itself, so a state's wire form can be
 * written as it is (the SDK's serverTimestamp() is this same value). */
export const SERVER_NOW = Object.freeze({ ".sv": "timestamp" });

const SPECIAL = new Map([[SERVER_NOW, "SERVER_NOW"]]);
const repr = (value) => pyRepr(value, SPECIAL);

/** A bad value or argument (Python's ValueError); the message is one line. */
export class ValueError extends Error {
  constructor(message) {
    super(message);
    this.name = "ValueError";
  }
}

/** An action that makes no sense in the timer's current state; the message is one line. */
export class TimerError extends Error {
  constructor(message) {
    super(message);
    this.name = "TimerError";
  }
}

/** Duration text that parseDuration does not accept; the message names the accepted forms. */
export class DurationError extends ValueError {
  constructor(message) {
    super(message);
    this.name = "DurationError";
  }
}

// Exact integer arithmetic on safe integers (Python's // and divmod floor).
function floorDiv(a, b) {
  return (a - mod(a, b)) / b;
}

function mod(a, b) {
  return ((a % b) + b) % b;
}

// ---------------------------------------------------------------------------------------------
// Durations

const FORMS =
  "use 25 (minutes), 25m, 90s, 1h, 1h30m, 1h30m15s, 25:00 or 1:30:00; more than 0, at most 24h";
const UNITS = /^(?:([0-9]+)[ \t\n\r\f\v]*[hH])?[ \t\n\r\f\v]*(?:([0-9]+)[ \t\n\r\f\v]*[mM])?[ \t\n\r\f\v]*(?:([0-9]+)[ \t\n\r\f\v]*[sS])?$/;
const CLOCK = /^(?:([0-9]+):([0-5][0-9])|([0-9]+)):([0-5][0-9])$/;
// What Python's str.strip() removes: the characters for which str.isspace() is true.
const PY_SPACE =
  "\t\n\v\f\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000";

function pyStrip(text) {
  let start = 0;
  let end = text.length;
  while (start < end && PY_SPACE.includes(text[start])) start += 1;
  while (end > start && PY_SPACE.includes(text[end - 1])) end -= 1;
  return text.slice(start, end);
}

/** Milliseconds in `text`: "25" (minutes), "25m", "90s", "1h30m15s", "25:00", "1:30:00". */
export function parseDuration(text) {
  const s = pyStrip(text);
  const length = [...s].length;
  let ms = null;
  if (length > 0 && length <= 32) {
    let m;
    if (/^[0-9]+$/.test(s)) {
      ms = Number(s) * MINUTE_MS;
    } else if ((m = CLOCK.exec(s)) !== null) {
      const [, h, mm, lead, ss] = m;
      const minutes = h !== undefined ? Number(mm) + Number(h) * 60 : Number(lead);
      ms = (minutes * 60 + Number(ss)) * SECOND_MS;
    } else if ((m = UNITS.exec(s)) !== null && m.slice(1).some((g) => g !== undefined)) {
      const [h, mm, ss] = m.slice(1).map((g) => (g !== undefined ? Number(g) : 0));
      // 90m and 90s stand alone, but after a larger unit 1h99m or 1m75s is a typo
      const typo = (m[1] !== undefined && mm >= 60) || ((m[1] !== undefined || m[2] !== undefined) && ss >= 60);
      if (!typo) ms = h * HOUR_MS + mm * MINUTE_MS + ss * SECOND_MS;
    }
  }
  if (ms === null || !(ms > 0 && ms <= MAX_DURATION_MS)) {
    const shown = [...text].slice(0, 40).join("");
    throw new DurationError(`invalid duration ${reprString(shown)}: ${FORMS}`);
  }
  return ms;
}

/** Clock text: "0:07", "25:00" (m:ss) under an hour, "1:05:09" above; rounds up to seconds. */
export function formatDuration(ms) {
  const total = Math.max(0, -floorDiv(-ms, SECOND_MS));
  const hours = floorDiv(total, 3600);
  const minutes = floorDiv(total % 3600, 60);
  const seconds = total % 60;
  const two = (n) => String(n).padStart(2, "0");
  return hours ? `${hours}:${two(minutes)}:${two(seconds)}` : `${minutes}:${two(seconds)}`;
}

// ---------------------------------------------------------------------------------------------
// State and wire form

const isInt = (value) => typeof value === "number" && Number.isInteger(value);
const isObject = (value) => typeof value === "object" && value !== null && !Array.isArray(value);
const isSv = (value) =>
  isObject(value) && Object.keys(value).length === 1 && value[".sv"] === "timestamp";

function check(ok, what, value) {
  if (!ok) throw new ValueError(`${what}, got ${repr(value)}`);
}

function checkTs(name, value, required) {
  if (value === null) check(!required, `'${name}' is required in this status`, value);
  else check(isInt(value) || value === SERVER_NOW, `'${name}' must be a server timestamp`, value);
}

const CYCLE_DEFAULTS = Object.freeze({
  focus_ms: 25 * MINUTE_MS,
  short_break_ms: 5 * MINUTE_MS,
  long_break_ms: 15 * MINUTE_MS,
  long_every: 4,
  auto_advance: false,
});
const CYCLE_FIELDS = Object.keys(CYCLE_DEFAULTS);
const CYCLES = new WeakSet(); // every cycle makeCycle checked (Python: an instance of Cycle)
const isCycle = (value) => isObject(value) && CYCLES.has(value);

/** A cycle from its fields (missing ones take the defaults); ValueError when one is bad. */
export function makeCycle(fields = {}) {
  const c = { ...CYCLE_DEFAULTS };
  for (const k of CYCLE_FIELDS) if (Object.hasOwn(fields, k)) c[k] = fields[k];
  for (const name of ["focus_ms", "short_break_ms", "long_break_ms"]) {
    const value = c[name];
    const ok = isInt(value) && value > 0 && value <= MAX_DURATION_MS;
    check(ok, `invalid cycle: '${name}' must be whole ms in (0, 24h]`, value);
  }
  const ok = isInt(c.long_every) && c.long_every >= 1 && c.long_every <= MAX_LONG_EVERY;
  check(ok, `invalid cycle: 'long_every' must be 1..${MAX_LONG_EVERY}`, c.long_every);
  check(typeof c.auto_advance === "boolean", "invalid cycle: 'auto_advance' must be a boolean", c.auto_advance);
  CYCLES.add(Object.freeze(c));
  return c;
}

/** The configured length of a phase, in ms. */
export function phaseLength(cycle, phase) {
  return { focus: cycle.focus_ms, short_break: cycle.short_break_ms, long_break: cycle.long_break_ms }[phase];
}

/** The phase and round that follow `phase` of round `rnd`. */
export function phaseAfter(cycle, phase, rnd) {
  if (phase === "focus") return [rnd % cycle.long_every === 0 ? "long_break" : "short_break", rnd];
  return ["focus", rnd + 1];
}

/** The cycle in an RTDB value; missing keys take defaults, bad ones throw ValueError. */
export function cycleFromWire(data) {
  if (!isObject(data)) throw new ValueError(`invalid cycle: expected an object, got ${repr(data)}`);
  return makeCycle(data);
}

export function cycleToWire(cycle) {
  return Object.fromEntries(CYCLE_FIELDS.map((k) => [k, cycle[k]]));
}

const STATE_FIELDS = [
  "rev", "status", "phase", "round", "duration_ms", "started_at", "offset_ms", "paused_at",
  "label", "cycle", "updated_at", "updated_by", "updated_by_name", "action",
];
const TS_FIELDS = ["started_at", "paused_at", "updated_at"];

/** A timer state from its fields (missing ones take the defaults: the initial idle state),
 * checked like Python's TimerState; ValueError("invalid timer state: ...") when inconsistent. */
export function makeState(fields = {}) {
  const s = {
    rev: 0, status: "idle", phase: "focus", round: 1, duration_ms: CYCLE_DEFAULTS.focus_ms,
    started_at: null, offset_ms: 0, paused_at: null, label: null, cycle: null,
    updated_at: null, updated_by: null, updated_by_name: null, action: null,
  };
  for (const k of STATE_FIELDS) if (Object.hasOwn(fields, k)) s[k] = fields[k] === undefined ? null : fields[k];
  if (s.cycle === null && !Object.hasOwn(fields, "cycle")) s.cycle = makeCycle();
  const idle = s.status === "idle";
  const paused = s.status === "paused";
  try {
    checkTs("started_at", s.started_at, !idle);
    checkTs("paused_at", s.paused_at, paused);
    checkTs("updated_at", s.updated_at, false);
    check(isInt(s.rev) && s.rev >= 0, "'rev' must be an integer >= 0", s.rev);
    check(STATUSES.includes(s.status), "'status' must be one of idle, running, paused", s.status);
    check(PHASES.includes(s.phase), `'phase' must be one of ${PHASES.join(", ")}`, s.phase);
    check(isInt(s.round) && s.round >= 1, "'round' must be an integer >= 1", s.round);
    check(isInt(s.duration_ms) && s.duration_ms > 0, "'duration_ms' must be an integer > 0", s.duration_ms);
    check(isInt(s.offset_ms), "'offset_ms' must be an integer", s.offset_ms);
    check(!idle || s.started_at === null, "'started_at' must be absent when idle", s.started_at);
    check(paused || s.paused_at === null, "'paused_at' must be absent unless paused", s.paused_at);
    for (const k of ["label", "updated_by", "updated_by_name", "action"]) {
      check(s[k] === null || typeof s[k] === "string", `'${k}' must be text`, s[k]);
    }
    check(isCycle(s.cycle), "'cycle' must be a Cycle", s.cycle);
  } catch (e) {
    if (e instanceof ValueError) throw new ValueError(`invalid timer state: ${e.message}`);
    throw e;
  }
  return Object.freeze(s);
}

/** The state in an RTDB value (null: the initial idle state); malformed: ValueError.
 * Unknown keys are ignored; {".sv": "timestamp"} reads as SERVER_NOW. */
export function stateFromWire(data) {
  if (data === null || data === undefined) return makeState();
  if (!isObject(data)) throw new ValueError(`invalid timer state: expected an object, got ${repr(data)}`);
  const missing = ["rev", "status", "phase", "round", "duration_ms"].filter((k) => !Object.hasOwn(data, k));
  if (missing.length) throw new ValueError(`invalid timer state: missing ${missing.join(", ")}`);
  const fields = {};
  for (const k of STATE_FIELDS) {
    if (k !== "cycle" && Object.hasOwn(data, k)) fields[k] = data[k];
  }
  for (const k of TS_FIELDS) if (isSv(fields[k])) fields[k] = SERVER_NOW;
  if (Object.hasOwn(data, "cycle")) {
    try {
      fields.cycle = cycleFromWire(data.cycle);
    } catch (e) {
      if (e instanceof ValueError) throw new ValueError(`invalid timer state: ${e.message}`);
      throw e;
    }
  }
  return makeState(fields);
}

/** The RTDB value: design.md's fields, null ones omitted, SERVER_NOW left as the placeholder. */
export function stateToWire(state) {
  const out = {};
  for (const k of STATE_FIELDS) {
    const value = state[k];
    if (value !== null) out[k] = k === "cycle" ? cycleToWire(value) : value;
  }
  return out;
}

/** The state as the server stores it when its write commits at server time `at`. */
export function withServerTimes(state, at) {
  const fields = { ...state };
  for (const k of TS_FIELDS) if (state[k] === SERVER_NOW) fields[k] = at;
  return makeState(fields);
}

// ---------------------------------------------------------------------------------------------
// Where an anchored state is at a server time

function at(ts, nowMs) {
  return ts === SERVER_NOW ? nowMs : ts;
}

/** The phase that contains the elapsed time of a running or paused state, in O(long_every). */
function locate(state, nowMs) {
  const started = at(state.started_at, nowMs);
  const ref = state.status === "paused" ? at(state.paused_at, nowMs) : nowMs;
  const elapsed = Math.max(0, state.offset_ms + ref - started);
  const base = started - state.offset_ms;
  let phase = state.phase;
  let rnd = state.round;
  let start = 0;
  let length = state.duration_ms;
  const c = state.cycle;
  if (c.auto_advance && elapsed >= length) {
    // Any 2*long_every consecutive phases after the anchor hold long_every focus phases and
    // long_every breaks, exactly one of them long: skip such whole periods arithmetically.
    const period = c.long_every * c.focus_ms + (c.long_every - 1) * c.short_break_ms + c.long_break_ms;
    [phase, rnd] = phaseAfter(c, phase, rnd);
    start = length;
    const whole = floorDiv(elapsed - start, period);
    start += whole * period;
    rnd += whole * c.long_every;
    length = phaseLength(c, phase);
    while (elapsed >= start + length) {
      start += length;
      [phase, rnd] = phaseAfter(c, phase, rnd);
      length = phaseLength(c, phase);
    }
  }
  return { phase, round: rnd, start, length, elapsed, base };
}

/** The timer as shown at server time `nowMs` (the fields of Python's TimerView). */
export function view(state, nowMs) {
  const updatedAt = state.updated_at === null ? null : at(state.updated_at, nowMs);
  let status, phase, rnd, length, remaining, endsAt;
  if (state.status === "idle") {
    [status, phase, rnd, endsAt] = ["idle", state.phase, state.round, null];
    length = remaining = phaseLength(state.cycle, state.phase);
  } else {
    const pos = locate(state, nowMs);
    [phase, rnd, length] = [pos.phase, pos.round, pos.length];
    remaining = Math.max(0, pos.length - (pos.elapsed - pos.start));
    status = state.status === "running" && remaining === 0 ? "done" : state.status;
    endsAt = status === "paused" ? null : pos.base + pos.start + pos.length;
  }
  return Object.freeze({
    status, phase, round: rnd, remaining_ms: remaining, duration_ms: length,
    elapsed_ms: length - remaining, label: state.label, ends_at: endsAt, rev: state.rev,
    updated_at: updatedAt, updated_by: state.updated_by, action: state.action,
    updated_by_name: state.updated_by_name,
  });
}

// ---------------------------------------------------------------------------------------------
// Actions: each takes the state last read, the acting member and `nowMs` (the best estimate of
// the server's time) and returns the new state (rev + 1, updated_at = SERVER_NOW), or throws
// TimerError when it makes no sense now. See focuscli/timer.py for the full account.

const ALREADY_RUNNING = "a timer is already running; use focus skip, extend or stop";
const STOPPED = "the timer is stopped; start it first";

function commit(state, by, action, changes) {
  return makeState({
    ...state, ...changes, rev: state.rev + 1, updated_at: SERVER_NOW, updated_by: by,
    updated_by_name: null, action,
  });
}

function positive(name, ms) {
  if (!isInt(ms) || ms <= 0) throw new ValueError(`${name} must be a whole number of ms > 0, got ${repr(ms)}`);
}

/** Start a phase (default focus, at its cycle length) when idle or done. */
export function start(state, by, nowMs, { duration_ms = null, label = null, phase = "focus" } = {}) {
  if (!PHASES.includes(phase)) {
    throw new ValueError(`phase must be one of ${PHASES.join(", ")}, got ${repr(phase)}`);
  }
  const v = view(state, nowMs);
  if (v.status === "running") throw new TimerError(ALREADY_RUNNING);
  if (v.status === "paused") throw new TimerError("the timer is paused; resume it, or use focus skip or stop");
  let rnd = v.round;
  if (phase === "focus" && (v.phase !== "focus" || v.status === "done")) rnd += 1;
  const length = duration_ms === null ? phaseLength(state.cycle, phase) : duration_ms;
  positive("duration_ms", length);
  return commit(state, by, "start", {
    status: "running", phase, round: rnd, duration_ms: length, started_at: SERVER_NOW,
    offset_ms: 0, paused_at: null, label,
  });
}

export function pause(state, by, nowMs) {
  const v = view(state, nowMs);
  if (v.status === "idle") throw new TimerError(STOPPED);
  if (v.status === "paused") throw new TimerError("the timer is already paused");
  if (v.status === "done") throw new TimerError("the phase is over; start the next one or skip");
  return commit(state, by, "pause", { status: "paused", paused_at: SERVER_NOW });
}

export function resume(state, by, nowMs) {
  if (state.status === "idle") throw new TimerError(STOPPED);
  if (state.status !== "paused") throw new TimerError("the timer is not paused");
  const elapsed = at(state.paused_at, nowMs) - at(state.started_at, nowMs);
  return commit(state, by, "resume", {
    status: "running", offset_ms: state.offset_ms + elapsed, started_at: SERVER_NOW, paused_at: null,
  });
}

export function stop(state, by, nowMs) {
  const v = view(state, nowMs);
  if (v.status === "idle") throw new TimerError("the timer is already stopped");
  let [phase, rnd] = [v.phase, v.round];
  if (v.status === "done") [phase, rnd] = phaseAfter(state.cycle, phase, rnd); // completed
  return commit(state, by, "stop", {
    status: "idle", phase, round: rnd, duration_ms: phaseLength(state.cycle, phase),
    started_at: null, offset_ms: 0, paused_at: null,
  });
}

export function skip(state, by, nowMs) {
  const v = view(state, nowMs);
  if (v.status === "idle") throw new TimerError(STOPPED);
  const [phase, rnd] = phaseAfter(state.cycle, v.phase, v.round);
  return commit(state, by, "skip", {
    status: "running", phase, round: rnd, duration_ms: phaseLength(state.cycle, phase),
    started_at: SERVER_NOW, offset_ms: 0, paused_at: null,
  });
}

/** Fields that make the current phase k the anchor, keeping every elapsed time exact; with
 * `clamp`, a phase already over is re-anchored so its elapsed time is exactly its length. */
function reanchor(state, nowMs, clamp) {
  const pos = locate(state, nowMs);
  const fields = {
    phase: pos.phase, round: pos.round, duration_ms: pos.length, offset_ms: state.offset_ms - pos.start,
  };
  if (clamp && pos.elapsed >= pos.start + pos.length) {
    if (state.status === "running") {
      Object.assign(fields, { offset_ms: pos.length, started_at: SERVER_NOW });
    } else {
      const ran = at(state.paused_at, nowMs) - at(state.started_at, nowMs);
      fields.offset_ms = pos.length - ran;
    }
  }
  return fields;
}

/** Add `ms` to the current phase (a phase that is over runs again for `ms`). */
export function extend(state, by, nowMs, ms) {
  positive("ms", ms);
  if (state.status === "idle") throw new TimerError(STOPPED);
  const fields = reanchor(state, nowMs, true);
  fields.duration_ms += ms;
  if (fields.duration_ms > MAX_PHASE_MS) {
    throw new TimerError(
      `a phase can last at most ${MAX_PHASE_MS / HOUR_MS}h; it would be ${formatDuration(fields.duration_ms)}`,
    );
  }
  return commit(state, by, "extend", fields);
}

/** Store a new cycle; elapsed phases keep their lengths, later ones take the new ones. */
export function configure(state, by, nowMs, cycle) {
  if (!isCycle(cycle)) {
    throw new ValueError(`cycle must be a Cycle, got ${repr(cycle)}`);
  }
  if (state.status === "idle") {
    return commit(state, by, "settings", { cycle, duration_ms: phaseLength(cycle, state.phase) });
  }
  // A done phase is clamped only when the new cycle advances, so overrun does not cascade.
  const fields = reanchor(state, nowMs, cycle.auto_advance);
  return commit(state, by, "settings", { cycle, ...fields });
}

/** Server ms at which `until` is reached with no further action (<= nowMs if it already is);
 * null when that needs an action: idle, paused, or a done phase of that very kind. */
export function nextMoment(state, until, nowMs) {
  if (!UNTIL.includes(until)) {
    throw new ValueError(`until must be one of ${UNTIL.join(", ")}, got ${repr(until)}`);
  }
  const v = view(state, nowMs);
  if (v.status !== "running" && v.status !== "done") return null;
  if (until === "end") return v.ends_at;
  if ((v.phase === "focus") === (until === "focus")) return v.status === "running" ? nowMs : null;
  return v.ends_at;
}

export const MAX_REV = 2 ** 53 - 2; // the next rev must stay a safe integer

/** The rev the rules accept for the state written over the stored state `raw` (a state or any
 * stored value): the stored rev + 1, or 1 when it is not a number at all (the rules count a
 * missing or non-numeric rev as 0); a number that is no whole rev in 0..MAX_REV: ValueError. */
export function nextRev(raw) {
  const rev = isObject(raw) ? raw.rev : undefined;
  if (typeof rev !== "number") return 1;
  if (!(isInt(rev) && rev >= 0 && rev <= MAX_REV)) {
    throw new ValueError(`'rev' must be a whole number from 0 to ${MAX_REV}, got ${repr(rev)}`);
  }
  return rev + 1;
}

/** A clean stopped timer over any stored state `raw` (a state, or the stored value as read,
 * however malformed): the next rev, idle, focus, round 1, the stored cycle if it reads as one
 * (else the default cycle), no label. */
export function reset(raw, by, nowMs) {
  let cycle = isObject(raw) && isCycle(raw.cycle) ? raw.cycle : null;
  if (cycle === null) {
    const wire = isObject(raw) ? raw.cycle : null;
    try {
      cycle = wire === null || wire === undefined ? makeCycle() : cycleFromWire(wire);
    } catch (e) {
      if (!(e instanceof ValueError)) throw e;
      cycle = makeCycle();
    }
  }
  return makeState({
    rev: nextRev(raw), status: "idle", phase: "focus", round: 1, duration_ms: cycle.focus_ms, cycle,
    updated_at: SERVER_NOW, updated_by: by, action: "reset",
  });
}
