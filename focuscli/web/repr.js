/** Values in error messages as Python's repr() shows them, so the page says what the CLI says. */

// The timer's messages name bad values the way focuscli/timer.py does ({value!r}); these
// functions render a JSON value (plus the SERVER_NOW placeholder) exactly like repr() in Python.
// JSON numbers that are whole are Python ints here: JavaScript cannot tell 25.0 from 25.

// str.isprintable() is false for these categories (the space character excepted).
const UNPRINTABLE = /^[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}\p{Zs}]$/u;

function hex(code, width) {
  return code.toString(16).padStart(width, "0");
}

/** repr() of a Python str. */
export function reprString(text) {
  const quote = text.includes("'") && !text.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of text) {
    const code = ch.codePointAt(0);
    if (ch === quote || ch === "\\") out += "\\" + ch;
    else if (ch === "\t") out += "\\t";
    else if (ch === "\n") out += "\\n";
    else if (ch === "\r") out += "\\r";
    else if (code < 0x20 || code === 0x7f) out += "\\x" + hex(code, 2);
    else if (code < 0x7f) out += ch;
    else if (!UNPRINTABLE.test(ch)) out += ch;
    else if (code <= 0xff) out += "\\x" + hex(code, 2);
    else if (code <= 0xffff) out += "\\u" + hex(code, 4);
    else out += "\\U" + hex(code, 8);
  }
  return out + quote;
}

/** repr() of a Python float that is not whole (shortest round-trip digits, as Python). */
function reprFloat(x) {
  if (Number.isNaN(x)) return "nan";
  if (!Number.isFinite(x)) return x > 0 ? "inf" : "-inf";
  const [mantissa, exp] = x.toExponential().split("e");
  const sign = mantissa.startsWith("-") ? "-" : "";
  const digits = mantissa.replace("-", "").replace(".", "");
  const point = Number(exp) + 1; // the value is 0.<digits> * 10**point
  if (point > -4 && point <= 16) {
    if (point <= 0) return `${sign}0.${"0".repeat(-point)}${digits}`;
    if (point >= digits.length) return `${sign}${digits}${"0".repeat(point - digits.length)}.0`;
    return `${sign}${digits.slice(0, point)}.${digits.slice(point)}`;
  }
  const e = point - 1;
  const body = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
  return `${sign}${body}e${e < 0 ? "-" : "+"}${String(Math.abs(e)).padStart(2, "0")}`;
}

/** repr() of the Python value that a JSON value parses to (`special` names sentinels). */
export function pyRepr(value, special = new Map()) {
  if (special.has(value)) return special.get(value);
  if (value === null || value === undefined) return "None";
  if (value === true) return "True";
  if (value === false) return "False";
  if (typeof value === "number") {
    return Number.isInteger(value) ? BigInt(value).toString() : reprFloat(value);
  }
  if (typeof value === "string") return reprString(value);
  if (Array.isArray(value)) return `[${value.map((v) => pyRepr(v, special)).join(", ")}]`;
  if (typeof value === "object") {
    const items = Object.entries(value).map(([k, v]) => `${reprString(k)}: ${pyRepr(v, special)}`);
    return `{${items.join(", ")}}`;
  }
  return String(value);
}
