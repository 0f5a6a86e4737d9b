/**
 * Compaction filters: functions a layer registers to keep, drop or rewrite each live entry a
 * compaction writes (RocksDB's CompactionFilter). TTL expiry is the first, built in; the
 * time-series layer and the Redis types register theirs. ARCHITECTURE.md § "Compaction
 * filters".
 *
 * A filter sees the newest version of each key among the compaction's inputs, and only live
 * ones (never a tombstone, never an expired entry). What it drops stays readable until the
 * compaction that drops it commits: filters express garbage, not deletes a reader must see at
 * once. A drop becomes a tombstone when an older table may still hold the key, so that no
 * older version comes back.
 *
 * @module
 */

import { EXPIRE_AT_MS_MAX, VALUE_SIZE_BYTES_MAX } from "../limits.ts";
import { assert } from "../util/assert.ts";
import { KIND_DELETE } from "../util/entry.ts";
import type { Entry } from "../util/entry.ts";

/** What a filter sees besides the entry. */
export interface CompactionFilterContext {
  /** The clock of this compaction (Unix milliseconds), the same for every entry. */
  nowMs: number;
  /** Level the compaction writes to. */
  outputLevel: number;
  /** True when no older table may hold any of the compaction's keys (a full compaction). */
  bottommost: boolean;
}

/**
 * A filter's decision: `"keep"` (or `undefined`), `"drop"`, or a rewrite of the value and,
 * optionally, the expiry (same key, sequence and kind).
 */
export type CompactionFilterDecision =
  | "keep"
  | "drop"
  | undefined
  | { value: Uint8Array; expireAtMs?: number };

/** A registered compaction filter. */
export interface CompactionFilter {
  /** Name in logs and stats (`ttl`, `timeseries`, ...). */
  name: string;
  /** When set, the filter sees only keys starting with these bytes. */
  prefix?: Uint8Array;
  /**
   * Decides the fate of one live entry. Must be a pure function of its arguments and
   * synchronous; throwing fails the whole compaction (its old tables stay) and is counted.
   */
  filter(entry: Readonly<Entry>, context: CompactionFilterContext): CompactionFilterDecision;
}

/** The built-in filter: an entry whose expiry has passed is dropped. */
export const TTL_FILTER: CompactionFilter = {
  name: "ttl",
  filter: (entry, context) =>
    entry.expireAtMs !== 0 && entry.expireAtMs <= context.nowMs ? "drop" : "keep",
};

/** Raised when a filter throws: names the filter and the key (as hex, shortened). */
export class CompactionFilterError extends Error {
  /** Name of the filter that threw. */
  readonly filterName: string;

  /** Wraps `cause`, thrown by filter `filterName` on `key`. */
  constructor(filterName: string, key: Uint8Array, cause: unknown) {
    const hex = Array.from(key.subarray(0, 32), (b) => b.toString(16).padStart(2, "0")).join("");
    const reason = cause instanceof Error ? cause.message : String(cause);
    super(
      `Compaction filter ${filterName} failed on key 0x${hex}${
        key.length > 32 ? "\u2026" : ""
      }: ${reason}`,
      { cause },
    );
    this.name = "CompactionFilterError";
    this.filterName = filterName;
  }
}

/** The filters of one database, in registration order after the built-in TTL filter. */
export class CompactionFilters {
  #filters: CompactionFilter[] = [TTL_FILTER];

  /**
   * Adds `filter` after the ones registered before it; returns a function that removes it.
   * Names must be unique.
   */
  register(filter: CompactionFilter): () => void {
    assert(typeof filter.filter === "function", "compaction filter without a function");
    if (this.#filters.some((f) => f.name === filter.name)) {
      throw new Error(`Compaction filter already registered: ${filter.name}`);
    }
    this.#filters = [...this.#filters, filter];
    return () => {
      this.#filters = this.#filters.filter((f) => f !== filter);
    };
  }

  /** Names of the registered filters, the built-in one first. */
  get names(): string[] {
    return this.#filters.map((f) => f.name);
  }

  /**
   * Runs the filters in order on live entry `e`: a drop ends the chain; a rewrite passes the
   * new entry on. Returns the entry to write, or `undefined` for a drop. A filter that throws
   * becomes a `CompactionFilterError`.
   */
  apply(e: Entry, context: CompactionFilterContext): Entry | undefined {
    assert(e.kind !== KIND_DELETE, "filters see live entries only");
    let current = e;
    for (const f of this.#filters) {
      if (f.prefix !== undefined && !hasPrefix(current.key, f.prefix)) continue;
      let d: CompactionFilterDecision;
      try {
        d = f.filter(current, context);
      } catch (err) {
        throw new CompactionFilterError(f.name, e.key, err);
      }
      if (d === undefined || d === "keep") continue;
      if (d === "drop") return undefined;
      if (!(d.value instanceof Uint8Array) || d.value.length > VALUE_SIZE_BYTES_MAX) {
        throw new CompactionFilterError(
          f.name,
          e.key,
          new TypeError("rewrite without valid bytes"),
        );
      }
      if (
        d.expireAtMs !== undefined &&
        (!Number.isSafeInteger(d.expireAtMs) || d.expireAtMs < 0 ||
          d.expireAtMs > EXPIRE_AT_MS_MAX)
      ) {
        throw new CompactionFilterError(
          f.name,
          e.key,
          new RangeError(`invalid expiry ${d.expireAtMs}`),
        );
      }
      current = {
        key: current.key,
        seq: current.seq,
        kind: current.kind,
        expireAtMs: d.expireAtMs ?? current.expireAtMs,
        value: d.value,
      };
    }
    return current;
  }
}

function hasPrefix(key: Uint8Array, prefix: Uint8Array): boolean {
  if (key.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (key[i] !== prefix[i]) return false;
  return true;
}
