/** The page's report ranges (today, 7 days, this week, this month), each the range of one `focus report --since` (focuscli/period.py). */

// A range is [start, now) in server ms, with the calendar dates it covers in an IANA time zone
// (the browser's own on the page). Weeks begin on Monday (ISO 8601). `since` is the argument
// that gives the same range on a terminal in that time zone: `focus report --since <since>`.
// tests/cases/ranges/*.json hold this module and focuscli/period.py to the same ranges.

import { dayOf } from "./report.js";

export const DAY_MS = 86_400_000;
export const RANGES = Object.freeze([
  Object.freeze({ id: "today", name: "Today" }),
  Object.freeze({ id: "7d", name: "7 days" }), // `focus report` with no range: --since 7d
  Object.freeze({ id: "week", name: "This week" }),
  Object.freeze({ id: "month", name: "This month" }),
]);
export const DEFAULT_RANGE = "7d";

const FORMATS = new Map();

function wallClock(ms, tz) {
  if (!FORMATS.has(tz)) {
    FORMATS.set(tz, new Intl.DateTimeFormat("en-US", {
      timeZone: tz, calendar: "gregory", numberingSystem: "latn", hourCycle: "h23",
      year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit",
    }));
  }
  const parts = Object.fromEntries(FORMATS.get(tz).formatToParts(new Date(ms)).map((p) => [p.type, p.value]));
  return Date.UTC(Number(parts.year), Number(parts.month) - 1, Number(parts.day), Number(parts.hour), Number(parts.minute), Number(parts.second));
}

/** The zone's offset from UTC at server time `ms`, in ms (wall clock minus UTC). */
export function offsetAt(ms, tz) {
  const whole = Math.floor(ms / 1000) * 1000;
  return wallClock(whole, tz) - whole;
}

/** Server ms at which the date `day` (YYYY-MM-DD) begins in `tz`: Python's
 * datetime(y, m, d, tzinfo=ZoneInfo(tz)).timestamp() (fold 0: of a repeated midnight the first;
 * of a midnight the clocks skip, the instant of the skip, by the offset before it). */
export function midnight(day, tz) {
  const wall = Date.UTC(Number(day.slice(0, 4)), Number(day.slice(5, 7)) - 1, Number(day.slice(8, 10)));
  const before = offsetAt(wall - DAY_MS, tz);
  const after = offsetAt(wall + DAY_MS, tz);
  const fits = [before, after].map((o) => wall - o).filter((t) => t + offsetAt(t, tz) === wall);
  return fits.length ? Math.min(...fits) : wall - before;
}

const shiftDate = (day, days) => {
  const t = Date.UTC(Number(day.slice(0, 4)), Number(day.slice(5, 7)) - 1, Number(day.slice(8, 10))) + days * DAY_MS;
  return new Date(t).toISOString().slice(0, 10);
};

/** Monday = 0 … Sunday = 6 of a date (YYYY-MM-DD). */
export function weekday(day) {
  const t = Date.UTC(Number(day.slice(0, 4)), Number(day.slice(5, 7)) - 1, Number(day.slice(8, 10)));
  return (new Date(t).getUTCDay() + 6) % 7;
}

/** The range `id` (see RANGES) as of server time `now` in `tz`: {id, since, start, end,
 * first, last}, as `focus report --since <since>` computes it (focuscli/period.py `period`). */
export function rangeFor(id, now, tz) {
  const today = dayOf(now, tz);
  let since;
  let start;
  if (id === "7d") {
    since = "7d";
    start = now - 7 * DAY_MS;
  } else {
    const begin = id === "today" ? today : id === "week" ? shiftDate(today, -weekday(today)) : id === "month" ? `${today.slice(0, 8)}01` : null;
    if (begin === null) throw new RangeError(`no report range ${JSON.stringify(id)}`);
    since = id === "today" ? "today" : begin;
    start = midnight(begin, tz);
  }
  return { id, since, start, end: now, first: dayOf(start, tz), last: dayOf(Math.max(start, now - 1), tz) };
}
