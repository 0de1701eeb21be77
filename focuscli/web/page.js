/** The page's shell: the DOM, the clock, sound and notifications; wires events into the model. */

// One loop: listeners and clicks dispatch events -> reduce() -> effects (which listeners run)
// -> render(model, now). The one-second tick calls the same render. Text from the database only
// ever reaches the DOM through textContent.

import * as fb from "./firebase.js";
import { actionLine } from "./format.js";
import { authMessage, checkName } from "./messages.js";
import { SESSION_NAME, initialModel, reduce, route } from "./model.js";
import { DEFAULT_RANGE, rangeFor } from "./ranges.js";
import { buildReport } from "./report.js";
import * as rv from "./reportview.js";
import { clockTime, keyAction, phaseEnd, screen } from "./screen.js";
import { DurationError, TimerError, ValueError, parseDuration, view, withServerTimes } from "./timer.js";

const $ = (id) => document.getElementById(id);
const EXTEND_DEFAULT = "5m";
const MAX_LABEL = 200; // the rules' bound on a label
const PANELS = ["loading", "failed", "signin", "name", "sessions", "missing", "join", "timer"];

let model = initialModel(route(location.pathname, location.search));
let conn = null;
let creating = false; // an account is being made: its first sign-in has no name yet
const running = { session: "", watch: null, presence: "", stopPresence: null, mine: "", stopMine: null };
let lastView = null;
let tickTimer = 0;
let audio = null;

function dispatch(event) {
  model = reduce(model, event);
  effects();
  render();
}

const serverNow = () => Date.now() + model.offset;

// -- effects: which listeners run follows from the model -----------------------------------

function effects() {
  if (conn === null) return;
  const ready = model.stage === "ready" && model.user !== null;
  const session = model.route.session;
  const watchKey = ready && session ? `${model.user.uid}/${session}` : "";
  if (watchKey !== running.session) {
    running.watch?.stop();
    running.watch = watchKey ? fb.watchSession(conn, session, dispatch) : null;
    running.session = watchKey;
  }
  const presenceKey = watchKey && model.member === true ? watchKey : "";
  if (presenceKey !== running.presence) {
    running.stopPresence?.();
    running.stopPresence = null;
    // Marked before starting: its first heartbeat dispatches (the SDK's local events) at once,
    // which comes back here and would start it again and again.
    running.presence = presenceKey;
    if (presenceKey) running.stopPresence = fb.keepPresence(conn, session, model.user);
  }
  const mineKey = ready && !session ? model.user.uid : "";
  if (mineKey !== running.mine) {
    running.stopMine?.();
    running.stopMine = mineKey ? fb.watchMySessions(conn, mineKey, dispatch) : null;
    running.mine = mineKey;
  }
  reportEffects(presenceKey);
}

// -- the Report section: read when shown, again (debounced) whenever the state changes ------

const REPORT_DEBOUNCE_MS = 1000;
const ZONE = Intl.DateTimeFormat().resolvedOptions().timeZone;
const SVG = "http://www.w3.org/2000/svg";
const reporting = { key: "", range: DEFAULT_RANGE, state: undefined, timer: 0, seq: 0, loading: false, shown: null, error: "" };

function reportEffects(key) {
  if (key !== reporting.key) {
    clearTimeout(reporting.timer);
    Object.assign(reporting, { key, state: model.state, timer: 0, seq: reporting.seq + 1, loading: false, shown: null, error: "" });
    if (key) scheduleReport(0);
    renderReport();
  } else if (key && model.state !== reporting.state) {
    reporting.state = model.state;
    scheduleReport(REPORT_DEBOUNCE_MS);
  }
}

function scheduleReport(delay) {
  if (reporting.timer) return; // one is coming, and it reads everything as it is then
  reporting.timer = setTimeout(() => {
    reporting.timer = 0;
    loadReport();
  }, delay);
}

async function loadReport() {
  const seq = ++reporting.seq;
  const session = model.route.session;
  const range = rangeFor(reporting.range, serverNow(), ZONE);
  reporting.loading = true;
  renderReport();
  try {
    const { history, now, horizon } = await fb.readHistory(conn, session, range.start, range.end, serverNow);
    if (seq !== reporting.seq) return;
    const report = buildReport(history, { start: range.start, end: range.end, now, tz: ZONE, horizon });
    Object.assign(reporting, { shown: { range, report, session, seq }, error: "" });
  } catch (err) {
    if (seq !== reporting.seq) return;
    reporting.error = fb.isRefusal(err)
      ? "The report cannot be read: you are not a member of this session (any more)."
      : `The report could not be read: ${err.message}`;
  } finally {
    if (seq === reporting.seq) {
      reporting.loading = false;
      renderReport();
    }
  }
}

function chooseRange(id) {
  if (id === reporting.range) return;
  reporting.range = id;
  clearTimeout(reporting.timer);
  reporting.timer = 0;
  for (const b of document.querySelectorAll("button[data-range]")) b.setAttribute("aria-pressed", String(b.dataset.range === id));
  if (reporting.key) loadReport();
}

function node(tag, textValue = "", attrs = {}) {
  const el = tag.startsWith("svg:") ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
  if (textValue) el.textContent = textValue;
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

function table(id, columns, rows) {
  const head = node("tr");
  head.append(...columns.map((c) => node("th", c, { scope: "col" })));
  const thead = node("thead");
  thead.append(head);
  const body = node("tbody");
  body.append(...rows);
  $(id).replaceChildren(thead, body);
}

function emptyRow(words, columns) {
  const tr = node("tr");
  tr.append(node("td", words, { colspan: columns, class: "none" }));
  return tr;
}

function renderReport() {
  const section = $("report");
  section.setAttribute("aria-busy", String(reporting.loading));
  const shown = reporting.shown;
  text("report-status", reporting.error || (reporting.loading && !shown ? "Reading the history…" : ""));
  show($("report-body"), Boolean(shown));
  if (!shown || section.dataset.drawn === String(shown.seq)) return;
  section.dataset.drawn = String(shown.seq);
  const { range, report, session } = shown;
  section.dataset.shown = range.id;
  section.dataset.from = String(report.from);
  section.dataset.to = String(report.to);
  const dates = range.first === range.last ? range.first : `${range.first} – ${range.last}`;
  text("report-span", `${dates} (${ZONE}) · as of ${clockTime(report.now, model.offset).slice(0, 5)}`);
  text("report-command", rv.command(range, session));
  const colours = rv.memberColours(report.members.map((m) => m.uid));

  const sums = rv.totals(report);
  $("report-totals").replaceChildren(...sums.figures.map((f) => {
    const box = node("div");
    box.append(node("dt", f.name), node("dd", f.text, { "data-key": f.key, "data-value": f.value }));
    return box;
  }));
  $("report-notes").replaceChildren(...sums.notes.map((n) => node("li", n)));

  const chart = rv.chart(report, colours);
  const svg = $("report-chart");
  svg.setAttribute("viewBox", `0 0 ${chart.width} ${chart.height}`);
  const parts = [node("svg:line", "", { class: "axis", x1: 0, x2: chart.width, y1: chart.baseline, y2: chart.baseline })];
  for (const bar of chart.bars) {
    for (const seg of bar.segments) {
      const rect = node("svg:rect", "", {
        class: `m${seg.colour}`, x: seg.x, y: seg.y, width: seg.width, height: seg.height, "data-uid": seg.uid, "data-ms": seg.ms,
        "data-date": bar.date,
      });
      rect.append(node("svg:title", seg.title));
      parts.push(rect);
    }
  }
  svg.replaceChildren(...parts);
  $("report-axis").replaceChildren(...chart.bars.map((bar) => node("span", bar.label)));
  text("report-chart-summary", chart.summary);
  $("report-legend").replaceChildren(...rv.memberRows(report, colours).filter((m) => m.focus_ms > 0).map((m) => {
    const li = node("li", "", { "data-uid": m.uid });
    li.append(node("span", "", { class: `swatch m${m.colour}`, "aria-hidden": "true" }), document.createTextNode(m.name));
    return li;
  }));

  const days = rv.dayRows(report);
  table("report-days", ["Day", "Focus", ...days.members.map((m) => m.name)], days.rows.map((r) => {
    const tr = node("tr", "", { "data-date": r.date, "data-focus-ms": r.focus_ms });
    tr.append(node("th", r.day, { scope: "row" }), node("td", r.focus), ...r.members.map((c) => node("td", c)));
    return tr;
  }));
  table("report-members", rv.MEMBER_COLUMNS, rv.memberRows(report, colours).map((m) => {
    const tr = node("tr", "", { "data-uid": m.uid, "data-focus-ms": m.focus_ms });
    const name = node("th", "", { scope: "row" });
    name.append(node("span", "", { class: `swatch m${m.colour}`, "aria-hidden": "true" }), document.createTextNode(m.name));
    tr.append(name, ...m.cells.map((c) => node("td", c)));
    return tr;
  }));
  const labels = rv.labelRows(report);
  table("report-labels", rv.LABEL_COLUMNS, labels.length ? labels.map((l) => {
    const tr = node("tr", "", { "data-focus-ms": l.focus_ms });
    tr.append(node("th", l.label, { scope: "row", ...(l.none ? { class: "none" } : {}) }), ...l.cells.map((c) => node("td", c)));
    return tr;
  }) : [emptyRow("No focus blocks in this range.", rv.LABEL_COLUMNS.length)]);
}

// -- render: the screen, drawn from the model at one instant -------------------------------

function text(id, value) {
  const el = $(id);
  if (el.textContent !== value) el.textContent = value;
}

function show(el, visible) {
  if (el.hidden === visible) el.hidden = !visible;
}

function render() {
  const s = screen(model, Date.now());
  if (document.title !== s.title) document.title = s.title;
  for (const name of PANELS) show($(`panel-${name}`), s.panel === name);
  text("bar-session", s.session || "");
  text("whoami", s.user ? `${s.user.name || s.user.email}` : "");
  show($("sign-out"), Boolean(s.user));
  const conn = $("connection");
  show(conn, s.panel === "timer");
  conn.className = `connection ${s.connection}`;
  text("connection", s.connection);
  const notice = $("notice");
  text("notice", s.notice ? s.notice.text : "");
  notice.classList.toggle("error", Boolean(s.notice && s.notice.error));
  text("failure", s.failure || "");
  for (const el of document.querySelectorAll(".session-name")) el.textContent = s.session || "";
  if (s.panel === "missing") text("missing-command", `focus start --session ${s.session}`);
  if (s.panel === "join") {
    text("join-why", s.removed
      ? "You were removed from this session by its owner. To come back, ask a member for the new invite code."
      : s.owner
        ? "You own this session and left it: join again (no code needed)."
        : "You are not a member of this session yet. A member gets its invite code with: focus session invite");
    show($("code").parentElement, true);
  }
  if (s.panel === "sessions") renderSessions(s.sessions);
  for (const button of document.querySelectorAll("form button:not([data-action])")) button.disabled = Boolean(s.busy);
  if (s.panel === "timer") renderTimer(s);
  else lastView = null;
  schedule(s);
}

function renderSessions(names) {
  const list = $("session-list");
  const wanted = names ?? [];
  const shown = [...list.children].map((li) => li.dataset.name);
  if (shown.join("/") !== wanted.join("/")) {
    list.replaceChildren(...wanted.map((name) => {
      const li = document.createElement("li");
      li.dataset.name = name;
      const a = document.createElement("a");
      a.href = sessionHref(name);
      a.textContent = name;
      li.append(a);
      return li;
    }));
  }
  show($("no-sessions"), names !== null && wanted.length === 0);
}

function sessionHref(name) {
  const ns = model.route.ns;
  return `/s/${encodeURIComponent(name)}${ns ? `?ns=${encodeURIComponent(ns)}` : ""}`;
}

function renderTimer(s) {
  const t = s.timer;
  const panel = $("panel-timer");
  panel.dataset.phase = t.phase;
  panel.dataset.status = t.status;
  text("phase-line", t.line);
  const clock = $("time-left");
  text("time-left", t.clock);
  // What the clock shows, to the millisecond, for whoever reads the page (tests, scripts).
  clock.dataset.status = t.view.status;
  clock.dataset.rev = String(t.view.rev);
  clock.dataset.remainingMs = String(t.view.remaining_ms);
  clock.dataset.shownAt = String(Date.now());
  clock.setAttribute("aria-label", `${t.clock} left`);
  const percent = Math.round(t.progress * 100);
  const bar = $("progress");
  bar.setAttribute("aria-valuenow", String(percent));
  bar.firstElementChild.style.width = `${t.progress * 100}%`;
  text("timer-label", t.label);
  text("last-action", t.last);
  for (const button of document.querySelectorAll("[data-action]")) {
    const action = button.dataset.action;
    const allowed = t.controls[action];
    if (action === "pause" || action === "resume") show(button, allowed || (!t.controls.pause && !t.controls.resume && action === "pause"));
    button.disabled = !allowed || Boolean(s.busy);
  }
  const phase = $("phase");
  if (phase.dataset.shownFor !== `${t.view.rev}/${t.view.status}`) {
    phase.value = t.nextPhase; // follow the timer until the user picks another
    phase.dataset.shownFor = `${t.view.rev}/${t.view.status}`;
  }
  text("here", s.here.join(", ") || "-");
  text("away", s.away.join(", ") || "-");
  renderHistory(s.history);
  const ended = phaseEnd(lastView, t.view);
  lastView = t.view;
  if (ended) phaseEnded(ended, s.session);
}

function renderHistory(lines) {
  const list = $("history");
  const key = lines.map((l) => `${l.rev}:${l.when}`).join("|");
  if (list.dataset.key === key) return;
  list.dataset.key = key;
  list.replaceChildren(...lines.map((line) => {
    const li = document.createElement("li");
    const when = document.createElement("time");
    when.textContent = line.when;
    li.append(when, document.createTextNode(line.text));
    return li;
  }));
}

/** The next render: when the clock's second changes (or "4 s ago" does), at most 1 s away. */
function schedule(s) {
  clearTimeout(tickTimer);
  let wait = 1000;
  if (s.panel === "timer" && s.timer.view.status === "running") {
    const remaining = s.timer.view.remaining_ms;
    wait = remaining % 1000 || 1000;
    wait = Math.min(wait + 2, remaining + 2);
  }
  tickTimer = setTimeout(render, Math.max(20, wait));
}

// -- phase end: a sound and a desktop notification ----------------------------------------

function phaseEnded(ended, session) {
  const names = { focus: "focus", short_break: "short break", long_break: "long break" };
  const text = ended.status === "done"
    ? `${names[ended.ended] ?? ended.ended} is over`
    : `${names[ended.ended] ?? ended.ended} is over; ${names[ended.next] ?? ended.next} runs now`;
  chime();
  if ("Notification" in window && Notification.permission === "granted") {
    try {
      new Notification(`focus · ${session}`, { body: text, tag: `focus-${session}` });
    } catch {
      /* some browsers allow notifications only from a service worker */
    }
  }
  dispatch({ type: "notice", text: `${session}: ${text}` });
}

function unlockAudio() {
  if (audio === null && "AudioContext" in window) audio = new AudioContext();
  if (audio && audio.state === "suspended") audio.resume().catch(() => {});
}

function chime() {
  if (!audio || audio.state !== "running") return;
  const start = audio.currentTime + 0.02;
  for (const [i, pitch] of [880, 660, 880].entries()) {
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    osc.frequency.value = pitch;
    const t = start + i * 0.22;
    gain.gain.setValueAtTime(0.0001, t);
    gain.gain.exponentialRampToValueAtTime(0.25, t + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, t + 0.18);
    osc.connect(gain).connect(audio.destination);
    osc.start(t);
    osc.stop(t + 0.2);
  }
}

function renderNotify() {
  const button = $("notify");
  if (!("Notification" in window)) {
    button.hidden = true;
  } else if (Notification.permission === "granted") {
    button.textContent = "Notifications are on";
    button.disabled = true;
  } else if (Notification.permission === "denied") {
    button.textContent = "Notifications are blocked in this browser";
    button.disabled = true;
  }
}

// -- what the user does ---------------------------------------------------------------------

async function busy(what, job) {
  if (model.busy) return;
  dispatch({ type: "busy", what });
  try {
    await job();
  } finally {
    dispatch({ type: "busy", what: "" });
  }
}

function say(textValue, error = false) {
  dispatch({ type: "notice", text: textValue, error });
}

async function signIn(create) {
  const email = $("email").value.trim();
  const password = $("password").value;
  if (!email) return say("Enter your email address.", true);
  if (!password) return say("Enter your password.", true);
  let name = "";
  if (create) {
    const [checked, problem] = checkName($("new-name").value);
    if (problem) return say(problem, true);
    name = checked;
  }
  await busy(create ? "create account" : "sign in", async () => {
    try {
      if (create) {
        creating = true;
        await fb.createAccount(conn, email, password, name);
        creating = false;
        dispatch({ type: "user", user: { uid: conn.auth.currentUser.uid, name, email } });
      } else {
        await fb.signIn(conn, email, password);
      }
      $("password").value = "";
      say("");
    } catch (err) {
      say(authMessage(err), true);
    } finally {
      creating = false;
    }
  });
}

async function saveName() {
  const [name, problem] = checkName($("set-name").value);
  if (problem) return say(problem, true);
  await busy("save name", async () => {
    try {
      dispatch({ type: "user", user: await fb.setName(conn, name) });
      say("");
    } catch (err) {
      say(authMessage(err), true);
    }
  });
}

async function joinSession() {
  const session = model.route.session;
  const owner = model.meta && model.meta.owner === model.user.uid;
  const code = $("code").value.trim();
  if (!code && !owner) return say("Enter the invite code (a member gets it with: focus session invite).", true);
  await busy("join", async () => {
    try {
      await fb.join(conn, session, model.user, owner ? "" : code);
      $("code").value = "";
      say(`joined ${session}`);
      running.watch?.retry();
    } catch (err) {
      if (fb.isRefusal(err)) say(`The invite code for ${session} is not right; ask a member for it.`, true);
      else say(`Could not join ${session}: ${err.message}`, true);
    }
  });
}

function actionArgs(action) {
  const typed = $("duration").value.trim();
  if (action === "start") {
    const label = $("label").value.trim();
    if (label.length > MAX_LABEL) throw new ValueError(`a label can be at most ${MAX_LABEL} characters`);
    return { duration_ms: typed ? parseDuration(typed) : null, label: label || null, phase: $("phase").value };
  }
  if (action === "extend") return { ms: parseDuration(typed || EXTEND_DEFAULT) };
  return {};
}

async function act(action, args = null) {
  const session = model.route.session;
  let planned;
  try {
    planned = args ?? actionArgs(action);
  } catch (err) {
    return say(err instanceof DurationError ? `Duration: ${err.message}` : err.message, true);
  }
  await busy(action, async () => {
    try {
      const plan = await fb.act(conn, session, model.user, action, planned, serverNow);
      const now = serverNow();
      say(actionLine(session, view(withServerTimes(plan.state, now), now)));
      if (action === "start") $("duration").value = "";
    } catch (err) {
      if (err instanceof TimerError || err instanceof ValueError) say(err.message, true);
      else if (fb.isRefusal(err)) say(`The database refused the ${action}: are you still a member of ${session}?`, true);
      else say(`The ${action} failed: ${err.message}`, true);
    }
  });
}

function onKey(event) {
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  const target = event.target;
  if (target instanceof HTMLInputElement || target instanceof HTMLSelectElement || target instanceof HTMLTextAreaElement) return;
  if (!lastView || $("panel-timer").hidden || target.closest?.("#report")) return;
  const { action, notice } = keyAction(event.key, lastView);
  if (!action && !notice) return;
  event.preventDefault();
  unlockAudio();
  if (notice) return say(notice);
  const args = action === "start" ? { duration_ms: null, label: null, phase: $("phase").value } : {};
  act(action, args);
}

function wire() {
  $("signin-form").addEventListener("submit", (e) => {
    e.preventDefault();
    signIn(false);
  });
  $("create").addEventListener("click", () => signIn(true));
  $("name-form").addEventListener("submit", (e) => {
    e.preventDefault();
    saveName();
  });
  $("join-form").addEventListener("submit", (e) => {
    e.preventDefault();
    joinSession();
  });
  $("open-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const name = $("open-session").value.trim();
    if (!SESSION_NAME.test(name)) return say("Session names are 1-64 letters, digits, '-' or '_'.", true);
    location.assign(sessionHref(name));
  });
  $("controls").addEventListener("submit", (e) => {
    e.preventDefault();
    act("start");
  });
  for (const button of document.querySelectorAll("[data-action]")) {
    if (button.dataset.action !== "start") button.addEventListener("click", () => act(button.dataset.action));
  }
  $("sign-out").addEventListener("click", () => {
    running.stopPresence?.();
    running.stopPresence = null;
    running.presence = "";
    fb.leave(conn).catch(() => {});
  });
  for (const button of document.querySelectorAll("button[data-range]")) {
    button.addEventListener("click", () => chooseRange(button.dataset.range));
  }
  $("notify").addEventListener("click", () => {
    Notification.requestPermission().then(renderNotify, renderNotify);
  });
  document.addEventListener("pointerdown", unlockAudio, { capture: true });
  document.addEventListener("keydown", onKey);
  renderNotify();
}

async function main() {
  wire();
  render();
  if (model.stage === "failed") return;
  let config;
  try {
    const ns = model.route.ns;
    const answer = await fetch(`/__/firebase/init.json${ns ? `?ns=${encodeURIComponent(ns)}` : ""}`, { cache: "no-cache" });
    const body = await answer.json().catch(() => ({}));
    if (!answer.ok) throw new Error(body.error || `HTTP ${answer.status}`);
    config = body;
  } catch (err) {
    dispatch({ type: "failed", text: `Cannot load this site's Firebase configuration (/__/firebase/init.json): ${err.message}` });
    return;
  }
  try {
    conn = fb.connect(config);
  } catch (err) {
    dispatch({ type: "failed", text: `Cannot start Firebase: ${err.message}` });
    return;
  }
  fb.watchConnection(conn, dispatch);
  fb.onUser(conn, (user) => {
    if (creating && user && !user.name) return; // its name follows in a moment
    dispatch({ type: "user", user });
  });
}

main();
