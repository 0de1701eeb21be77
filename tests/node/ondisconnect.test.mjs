// onDisconnect (rtdb-websocket.md §10.2 items 35-38, and a client killed outright).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { afterEach, test } from 'node:test';
import { deleteApp } from 'firebase/app';
import { goOffline, onDisconnect, onValue, ref, serverTimestamp, set } from 'firebase/database';
import {
  adminDb, client, closeAll, connected, control, MAIN, setRules, sse, uniqueNs, until, within,
} from './helpers.mjs';

afterEach(closeAll);

test('35: onDisconnect set/update/remove run when the client goes offline or its app is deleted', async () => {
  const ns = uniqueNs();
  const watcher = adminDb(ns);
  await within(watcher.ref('/').set({ gone: 'here', stays: 1 }), 'seed');
  const a = client(ns);
  await within(onDisconnect(ref(a, 'status')).set('offline'), 'onDisconnect set');
  await within(onDisconnect(ref(a, 'profile')).update({ online: false, 'last/seen': serverTimestamp() }), 'update');
  await within(onDisconnect(ref(a, 'gone')).remove(), 'remove');
  goOffline(a);
  const after = await within((async () => {
    for (;;) {
      const value = (await watcher.ref('/').get()).val();
      if (value.status) return value;
      await new Promise((r) => setTimeout(r, 20));
    }
  })(), 'the onDisconnect writes');
  assert.equal(after.status, 'offline');
  assert.equal(after.profile.online, false);
  assert.equal(typeof after.profile.last.seen, 'number');
  assert.equal(after.gone, undefined);
  assert.equal(after.stays, 1);
  // deleteApp closes the socket as well
  const b = client(ns);
  await within(onDisconnect(ref(b, 'bye')).set(true), 'onDisconnect');
  await deleteApp(b.app);
  await until(async () => (await watcher.ref('bye').get()).val() === true, 'the write after deleteApp');
});

test("36: cancel() on a child of a pending parent set keeps the siblings", async () => {
  const ns = uniqueNs();
  const watcher = adminDb(ns);
  const a = client(ns);
  await within(onDisconnect(ref(a, 'room')).set({ x: 1, y: 2, z: 3 }), 'set');
  await within(onDisconnect(ref(a, 'room/y')).cancel(), 'cancel');
  await within(set(ref(a, 'room/y'), 'live'), 'a live value for y');
  goOffline(a);
  await until(async () => (await watcher.ref('room/x').get()).val() === 1, 'the onDisconnect writes');
  assert.deepEqual((await watcher.ref('room').get()).val(), { x: 1, y: 'live', z: 3 });
});

test('37: registering onDisconnect on a denied path rejects at once with PERMISSION_DENIED', async () => {
  const ns = uniqueNs();
  await setRules(ns, { '.read': true, locked: { '.write': false }, free: { '.write': true } });
  const a = client(ns);
  await assert.rejects(within(onDisconnect(ref(a, 'locked/x')).set(1), 'onDisconnect'), { code: 'PERMISSION_DENIED' });
  await within(onDisconnect(ref(a, 'free/x')).set(1), 'an allowed one');
});

test('38: the presence pattern survives a socket the server closes', async () => {
  const ns = uniqueNs();
  const a = client(ns);
  const stream = sse(ns, '/presence/a'); // watched by SSE: the server closes only sockets
  onValue(ref(a, '.info/connected'), (snap) => {
    if (snap.val() === true) {
      onDisconnect(ref(a, 'presence/a')).set('offline').then(() => set(ref(a, 'presence/a'), 'online'));
    }
  });
  const states = async (count, what) => (await stream.next(count, what)).map((e) => e.data.data);
  assert.deepEqual(await states(2, 'online'), [null, 'online']);
  await control('POST', `/servers/main/close?ns=${ns}`);
  assert.deepEqual(await states(4, 'offline, then online again'), [null, 'online', 'offline', 'online']);
  await connected(a);
  stream.close();
});

test('a client killed outright (SIGKILL) still gets its onDisconnect write, with the time it went', async () => {
  const ns = uniqueNs();
  const watcher = adminDb(ns);
  const script = fileURLToPath(new URL('./presence-child.mjs', import.meta.url));
  const child = spawn(process.execPath, [script, ns, MAIN], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const [line] = await within(once(child.stdout, 'data'), 'the child ready');
    assert.equal(String(line).trim(), 'ready');
    assert.deepEqual((await watcher.ref('presence/child').get()).val(), { state: 'online' });
    const killed = Date.now();
    child.kill('SIGKILL');
    const value = await until(async () => {
      const v = (await watcher.ref('presence/child').get()).val();
      return v.state === 'offline' && v;
    }, 'the offline write');
    assert.ok(value.at >= killed - 1000, `${value.at} vs ${killed}`);
  } finally {
    child.kill('SIGKILL');
  }
});
