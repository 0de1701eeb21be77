// The page's presence writes (focuscli/web/presence.js): the writes of focuscli/service.py
// `heartbeat` and `away`, with presence spans, planned from the open span and the local clock.

import assert from "node:assert/strict";
import { test } from "node:test";

import { SPAN_FRESH_MS, ending, heartbeat, isFresh, plainHeartbeat } from "../../focuscli/web/presence.js";
import { SERVER_NOW } from "../../focuscli/web/timer.js";

const ME = { uid: "ana", name: "<i>Ana</i>" };
const T = 1_700_000_000_000;
const key = () => "NEWKEY0123456789";

test("the first heartbeat opens a span: uid, name, from and seen all set by the server, named by the member's record", () => {
  assert.deepEqual(heartbeat(null, ME, T, key), [{
    key: "NEWKEY0123456789", opens: true,
    update: {
      "members/ana/seen_at": SERVER_NOW,
      "presence/NEWKEY0123456789": { uid: "ana", name: "<i>Ana</i>", from: SERVER_NOW, seen: SERVER_NOW },
      "members/ana/span": "NEWKEY0123456789",
    },
  }]);
});

test("while the span is fresh a heartbeat moves its seen on, and opens a new one if refused", () => {
  const span = { key: "OPEN000000000000", beatAt: T };
  const tries = heartbeat(span, ME, T + SPAN_FRESH_MS - 1, key);
  assert.deepEqual(tries.map((t) => [t.key, t.opens]), [["OPEN000000000000", false], ["NEWKEY0123456789", true]]);
  assert.deepEqual(tries[0].update, { "members/ana/seen_at": SERVER_NOW, "presence/OPEN000000000000/seen": SERVER_NOW });
});

test("after a silence of SPAN_FRESH_MS (40 s, under the rules' 45 s) the next heartbeat opens a new span", () => {
  const span = { key: "OPEN000000000000", beatAt: T };
  assert.equal(isFresh(span, T + SPAN_FRESH_MS - 1), true);
  assert.equal(isFresh(span, T + SPAN_FRESH_MS), false);
  assert.deepEqual(heartbeat(span, ME, T + SPAN_FRESH_MS, key).map((t) => t.key), ["NEWKEY0123456789"]);
});

test("new span keys are 16 URL-safe characters, as the CLI's secrets.token_urlsafe(12)", () => {
  const keys = new Set(Array.from({ length: 50 }, () => heartbeat(null, ME, T)[0].key));
  assert.equal(keys.size, 50);
  for (const k of keys) assert.match(k, /^[A-Za-z0-9_-]{16}$/);
});

test("rules from before spans: the plain heartbeat is seen_at alone", () => {
  assert.deepEqual(plainHeartbeat("ana"), { "members/ana/seen_at": SERVER_NOW });
});

test("a clean end writes away_at and ends a fresh span, else away_at alone", () => {
  const span = { key: "OPEN000000000000", beatAt: T };
  assert.deepEqual(ending(span, "ana", T + 1000), [
    { "members/ana/away_at": SERVER_NOW, "presence/OPEN000000000000/to": SERVER_NOW },
    { "members/ana/away_at": SERVER_NOW },
  ]);
  assert.deepEqual(ending(span, "ana", T + SPAN_FRESH_MS), [{ "members/ana/away_at": SERVER_NOW }]);
  assert.deepEqual(ending(null, "ana", T), [{ "members/ana/away_at": SERVER_NOW }]);
});
