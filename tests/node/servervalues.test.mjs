// Server values and transactions (rtdb-websocket.md §10.2 items 15-22).
import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import {
  get, increment, onDisconnect, ref, runTransaction, serverTimestamp, set, setWithPriority,
} from 'firebase/database';
import {
  adminDb, client, closeAll, connected, control, follow, MAIN, setRules, uniqueNs, within,
} from './helpers.mjs';

afterEach(closeAll);

test('15: serverTimestamp resolves on the server clock, the same for writer and reader', async () => {
  const ns = uniqueNs();
  const writer = client(ns);
  const reader = client(ns);
  const before = Date.now();
  await within(set(ref(writer, 'stamp'), serverTimestamp()), 'set');
  const after = Date.now();
  const seenByWriter = (await within(get(ref(writer, 'stamp')), 'get')).val();
  const seenByReader = (await within(get(ref(reader, 'stamp')), 'get')).val();
  assert.equal(seenByWriter, seenByReader);
  assert.ok(Number.isInteger(seenByReader));
  assert.ok(before - 1000 <= seenByReader && seenByReader <= after + 1000, `${before} ${seenByReader} ${after}`);
});

test('16: two apps x 50 increment(1) make exactly 100; increment on a string or nothing is the delta', async () => {
  const ns = uniqueNs();
  const a = client(ns);
  const b = client(ns);
  const writes = [];
  for (let i = 0; i < 50; i++) {
    writes.push(set(ref(a, 'count'), increment(1)));
    writes.push(set(ref(b, 'count'), increment(1)));
  }
  await within(Promise.all(writes), '100 increments', 20000);
  assert.equal((await within(get(ref(client(ns), 'count')), 'get')).val(), 100);
  await within(set(ref(a, 'word'), 'text'), 'set');
  await within(set(ref(a, 'word'), increment(7)), 'increment a string');
  await within(set(ref(a, 'fresh'), increment(-2.5)), 'increment nothing');
  const reader = client(ns);
  assert.equal((await within(get(ref(reader, 'word')), 'get')).val(), 7);
  assert.equal((await within(get(ref(reader, 'fresh')), 'get')).val(), -2.5);
});

test('17: onDisconnect().set(serverTimestamp()) records the disconnect time, not the registration time', async () => {
  const { id, url } = await control('POST', '/servers', { clockOffsetMs: 0 });
  const ns = uniqueNs();
  const leaving = client(ns, { url });
  const watcher = adminDb(ns, { url });
  await within(onDisconnect(ref(leaving, 'lastSeen')).set(serverTimestamp()), 'onDisconnect');
  const registered = Date.now();
  await control('POST', `/servers/${id}/clock`, { offsetMs: 3_600_000 }); // the server's clock: an hour on
  const seen = new Promise((resolve) => watcher.ref('lastSeen').on('value', (s) => s.val() && resolve(s.val())));
  await control('POST', `/servers/${id}/close?ns=${ns}`);
  const stamp = await within(seen, 'the onDisconnect write');
  assert.ok(stamp >= registered + 3_590_000, `written at ${stamp}, registered at ${registered}`);
});

test('18: a simple transaction commits and its snapshot is the server value', async () => {
  const ns = uniqueNs();
  const db = client(ns);
  await within(set(ref(db, 'tx'), { n: 1 }), 'set');
  const result = await within(runTransaction(ref(db, 'tx'), (cur) => ({ n: (cur?.n ?? 0) + 1 })), 'transaction');
  assert.equal(result.committed, true);
  assert.deepEqual(result.snapshot.val(), { n: 2 });
  assert.deepEqual((await within(get(ref(client(ns), 'tx')), 'get')).val(), { n: 2 });
});

test('19: two apps x 20 transactional increments make 40, and the server answered datastale', async () => {
  const ns = uniqueNs();
  const a = client(ns);
  const b = client(ns);
  const bump = (db) => runTransaction(ref(db, 'counter'), (cur) => (cur ?? 0) + 1);
  const runs = [];
  for (let i = 0; i < 20; i++) runs.push(bump(a), bump(b));
  const results = await within(Promise.all(runs), '40 transactions', 30000);
  assert.ok(results.every((r) => r.committed));
  assert.equal((await within(get(ref(client(ns), 'counter')), 'get')).val(), 40);
  const sockets = await control('GET', `/servers/main/sockets?ns=${ns}`);
  const stale = sockets.reduce((sum, s) => sum + s.stale, 0);
  assert.ok(stale >= 1, `datastale answers: ${stale}`);
});

test('20: a transaction on prioritised children and awkward doubles commits at the first try', async () => {
  const ns = uniqueNs();
  const db = client(ns);
  await within(setWithPriority(ref(db, 'h/b'), 9007199254740991, 2 ** -29), 'setWithPriority');
  await within(setWithPriority(ref(db, 'h/a'), { x: 2 ** -29, y: 'text' }, 'p'), 'setWithPriority');
  await within(setWithPriority(ref(db, 'h/c'), true, 5), 'setWithPriority');
  const other = client(ns);
  const seen = follow(ref(other, 'h'));
  await seen.next((v) => v && v.c === true, 'the value');
  let calls = 0;
  const result = await within(runTransaction(ref(other, 'h'), (cur) => {
    calls += 1;
    if (cur === null) return cur;
    return { ...cur, d: 1 };
  }), 'transaction');
  assert.equal(result.committed, true);
  assert.equal(calls, 1, 'the first try must commit: the hashes agree');
  const sockets = await control('GET', `/servers/main/sockets?ns=${ns}`);
  assert.equal(sockets.reduce((sum, s) => sum + s.stale, 0), 0);
});

test('21: an update function returning undefined aborts: committed false, nothing written', async () => {
  const ns = uniqueNs();
  const db = client(ns);
  await within(set(ref(db, 'keep'), 'same'), 'set');
  const result = await within(runTransaction(ref(db, 'keep'), () => undefined), 'transaction');
  assert.equal(result.committed, false);
  assert.equal((await within(get(ref(client(ns), 'keep')), 'get')).val(), 'same');
});

test('22: a transaction under a denying rule fails with permission_denied', async () => {
  const ns = uniqueNs();
  await setRules(ns, { '.read': true, locked: { '.write': false } }, { url: MAIN });
  const db = client(ns);
  await connected(db);
  await assert.rejects(
    within(runTransaction(ref(db, 'locked'), () => 1), 'transaction'),
    (err) => err.message === 'permission_denied',
  );
});
