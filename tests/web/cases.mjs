// The case runner for the page's modules: tests/cases/timer/*.json against focuscli/web/*.js.
// Mirrors tests/test_timer_cases.py (which documents the format) step for step.

import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";

import { applyAction, planAction } from "../../focuscli/web/actions.js";
import { actionLine } from "../../focuscli/web/format.js";
import { pyRepr } from "../../focuscli/web/repr.js";
import {
  TimerError, ValueError, cycleFromWire, cycleToWire, formatDuration, nextMoment, parseDuration,
  reset, stateFromWire, stateToWire, view, withServerTimes,
} from "../../focuscli/web/timer.js";

export const CASES = fileURLToPath(new URL("../cases/timer/", import.meta.url));

/** [stem, spec] of every case file, sorted by name (as the Python runner sees them);
 * TIMER_CASES=<stem> keeps one. */
export function caseFiles() {
  const only = process.env.TIMER_CASES;
  return readdirSync(CASES)
    .filter((f) => f.endsWith(".json") && (!only || f === `${only}.json`))
    .sort()
    .map((f) => [f.slice(0, -".json".length), JSON.parse(readFileSync(CASES + f, "utf8"))]);
}

function outcome(key, fn) {
  try {
    return { [key]: fn() };
  } catch (e) {
    if (e instanceof TimerError) return { refused: e.message };
    if (e instanceof ValueError) return { invalid: e.message };
    throw e;
  }
}

function expected(step, key) {
  const found = Object.fromEntries([key, "refused", "invalid"].filter((k) => k in step).map((k) => [k, step[k]]));
  assert.equal(Object.keys(found).length, 1, `a step expects exactly one outcome: ${JSON.stringify(step)}`);
  return found;
}

const act = (state, step) => applyAction(state, step.do, { by: step.by, now: step.now, args: step.args ?? {} });

function runScenario(c) {
  let state = stateFromWire(c.state);
  c.steps.forEach((step, index) => {
    const where = `step ${index}: ${JSON.stringify(step).slice(0, 200)}`;
    if ("do" in step) {
      const got = outcome("state", () => act(state, step));
      if ("state" in got) {
        state = got.state;
        got.state = stateToWire(state);
      }
      assert.deepEqual(got, expected(step, "state"), where);
    } else if ("commit" in step) {
      state = withServerTimes(state, step.commit);
    } else if ("view_at" in step) {
      assert.deepEqual(view(state, step.view_at), step.view, where);
    } else if ("until" in step) {
      const got = outcome("next_moment", () => nextMoment(state, step.until, step.now));
      assert.deepEqual(got, expected(step, "next_moment"), where);
    } else {
      assert.fail(`unknown step ${where}`);
    }
  });
}

const RUNNERS = {
  scenario: runScenario,
  state_wire: (c) =>
    assert.deepEqual(outcome("state", () => stateToWire(stateFromWire(c.wire))), expected(c, "state")),
  cycle_wire: (c) =>
    assert.deepEqual(outcome("cycle", () => cycleToWire(cycleFromWire(c.wire))), expected(c, "cycle")),
  duration: (c) => assert.deepEqual(outcome("ms", () => parseDuration(c.text)), expected(c, "ms")),
  clock: (c) => assert.equal(formatDuration(c.ms), c.text),
  repr: (c) => assert.equal(pyRepr(c.value), c.repr),
  plan: (c) => {
    const write = () =>
      planAction(stateFromWire(c.state), c.do, { by: c.by, name: c.display_name, now: c.now, op: c.op, args: c.args ?? {} }).update;
    assert.deepEqual(outcome("update", write), expected(c, "update"));
  },
  action_line: (c) => assert.equal(actionLine(c.session, c.view), c.line),
  reset: (c) => assert.deepEqual(outcome("state", () => stateToWire(reset(c.wire, c.by, c.now))), expected(c, "state")),
};

/** Run one case of `kind`; throws an AssertionError where the module disagrees with the file. */
export function runCase(kind, c) {
  const runner = RUNNERS[kind];
  if (runner === undefined) throw new Error(`unknown kind ${JSON.stringify(kind)}`);
  runner(c);
}
