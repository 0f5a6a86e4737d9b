/**
 * The unit every layer stores: one version of one key. The WAL logs batches of operations, the
 * memtable keeps the newest entry per key, SSTables store entries in key order (one per key
 * per table), and merges pick the entry with the highest sequence number.
 *
 * @module
 */

import { compareBytes } from "./bytes.ts";

/** A tombstone: the key is deleted as of `seq`. On disk: never renumber. */
export const KIND_DELETE = 0;
/** A value, optionally with an expiry time. On disk: never renumber. */
export const KIND_PUT = 1;
/**
 * The metadata record of a key that is not a string (a time series; later hashes, lists ...):
 * stored, ordered, expired and deleted like a PUT, but its value starts with a type byte (see
 * ARCHITECTURE.md § "Keyspace"), so one lookup answers TYPE and WRONGTYPE. On disk: never
 * renumber.
 */
export const KIND_META = 2;
/**
 * A log-only operation: written to the WAL in its batch (same group commit, same sequence
 * numbering), shipped to replicas, replayed at open to the layer that wrote it, but never
 * applied to a memtable or stored in an SSTable (ARCHITECTURE.md § "Log operations").
 * On disk: never renumber.
 */
export const KIND_LOG = 3;

/** The entry kinds. */
export type EntryKind = typeof KIND_DELETE | typeof KIND_PUT | typeof KIND_META | typeof KIND_LOG;

/** One version of one key. */
export interface Entry {
  /** The user key. */
  key: Uint8Array;
  /** Sequence number of the write that produced this version (>= 1). */
  seq: number;
  /** `KIND_PUT`, `KIND_META` or `KIND_DELETE` (`KIND_LOG` only in decoded WAL batches). */
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
  /** Positions at the first entry whose key is >= `target`. */
  seek(target: Uint8Array): void;
  /** Positions at the last entry whose key is <= `target`. */
  seekForPrev(target: Uint8Array): void;
  /** Moves to the next entry. REQUIRES: valid(). */
  next(): void;
  /** Moves to the previous entry. REQUIRES: valid(). */
  prev(): void;
  /**
   * Optional bulk forward read, the scan's hot path: from the current entry on, appends the
   * `[key, value]` of each live entry (not `isDeadAt(entry, nowMs)`) to `out` (at
   * `out.pairs[out.count]`, counting up), and stops at the first entry whose key is >= `stop`
   * (when given) or when `out` holds `max` pairs, leaving
   * the iterator there (or invalid at the end). Returns how many entries it moved past, live or
   * not. Keys and values are what `entry()` hands out, which the engine's sources never rewrite
   * (a block's keys are copies, a memtable's its own). An iterator that lacks it is driven
   * through `collectLiveFrom`.
   */
  collectLive?(
    out: PairBuffer,
    max: number,
    stop: Uint8Array | undefined,
    nowMs: number,
  ): number;
}

/**
 * Where `EntryIterator.collectLive` appends: the pairs are `pairs[0, count)`. A scan reuses one
 * buffer for every chunk and resets only `count`: setting an array's `length` to 0 makes V8
 * drop its backing store, so refilling 256 slots grew a fresh one five times per chunk, each a
 * copy and an allocation. Slots at `count` and past it may hold stale pairs (overwritten).
 */
export interface PairBuffer {
  /** The pairs, `[0, count)` of them valid. */
  pairs: [Uint8Array, Uint8Array][];
  /** How many pairs `pairs` holds. */
  count: number;
}

/**
 * `EntryIterator.collectLive` through `entry()` and `next()`, for iterators without their own:
 * the same contract, for any iterator.
 */
export function collectLiveFrom(
  it: EntryIterator,
  out: PairBuffer,
  max: number,
  stop: Uint8Array | undefined,
  nowMs: number,
): number {
  let moved = 0;
  while (out.count < max && it.valid()) {
    const e = it.entry();
    if (stop !== undefined && compareBytes(e.key, stop) >= 0) break;
    if (!isDeadAt(e, nowMs)) out.pairs[out.count++] = [e.key, e.value];
    it.next();
    moved++;
  }
  return moved;
}
