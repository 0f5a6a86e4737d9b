/**
 * `TimeSeriesStore`: the time-series layer over one `Database`. ARCHITECTURE.md § "Time
 * series" is the design; this file wires it: opening (load every series from the registry,
 * then take the log ops the engine recovered), the engine's `LogConsumer` contract (replay,
 * replicated log ops, the WAL retention pin, persisting before a snapshot), the maintenance
 * timer, and the one API every front end (RESP, HTTP, CLI) calls.
 *
 * Wiring: `TimeSeriesStore.open(db)` after `Database.open`; the engine holds replayed log ops
 * until then and pins the WAL they live in, so the order cannot lose data.
 *
 * @module
 */

import type { Database } from "../engine/mod.ts";
import type { LogConsumer } from "../engine/log_ops.ts";
import { equalBytes } from "../util/bytes.ts";
import { VersionAllocator } from "../keyspace/mod.ts";
import {
  TS_HEADS_BYTES_MAX,
  TS_MAINTENANCE_INTERVAL_MS,
  TS_QUERY_SAMPLES_MAX,
  TS_SERIES_MAX,
} from "../limits.ts";
import { type Logger, silentLogger } from "../util/log.ts";
import type { MaddColumns, MaddReplies } from "./bulk.ts";
import { ChunkStore } from "./chunks.ts";
import {
  appendNewest,
  findSeries,
  getSeries,
  type OpsSink,
  type SampleListener,
  type StoreContext,
  type Writer,
  type Written,
} from "./context.ts";
import type { LabelFilter } from "./labels.ts";
import {
  ENTRY_DROP,
  ENTRY_META,
  ENTRY_SEAL,
  ENTRY_STATE,
  type LogVisitor,
  stateKey,
  TS_LOG_KEY,
  visitLog,
} from "./log.ts";
import {
  checkpoint,
  collectGarbage,
  dropExpiredChunks,
  dueForCheckpoint,
  flushForReplay,
  sealForMemory,
} from "./maintenance.ts";
import type { Aggregator, DuplicatePolicy } from "./meta.ts";
import * as q from "./query.ts";
import * as rules from "./rules.ts";
import * as ops from "./series_ops.ts";
import { SeriesLookups } from "./series_lookups.ts";
import { type Series, SeriesSet } from "./series_set.ts";
import type { TsError } from "./write.ts";

/** Options of `TimeSeriesStore.open`. */
export interface TimeSeriesOptions {
  /** Log sink. */
  logger?: Logger;
  /** Clock for `*` timestamps (default `Date.now`). */
  nowMs?: () => number;
  /** Bytes of decoded chunks cached for reads. */
  chunkCacheBytes?: number;
  /** Maintenance period; 0 disables the timer (tests call `maintain()`). */
  maintenanceIntervalMs?: number;
  /** Most series (default `TS_SERIES_MAX`). */
  seriesMax?: number;
  /** Samples one query may collect, all its series together (default `TS_QUERY_SAMPLES_MAX`). */
  querySamplesMax?: number;
  /** Bytes all heads may take before maintenance seals the largest (`TS_HEADS_BYTES_MAX`). */
  headsBytesMax?: number;
  /**
   * The database's version allocator, when the caller made one already (a server that loads
   * this layer on first use shares its own with the Redis types): one counter, one cache.
   */
  versions?: VersionAllocator;
}

/** `addNewest`'s answer for a key that holds nothing. */
export const ADD_ABSENT = -2;

/** The time-series layer of one database. */
export class TimeSeriesStore implements LogConsumer {
  readonly #ctx: StoreContext;
  #timer: ReturnType<typeof setInterval> | undefined;
  #gcCursor = 0;
  readonly #headsBytesMax: number;
  /** While replaying at open: log ops through this sequence are covered by every state record. */
  #replayCoveredSeq = 0;
  #maintaining: Promise<void> | undefined;
  #closed = false;

  private constructor(db: Database, options: TimeSeriesOptions) {
    const set = new SeriesSet();
    const chunks = new ChunkStore(db, options.chunkCacheBytes);
    this.#ctx = {
      db,
      set,
      chunks,
      versions: options.versions ?? new VersionAllocator(db),
      logger: options.logger ?? silentLogger,
      seriesMax: options.seriesMax ?? TS_SERIES_MAX,
      querySamplesMax: options.querySamplesMax ?? TS_QUERY_SAMPLES_MAX,
      nowMs: options.nowMs ?? Date.now,
      sampleListener: undefined,
      lookups: new SeriesLookups(),
    };
    this.#headsBytesMax = options.headsBytesMax ?? TS_HEADS_BYTES_MAX;
  }

  /**
   * Opens the layer on `db`: loads every series from the registry and their state records,
   * replays the log ops the engine recovered, then registers as the engine's log consumer.
   */
  static open(db: Database, options: TimeSeriesOptions = {}): TimeSeriesStore {
    const store = new TimeSeriesStore(db, options);
    const started = performance.now();
    store.#loadAll();
    const pending = db.pendingLogOps;
    // Log ops every loaded state record already covers are skipped without decoding (the
    // engine's state is final, so their META/DROP entries are reflected too).
    let covered = Number.MAX_SAFE_INTEGER;
    for (const s of store.#ctx.set.all()) covered = Math.min(covered, s.checkpointSeq);
    store.#replayCoveredSeq = covered === Number.MAX_SAFE_INTEGER ? 0 : covered;
    db.attachLogConsumer(store);
    store.#replayCoveredSeq = 0;
    for (const s of store.#ctx.set.all()) s.checkpointSeq = 0;
    store.#ctx.logger("info", "time series opened", {
      series: store.#ctx.set.size,
      replayedLogOps: pending,
      ms: Math.round(performance.now() - started),
    });
    const interval = options.maintenanceIntervalMs ?? TS_MAINTENANCE_INTERVAL_MS;
    if (interval > 0) {
      store.#timer = setInterval(() => void store.maintain().catch(() => {}), interval);
      Deno.unrefTimer(store.#timer);
    }
    return store;
  }

  #loadAll(): void {
    const { db, set } = this.#ctx;
    set.clear();
    set.loadAll(db);
  }

  /** The shared context (for front ends that compose operations, and tests). */
  get context(): StoreContext {
    return this.#ctx;
  }

  /**
   * Who hears of the samples commands write (the RESP server's `__ts__:<key>` feed); one at a
   * time, `undefined` for none. Samples a replica applies from its leader are not told.
   */
  get sampleListener(): SampleListener | undefined {
    return this.#ctx.sampleListener;
  }

  /** Sets (or, with `undefined`, removes) the listener of written samples. */
  set sampleListener(listener: SampleListener | undefined) {
    this.#ctx.sampleListener = listener;
  }

  /** Series in memory. */
  get seriesCount(): number {
    return this.#ctx.set.size;
  }

  // ---------------------------------------------------------------- LogConsumer

  /**
   * Applies a replayed or replicated log op, entry by entry as `visitLog` decodes them. An
   * entry of a series missing is skipped, and so is one the series' loaded state record
   * already reflects (replay). A series a META entry of the op creates (a replica's, as the
   * engine applied the whole batch before) starts from its state record when the batch wrote
   * one (COPY, a RESTORE that sealed: the record holds the head as of the end of the batch), and
   * then its entries in the op are skipped; else it starts empty and they are applied -- the
   * first sample of a series TS.ADD created, which a replica used to lose until its restart.
   */
  applyLog(seq: number, key: Uint8Array, value: Uint8Array): void {
    if (seq <= this.#replayCoveredSeq || !equalBytes(key, TS_LOG_KEY)) return;
    this.#logSeq = seq;
    this.#logBorn.length = 0;
    visitLog(value, this.#logVisitor);
  }

  /** Sequence of the log op `applyLog` is applying. */
  #logSeq = 0;
  /** Versions a META entry of that op created (absent before it) from a state record. */
  readonly #logBorn: number[] = [];
  /** The series an entry of that op applies to, or undefined when it is skipped. */
  #logTarget(version: number): Series | undefined {
    const s = this.#ctx.set.byVersion(version);
    if (s === undefined || this.#logSeq <= s.checkpointSeq) return undefined;
    return this.#logBorn.length > 0 && this.#logBorn.includes(version) ? undefined : s;
  }
  readonly #logVisitor: LogVisitor = {
    samples: (version, ts, values, n) => {
      const s = this.#logTarget(version);
      if (s !== undefined) this.#ctx.set.applySampleColumns(s, ts, values, n, this.#logSeq);
    },
    entry: (e) => {
      const { db, set } = this.#ctx;
      if (e.type === ENTRY_META || e.type === ENTRY_DROP) {
        if (
          e.type === ENTRY_META && set.byVersion(e.version) === undefined &&
          db.getEntry(stateKey(e.version)) !== undefined
        ) {
          this.#logBorn.push(e.version);
        }
      } else if (this.#logTarget(e.version) === undefined) return;
      set.apply(db, [e], this.#logSeq);
    },
  };

  /**
   * Calls `visit` with the key of each series whose data the log op `value` changes: samples
   * written or deleted, metadata changed, series dropped (a SEAL or STATE entry moves samples
   * between head and chunks and changes nothing a read sees). A series this store does not
   * hold is skipped (one a command creates has its metadata record written at its key too).
   * Client-side caching (ARCHITECTURE.md § "Client-side caching (CLIENT TRACKING)").
   */
  changedKeys(value: Uint8Array, visit: (key: Uint8Array) => void): void {
    const set = this.#ctx.set;
    let last = -1;
    const changed = (version: number) => {
      if (version === last) return;
      last = version;
      const s = set.byVersion(version);
      if (s !== undefined) visit(s.key);
    };
    visitLog(value, {
      samples: (version) => changed(version),
      entry: (e) => {
        if (e.type !== ENTRY_SEAL && e.type !== ENTRY_STATE) changed(e.version);
      },
    });
  }

  /** The WAL retention pin: the sequence before the oldest un-checkpointed head change. */
  logDurableThroughSeq(): number {
    let min = Infinity;
    const durable = this.#ctx.db.durableSeq;
    for (const s of this.#ctx.set.all()) {
      s.settle(durable);
      if (s.firstUncoveredSeq > 0 && s.firstUncoveredSeq - 1 < min) min = s.firstUncoveredSeq - 1;
    }
    return min;
  }

  /** Checkpoints every head with un-checkpointed changes (SAVE, a replica's snapshot). */
  async persistAll(): Promise<void> {
    if (this.#ctx.db.readOnly) return;
    const due = [...this.#ctx.set.all()].filter((s) => s.firstUncoveredSeq > 0);
    await checkpoint(this.#ctx, due);
  }

  /** Reloads everything from the engine (its content was replaced by a snapshot). */
  reset(): void {
    this.#ctx.chunks.clearCache();
    this.#ctx.versions.reset();
    this.#loadAll();
  }

  // ---------------------------------------------------------------- maintenance

  /**
   * One maintenance round: garbage, memory, retention, checkpoints on a leader (their results
   * replicate); on a replica only the local flush that bounds its replay at open.
   */
  maintain(): Promise<void> {
    if (this.#maintaining) return this.#maintaining;
    const ctx = this.#ctx;
    if (this.#closed) return Promise.resolve();
    this.#maintaining = (async () => {
      try {
        if (ctx.db.readOnly) {
          await flushForReplay(ctx);
          return;
        }
        this.#gcCursor = collectGarbage(ctx, this.#gcCursor);
        await sealForMemory(ctx, this.#headsBytesMax);
        dropExpiredChunks(ctx);
        await checkpoint(ctx, dueForCheckpoint(ctx, Date.now()));
        await flushForReplay(ctx);
      } catch (err) {
        ctx.logger("warn", "time-series maintenance failed", { error: String(err) });
      } finally {
        this.#maintaining = undefined;
      }
    })();
    return this.#maintaining;
  }

  /** Drops every series whose key is gone at once (after FLUSHDB). */
  collectAllGarbage(): void {
    if (this.#ctx.db.readOnly) return;
    collectGarbage(this.#ctx, 0);
  }

  /** Stops the maintenance timer; waits for a round in progress. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    await this.#maintaining;
    this.#ctx.db.attachLogConsumer(undefined);
  }

  // ---------------------------------------------------------------- writes

  /** TS.CREATE. */
  create(key: Uint8Array, options: ops.CreateOptions = {}, write?: Writer): Written<void> {
    return ops.create(this.#ctx, key, options, write);
  }

  /** TS.ALTER. */
  alter(key: Uint8Array, options: ops.CreateOptions, write?: Writer): Written<void> {
    return ops.alter(this.#ctx, key, options, write);
  }

  /**
   * TS.ADD. `found` is the series at the key when the caller has just looked it up with
   * `find` (synchronously before: nothing can have changed), or null when that lookup found the
   * key holding nothing; either saves looking it up again.
   */
  add(
    sample: ops.SampleIn,
    options: {
      onDuplicate?: DuplicatePolicy | undefined;
      create?: ops.CreateOptions;
      found?: Series | null | undefined;
    } = {},
    write?: Writer,
  ): Written<number> {
    return ops.add(this.#ctx, sample, options, write);
  }

  /**
   * TS.ADD's common case for the RESP server: a sample newer than every other of the existing
   * series at `key`, or a duplicate of its newest under a policy other than BLOCK (`onDuplicate`
   * is ON_DUPLICATE), written into `sink` (see `appendNewest`). `ts` is the timestamp, or -1 for
   * `*` (the store's clock). Returns the timestamp written, or having done nothing -2 when the
   * key holds nothing (then `add` with `found: null` creates the series without looking it up
   * again), or -1 (another type, an older sample, rules...: take `add`).
   */
  addNewest(
    key: Uint8Array,
    ts: number,
    value: number,
    sink: OpsSink,
    onDuplicate?: DuplicatePolicy,
  ): number {
    const ctx = this.#ctx;
    ctx.lookups.begin(ctx);
    let series: Series | undefined;
    try {
      series = ctx.lookups.find(ctx, key);
    } catch {
      return -1; // Another type: `add` answers it.
    }
    if (series === undefined) return ADD_ABSENT;
    const at = ts === -1 ? ctx.nowMs() : ts;
    return appendNewest(ctx, series, at, value, sink, onDuplicate) ? at : -1;
  }

  /** TS.MADD of samples as columns (the RESP handler's form; no object per sample). */
  maddColumns(cols: MaddColumns, write?: Writer): Written<MaddReplies> {
    return ops.maddColumns(this.#ctx, cols, write);
  }

  /** TS.MADD. */
  madd(
    samples: readonly (ops.SampleIn | TsError)[],
    write?: Writer,
  ): Written<(number | TsError)[]> {
    return ops.madd(this.#ctx, samples, write);
  }

  /** Samples for one key, creating the series when missing (HTTP POST). */
  write(
    key: Uint8Array,
    samples: readonly ops.SampleIn[],
    options: { create?: ops.CreateOptions; onDuplicate?: DuplicatePolicy | undefined } = {},
    write?: Writer,
  ): Written<(number | TsError)[]> {
    return ops.writeMany(this.#ctx, key, samples, options, write);
  }

  /** TS.INCRBY (negative `delta` for TS.DECRBY). */
  incrBy(
    key: Uint8Array,
    delta: number,
    options: { ts?: number | undefined; create?: ops.CreateOptions } = {},
    write?: Writer,
  ): Written<number> {
    return ops.incrBy(this.#ctx, key, delta, options, write);
  }

  /** TS.DEL key from to. */
  del(key: Uint8Array, from: number, to: number, write?: Writer): Written<number> {
    return ops.del(this.#ctx, key, from, to, write);
  }

  /** TS.DEL from to FILTER .... */
  delByFilter(
    filters: readonly LabelFilter[],
    from: number,
    to: number,
    write?: Writer,
  ): Written<number> {
    return ops.delByFilter(this.#ctx, this.select(filters), from, to, write);
  }

  /** TS.CREATERULE. */
  createRule(
    src: Uint8Array,
    dst: Uint8Array,
    spec: { aggregator: Aggregator; bucketMs: number; alignMs: number; backfill: boolean },
    write?: Writer,
  ): Written<void> {
    return rules.createRule(this.#ctx, src, dst, spec, write);
  }

  /** TS.DELETERULE. */
  deleteRule(src: Uint8Array, dst: Uint8Array, write?: Writer): Written<void> {
    return rules.deleteRule(this.#ctx, src, dst, write);
  }

  /**
   * The database's version allocator: every type takes its data versions from this one
   * counter (ARCHITECTURE.md § "Keyspace"), so two allocators never hand out the same one.
   */
  get versions(): VersionAllocator {
    return this.#ctx.versions;
  }

  /** RENAME of a series key (see `series_ops.rename`). */
  rename(src: Uint8Array, dst: Uint8Array, write?: Writer): Written<void> {
    return ops.rename(this.#ctx, src, dst, write);
  }

  /** RESTORE of a series payload (see `series_ops.restore`). */
  restore(
    key: Uint8Array,
    input: {
      options: ops.CreateOptions;
      ts: Float64Array;
      values: Float64Array;
      expireAtMs: number;
    },
    write?: Writer,
  ): Written<void> {
    return ops.restore(this.#ctx, key, input, write);
  }

  /** COPY of a series key (see `series_ops.copy`). */
  copy(src: Uint8Array, dst: Uint8Array, write?: Writer): Written<void> {
    return ops.copy(this.#ctx, src, dst, write);
  }

  // ---------------------------------------------------------------- reads

  /** The series at `key`; `TsError` for another type; undefined when missing. */
  find(key: Uint8Array): Series | undefined {
    return findSeries(this.#ctx, key);
  }

  /**
   * `find` through the lookup memo (`series_lookups.ts`): TS.ADD's lookup, which is then
   * passed to `add` as `found` synchronously, before anything else can write.
   */
  findForWrite(key: Uint8Array): Series | undefined {
    const ctx = this.#ctx;
    ctx.lookups.begin(ctx);
    return ctx.lookups.find(ctx, key);
  }

  /** The series at `key`, or `TSDB: the key does not exist`. */
  get(key: Uint8Array): Series {
    return getSeries(this.#ctx, key);
  }

  /** Every live series, by key. */
  all(): Series[] {
    return ops.liveSeries(this.#ctx);
  }

  /** Live series matching `filters`, by key. */
  select(filters: readonly LabelFilter[]): Series[] {
    return ops.selectSeries(this.#ctx, filters);
  }

  /** TS.GET. */
  last(key: Uint8Array, latest = false): { ts: number; value: number } | undefined {
    return q.get(this.#ctx, this.get(key), latest);
  }

  /** The newest sample of `series` (TS.MGET). */
  lastOf(series: Series, latest = false): { ts: number; value: number } | undefined {
    return q.get(this.#ctx, series, latest);
  }

  /** TS.RANGE / TS.REVRANGE. */
  range(key: Uint8Array, args: q.RangeArgs): q.Points {
    return q.rangeOf(this.#ctx, this.get(key), args, new q.QueryBudget(this.#ctx));
  }

  /**
   * TS.MRANGE / TS.MREVRANGE. With `scratch`, GROUPBY's points may view buffers that the next
   * scratch query overwrites: the caller is done with them before it queries again.
   */
  mrange(
    filters: readonly LabelFilter[],
    args: q.RangeArgs,
    groupBy?: { label: string; reducer: Aggregator },
    options: { scratch?: boolean } = {},
  ): q.SeriesResult[] {
    const selected = this.select(filters);
    // One budget for the whole query: 10,000 series of a day each must not fill memory either.
    const budget = new q.QueryBudget(this.#ctx);
    return groupBy
      ? q.mrangeGrouped(
        this.#ctx,
        selected,
        args,
        groupBy.label,
        groupBy.reducer,
        budget,
        options.scratch === true,
      )
      : q.mrange(this.#ctx, selected, args, budget);
  }

  /** TS.INFO [DEBUG]. */
  info(key: Uint8Array, debug = false): q.SeriesInfo {
    return q.info(this.#ctx, key, debug);
  }
}
