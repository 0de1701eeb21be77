// One database behind every door: REST, SSE and the realtime protocol see the same commits in
// the same order.
import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import { onChildAdded, ref, set } from 'firebase/database';
import { adminDb, client, closeAll, follow, rest, sse, uniqueNs, until, within } from './helpers.mjs';

afterEach(closeAll);

test('a REST write reaches socket listeners; a socket write reaches SSE streams', async () => {
  const ns = uniqueNs();
  const db = client(ns);
  const seen = follow(ref(db, 'doors'));
  await seen.next((v) => v === null, 'the first value');
  const stream = sse(ns, '/doors');
  await stream.next(1, 'the initial put');
  await rest('PATCH', ns, '/doors', { rest: 1 });
  await seen.next((v) => v && v.rest === 1, 'the REST write on the socket');
  await within(set(ref(db, 'doors/socket'), 2), 'set');
  const events = await stream.next(3, 'the socket write on SSE');
  assert.deepEqual(events.slice(1), [
    { event: 'patch', data: { path: '/', data: { rest: 1 } } },
    { event: 'put', data: { path: '/socket', data: 2 } },
  ]);
  stream.close();
});

test('interleaved REST and socket writes arrive in one commit order on SSE and on the socket', async () => {
  const ns = uniqueNs();
  const reader = client(ns);
  const order = [];
  onChildAdded(ref(reader, 'log'), (snap) => order.push(snap.key));
  await follow(ref(reader, 'log')).next((v) => v === null, 'the listen in place');
  const stream = sse(ns, '/log');
  await stream.next(1, 'the initial put');
  const sdk = client(ns);
  const admin = adminDb(ns);
  const writes = [];
  for (let i = 0; i < 15; i++) {
    writes.push(set(ref(sdk, `log/s${i}`), i));
    writes.push(rest('PUT', ns, `/log/r${i}`, i));
    writes.push(admin.ref(`log/a${i}`).set(i));
  }
  await within(Promise.all(writes), '45 writes', 20000);
  const events = await stream.next(46, 'every write on SSE');
  await until(() => order.length === 45, 'every write on the socket');
  const sseOrder = events.slice(1).map((e) => e.data.path.slice(1));
  assert.deepEqual(order, sseOrder);
  stream.close();
});
