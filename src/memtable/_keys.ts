/**
 * The memtable's pure helpers on key bytes: the 4-byte order prefix kept in every node, the hash
 * that picks an insert finger, and the short copy. Private to `src/memtable/`.
 *
 * @module
 */

/** Trailing key bytes left out of a finger's hash: a run's keys differ there (a timestamp). */
export const FINGER_SUFFIX_BYTES = 8;

/**
 * The first 4 bytes of `key` as an unsigned big-endian number, missing bytes as 0. If two
 * prefixes differ, they order the keys exactly as `compareBytes` does: at the first differing
 * byte either both keys have real bytes, or the shorter key has a padding 0 against a non-zero
 * byte of a longer key it is a prefix of, and a prefix sorts first.
 */
export function keyPrefix(key: Uint8Array): number {
  const n = key.length;
  if (n >= 4) return ((key[0]! << 24) | (key[1]! << 16) | (key[2]! << 8) | key[3]!) >>> 0;
  let p = 0;
  for (let i = 0; i < 4; i++) p = p * 256 + (i < n ? key[i]! : 0);
  return p;
}

/** `keyPrefix` of the key `kb[ko, ko + kl)`. */
export function keyPrefixAt(kb: Uint8Array, ko: number, kl: number): number {
  if (kl >= 4) {
    return ((kb[ko]! << 24) | (kb[ko + 1]! << 16) | (kb[ko + 2]! << 8) | kb[ko + 3]!) >>> 0;
  }
  let p = 0;
  for (let i = 0; i < 4; i++) p = p * 256 + (i < kl ? kb[ko + i]! : 0);
  return p;
}

/** The finger slot of the key `kb[ko, ko + kl)`: a hash of all but its last bytes (FNV-1a). */
export function fingerSlot(
  kb: Uint8Array,
  ko: number,
  kl: number,
  slots: number,
): number {
  let h = 0x811c9dc5;
  for (let i = ko, end = ko + kl - FINGER_SUFFIX_BYTES; i < end; i++) {
    h = Math.imul(h ^ kb[i]!, 0x01000193);
  }
  return (h ^ (h >>> 15)) & (slots - 1);
}

/** Copies `src[so, so + n)` to `dst[at]`; short copies byte by byte (cheaper than `set`). */
export function copyInto(
  dst: Uint8Array,
  at: number,
  src: Uint8Array,
  so: number,
  n: number,
): void {
  if (n <= 32) {
    for (let i = 0; i < n; i++) dst[at + i] = src[so + i]!;
  } else {
    dst.set(so === 0 && n === src.length ? src : src.subarray(so, so + n), at);
  }
}
