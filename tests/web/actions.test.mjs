// The page's action plans beyond the shared cases: operation ids and planning again.

import assert from "node:assert/strict";
import { test } from "node:test";

import { ACTIONS, applyAction, newOperationId, planAction } from "../../focuscli/web/actions.js";
import { makeState, stateToWire, withServerTimes } from "../../focuscli/web/timer.js";

const T0 = 1_700_000_000_000;

test("an operation id is 16 URL-safe characters, as the CLI's secrets.token_urlsafe(12)", () => {
  const seen = new Set();
  for (let i = 0; i < 200; i += 1) {
    const op = newOperationId();
    assert.match(op, /^[A-Za-z0-9_-]{16}$/);
    seen.add(op);
  }
  assert.equal(seen.size, 200);
  // base64url of the bytes 0..11 and of twelve 0xff, as Python's base64.urlsafe_b64encode
  assert.equal(newOperationId((n) => Uint8Array.from({ length: n }, (_, i) => i)), "AAECAwQFBgcICQoL");
  assert.equal(newOperationId((n) => new Uint8Array(n).fill(255)), "________________");
});

test("planning again after a lost race keeps the op and asks for the next rev", () => {
  const op = newOperationId();
  const read = withServerTimes(applyAction(makeState(), "start", { by: "ann", now: T0 }), T0);
  const first = planAction(read, "extend", { by: "bob", name: "Bob", now: T0 + 5, op, args: { ms: 60_000 } });
  assert.deepEqual(Object.keys(first.update), ["state", "log/2", "states/2"]);
  // someone paused first (rev 2); the extend is planned again on what was read back
  const moved = withServerTimes(applyAction(read, "pause", { by: "cy", now: T0 + 6 }), T0 + 6);
  const again = planAction(moved, "extend", { by: "bob", name: "Bob", now: T0 + 7, op, args: { ms: 60_000 } });
  assert.deepEqual(Object.keys(again.update), ["state", "log/3", "states/3"]);
  assert.equal(again.update["log/3"].op, op);
  assert.equal(again.update["log/3"].ms, 60_000);
  assert.equal(again.state.status, "paused");
});

test("without history (rules from before it) the plan writes the state and its entry only", () => {
  const plan = planAction(makeState(), "start", { by: "ann", name: "Ann", now: T0, op: "x".repeat(16), history: false });
  assert.deepEqual(Object.keys(plan.update), ["state", "log/1"]);
  const full = planAction(makeState(), "start", { by: "ann", name: "Ann", now: T0, op: "x".repeat(16) });
  assert.deepEqual(full.update["states/1"], full.update.state);
  assert.notEqual(full.update["states/1"], full.update.state); // a copy, not the same object
});

test("a plan leaves the state it was given alone; an unknown action is a programming error", () => {
  const s = makeState();
  const before = JSON.stringify(stateToWire(s));
  planAction(s, "start", { by: "ann", name: "Ann", now: T0, op: "x".repeat(16) });
  assert.equal(JSON.stringify(stateToWire(s)), before);
  assert.deepEqual(ACTIONS, ["start", "pause", "resume", "stop", "skip", "extend", "configure", "reset"]);
  assert.throws(() => applyAction(s, "nap", { by: "ann", now: T0 }), TypeError);
});
