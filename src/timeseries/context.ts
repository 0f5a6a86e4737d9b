/**
 * What the time-series operations (`series_ops.ts`, `rules.ts`, `query.ts`,
 * `maintenance.ts`) share: the store's wiring, series lookup by key, and the one way a command
 * writes (`run`: build a `Batch`, write it atomically, apply what must follow the write).
 *
 * @module
 */

import type { Database, ValueEntry, WriteOp } from "../engine/mod.ts";
import { ERR_WRONGTYPE, TYPE_TIMESERIES, type VersionAllocator } from "../keyspace/mod.ts";
import { ByteReader } from "../util/buffers.ts";
import { equalBytes } from "../util/bytes.ts";
import { KIND_META } from "../util/entry.ts";
import type { Logger } from "../util/log.ts";
import { Batch, type WrittenSample } from "./batch.ts";
import type { ChunkStore } from "./chunks.ts";
import { binaryString, type DuplicatePolicy } from "./meta.ts";
import { encodeSampleLog, ENTRY_META, TS_LOG_KEY } from "./log.ts";
import type { Series, SeriesSet } from "./series_set.ts";
import type { SeriesLookups } from "./series_lookups.ts";
import { TsError } from "./write.ts";

/**
 * Applies ops to the engine now (synchronously assigning their sequence numbers) and tracks
 * their durability: `db.write` itself, or a RESP context's `write` that holds the reply.
 */
export type Writer = (ops: WriteOp[]) => void | Promise<void>;

/** A command's result and when its writes are durable. */
export interface Written<T> {
  /** The result to answer. */
  value: T;
  /** Resolves when durable (at once when nothing was written or a custom writer tracks it). */
  durable: Promise<void>;
  /**
   * Keys of the rule destinations the command wrote a sample into (RedisTimeSeries announces
   * them as `ts.add:dest`); absent or empty when none.
   */
  ruleOutputs?: readonly Uint8Array[];
}

/** The `-READONLY` error of a replica. */
export const ERR_READONLY = "READONLY You can't write against a read only replica.";

/**
 * Hears of the samples commands write (the RESP server publishes them on `__ts__:<key>`).
 * `active()` is asked once per command: false means nothing is collected.
 */
export interface SampleListener {
  /** True when samples should be collected for the command about to run. */
  active(): boolean;
  /** Samples of series `key` one command wrote, in order, after the write was applied. */
  samples(key: Uint8Array, samples: readonly WrittenSample[]): void;
}

/** The shared state of the time-series layer. */
export interface StoreContext {
  readonly db: Database;
  readonly set: SeriesSet;
  readonly chunks: ChunkStore;
  readonly versions: VersionAllocator;
  readonly logger: Logger;
  /** Most series (`TS_SERIES_MAX` unless a test lowers it). */
  readonly seriesMax: number;
  /** Samples one query may collect (`TS_QUERY_SAMPLES_MAX` unless a test lowers it). */
  readonly querySamplesMax: number;
  /** Wall clock for `*` timestamps. */
  nowMs(): number;
  /** Who hears of written samples (none by default). */
  sampleListener: SampleListener | undefined;
  /** TS.MADD's memo of series lookups (`series_lookups.ts`). */
  readonly lookups: SeriesLookups;
}

/**
 * The series at `key`: undefined when the key is missing, `TsError` WRONGTYPE
 * (`ERR WRONGTYPE ...`, as RedisTimeSeries words it) when it holds another type. `batch` finds
 * series the running command created before its batch is written.
 */
export function findSeries(ctx: StoreContext, key: Uint8Array, batch?: Batch): Series | undefined {
  // Strings of the key only when needed: TS.MADD looks up every key of every command.
  const created = batch !== undefined && batch.hasCreated
    ? batch.createdAt(binaryString(key))
    : undefined;
  if (created) return created;
  return seriesOfEntry(ctx, key, ctx.db.getEntry(key));
}

/** `findSeries` once the engine answered `e` for `key` (a series the batch created aside). */
export function seriesOfEntry(
  ctx: StoreContext,
  key: Uint8Array,
  e: ValueEntry | undefined,
): Series | undefined {
  if (e === undefined) return undefined;
  if (e.kind !== KIND_META || e.value[0] !== TYPE_TIMESERIES) {
    throw new TsError(`ERR ${ERR_WRONGTYPE}`);
  }
  const version = versionOf(e.value);
  let s = ctx.set.byVersion(version);
  if (!s || s.metaSeq !== e.seq || !equalBytes(s.key, key)) {
    s = ctx.set.reload(ctx.db, version);
  }
  if (!s) {
    throw new TsError("ERR TSDB: internal error: the series' registry entry is missing");
  }
  return s;
}

/**
 * The series version of a metadata value: the varint after its type byte, read in place (a
 * `ByteReader` per lookup was an allocation per series per TS.ADD and TS.MADD).
 */
function versionOf(value: Uint8Array): number {
  let result = 0;
  let scale = 1;
  for (let i = 1; i < value.length && i <= 8; i++) {
    const b = value[i]!;
    result += (b & 0x7f) * scale;
    if (b < 0x80) {
      if (result > Number.MAX_SAFE_INTEGER) break;
      return result;
    }
    scale *= 128;
  }
  // Truncated, over-long or past 2^53 - 1: what `ByteReader.varint` says about it.
  return new ByteReader(value, 1).varint();
}

/** The series at `key`, or `ERR TSDB: the key does not exist`. */
export function getSeries(ctx: StoreContext, key: Uint8Array, batch?: Batch): Series {
  const s = findSeries(ctx, key, batch);
  if (!s) throw new TsError("ERR TSDB: the key does not exist");
  return s;
}

/**
 * Runs one command: `fn` fills a batch (applying its changes to memory as it goes); the batch
 * is then written as one atomic engine write through `write`, and the entries that read the
 * written state are applied. A `TsError` thrown before any change writes nothing.
 */
export function run<T>(
  ctx: StoreContext,
  fn: (b: Batch) => T,
  write?: Writer,
): Written<T> {
  const db = ctx.db;
  if (db.readOnly) throw new TsError(ERR_READONLY);
  const b = new Batch(db, ctx.set, ctx.chunks);
  const listener = ctx.sampleListener;
  if (listener !== undefined && listener.active()) b.written = new Map();
  let value: T;
  let failure: unknown;
  try {
    value = fn(b);
  } catch (err) {
    failure = err;
  }
  if (failure !== undefined && b.isEmpty) {
    ctx.chunks.discardStaged();
    throw failure;
  }
  const ops = b.finish();
  let durable: Promise<void> = Promise.resolve();
  if (ops.length > 0) {
    const before = db.lastSeq;
    const result = write ? write(ops) : db.write(ops);
    if (result instanceof Promise) durable = result;
    ctx.lookups.wrote(before, db.lastSeq, ops);
    if (db.lastSeq !== before + ops.length) {
      // The engine refused the batch (closed, or stopped after an I/O error): memory is now
      // ahead of the log. The engine refuses every later write too; a restart replays the log.
      ctx.logger("error", "time-series batch refused by the engine", { ops: ops.length });
      durable.catch(() => {});
      throw new TsError("ERR TSDB: the write was refused by the storage engine");
    }
    for (const e of b.afterWrite()) {
      if (e.type === ENTRY_META && b.settleCreated(e.version, ops, before + 1)) continue;
      ctx.set.apply(db, [e], b.seq);
    }
    // Told once the write is applied (a subscriber's message is itself sent once durable).
    if (b.written !== undefined) tellListener(ctx, listener!, b.written);
  }
  if (failure !== undefined) throw failure;
  return { value: value!, durable, ruleOutputs: b.ruleOutputKeys() };
}

const NO_KEYS: readonly Uint8Array[] = [];
const RESOLVED: Promise<void> = Promise.resolve();

/**
 * Where a command's ops go: the RESP connection's context (`CommandContext.write` applies them
 * and holds the reply until they are durable), as an object so that TS.ADD passes its context
 * itself instead of a closure made per command.
 */
export interface OpsSink {
  /** Applies `ops` now (synchronously assigning their sequence numbers). */
  write(ops: WriteOp[]): void;
}

/**
 * TS.ADD's common case without a `Batch`: a sample newer than every other of `series` (or a
 * duplicate of its newest, see `appendNewest`; `override` is ON_DUPLICATE), which has no
 * compaction rules and no IGNORE options, whose head does not fill with it, while no
 * `SampleListener` collects samples. Does exactly what `run` of `writeSample` does then --
 * append to the head, note the log op, write one SAMPLES entry of one sample (the same
 * bytes: `encodeSampleLog`) -- without the batch's collections, entry, arrays and encoder,
 * which were most of what TS.ADD did beyond SET. Returns undefined, having done nothing,
 * in every other case (the caller then takes `run`).
 */
export function appendSample(
  ctx: StoreContext,
  series: Series,
  ts: number,
  value: number,
  write?: Writer,
  override?: DuplicatePolicy,
): Written<number> | undefined {
  let durable = RESOLVED;
  const sink: OpsSink = {
    write(ops) {
      const result = write ? write(ops) : ctx.db.write(ops);
      if (result instanceof Promise) durable = result;
    },
  };
  let written: boolean;
  try {
    written = appendNewest(ctx, series, ts, value, sink, override);
  } catch (err) {
    durable.catch(() => {});
    throw err;
  }
  return written ? { value: ts, durable, ruleOutputs: NO_KEYS } : undefined;
}

/**
 * `appendSample` into `sink`, whose write holds the reply until durable (the RESP server's
 * TS.ADD): true when the sample was written (or, a duplicate the policy keeps as it is, needed
 * no write), false having done nothing (take `run`). No result object, closure or promise of
 * its own per command.
 *
 * Besides a newer sample, it takes a duplicate of the newest sample while that one is in the
 * head, under a policy other than BLOCK (`override`, TS.ADD's ON_DUPLICATE, else the series'):
 * what `writeSample` does then -- the policy's value replaces the head's newest (`upsert`, O(1)
 * there) and one SAMPLES entry of that sample is logged, or nothing when the value stays.
 */
export function appendNewest(
  ctx: StoreContext,
  series: Series,
  ts: number,
  value: number,
  sink: OpsSink,
  override?: DuplicatePolicy,
): boolean {
  const db = ctx.db;
  if (db.readOnly) return false;
  const listener = ctx.sampleListener;
  if (listener !== undefined && listener.active()) return false;
  const meta = series.meta;
  if (meta.rules.length > 0 || meta.ignoreMaxTimeDiffMs > 0 || meta.ignoreMaxValDiff > 0) {
    return false;
  }
  const head = series.head;
  const before = db.lastSeq;
  if (ts > series.lastTs) {
    if (head.count + 1 >= series.chunkSamples) return false;
    head.append(ts, value);
  } else {
    if (ts !== series.lastTs || head.count === 0 || head.lastTs !== ts) return false;
    const existing = head.lastValue;
    const next = duplicateValue(override ?? meta.duplicatePolicy ?? "block", existing, value);
    if (next === undefined) return false;
    if (Object.is(next, existing)) return true;
    value = next;
    head.upsert(ts, value);
  }
  series.markUncovered(before + 1);
  const ops: WriteOp[] = [{
    type: "log",
    key: TS_LOG_KEY,
    value: encodeSampleLog(series.version, ts, value),
  }];
  sink.write(ops);
  ctx.lookups.wrote(before, db.lastSeq, ops);
  if (db.lastSeq !== before + 1) {
    // As `run`: memory is ahead of the log, and the engine refuses every later write too.
    ctx.logger("error", "time-series batch refused by the engine", { ops: 1 });
    throw new TsError("ERR TSDB: the write was refused by the storage engine");
  }
  return true;
}

/**
 * The value a duplicate of a sample holding `existing` leaves under `policy` (as `writeSample`
 * decides it), or undefined under BLOCK (an error, which the general path answers).
 */
function duplicateValue(
  policy: DuplicatePolicy,
  existing: number,
  value: number,
): number | undefined {
  switch (policy) {
    case "block":
      return undefined;
    case "first":
      return existing;
    case "last":
      return value;
    case "min":
      return Math.min(existing, value);
    case "max":
      return Math.max(existing, value);
    case "sum":
      return existing + value;
  }
}

/** Hands written samples over; a listener's failure never turns a done write into an error. */
function tellListener(
  ctx: StoreContext,
  listener: SampleListener,
  written: Map<Series, WrittenSample[]>,
): void {
  try {
    for (const [series, samples] of written) listener.samples(series.key, samples);
  } catch (err) {
    ctx.logger("warn", "time-series sample listener failed", { error: String(err) });
  }
}
