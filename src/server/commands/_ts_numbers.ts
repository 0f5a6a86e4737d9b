/**
 * The numbers of the TS.* commands, parsed as RedisTimeSeries 1.8 parses them: timestamps
 * (strict 64-bit integers, `*`), sample values and doubles. Fast paths read plain digits in
 * place, without a string (TS.MADD parses its packed arguments here).
 * ARCHITECTURE.md § "Time-series commands".
 *
 * @module
 */

const latin1 = new TextDecoder("latin1");

/** Parses a strict 64-bit integer like Redis's `string2ll`; undefined when it is not one. */
export function parseLong(arg: Uint8Array): number | undefined {
  return parseLongAt(arg, 0, arg.length);
}

/** `parseLong` of `buf[from, to)` (TS.MADD parses its packed arguments in place). */
export function parseLongAt(buf: Uint8Array, from: number, to: number): number | undefined {
  const n = to - from;
  const first = buf[from];
  // Fastest path, every millisecond timestamp: 1 to 15 digits, no sign, no leading zero, read
  // as two int32 halves (the last 8 digits and those before) instead of one double chain.
  if (n > 0 && n <= 15 && first! >= 49 && first! <= 57) {
    const mid = n > 8 ? to - 8 : from;
    let hi = 0;
    let i = from;
    for (; i < mid; i++) {
      const d = buf[i]! - 48;
      if (d < 0 || d > 9) break;
      hi = hi * 10 + d;
    }
    let lo = 0;
    if (i === mid) {
      for (; i < to; i++) {
        const d = buf[i]! - 48;
        if (d < 0 || d > 9) break;
        lo = lo * 10 + d;
      }
    }
    if (i === to) return hi * 1e8 + lo;
  }
  // Fast path: up to 15 digits without a leading zero, signed.
  if (n > 0 && n <= 15 && first !== 48) {
    let v = 0;
    let i = first === 45 ? from + 1 : from;
    if (i < to && buf[i] !== 48) {
      for (; i < to; i++) {
        const c = buf[i]!;
        if (c < 48 || c > 57) break;
        v = v * 10 + (c - 48);
      }
      if (i === to && (first !== 45 || n > 1)) return first === 45 ? -v : v;
    }
  }
  const s = latin1.decode(buf.subarray(from, to));
  if (!/^-?(0|[1-9][0-9]{0,18})$/.test(s)) return undefined;
  const v = Number(s);
  if (!Number.isSafeInteger(v)) {
    // Beyond 2^53: still an integer for Redis, but not a timestamp CityHall can hold exactly.
    return BigInt(s) > 2n ** 63n - 1n || BigInt(s) < -(2n ** 63n) ? undefined : NaN;
  }
  return v;
}

/** A timestamp ≥ 0 (safe integer), or undefined. */
export function parseTimestamp(arg: Uint8Array): number | undefined {
  const v = parseLong(arg);
  return v === undefined || Number.isNaN(v) || v < 0 ? undefined : v;
}

const STAR = 42;
const POW10 = [1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15];

/** A sample value as RedisTimeSeries's parser takes it (finite JSON-style number), or undefined. */
export function parseValue(arg: Uint8Array): number | undefined {
  return parseValueAt(arg, 0, arg.length);
}

/** `parseValue` of `buf[from, to)`. */
export function parseValueAt(buf: Uint8Array, from: number, to: number): number | undefined {
  const n = to - from;
  if (n <= 0 || n > 512) return undefined;
  // Fast path: plain decimals (most sensor readings) without a regular expression.
  let i = from;
  let neg = false;
  if (buf[from] === 45) {
    neg = true;
    i++;
  }
  let int = 0;
  let digits = 0;
  for (; i < to; i++) {
    const c = buf[i]!;
    if (c < 48 || c > 57) break;
    int = int * 10 + (c - 48);
    digits++;
  }
  if (i === to && digits > 0 && digits <= 15) return neg ? -int : int;
  if (i < to && buf[i] === 46 && digits > 0) {
    // d.ddd with at most 15 digits: the digits as an integer divided by an exact power of
    // ten is correctly rounded (both operands exact), i.e. what Number() gives.
    let frac = 0;
    for (i++; i < to; i++) {
      const c = buf[i]!;
      if (c < 48 || c > 57) break;
      int = int * 10 + (c - 48);
      digits++;
      frac++;
    }
    if (i === to && frac > 0 && digits <= 15) {
      const v = int / POW10[frac]!;
      return neg ? -v : v;
    }
  }
  const s = latin1.decode(buf.subarray(from, to));
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(s)) return undefined;
  const v = Number(s);
  return Number.isFinite(v) ? v : undefined;
}

/** `timestampInto`: parsed. */
export const TS_OK = 0;
/** `timestampInto`: not an integer RedisTimeSeries takes. */
export const TS_INVALID = 1;
/** `timestampInto`: an integer below 0. */
export const TS_NEGATIVE = 2;

/**
 * Parses the timestamp `bytes[from, to)` into `ts[i]` (−1 for `*`); `TS_OK`, `TS_INVALID` or
 * `TS_NEGATIVE`. The result goes into the array and the status is a small integer: a double
 * returned from a call that is not inlined is a heap number, one per sample (`parseLongAt`
 * answers what the fast path leaves).
 */
export function timestampInto(
  bytes: Uint8Array,
  from: number,
  to: number,
  ts: Float64Array,
  i: number,
): number {
  const n = to - from;
  const first = bytes[from]!;
  if (n === 1 && first === STAR) {
    ts[i] = -1;
    return TS_OK;
  }
  // 1 to 15 digits, no sign, no leading zero: two int32 halves (the last 8 digits and before).
  if (n > 0 && n <= 15 && first >= 49 && first <= 57) {
    const mid = n > 8 ? to - 8 : from;
    let hi = 0;
    let j = from;
    for (; j < mid; j++) {
      const d = bytes[j]! - 48;
      if (d < 0 || d > 9) break;
      hi = hi * 10 + d;
    }
    let lo = 0;
    if (j === mid) {
      for (; j < to; j++) {
        const d = bytes[j]! - 48;
        if (d < 0 || d > 9) break;
        lo = lo * 10 + d;
      }
    }
    if (j === to) {
      ts[i] = hi * 1e8 + lo;
      return TS_OK;
    }
  }
  const t = parseLongAt(bytes, from, to);
  if (t === undefined || Number.isNaN(t)) return TS_INVALID;
  if (t < 0) return TS_NEGATIVE;
  ts[i] = t;
  return TS_OK;
}

/**
 * Parses the value `bytes[from, to)` into `values[i]`; false when it is not one. Plain
 * decimals of up to 15 digits here (`parseValueAt` for the rest), into the array for the same
 * reason as `timestampInto`.
 */
export function valueInto(
  bytes: Uint8Array,
  from: number,
  to: number,
  values: Float64Array,
  i: number,
): boolean {
  let j = from;
  const neg = bytes[j] === 45;
  if (neg) j++;
  let int = 0;
  let digits = 0;
  for (; j < to; j++) {
    const d = bytes[j]! - 48;
    if (d < 0 || d > 9) break;
    int = int * 10 + d;
    digits++;
  }
  let frac = 0;
  if (j < to && bytes[j] === 46 && digits > 0) {
    for (j++; j < to; j++) {
      const d = bytes[j]! - 48;
      if (d < 0 || d > 9) break;
      int = int * 10 + d;
      digits++;
      frac++;
    }
    if (frac === 0) j = -1; // "12." goes the general way
  }
  if (j === to && digits > 0 && digits <= 15) {
    // Both operands exact: correctly rounded, i.e. what Number() gives.
    const v = frac === 0 ? int : int / POW10[frac]!;
    values[i] = neg ? -v : v;
    return true;
  }
  const v = parseValueAt(bytes, from, to);
  if (v === undefined) return false;
  values[i] = v;
  return true;
}

/** A double argument as Redis's `RedisModule_StringToDouble` takes it (allows inf). */
export function parseDouble(arg: Uint8Array): number | undefined {
  const s = latin1.decode(arg).toLowerCase();
  if (/^[+-]?(inf|infinity)$/.test(s)) return s.startsWith("-") ? -Infinity : Infinity;
  if (!/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/.test(s)) return undefined;
  const v = Number(s);
  return Number.isNaN(v) ? undefined : v;
}
