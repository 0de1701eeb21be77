// Reads and writes across two SDK apps (rtdb-websocket.md §10.2 items 8-14).
import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import {
  child, get, limitToFirst, onChildAdded, onChildRemoved, orderByPriority, push, query, ref,
  remove, set, setPriority, setWithPriority, update,
} from 'firebase/database';
import { client, closeAll, follow, uniqueNs, within } from './helpers.mjs';

afterEach(closeAll);

test('8: set on one app reaches another app: its first event carries the data, never a null', async () => {
  const ns = uniqueNs();
  const reader = client(ns);
  const writer = client(ns);
  await within(set(ref(writer, 'rooms/r1'), { title: 'standup', size: 3 }), 'set');
  const seen = follow(ref(reader, 'rooms/r1'));
  await seen.next((v) => v !== null, 'the value');
  assert.deepEqual(seen.values, [{ title: 'standup', size: 3 }]);
});

test('9: update with multi-path keys and null deletes: one value event on the listener', async () => {
  const ns = uniqueNs();
  const reader = client(ns);
  const writer = client(ns);
  await within(set(ref(writer, 'doc'), { a: { b: 1, keep: true }, c: 2, gone: 'x' }), 'set');
  const seen = follow(ref(reader, 'doc'));
  await seen.next((v) => v && v.gone === 'x', 'the first value');
  await within(update(ref(writer, 'doc'), { 'a/b': 5, '/c': { d: 1 }, gone: null }), 'update');
  const after = await seen.next((v) => v && v.a.b === 5, 'the updated value');
  assert.deepEqual(after, { a: { b: 5, keep: true }, c: { d: 1 } });
  assert.equal(seen.values.length, 2, JSON.stringify(seen.values));
});

test('10: push ids sort by creation and onChildAdded follows that order', async () => {
  const ns = uniqueNs();
  const reader = client(ns);
  const writer = client(ns);
  const keys = [];
  for (let i = 0; i < 5; i++) keys.push((await within(push(ref(writer, 'list'), { i }), 'push')).key);
  assert.deepEqual([...keys].sort(), keys);
  const added = [];
  onChildAdded(ref(reader, 'list'), (snap) => added.push([snap.key, snap.val().i]));
  await within((async () => { while (added.length < 5) await new Promise((r) => setTimeout(r, 20)); })(), 'children');
  assert.deepEqual(added, keys.map((k, i) => [k, i]));
});

test('11: remove fires child_removed and value null on the other app', async () => {
  const ns = uniqueNs();
  const reader = client(ns);
  const writer = client(ns);
  await within(set(ref(writer, 'box'), { a: 1, b: 2 }), 'set');
  const removed = [];
  onChildRemoved(ref(reader, 'box'), (snap) => removed.push(snap.key));
  const seen = follow(ref(reader, 'box'));
  await seen.next((v) => v && v.a === 1, 'the value');
  await within(remove(ref(writer, 'box')), 'remove');
  await seen.next((v) => v === null, 'null');
  assert.deepEqual(removed.sort(), ['a', 'b']);
});

test('12: priorities reach the other app (exportVal) and orderByPriority orders by them', async () => {
  const ns = uniqueNs();
  const reader = client(ns);
  const writer = client(ns);
  await within(setWithPriority(ref(writer, 'p/x'), 'ex', 3), 'setWithPriority');
  await within(setWithPriority(ref(writer, 'p/y'), { v: 1 }, 1), 'setWithPriority');
  await within(set(ref(writer, 'p/z'), 'zed'), 'set');
  await within(setPriority(ref(writer, 'p/z'), 'a-string'), 'setPriority');
  const seen = follow(ref(reader, 'p'), { exportVal: true });
  const value = await seen.next((v) => v && v.z && v.z['.priority'] === 'a-string', 'priorities');
  assert.deepEqual(value, {
    x: { '.value': 'ex', '.priority': 3 },
    y: { v: 1, '.priority': 1 },
    z: { '.value': 'zed', '.priority': 'a-string' },
  });
  const ordered = [];
  const snap = await within(get(query(ref(reader, 'p'), orderByPriority())), 'get');
  snap.forEach((c) => { ordered.push(c.key); });
  assert.deepEqual(ordered, ['y', 'x', 'z']);
});

test('13: get with no listener, with a listener, and on a query (only the window)', async () => {
  const ns = uniqueNs();
  const reader = client(ns);
  const writer = client(ns);
  await within(set(ref(writer, 'g'), { a: 1, b: 2, c: 3 }), 'set');
  assert.deepEqual((await within(get(ref(reader, 'g')), 'get')).val(), { a: 1, b: 2, c: 3 });
  const seen = follow(ref(reader, 'g/a'));
  await seen.next((v) => v === 1, 'the listened value');
  await within(set(ref(writer, 'g/a'), 10), 'set');
  await seen.next((v) => v === 10, 'the new value');
  assert.equal((await within(get(ref(reader, 'g/a')), 'get')).val(), 10);
  const windowed = await within(get(query(ref(client(ns), 'g'), limitToFirst(2))), 'get query');
  assert.deepEqual(windowed.val(), { a: 10, b: 2 });
});

test("14: the writer's own listener sees its write once, with no revert after the ack", async () => {
  const ns = uniqueNs();
  const db = client(ns);
  const seen = follow(ref(db, 'mine'));
  await seen.next((v) => v === null, 'the initial null');
  await within(set(ref(db, 'mine'), { n: 1 }), 'set');
  await within(set(child(ref(db, 'mine'), 'n'), 2), 'set');
  await new Promise((r) => setTimeout(r, 300));
  assert.deepEqual(seen.values, [null, { n: 1 }, { n: 2 }]);
});
