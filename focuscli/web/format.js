/** The words and clock text the page shows for a view: time left, the tab title, the line after an action. */

// actionLine is focuscli/render.py's action_line (tests/cases/timer/action_line.json holds both
// to it), so the page and `focus pause` report an action in the same words.

import { formatDuration } from "./timer.js";

export const PHASE_NAMES = Object.freeze({ focus: "focus", short_break: "short break", long_break: "long break" });

const phaseName = (phase) => (Object.hasOwn(PHASE_NAMES, phase) ? PHASE_NAMES[phase] : phase);

/** The time left as a clock: "24:59", "1:05:09" (rounded up: never "0:00" while time remains). */
export function timeLeft(view) {
  return formatDuration(view.remaining_ms);
}

/** The browser tab's title: the time left first, so it reads in a narrow tab. */
export function tabTitle(view, session) {
  const phase = phaseName(view.phase);
  if (view.status === "running") return `${timeLeft(view)} ${phase} · ${session}`;
  if (view.status === "paused") return `${timeLeft(view)} paused · ${session}`;
  if (view.status === "done") return `${phase} done · ${session}`;
  return `${session} · focus`;
}

/** What an action did, in the words `focus pause` prints ("team: paused focus with 12:00 left"). */
export function actionLine(session, view) {
  const phase = phaseName(view.phase);
  const clock = formatDuration;
  const verbs = {
    start: `started ${phase} (${clock(view.duration_ms)})`,
    pause: `paused ${phase} with ${clock(view.remaining_ms)} left`,
    resume: `resumed ${phase}, ${clock(view.remaining_ms)} left`,
    stop: "stopped the timer",
    skip: `skipped to ${phase} (${clock(view.duration_ms)})`,
    extend: `extended ${phase} to ${clock(view.duration_ms)}, ${clock(view.remaining_ms)} left`,
    settings: "updated the cycle settings",
    reset: "reset the timer (stopped, round 1)",
  };
  const action = view.action || "";
  return `${session}: ${Object.hasOwn(verbs, action) ? verbs[action] : view.action || "done"}`;
}
