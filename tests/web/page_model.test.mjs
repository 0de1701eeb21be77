// The page's model and screen: what each event does, and what the page shows at an instant
// (focuscli/web/model.js, screen.js, messages.js). The timer's own semantics are in the
// shared case files (timer_cases.test.mjs), not here.

import assert from "node:assert/strict";
import { test } from "node:test";

import { applyAction } from "../../focuscli/web/actions.js";
import { authMessage, checkName } from "../../focuscli/web/messages.js";
import { initialModel, reduce, route } from "../../focuscli/web/model.js";
import {
  PRESENCE_FRESH_MS, ago, controls, history, keyAction, nextPhase, phaseEnd, presence, screen,
} from "../../focuscli/web/screen.js";
import { makeState, stateToWire, view, withServerTimes } from "../../focuscli/web/timer.js";

const T0 = 1_700_000_000_000;
const MIN = 60_000;
const at = (state, action, now, args) => withServerTimes(applyAction(state, action, { by: "u-ana", now, args }), now);
const wire = (state) => ({ ...stateToWire(state), updated_by_name: "ana" });

function member(events, where = route("/s/team", "?ns=x")) {
  return events.reduce(reduce, initialModel(where));
}

const signedIn = [
  { type: "user", user: { uid: "u-ana", name: "ana", email: "ana@example.com" } },
  { type: "meta", value: { owner: "u-ana", created_at: T0 } },
  { type: "members", value: { "u-ana": { name: "ana", joined_at: T0 } } },
];

test("the route names the session and namespace; a bad name is said at once", () => {
  assert.deepEqual({ ...route("/s/team", "?ns=team-db") }, { session: "team", ns: "team-db", problem: "" });
  assert.deepEqual({ ...route("/", "") }, { session: null, ns: null, problem: "" });
  assert.equal(route("/s/a%20b", "").session, null);
  assert.match(route("/s/a%20b", "").problem, /not a session's address/);
  assert.equal(initialModel(route("/s/a%20b", "")).stage, "failed");
});

test("sign-in stages: signed out, a user without a name, a member", () => {
  let m = member([{ type: "user", user: null }]);
  assert.equal(screen(m, T0).panel, "signin");
  m = reduce(m, { type: "user", user: { uid: "u1", name: "", email: "a@b.c" } });
  assert.equal(screen(m, T0).panel, "name");
  m = member(signedIn);
  assert.equal(screen(m, T0).panel, "timer");
});

test("no such session, not a member, removed by the owner", () => {
  const user = signedIn[0];
  assert.equal(screen(member([user, { type: "meta", value: null }]), T0).panel, "missing");
  const outsider = member([user, { type: "meta", value: { owner: "u-bob" } }, { type: "refused" }]);
  assert.deepEqual([screen(outsider, T0).panel, screen(outsider, T0).removed], ["join", false]);
  const kicked = reduce(member(signedIn), { type: "members", value: { "u-bob": { name: "bob" } } });
  assert.deepEqual([screen(kicked, T0).panel, kicked.removed], ["join", true]);
  const refused = reduce(member(signedIn), { type: "refused" });
  assert.equal(refused.removed, true);
});

test("another user signing in forgets the last one's session data", () => {
  const m = reduce(member([...signedIn, { type: "state", value: wire(at(makeState(), "start", T0)) }]), {
    type: "user", user: { uid: "u-bob", name: "bob" },
  });
  assert.deepEqual([m.state, m.member, m.meta], [null, undefined, undefined]);
});

test("the timer panel: the clock, phase line, controls and title at server time", () => {
  const running = at(makeState(), "start", T0, { label: "write" });
  let m = member([...signedIn, { type: "state", value: wire(running) }, { type: "offset", ms: 5000 }]);
  const s = screen(m, T0 + 60_000 - 5000); // the local clock runs 5 s behind the server
  assert.equal(s.timer.clock, "24:00");
  assert.equal(s.timer.line, "focus · round 1 · running");
  assert.equal(s.title, "24:00 focus · team");
  assert.equal(s.timer.label, "write");
  assert.equal(s.timer.last, "started by ana · 1 min ago");
  assert.deepEqual(s.timer.controls, { start: false, pause: true, resume: false, skip: true, stop: true, extend: true });
  m = reduce(m, { type: "state", value: { rev: "bad" } });
  assert.match(screen(m, T0).timer.problem, /malformed .*focus reset --session team$/);
  assert.deepEqual(screen(m, T0).notice, { text: screen(m, T0).timer.problem, error: true });
});

test("controls and the default phase follow the view", () => {
  const idle = makeState();
  assert.deepEqual(controls(view(idle, T0)), { start: true, pause: false, resume: false, skip: false, stop: false, extend: false });
  const done = at(idle, "start", T0);
  const v = view(done, T0 + 25 * MIN);
  assert.equal(v.status, "done");
  assert.equal(nextPhase(done, v), "short_break");
  assert.equal(nextPhase(idle, view(idle, T0)), "focus");
});

test("keys: space pauses and resumes, s skips, n starts the next phase", () => {
  const running = view(at(makeState(), "start", T0), T0 + 1000);
  assert.deepEqual(keyAction(" ", running), { action: "pause" });
  assert.deepEqual(keyAction("s", running), { action: "skip" });
  assert.match(keyAction("n", running).notice, /once this one is over/);
  const paused = view(at(at(makeState(), "start", T0), "pause", T0 + 1000), T0 + 2000);
  assert.deepEqual(keyAction(" ", paused), { action: "resume" });
  assert.deepEqual(keyAction("n", view(makeState(), T0)), { action: "start" });
  assert.deepEqual(keyAction("x", running), {});
});

test("a phase that time ended is a phase end; an action is not", () => {
  const s = at(makeState(), "start", T0);
  assert.deepEqual(phaseEnd(view(s, T0 + 25 * MIN - 1), view(s, T0 + 25 * MIN)), { ended: "focus", next: "focus", status: "done" });
  assert.equal(phaseEnd(view(s, T0), view(s, T0 + 1000)), null);
  const paused = at(s, "pause", T0 + 1000);
  assert.equal(phaseEnd(view(s, T0 + 500), view(paused, T0 + 2000)), null); // a new rev
  assert.equal(phaseEnd(null, view(s, T0)), null);
});

test("presence: here on a fresh heartbeat with no clean quit after it", () => {
  const now = T0 + 100_000;
  const people = presence({
    a: { name: "ana", seen_at: now - 1000 },
    b: { name: "bob", seen_at: now - PRESENCE_FRESH_MS - 1 },
    c: { name: "cy", seen_at: now - 1000, away_at: now - 500 },
    d: { name: "dee", seen_at: now - 1000, away_at: now - 2000 },
    e: { name: "eve", seen_at: now - 1000, away_at: now - 1000 },
    f: "junk",
  }, now);
  assert.deepEqual(people.map((p) => [p.name, p.here]), [
    ["ana", true], ["bob", false], ["cy", false], ["dee", true], ["eve", false], ["f", false],
  ]);
});

test("history: newest first, in focus log's words; untrusted values stay text", () => {
  const log = {
    1: { action: "start", name: "ana", at: T0, phase: "focus", ms: 25 * MIN, label: "<b>x</b>" },
    2: { action: "pause", by: "u-bob", at: T0 + 1000 },
    10: { action: "skip", name: "cy", at: "not a time", phase: "short_break", ms: 5 * MIN },
  };
  const lines = history(log, 0);
  assert.deepEqual(lines.map((l) => l.rev), ["10", "2", "1"]);
  assert.equal(lines[0].text, "skip by cy short break 5:00");
  assert.equal(lines[0].when, "");
  assert.equal(lines[1].text, "pause by u-bob");
  assert.equal(lines[2].text, 'start by ana focus 25:00 "<b>x</b>"');
  // RTDB shows dense rev keys as an array
  const m = reduce(member(signedIn), { type: "log", value: [null, log[1], log[2]] });
  assert.deepEqual(Object.keys(m.log), ["1", "2"]);
});

test("ago, as the terminal's watch says it", () => {
  assert.deepEqual([ago(4_999), ago(61_000), ago(7_300_000), ago(-5)], ["4 s ago", "1 min ago", "2 h ago", "0 s ago"]);
});

test("sign-in failures in the page's words", () => {
  assert.equal(authMessage({ code: "auth/invalid-credential" }), "Wrong email or password.");
  assert.equal(authMessage({ code: "auth/wrong-password" }), "Wrong email or password.");
  assert.match(authMessage({ code: "auth/email-already-in-use" }), /sign in instead/);
  assert.equal(authMessage({ code: "auth/odd" }), "Sign-in failed: auth/odd.");
  assert.deepEqual(checkName("  Ana "), ["Ana", ""]);
  assert.equal(checkName("")[0], "");
  assert.equal(checkName("a\u0007b")[0], "");
  assert.equal(checkName("x".repeat(65))[0], "");
});
