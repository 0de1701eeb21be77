// The vendored Firebase SDK (focuscli/web/vendor/firebase/<version>/): its auth and database
// modules import the app module by its CDN URL, so the page maps that one URL to our copy with
// an import map; with it, the three files link to one another and nothing is fetched elsewhere.

import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { register } from "node:module";
import { test } from "node:test";
import { pathToFileURL } from "node:url";

const VENDOR = new URL("../../focuscli/web/vendor/firebase/", import.meta.url);
const [VERSION] = readdirSync(VENDOR).filter((name) => /^\d+\.\d+\.\d+$/.test(name));
const DIR = new URL(`${VERSION}/`, VENDOR);
const CDN_APP = `https://www.gstatic.com/firebasejs/${VERSION}/firebase-app.js`;

process.env.FOCUS_IMPORT_MAP = JSON.stringify({ [CDN_APP]: new URL("firebase-app.js", DIR).href });
register("./import_map_hooks.mjs", import.meta.url);

test("one version is vendored, and VERSION names it", () => {
  assert.ok(VERSION);
  assert.equal(readFileSync(new URL("VERSION", DIR), "utf8"), `${VERSION}\n`);
});

test("with the app module's CDN URL mapped, auth and database share our copy of it", async () => {
  const app = await import(new URL("firebase-app.js", DIR).href);
  const auth = await import(new URL("firebase-auth.js", DIR).href);
  const database = await import(new URL("firebase-database.js", DIR).href);
  assert.equal(app.SDK_VERSION, VERSION);
  const page = app.initializeApp(
    { apiKey: "demo-key", projectId: "demo-focus", databaseURL: "http://127.0.0.1:9/?ns=demo-focus" },
    "vendor-test",
  );
  // One app registry: the products find the app this copy of firebase-app.js made.
  assert.equal(auth.getAuth(page).app, page);
  assert.equal(database.getDatabase(page).app, page);
  assert.deepEqual(database.serverTimestamp(), { ".sv": "timestamp" });
  for (const name of ["signInWithEmailAndPassword", "createUserWithEmailAndPassword", "connectAuthEmulator", "onAuthStateChanged"]) {
    assert.equal(typeof auth[name], "function", name);
  }
  for (const name of ["ref", "update", "onValue", "onDisconnect", "connectDatabaseEmulator", "goOffline"]) {
    assert.equal(typeof database[name], "function", name);
  }
  await app.deleteApp(page);
});
