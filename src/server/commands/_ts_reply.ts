/**
 * The point lists of TS.RANGE/TS.MRANGE replies, encoded in one pass: `[ts, "value"]` pairs
 * (an array of two: an integer and a simple string, the same bytes in RESP2 and RESP3).
 *
 * A TS.MRANGE of 100 series × 1 h answers ~360,000 points (~10 MB). Through the generic writer
 * each point cost five calls, three number-to-string conversions and three string-to-bytes
 * copies; here a point is written straight into a scratch buffer (timestamps share their high
 * digits with the previous point's, which are kept as bytes), and the buffer goes to the reply
 * a block at a time.
 *
 * @module
 */

import type { RespWriter } from "../resp.ts";
import { formatValue } from "./_ts_args.ts";

/** Block size; a block goes to the reply when less than `POINT_BYTES_MAX` is left. */
const SCRATCH_BYTES = 128 * 1024;
/**
 * `*2\r\n` (4) + `:`, at most 16 digits of a timestamp below 2^53 and `\r\n` (19) + `+`, a
 * value of at most 24 characters (`-2.2250738585072014E-308`) and `\r\n` (27), with room.
 */
const POINT_BYTES_MAX = 64;
/** The low digits of a timestamp written digit by digit; the rest is cached. */
const LOW_DIVISOR = 1e6;

/** Values below this with at most three decimals are printed without `formatValue`. */
const DECIMAL_FAST_MAX = 1e9;

const scratch = new Uint8Array(SCRATCH_BYTES);
const highDigits = new Uint8Array(24);

/**
 * The two ASCII digits of 0 … 99 as one little-endian 16-bit pair each: numbers are written
 * two digits per division.
 */
const PAIRS = new Uint8Array(200);
for (let i = 0; i < 100; i++) {
  PAIRS[2 * i] = 48 + Math.floor(i / 10);
  PAIRS[2 * i + 1] = 48 + (i % 10);
}

/** Writes an array reply of `n` points `[ts[i], formatValue(values[i])]`. */
export function writeSamples(
  out: RespWriter,
  ts: ArrayLike<number>,
  values: ArrayLike<number>,
  n: number,
): void {
  out.array(n);
  // The first block is encoded in the shared scratch buffer and copied into the reply; later
  // ones in fresh buffers the reply references (`encoded`), so a reply of megabytes is not
  // copied again and again into the writer's doubling buffer.
  let buf = scratch;
  // The cached high part of the timestamps (`Math.floor(ts / LOW_DIVISOR)`) and its digits.
  let high = -1;
  let highLen = 0;
  let p = 0;
  for (let i = 0; i < n; i++) {
    if (p > SCRATCH_BYTES - POINT_BYTES_MAX) {
      flush(out, buf, p);
      buf = new Uint8Array(SCRATCH_BYTES);
      p = 0;
    }
    buf[p] = 42; // *
    buf[p + 1] = 50; // 2
    buf[p + 2] = 13;
    buf[p + 3] = 10;
    buf[p + 4] = 58; // :
    p += 5;
    const t = ts[i]!;
    if (t >= LOW_DIVISOR && t <= Number.MAX_SAFE_INTEGER && Number.isInteger(t)) {
      const h = Math.floor(t / LOW_DIVISOR);
      if (h !== high) {
        high = h;
        const s = String(h);
        highLen = s.length;
        for (let k = 0; k < highLen; k++) highDigits[k] = s.charCodeAt(k);
      }
      for (let k = 0; k < highLen; k++) buf[p + k] = highDigits[k]!;
      p += highLen;
      // The six low digits, zero-padded, two at a time (small integers: V8 keeps them out of
      // floating point).
      const low = (t - h * LOW_DIVISOR) | 0;
      const a = (low / 10000) | 0;
      const rest = low - a * 10000;
      const b = (rest / 100) | 0;
      const c = rest - b * 100;
      buf[p] = PAIRS[2 * a]!;
      buf[p + 1] = PAIRS[2 * a + 1]!;
      buf[p + 2] = PAIRS[2 * b]!;
      buf[p + 3] = PAIRS[2 * b + 1]!;
      buf[p + 4] = PAIRS[2 * c]!;
      buf[p + 5] = PAIRS[2 * c + 1]!;
      p += 6;
    } else {
      const s = String(t);
      for (let k = 0; k < s.length; k++) buf[p + k] = s.charCodeAt(k);
      p += s.length;
    }
    buf[p] = 13;
    buf[p + 1] = 10;
    buf[p + 2] = 43; // +
    p += 3;
    const v = values[i]!;
    const a = v < 0 ? -v : v;
    const q = Math.round(a * 1000);
    if (a >= 1 && a < DECIMAL_FAST_MAX && q / 1000 === a) {
      // A reading with at most three decimals: its shortest round-trip digits are that decimal
      // (a different one as short would lie at least 0.001 away, far outside the value's
      // rounding interval below 1e9), which formatValue prints plainly for |v| ≥ 1.
      if (v < 0) buf[p++] = 45; // -
      const int = (q / 1000) | 0;
      let frac = q - int * 1000;
      p = writeUint(buf, p, int);
      if (frac !== 0) {
        buf[p++] = 46; // .
        // Three digits, then the trailing zeros dropped.
        const d0 = (frac / 100) | 0;
        frac -= d0 * 100;
        buf[p] = 48 + d0;
        buf[p + 1] = PAIRS[2 * frac]!;
        buf[p + 2] = PAIRS[2 * frac + 1]!;
        p += buf[p + 2] !== 48 ? 3 : buf[p + 1] !== 48 ? 2 : 1;
      }
    } else {
      const text = formatValue(v);
      for (let k = 0; k < text.length; k++) buf[p + k] = text.charCodeAt(k);
      p += text.length;
    }
    buf[p] = 13;
    buf[p + 1] = 10;
    p += 2;
  }
  if (p > 0) flush(out, buf, p);
}

/** Appends `buf[0, p)` to the reply: copied from the shared scratch, else referenced. */
function flush(out: RespWriter, buf: Uint8Array, p: number): void {
  if (buf === scratch) out.raw(buf.subarray(0, p));
  else out.encoded(buf.subarray(0, p));
}

/** Writes the digits of `n` (a non-negative int32) at `p`; returns the end. */
function writeUint(buf: Uint8Array, p: number, n: number): number {
  if (n < 10) {
    buf[p] = 48 + n;
    return p + 1;
  }
  if (n < 100) {
    buf[p] = PAIRS[2 * n]!;
    buf[p + 1] = PAIRS[2 * n + 1]!;
    return p + 2;
  }
  let digits = 3;
  for (let x = (n / 1000) | 0; x > 0; x = (x / 10) | 0) digits++;
  let k = p + digits;
  while (n >= 100) {
    const r = n % 100;
    n = (n / 100) | 0;
    buf[k - 2] = PAIRS[2 * r]!;
    buf[k - 1] = PAIRS[2 * r + 1]!;
    k -= 2;
  }
  if (n >= 10) {
    buf[k - 2] = PAIRS[2 * n]!;
    buf[k - 1] = PAIRS[2 * n + 1]!;
  } else buf[k - 1] = 48 + n;
  return p + digits;
}
