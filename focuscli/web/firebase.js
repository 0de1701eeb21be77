/** The page's one door to Firebase: the vendored JS SDK (auth + database), nothing else imports it. */

// Every write is the CLI's (focuscli/service.py): an action is one compare-and-set update at
// sessions/<s> planned by actions.js; a refused write re-reads the state and looks for its
// operation id in the log before planning again; joining writes the member record with the
// invite code upper-cased, in a free seat, with a list entry in a free slot; presence is the
// heartbeat `seen_at` every HEARTBEAT_MS while the page is open, plus `away_at` written by the
// server (onDisconnect) when the page goes away;
// presence spans and report reads are the CLI's too (service.py `heartbeat`, history.py).

import { initializeApp } from "./vendor/firebase/13.2.0/firebase-app.js";
import {
  browserLocalPersistence, connectAuthEmulator, createUserWithEmailAndPassword, indexedDBLocalPersistence,
  initializeAuth, onAuthStateChanged, signInWithEmailAndPassword, signOut, updateProfile,
} from "./vendor/firebase/13.2.0/firebase-auth.js";
import {
  child, connectDatabaseEmulator, forceWebSockets, get, getDatabase, limitToLast, onDisconnect, onValue,
  orderByKey, query, ref, serverTimestamp, set, update,
} from "./vendor/firebase/13.2.0/firebase-database.js";

import { newOperationId, planAction } from "./actions.js";
import { HISTORY_LENGTH } from "./model.js";
import { HEARTBEAT_MS } from "./screen.js";
import { stateFromWire } from "./timer.js";
import { endAt, orderByChild, startAt } from "./vendor/firebase/13.2.0/firebase-database.js";
import { ending, heartbeat, plainHeartbeat } from "./presence.js";
import { LOOKAHEAD_MS, PRESENCE_FRESH_MS, byRev } from "./report.js";

const MAX_ATTEMPTS = 30; // focuscli/service.py MAX_RETRIES
const BACKOFF_MS = [10, 200]; // first pause after a lost race, cap (service.py RETRY_BACKOFF_S)
const CEILING = 200; // seats of a session, slots of a member's list (service.py MAX_SEATS, MAX_SLOTS)
const SEAT_ATTEMPTS = MAX_ATTEMPTS; // races for a free seat a join may lose (service.py SEAT_ATTEMPTS)

/** A write the rules refused (not a member, a stale rev): the SDK's PERMISSION_DENIED. */
export function isRefusal(err) {
  return Boolean(err) && (err.code === "PERMISSION_DENIED" || /^PERMISSION_DENIED\b/.test(String(err.message)));
}

/** The app, auth and database for a config from /__/firebase/init.json. With an `emulator`
 * block (focus serve) both SDKs talk to that host instead of Google's. */
export function connect(config) {
  const app = initializeApp({
    apiKey: config.apiKey, authDomain: config.authDomain, projectId: config.projectId, databaseURL: config.databaseURL,
  });
  // initializeAuth with explicit persistence: getAuth's popup resolver loads Google's scripts.
  const auth = initializeAuth(app, { persistence: [indexedDBLocalPersistence, browserLocalPersistence] });
  forceWebSockets(); // never long polling (focus serve does not serve /.lp)
  const db = getDatabase(app);
  const emu = config.emulator;
  if (emu) {
    connectAuthEmulator(auth, emu.url, { disableWarnings: true });
    connectDatabaseEmulator(db, emu.host, emu.port);
  }
  return { app, auth, db };
}

/** Calls `callback({uid, name, email})` or `callback(null)` whenever who is signed in changes. */
export function onUser(conn, callback) {
  return onAuthStateChanged(conn.auth, (user) =>
    callback(user ? { uid: user.uid, name: user.displayName || "", email: user.email || "" } : null),
  );
}

export async function signIn(conn, email, password) {
  await signInWithEmailAndPassword(conn.auth, email, password);
}

/** A new account with its display name, and a fresh ID token that carries the name (the
 * rules compare every stored name with auth.token.name). */
export async function createAccount(conn, email, password, name) {
  const { user } = await createUserWithEmailAndPassword(conn.auth, email, password);
  await setName(conn, name, user);
}

export async function setName(conn, name, user = conn.auth.currentUser) {
  await updateProfile(user, { displayName: name });
  await user.getIdToken(true);
  return { uid: user.uid, name: user.displayName || name, email: user.email || "" };
}

export async function leave(conn) {
  await signOut(conn.auth);
}

/** Server time minus local time (.info/serverTimeOffset) and the connection (.info/connected). */
export function watchConnection(conn, dispatch) {
  const offs = [
    onValue(ref(conn.db, ".info/serverTimeOffset"), (snap) => dispatch({ type: "offset", ms: Number(snap.val()) || 0 })),
    onValue(ref(conn.db, ".info/connected"), (snap) => dispatch({ type: "connected", value: snap.val() === true })),
  ];
  return () => offs.forEach((off) => off());
}

/** The member's own sessions (users/<uid>/sessions). */
export function watchMySessions(conn, uid, dispatch) {
  return onValue(
    ref(conn.db, `users/${uid}/sessions`),
    (snap) => dispatch({ type: "sessions", value: snap.val() }),
    () => dispatch({ type: "sessions", value: null }),
  );
}

/** Follows one session: its meta (anyone signed in may read it) and, while the meta exists,
 * its members, state and recent history (members only: a refusal means not a member). */
export function watchSession(conn, session, dispatch) {
  const base = `sessions/${session}`;
  let inner = [];
  const stopInner = () => {
    inner.forEach((off) => off());
    inner = [];
  };
  const refused = () => {
    stopInner();
    dispatch({ type: "refused" });
  };
  const attach = () => {
    stopInner();
    inner = [
      onValue(ref(conn.db, `${base}/members`), (snap) => dispatch({ type: "members", value: snap.val() }), refused),
      onValue(ref(conn.db, `${base}/state`), (snap) => dispatch({ type: "state", value: snap.val() }), refused),
      onValue(
        query(ref(conn.db, `${base}/log`), orderByKey(), limitToLast(HISTORY_LENGTH)),
        (snap) => dispatch({ type: "log", value: snap.val() }),
        refused,
      ),
    ];
  };
  let exists = false;
  const offMeta = onValue(
    ref(conn.db, `${base}/meta`),
    (snap) => {
      dispatch({ type: "meta", value: snap.val() });
      if (snap.exists() && !exists) attach();
      if (!snap.exists()) stopInner();
      exists = snap.exists();
    },
    (err) => dispatch({ type: "failed", text: `Cannot read session ${session}: ${err.message}` }),
  );
  return {
    retry: () => exists && attach(), // after joining: the session's data is readable now
    stop: () => {
      offMeta();
      stopInner();
    },
  };
}

/** Seats of a session or slots of a member's list by number: stored under the keys "1".."200",
 * which RTDB may hand back as a dense array (index = number). */
function numbered(raw) {
  const out = new Map();
  if (raw && typeof raw === "object") {
    for (const [key, value] of Object.entries(raw)) {
      const n = Number(key);
      if (Number.isInteger(n) && n >= 1 && n <= CEILING && value !== null && value !== undefined) out.set(n, value);
    }
  }
  return out;
}

/** The slot of member `uid`'s list entry for `session`: the one it holds, else the lowest free
 * one (service.py `_free_slot`); throws when all CEILING slots are held. */
async function freeSlot(conn, session, uid) {
  const mine = (await get(ref(conn.db, `users/${uid}`))).val() || {};
  const entries = mine.sessions && typeof mine.sessions === "object" ? mine.sessions : {};
  const slots = numbered(mine.slots);
  const held = (n) => {
    const sid = slots.get(n);
    return typeof sid === "string" && Boolean(entries[sid]) && entries[sid].slot === n;
  };
  const own = entries[session];
  if (own && Number.isInteger(own.slot) && held(own.slot)) return own.slot;
  for (let n = 1; n <= CEILING; n += 1) if (!held(n)) return n;
  throw new Error(`you are in ${CEILING} sessions, the most one member can be in; leave one first`);
}

/** Joins `session` as member `me` with the invite code (any letter case), as `focus join`: the
 * member record takes the lowest free seat of the session and the list entry a free slot of the
 * member's (the rules' ceilings, docs/design.md); a seat taken first by someone else is given up
 * for the next free one. */
export async function join(conn, session, me, code) {
  const record = { joined_at: serverTimestamp(), name: me.name };
  if (code) record.code = code.trim().toUpperCase();
  for (let attempt = 0; attempt < SEAT_ATTEMPTS; attempt += 1) {
    // The lowest free seat (or our own); after a lost race, any free one at random, so that the
    // joiners who lost it do not all collide again.
    const seats = numbered((await get(ref(conn.db, `sessions/${session}/seats`))).val());
    const free = [];
    for (let n = 1; n <= CEILING; n += 1) if (!seats.has(n) || seats.get(n) === me.uid) free.push(n);
    const own = free.find((n) => seats.get(n) === me.uid);
    const seat = own || (attempt === 0 ? free[0] : free[Math.floor(Math.random() * free.length)]);
    if (!seat) {
      throw new Error(
        `session ${session} has ${CEILING} members, the most a session can have; ask its owner to remove someone`,
      );
    }
    const slot = await freeSlot(conn, session, me.uid);
    try {
      await update(ref(conn.db), {
        [`sessions/${session}/members/${me.uid}`]: { ...record, seat },
        [`sessions/${session}/seats/${seat}`]: me.uid,
        [`users/${me.uid}/sessions/${session}`]: { joined_at: serverTimestamp(), slot },
        [`users/${me.uid}/slots/${slot}`]: session,
      });
      return;
    } catch (err) {
      if (!isRefusal(err)) throw err;
      const holder = (await get(ref(conn.db, `sessions/${session}/seats/${seat}`))).val();
      if (holder === null || holder === me.uid) throw err; // not a lost race for the seat: the code
      await pause(Math.random() * Math.min(BACKOFF_MS[1], BACKOFF_MS[0] * 2 ** attempt));
    }
  }
  throw new Error(`too many members joining ${session} at once; try again`);
}

/** Keeps member `me` ({uid, name}) marked here while the page is open, as a watch does
 * (focuscli/service.py `heartbeat`): a heartbeat now and every HEARTBEAT_MS that also opens or
 * moves on a presence span (presence.js), and, set by the server when this page's connection
 * ends (onDisconnect, registered again on every connect), `away_at` and the open span's `to`.
 * Returns a function that stops it and ends both now (presence.js `ending`). */
export function keepPresence(conn, session, me) {
  const base = ref(conn.db, `sessions/${session}`);
  const away = child(base, `members/${me.uid}/away_at`);
  const end = (key) => child(base, `presence/${key}/to`);
  let span = null; // {key, beatAt}: the open span and this browser's time of its last heartbeat
  let spans = true; // false: rules from before presence spans (the plain heartbeat only)
  let held = ""; // the span whose `to` the server sets when this connection ends
  let busy = false;
  let stopped = false;
  const hold = (key) => {
    if (held && held !== key) onDisconnect(end(held)).cancel().catch(() => {});
    held = key;
    if (key) onDisconnect(end(key)).set(serverTimestamp()).catch(() => (held = held === key ? "" : held));
  };
  const beatOnce = async () => {
    if (spans) {
      for (const plan of heartbeat(span, me, Date.now())) {
        try {
          await update(base, plan.update);
        } catch (err) {
          if (!isRefusal(err)) return;
          span = null; // gone stale on the server's clock: open a new one
          continue;
        }
        if (stopped) return;
        span = { key: plan.key, beatAt: Date.now() };
        if (held !== plan.key) hold(plan.key);
        return;
      }
      spans = false;
      hold("");
    }
    await update(base, plainHeartbeat(me.uid)).catch(() => {});
  };
  const beat = () => {
    if (busy || stopped) return; // one at a time: offline, the SDK holds a write until it is back
    busy = true;
    beatOnce().finally(() => (busy = false));
  };
  const offConnected = onValue(ref(conn.db, ".info/connected"), (snap) => {
    if (snap.val() !== true) return;
    held = ""; // a new connection: the server holds nothing for it yet
    onDisconnect(away).set(serverTimestamp()).catch(() => {});
    if (span) hold(span.key);
    beat();
  });
  const timer = setInterval(beat, HEARTBEAT_MS);
  return () => {
    stopped = true;
    clearInterval(timer);
    offConnected();
    onDisconnect(away).cancel().catch(() => {});
    if (held) onDisconnect(end(held)).cancel().catch(() => {});
    const writes = ending(spans ? span : null, me.uid, Date.now());
    (async () => {
      for (const write of writes) {
        try {
          await update(base, write);
          return;
        } catch (err) {
          if (!isRefusal(err)) return;
        }
      }
    })();
  };
}

const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function readState(base) {
  return stateFromWire((await get(child(base, "state"))).val());
}

/** Does `action` (start, pause, resume, skip, stop, extend) on `session` as member `me`,
 * exactly once: focuscli/service.py `Focus.act`. `serverNow()` is the server-time estimate.
 * Returns the planned write; throws TimerError when the action makes no sense now, or the
 * SDK's error when the rules refuse it for another reason than a lost race. */
export async function act(conn, session, me, action, args, serverNow) {
  const base = ref(conn.db, `sessions/${session}`);
  const op = newOperationId();
  const tried = new Set();
  let history = true; // the state record (states/<rev>), which rules from before it refuse
  let state = await readState(base);
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt += 1) {
    const plan = planAction(state, action, { by: me.uid, name: me.name, now: serverNow(), op, args, history });
    tried.add(plan.state.rev);
    try {
      await update(base, plan.update);
      return plan;
    } catch (err) {
      if (!isRefusal(err)) throw err;
      const current = await readState(base);
      for (const rev of [...tried].filter((r) => r <= current.rev)) {
        tried.delete(rev);
        const entry = (await get(child(base, `log/${rev}`))).val();
        if (entry && entry.op === op) return plan; // an earlier attempt of this action is in
      }
      if (current.rev === state.rev) {
        if (history) {
          history = false; // rules from before state records: once more without it
          continue;
        }
        throw err; // not a lost race: a real refusal
      }
      state = current;
      await pause(Math.random() * Math.min(BACKOFF_MS[1], BACKOFF_MS[0] * 2 ** attempt));
    }
  }
  throw new Error(`too many members acting on ${session} at once; try again`);
}

// History from before state records (older clients): the log is replayed from this long before
// the range (focuscli/history.py LEGACY_LOOKBACK_MS).
const LEGACY_LOOKBACK_MS = 2 * 24 * 3_600_000;

/** {history, now, horizon} for a report of the blocks that began in [start, end) (server ms):
 * focuscli/history.py `read`, by the same ranged queries on the indexed children (the state
 * records in the range and the one before it, presence spans that can reach into it (seen since
 * PRESENCE_FRESH_MS before its start: a span's clean end comes at most that long after its last
 * heartbeat), roster
 * entries in it, the members and the state; log entries only for revs without a state record),
 * read up to `horizon` (end plus LOOKAHEAD_MS, at most now). Throws the SDK's error (a refusal:
 * not a member). */
export async function readHistory(conn, session, start, end, serverNow) {
  const at = (path) => ref(conn.db, `sessions/${session}/${path}`);
  const value = async (path) => (await get(at(path))).val();
  const ranged = async (path, order, from, to) =>
    (await get(query(at(path), order, ...(from === null ? [] : [startAt(from)]), ...(to === null ? [] : [endAt(to)])))).val();
  const now = serverNow();
  const horizon = Math.min(now, end + LOOKAHEAD_MS);
  const [members, state, stored, presence, roster] = await Promise.all([
    value("members"),
    value("state"),
    ranged("states", orderByChild("updated_at"), start, horizon),
    ranged("presence", orderByChild("seen"), start - PRESENCE_FRESH_MS, null),
    ranged("roster", orderByChild("at"), start, horizon),
  ]);
  const records = byRev(stored);
  const current = state !== null && typeof state === "object" && Number.isInteger(state.rev) ? state.rev : null;
  if (records.size) {
    const before = Math.min(...records.keys()) - 1; // the timer as the range begins
    if (before > 0) {
      const record = byRev({ [before]: await value(`states/${before}`) });
      if (record.has(before)) records.set(before, record.get(before));
    }
  } else if (current !== null && current > 0) {
    records.set(current, state); // no action in the range: the record of its rev equals it
  }
  const log = new Map();
  const add = (raw) => byRev(raw).forEach((entry, rev) => !records.has(rev) && log.set(rev, entry));
  if (!records.size) {
    if (current !== null && current > 0) add(await ranged("log", orderByChild("at"), start - LEGACY_LOOKBACK_MS, horizon));
  } else {
    const revs = [...records.keys()].sort((a, b) => a - b);
    const first = records.get(revs[0]);
    const last = records.get(revs[revs.length - 1]);
    if (revs[0] > 1 && Number.isInteger(first.updated_at) && first.updated_at >= start) {
      add(await ranged("log", orderByChild("at"), start - LEGACY_LOOKBACK_MS, first.updated_at));
    }
    const gaps = [];
    for (let rev = revs[0]; rev < revs[revs.length - 1]; rev += 1) if (!records.has(rev)) gaps.push(rev);
    if (gaps.length) add(await ranged("log", orderByKey(), String(gaps[0]), String(gaps[gaps.length - 1])));
    if (current !== null && current > revs[revs.length - 1] && Number.isInteger(last.updated_at)) {
      add(await ranged("log", orderByChild("at"), last.updated_at, horizon));
    }
  }
  const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
  const sorted = (map) => Object.fromEntries([...map.entries()].sort(([a], [b]) => a - b).map(([rev, v]) => [String(rev), v]));
  const history = {
    state, states: sorted(records), log: sorted(log),
    presence: isObject(presence) ? presence : {}, roster: isObject(roster) ? roster : {}, members: isObject(members) ? members : {},
  };
  return { history, now, horizon };
}
