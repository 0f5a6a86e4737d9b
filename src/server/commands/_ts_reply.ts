/**
 * The point lists of TS.RANGE/TS.MRANGE replies, encoded in one pass: `[ts, "value"]` pairs
 * (an array of two: an integer and a simple string, the same bytes in RESP2 and RESP3).
 *
 * A TS.MRANGE of 100 series × 1 h answers ~360,000 points (~10 MB). Through the generic writer
 * each point cost five calls, three number-to-string conversions and three string-to-bytes
 * copies; here a point is written straight into a scratch buffer, and the buffer goes to the
 * reply a block at a time. The common point (a 13-digit timestamp, a reading with at most three
 * decimals) is stored a word at a time from digit tables, six stores in all: the prefix and the
 * timestamp's top seven digits (shared by ~1,000 s of points) as a cached 8-byte pattern and
 * word, its low six digits as a four-digit word and a two-digit pattern that ends `\r\n+`, the
 * reading's integer part as a word and its `.ddd\r\n` as a pattern; anything else goes through
 * `formatValue`, which defines the bytes.
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
/** A timestamp is written as its digits above 10^6, then its six low digits zero-padded. */
const LOW_DIVISOR = 1e6;

/** Values below this with at most three decimals are printed without `formatValue`. */
const DECIMAL_FAST_MAX = 1e9;

/**
 * Timestamps from 10^12 to 10^13 − 1 ms (2001-09-09 to 2286-11-20: every current clock) have 13
 * digits: the point's prefix `*2\r\n:` and their top seven digits are three cached words.
 */
const TS13_MIN = 1e12;
const TS13_END = 1e13;

// Bytes are stored a word at a time through a DataView (little-endian: the first byte is the
// word's low byte). A word may run past the point's end: the next store overwrites the rest, and
// a block is flushed only up to its end.
/** `*2\r\n`. */
const STAR2 = 0x0a0d322a;
/** `\r\n+` (and one byte the value overwrites). */
const CRLF_PLUS = 0x2b0a0d;
/** `\r\n`. */
const CRLF16 = 0x0a0d;

const scratch = new Uint8Array(SCRATCH_BYTES);
const scratchView = new DataView(scratch.buffer);

/**
 * The two ASCII digits of 0 … 99 as one little-endian 16-bit pair each: numbers are written
 * two digits per division.
 */
const PAIRS = new Uint8Array(200);
for (let i = 0; i < 100; i++) {
  PAIRS[2 * i] = 48 + Math.floor(i / 10);
  PAIRS[2 * i + 1] = 48 + (i % 10);
}
/** The digits of 0 … 9999, zero-padded to four, as one 32-bit word to store. */
const QUAD = new Uint32Array(10_000);
for (let i = 0; i < 10_000; i++) {
  const a = Math.floor(i / 100);
  const b = i % 100;
  QUAD[i] = (PAIRS[2 * a]! | (PAIRS[2 * a + 1]! << 8) | (PAIRS[2 * b]! << 16) |
    (PAIRS[2 * b + 1]! << 24)) >>> 0;
}

/**
 * 8-byte patterns stored as one float64 (little-endian): a NaN, whose bits V8 may change, has
 * 0x7F or 0xFF as its most significant byte (the pattern's last), which printable ASCII never
 * is, so every pattern's bits are stored as they are. `FILL` pads a pattern; the next store
 * overwrites the padding.
 */
const FILL = 48;
const patternBytes = new Uint8Array(8);
const patternView = new DataView(patternBytes.buffer);
/** `text` (at most 8 ASCII characters), padded with `FILL`, as the float64 of its bytes. */
function pattern(text: string): number {
  patternBytes.fill(FILL);
  for (let k = 0; k < text.length; k++) patternBytes[k] = text.charCodeAt(k);
  return patternView.getFloat64(0, true);
}
/** The two low digits of a timestamp, zero-padded, then `\r\n+`: 5 bytes of a pattern. */
const LOW2_TAIL = new Float64Array(100);
for (let i = 0; i < 100; i++) LOW2_TAIL[i] = pattern(String(i).padStart(2, "0") + "\r\n+");
/** The digits of 0 … 9999 (not padded) as one 32-bit word, and how many (`INT_LEN`). */
const INT_WORD = new Uint32Array(10_000);
const INT_LEN = new Uint8Array(10_000);
/**
 * A reading's three decimals `ddd` (0 … 999) as `.ddd` with trailing zeros dropped (nothing for
 * 0), then `\r\n`: a pattern of 2 to 6 bytes (`FRAC_TAIL_LEN`).
 */
const FRAC_TAIL = new Float64Array(1000);
const FRAC_TAIL_LEN = new Uint8Array(1000);
{
  for (let i = 0; i < 10_000; i++) {
    const text = String(i);
    let word = 0;
    for (let k = 0; k < 4; k++) word |= (k < text.length ? text.charCodeAt(k) : FILL) << (8 * k);
    INT_WORD[i] = word >>> 0;
    INT_LEN[i] = text.length;
  }
  for (let i = 0; i < 1000; i++) {
    let digits = String(i).padStart(3, "0");
    while (digits.endsWith("0")) digits = digits.slice(0, -1);
    const text = (digits === "" ? "" : "." + digits) + "\r\n";
    FRAC_TAIL[i] = pattern(text);
    FRAC_TAIL_LEN[i] = text.length;
  }
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
  let view = scratchView;
  // The top seven digits of 13-digit timestamps (`Math.floor(ts / 1e6)`), with the point's
  // prefix, as the pattern `*2\r\n:ddd` and the word `dddd`, and the first timestamp they hold
  // (`high * 1e6`; −Infinity: none yet): a point whose timestamp lies within 10^6 ms of it
  // skips the division.
  let highBase = -Infinity;
  let highPrefix = 0;
  let highWord = 0;
  let p = 0;
  for (let i = 0; i < n;) {
    if (p > SCRATCH_BYTES - POINT_BYTES_MAX) {
      flush(out, buf, p);
      buf = new Uint8Array(SCRATCH_BYTES);
      view = new DataView(buf.buffer);
      p = 0;
    }
    // Points that surely fit in the block, written without checking.
    const stop = Math.min(n, i + Math.floor((SCRATCH_BYTES - p) / POINT_BYTES_MAX));
    for (; i < stop; i++) {
      const t = ts[i]!;
      if (t >= TS13_MIN && t < TS13_END && Number.isInteger(t)) {
        let low = t - highBase;
        if (!(low >= 0 && low < LOW_DIVISOR)) {
          const h = Math.floor(t / LOW_DIVISOR);
          highBase = h * LOW_DIVISOR;
          low = t - highBase;
          const top = Math.floor(h / 10_000); // 100 … 999
          highPrefix = pattern("*2\r\n:" + String(top));
          highWord = QUAD[h - top * 10_000]!;
        }
        view.setFloat64(p, highPrefix, true);
        view.setUint32(p + 8, highWord, true);
        // The six low digits: four and two (small integers: V8 keeps them out of floating
        // point), the two with `\r\n+`.
        low = low | 0;
        const q4 = (low / 100) | 0;
        view.setUint32(p + 12, QUAD[q4]!, true);
        view.setFloat64(p + 16, LOW2_TAIL[low - q4 * 100]!, true);
        p += 21;
      } else {
        view.setUint32(p, STAR2, true);
        buf[p + 4] = 58; // :
        p = writeTimestamp(buf, p + 5, t);
        view.setUint32(p, CRLF_PLUS, true);
        p += 3;
      }
      const v = values[i]!;
      const a = v < 0 ? -v : v;
      const q = Math.round(a * 1000);
      if (a >= 1 && a < DECIMAL_FAST_MAX && q / 1000 === a) {
        // A reading with at most three decimals: its shortest round-trip digits are that
        // decimal (a different one as short would lie at least 0.001 away, far outside the
        // value's rounding interval below 1e9), which formatValue prints plainly for |v| ≥ 1.
        if (v < 0) buf[p++] = 45; // -
        // a = q / 1000 exactly, below 1e9 < 2^31: its integer part is `a | 0` (no division).
        const int = a | 0;
        const frac = q - int * 1000;
        if (int < 10_000) {
          view.setUint32(p, INT_WORD[int]!, true);
          p += INT_LEN[int]!;
        } else if (int < 100_000_000) {
          // A counter: its digits above the low four, then those four zero-padded.
          const top = (int / 10_000) | 0;
          view.setUint32(p, INT_WORD[top]!, true);
          p += INT_LEN[top]!;
          view.setUint32(p, QUAD[int - top * 10_000]!, true);
          p += 4;
        } else p = writeUint(buf, p, int);
        view.setFloat64(p, FRAC_TAIL[frac]!, true);
        p += FRAC_TAIL_LEN[frac]!;
        continue;
      }
      if (v === 0 && 1 / v > 0) {
        buf[p++] = 48; // 0 (an on/off state; -0 prints "-0")
      } else {
        const text = formatValue(v);
        for (let k = 0; k < text.length; k++) buf[p + k] = text.charCodeAt(k);
        p += text.length;
      }
      view.setUint16(p, CRLF16, true);
      p += 2;
    }
  }
  if (p > 0) flush(out, buf, p);
}

/** Writes the digits of timestamp `t` at `p`; returns the end. */
function writeTimestamp(buf: Uint8Array, p: number, t: number): number {
  if (t >= LOW_DIVISOR && t <= Number.MAX_SAFE_INTEGER && Number.isInteger(t)) {
    // The digits above the low six, then those six zero-padded.
    const h = Math.floor(t / LOW_DIVISOR);
    const s = String(h);
    for (let k = 0; k < s.length; k++) buf[p + k] = s.charCodeAt(k);
    p += s.length;
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
    return p + 6;
  }
  const s = String(t);
  for (let k = 0; k < s.length; k++) buf[p + k] = s.charCodeAt(k);
  return p + s.length;
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
