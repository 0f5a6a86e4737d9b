/**
 * How a hub applies what a site sends, live (RECORDS) or from a sneakernet file, and from a
 * snapshot (the edge's SSTables). ARCHITECTURE.md § "Applying at the hub".
 *
 * - Every op keeps its kind and expiry; its key gets the site's prefix (`S/k`).
 * - The site's position (`ff 10 S` → edge id, last edge sequence applied) is written in the
 *   same atomic batch as the last op it covers, so after any crash position and data agree:
 *   a record is applied exactly once, whatever is re-sent.
 * - Ops at or below the position are skipped (a re-sent or straddling record).
 * - An edge batch is one hub batch unless it cannot carry the prefixes and the position within
 *   the engine's batch limits; then it is cut in pieces and only the last carries the
 *   position (a crash between pieces re-applies the record whole: puts and deletes are
 *   idempotent).
 * - A key that cannot carry the prefix (edge key within `prefix` bytes of the engine's key
 *   limit) is dropped, counted and logged: it would otherwise stop the site for good.
 *
 * @module
 */

import type { Database, WriteOp } from "../engine/mod.ts";
import { MergeIterator } from "../compaction/mod.ts";
import type { Table } from "../sstable/mod.ts";
import { type Entry, isDeadAt, KIND_META, KIND_PUT } from "../util/entry.ts";
import type { Logger } from "../util/log.ts";
import { BATCH_OPS_MAX, BATCH_SIZE_BYTES_MAX } from "../limits.ts";
import type { TimeSeriesStore } from "../timeseries/mod.ts";
import type { CheckedRecord } from "./frames.ts";
import { type HubRetention, isSeriesEntry, SiteSeries } from "./hub_series.ts";
import { isMemberEntry, SiteMembers } from "./hub_members.ts";
import { VersionAllocator } from "../keyspace/mod.ts";
import {
  decodePosition,
  encodePosition,
  POSITION_VALUE_BYTES,
  positionFor,
  positionKey,
  siteKey,
  sitePrefix,
} from "./namespace.ts";

/** Batches a hub writes for a snapshot before it waits for them to be durable. */
const SNAPSHOT_BATCHES_IN_FLIGHT = 4;

/**
 * Writes on behalf of sites: the hub's write guard lets through only what goes through
 * `write` (the flag is set for the synchronous part of `Database.write`, where the guard runs).
 */
export class TrustedWriter {
  #depth = 0;

  /** True while a trusted write is being validated. */
  get active(): boolean {
    return this.#depth > 0;
  }

  /** `db.write(ops)` past the site-namespace guard. */
  write(db: Database, ops: readonly WriteOp[]): Promise<void> {
    this.#depth++;
    try {
      return db.write(ops);
    } finally {
      this.#depth--;
    }
  }
}

/** What one apply did. */
export interface ApplyResult {
  /** Resolves when every batch is durable (fdatasync'ed) on the hub. */
  durable: Promise<void>;
  /** Ops written. */
  applied: number;
  /** Ops skipped because they were at or below the position. */
  skipped: number;
  /** Ops dropped because their key could not carry the site's prefix. */
  dropped: number;
  /** The site's position once `durable` resolves. */
  position: number;
}

/** Applies one site's data to a hub database. */
export class SiteApplier {
  readonly site: string;
  readonly #db: Database;
  readonly #writer: TrustedWriter;
  readonly #log: Logger;
  readonly #prefix: Uint8Array;
  readonly #positionKey: Uint8Array;
  /** Position as written (maybe not durable yet), per edge id it was written for. */
  #written: { edgeId: Uint8Array; seq: number } | undefined;
  /** The site's series, replayed into the hub's store (none: series ops are dropped). */
  readonly #series: SiteSeries | undefined;
  /** The site's hashes, sets, sorted sets and lists, under hub versions. */
  readonly #members: SiteMembers;

  constructor(
    db: Database,
    site: string,
    writer: TrustedWriter,
    log: Logger,
    store?: TimeSeriesStore,
    retention: HubRetention = 0,
  ) {
    this.#db = db;
    this.site = site;
    this.#writer = writer;
    this.#log = log;
    this.#prefix = sitePrefix(site);
    this.#positionKey = positionKey(site);
    this.#series = store === undefined ? undefined : new SiteSeries(
      db,
      store,
      site,
      this.#prefix,
      (ops) => writer.write(db, ops),
      log,
      retention,
    );
    // The database's one allocator (the store's): two would hand out the same version.
    this.#members = new SiteMembers(
      db,
      store?.versions ?? new VersionAllocator(db),
      site,
      this.#prefix,
    );
  }

  /** The position recorded for edge `edgeId` (written, durable or about to be), 0 when none. */
  position(edgeId: Uint8Array): number {
    const entry = this.#db.getEntry(this.#positionKey);
    const stored = entry === undefined ? undefined : decodePosition(entry.value);
    return positionFor(stored, edgeId);
  }

  #positionOp(edgeId: Uint8Array, seq: number): WriteOp {
    return { type: "put", key: this.#positionKey, value: encodePosition({ edgeId, seq }) };
  }

  /**
   * Applies checked records of edge `edgeId`, skipping ops at or below its position. The
   * batches are written (visible) before this returns; `durable` resolves after the hub's
   * fdatasync.
   */
  apply(records: readonly CheckedRecord[], edgeId: Uint8Array): ApplyResult {
    this.#members.settle();
    const orphanedBefore = this.#members.counts.orphaned;
    let position = this.position(edgeId);
    const opsMax = BATCH_OPS_MAX - 1;
    const bytesMax = BATCH_SIZE_BYTES_MAX - this.#positionKey.length - POSITION_VALUE_BYTES;
    const pending: Promise<void>[] = [];
    let batch: WriteOp[] = [];
    let bytes = 0;
    let applied = 0;
    let skipped = 0;
    let dropped = 0;
    let complete = position;
    const flush = (withPosition: boolean) => {
      if (withPosition && complete > position) {
        batch.push(this.#positionOp(edgeId, complete));
        position = complete;
      }
      if (batch.length > 0) pending.push(this.#writer.write(this.#db, batch));
      batch = [];
      bytes = 0;
    };
    for (const record of records) {
      const last = record.seq + record.entries.length - 1;
      if (last <= position) {
        skipped += record.entries.length;
        continue;
      }
      if (record.samples !== undefined || record.entries.some(isSeriesEntry)) {
        // Series ops write through the hub's store, in order with the site's other ops.
        const series = this.#series;
        series?.beginRecord(record.entries.filter((e) => e.seq > position));
        for (const e of record.entries) {
          if (e.seq <= position) {
            skipped++;
            continue;
          }
          if (isMemberEntry(e)) {
            const ops = this.#members.apply(e);
            let opsBytes = 0;
            for (const op of ops) opsBytes += opBytesOf(op);
            if (batch.length + ops.length > opsMax || bytes + opsBytes > bytesMax) flush(false);
            batch.push(...ops);
            bytes += opsBytes;
            applied++;
            continue;
          }
          if (isSeriesEntry(e)) {
            if (series === undefined) {
              dropped++;
              continue;
            }
            flush(false);
            for (const op of series.apply(e)) batch.push(op);
            applied++;
            continue;
          }
          const key = siteKey(this.#prefix, e.key);
          if (key === undefined) {
            dropped++;
            continue;
          }
          const op = toOp(key, e);
          const opBytes = key.length + (e.kind === KIND_PUT ? e.value.length : 0);
          if (batch.length + 1 > opsMax || bytes + opBytes > bytesMax) flush(false);
          batch.push(op);
          bytes += opBytes;
          applied++;
        }
        if (record.samples !== undefined && series !== undefined) {
          flush(false);
          for (const s of record.samples) series.samples(s);
        }
        complete = last;
        continue;
      }
      const ops: WriteOp[] = [];
      let recordBytes = 0;
      for (const e of record.entries) {
        if (e.seq <= position) {
          skipped++;
          continue;
        }
        const key = siteKey(this.#prefix, e.key);
        if (key === undefined) {
          dropped++;
          continue;
        }
        ops.push(toOp(key, e));
        recordBytes += key.length + (e.kind === KIND_PUT ? e.value.length : 0);
      }
      if (batch.length + ops.length > opsMax || bytes + recordBytes > bytesMax) flush(true);
      if (ops.length > opsMax || recordBytes > bytesMax) {
        // One edge batch too large to carry its prefixes: pieces, the last with the position.
        for (const op of ops) {
          const opBytes = op.key.length + (op.type === "put" ? op.value.length : 0);
          if (batch.length + 1 > opsMax || bytes + opBytes > bytesMax) flush(false);
          batch.push(op);
          bytes += opBytes;
        }
      } else {
        batch.push(...ops);
        bytes += recordBytes;
      }
      applied += ops.length;
      complete = last;
    }
    flush(true);
    this.#members.settle();
    const orphaned = this.#members.counts.orphaned - orphanedBefore;
    if (orphaned > 0) {
      // Never in silence: members written under an edge version whose creation never came.
      this.#log("warn", "left out members of a key the hub never saw created", {
        site: this.site,
        members: orphaned,
      });
    }
    if (dropped > 0) {
      this.#log("warn", "dropped ops whose key cannot carry the site prefix", {
        site: this.site,
        ops: dropped,
      });
    }
    this.#written = { edgeId, seq: position };
    if (this.#series !== undefined) pending.push(...this.#series.takePending());
    return { durable: this.#durable(pending), applied, skipped, dropped, position };
  }

  /** All of `pending`, then an fdatasync when the hub's sync mode did not do one. */
  async #durable(pending: Promise<void>[]): Promise<void> {
    await Promise.all(pending);
    const target = this.#db.lastSeq;
    if (this.#db.durableSeq < target) await this.#db.sync();
  }

  /** Deletes every key of the site (before a snapshot replaces them). */
  async clear(): Promise<number> {
    let batch: WriteOp[] = [];
    let bytes = 0;
    let deleted = 0;
    const pending: Promise<void>[] = [];
    for await (const [key] of this.#db.scan({ prefix: this.#prefix })) {
      if (batch.length >= BATCH_OPS_MAX || bytes + key.length > BATCH_SIZE_BYTES_MAX) {
        pending.push(this.#writer.write(this.#db, batch));
        batch = [];
        bytes = 0;
        if (pending.length >= SNAPSHOT_BATCHES_IN_FLIGHT) await Promise.all(pending.splice(0));
      }
      batch.push({ type: "delete", key });
      bytes += key.length;
      deleted++;
    }
    // The hub's garbage sweep frees the members of the versions these keys held.
    for await (const [key] of this.#db.scan({ prefix: this.#members.mapPrefix })) {
      if (batch.length >= BATCH_OPS_MAX) {
        pending.push(this.#writer.write(this.#db, batch));
        batch = [];
      }
      batch.push({ type: "delete", key });
    }
    if (batch.length > 0) pending.push(this.#writer.write(this.#db, batch));
    await Promise.all(pending);
    this.#members.settle();
    await this.#series?.clearMap();
    return deleted;
  }

  /**
   * Replaces the site's data with a snapshot: the live entries of the edge's checkpoint
   * tables (newest version per key; tombstones and expired entries left out), then the
   * position `seq`. Resolves when durable.
   */
  async applySnapshot(
    tables: readonly Table[],
    edgeId: Uint8Array,
    seq: number,
  ): Promise<{ keys: number; dropped: number }> {
    await this.clear();
    const merged = new MergeIterator(tables.map((t) => t.iterator()));
    merged.seekToFirst();
    const now = Date.now();
    let batch: WriteOp[] = [];
    let bytes = 0;
    let keys = 0;
    let dropped = 0;
    const pending: Promise<void>[] = [];
    // Bounded by the tables' entries: each pass moves the iterator.
    const versions = new Map<number, Uint8Array>();
    for (; merged.valid(); merged.next()) {
      const e = merged.entry();
      if (isDeadAt(e, now)) continue;
      if (isMemberEntry(e)) {
        const ops = this.#members.apply(e, true);
        let opsBytes = 0;
        for (const op of ops) opsBytes += opBytesOf(op);
        if (
          batch.length + ops.length + 1 > BATCH_OPS_MAX ||
          bytes + opsBytes + 64 > BATCH_SIZE_BYTES_MAX
        ) {
          pending.push(this.#writer.write(this.#db, batch));
          batch = [];
          bytes = 0;
          if (pending.length >= SNAPSHOT_BATCHES_IN_FLIGHT) await Promise.all(pending.splice(0));
        }
        batch.push(...ops);
        bytes += opsBytes;
        if (e.kind === KIND_META) keys++;
        continue;
      }
      if (isSeriesEntry(e)) {
        if (this.#series === undefined) continue;
        // The store's writes follow the batch so far (a series' key may be in it).
        if (batch.length > 0) pending.push(this.#writer.write(this.#db, batch));
        batch = [];
        bytes = 0;
        batch.push(...this.#series.snapshotEntry(e, versions));
        pending.push(...this.#series.takePending());
        if (pending.length >= SNAPSHOT_BATCHES_IN_FLIGHT) await Promise.all(pending.splice(0));
        keys++;
        continue;
      }
      const key = siteKey(this.#prefix, e.key);
      if (key === undefined) {
        dropped++;
        continue;
      }
      const opBytes = key.length + e.value.length;
      if (batch.length + 2 > BATCH_OPS_MAX || bytes + opBytes + 64 > BATCH_SIZE_BYTES_MAX) {
        pending.push(this.#writer.write(this.#db, batch));
        batch = [];
        bytes = 0;
        if (pending.length >= SNAPSHOT_BATCHES_IN_FLIGHT) await Promise.all(pending.splice(0));
      }
      batch.push(toOp(key, e));
      bytes += opBytes;
      keys++;
    }
    batch.push(this.#positionOp(edgeId, seq));
    pending.push(this.#writer.write(this.#db, batch));
    this.#members.settle();
    this.#written = { edgeId, seq };
    await this.#durable(pending);
    if (dropped > 0) {
      this.#log("warn", "dropped snapshot keys that cannot carry the site prefix", {
        site: this.site,
        keys: dropped,
      });
    }
    return { keys, dropped };
  }

  /** The newest position written by this applier (durable or not), if any. */
  get written(): { edgeId: Uint8Array; seq: number } | undefined {
    return this.#written;
  }
}

function toOp(key: Uint8Array, e: Entry): WriteOp {
  if (e.kind !== KIND_PUT) return { type: "delete", key };
  return e.expireAtMs === 0
    ? { type: "put", key, value: e.value }
    : { type: "put", key, value: e.value, expireAtMs: e.expireAtMs };
}

/** The bytes an op adds to a batch (key and value), for the batch limits. */
function opBytesOf(op: WriteOp): number {
  const key = op.key as Uint8Array;
  return key.length +
    (op.type === "put" || op.type === "meta" ? (op.value as Uint8Array).length : 0);
}
