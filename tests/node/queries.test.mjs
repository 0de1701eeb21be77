// Queries and their moving windows (rtdb-websocket.md §10.2 items 23-28).
import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import {
  endBefore, equalTo, get, limitToFirst, limitToLast, onChildAdded, onChildRemoved, orderByChild,
  orderByKey, orderByValue, push, query, ref, set, startAfter, update,
} from 'firebase/database';
import { client, closeAll, follow, setRules, uniqueNs, until, within } from './helpers.mjs';

afterEach(closeAll);

function events(q) {
  const log = [];
  onChildAdded(q, (snap) => log.push(['added', snap.key]));
  onChildRemoved(q, (snap) => log.push(['removed', snap.key]));
  return log;
}

test('23: limitToLast(2) over pushes: each push removes the oldest and adds the new one', async () => {
  const ns = uniqueNs();
  const writer = client(ns);
  const reader = client(ns);
  const keys = [];
  for (let i = 0; i < 2; i++) keys.push((await within(push(ref(writer, 'feed'), i), 'push')).key);
  const log = events(query(ref(reader, 'feed'), limitToLast(2)));
  await until(() => log.length === 2, 'the first window');
  for (let i = 2; i < 5; i++) {
    keys.push((await within(push(ref(writer, 'feed'), i), 'push')).key);
    await until(() => log.length === 2 * i, `the window after push ${i}`);
  }
  assert.deepEqual(log, [
    ['added', keys[0]], ['added', keys[1]],
    ['removed', keys[0]], ['added', keys[2]],
    ['removed', keys[1]], ['added', keys[3]],
    ['removed', keys[2]], ['added', keys[4]],
  ]);
});

test("24: orderByChild('score') limitToFirst(3): a raised score moves out and the 4th child moves in", async () => {
  const ns = uniqueNs();
  const writer = client(ns);
  const reader = client(ns);
  await within(set(ref(writer, 'players'), {
    ann: { score: 1 }, bob: { score: 2 }, cat: { score: 3 }, dan: { score: 4 }, eve: { score: 5 },
  }), 'set');
  const seen = follow(query(ref(reader, 'players'), orderByChild('score'), limitToFirst(3)));
  await seen.next((v) => v && Object.keys(v).length === 3, 'the first window');
  assert.deepEqual(Object.keys(seen.values.at(-1)).sort(), ['ann', 'bob', 'cat']);
  await within(set(ref(writer, 'players/ann/score'), 10), 'raise a score');
  const moved = await seen.next((v) => v && !v.ann, 'the moved window');
  assert.deepEqual(moved, { bob: { score: 2 }, cat: { score: 3 }, dan: { score: 4 } });
});

test('25: startAfter/endBefore, with and without keys, on child, value and key indexes', async () => {
  const ns = uniqueNs();
  const writer = client(ns);
  await within(set(ref(writer, 'n'), {
    a: { v: 1 }, b: { v: 2 }, c: { v: 2 }, d: { v: 3 }, e: { v: 4 },
  }), 'set');
  await within(set(ref(writer, 'vals'), { a: 1, b: 2, c: 2, d: 3 }), 'set');
  const reader = client(ns);
  const keys = async (q) => {
    const snap = await within(get(q), 'get');
    const out = [];
    snap.forEach((c) => { out.push(c.key); });
    return out;
  };
  const n = ref(reader, 'n');
  assert.deepEqual(await keys(query(n, orderByChild('v'), startAfter(2))), ['d', 'e']);
  assert.deepEqual(await keys(query(n, orderByChild('v'), startAfter(2, 'b'))), ['c', 'd', 'e']);
  assert.deepEqual(await keys(query(n, orderByChild('v'), endBefore(2))), ['a']);
  assert.deepEqual(await keys(query(n, orderByChild('v'), endBefore(2, 'c'))), ['a', 'b']);
  assert.deepEqual(await keys(query(n, orderByKey(), startAfter('b'), endBefore('e'))), ['c', 'd']);
  const vals = ref(reader, 'vals');
  assert.deepEqual(await keys(query(vals, orderByValue(), startAfter(1), endBefore(3))), ['b', 'c']);
  // The same windows kept live by a listener (tagged listens), moving with the data:
  const live = follow(query(n, orderByChild('v'), startAfter(2, 'b'), limitToFirst(2)));
  await live.next((v) => v && v.c && v.d, 'the live window');
  await within(update(ref(writer, 'n'), { 'c/v': 0 }), 'update');
  await live.next((v) => v && !v.c && v.d && v.e, 'the window after c left');
});

test('26: equalTo(null) on a child index returns the children without that child', async () => {
  const ns = uniqueNs();
  const writer = client(ns);
  await within(set(ref(writer, 'items'), { a: { tag: 'x' }, b: { other: 1 }, c: { tag: 'y' }, d: 5 }), 'set');
  const snap = await within(get(query(ref(client(ns), 'items'), orderByChild('tag'), equalTo(null))), 'get');
  assert.deepEqual(snap.val(), { b: { other: 1 }, d: 5 });
});

test('27: an unindexed orderByChild query logs the no_index warning; with .indexOn it does not', async () => {
  const ns = uniqueNs();
  const writer = client(ns);
  await within(set(ref(writer, 'scores'), { a: { s: 1 }, b: { s: 2 } }), 'set');
  const warnings = [];
  const original = console.warn;
  console.warn = (...args) => { warnings.push(args.join(' ')); };
  try {
    const first = follow(query(ref(client(ns), 'scores'), orderByChild('s'), limitToFirst(1)));
    await first.next((v) => v !== null, 'the window');
    await until(() => warnings.some((w) => w.includes('Using an unspecified index')), 'the warning');
    assert.ok(warnings.some((w) => w.includes('".indexOn": "s"') && w.includes('at /scores')), warnings.join('\n'));
    await setRules(ns, { '.read': true, '.write': true, scores: { '.indexOn': ['s'] } });
    warnings.length = 0;
    const second = follow(query(ref(client(ns), 'scores'), orderByChild('s'), limitToFirst(1)));
    await second.next((v) => v !== null, 'the window');
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(warnings.filter((w) => w.includes('unspecified index')), []);
  } finally {
    console.warn = original;
  }
});

test('28: a query on a primitive yields null; orderByChild alone returns the whole location', async () => {
  const ns = uniqueNs();
  const writer = client(ns);
  await within(set(ref(writer, 'leaf'), 'just text'), 'set');
  await within(set(ref(writer, 'all'), { b: { k: 2 }, a: { k: 1 }, c: 'plain' }), 'set');
  const reader = client(ns);
  const onLeaf = follow(query(ref(reader, 'leaf'), orderByChild('k'), limitToFirst(2)));
  await onLeaf.next((v) => v === null, 'null for the primitive');
  const whole = follow(query(ref(reader, 'all'), orderByChild('k')));
  const value = await whole.next((v) => v !== null, 'the whole location');
  assert.deepEqual(value, { a: { k: 1 }, b: { k: 2 }, c: 'plain' });
});
