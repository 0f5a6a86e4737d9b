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
import { equalBytes } from "../util/bytes.ts";
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

const NO_KEYS: readonly Uint8Array[] = [];
const NO_ENTRIES: readonly LogEntry[] = [];

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

/** True when `entries` make one log op of at most `perOp` samples (as `finish` counts them). */
function fitsOneOp(entries: readonly LogEntry[], perOp: number): boolean {
  let size = 0;
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    size += e.type === ENTRY_SAMPLES ? e.ts.length : 1;
    if (size > perOp) return false;
  }
  return true;
}

/** Series a batch keeps in its flat entry list before it groups them in a map (see `Batch`). */
const FLAT_SERIES_MAX = 64;

/** Rough bytes of one SAMPLES entry sample in the log (ts varint + f64). */
const SAMPLE_LOG_BYTES = 11;

/** The changes of one command. */
export class Batch {
  readonly db: Database;
  readonly set: SeriesSet;
  readonly chunks: ChunkStore;
  /** Sequence the batch's first log op will get (the engine's next one). */
  readonly seq: number;
  /**
   * Entries per series, in order of the series' first entry; META entries go first, DROP
   * entries last. While each series' entries come together (TS.ADD, and TS.MADD, which writes
   * series by series), they are kept in one flat list, `#flatVersions` naming its series in
   * order: a map of a list per series cost a TS.MADD of 20 series a map, its growth and 20
   * arrays per command. A series coming back after another, or more than
   * `FLAT_SERIES_MAX` series, turn the flat list into the map (`#grouped`), same order.
   */
  #flat: LogEntry[] | undefined;
  #flatVersions: number[] | undefined;
  /** Series of the flat list's last entry (-1 = none). */
  #flatVersion = -1;
  #grouped: Map<number, LogEntry[]> | undefined;
  // The rest is made on first use: most commands (TS.ADD, TS.MADD) need none of it, and seven
  // collections per command were a fifth of TS.ADD's work in the store.
  #meta: LogEntry[] | undefined;
  #drop: LogEntry[] | undefined;
  #ops: WriteOp[] | undefined;
  #stateDirty: Set<Series> | undefined;
  #ruleOutputs: Set<Series> | undefined;
  /**
   * Series this command created, in order, with the op writing each one's metadata (see
   * `settleCreated`): a list, not a map by key, since a command creates one series at most
   * (TS.ADD, TS.INCRBY, TS.CREATE, an HTTP POST, RESTORE).
   */
  #created: Series[] | undefined;
  #createdOps: WriteOp[] | undefined;
  /** Samples written per series, kept only while a `SampleListener` wants them. */
  written: Map<Series, WrittenSample[]> | undefined;
  #logBytes = 0;

  /** Engine ops other than log, chunk and state ops (metadata, registry, counters). */
  get ops(): WriteOp[] {
    return this.#ops ??= [];
  }

  /** Series whose state record must be rewritten. */
  get stateDirty(): Set<Series> {
    return this.#stateDirty ??= new Set();
  }

  /** The series this command created at `key` (a binary string), before the batch is written. */
  createdAt(key: string): Series | undefined {
    const created = this.#created;
    if (created === undefined) return undefined;
    for (let i = created.length - 1; i >= 0; i--) {
      if (created[i]!.keyString === key) return created[i];
    }
    return undefined;
  }

  /** Series this command created. */
  get createdCount(): number {
    return this.#created?.length ?? 0;
  }

  /** True when this command created a series. */
  get hasCreated(): boolean {
    return this.#created !== undefined;
  }

  /** Rule destinations a closed or recomputed bucket wrote a sample into, in order. */
  get ruleOutputs(): Set<Series> {
    return this.#ruleOutputs ??= new Set();
  }

  /** The keys of `ruleOutputs`, in order (none: a shared empty array). */
  ruleOutputKeys(): readonly Uint8Array[] {
    const outputs = this.#ruleOutputs;
    if (outputs === undefined || outputs.size === 0) return NO_KEYS;
    return [...outputs].map((s) => s.key);
  }

  /** Starts a batch on `db`. */
  constructor(db: Database, set: SeriesSet, chunks: ChunkStore) {
    this.db = db;
    this.set = set;
    this.chunks = chunks;
    this.seq = db.lastSeq + 1;
  }

  /** The map of a list per series, made from the flat list on first use. */
  #group(): Map<number, LogEntry[]> {
    let grouped = this.#grouped;
    if (grouped !== undefined) return grouped;
    grouped = new Map();
    for (const v of this.#flatVersions ?? []) grouped.set(v, []);
    for (const e of this.#flat ?? []) grouped.get(e.version)!.push(e);
    this.#grouped = grouped;
    this.#flat = this.#flatVersions = undefined;
    this.#flatVersion = -1;
    return grouped;
  }

  /** The newest entry of series `version` in this batch, if any. */
  #lastOf(version: number): LogEntry | undefined {
    if (this.#grouped === undefined) {
      if (version === this.#flatVersion) return this.#flat![this.#flat!.length - 1];
      if (this.#flatVersions === undefined || !this.#flatVersions.includes(version)) {
        return undefined;
      }
    }
    const list = this.#group().get(version);
    return list === undefined ? undefined : list[list.length - 1];
  }

  /** Appends `entry` to its series' entries. */
  #push(entry: LogEntry): void {
    const version = entry.version;
    if (this.#grouped === undefined) {
      if (version === this.#flatVersion) {
        this.#flat!.push(entry);
        return;
      }
      const versions = this.#flatVersions;
      if (versions === undefined) {
        // Literals of one: `[].push` reserves room for 17 (most commands write one series).
        this.#flatVersions = [version];
        this.#flat = [entry];
        this.#flatVersion = version;
        return;
      }
      if (versions.length < FLAT_SERIES_MAX && !versions.includes(version)) {
        versions.push(version);
        this.#flat!.push(entry);
        this.#flatVersion = version;
        return;
      }
    }
    const grouped = this.#group();
    let list = grouped.get(version);
    if (list === undefined) grouped.set(version, list = []);
    list.push(entry);
  }

  /** Sets a head sample (applied now, logged). REQUIRES: ts > the series' sealed boundary. */
  headUpsert(series: Series, ts: number, value: number): void {
    series.head.upsert(ts, value);
    series.markUncovered(this.seq);
    const last = this.#lastOf(series.version);
    if (last?.type === ENTRY_SAMPLES) {
      const n = last.ts.length;
      let list = last.ts;
      if (!Array.isArray(list)) last.ts = list = Array.from(list);
      list.push(ts);
      if (n === last.values.length) {
        const grown = allocValues(n * 2);
        grown.set(last.values);
        last.values = grown;
      }
      last.values[n] = value;
    } else {
      const values = allocValues(4);
      values[0] = value;
      this.#push({ type: ENTRY_SAMPLES, version: series.version, ts: [ts], values });
    }
    this.#logBytes += SAMPLE_LOG_BYTES;
  }

  /**
   * Appends `ts[from ... to)` / `values[from ... to)` to the head (applied now, logged): the same
   * head bytes and log entry as that many `headUpsert`s, in one go. A new entry views
   * `ts` and `values` (exact-length views: whatever extends the entry later copies it first).
   * REQUIRES: the timestamps strictly increase, the first is newer than the series' newest
   * sample; `ts[from ... to)` and `values[from ... to)` stay as they are until the batch is
   * finished (`finish` encodes the entry from them).
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
    const last = this.#lastOf(series.version);
    if (last?.type !== ENTRY_SAMPLES) {
      // The usual case (one run per series per command): views, no copy. A view of the
      // values keeps a NaN's payload, as `LogEntry` requires.
      this.#push({
        type: ENTRY_SAMPLES,
        version: series.version,
        ts: ts.subarray(from, to),
        values: values.subarray(from, to),
      });
      this.#logBytes += k * SAMPLE_LOG_BYTES;
      return;
    }
    const entry = last;
    const n = entry.ts.length;
    // Timestamps in an exact-length typed array carved like the values: pushing a run's
    // timestamps grew an array two or three times per series per command.
    const before = entry.ts;
    const tsOut = allocValues(n + k);
    for (let i = 0; i < n; i++) tsOut[i] = before[i]!;
    for (let i = from, o = n; i < to; i++, o++) tsOut[o] = ts[i]!;
    entry.ts = tsOut;
    if (n + k > entry.values.length) {
      const grown = allocValues(Math.max(4, 2 * entry.values.length, n + k));
      grown.set(entry.values.subarray(0, n));
      entry.values = grown;
    }
    // Copied one by one unless a NaN is among them: then as bytes, so that it keeps its payload
    // (as `LogEntry` requires), through a view (an allocation) only in that case.
    const out = entry.values;
    let nan = false;
    for (let i = from, o = n; i < to; i++, o++) {
      const v = values[i]!;
      if (v !== v) nan = true;
      out[o] = v;
    }
    if (nan) out.set(values.subarray(from, to), n);
    this.#logBytes += k * SAMPLE_LOG_BYTES;
  }

  /** Records an entry already applied to memory (DELETE, SEAL). */
  record(series: Series, entry: LogEntry): void {
    series.markUncovered(this.seq);
    this.#push(entry);
    this.#logBytes += 24;
  }

  /** An `ENTRY_META` (applied after the write: the engine then holds the metadata). */
  meta(version: number): void {
    const entry: LogEntry = { type: ENTRY_META, version };
    if (this.#meta === undefined) this.#meta = [entry];
    else this.#meta.push(entry);
  }

  /**
   * `series` was created by this command (already in the set, with the metadata `op` writes at
   * its key): see `settleCreated`.
   */
  noteCreated(series: Series, op: WriteOp): void {
    if (this.#created === undefined) {
      this.#created = [series];
      this.#createdOps = [op];
    } else {
      this.#created.push(series);
      this.#createdOps!.push(op);
    }
  }

  /**
   * After the batch's `ops` were written (the first at sequence `firstSeq`): applies the
   * `ENTRY_META` of series `version` when this command created it, as `SeriesSet.reload` would
   * -- the series in memory already holds the metadata written and is indexed under its labels,
   * only the sequence of its metadata entry was unknown -- without reading back the registry
   * entry, the metadata and the state record it just wrote. False, having done nothing, for
   * another series, or when a later op of the batch wrote the same key again (then `reload`).
   */
  settleCreated(version: number, ops: readonly WriteOp[], firstSeq: number): boolean {
    const created = this.#created;
    if (created === undefined) return false;
    let k = created.length - 1;
    while (k >= 0 && created[k]!.version !== version) k--;
    if (k < 0 || this.set.byVersion(version) !== created[k]) return false;
    const op = this.#createdOps![k]!;
    const at = ops.indexOf(op);
    if (at < 0) return false;
    const key = op.key as Uint8Array;
    for (let i = at + 1; i < ops.length; i++) {
      const other = ops[i]!.key;
      if (other instanceof Uint8Array && equalBytes(other, key)) return false;
    }
    created[k]!.metaSeq = firstSeq + at;
    return true;
  }

  /** An `ENTRY_DROP` (applied after the write). */
  drop(version: number): void {
    (this.#drop ??= []).push({ type: ENTRY_DROP, version });
  }

  /** True when nothing would be written. */
  get isEmpty(): boolean {
    return (this.#flat?.length ?? 0) === 0 && (this.#grouped?.size ?? 0) === 0 &&
      (this.#meta?.length ?? 0) === 0 &&
      (this.#drop?.length ?? 0) === 0 && (this.#ops?.length ?? 0) === 0 &&
      (this.#stateDirty?.size ?? 0) === 0 && !this.chunks.hasStaged;
  }

  /**
   * Closes the batch: appends the STATE entries and state records of dirty series, and
   * returns the engine ops with the log op(s) first. `throughSeq` of the state records is the
   * sequence before the batch (its own entries replay idempotently on top).
   */
  finish(): WriteOp[] {
    const throughSeq = this.seq - 1;
    let statePuts: WriteOp[] | undefined;
    // No iterator of an empty set when nothing is dirty (most commands).
    const dirty = this.#stateDirty;
    if (dirty !== undefined) {
      for (const series of dirty) {
        if (this.set.byVersion(series.version) !== series) continue; // dropped meanwhile
        const entry: LogEntry = {
          type: ENTRY_STATE,
          version: series.version,
          stats: { ...series.stats },
        };
        this.#push(entry);
        series.cover(this.seq);
        (statePuts ??= []).push({
          type: "put",
          key: stateKey(series.version),
          value: encodeState(throughSeq, series.stats, series.head),
        });
      }
    }
    let entries: LogEntry[];
    const meta = this.#meta;
    const drop = this.#drop;
    const grouped = this.#grouped;
    if (meta === undefined && drop === undefined && grouped === undefined) {
      // Each series' entries together (TS.ADD, TS.MADD): the flat list itself.
      entries = this.#flat ?? [];
    } else if (meta !== undefined && drop === undefined && grouped === undefined) {
      // A command that created a series (or changed metadata) and wrote samples: one copy.
      entries = this.#flat === undefined ? meta : meta.concat(this.#flat);
    } else {
      entries = meta === undefined ? [] : [...meta];
      if (grouped !== undefined) {
        for (const list of grouped.values()) for (const e of list) entries.push(e);
      } else for (const e of this.#flat ?? []) entries.push(e);
      if (drop !== undefined) { for (const e of drop) entries.push(e); }
    }
    const out: WriteOp[] = [];
    const perOp = Math.max(1, Math.floor(TS_LOG_OP_BYTES_MAX / SAMPLE_LOG_BYTES));
    if (entries.length > 0 && fitsOneOp(entries, perOp)) {
      // The usual case (one command's entries are well below the bound): no split lists.
      out.push({ type: "log", key: TS_LOG_KEY, value: encodeLog(entries) });
    } else if (entries.length > 0) {
      // Split so that no log op passes TS_LOG_OP_BYTES_MAX; a series' entries keep their order.
      let chunk: LogEntry[] = [];
      let size = 0;
      for (const e of entries) {
        const n = e.type === ENTRY_SAMPLES ? e.ts.length : 1;
        if (size + n > perOp && chunk.length > 0) {
          out.push({ type: "log", key: TS_LOG_KEY, value: encodeLog(chunk) });
          chunk = [];
          size = 0;
        }
        if (e.type === ENTRY_SAMPLES && n > perOp) {
          for (let i = 0; i < n; i += perOp) {
            out.push({
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
      if (chunk.length > 0) out.push({ type: "log", key: TS_LOG_KEY, value: encodeLog(chunk) });
    }
    const ops = this.#ops;
    if (ops !== undefined) { for (let i = 0; i < ops.length; i++) out.push(ops[i]!); }
    if (this.chunks.hasStaged) { for (const op of this.chunks.takeStagedOps()) out.push(op); }
    if (statePuts !== undefined) { for (const op of statePuts) out.push(op); }
    return out;
  }

  /** Entries to apply once the batch is written (they read what it wrote). */
  afterWrite(): readonly LogEntry[] {
    if (this.#drop === undefined) return this.#meta ?? NO_ENTRIES;
    if (this.#meta === undefined) return this.#drop;
    return [...this.#meta, ...this.#drop];
  }

  /** Bytes of log written so far (to bound one command). */
  get logBytes(): number {
    return this.#logBytes;
  }
}
