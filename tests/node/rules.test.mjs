// Rules and identities on the socket (rtdb-websocket.md §10.2 items 29-34).
import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import { equalTo, get, onValue, orderByChild, query, ref, set } from 'firebase/database';
import {
  adminDb, client, closeAll, connected, control, follow, rest, setRules, uniqueNs, until, within,
} from './helpers.mjs';

afterEach(closeAll);

const USERS = {
  users: { $uid: { '.read': 'auth != null && auth.uid === $uid', '.write': 'auth != null && auth.uid === $uid' } },
  open: { '.read': true, '.write': true },
};

test('29: a denied read cancels with PERMISSION_DENIED; a denied write rejects and the local value reverts', async () => {
  const ns = uniqueNs();
  await setRules(ns, { ...USERS, readonly: { '.read': true, '.write': false } });
  await rest('PUT', ns, '/readonly/x', 'server');
  const anon = client(ns, { token: null });
  const seen = follow(ref(anon, 'users/bob'));
  const err = await seen.error('the cancel');
  assert.equal(err.code, 'PERMISSION_DENIED');
  assert.equal(err.message, "permission_denied at /users/bob: Client doesn't have permission to access the desired data.");
  const local = follow(ref(anon, 'readonly/x'));
  await local.next((v) => v === 'server', 'the first value');
  await assert.rejects(within(set(ref(anon, 'readonly/x'), 'mallory'), 'set'), (e) => {
    assert.equal(e.code, 'PERMISSION_DENIED');
    assert.equal(e.message, 'PERMISSION_DENIED: Permission denied');
    return true;
  });
  await until(() => local.values.at(-1) === 'server', 'the revert');
  assert.deepEqual(local.values, ['server', 'mallory', 'server']);
});

test("30: mockUserToken {sub:'alice'} writes /users/alice, not /users/bob, on one socket", async () => {
  const ns = uniqueNs();
  await setRules(ns, USERS);
  const alice = client(ns, { token: { sub: 'alice' } });
  await within(set(ref(alice, 'users/alice/name'), 'Alice'), 'set own');
  await assert.rejects(within(set(ref(alice, 'users/bob/name'), 'x'), 'set other'), { code: 'PERMISSION_DENIED' });
  assert.equal((await within(get(ref(alice, 'users/alice/name')), 'get')).val(), 'Alice');
  const sockets = await control('GET', `/servers/main/sockets?ns=${ns}`);
  assert.equal(sockets.length, 1, 'the expired mock token is accepted: no reconnect loop');
});

test("31: mockUserToken 'owner' and the Admin SDK bypass the rules; databaseAuthVariableOverride restricts", async () => {
  const ns = uniqueNs();
  await setRules(ns, { ...USERS, '.read': false, '.write': false });
  const owner = client(ns, { token: 'owner' });
  await within(set(ref(owner, 'users/bob/name'), 'by owner'), 'owner set');
  const adminApp = adminDb(ns);
  await within(adminApp.ref('secret').set(1), 'admin set');
  assert.equal((await within(adminApp.ref('users/bob/name').get(), 'admin get')).val(), 'by owner');
  const asU1 = adminDb(ns, { override: { uid: 'u1' } });
  await within(asU1.ref('users/u1/name').set('me'), 'u1 set own');
  await assert.rejects(within(asU1.ref('users/bob/name').set('x'), 'u1 set other'), /PERMISSION_DENIED/);
  const asNobody = adminDb(ns, { override: null });
  await assert.rejects(within(asNobody.ref('users/u1/name').set('x'), 'unauthenticated set'), /PERMISSION_DENIED/);
  await assert.rejects(within(asNobody.ref('secret').get(), 'unauthenticated get'), /ermission/);
});

test('32: query-based rules allow the narrowed listen and deny the plain one', async () => {
  const ns = uniqueNs();
  await setRules(ns, {
    tasks: {
      '.read': "query.orderByChild === 'owner' && query.equalTo === auth.uid",
      '.write': true,
    },
  });
  const alice = client(ns, { token: { sub: 'alice' } });
  await within(set(ref(alice, 'tasks'), { t1: { owner: 'alice', n: 1 }, t2: { owner: 'bob', n: 2 } }), 'set');
  const mine = follow(query(ref(alice, 'tasks'), orderByChild('owner'), equalTo('alice')));
  assert.deepEqual(await mine.next((v) => v !== null, 'the narrowed listen'), { t1: { owner: 'alice', n: 1 } });
  const everything = follow(ref(client(ns, { token: { sub: 'alice' } }), 'tasks'));
  assert.equal((await everything.error('the plain listen denied')).code, 'PERMISSION_DENIED');
});

test('33: uploading stricter rules cancels a live listener with permission_denied', async () => {
  const ns = uniqueNs();
  await setRules(ns, { '.read': true, '.write': true });
  const db = client(ns);
  const seen = follow(ref(db, 'board'));
  await seen.next((v) => v === null, 'the first value');
  await setRules(ns, { '.read': false, '.write': true });
  const err = await seen.error('the revocation');
  assert.equal(err.code, 'PERMISSION_DENIED');
  // Data-dependent rules are re-checked after writes too: a REST write closes the door.
  const ns2 = uniqueNs();
  await setRules(ns2, { board: { '.read': "root.child('open').val() === true" }, open: { '.write': true, '.read': true } });
  await rest('PUT', ns2, '/open', true);
  const live = follow(ref(client(ns2), 'board'));
  await live.next((v) => v === null, 'the first value');
  await rest('PUT', ns2, '/open', false);
  assert.equal((await live.error('revoked by a write')).code, 'PERMISSION_DENIED');
});

test('34: a pushed `ac` makes the client reconnect, re-authenticate and keep its listeners', async () => {
  const ns = uniqueNs();
  await setRules(ns, USERS);
  const alice = client(ns, { token: { sub: 'alice' } });
  const seen = follow(ref(alice, 'users/alice'));
  await seen.next((v) => v === null, 'the first value');
  const first = await control('GET', `/servers/main/sockets?ns=${ns}`);
  await control('POST', `/servers/main/revoke?ns=${ns}`);
  await until(async () => {
    const now = await control('GET', `/servers/main/sockets?ns=${ns}`);
    return now.length === 1 && now[0].session !== first[0].session;
  }, 'a new socket', 15000);
  const admin = adminDb(ns);
  await within(admin.ref('users/alice/mood').set('fine'), 'admin set');
  await seen.next((v) => v && v.mood === 'fine', 'the update after the reconnect', 15000);
  assert.deepEqual(seen.errors, []);
  await connected(alice);
});

test('an auth token that is not a JWT gets invalid_token, and the server lives on', async () => {
  const ns = uniqueNs();
  const url = process.env.FOCUS_URL.replace('http', 'ws');
  const socket = new WebSocket(`${url}/.ws?v=5&ns=${ns}`);
  const inbox = [];
  socket.onmessage = (m) => inbox.push(JSON.parse(m.data));
  await until(() => inbox.length === 1, 'the hello');
  socket.send(JSON.stringify({ t: 'd', d: { r: 1, a: 'auth', b: { cred: 'not.a-token' } } }));
  await until(() => inbox.length === 2, 'the answer');
  assert.deepEqual(inbox[1], { t: 'd', d: { r: 1, b: { s: 'invalid_token', d: 'Could not parse auth token.' } } });
  socket.close();
  const ok = await rest('GET', ns, '/x');
  assert.equal(ok.status, 200);
});

test('onValue on a denied path with the Admin SDK as u1 is cancelled too', async () => {
  const ns = uniqueNs();
  await setRules(ns, USERS);
  const asU1 = adminDb(ns, { override: { uid: 'u1' } });
  const cancelled = new Promise((resolve) => asU1.ref('users/bob').on('value', () => {}, resolve));
  const err = await within(cancelled, 'the cancel');
  assert.match(String(err), /permission_denied/);
  void onValue;
});
