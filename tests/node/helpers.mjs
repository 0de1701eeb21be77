// Shared plumbing for the SDK suite: apps on the real SDKs pointed at focus serve, the control
// endpoint of tests/node_harness.py, REST and SSE clients, and waits that never hang.
import { randomBytes } from 'node:crypto';
import { deleteApp, initializeApp } from 'firebase/app';
import { connectDatabaseEmulator, getDatabase, onValue, ref } from 'firebase/database';
import admin from 'firebase-admin';

export const CONTROL = process.env.FOCUS_CONTROL;
export const MAIN = process.env.FOCUS_URL;
if (!CONTROL || !MAIN) {
  throw new Error('run through tests/test_node_sdk.py (it starts focus serve and sets FOCUS_URL, FOCUS_CONTROL)');
}

/** A namespace no other test uses. */
export function uniqueNs() {
  return 't' + randomBytes(8).toString('hex');
}

let counter = 0;
const opened = [];

/** The client SDK (`firebase`), connected with connectDatabaseEmulator as the docs say. */
export function client(ns, { url = MAIN, token = { sub: 'alice' } } = {}) {
  const app = initializeApp(
    { projectId: 'demo-test', databaseURL: `https://${ns}.firebaseio.com` },
    `client-${process.pid}-${++counter}`,
  );
  const db = getDatabase(app);
  const { hostname, port } = new URL(url);
  connectDatabaseEmulator(db, hostname, Number(port), token === null ? {} : { mockUserToken: token });
  opened.push(() => deleteApp(app));
  return db;
}

/** The client SDK with an http:// databaseURL and no connectDatabaseEmulator: it obeys the hello's `h`. */
export function plainClient(ns, { url = MAIN } = {}) {
  const app = initializeApp({ projectId: 'demo-test', databaseURL: `${url}?ns=${ns}` }, `plain-${process.pid}-${++counter}`);
  opened.push(() => deleteApp(app));
  return getDatabase(app);
}

/** firebase-admin for Node (`owner` over the socket); `override` is databaseAuthVariableOverride. */
export function adminDb(ns, { url = MAIN, override } = {}) {
  const options = { databaseURL: `${url}?ns=${ns}`, projectId: 'demo-test' };
  if (override !== undefined) options.databaseAuthVariableOverride = override;
  const app = admin.initializeApp(options, `admin-${process.pid}-${++counter}`);
  opened.push(() => app.delete());
  return admin.database(app);
}

/** Delete every app the test opened (open sockets keep Node alive). */
export async function closeAll() {
  const closers = opened.splice(0);
  await Promise.all(closers.map((close) => close().catch(() => {})));
}

/** `promise`, or a rejection naming `what` after `ms`: an SDK call never settles on its own. */
export function within(promise, what, ms = 10000) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Resolve once `check()` is truthy (polled), else fail naming `what`. */
export async function until(check, what, ms = 10000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Record every value event of a query: `{values, next(pred)}`; `next` waits for a match. */
export function follow(query, { exportVal = false } = {}) {
  const values = [];
  const errors = [];
  const waiters = [];
  const unsubscribe = onValue(
    query,
    (snap) => {
      values.push(exportVal ? snap.exportVal() : snap.val());
      for (const w of waiters.splice(0)) w();
    },
    (err) => {
      errors.push(err);
      for (const w of waiters.splice(0)) w();
    },
  );
  const changed = () => new Promise((resolve) => waiters.push(resolve));
  return {
    values,
    errors,
    unsubscribe,
    async next(match, what = 'a value event', ms = 10000) {
      return within((async () => {
        for (;;) {
          const hit = values.find((v) => match(v));
          if (hit !== undefined) return hit;
          await changed();
        }
      })(), what, ms);
    },
    async error(what = 'a cancel', ms = 10000) {
      return within((async () => {
        while (!errors.length) await changed();
        return errors[0];
      })(), what, ms);
    },
  };
}

/** Wait for `.info/connected` to be `state`. */
export function connected(db, state = true, ms = 10000) {
  let off = null;
  return within(new Promise((resolve) => {
    off = onValue(ref(db, '.info/connected'), (snap) => {
      if (snap.val() === state) resolve();
    });
  }), `.info/connected = ${state}`, ms).finally(() => off && off());
}

/** The harness's control endpoint. */
export async function control(method, path, body) {
  const res = await fetch(CONTROL + path, {
    method,
    headers: { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const value = await res.json();
  if (!res.ok) throw new Error(`control ${path}: ${value.error}`);
  return value;
}

/** REST against one namespace, as admin unless `auth` says otherwise. */
export async function rest(method, ns, path, body, { url = MAIN, query = '', owner = true } = {}) {
  const res = await fetch(`${url}${path}.json?ns=${ns}${query}`, {
    method,
    headers: owner ? { authorization: 'Bearer owner' } : {},
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

/** Upload rules to a namespace (asserts success). */
export async function setRules(ns, rules, { url = MAIN } = {}) {
  const res = await rest('PUT', ns, '/.settings/rules', { rules }, { url });
  if (res.status !== 200) throw new Error(`rules upload failed: ${JSON.stringify(res.body)}`);
}

/** An SSE stream (`Accept: text/event-stream`) at `path`: `{events, next(pred), close()}`. */
export function sse(ns, path, { url = MAIN } = {}) {
  const controller = new AbortController();
  const events = [];
  const waiters = [];
  (async () => {
    const res = await fetch(`${url}${path}.json?ns=${ns}`, {
      headers: { accept: 'text/event-stream', authorization: 'Bearer owner' },
      signal: controller.signal,
    });
    const decoder = new TextDecoder();
    let buffer = '';
    for await (const chunk of res.body) {
      buffer += decoder.decode(chunk, { stream: true });
      let end;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const [eventLine, dataLine] = block.split('\n');
        const event = eventLine.slice('event: '.length);
        if (event !== 'keep-alive') {
          events.push({ event, data: JSON.parse(dataLine.slice('data: '.length)) });
          for (const w of waiters.splice(0)) w();
        }
      }
    }
  })().catch(() => {});
  opened.push(async () => controller.abort());
  return {
    events,
    close: () => controller.abort(),
    async next(count, what = 'SSE events', ms = 10000) {
      return within((async () => {
        while (events.length < count) await new Promise((r) => waiters.push(r));
        return events.slice(0, count);
      })(), what, ms);
    },
  };
}
