/**
 * One time-series command's changes, collected while it runs and written as one atomic
 * engine batch: the log op(s) first (so the first one's sequence is known in advance: the
 * engine's next sequence), then metadata, registry, chunk and state puts.
 * ARCHITECTURE.md § "Time-series write path" walks through an example.
 *
 * While a command runs, its log entries are applied to the in-memory series at once
 * (`SeriesSet.apply` semantics), so that its later samples see its earlier ones; entries that
 * read the engine (`ENTRY_META`, `ENTRY_DROP`) are applied after the batch is written.
 *
 * @module
 */

import type { Database, WriteOp } from "../engine/mod.ts";
import { TS_LOG_OP_BYTES_MAX } from "../limits.ts";
import type { ChunkStore } from "./chunks.ts";
import {
  encodeLog,
  encodeState,
  ENTRY_DROP,
  ENTRY_META,
  ENTRY_SAMPLES,
  ENTRY_STATE,
  type LogEntry,
  stateKey,
  TS_LOG_KEY,
} from "./log.ts";
import type { Series, SeriesSet } from "./series_set.ts";

/** A sample a command wrote (the value stored after its duplicate policy). */
export interface WrittenSample {
  /** Timestamp, Unix ms. */
  timestampMs: number;
  /** Value stored. */
  value: number;
}

const NO_VALUES = new Float64Array(0);

/** Doubles per slab of `allocValues`. */
const VALUES_SLAB_LENGTH = 8192;
/** Larger requests get their own array. */
const VALUES_SLAB_TAKE_MAX = 1024;
let valuesSlab = new Float64Array(VALUES_SLAB_LENGTH);
let valuesSlabUsed = 0;

/**
 * Room for `n` values of a SAMPLES entry, carved from a shared slab for small `n`. Each
 * command makes an entry per series it writes (200 series × 1 sample per TS.MADD at 1 Hz):
 * a fresh `Float64Array` each would be a malloc'ed backing store each, which V8 frees only
 * when it collects the array, and the process's RSS grew with that churn. A view costs heap
 * only; a slab lives while any entry carved from it does (entries die with their command).
 */
function allocValues(n: number): Float64Array {
  if (n > VALUES_SLAB_TAKE_MAX) return new Float64Array(n);
  if (valuesSlabUsed + n > VALUES_SLAB_LENGTH) {
    valuesSlab = new Float64Array(VALUES_SLAB_LENGTH);
    valuesSlabUsed = 0;
  }
  const out = valuesSlab.subarray(valuesSlabUsed, valuesSlabUsed + n);
  valuesSlabUsed += n;
  return out;
}

/** Rough bytes of one SAMPLES entry sample in the log (ts varint + f64). */
const SAMPLE_LOG_BYTES = 11;

/** The changes of one command. */
export class Batch {
  readonly db: Database;
  readonly set: SeriesSet;
  readonly chunks: ChunkStore;
  /** Sequence the batch's first log op will get (the engine's next one). */
  readonly seq: number;
  /** Entries per series, in order; META entries go first, DROP entries last. */
  readonly #perSeries = new Map<number, LogEntry[]>();
  readonly #meta: LogEntry[] = [];
  readonly #drop: LogEntry[] = [];
  /** Engine ops other than log, chunk and state ops (metadata, registry, counters). */
  readonly ops: WriteOp[] = [];
  /** Series whose state record must be rewritten. */
  readonly stateDirty = new Set<Series>();
  /** Series created by this command, by key (binary string), before the batch is written. */
  readonly created = new Map<string, Series>();
  /** Rule destinations a closed or recomputed bucket wrote a sample into, in order. */
  readonly ruleOutputs = new Set<Series>();
  /** Samples written per series, kept only while a `SampleListener` wants them. */
  written: Map<Series, WrittenSample[]> | undefined;
  #logBytes = 0;

  /** Starts a batch on `db`. */
  constructor(db: Database, set: SeriesSet, chunks: ChunkStore) {
    this.db = db;
    this.set = set;
    this.chunks = chunks;
    this.seq = db.lastSeq + 1;
  }

  #list(version: number): LogEntry[] {
    let list = this.#perSeries.get(version);
    if (!list) this.#perSeries.set(version, list = []);
    return list;
  }

  /** Sets a head sample (applied now, logged). REQUIRES: ts > the series' sealed boundary. */
  headUpsert(series: Series, ts: number, value: number): void {
    series.head.upsert(ts, value);
    series.markUncovered(this.seq);
    const list = this.#list(series.version);
    const last = list[list.length - 1];
    if (last?.type === ENTRY_SAMPLES) {
      const n = last.ts.length;
      last.ts.push(ts);
      if (n === last.values.length) {
        const grown = allocValues(n * 2);
        grown.set(last.values);
        last.values = grown;
      }
      last.values[n] = value;
    } else {
      const values = allocValues(4);
      values[0] = value;
      list.push({ type: ENTRY_SAMPLES, version: series.version, ts: [ts], values });
    }
    this.#logBytes += SAMPLE_LOG_BYTES;
  }

  /**
   * Appends `ts[from … to)` / `values[from … to)` to the head (applied now, logged): the same
   * head bytes and log entry as that many `headUpsert`s, in one go. REQUIRES: the timestamps
   * strictly increase, the first is newer than the series' newest sample.
   */
  headAppendRun(
    series: Series,
    ts: Float64Array,
    values: Float64Array,
    from: number,
    to: number,
  ): void {
    const k = to - from;
    if (k <= 0) return;
    series.head.appendRun(ts, values, from, to);
    series.markUncovered(this.seq);
    const list = this.#list(series.version);
    const last = list[list.length - 1];
    let entry: LogEntry & { type: typeof ENTRY_SAMPLES };
    if (last?.type === ENTRY_SAMPLES) entry = last;
    else {
      entry = { type: ENTRY_SAMPLES, version: series.version, ts: [], values: NO_VALUES };
      list.push(entry);
    }
    const n = entry.ts.length;
    if (n + k > entry.values.length) {
      const grown = allocValues(n === 0 ? k : Math.max(4, 2 * entry.values.length, n + k));
      grown.set(entry.values.subarray(0, n));
      entry.values = grown;
    }
    // One copy of the values' bytes (a NaN keeps its payload, as `LogEntry` requires).
    entry.values.set(values.subarray(from, to), n);
    const list2 = entry.ts;
    for (let i = from; i < to; i++) list2.push(ts[i]!);
    this.#logBytes += k * SAMPLE_LOG_BYTES;
  }

  /** Records an entry already applied to memory (DELETE, SEAL). */
  record(series: Series, entry: LogEntry): void {
    series.markUncovered(this.seq);
    this.#list(series.version).push(entry);
    this.#logBytes += 24;
  }

  /** An `ENTRY_META` (applied after the write: the engine then holds the metadata). */
  meta(version: number): void {
    this.#meta.push({ type: ENTRY_META, version });
  }

  /** An `ENTRY_DROP` (applied after the write). */
  drop(version: number): void {
    this.#drop.push({ type: ENTRY_DROP, version });
  }

  /** True when nothing would be written. */
  get isEmpty(): boolean {
    return this.#perSeries.size === 0 && this.#meta.length === 0 && this.#drop.length === 0 &&
      this.ops.length === 0 && this.stateDirty.size === 0 && !this.chunks.hasStaged;
  }

  /**
   * Closes the batch: appends the STATE entries and state records of dirty series, and
   * returns the engine ops with the log op(s) first. `throughSeq` of the state records is the
   * sequence before the batch (its own entries replay idempotently on top).
   */
  finish(): WriteOp[] {
    const throughSeq = this.seq - 1;
    const statePuts: WriteOp[] = [];
    for (const series of this.stateDirty) {
      if (this.set.byVersion(series.version) !== series) continue; // dropped meanwhile
      const entry: LogEntry = {
        type: ENTRY_STATE,
        version: series.version,
        stats: { ...series.stats },
      };
      this.#list(series.version).push(entry);
      series.cover(this.seq);
      statePuts.push({
        type: "put",
        key: stateKey(series.version),
        value: encodeState(throughSeq, series.stats, series.head),
      });
    }
    const entries: LogEntry[] = [...this.#meta];
    for (const list of this.#perSeries.values()) entries.push(...list);
    entries.push(...this.#drop);
    const logOps: WriteOp[] = [];
    if (entries.length > 0) {
      // Split so that no log op passes TS_LOG_OP_BYTES_MAX; a series' entries keep their order.
      const perOp = Math.max(1, Math.floor(TS_LOG_OP_BYTES_MAX / SAMPLE_LOG_BYTES));
      let chunk: LogEntry[] = [];
      let size = 0;
      for (const e of entries) {
        const n = e.type === ENTRY_SAMPLES ? e.ts.length : 1;
        if (size + n > perOp && chunk.length > 0) {
          logOps.push({ type: "log", key: TS_LOG_KEY, value: encodeLog(chunk) });
          chunk = [];
          size = 0;
        }
        if (e.type === ENTRY_SAMPLES && n > perOp) {
          for (let i = 0; i < n; i += perOp) {
            logOps.push({
              type: "log",
              key: TS_LOG_KEY,
              value: encodeLog([{
                type: ENTRY_SAMPLES,
                version: e.version,
                ts: e.ts.slice(i, i + perOp),
                values: e.values.slice(i, i + perOp),
              }]),
            });
          }
          continue;
        }
        chunk.push(e);
        size += n;
      }
      if (chunk.length > 0) logOps.push({ type: "log", key: TS_LOG_KEY, value: encodeLog(chunk) });
    }
    return [...logOps, ...this.ops, ...this.chunks.takeStagedOps(), ...statePuts];
  }

  /** Entries to apply once the batch is written (they read what it wrote). */
  afterWrite(): LogEntry[] {
    return [...this.#meta, ...this.#drop];
  }

  /** Bytes of log written so far (to bound one command). */
  get logBytes(): number {
    return this.#logBytes;
  }
}
