/**
 * The byte-level decoding shared by `Block.get` and `BlockIterator` (private to
 * `src/sstable/`): varints, the restart array's binary search, and the slab that keys handed
 * out are copied into. The block format is in ARCHITECTURE.md § "Data block".
 *
 * @module
 */

import type { Block } from "./block.ts";

/** The little-endian u32 at `data[p]`. */
export function readU32(data: Uint8Array, p: number): number {
  return (data[p]! | (data[p + 1]! << 8) | (data[p + 2]! << 16) | (data[p + 3]! << 24)) >>> 0;
}

/** Set by `readVarint`: the offset just past the varint it decoded. Reads are synchronous. */
export let varintEnd = 0;
// Set by `restartKeyLess`: how many leading bytes the restart key shares with the target.
let restartLcp = 0;

/** Decodes a varint at `data[p]`, not past `end`; -1 when truncated or too large. */
export function readVarint(data: Uint8Array, p: number, end: number): number {
  let result = 0;
  let scale = 1;
  for (let i = 0; i < 8; i++) {
    if (p >= end) return -1;
    const b = data[p++]!;
    result += (b & 0x7f) * scale;
    if (b < 0x80) {
      varintEnd = p;
      return Number.isSafeInteger(result) ? result : -1;
    }
    scale *= 128;
  }
  return -1;
}

/**
 * True when the full key stored at restart offset `p` of `block` is < `target`, compared in
 * place from byte `from` (the bytes before are known equal). Sets `restartLcp`.
 */
function restartKeyLess(block: Block, p: number, target: Uint8Array, from: number): boolean {
  const data = block.data;
  const end = block.restartsOffset;
  // shared must be 0 at a restart point.
  if (data[p] !== 0) throw block.corrupt(`restart entry at ${p} shares a prefix`);
  p++;
  let unshared = p < end ? data[p]! : -1;
  if (unshared >= 0 && unshared < 0x80) p++;
  else {
    unshared = readVarint(data, p, end);
    if (unshared < 0) throw block.corrupt(`bad key length at ${p}`);
    p = varintEnd;
  }
  // Skip valueLen.
  if (p < end && data[p]! < 0x80) p++;
  else {
    if (readVarint(data, p, end) < 0) throw block.corrupt(`bad value length at ${p}`);
    p = varintEnd;
  }
  if (unshared > end - p) throw block.corrupt(`key at ${p} overruns the block`);
  const targetLen = target.length;
  const n = unshared < targetLen ? unshared : targetLen;
  let j = from < n ? from : n;
  while (j < n && data[p + j] === target[j]) j++;
  restartLcp = j;
  return j === n ? unshared < targetLen : data[p + j]! < target[j]!;
}

/**
 * Index of the last restart point of `block` whose key is < `target`, or 0 when none is:
 * where a forward scan for `target` starts. Keys between two bounds share at least the
 * smaller of their common prefixes with `target`, so each comparison starts past it.
 */
export function restartBefore(block: Block, target: Uint8Array): number {
  const data = block.data;
  const restartsOffset = block.restartsOffset;
  let left = 0;
  let right = block.restartCount - 1;
  let lcpLeft = 0;
  let lcpRight = 0;
  while (left < right) {
    const mid = (left + right + 1) >>> 1;
    const from = lcpLeft < lcpRight ? lcpLeft : lcpRight;
    const restart = readU32(data, restartsOffset + 4 * mid);
    if (restartKeyLess(block, restart, target, from)) {
      left = mid;
      lcpLeft = restartLcp;
    } else {
      right = mid - 1;
      lcpRight = restartLcp;
    }
  }
  return left;
}

/** The value of entries without one (tombstones, empty values): shared, never written. */
export const EMPTY = new Uint8Array(0);

/**
 * Keys handed out in entries are views into shared slabs: allocating an `ArrayBuffer` costs
 * ~0.34 µs in Deno while a `subarray` view costs ~0.02 µs (measured), and a key per entry is
 * the hot path of both `get` and iteration. A retained key pins at most one slab.
 *
 * Keys start at 4-byte-aligned offsets of the slab and the iterators' key buffers are aligned
 * too, so a key is copied a 32-bit word at a time through `Int32Array` views of both: a third
 * of the instructions of a byte loop, half of `Uint8Array.prototype.set` (measured with
 * cachegrind, bench/scan_cpu.ts's keys). Up to 3 bytes of padding follow each key.
 *
 * 32 KiB slabs rather than 8: a new slab (an `ArrayBuffer` and two views) per ~1,000 keys instead
 * of ~250 took 3.5% off a scan's instructions per key; a retained key pins at most 32 KiB, as
 * `allocSmall`'s 64 KiB slabs do for other short byte strings.
 */
const KEY_SLAB_BYTES = 32 * 1024;
/** Keys longer than this get their own buffer rather than most of a slab. */
const KEY_SLAB_KEY_BYTES_MAX = 512;
let keySlab = new Uint8Array(KEY_SLAB_BYTES);
/** `keySlab.buffer`, read once per slab: the getter costs a call per key. */
let keySlabBuffer = keySlab.buffer;
/** `keySlab` as words. */
let keySlabWords = new Int32Array(keySlabBuffer);
/** Bytes of the slab handed out; always a multiple of 4. */
let keySlabUsed = 0;

function newKeySlab(): void {
  keySlab = new Uint8Array(KEY_SLAB_BYTES);
  keySlabBuffer = keySlab.buffer;
  keySlabWords = new Int32Array(keySlabBuffer);
  keySlabUsed = 0;
}

/**
 * A key buffer: `bytes` and `words` view the same 4-byte-aligned memory, whose length is a
 * multiple of 4. Iterators keep their current key in one (see `copyKey`).
 */
export interface KeyBuffer {
  /** The buffer's bytes. */
  bytes: Uint8Array;
  /** The same memory as 32-bit words. */
  words: Int32Array;
}

/** A new key buffer of at least `n` bytes, carved from the slab when small. */
export function allocKeyBuffer(n: number): KeyBuffer {
  const len = (n + 3) & ~3;
  if (len > KEY_SLAB_KEY_BYTES_MAX) {
    const bytes = new Uint8Array(len);
    return { bytes, words: new Int32Array(bytes.buffer) };
  }
  if (keySlabUsed + len > KEY_SLAB_BYTES) newKeySlab();
  const start = keySlabUsed;
  keySlabUsed = start + len;
  return {
    bytes: new Uint8Array(keySlabBuffer, start, len),
    words: new Int32Array(keySlabBuffer, start, len >> 2),
  };
}

/**
 * A fresh copy of the first `len` bytes of the key buffer `src` (`words` views the same
 * memory); a view into a slab for short keys.
 */
export function copyKey(src: Uint8Array, words: Int32Array, len: number): Uint8Array {
  if (len > KEY_SLAB_KEY_BYTES_MAX) return src.slice(0, len);
  const n = (len + 3) >> 2;
  if (keySlabUsed + 4 * n > KEY_SLAB_BYTES) newKeySlab();
  const start = keySlabUsed;
  const slab = keySlabWords;
  const w = start >> 2;
  for (let i = 0; i < n; i++) slab[w + i] = words[i]!;
  keySlabUsed = start + 4 * n;
  // The constructor, not `subarray`: no species lookup, measurably cheaper per view.
  return new Uint8Array(keySlabBuffer, start, len);
}
