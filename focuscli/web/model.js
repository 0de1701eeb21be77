/** The page's state and the events that change it: listeners dispatch, `reduce` decides. */

// The page keeps one frozen model. The SDK's listeners and the user's clicks only dispatch
// events (plain objects with a `type`); `reduce(model, event)` returns the next model, and one
// render draws the screen from it (screen.js). Data from the database stays as it arrived (the
// wire form): it is checked where it is shown, never trusted.

/** Where the page is: `/s/NAME` names a session; `?ns=` the database namespace (focus serve). */
export function route(pathname, search) {
  const match = /^\/s\/([^/]*)\/?$/.exec(pathname);
  const params = new URLSearchParams(search);
  let session = null;
  let problem = "";
  if (match) {
    let name = match[1];
    try {
      name = decodeURIComponent(name);
    } catch {
      name = "";
    }
    if (SESSION_NAME.test(name)) session = name;
    else problem = "This is not a session's address: session names are 1-64 letters, digits, '-' or '_'.";
  }
  return Object.freeze({ session, ns: params.get("ns"), problem });
}

export const SESSION_NAME = /^[A-Za-z0-9_-]{1,64}$/;
export const HISTORY_LENGTH = 8;

/** The model before anything is known. */
export function initialModel(where) {
  return Object.freeze({
    route: where,
    stage: where.problem ? "failed" : "loading", // loading | failed | signed_out | naming | ready
    failure: where.problem, // why the page cannot work (stage "failed")
    user: null, // {uid, name, email}
    meta: undefined, // the session's meta: undefined (not read yet), null (no such session), object
    member: undefined, // undefined (not known yet), true, false
    removed: false, // was a member during this visit, and is no longer (kicked)
    state: null, // sessions/<s>/state as stored (null: never started)
    members: {}, // sessions/<s>/members as stored
    log: {}, // the last HISTORY_LENGTH entries of sessions/<s>/log, by rev
    sessions: null, // the signed-in member's own sessions (users/<uid>/sessions), names
    offset: 0, // the server's clock minus this browser's (.info/serverTimeOffset), ms
    connected: false, // .info/connected
    everConnected: false,
    busy: "", // the action on its way ("pause", "join", "sign in", ...), "" when none
    notice: null, // {text, error} the last thing to tell the user
  });
}

const objectOr = (value, fallback) =>
  typeof value === "object" && value !== null && !Array.isArray(value) ? value : fallback;

/** RTDB shows dense integer keys as an array: the log as {rev: entry} either way. */
function entries(value) {
  if (Array.isArray(value)) {
    const out = {};
    value.forEach((entry, i) => {
      if (entry !== null && entry !== undefined) out[String(i)] = entry;
    });
    return out;
  }
  return objectOr(value, {});
}

function sessionData(model) {
  return { meta: undefined, member: undefined, state: null, members: {}, log: {}, removed: false };
}

/** The next model after `event`. Unknown events change nothing. */
export function reduce(model, event) {
  const next = { ...model };
  switch (event.type) {
    case "failed":
      Object.assign(next, { stage: "failed", failure: event.text, busy: "" });
      break;
    case "user": {
      const user = event.user;
      if (!user) {
        Object.assign(next, sessionData(model), { stage: "signed_out", user: null, sessions: null });
      } else {
        const same = model.user !== null && model.user.uid === user.uid;
        Object.assign(next, same ? {} : sessionData(model), {
          user: Object.freeze({ uid: user.uid, name: user.name || "", email: user.email || "" }),
          stage: user.name ? "ready" : "naming",
        });
        if (!same) next.sessions = null;
      }
      break;
    }
    case "meta":
      next.meta = objectOr(event.value, null);
      if (next.meta === null) Object.assign(next, { member: false, state: null, members: {}, log: {} });
      break;
    case "members": {
      next.members = objectOr(event.value, {});
      const isMember = model.user !== null && Object.hasOwn(next.members, model.user.uid);
      if (model.member === true && !isMember) next.removed = true;
      next.member = isMember;
      if (isMember) next.removed = false;
      break;
    }
    case "refused": // the session's data may not be read: not (or no longer) a member
      if (model.member === true) next.removed = true;
      Object.assign(next, { member: false, state: null, members: {}, log: {} });
      break;
    case "state":
      next.state = event.value ?? null;
      break;
    case "log":
      next.log = entries(event.value);
      break;
    case "sessions":
      next.sessions = Object.freeze(Object.keys(objectOr(event.value, {})).sort());
      break;
    case "offset":
      next.offset = Number.isFinite(event.ms) ? event.ms : 0;
      break;
    case "connected":
      next.connected = event.value === true;
      if (next.connected) next.everConnected = true;
      break;
    case "busy":
      next.busy = event.what || "";
      break;
    case "notice":
      next.notice = event.text ? Object.freeze({ text: String(event.text), error: Boolean(event.error) }) : null;
      break;
    default:
      return model;
  }
  return Object.freeze(next);
}
