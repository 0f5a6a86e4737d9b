/**
 * The unit every layer stores: one version of one key. The WAL logs batches of operations, the
 * memtable keeps the newest entry per key, SSTables store entries in key order (one per key
 * per table), and merges pick the entry with the highest sequence number.
 *
 * @module
 */

/** A tombstone: the key is deleted as of `seq`. On disk: never renumber. */
export const KIND_DELETE = 0;
/** A value, optionally with an expiry time. On disk: never renumber. */
export const KIND_PUT = 1;

/** The entry kinds. */
export type EntryKind = typeof KIND_DELETE | typeof KIND_PUT;

/** One version of one key. */
export interface Entry {
  /** The user key. */
  key: Uint8Array;
  /** Sequence number of the write that produced this version (≥ 1). */
  seq: number;
  /** `KIND_PUT` or `KIND_DELETE`. */
  kind: EntryKind;
  /** Expiry as Unix milliseconds; 0 means never. Always 0 for tombstones. */
  expireAtMs: number;
  /** The value; empty for tombstones. */
  value: Uint8Array;
}

/** True when `entry` is a tombstone or has expired at `nowMs`. */
export function isDeadAt(entry: Entry, nowMs: number): boolean {
  return entry.kind === KIND_DELETE || (entry.expireAtMs !== 0 && entry.expireAtMs <= nowMs);
}

/**
 * A bidirectional cursor over entries in ascending unsigned-byte key order, as LevelDB's
 * `Iterator`. Each source (memtable, SSTable, merge) implements it. After any positioning
 * call, `valid()` tells whether `entry()` may be called.
 */
export interface EntryIterator {
  /** True when positioned at an entry. */
  valid(): boolean;
  /** The current entry. REQUIRES: valid(). */
  entry(): Entry;
  /** Positions at the first entry. */
  seekToFirst(): void;
  /** Positions at the last entry. */
  seekToLast(): void;
  /** Positions at the first entry whose key is ≥ `target`. */
  seek(target: Uint8Array): void;
  /** Positions at the last entry whose key is ≤ `target`. */
  seekForPrev(target: Uint8Array): void;
  /** Moves to the next entry. REQUIRES: valid(). */
  next(): void;
  /** Moves to the previous entry. REQUIRES: valid(). */
  prev(): void;
}
