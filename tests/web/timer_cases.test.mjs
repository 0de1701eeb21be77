// Every case of tests/cases/timer/*.json against the page's modules, one test each, named
// "<file>:<case>" like the pytest ids (tests/test_web_js.py checks that both sides ran them all).

import { test } from "node:test";

import { caseFiles, runCase } from "./cases.mjs";

for (const [stem, spec] of caseFiles()) {
  for (const c of spec.cases) {
    test(`${stem}:${c.name}`, () => runCase(spec.kind, c));
  }
}
