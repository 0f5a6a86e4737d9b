/**
 * C's `strtod` as Redis 7.0 applies it to a whole argument (`strtod(s, &eptr)` then
 * `eptr[0] != '\0'` is an error): where Redis reads a double that way rather than with its strict
 * `getDoubleFromObject` (SORT's weights, the score bounds of ZRANGEBYSCORE and friends), its
 * quirks are part of the protocol. Private to `src/server/commands/`.
 *
 * @module
 */

const C_SPACE = new Set([0x20, 0x09, 0x0a, 0x0b, 0x0c, 0x0d]);
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const HEX = /^([+-]?)0[xX]([0-9a-fA-F]*)\.?([0-9a-fA-F]*)(?:[pP]([+-]?\d+))?$/;
const SPECIAL = /^[+-]?(inf|infinity)$/i;

/**
 * A double read as `strtod` reads a C string: the text ends at its first NUL byte (Redis passes
 * the argument's buffer, so `"1\0x"` reads as 1 and `"\0"` as 0); leading C white space, a
 * decimal or hexadecimal float, `inf`/`infinity`; the rest up to that NUL must be used. The empty
 * text is 0 (`strtod` reads nothing and leaves nothing unread). `undefined` when it cannot be read
 * or is NaN; with `refuseRange` also when out of range (ERANGE: an overflow to infinity, or
 * nonzero digits that underflow to zero), as SORT checks and the score bounds do not.
 */
export function strtodWhole(bytes: Uint8Array, refuseRange: boolean): number | undefined {
  const nul = bytes.indexOf(0);
  const b = nul === -1 ? bytes : bytes.subarray(0, nul);
  if (b.length === 0) return 0;
  let i = 0;
  while (i < b.length && C_SPACE.has(b[i]!)) i++;
  if (i === b.length) return undefined;
  let s = "";
  for (let k = i; k < b.length; k++) {
    const c = b[k]!;
    if (c > 0x7e) return undefined;
    s += String.fromCharCode(c);
  }
  if (SPECIAL.test(s)) return s[0] === "-" ? -Infinity : Infinity;
  if (DECIMAL.test(s)) {
    const v = Number(s);
    if (refuseRange && !Number.isFinite(v)) return undefined;
    if (refuseRange && v === 0 && /[1-9]/.test(s.split(/[eE]/)[0]!)) return undefined;
    return v;
  }
  const hex = HEX.exec(s);
  if (hex !== null && (hex[2]!.length > 0 || hex[3]!.length > 0)) {
    const [, sign, int, frac, exp] = hex;
    let v = 0;
    for (const d of int! + frac!) v = v * 16 + parseInt(d, 16);
    v *= 2 ** (Number(exp ?? 0) - 4 * frac!.length);
    if (refuseRange && !Number.isFinite(v)) return undefined;
    return sign === "-" ? -v : v;
  }
  return undefined;
}
