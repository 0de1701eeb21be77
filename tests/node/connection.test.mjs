// Connection and framing (rtdb-websocket.md §10.2 items 1 and 3-7).
import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import { get, onValue, ref, set } from 'firebase/database';
import {
  adminDb, client, closeAll, connected, control, follow, MAIN, plainClient, rest, uniqueNs, until, within,
} from './helpers.mjs';

afterEach(closeAll);

function rawSocket(url, ns) {
  const socket = new WebSocket(`${url.replace('http', 'ws')}/.ws?v=5&ns=${ns}`);
  const inbox = [];
  socket.onmessage = (m) => inbox.push(m.data);
  return { socket, inbox };
}

test('1: the hello (integer ts, v "5", a session id, our host), connected, and serverTimeOffset', async () => {
  const ns = uniqueNs();
  const { socket, inbox } = rawSocket(MAIN, ns);
  await until(() => inbox.length === 1, 'the hello').finally(() => socket.close());
  const hello = JSON.parse(inbox[0]);
  assert.equal(hello.t, 'c');
  assert.equal(hello.d.t, 'h');
  const { ts, v, s, h } = hello.d.d;
  assert.ok(Number.isInteger(ts) && Math.abs(ts - Date.now()) < 5000, `ts ${ts}`);
  assert.equal(v, '5');
  assert.match(s, /^[A-Za-z0-9]{32}$/);
  assert.equal(h, new URL(MAIN).host);

  const { url } = await control('POST', '/servers', { clockOffsetMs: 3_600_000 });
  const db = client(ns, { url });
  await connected(db);
  const offset = follow(ref(db, '.info/serverTimeOffset'));
  const value = await offset.next((v) => v > 3_000_000, 'the offset');
  assert.ok(Math.abs(value - 3_600_000) < 5000, `serverTimeOffset ${value}`);
});

test('3: a 200,000-character string goes both ways in counted frames', async () => {
  const ns = uniqueNs();
  const big = 'x'.repeat(199_990) + '0123456789';
  const writer = client(ns);
  await within(set(ref(writer, 'big'), big), 'set', 20000);
  const reader = client(ns);
  const value = (await within(get(ref(reader, 'big')), 'get', 20000)).val();
  assert.equal(value, big);
  const sockets = await control('GET', `/servers/main/sockets?ns=${ns}`);
  // 200,000 characters: 13 pieces of <= 16,384 after a count, in and out.
  assert.ok(sockets.some((s) => s.framesIn >= 14), JSON.stringify(sockets));
  assert.ok(sockets.some((s) => s.framesOut >= 14), JSON.stringify(sockets));
});

test('4: emoji and CJK keys, emoji and control characters in values, unchanged', async () => {
  const ns = uniqueNs();
  const data = { '😀': 'grin 😀', 日本語: '漢字\u0001\n\t"\\', mixed: { 'ключ-🔑': '\u007f\u2028' } };
  await within(set(ref(client(ns), 'u'), data), 'set');
  assert.deepEqual((await within(get(ref(client(ns), 'u')), 'get')).val(), data);
  assert.deepEqual((await rest('GET', ns, '/u')).body, data);
});

test("5: without connectDatabaseEmulator the client follows the hello's host after a cut", async () => {
  const ns = uniqueNs();
  const db = plainClient(ns);
  const seen = follow(ref(db, 'where'));
  await seen.next((v) => v === null, 'the first value');
  await control('POST', `/servers/main/close?ns=${ns}`);
  await rest('PUT', ns, '/where', 'after the cut');
  await seen.next((v) => v === 'after the cut', 'the value after reconnecting to h', 15000);
});

test('6: a socket the server closes comes back with ls=<its session> and gets what changed meanwhile', async () => {
  const ns = uniqueNs();
  const db = client(ns);
  const seen = follow(ref(db, 'room'));
  await seen.next((v) => v === null, 'the first value');
  const [before] = await control('GET', `/servers/main/sockets?ns=${ns}`);
  const disconnects = [];
  onValue(ref(db, '.info/connected'), (s) => { if (s.val() === false) disconnects.push(Date.now()); });
  await control('POST', `/servers/main/close?ns=${ns}`);
  await until(() => disconnects.length >= 1, 'the disconnect');
  await within(adminDb(ns).ref('room').set({ changed: 'meanwhile' }), 'admin set');
  await seen.next((v) => v && v.changed === 'meanwhile', 'the update after the reconnect', 15000);
  const sockets = await control('GET', `/servers/main/sockets?ns=${ns}`);
  const again = sockets.find((s) => s.session !== before.session && s.lastSession === before.session);
  assert.ok(again, JSON.stringify({ before, sockets }));
});

test('7: writes made while the server was down are delivered once it is back on the same port', async () => {
  const ns = uniqueNs();
  const { id, url } = await control('POST', '/servers', { dataDir: true });
  const reader = client(ns, { url });
  const writer = adminDb(ns, { url });
  await within(writer.ref('kept').set('before'), 'set');
  const seen = follow(ref(reader, 'queued'));
  await seen.next((v) => v === null, 'the first value');
  await control('POST', `/servers/${id}/stop`);
  await connected(reader, false);
  const pending = writer.ref('queued').set('while down');
  const { url: back } = await control('POST', `/servers/${id}/restart`);
  assert.equal(back, url);
  await within(pending, 'the queued write', 20000);
  await seen.next((v) => v === 'while down', 'the queued write at the reader', 20000);
  assert.equal((await within(get(ref(reader, 'kept')), 'get')).val(), 'before');
});
