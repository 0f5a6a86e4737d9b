/**
 * Blocks: sorted runs of entries with prefix-compressed keys and restart points (LevelDB's
 * `table/block_builder.cc` and `table/block.cc`). See ARCHITECTURE.md § "Data block".
 *
 * ```
 * entry:   varint shared | varint unshared | varint valueLen | key delta (unshared bytes)
 *          | varint seq | u8 kind | varint expireAtMs | value (valueLen bytes)
 * block:   entry* | restart u32 LE * restartCount | restartCount u32 LE
 * ```
 *
 * Invariants:
 * - Keys are strictly ascending by unsigned bytes within a block (asserted by the builder).
 * - The entry at each restart point stores its whole key (`shared` = 0); restart offsets
 *   start at 0, strictly ascend and point inside the entry area.
 * - An empty block is just `restartCount` = 0 (4 bytes); a non-empty block has >= 1 restart.
 * - `kind` is `KIND_DELETE` (0), `KIND_PUT` (1) or `KIND_META` (2); every varint is a safe integer.
 * - Decoding never reads outside the entry area: malformed bytes raise `CorruptionError`.
 * - A decoded block's bytes are never mutated, so entries may hand out views into them.
 *
 * @module
 */

import { CorruptionError } from "../errors.ts";
import { EMPTY, readU32, readVarint, restartBefore, varintEnd } from "./_block_decode.ts";
import { type Entry, type EntryKind, KIND_META } from "../util/entry.ts";

/** A decoded, validated block, immutable and shareable (it is what the block cache holds). */
export class Block {
  /** The block contents (entries and restart array), without trailer. */
  readonly data: Uint8Array;
  /**
   * `data.buffer` and `data.byteOffset`, read once here for the iterators' value views: an
   * iterator moving to the next block reads fields instead of calling the two getters.
   */
  readonly buffer: ArrayBufferLike;
  readonly byteOffset: number;
  /** Offsets of the restart points. */
  readonly restarts: Uint32Array;
  /** Number of restart points. */
  readonly restartCount: number;
  /** End of the entry area (start of the restart array). */
  readonly restartsOffset: number;
  /** Where the block came from, for error messages: `at offset 4096 in 000012.sst`. */
  readonly location: string;

  /** Validates the restart array of `data`; throws `CorruptionError` when malformed. */
  constructor(data: Uint8Array, location: string) {
    this.data = data;
    this.buffer = data.buffer;
    this.byteOffset = data.byteOffset;
    this.location = location;
    const len = data.length;
    if (len < 4) throw this.corrupt(`block of ${len} bytes is too short`);
    const count = readU32(data, len - 4);
    if (count > (len - 4) / 4) throw this.corrupt(`restart count ${count} out of range`);
    const restartsOffset = len - 4 - count * 4;
    this.restartsOffset = restartsOffset;
    if ((count === 0) !== (restartsOffset === 0)) {
      throw this.corrupt("restart count does not match the entry area");
    }
    const restarts = new Uint32Array(count);
    let prev = -1;
    for (let i = 0; i < count; i++) {
      const r = readU32(data, restartsOffset + i * 4);
      const ok = i === 0 ? r === 0 : r > prev && r < restartsOffset;
      if (!ok) throw this.corrupt(`restart point ${i} at ${r} out of order`);
      restarts[i] = r;
      prev = r;
    }
    this.restarts = restarts;
    this.restartCount = count;
  }

  /** Bytes this block holds in memory, for the block cache's budget. */
  get chargeBytes(): number {
    return this.data.buffer.byteLength + this.restarts.byteLength + 128;
  }

  /**
   * The entry whose key equals `target`, with `target` itself as its key (no copy), or
   * `undefined`: the point-lookup path. It walks the entries like `BlockIterator.seek` but
   * never assembles a key: each key is compared in place against `target`, from the bytes
   * prefix compression did not settle, and only the entry found is decoded. Malformed bytes
   * raise the same `CorruptionError`s as the iterator.
   */
  get(target: Uint8Array): Entry | undefined {
    if (this.restartCount === 0) return undefined;
    const data = this.data;
    const end = this.restartsOffset;
    const targetLen = target.length;
    // Restart offsets are read from the block's own bytes (validated when it was decoded):
    // the `restarts` array is a separate allocation, one more cache miss per lookup.
    let p = readU32(data, end + 4 * restartBefore(this, target));
    // Invariant: the previous key (of `prevLen` bytes) is < target and shares exactly its
    // first `matched` bytes with it. A key shares `shared` bytes with the previous one and
    // differs from it right after (the builder shares as much as it can), except at a restart
    // point, which stores shared = 0 and is compared in full.
    let matched = 0;
    let prevLen = 0;
    while (p < end) {
      const start = p;
      let shared = data[p]!;
      if (shared < 0x80) p++;
      else {
        shared = readVarint(data, p, end);
        if (shared < 0) throw this.corrupt(`bad shared length at ${p}`);
        p = varintEnd;
      }
      let unshared = p < end ? data[p]! : 0xff;
      if (unshared < 0x80) p++;
      else {
        unshared = readVarint(data, p, end);
        if (unshared < 0) throw this.corrupt(`bad key length at ${p}`);
        p = varintEnd;
      }
      let valueLen = p < end ? data[p]! : 0xff;
      if (valueLen < 0x80) p++;
      else {
        valueLen = readVarint(data, p, end);
        if (valueLen < 0) throw this.corrupt(`bad value length at ${p}`);
        p = varintEnd;
      }
      if (shared > prevLen) {
        throw this.corrupt(`entry at ${start} shares more than the previous key`);
      }
      if (unshared > end - p) throw this.corrupt(`key at ${p} overruns the block`);
      let found = false;
      if (shared === 0 || shared === matched) {
        // The key's bytes from `shared` on are data[p, p + unshared); before, it equals target.
        const from = shared === 0 ? 0 : matched;
        const keyEnd = from + unshared;
        const n = keyEnd < targetLen ? keyEnd : targetLen;
        let i = from;
        const d = p - from;
        while (i < n && data[d + i] === target[i]) i++;
        if (i === n) {
          if (keyEnd === targetLen) found = true;
          else if (keyEnd > targetLen) return undefined; // target is a prefix of the key
        } else if (data[d + i]! > target[i]!) return undefined;
        matched = i;
      } else if (shared < matched) {
        // The key differs from the previous one inside the part equal to target, upwards.
        return undefined;
      }
      // Otherwise shared > matched: the key equals the previous one at `matched`, below
      // target there, so it is below target too and `matched` stays.
      p += unshared;
      prevLen = shared + unshared;
      const metaOffset = p;
      const seqStart = p;
      while (p < end && data[p]! >= 0x80 && p - seqStart < 8) p++;
      if (p >= end || data[p]! >= 0x80) throw this.corrupt(`bad sequence number at ${p}`);
      p++;
      const kind = p < end ? data[p]! : 0xff;
      if (kind > KIND_META) throw this.corrupt(`bad entry kind ${kind} at ${p}`);
      p++;
      const expireStart = p;
      while (p < end && data[p]! >= 0x80 && p - expireStart < 8) p++;
      if (p >= end || data[p]! >= 0x80) throw this.corrupt(`bad expiry at ${p}`);
      p++;
      if (valueLen > end - p) throw this.corrupt(`value at ${p} overruns the block`);
      if (found) {
        const seq = readVarint(data, metaOffset, end);
        if (seq < 0) throw this.corrupt(`bad sequence number at ${metaOffset}`);
        const expireAtMs = readVarint(data, varintEnd + 1, end);
        if (expireAtMs < 0) throw this.corrupt(`bad expiry at ${varintEnd + 1}`);
        return {
          key: target,
          seq,
          kind: kind as EntryKind,
          expireAtMs,
          value: valueLen === 0
            ? EMPTY
            : new Uint8Array(data.buffer, data.byteOffset + p, valueLen),
        };
      }
      p += valueLen;
    }
    return undefined;
  }

  /** A `CorruptionError` for this block: `Cannot decode block: <what> at offset N in F`. */
  corrupt(what: string): CorruptionError {
    return new CorruptionError(`Cannot decode block: ${what} ${this.location}`);
  }
}
