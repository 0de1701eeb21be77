/** The write that carries one timer action from the page: the CLI's compare-and-set, as data. */

// docs/design.md, "Concurrency": every action is ONE multi-path update at sessions/<session>,
//   {"state": <new state, rev + 1>, "log/<rev>": <entry>, "states/<rev>": <new state>}
// which the rules accept only while the stored rev is still the one the state was planned on.
// Every attempt of one action carries the same operation id (`op`), so after a refused or
// unanswered write the log tells whether the action is already in. focuscli/plan.py makes the
// same entry for the CLI; tests/cases/timer/plan.json holds both to it.

import {
  SERVER_NOW, configure, cycleFromWire, extend, makeState, pause, reset, resume, skip, start, stateToWire, stop,
} from "./timer.js";

const TRANSITIONS = {
  start: (s, by, now, { duration_ms, label, phase } = {}) => start(s, by, now, { duration_ms, label, phase }),
  pause: (s, by, now) => pause(s, by, now),
  resume: (s, by, now) => resume(s, by, now),
  stop: (s, by, now) => stop(s, by, now),
  skip: (s, by, now) => skip(s, by, now),
  extend: (s, by, now, { ms } = {}) => extend(s, by, now, ms),
  configure: (s, by, now, { cycle } = {}) => configure(s, by, now, cycleFromWire(cycle)),
  reset: (s, by, now) => reset(s, by, now),
};

/** The names of the actions: start pause resume stop skip extend configure reset. */
export const ACTIONS = Object.freeze(Object.keys(TRANSITIONS));

/** The new state after `action` by member `by` at the server-time estimate `now`.
 * `args`: start {duration_ms, label, phase}, extend {ms}, configure {cycle (wire form)}.
 * Throws TimerError when the action makes no sense now, ValueError for bad arguments. */
export function applyAction(state, action, { by, now, args = {} }) {
  if (!Object.hasOwn(TRANSITIONS, action)) throw new TypeError(`unknown action ${JSON.stringify(action)}`);
  return TRANSITIONS[action](state, by, now, args);
}

/** The history entry of the action that made `next` (focuscli/plan.py's log_entry): who (uid
 * and display name), when (the server's time at commit), its rev and op; a start or skip adds
 * its phase, length and label; `note` adds fields of the action's own (the `ms` of an extend). */
export function logEntry(next, { by, name, op, note = {} }) {
  const entry = { action: next.action, by, name, at: SERVER_NOW, rev: next.rev, op };
  if (next.action === "start" || next.action === "skip") {
    entry.phase = next.phase;
    entry.ms = next.duration_ms;
    if (next.label) entry.label = next.label;
  }
  return Object.assign(entry, note);
}

/** The whole write of one action: `update` goes to update(ref(db, `sessions/${session}`), ...).
 * Plan again (same `op`) on the state read back whenever the write is refused for a moved rev.
 * With `history` (the default) the update also holds `states/<rev>`, a copy of the new state
 * that reports replay; rules from before it refuse that node, so plan again without it then. */
export function planAction(state, action, { by, name, now, op, args = {}, history = true }) {
  const next = makeState({ ...applyAction(state, action, { by, now, args }), updated_by_name: name });
  const note = action === "extend" ? { ms: args.ms } : {};
  const entry = logEntry(next, { by, name, op, note });
  const update = { state: stateToWire(next), [`log/${next.rev}`]: entry };
  if (history) update[`states/${next.rev}`] = stateToWire(next);
  return Object.freeze({ state: next, entry, update });
}

const BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/** A new operation id: 16 URL-safe characters from 12 random bytes (as the CLI's
 * secrets.token_urlsafe(12)); the rules accept 8-64 of [A-Za-z0-9_-]. */
export function newOperationId(randomBytes = (n) => globalThis.crypto.getRandomValues(new Uint8Array(n))) {
  const bytes = randomBytes(12);
  let out = "";
  for (let i = 0; i < 12; i += 3) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    out += BASE64URL[n >> 18] + BASE64URL[(n >> 12) & 63] + BASE64URL[(n >> 6) & 63] + BASE64URL[n & 63];
  }
  return out;
}
