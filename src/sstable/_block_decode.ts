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
 */
const KEY_SLAB_BYTES = 8 * 1024;
/** Keys longer than this get their own buffer rather than most of a slab. */
const KEY_SLAB_KEY_BYTES_MAX = 512;
let keySlab = new Uint8Array(KEY_SLAB_BYTES);
/** `keySlab.buffer`, read once per slab: the getter costs a call per key. */
let keySlabBuffer = keySlab.buffer;
let keySlabUsed = 0;

/** A fresh copy of `src[0, len)`; a view into a slab for short keys. */
export function copyKey(src: Uint8Array, len: number): Uint8Array {
  if (len > KEY_SLAB_KEY_BYTES_MAX) return src.slice(0, len);
  if (keySlabUsed + len > KEY_SLAB_BYTES) {
    keySlab = new Uint8Array(KEY_SLAB_BYTES);
    keySlabBuffer = keySlab.buffer;
    keySlabUsed = 0;
  }
  const start = keySlabUsed;
  const slab = keySlab;
  for (let i = 0; i < len; i++) slab[start + i] = src[i]!;
  keySlabUsed = start + len;
  // The constructor, not `subarray`: no species lookup, measurably cheaper per view.
  return new Uint8Array(keySlabBuffer, start, len);
}
