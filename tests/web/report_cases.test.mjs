// tests/cases/report/*.json against focuscli/web/report.js: one node test per case, named
// "<file stem>:<case name>" as pytest names them (tests/test_report_cases.py documents the format).

import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

import { analyse, blockToJson, buildReport } from "../../focuscli/web/report.js";

const CASES = fileURLToPath(new URL("../cases/report/", import.meta.url));

for (const file of readdirSync(CASES).filter((f) => f.endsWith(".json")).sort()) {
  const spec = JSON.parse(readFileSync(CASES + file, "utf8"));
  for (const c of spec.cases) {
    test(`${file.slice(0, -".json".length)}:${c.name}`, () => {
      const args = { start: c.start, end: c.end, now: c.now, ...(Object.hasOwn(c, "horizon") ? { horizon: c.horizon } : {}) };
      const seen = analyse(c.history, args);
      const blocks = seen.blocks.map(([b, share]) => ({
        ...blockToJson(b),
        shares: Object.fromEntries([...share.entries()].sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0))),
      }));
      assert.deepEqual(blocks, c.blocks);
      const built = buildReport(c.history, { ...args, tz: c.tz });
      for (const [key, value] of Object.entries(c.report)) assert.deepEqual(built[key], value, key);
    });
  }
}
