// A client the onDisconnect tests kill: registers its presence, says "ready", waits for SIGKILL.
import { goOffline, onDisconnect, ref, serverTimestamp, set } from 'firebase/database';
import { client, within } from './helpers.mjs';

const [ns, url] = process.argv.slice(2);
const db = client(ns, { url });
await within(onDisconnect(ref(db, 'presence/child')).set({ state: 'offline', at: serverTimestamp() }), 'onDisconnect');
await within(set(ref(db, 'presence/child'), { state: 'online' }), 'set');
process.stdout.write('ready\n');
setInterval(() => {}, 1000);
void goOffline;
