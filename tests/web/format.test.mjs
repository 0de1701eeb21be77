// The page's words for a view: the tab title and the time left.

import assert from "node:assert/strict";
import { test } from "node:test";

import { applyAction } from "../../focuscli/web/actions.js";
import { tabTitle, timeLeft } from "../../focuscli/web/format.js";
import { makeState, view, withServerTimes } from "../../focuscli/web/timer.js";

const T0 = 1_700_000_000_000;
const MIN = 60_000;
const at = (state, action, now, args) => withServerTimes(applyAction(state, action, { by: "ann", now, args }), now);

test("the tab title leads with the time left", () => {
  const running = at(makeState(), "start", T0);
  assert.equal(tabTitle(view(running, T0 + 1000), "team"), "24:59 focus · team");
  assert.equal(tabTitle(view(running, T0 + 25 * MIN), "team"), "focus done · team");
  const paused = at(running, "pause", T0 + 13 * MIN);
  assert.equal(tabTitle(view(paused, T0 + 20 * MIN), "team"), "12:00 paused · team");
  const brk = at(makeState(), "start", T0, { phase: "short_break" });
  assert.equal(tabTitle(view(brk, T0 + 1), "team"), "5:00 short break · team");
  assert.equal(tabTitle(view(makeState(), T0), "team"), "team · focus");
});

test("the time left is a clock, rounded up, with hours when there are any", () => {
  const long = at(makeState(), "start", T0, { duration_ms: 65 * MIN + 10_000 });
  assert.equal(timeLeft(view(long, T0 + 1000)), "1:05:09");
  assert.equal(timeLeft(view(long, T0 + 65 * MIN + 9_999)), "0:01");
  assert.equal(timeLeft(view(long, T0 + 66 * MIN)), "0:00");
});
