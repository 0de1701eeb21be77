// tests/cases/ranges/*.json against focuscli/web/ranges.js: one node test per case, named
// "<file stem>:<case name>" as tests/test_range_cases.py names them.

import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

import { RANGES, midnight, rangeFor, weekday } from "../../focuscli/web/ranges.js";

const CASES = fileURLToPath(new URL("../cases/ranges/", import.meta.url));

for (const file of readdirSync(CASES).filter((f) => f.endsWith(".json")).sort()) {
  const spec = JSON.parse(readFileSync(CASES + file, "utf8"));
  for (const c of spec.cases) {
    test(`${file.slice(0, -".json".length)}:${c.name}`, () => {
      const { since, start, end, first, last } = c;
      assert.deepEqual(rangeFor(c.range, c.now, c.tz), { id: c.range, since, start, end, first, last });
    });
  }
}

test("every range the page offers has a case", () => {
  const spec = JSON.parse(readFileSync(CASES + "ranges.json", "utf8"));
  assert.deepEqual([...new Set(spec.cases.map((c) => c.range))].sort(), RANGES.map((r) => r.id).sort());
});

test("an unknown range is an error, not a guess", () => {
  assert.throws(() => rangeFor("year", 0, "UTC"), RangeError);
});

test("weeks begin on Monday", () => {
  assert.deepEqual(["2024-06-03", "2024-06-08", "2024-06-09"].map(weekday), [0, 5, 6]);
});

test("a repeated midnight is its first occurrence (fold 0)", () => {
  // America/Havana goes back from 01:00 to 00:00 on 2024-11-03: midnight happens twice.
  assert.equal(midnight("2024-11-03", "America/Havana"), Date.UTC(2024, 10, 3, 4));
});
