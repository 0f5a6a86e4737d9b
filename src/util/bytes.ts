/**
 * Byte-string helpers. Keys are ordered as unsigned bytes everywhere (memtable, SSTables,
 * merges, scans); `compareBytes` is that order.
 *
 * @module
 */

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Orders `a[aStart, aStart + aLen)` against `b` as unsigned bytes, like `compareBytes`. */
export function compareRange(a: Uint8Array, aStart: number, aLen: number, b: Uint8Array): number {
  const n = aLen < b.length ? aLen : b.length;
  for (let i = 0; i < n; i++) {
    const d = a[aStart + i]! - b[i]!;
    if (d !== 0) return d;
  }
  return aLen - b.length;
}

/** Orders `a` and `b` as unsigned bytes: negative, zero or positive like `memcmp`. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = a.length < b.length ? a.length : b.length;
  for (let i = 0; i < n; i++) {
    const d = a[i]! - b[i]!;
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

/** True when `a` and `b` hold the same bytes. */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  const n = a.length;
  if (n !== b.length) return false;
  // Keys compared here are mostly neighbours in sort order, equal in a long prefix
  // (`sensor.site3.temp.17000...`) and different at the end: look there first.
  if (n > 0 && a[n - 1] !== b[n - 1]) return false;
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** True when `key` starts with `prefix`. */
export function hasPrefix(key: Uint8Array, prefix: Uint8Array): boolean {
  if (key.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) {
    if (key[i] !== prefix[i]) return false;
  }
  return true;
}

/** Length of the common prefix of `a` and `b`. */
export function sharedPrefixLength(a: Uint8Array, b: Uint8Array): number {
  const n = a.length < b.length ? a.length : b.length;
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}

/**
 * The smallest key greater than every key that starts with `prefix`, or `undefined` when
 * there is none (the prefix is empty or all 0xff). Turns a prefix scan into a range scan.
 */
export function prefixEnd(prefix: Uint8Array): Uint8Array | undefined {
  for (let i = prefix.length - 1; i >= 0; i--) {
    if (prefix[i] !== 0xff) {
      const end = copyBytes(prefix, 0, i + 1);
      end[i] = end[i]! + 1;
      return end;
    }
  }
  return undefined;
}

/** Size of the slabs small byte strings are carved from. */
const SLAB_BYTES = 64 * 1024;
let slab = new Uint8Array(SLAB_BYTES);
let slabUsed = 0;

/**
 * A fresh `n`-byte array for small `n`, carved from a shared 64 KiB slab: a view costs ~20 ns
 * where `new Uint8Array(n)` costs ~300 ns in V8. Views never overlap and a slab is never
 * reused, so the bytes are the caller's; a slab stays in memory while any view of it lives.
 */
function allocSmall(n: number): Uint8Array {
  if (slabUsed + n > SLAB_BYTES) {
    slab = new Uint8Array(SLAB_BYTES);
    slabUsed = 0;
  }
  // The constructor, not `subarray`: about twice as fast in V8 (no species lookup).
  const out = new Uint8Array(slab.buffer, slabUsed, n);
  slabUsed += n;
  return out;
}

/** Copies up to this many bytes are done with a loop in `copyBytes`. */
const SHORT_COPY_BYTES_MAX = 32;

/** Copies up to this many bytes go to a slab in `copyBytes`; longer ones get their own array. */
const SLAB_COPY_BYTES_MAX = 512;

/**
 * A copy of `src[start, end)`. Small copies are carved from a shared slab (see `allocSmall`):
 * a RESP argument or a short value costs a view instead of a fresh allocation. A kept copy
 * keeps its 64 KiB slab alive; slabs fill with neighbouring writes, which live and die
 * together in one memtable, so the overhead stays a fraction of the bytes kept.
 */
export function copyBytes(src: Uint8Array, start: number, end: number): Uint8Array {
  const n = end - start;
  if (n > SLAB_COPY_BYTES_MAX) return src.slice(start, end);
  const out = allocSmall(n);
  // Short copies (RESP arguments: keys, timestamps, numbers) byte by byte: `set` needs a
  // `subarray` view first, and both cost more than the loop.
  if (n <= SHORT_COPY_BYTES_MAX) { for (let i = 0; i < n; i++) out[i] = src[start + i]!; }
  else out.set(src.subarray(start, end));
  return out;
}

/**
 * A fresh zeroed `n`-byte array: small ones carved from the shared slab (see `allocSmall`),
 * larger ones their own. For keys and values built on every write (member keys, metadata): a
 * fresh `Uint8Array` costs microseconds in Deno, a slab view a fraction of that.
 */
export function allocBytes(n: number): Uint8Array {
  return n > SLAB_COPY_BYTES_MAX ? new Uint8Array(n) : allocSmall(n);
}

/** Strings up to this length take the ASCII fast path of `toBytes`. */
const ASCII_FAST_PATH_CHARS_MAX = 256;

/**
 * UTF-8 encodes a string; passes bytes through unchanged. Short ASCII strings (most keys) are
 * copied in a JavaScript loop: `TextEncoder.encode` is a native call that costs more than the
 * copy for them (measured: ~17% of a 256-writer put benchmark).
 */
export function toBytes(value: Uint8Array | string): Uint8Array {
  if (typeof value !== "string") return value;
  const n = value.length;
  if (n <= ASCII_FAST_PATH_CHARS_MAX) {
    const out = allocSmall(n);
    for (let i = 0; i < n; i++) {
      const c = value.charCodeAt(i);
      if (c >= 0x80) return encoder.encode(value);
      out[i] = c;
    }
    return out;
  }
  return encoder.encode(value);
}

/** UTF-8 decodes bytes (invalid sequences become U+FFFD). */
export function fromBytes(bytes: Uint8Array): string {
  return decoder.decode(bytes);
}

/**
 * Writes the ASCII decimal digits of `v` (a safe integer >= 0) at `buf[at]` and returns the
 * end; the caller makes room (at most 16 bytes). For reply and request builders that would
 * otherwise make a string per number.
 */
export function writeDigits(buf: Uint8Array, at: number, v: number): number {
  let n = 1;
  for (let p = 10; p <= v; p *= 10) n++;
  for (let i = at + n - 1; i >= at; i--) {
    const q = Math.floor(v / 10);
    buf[i] = 48 + (v - q * 10);
    v = q;
  }
  return at + n;
}
