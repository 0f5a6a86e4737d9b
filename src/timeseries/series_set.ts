/**
 * The in-memory side of the time-series layer: one `Series` per series (metadata, head chunk,
 * sealed-chunk statistics, WAL coverage) and the `SeriesSet` that finds them by version, by key
 * and by label, and applies log entries. ARCHITECTURE.md § "Time series" explains why every
 * change goes through `apply`: the leader applies the entries it is about to log, a replica
 * applies the ones it receives, and recovery applies the ones it replays -- one function, so
 * the three cannot disagree about what a head holds.
 *
 * @module
 */

import type { Database } from "../engine/mod.ts";
import { KIND_META } from "../util/entry.ts";
import {
  internalKey,
  internalKeyNumber,
  metaType,
  SPACE_TS_REGISTRY,
  SPACE_TS_STATE,
  TYPE_TIMESERIES,
} from "../keyspace/mod.ts";
import { TS_CHUNK_SAMPLES_MAX, TS_CHUNK_SIZE_BYTES_MIN } from "../limits.ts";
import { Head } from "./head.ts";
import { LabelIndex } from "./labels.ts";
import {
  decodeState,
  emptyStats,
  ENTRY_DELETE,
  ENTRY_DROP,
  ENTRY_META,
  ENTRY_SAMPLES,
  ENTRY_SEAL,
  ENTRY_STATE,
  type LogEntry,
  registryKey,
  type SealedStats,
  stateKey,
} from "./log.ts";
import { binaryString, decodeSeriesMeta, type SeriesMeta } from "./meta.ts";

const NO_LABELS: ReadonlyMap<string, string> = new Map();

/** `meta`'s labels as a map (series created without labels share one). */
function labelMapOf(meta: SeriesMeta): ReadonlyMap<string, string> {
  return meta.labels.length === 0 ? NO_LABELS : new Map(meta.labels);
}

/** One series in memory. */
export class Series {
  /** Data version (stable across RENAME). */
  readonly version: number;
  /** User key. */
  key: Uint8Array;
  /** The key as a binary string (map key, sort key). */
  keyString: string;
  /** Metadata as last loaded. */
  meta: SeriesMeta;
  /** Label name -> value (one shared empty map for every series without labels). */
  labelMap: ReadonlyMap<string, string>;
  /** Unsealed samples. */
  head: Head;
  /** Sealed-chunk statistics. */
  stats: SealedStats;
  /** Sequence of the first log op not yet covered by a durable state record; 0 = none. */
  firstUncoveredSeq = 0;
  /** When `firstUncoveredSeq` was set (ms), for the checkpoint age rule. */
  uncoveredSinceMs = 0;
  /** Engine sequence of the metadata entry `meta` was read from (0 = not written yet). */
  metaSeq = 0;
  /** `throughSeq` of the state record loaded at open: replayed entries at or below it are in it. */
  checkpointSeq = 0;

  /** Creates the in-memory state of a series. */
  constructor(key: Uint8Array, meta: SeriesMeta, head = new Head(), stats = emptyStats()) {
    this.version = meta.version;
    this.key = key;
    this.keyString = binaryString(key);
    this.meta = meta;
    this.labelMap = labelMapOf(meta);
    this.head = head;
    this.stats = stats;
  }

  /** Sequence of the newest log op that changed this series (0 = none since open). */
  lastLogSeq = 0;
  /** Sequence of a batch that rewrote the state record, not yet known durable (0 = none). */
  coverSeq = 0;

  /** Notes that a log op of sequence `seq` changed the head (pins the WAL until checkpointed). */
  markUncovered(seq: number): void {
    if (seq > this.lastLogSeq) this.lastLogSeq = seq;
    if (this.firstUncoveredSeq !== 0) return;
    this.firstUncoveredSeq = seq;
    this.uncoveredSinceMs = Date.now();
  }

  /**
   * The batch of sequence `seq` rewrote the state record (the head as of that batch). The
   * WAL may drop the ops it covers only once that batch is durable: see `settle`.
   */
  cover(seq: number): void {
    this.coverSeq = seq;
  }

  /**
   * Applies a pending `cover` once the engine's durable sequence reached it: the ops before it
   * are now covered; ops of later batches (if any) stay pinned from just after it.
   */
  settle(durableSeq: number): void {
    if (this.coverSeq === 0 || durableSeq < this.coverSeq) return;
    if (this.lastLogSeq > this.coverSeq) {
      // Newer changes: keep them pinned, conservatively from just after the covering batch.
      this.firstUncoveredSeq = this.coverSeq + 1;
      this.uncoveredSinceMs = Date.now();
    } else this.firstUncoveredSeq = 0;
    this.coverSeq = 0;
  }

  /** Newest timestamp, or -1 when the series is empty. */
  get lastTs(): number {
    return this.head.count > 0 ? this.head.lastTs : this.stats.lastSealedTs;
  }

  /** Value at `lastTs` (0 when empty). */
  get lastValue(): number {
    return this.head.count > 0 ? this.head.lastValue : this.stats.lastSealedValue;
  }

  /** Samples held (sealed and head). */
  get totalSamples(): number {
    return this.stats.sealedSamples + this.head.count;
  }

  /** Oldest timestamp, or -1 when empty. */
  get firstTs(): number {
    if (this.stats.sealedChunks > 0) return this.stats.firstSealedTs;
    return this.head.count > 0 ? this.head.firstTs : -1;
  }

  /** Samples per sealed chunk: CHUNK_SIZE, clamped (ARCHITECTURE.md § "Head chunks"). */
  get chunkSamples(): number {
    return Math.min(
      TS_CHUNK_SAMPLES_MAX,
      Math.max(TS_CHUNK_SIZE_BYTES_MIN, this.meta.chunkSizeBytes),
    );
  }

  /** Oldest timestamp still visible under retention (0 = everything). */
  get retentionCutoff(): number {
    const last = this.lastTs;
    const r = this.meta.retentionMs;
    return r > 0 && last > r ? last - r : 0;
  }
}

/**
 * Sets a SAMPLES entry's samples `ts[0 ... n)` / `values[0 ... n)` in the head (those past the
 * sealed boundary went into chunks). Stretches of appends go through `Head.appendRun`, which
 * copies the values' bytes: a replayed or replicated staleness marker (a signalling NaN) keeps
 * its bits, which a `number` passed to `upsert` may lose once V8 optimises the loop; it is also
 * faster.
 */
function applySamples(series: Series, ts: Float64Array, values: Float64Array, n: number): void {
  const head = series.head;
  const after = series.stats.lastSealedTs;
  let i = 0;
  while (i < n) {
    const t = ts[i]!;
    if (t <= after) {
      i++;
      continue;
    }
    if (head.count > 0 && t <= head.lastTs) {
      head.upsert(t, values[i]!);
      i++;
      continue;
    }
    let j = i + 1;
    while (j < n && ts[j]! > ts[j - 1]!) j++;
    head.appendRun(ts, values, i, j);
    i = j;
  }
}

/** Scratch timestamps of a decoded SAMPLES entry (`Head.appendRun` keeps no reference). */
let runTs = new Float64Array(256);

/** Rows read per page by `pagedRange` (bounds what a load holds at once). */
const LOAD_PAGE_ROWS = 512;

/**
 * Every `[key, value]` of internal space `space`, ascending, read a page at a time and kept
 * out of the block cache: the state records of 10,000 series (~16 MB) are read once at open,
 * and cached they took ~13 MiB of the server's memory for good.
 */
function* pagedRange(db: Database, space: number): Generator<[Uint8Array, Uint8Array]> {
  let start = internalKey(space);
  const end = internalKey(space + 1);
  for (;;) {
    const page = db.readRange({ start, end }, { limit: LOAD_PAGE_ROWS, fillCache: false });
    for (const [key, value] of page) yield [key, value];
    if (page.length < LOAD_PAGE_ROWS) return;
    const last = page[page.length - 1]![0];
    start = new Uint8Array(last.length + 1);
    start.set(last);
  }
}

/** Every series, indexed. */
export class SeriesSet {
  readonly #byVersion = new Map<number, Series>();
  readonly #byKey = new Map<string, Series>();
  readonly #index = new LabelIndex<number>();

  /** Series held. */
  get size(): number {
    return this.#byVersion.size;
  }

  /** All series (no particular order). */
  all(): IterableIterator<Series> {
    return this.#byVersion.values();
  }

  /** The series of `version`. */
  byVersion(version: number): Series | undefined {
    return this.#byVersion.get(version);
  }

  /** The series last known at `key` (the caller checks the key's META still names it). */
  byKeyString(key: string): Series | undefined {
    return this.#byKey.get(key);
  }

  /** The label index. */
  get index(): LabelIndex<number> {
    return this.#index;
  }

  /** Adds (or replaces) a series. */
  add(series: Series): void {
    this.remove(series.version);
    this.#byVersion.set(series.version, series);
    this.#byKey.set(series.keyString, series);
    this.#index.add(series.version, series.meta.labels);
  }

  /** Drops a series from memory. */
  remove(version: number): Series | undefined {
    const s = this.#byVersion.get(version);
    if (!s) return undefined;
    this.#byVersion.delete(version);
    if (this.#byKey.get(s.keyString) === s) this.#byKey.delete(s.keyString);
    this.#index.remove(version, s.meta.labels);
    return s;
  }

  /** Replaces a series' metadata and key, keeping its data (ALTER, RENAME, rules). */
  update(series: Series, key: Uint8Array, meta: SeriesMeta): void {
    this.#index.remove(series.version, series.meta.labels);
    if (this.#byKey.get(series.keyString) === series) this.#byKey.delete(series.keyString);
    series.key = key;
    series.keyString = binaryString(key);
    series.meta = meta;
    series.labelMap = labelMapOf(meta);
    this.#byKey.set(series.keyString, series);
    this.#index.add(series.version, meta.labels);
  }

  /** Forgets everything. */
  clear(): void {
    for (const v of [...this.#byVersion.keys()]) this.remove(v);
  }

  /**
   * Applies log entries of sequence `seq` (see the module comment). `db` is read for
   * `ENTRY_META` (the registry and metadata written in the same batch).
   */
  apply(db: Database, entries: readonly LogEntry[], seq: number): void {
    for (const e of entries) {
      const series = this.#byVersion.get(e.version);
      switch (e.type) {
        case ENTRY_SAMPLES: {
          if (!series) break;
          const n = e.ts.length;
          if (runTs.length < n) runTs = new Float64Array(Math.max(2 * runTs.length, n));
          for (let k = 0; k < n; k++) runTs[k] = e.ts[k]!;
          applySamples(series, runTs, e.values, n);
          series.markUncovered(seq);
          break;
        }
        case ENTRY_DELETE:
          if (!series) break;
          series.head.deleteRange(e.from, e.to);
          series.markUncovered(seq);
          break;
        case ENTRY_SEAL:
          if (!series) break;
          series.head.deleteRange(0, e.throughTs);
          series.markUncovered(seq);
          break;
        case ENTRY_STATE:
          if (!series) break;
          series.stats = { ...e.stats };
          // The state record of this batch holds the head as of this entry: once durable, the
          // WAL before it is no longer needed for this series.
          series.cover(seq);
          break;
        case ENTRY_META:
          this.reload(db, e.version);
          break;
        case ENTRY_DROP:
          this.remove(e.version);
          break;
      }
    }
  }

  /**
   * Applies a SAMPLES entry of sequence `seq` given as columns (`visitLog`): what `apply` does
   * with one, without an entry object.
   */
  applySampleColumns(
    series: Series,
    ts: Float64Array,
    values: Float64Array,
    n: number,
    seq: number,
  ): void {
    applySamples(series, ts, values, n);
    series.markUncovered(seq);
  }

  /**
   * Re-reads a series' registry entry and metadata from `db` (created, altered, renamed); a
   * version whose key no longer holds it is dropped. A new series starts from its state record.
   */
  reload(db: Database, version: number): Series | undefined {
    const reg = db.getEntry(registryKey(version));
    const existing = this.#byVersion.get(version);
    if (reg === undefined) {
      this.remove(version);
      return undefined;
    }
    const key = reg.value;
    const entry = db.getEntry(key);
    if (
      entry === undefined || entry.kind !== KIND_META || metaType(entry.value) !== TYPE_TIMESERIES
    ) {
      this.remove(version);
      return undefined;
    }
    const meta = decodeSeriesMeta(entry.value);
    if (meta.version !== version) {
      this.remove(version);
      return undefined;
    }
    if (existing) {
      this.update(existing, key, meta);
      existing.metaSeq = entry.seq;
      return existing;
    }
    return this.#start(key, meta, entry.seq, db.getEntry(stateKey(version))?.value);
  }

  /** Adds a series read at open: its key, metadata (read at `metaSeq`) and state record. */
  #start(
    key: Uint8Array,
    meta: SeriesMeta,
    metaSeq: number,
    state: Uint8Array | undefined,
  ): Series {
    let series: Series;
    if (state === undefined) series = new Series(key, meta);
    else {
      const rec = decodeState(state);
      series = new Series(key, meta, rec.head, rec.stats);
      series.checkpointSeq = rec.throughSeq;
    }
    series.metaSeq = metaSeq;
    this.add(series);
    return series;
  }

  /**
   * Loads every series at open (the set must be empty): the registry and the state records
   * are each read in one range scan (both ordered by version), the metadata by one point read
   * per series -- where `reload` would read all three by point reads. A registry entry whose key
   * no longer holds its series (deleted or overwritten, not yet collected) is skipped, as
   * `reload` skips it.
   */
  loadAll(db: Database): void {
    const states = pagedRange(db, SPACE_TS_STATE);
    let state = states.next();
    for (const [regKey, key] of pagedRange(db, SPACE_TS_REGISTRY)) {
      const version = internalKeyNumber(regKey, 2);
      // Both scans ascend by version: advance the state cursor to this one.
      while (!state.done && internalKeyNumber(state.value[0], 2) < version) state = states.next();
      const record = !state.done && internalKeyNumber(state.value[0], 2) === version
        ? state.value[1]
        : undefined;
      const entry = db.getEntry(key);
      if (
        entry === undefined || entry.kind !== KIND_META ||
        metaType(entry.value) !== TYPE_TIMESERIES
      ) continue;
      const meta = decodeSeriesMeta(entry.value);
      if (meta.version !== version) continue;
      this.#start(key, meta, entry.seq, record);
    }
  }
}
