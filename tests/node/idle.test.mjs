// An idle client keeps its one socket (rtdb-websocket.md §10.2 item 2): the JS client pings a
// socket that has answered fewer than two data messages 5 s in, and without a pong drops it at 30 s.
import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import { goOffline, goOnline, onValue, ref } from 'firebase/database';
import { client, closeAll, connected, control, uniqueNs } from './helpers.mjs';

afterEach(closeAll);

test('2: an idle client stays connected for 36 s on one socket (pong answered)', async () => {
  const ns = uniqueNs();
  const db = client(ns, { token: null });
  goOffline(db);
  goOnline(db); // connects with no request but the stats report: one answer, so it pings
  await connected(db);
  const drops = [];
  onValue(ref(db, '.info/connected'), (s) => { if (s.val() === false) drops.push(Date.now()); });
  const [first, ...others] = await control('GET', `/servers/main/sockets?ns=${ns}`);
  assert.deepEqual(others, []);
  await new Promise((r) => setTimeout(r, 36_000));
  const sockets = await control('GET', `/servers/main/sockets?ns=${ns}`);
  assert.deepEqual(sockets.map((s) => s.session), [first.session]);
  assert.ok(sockets[0].framesIn >= 2, `the client sent its stats and a ping: ${sockets[0].framesIn}`);
  assert.deepEqual(drops, []);
});
