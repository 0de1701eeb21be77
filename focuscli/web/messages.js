/** The page's words for what went wrong: the SDK's error codes, in one table. */

// Firebase Auth reports failures as `auth/...` codes (firebase-js-sdk packages/auth/src/api/
// errors.ts maps the server's strings to them); the page shows its own sentence for each, in
// its status region, never an alert. With email enumeration protection a wrong password and an
// unknown email both arrive as auth/invalid-credential.

const AUTH = {
  "auth/invalid-credential": "Wrong email or password.",
  "auth/invalid-login-credentials": "Wrong email or password.",
  "auth/wrong-password": "Wrong email or password.",
  "auth/user-not-found": "No account has this email; check it, or create an account.",
  "auth/invalid-email": "That is not an email address (like ana@example.com).",
  "auth/missing-email": "Enter your email address.",
  "auth/missing-password": "Enter your password.",
  "auth/weak-password": "That password is too weak: use at least 6 characters.",
  "auth/email-already-in-use": "An account with this email exists already; sign in instead.",
  "auth/user-disabled": "This account is disabled; ask whoever runs your team's project.",
  "auth/too-many-requests": "Too many attempts; wait a minute, then try again.",
  "auth/network-request-failed": "Cannot reach the sign-in service; check the connection and try again.",
  "auth/operation-not-allowed": "Email and password sign-in is not enabled for this project.",
  "auth/user-token-expired": "Your sign-in has expired; sign in again.",
};

/** One sentence for an error from the sign-in calls. */
export function authMessage(err) {
  const code = err && typeof err.code === "string" ? err.code : "";
  if (Object.hasOwn(AUTH, code)) return AUTH[code];
  return `Sign-in failed: ${code || (err && err.message) || "unknown error"}.`;
}

/** A display name teammates will see, as focuscli/account.py check_name: 1-64 printable
 * characters. Returns [name, ""] or ["", the problem]. */
export function checkName(text) {
  const name = String(text ?? "").trim();
  if (name.length < 1 || name.length > 64 || /[\u0000-\u001f\u007f-\u009f]/.test(name)) {
    return ["", "Enter a name of 1 to 64 printable characters (your teammates see it)."];
  }
  return [name, ""];
}
