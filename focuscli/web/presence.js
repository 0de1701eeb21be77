/** The page's presence writes as data: focuscli/service.py `heartbeat` and `away`, with presence spans. */

// While a member's page is open it writes, every HEARTBEAT_MS, one update at sessions/<s>:
//   {"members/<uid>/seen_at": now, "presence/<key>/seen": now}              the span goes on
//   {"members/<uid>/seen_at": now, "presence/<key>": {uid, name, from: now, seen: now},
//    "members/<uid>/span": <key>}                                             a new one
// A span goes on while its last heartbeat is recent (SPAN_FRESH_MS by this browser's clock;
// the rules allow 45 s by the server's); a refused continuation opens a new span, and a refused
// opening means rules from before spans: then the plain heartbeat (seen_at alone) from then on.
// A clean end writes away_at and the span's `to` (the span only while fresh: a stale one ends
// at its last heartbeat). All times are the server's (SERVER_NOW); the rules demand it.

import { newOperationId } from "./actions.js";
import { SERVER_NOW } from "./timer.js";

export const SPAN_FRESH_MS = 40_000; // focuscli/service.py SPAN_FRESH_S

/** Is the span `span` ({key, beatAt: local ms of its last heartbeat}, or null) still going on? */
export function isFresh(span, localNow) {
  return span !== null && localNow - span.beatAt < SPAN_FRESH_MS;
}

/** The writes a heartbeat tries, in order, until one is accepted: [{key, opens, update}]
 * (paths relative to sessions/<s>). `me` is {uid, name}: the name as the ID token states it. */
export function heartbeat(span, me, localNow, newKey = newOperationId) {
  const seen = { [`members/${me.uid}/seen_at`]: SERVER_NOW };
  const tries = [];
  if (isFresh(span, localNow)) {
    tries.push({ key: span.key, opens: false, update: { ...seen, [`presence/${span.key}/seen`]: SERVER_NOW } });
  }
  const key = newKey();
  tries.push({
    key, opens: true,
    // the member's record names the span it opens: the rules admit one new span per write, that one
    update: {
      ...seen,
      [`presence/${key}`]: { uid: me.uid, name: me.name, from: SERVER_NOW, seen: SERVER_NOW },
      [`members/${me.uid}/span`]: key,
    },
  });
  return tries;
}

/** The heartbeat of rules from before presence spans: seen_at alone. */
export function plainHeartbeat(uid) {
  return { [`members/${uid}/seen_at`]: SERVER_NOW };
}

/** The writes of a clean end (sign out, leaving the session's page), in order: away_at with the
 * span's end while it is fresh, else (or when that is refused) away_at alone. */
export function ending(span, uid, localNow) {
  const away = { [`members/${uid}/away_at`]: SERVER_NOW };
  return isFresh(span, localNow) ? [{ ...away, [`presence/${span.key}/to`]: SERVER_NOW }, away] : [away];
}
