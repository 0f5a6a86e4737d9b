/**
 * A bounded cache of list ranges as encoded replies (ARCHITECTURE.md § "Member types", its
 * range cache paragraph): LRANGE of a range that was read before, with no write to the list
 * since, is answered from the bytes encoded then instead of a merged engine scan and a re-encoding.
 *
 * Invariants:
 * - A window is valid only for the exact state it was read from: it is tagged with the list's
 *   data version and the engine sequence of the metadata record it was read under. Every write
 *   to a list's items rewrites that record in the same batch (§ "Member types"), on a leader,
 *   a replica or the hub alike, so any write gives the record a new sequence and the window no
 *   longer matches: no write path has to invalidate anything, and none can be missed.
 * - A sequence names one write only within one history: when the database's history changes
 *   (a replica installing a forked leader's snapshot) every window is dropped.
 * - Staged records of a transaction have no sequence (`seq < 0`): never cached, never matched.
 * - At most `TYPES_LIST_CACHE_BYTES_MAX` bytes in all, each window at most
 *   `TYPES_LIST_CACHE_WINDOW_BYTES_MAX`; eviction is CLOCK (a window read since the sweep last
 *   passed it is kept once more), an approximation of least recently used.
 *
 * @module
 */

import type { Database } from "../engine/mod.ts";
import { TYPES_LIST_CACHE_BYTES_MAX, TYPES_LIST_CACHE_WINDOW_BYTES_MAX } from "../limits.ts";
import { equalBytes } from "../util/bytes.ts";

/** Bytes a window costs beyond its encoded bytes and offsets (objects, map slot). */
const WINDOW_OVERHEAD_BYTES = 128;

/** A contiguous run of items of one list, encoded. */
interface Window {
  /** Sequence of the list's metadata record the items were read under. */
  seq: number;
  /** Absolute index (`head` based) of the first item. */
  from: number;
  /** The items' encodings back to back. */
  bytes: Uint8Array;
  /** Where item `from + i` starts in `bytes`; one more entry: the end. */
  offsets: Uint32Array;
  /** What the window counts against the cache's limit. */
  cost: number;
  /** Read since the eviction sweep last passed it (a second chance: CLOCK). */
  used: boolean;
}

/** The windows of one database, by data version (one window per list). */
export class ListRangeCache {
  readonly #db: Database;
  /** Insertion order, with a used bit per window: eviction gives used windows a second chance. */
  readonly #windows = new Map<number, Window>();
  #bytes = 0;
  #historyId: Uint8Array | undefined;
  /** Lookups answered (INFO-free counters for tests and benchmarks). */
  hits = 0;
  /** Lookups not answered. */
  misses = 0;

  /** An empty cache over `db`. */
  constructor(db: Database) {
    this.#db = db;
  }

  /** Bytes the cache holds now (encoded items, offsets, per-window overhead). */
  get bytes(): number {
    return this.#bytes;
  }

  /** Number of windows held. */
  get size(): number {
    return this.#windows.size;
  }

  /**
   * The encoded items at absolute indexes `[from, to]` of the list with data `version` whose
   * metadata record has sequence `seq`, when a window holds them all; else `undefined`.
   */
  lookup(version: number, seq: number, from: number, to: number): Uint8Array | undefined {
    const w = this.#windows.get(version);
    if (
      w === undefined || seq < 0 || w.seq !== seq || from < w.from ||
      to - w.from + 1 >= w.offsets.length || !this.#sameHistory()
    ) {
      this.misses++;
      return undefined;
    }
    // Marked, not moved: reordering a Map on every read costs allocations.
    w.used = true;
    this.hits++;
    return w.bytes.subarray(w.offsets[from - w.from]!, w.offsets[to - w.from + 1]!);
  }

  /**
   * Keeps the items at absolute indexes `from …` (encoded in `bytes`, item `i` starting at
   * `offsets[i]`, `offsets` one longer than the item count) as the window of `version` read
   * under metadata sequence `seq`, replacing the version's old window. `bytes` must never be
   * changed afterwards. Too big a window (or a staged record) is not kept.
   */
  store(version: number, seq: number, from: number, bytes: Uint8Array, offsets: Uint32Array): void {
    const old = this.#windows.get(version);
    if (old !== undefined) {
      this.#windows.delete(version);
      this.#bytes -= old.cost;
    }
    const cost = bytes.length + offsets.byteLength + WINDOW_OVERHEAD_BYTES;
    if (seq < 0 || cost > TYPES_LIST_CACHE_WINDOW_BYTES_MAX) return;
    this.#sameHistory();
    this.#windows.set(version, { seq, from, bytes, offsets, cost, used: false });
    this.#bytes += cost;
    // CLOCK: from the oldest, a used window (or the one just stored) loses its mark and goes
    // to the back, an unused one is dropped. A pass clears every mark, so this ends; the new
    // window is never the one dropped (it alone fits: `TYPES_LIST_CACHE_WINDOW_BYTES_MAX`).
    while (this.#bytes > TYPES_LIST_CACHE_BYTES_MAX) {
      const [v, w] = this.#windows.entries().next().value!;
      this.#windows.delete(v);
      if (w.used || v === version) {
        w.used = false;
        this.#windows.set(v, w);
      } else this.#bytes -= w.cost;
    }
  }

  /** Drops every window. */
  clear(): void {
    this.#windows.clear();
    this.#bytes = 0;
  }

  /** False (and the cache emptied) when the database's history changed since the last call. */
  #sameHistory(): boolean {
    const id = this.#db.history.historyId;
    const known = this.#historyId;
    if (known !== undefined && equalBytes(known, id)) return true;
    if (known !== undefined) this.clear();
    this.#historyId = id.slice();
    return known === undefined;
  }
}

const caches = new WeakMap<Database, ListRangeCache>();

/** The range cache of `db` (one per database object, made on first use). */
export function listRangeCache(db: Database): ListRangeCache {
  let cache = caches.get(db);
  if (cache === undefined) {
    cache = new ListRangeCache(db);
    caches.set(db, cache);
  }
  return cache;
}
