/**
 * Block builder: entries appended in ascending key order, prefix-compressed against the previous
 * key, with a restart point every `BLOCK_RESTART_INTERVAL` entries (LevelDB's
 * `table/block_builder.cc`). The layout and invariants are in block.ts and ARCHITECTURE.md
 * § "Data block"; block.ts decodes what this writes.
 *
 * @module
 */

import { BLOCK_RESTART_INTERVAL } from "../limits.ts";
import { assert } from "../util/assert.ts";
import { compareRange } from "../util/bytes.ts";
import { putVarint } from "../util/coding.ts";
import type { EntryKind } from "../util/entry.ts";

/** Most bytes the fixed part of one entry takes: three varints, seq, kind and expiry. */
const ENTRY_HEADER_BYTES_MAX = 3 * 8 + 8 + 1 + 8;

/** Builds one block in memory. Reusable through `reset`. */
export class BlockBuilder {
  #buf = new Uint8Array(4096);
  #len = 0;
  #restarts: number[] = [];
  #counter = 0;
  #entries = 0;
  #lastKey = new Uint8Array(64);
  #lastKeyLen = 0;
  #finished = false;
  readonly #restartInterval: number;

  /** Creates an empty builder; `restartInterval` keys share one restart point. */
  constructor(options: { restartInterval?: number } = {}) {
    this.#restartInterval = options.restartInterval ?? BLOCK_RESTART_INTERVAL;
    assert(this.#restartInterval >= 1, "restart interval is at least 1");
  }

  /** Entries added since the last reset. */
  get entries(): number {
    return this.#entries;
  }

  /** Size of the block if it were finished now. */
  get estimatedSizeBytes(): number {
    return this.#len + this.#restarts.length * 4 + 4;
  }

  /** The last key added; a view valid until the next `add` or `reset`. */
  lastKey(): Uint8Array {
    return this.#lastKey.subarray(0, this.#lastKeyLen);
  }

  /** Appends an entry. REQUIRES: key > lastKey. */
  add(
    key: Uint8Array,
    seq: number,
    kind: EntryKind,
    expireAtMs: number,
    value: Uint8Array,
  ): void {
    assert(!this.#finished, "block builder is not finished");
    // REQUIRES: key > lastKey
    assert(
      this.#entries === 0 || compareRange(this.#lastKey, 0, this.#lastKeyLen, key) < 0,
      "block keys are strictly ascending",
    );
    let shared = 0;
    if (this.#entries > 0 && this.#counter < this.#restartInterval) {
      const last = this.#lastKey;
      const n = this.#lastKeyLen < key.length ? this.#lastKeyLen : key.length;
      while (shared < n && last[shared] === key[shared]) shared++;
    } else {
      this.#restarts.push(this.#len);
      this.#counter = 0;
    }
    const unshared = key.length - shared;
    this.#reserve(ENTRY_HEADER_BYTES_MAX + unshared + value.length);
    const buf = this.#buf;
    let p = this.#len;
    p = putVarint(buf, p, shared);
    p = putVarint(buf, p, unshared);
    p = putVarint(buf, p, value.length);
    buf.set(key.subarray(shared), p);
    p += unshared;
    p = putVarint(buf, p, seq);
    buf[p++] = kind;
    p = putVarint(buf, p, expireAtMs);
    buf.set(value, p);
    p += value.length;
    this.#len = p;
    if (key.length > this.#lastKey.length) {
      this.#lastKey = new Uint8Array(Math.max(key.length, this.#lastKey.length * 2));
    }
    this.#lastKey.set(key);
    this.#lastKeyLen = key.length;
    this.#counter++;
    this.#entries++;
  }

  /** Appends the restart array; returns the block, a view valid until `reset`. */
  finish(): Uint8Array {
    assert(!this.#finished, "block builder finishes once");
    const count = this.#restarts.length;
    this.#reserve(count * 4 + 4);
    const buf = this.#buf;
    let p = this.#len;
    for (const r of this.#restarts) {
      buf[p++] = r & 0xff;
      buf[p++] = (r >>> 8) & 0xff;
      buf[p++] = (r >>> 16) & 0xff;
      buf[p++] = (r >>> 24) & 0xff;
    }
    buf[p++] = count & 0xff;
    buf[p++] = (count >>> 8) & 0xff;
    buf[p++] = (count >>> 16) & 0xff;
    buf[p++] = (count >>> 24) & 0xff;
    this.#finished = true;
    return buf.subarray(0, p);
  }

  /** Empties the builder for the next block. */
  reset(): void {
    this.#len = 0;
    this.#restarts = [];
    this.#counter = 0;
    this.#entries = 0;
    this.#lastKeyLen = 0;
    this.#finished = false;
  }

  #reserve(extra: number): void {
    const need = this.#len + extra;
    if (need <= this.#buf.length) return;
    const grown = new Uint8Array(Math.max(need, this.#buf.length * 2));
    grown.set(this.#buf.subarray(0, this.#len));
    this.#buf = grown;
  }
}
