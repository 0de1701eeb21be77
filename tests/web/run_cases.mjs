// node tests/web/run_cases.mjs FILE: run a case file written elsewhere (the differential test
// in tests/test_timer_differential.py) and print one JSON line per case that fails here.

import { readFileSync } from "node:fs";

import { runCase } from "./cases.mjs";

const spec = JSON.parse(readFileSync(process.argv[2], "utf8"));
let failed = 0;
for (const c of spec.cases) {
  try {
    runCase(spec.kind, c);
  } catch (e) {
    failed += 1;
    process.stdout.write(`${JSON.stringify({ name: c.name, error: String(e.message).slice(0, 2000) })}\n`);
  }
}
process.exitCode = failed ? 1 : 0;
