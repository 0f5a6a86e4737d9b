/**
 * Whole-table bloom filter (LevelDB's `util/bloom.cc`). See ARCHITECTURE.md § "Bloom (filter) block".
 *
 * ```
 * filter block: bit array (bitCount / 8 bytes) | u8 probeCount
 * ```
 *
 * Each key is hashed once with LevelDB's 32-bit `Hash` (`util/hash.cc`, a Murmur-like hash
 * reading 4 bytes at a time, seed 0xbc9f1d34); the k probes use double hashing from that one
 * hash: `delta = rotr(h, 17)`, probe j tests bit `(h + j·delta) mod bitCount`.
 *
 * Invariants:
 * - `probeCount` k = round(bitsPerKey × 0.69) clamped to [1, 30]; 0.69 ~ ln(2) minimises the
 *   false-positive rate for a given size.
 * - The bit array holds at least 64 bits and a whole number of bytes; bit i is
 *   `bits[i >> 3] & (1 << (i & 7))`.
 * - A key that was added always matches (no false negatives).
 *
 * @module
 */

import { assert } from "../util/assert.ts";

const HASH_SEED = 0xbc9f1d34;
const HASH_M = 0xc6a4a793;

/** LevelDB's 32-bit `Hash(data, n, 0xbc9f1d34)` over the key bytes, as an unsigned integer. */
export function bloomHash(key: Uint8Array): number {
  const n = key.length;
  let h = (HASH_SEED ^ Math.imul(n, HASH_M)) >>> 0;
  let i = 0;
  const limit = n - (n & 3);
  for (; i < limit; i += 4) {
    const w = key[i]! | (key[i + 1]! << 8) | (key[i + 2]! << 16) | (key[i + 3]! << 24);
    h = Math.imul((h + w) >>> 0, HASH_M) >>> 0;
    h = (h ^ (h >>> 16)) >>> 0;
  }
  const rest = n - i;
  if (rest > 0) {
    if (rest === 3) h = (h + (key[i + 2]! << 16)) >>> 0;
    if (rest >= 2) h = (h + (key[i + 1]! << 8)) >>> 0;
    h = (h + key[i]!) >>> 0;
    h = Math.imul(h, HASH_M) >>> 0;
    h = (h ^ (h >>> 24)) >>> 0;
  }
  return h;
}

/** Probes per key for `bitsPerKey`: round(bitsPerKey × 0.69), clamped to [1, 30]. */
export function bloomProbeCount(bitsPerKey: number): number {
  const k = Math.round(bitsPerKey * 0.69); // 0.69 ~ ln(2)
  return k < 1 ? 1 : k > 30 ? 30 : k;
}

/**
 * Builds a filter from key hashes (`bloomHash`); returns the filter block contents.
 * REQUIRES: bitsPerKey >= 1.
 */
export function buildBloomFilter(
  hashes: Uint32Array,
  count: number,
  bitsPerKey: number,
): Uint8Array {
  assert(bitsPerKey >= 1, "bloom filter has at least one bit per key");
  assert(count <= hashes.length, "bloom hash count within the array");
  const k = bloomProbeCount(bitsPerKey);
  // At least 64 bits: tiny filters otherwise see a very high false-positive rate.
  const bytes = Math.max(8, Math.ceil((count * bitsPerKey) / 8));
  const bitCount = bytes * 8;
  const out = new Uint8Array(bytes + 1);
  for (let i = 0; i < count; i++) {
    let h = hashes[i]!;
    const delta = ((h >>> 17) | (h << 15)) >>> 0;
    for (let j = 0; j < k; j++) {
      const bit = h % bitCount;
      out[bit >>> 3] = out[bit >>> 3]! | (1 << (bit & 7));
      h = (h + delta) >>> 0;
    }
  }
  out[bytes] = k;
  return out;
}

/** A decoded filter. */
export class BloomFilter {
  readonly #bits: Uint8Array;
  readonly #bitCount: number;
  readonly #probes: number;

  /** Wraps filter block contents; `undefined` when they are malformed. */
  static decode(data: Uint8Array): BloomFilter | undefined {
    if (data.length < 9) return undefined;
    const k = data[data.length - 1]!;
    if (k < 1 || k > 30) return undefined;
    return new BloomFilter(data.subarray(0, data.length - 1), k);
  }

  private constructor(bits: Uint8Array, probes: number) {
    this.#bits = bits;
    this.#bitCount = bits.length * 8;
    this.#probes = probes;
  }

  /** Bytes of the bit array. */
  get sizeBytes(): number {
    return this.#bits.length;
  }

  /** False when `key` is certainly absent; true when it may be present. */
  mayContain(key: Uint8Array): boolean {
    return this.mayContainHash(bloomHash(key));
  }

  /** `mayContain` for a precomputed `bloomHash`. */
  mayContainHash(hash: number): boolean {
    const bits = this.#bits;
    const bitCount = this.#bitCount;
    let h = hash;
    const delta = ((h >>> 17) | (h << 15)) >>> 0;
    for (let j = 0; j < this.#probes; j++) {
      const bit = h % bitCount;
      if ((bits[bit >>> 3]! & (1 << (bit & 7))) === 0) return false;
      h = (h + delta) >>> 0;
    }
    return true;
  }
}
