/**
 * The cursor over one decoded block (LevelDB's `Block::Iter`): seeks, steps both ways, and
 * hands the live entries before a stop key to a scan in chunks. The block format is in
 * `block.ts` and ARCHITECTURE.md § "Data block".
 *
 * @module
 */

import { assert } from "../util/assert.ts";
import { compareRange } from "../util/bytes.ts";
import {
  allocKeyBuffer,
  copyKey,
  EMPTY,
  readVarint,
  restartBefore,
  varintEnd,
} from "./_block_decode.ts";
import {
  type Entry,
  type EntryIterator,
  type EntryKind,
  KIND_DELETE,
  KIND_META,
  KIND_PUT,
  type PairBuffer,
} from "../util/entry.ts";

import { Block } from "./block.ts";

const EMPTY_BLOCK_DATA = new Uint8Array(4);
/** What a new iterator points at: one shared instance (a scan makes an iterator per table). */
const EMPTY_BLOCK = new Block(EMPTY_BLOCK_DATA, "in an empty block");

/**
 * A bidirectional cursor over one block (LevelDB's `Block::Iter`). Seeks binary-search the
 * restart points comparing keys in place, then scan forward; `prev` re-scans from the
 * previous restart point. `reset` re-targets it at another block without allocating.
 */
export class BlockIterator implements EntryIterator {
  #block: Block = EMPTY_BLOCK;
  #data: Uint8Array = EMPTY_BLOCK_DATA;
  /** `#data.buffer` and `#data.byteOffset`, read once per block for the value views. */
  #buffer: ArrayBufferLike = EMPTY_BLOCK_DATA.buffer;
  #byteOffset = 0;
  #restarts: Uint32Array = this.#block.restarts;
  #end = 0;
  #current = 0;
  #next = 0;
  #restartIndex = 0;
  /**
   * The current key's bytes, and the same memory as words for `copyKey`. From the shared key
   * slab: a scan makes an iterator per table, a fresh array costs µs.
   */
  #key: Uint8Array;
  #keyWords: Int32Array;
  #keyLen = 0;
  /** Bytes the current key shares with the previous one. */
  #shared = 0;
  /** Offset of the current entry's varint seq (then kind, then varint expireAtMs). */
  #metaOffset = 0;
  /** Offset of the current entry's varint expireAtMs. */
  #expireOffset = 0;
  #kind: EntryKind = KIND_PUT;
  #valueOffset = 0;
  #valueLen = 0;
  #entry: Entry | undefined = undefined;

  /** An iterator over an empty block; `reset` points it at another. */
  constructor() {
    const kb = allocKeyBuffer(64);
    this.#key = kb.bytes;
    this.#keyWords = kb.words;
  }

  /** Points the iterator at `block`, unpositioned. */
  reset(block: Block): void {
    this.#block = block;
    this.#data = block.data;
    this.#buffer = block.buffer;
    this.#byteOffset = block.byteOffset;
    this.#restarts = block.restarts;
    this.#end = block.restartsOffset;
    this.#invalidate();
  }

  /** True when positioned at an entry. */
  valid(): boolean {
    return this.#current < this.#end;
  }

  /** The current entry; its value is a view into the block. REQUIRES: valid(). */
  entry(): Entry {
    assert(this.valid(), "block iterator is valid");
    this.#entry ??= this.#build(copyKey(this.#key, this.#keyWords, this.#keyLen));
    return this.#entry;
  }

  /** The current entry with `key` as its key (seq and expiry decoded now). */
  #build(key: Uint8Array): Entry {
    const data = this.#data;
    const seq = readVarint(data, this.#metaOffset, this.#end);
    if (seq < 0) throw this.#block.corrupt(`bad sequence number at ${this.#metaOffset}`);
    const expireAt = varintEnd + 1;
    const expireAtMs = readVarint(data, expireAt, this.#end);
    if (expireAtMs < 0) throw this.#block.corrupt(`bad expiry at ${expireAt}`);
    const len = this.#valueLen;
    return {
      key,
      seq,
      kind: this.#kind,
      expireAtMs,
      value: len === 0
        ? EMPTY
        : new Uint8Array(this.#buffer, this.#byteOffset + this.#valueOffset, len),
    };
  }

  /**
   * `EntryIterator.collectLive` within this block: it stops at the block's end too (invalid
   * then). Keys are compared with `stop` in place, from the bytes prefix compression did not
   * settle, as `seek` does; a pair's key is a copy (the key buffer is rewritten by every move)
   * and its value a view into the block, which is safe to hand out: a decoded block's bytes
   * come from a buffer read or decompressed for it alone and are never written again (the
   * block cache only drops its reference when it evicts the block, and the view keeps the
   * bytes alive).
   */
  collectLive(
    out: PairBuffer,
    max: number,
    stop: Uint8Array | undefined,
    nowMs: number,
  ): number {
    if (!this.valid()) return 0;
    const data = this.#data;
    const end = this.#end;
    const buffer = this.#buffer;
    const byteOffset = this.#byteOffset;
    const stopLen = stop === undefined ? 0 : stop.length;
    let kb = this.#key;
    let kw = this.#keyWords;
    // The current entry in locals (`#parseNext` inlined): written back to the fields only
    // where the loop stops.
    let current = this.#current;
    let keyLen = this.#keyLen;
    let shared = this.#shared;
    let metaOffset = this.#metaOffset;
    let expireOffset = this.#expireOffset;
    let kind: number = this.#kind;
    let valueOffset = this.#valueOffset;
    let valueLen = this.#valueLen;
    // Invariant while positioned: the current key < stop, equal to it in its first `matched`
    // bytes.
    let matched = 0;
    let moved = 0;
    let full = true;
    const pairs = out.pairs;
    let count = out.count;
    for (;;) {
      if (stop !== undefined) {
        // The key differs from the previous one right after its `shared` bytes, upwards, so
        // when that is inside the part equal to stop, the key is above stop; when it is past
        // that part, the key is below stop like the previous one. A restart entry stores
        // shared = 0 whatever it shares: compared in full, as the first key is.
        if (full || shared === 0 || shared === matched) {
          const n = keyLen < stopLen ? keyLen : stopLen;
          let i = full || shared === 0 ? 0 : matched;
          while (i < n && kb[i] === stop[i]) i++;
          if (i === n ? keyLen >= stopLen : kb[i]! > stop[i]!) break;
          matched = i;
          full = false;
        } else if (shared < matched) break;
      }
      if (count >= max) break;
      if (kind !== KIND_DELETE) {
        // Expiry is decoded only when set (a single 0 byte when not).
        let live = true;
        if (data[expireOffset] !== 0) {
          const expireAtMs = readVarint(data, expireOffset, end);
          if (expireAtMs < 0) throw this.#block.corrupt(`bad expiry at ${expireOffset}`);
          live = expireAtMs > nowMs;
        }
        if (live) {
          pairs[count++] = [
            copyKey(kb, kw, keyLen),
            valueLen === 0 ? EMPTY : new Uint8Array(buffer, byteOffset + valueOffset, valueLen),
          ];
        }
      }
      moved++;
      // The next entry, decoded and checked as `#parseNext` does.
      let p = valueOffset + valueLen;
      if (p >= end) {
        out.count = count;
        this.#invalidate();
        return moved;
      }
      current = p;
      shared = data[p]!;
      if (shared < 0x80) p++;
      else {
        shared = readVarint(data, p, end);
        if (shared < 0) throw this.#block.corrupt(`bad shared length at ${p}`);
        p = varintEnd;
      }
      let unshared = p < end ? data[p]! : 0xff;
      if (unshared < 0x80) p++;
      else {
        unshared = readVarint(data, p, end);
        if (unshared < 0) throw this.#block.corrupt(`bad key length at ${p}`);
        p = varintEnd;
      }
      valueLen = p < end ? data[p]! : 0xff;
      if (valueLen < 0x80) p++;
      else {
        valueLen = readVarint(data, p, end);
        if (valueLen < 0) throw this.#block.corrupt(`bad value length at ${p}`);
        p = varintEnd;
      }
      if (shared > keyLen) {
        throw this.#block.corrupt(`entry at ${current} shares more than the previous key`);
      }
      if (unshared > end - p) throw this.#block.corrupt(`key at ${p} overruns the block`);
      keyLen = shared + unshared;
      if (keyLen > kb.length) {
        this.#growKey(keyLen, shared);
        kb = this.#key;
        kw = this.#keyWords;
      }
      for (let i = 0; i < unshared; i++) kb[shared + i] = data[p + i]!;
      p += unshared;
      metaOffset = p;
      const seqStart = p;
      while (p < end && data[p]! >= 0x80 && p - seqStart < 8) p++;
      if (p >= end || data[p]! >= 0x80) throw this.#block.corrupt(`bad sequence number at ${p}`);
      p++;
      kind = p < end ? data[p]! : 0xff;
      if (kind > KIND_META) throw this.#block.corrupt(`bad entry kind ${kind} at ${p}`);
      p++;
      expireOffset = p;
      while (p < end && data[p]! >= 0x80 && p - expireOffset < 8) p++;
      if (p >= end || data[p]! >= 0x80) throw this.#block.corrupt(`bad expiry at ${p}`);
      p++;
      if (valueLen > end - p) throw this.#block.corrupt(`value at ${p} overruns the block`);
      valueOffset = p;
    }
    out.count = count;
    if (moved > 0) {
      this.#entry = undefined;
      this.#current = current;
      this.#next = valueOffset + valueLen;
      this.#keyLen = keyLen;
      this.#shared = shared;
      this.#metaOffset = metaOffset;
      this.#expireOffset = expireOffset;
      this.#kind = kind as EntryKind;
      this.#valueOffset = valueOffset;
      this.#valueLen = valueLen;
      const restarts = this.#restarts;
      let r = this.#restartIndex;
      while (r + 1 < restarts.length && restarts[r + 1]! <= current) r++;
      this.#restartIndex = r;
    }
    return moved;
  }

  /** Orders the current key against `target`. REQUIRES: valid(). */
  compareKey(target: Uint8Array): number {
    return compareRange(this.#key, 0, this.#keyLen, target);
  }

  /** Positions at the first entry. */
  seekToFirst(): void {
    if (this.#restarts.length === 0) return this.#invalidate();
    this.#seekToRestart(0);
    this.#parseNext();
  }

  /** Positions at the last entry. */
  seekToLast(): void {
    const n = this.#restarts.length;
    if (n === 0) return this.#invalidate();
    this.#seekToRestart(n - 1);
    while (this.#parseNext() && this.#next < this.#end) {
      // Scan to the last entry.
    }
  }

  /** Positions at the first entry whose key is >= `target`. */
  seek(target: Uint8Array): void {
    if (this.#restarts.length === 0) return this.#invalidate();
    // Scan forward from the last restart point whose key is < target.
    this.#seekToRestart(restartBefore(this.#block, target));
    // Scan forward keeping `matched`, the length of the prefix the current key shares with
    // target, so each step compares only the bytes that prefix compression did not settle.
    // Invariant: the current key < target, equal to it in its first `matched` bytes.
    const targetLen = target.length;
    let matched = 0;
    while (this.#parseNext()) {
      const shared = this.#shared;
      // The key differs from the previous one at `shared`, upwards; when that is inside the
      // part equal to target, the key is above target. (A restart entry stores shared = 0,
      // and is >= target anyway: the binary search stopped before it.)
      if (shared < matched) return;
      const key = this.#key;
      const keyLen = this.#keyLen;
      const n = keyLen < targetLen ? keyLen : targetLen;
      let i = matched;
      while (i < n && key[i] === target[i]) i++;
      if (i === n ? keyLen >= targetLen : key[i]! > target[i]!) return;
      matched = i;
    }
  }

  /** Positions at the last entry whose key is <= `target`. */
  seekForPrev(target: Uint8Array): void {
    this.seek(target);
    if (!this.valid()) this.seekToLast();
    else if (this.compareKey(target) > 0) this.prev();
  }

  /** Moves to the next entry. REQUIRES: valid(). */
  next(): void {
    assert(this.valid(), "block iterator is valid");
    this.#parseNext();
  }

  /** Moves to the previous entry. REQUIRES: valid(). */
  prev(): void {
    assert(this.valid(), "block iterator is valid");
    const original = this.#current;
    const restarts = this.#restarts;
    while (restarts[this.#restartIndex]! >= original) {
      if (this.#restartIndex === 0) return this.#invalidate();
      this.#restartIndex--;
    }
    this.#seekToRestart(this.#restartIndex);
    while (this.#parseNext() && this.#next < original) {
      // Scan to the entry just before the original one.
    }
  }

  #invalidate(): void {
    this.#current = this.#end;
    this.#next = this.#end;
    this.#restartIndex = this.#restarts.length;
    this.#keyLen = 0;
    this.#entry = undefined;
  }

  /** Replaces the key buffer with one of at least `keyLen` bytes, keeping `shared` bytes. */
  #growKey(keyLen: number, shared: number): void {
    const grown = allocKeyBuffer(Math.max(keyLen, this.#key.length * 2));
    grown.bytes.set(this.#key.subarray(0, shared));
    this.#key = grown.bytes;
    this.#keyWords = grown.words;
  }

  #seekToRestart(index: number): void {
    this.#keyLen = 0;
    this.#restartIndex = index;
    this.#next = this.#restarts[index]!;
  }

  /** Decodes the entry at `#next`; false (and invalid) at the end of the block. */
  #parseNext(): boolean {
    const data = this.#data;
    const end = this.#end;
    let p = this.#next;
    this.#entry = undefined;
    if (p >= end) {
      this.#invalidate();
      return false;
    }
    this.#current = p;
    let shared = data[p]!;
    if (shared < 0x80) p++;
    else {
      shared = readVarint(data, p, end);
      if (shared < 0) throw this.#block.corrupt(`bad shared length at ${p}`);
      p = varintEnd;
    }
    let unshared = p < end ? data[p]! : 0xff;
    if (unshared < 0x80) p++;
    else {
      unshared = readVarint(data, p, end);
      if (unshared < 0) throw this.#block.corrupt(`bad key length at ${p}`);
      p = varintEnd;
    }
    let valueLen = p < end ? data[p]! : 0xff;
    if (valueLen < 0x80) p++;
    else {
      valueLen = readVarint(data, p, end);
      if (valueLen < 0) throw this.#block.corrupt(`bad value length at ${p}`);
      p = varintEnd;
    }
    if (shared > this.#keyLen) {
      throw this.#block.corrupt(`entry at ${this.#current} shares more than the previous key`);
    }
    if (unshared > end - p) throw this.#block.corrupt(`key at ${p} overruns the block`);
    const keyLen = shared + unshared;
    if (keyLen > this.#key.length) this.#growKey(keyLen, shared);
    const kb = this.#key;
    if (unshared <= 32) {
      for (let i = 0; i < unshared; i++) kb[shared + i] = data[p + i]!;
    } else {
      kb.set(data.subarray(p, p + unshared), shared);
    }
    p += unshared;
    this.#keyLen = keyLen;
    this.#shared = shared;
    // seq and expireAtMs are only skipped here; `entry()` decodes them for the entry it
    // returns, which keeps seeks over non-matching entries cheap.
    this.#metaOffset = p;
    const seqStart = p;
    while (p < end && data[p]! >= 0x80 && p - seqStart < 8) p++;
    if (p >= end || data[p]! >= 0x80) throw this.#block.corrupt(`bad sequence number at ${p}`);
    p++;
    const kind = p < end ? data[p]! : 0xff;
    if (kind > KIND_META) throw this.#block.corrupt(`bad entry kind ${kind} at ${p}`);
    p++;
    const expireStart = p;
    while (p < end && data[p]! >= 0x80 && p - expireStart < 8) p++;
    if (p >= end || data[p]! >= 0x80) throw this.#block.corrupt(`bad expiry at ${p}`);
    p++;
    if (valueLen > end - p) throw this.#block.corrupt(`value at ${p} overruns the block`);
    this.#expireOffset = expireStart;
    this.#kind = kind as EntryKind;
    this.#valueOffset = p;
    this.#valueLen = valueLen;
    this.#next = p + valueLen;
    const restarts = this.#restarts;
    while (
      this.#restartIndex + 1 < restarts.length &&
      restarts[this.#restartIndex + 1]! <= this.#current
    ) {
      this.#restartIndex++;
    }
    return true;
  }
}

/** A new iterator over `block`. */
export function blockIterator(block: Block): BlockIterator {
  const it = new BlockIterator();
  it.reset(block);
  return it;
}
