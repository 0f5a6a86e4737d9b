/**
 * The x87 80-bit `long double` that Redis's INCRBYFLOAT and HINCRBYFLOAT compute in: a 64-bit
 * significand, exponents down to subnormals at 2^-16445 and overflow at 2^16384. Redis parses
 * both operands with strtold, adds them once, and prints the sum with `%.17Lf` with trailing
 * zeros removed, so `SET k 0.1` then `INCRBYFLOAT k 0.2` answers `0.3` where a double answers
 * `0.30000000000000004`, and `SET k 3000` then `INCRBYFLOAT k 1.1` answers
 * `3001.10000000000000009`. Those replies are what clients see and store, so CityHall computes
 * the same way, exactly, with BigInt: parsing and printing round once, half to even, from the
 * exact value, as glibc's strtold and printf do. No library does 80-bit floats in JavaScript.
 *
 * @module
 */

/** A finite long double: (-1)^neg * m * 2^e, with m < 2^64. */
export interface LongDouble {
  neg: boolean;
  m: bigint;
  e: number;
}

/** Zero: the value of a missing key or field. */
export const LONG_DOUBLE_ZERO: LongDouble = Object.freeze({ neg: false, m: 0n, e: 0 });

const PRECISION = 64;
/** Exponent of the least significant bit of the smallest subnormal. */
const QUANTUM_MIN = -16445;
/** A top bit at or past this position is infinity. */
const OVERFLOW_TOP = 16384;
/** strtold's buffer in Redis's string2ld: longer strings are not a float. */
const TEXT_BYTES_MAX = 5 * 1024 - 1;

/** Rounding overflowed (infinity) or a nonzero value rounded to zero: strtold's ERANGE. */
const RANGE = Symbol("range");

function bitLength(v: bigint): number {
  return v === 0n ? 0 : v.toString(2).length;
}

/** `m * 2^e` (m >= 0, plus `sticky` below its last bit) rounded to a long double. */
function round(neg: boolean, m: bigint, e: number, sticky: boolean): LongDouble | typeof RANGE {
  if (m === 0n) return sticky ? RANGE : { neg, m: 0n, e: 0 };
  const top = e + bitLength(m) - 1;
  if (top >= OVERFLOW_TOP) return RANGE;
  const quantum = Math.max(top - (PRECISION - 1), QUANTUM_MIN);
  const shift = quantum - e;
  if (shift > 0) {
    const s = BigInt(shift);
    const low = m & ((1n << s) - 1n);
    const half = 1n << (s - 1n);
    m >>= s;
    if (low > half || (low === half && (sticky || (m & 1n) === 1n))) m += 1n;
    e = quantum;
    if (m === 0n) return RANGE;
    if (m === 1n << BigInt(PRECISION)) {
      m >>= 1n;
      e++;
    }
    if (e + bitLength(m) - 1 >= OVERFLOW_TOP) return RANGE;
  }
  return { neg, m, e };
}

const DECIMAL = /^([+-]?)(\d*)(?:\.(\d*))?(?:e([+-]?\d+))?$/i;
const HEX = /^([+-]?)0x([0-9a-f]*)(?:\.([0-9a-f]*))?(?:p([+-]?\d+))?$/i;

/**
 * Parses `text` as Redis's string2ld does: strtold over the whole string, no leading space, no
 * NaN, no overflow to infinity, no underflow to zero. `inf`/`infinity` are `Infinity`.
 */
export function parseLongDouble(text: string): LongDouble | number | undefined {
  if (text.length === 0 || text.length > TEXT_BYTES_MAX) return undefined;
  const lower = text.toLowerCase();
  if (/^[+-]?inf(inity)?$/.test(lower)) return lower.startsWith("-") ? -Infinity : Infinity;
  const hex = HEX.exec(lower);
  const m = hex ?? DECIMAL.exec(lower);
  if (m === null) return undefined;
  const int = m[2]!;
  const frac = m[3] ?? "";
  if (int.length + frac.length === 0) return undefined;
  const neg = m[1] === "-";
  // An exponent too large for a Number only has to stay far past either end of the range.
  const expText = m[4] === undefined ? 0 : Number(m[4]);
  const exp = Math.max(-1e6, Math.min(1e6, expText));
  let r: LongDouble | typeof RANGE;
  if (hex !== null) {
    r = round(neg, BigInt("0x0" + int + frac), exp - 4 * frac.length, false);
  } else {
    const digits = BigInt((int + frac) || "0");
    const e10 = exp - frac.length;
    if (digits === 0n) return { neg, m: 0n, e: 0 };
    const magnitude = (int + frac).replace(/^0+/, "").length + e10;
    if (magnitude > 4940) return undefined;
    if (magnitude < -4960) return undefined;
    if (e10 >= 0) r = round(neg, digits * 10n ** BigInt(e10), 0, false);
    else {
      const den = 10n ** BigInt(-e10);
      const s = Math.max(0, PRECISION + 2 + bitLength(den) - bitLength(digits)) + 1;
      const num = digits << BigInt(s);
      r = round(neg, num / den, -s, num % den !== 0n);
    }
  }
  return r === RANGE ? undefined : r;
}

/**
 * `text` (bytes read as Latin-1: anything else fails the syntax) as {@link parseLongDouble}.
 */
export function parseLongDoubleBytes(bytes: Uint8Array): LongDouble | number | undefined {
  if (bytes.length === 0 || bytes.length > TEXT_BYTES_MAX) return undefined;
  return parseLongDouble(String.fromCharCode(...bytes));
}

/** `a + b` rounded once; `undefined` when the sum overflows. */
export function addLongDouble(a: LongDouble, b: LongDouble): LongDouble | undefined {
  if (a.m === 0n) return b.m === 0n ? { neg: a.neg && b.neg, m: 0n, e: 0 } : b;
  if (b.m === 0n) return a;
  const e = Math.min(a.e, b.e);
  const sa = (a.neg ? -a.m : a.m) << BigInt(a.e - e);
  const sb = (b.neg ? -b.m : b.m) << BigInt(b.e - e);
  const sum = sa + sb;
  if (sum === 0n) return { neg: false, m: 0n, e: 0 };
  const r = round(sum < 0n, sum < 0n ? -sum : sum, e, false);
  return r === RANGE ? undefined : r;
}

/**
 * `v` as Redis's ld2string(LD_STR_HUMAN) prints it: `%.17Lf` (rounded half to even from the
 * exact value), trailing zeros and a trailing point removed, `-0` printed `0`.
 */
export function formatLongDoubleHuman(v: LongDouble): string {
  const SCALE = 10n ** 17n;
  let n: bigint;
  if (v.e >= 0) n = (v.m << BigInt(v.e)) * SCALE;
  else {
    const s = BigInt(-v.e);
    const num = v.m * SCALE;
    n = num >> s;
    const low = num - (n << s);
    const half = 1n << (s - 1n);
    if (low > half || (low === half && (n & 1n) === 1n)) n += 1n;
  }
  const digits = n.toString().padStart(18, "0");
  let out = `${digits.slice(0, -17)}.${digits.slice(-17)}`.replace(/0+$/, "").replace(/\.$/, "");
  if (v.neg) out = "-" + out;
  return out === "-0" ? "0" : out;
}
