/**
 * TS.MADD's memo of series lookups (ARCHITECTURE.md § "Time-series write path", its lookup
 * memo paragraph). Every TS.MADD looks up each of its keys in the engine (is it still a
 * series, which one): 20 memtable searches per command of the ingest bench, each with its
 * views and row object (a fifth of what the command allocated). The memo answers a key again
 * without the engine while nothing but the time-series layer's own log has been written since
 * the engine answered it.
 *
 * Invariants:
 * - An answer holds only while the database's `lastSeq` is the one the memo last saw, in the
 *   same history (`historyId`), or has moved only by time-series writes the memo was told of
 *   (`wrote`) whose ops all have internal keys (log ops, chunks, state records: `0xFF...`, never
 *   a user key, so never a series' metadata). Any other write, through any path (a command on
 *   the key, DEL, RENAME, expiry, replication, HTTP), moves `lastSeq` past what the memo knows:
 *   the next command forgets every answer.
 * - Only series answers are kept (not absences or errors), only for metadata without an
 *   expiry (time alone would end it), and only while the series is still the set's series
 *   of its version (`SeriesSet.byVersion`), with the same key bytes.
 * - A command's own new series (`Batch.createdAt`) are never answered from the memo.
 *
 * @module
 */

import type { WriteOp } from "../engine/mod.ts";
import { INTERNAL_KEY_PREFIX } from "../keyspace/mod.ts";
import { equalBytes } from "../util/bytes.ts";
import type { Batch } from "./batch.ts";
import { findSeries, seriesOfEntry, type StoreContext } from "./context.ts";
import type { Series } from "./series_set.ts";

/** The memo of one store (see the module's invariants). */
export class SeriesLookups {
  /** `lastSeq` the answers hold at; -1 before the first command. */
  #lastSeq = -1;
  #historyId: Uint8Array | undefined;
  /**
   * Series answered since `#lastSeq` last moved by another write, by the hash of their key
   * bytes (one per hash); emptied whenever it does.
   */
  readonly #byHash = new Map<number, Series>();

  /** Starts a command's lookups: forgets every answer when anything else was written. */
  begin(ctx: StoreContext): void {
    const db = ctx.db;
    const historyId = db.history.historyId;
    if (db.lastSeq === this.#lastSeq && historyId === this.#historyId) return;
    this.#lastSeq = db.lastSeq;
    this.#historyId = historyId;
    this.#byHash.clear();
  }

  /**
   * `findSeries(ctx, key, b)`, answered from the memo when it may be (`b` absent: a lookup
   * outside a batch, TS.ADD's). REQUIRES: `begin` was called for this command and nothing has
   * been written since but through `wrote`.
   */
  find(ctx: StoreContext, key: Uint8Array, b?: Batch): Series | undefined {
    if (b !== undefined && b.hasCreated) return findSeries(ctx, key, b);
    const hash = hashBytes(key);
    const known = this.#byHash.get(hash);
    if (
      known !== undefined && ctx.set.byVersion(known.version) === known &&
      equalBytes(known.key, key)
    ) {
      return known;
    }
    const e = ctx.db.getEntry(key);
    const series = seriesOfEntry(ctx, key, e);
    if (series !== undefined && e!.expireAtMs === 0) this.#byHash.set(hash, series);
    return series;
  }

  /**
   * The time-series layer wrote `ops` (the database's `lastSeq` went from `before` to
   * `after`): the memo's answers still hold when they held before and every op's key is
   * internal.
   */
  wrote(before: number, after: number, ops: readonly WriteOp[]): void {
    if (before !== this.#lastSeq || after === before) return;
    for (let i = 0; i < ops.length; i++) {
      const key = ops[i]!.key;
      if (!(key instanceof Uint8Array) || key[0] !== INTERNAL_KEY_PREFIX) return;
    }
    this.#lastSeq = after;
  }
}

/** FNV-1a (32 bits) of `key`, as an int32. */
function hashBytes(key: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key[i]!, 0x01000193);
  return h;
}
