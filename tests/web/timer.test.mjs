// The page's timer module beyond the shared cases: JavaScript-only properties.

import assert from "node:assert/strict";
import { test } from "node:test";

import {
  DurationError, SERVER_NOW, TimerError, ValueError, configure, extend, makeCycle, makeState,
  parseDuration, pause, start, stateFromWire, stateToWire, view, withServerTimes,
} from "../../focuscli/web/timer.js";

const T0 = 1_700_000_000_000;
const MIN = 60_000;

test("SERVER_NOW is the database's placeholder, so a state's wire form is written as it is", () => {
  assert.deepEqual(SERVER_NOW, { ".sv": "timestamp" });
  const wire = stateToWire(start(makeState(), "ann", T0));
  assert.equal(wire.started_at, SERVER_NOW);
  const back = stateFromWire(JSON.parse(JSON.stringify(wire)));
  assert.equal(back.started_at, SERVER_NOW); // read back as the one sentinel
  assert.deepEqual(stateToWire(back), wire);
});

test("states, cycles and views are frozen, and actions leave the state they are given alone", () => {
  const s = withServerTimes(start(makeState(), "ann", T0), T0);
  const before = JSON.stringify(stateToWire(s));
  for (const value of [s, s.cycle, view(s, T0 + MIN), makeCycle()]) assert.ok(Object.isFrozen(value));
  pause(s, "bob", T0 + MIN);
  extend(s, "bob", T0 + MIN, MIN);
  assert.equal(JSON.stringify(stateToWire(s)), before);
});

test("withServerTimes resolves only the placeholders", () => {
  const paused = withServerTimes(pause(withServerTimes(start(makeState(), "ann", T0), T0), "bob", T0 + 5), T0 + 9);
  assert.deepEqual([paused.started_at, paused.paused_at, paused.updated_at], [T0, T0 + 9, T0 + 9]);
});

test("a cycle must come from makeCycle or cycleFromWire", () => {
  assert.throws(() => configure(makeState(), "ann", T0, { focus_ms: 1 }), {
    name: "ValueError", message: "cycle must be a Cycle, got {'focus_ms': 1}",
  });
  assert.throws(() => makeState({ cycle: { ...makeCycle() } }), ValueError);
  assert.throws(() => makeState({ cycle: null }), {
    message: "invalid timer state: 'cycle' must be a Cycle, got None",
  });
});

test("the error classes: refusals are not bad values; a bad duration is one", () => {
  assert.throws(() => pause(makeState(), "ann", T0), (e) => e instanceof TimerError && !(e instanceof ValueError));
  assert.throws(() => parseDuration("soon"), (e) => e instanceof DurationError && e instanceof ValueError);
});

test("times centuries ahead are still exact", () => {
  const far = 9_000_000_000_000_000; // the year 287,000: still below 2**53
  const s = withServerTimes(start(makeState({ cycle: makeCycle({ auto_advance: true }) }), "ann", far), far);
  const v = view(s, far + 7 * 24 * 60 * MIN + 1);
  assert.equal(v.ends_at - (far + 7 * 24 * 60 * MIN + 1), v.remaining_ms);
  assert.ok(Number.isSafeInteger(v.ends_at));
});
