/**
 * Numbers as Prometheus writes them (ARCHITECTURE.md § "Prometheus query API"):
 * - sample values are JSON strings from Go's `strconv.FormatFloat(v, 'f', -1, 64)`, switching to
 *   `'e'` below 1e-6 and from 1e21 (`"1.5"`, `"NaN"`, `"+Inf"`, `"-Inf"`, `"1e-07"`, `"-0"`);
 * - timestamps are JSON numbers in seconds with the milliseconds as exactly three decimals when
 *   not zero (`1700000000`, `1700000000.500`), as Prometheus's `MarshalTimestamp` writes them;
 * - `count_values` labels use plain `'f'` formatting, never an exponent.
 *
 * JavaScript's shortest round-trip digits are Go's (both pick the shortest string that reads
 * back to the same double, the closest one on ties), and `Number#toString` switches to an
 * exponent at exactly the same two thresholds as Prometheus, so only the exponent's width and
 * the special values need adjusting.
 *
 * @module
 */

/** A sample value as Prometheus's JSON string (without the quotes). */
export function formatValue(v: number): string {
  if (v !== v) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  if (v === 0) return Object.is(v, -0) ? "-0" : "0";
  const s = String(v);
  const e = s.indexOf("e");
  if (e < 0) return s;
  // Go writes at least two exponent digits: 1e-07, 1.5e+21.
  const sign = s[e + 1]!;
  const digits = s.slice(e + 2);
  return s.slice(0, e + 1) + sign + (digits.length < 2 ? "0" + digits : digits);
}

/** Go's `FormatFloat(v, 'f', -1, 64)`: shortest digits, never an exponent. */
export function formatFloatPlain(v: number): string {
  if (v !== v) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  if (v === 0) return Object.is(v, -0) ? "-0" : "0";
  const s = String(v);
  const e = s.indexOf("e");
  if (e < 0) return s;
  const neg = s.startsWith("-");
  const mantissa = s.slice(neg ? 1 : 0, e);
  const exp = Number(s.slice(e + 1));
  const dot = mantissa.indexOf(".");
  const digits = mantissa.replace(".", "");
  // Position of the decimal point after the first digit, moved by the exponent.
  const point = (dot < 0 ? mantissa.length : dot) + exp;
  let out: string;
  if (point <= 0) out = "0." + "0".repeat(-point) + digits;
  else if (point >= digits.length) out = digits + "0".repeat(point - digits.length);
  else out = digits.slice(0, point) + "." + digits.slice(point);
  return (neg ? "-" : "") + out;
}

/** A millisecond timestamp as Prometheus's JSON number text (seconds, three decimals if any). */
export function formatTimestamp(ms: number): string {
  let t = ms;
  let sign = "";
  if (t < 0) {
    sign = "-";
    t = -t;
  }
  const sec = Math.floor(t / 1000);
  const frac = t - sec * 1000;
  if (frac === 0) return sign + sec;
  return sign + sec + "." + String(frac).padStart(3, "0");
}
