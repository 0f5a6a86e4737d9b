/**
 * Commands that create, change, move and delete series and their samples: TS.CREATE,
 * TS.ALTER, TS.ADD, TS.MADD, TS.INCRBY/DECRBY, TS.DEL (and its FILTER form), and what the
 * keyspace commands RENAME and COPY do to a series. Semantics and error strings are
 * RedisTimeSeries 1.8's (ARCHITECTURE.md § "Time-series commands").
 *
 * @module
 */

import type { WriteOp } from "../engine/mod.ts";
import { TYPE_TIMESERIES } from "../keyspace/mod.ts";
import { KIND_META } from "../util/entry.ts";
import {
  TS_CHUNK_SIZE_BYTES_DEFAULT,
  TS_KEY_BYTES_MAX,
  TS_LABEL_BYTES_MAX,
  TS_LABELS_MAX,
  TS_SAMPLES_PER_WRITE_MAX,
} from "../limits.ts";
import type { Batch } from "./batch.ts";
import {
  type MaddColumns,
  maddColumns as toMaddColumns,
  type MaddReplies,
  writeMadd,
  writeRun,
} from "./bulk.ts";
import {
  appendSample,
  findSeries,
  getSeries,
  run,
  type StoreContext,
  type Writer,
  type Written,
} from "./context.ts";
import type { LabelFilter } from "./labels.ts";
import { chunkKey, encodeState, registryKey, stateKey } from "./log.ts";
import { type DuplicatePolicy, encodeSeriesMeta, type Rule, type SeriesMeta } from "./meta.ts";
import { Series } from "./series_set.ts";
import { deleteRange, TsError, tsError, writeSample } from "./write.ts";

/** Options of a new series (TS.CREATE; TS.ADD/TS.INCRBY when they create). */
export interface CreateOptions {
  /** RETENTION (ms; 0 = keep everything). */
  retentionMs?: number;
  /** CHUNK_SIZE (bytes; also samples per sealed chunk). */
  chunkSizeBytes?: number;
  /** DUPLICATE_POLICY. */
  duplicatePolicy?: DuplicatePolicy | undefined;
  /** LABELS, as binary strings. */
  labels?: [string, string][];
  /** ENCODING UNCOMPRESSED was given. */
  uncompressed?: boolean;
  /** IGNORE maxTimeDiff (ms). */
  ignoreMaxTimeDiffMs?: number;
  /** IGNORE maxValDiff. */
  ignoreMaxValDiff?: number;
}

/** Checks labels against the limits (before anything is written). */
export function checkLabels(labels: readonly [string, string][]): void {
  if (labels.length > TS_LABELS_MAX) {
    throw tsError(`TSDB: too many labels: ${labels.length} (limit ${TS_LABELS_MAX})`);
  }
  for (let i = 0; i < labels.length; i++) {
    const [name, value] = labels[i]!;
    if (name.length > TS_LABEL_BYTES_MAX || value.length > TS_LABEL_BYTES_MAX) {
      throw tsError(`TSDB: label too long: more than ${TS_LABEL_BYTES_MAX} bytes`);
    }
  }
}

/** The engine op writing `meta` at the series' key, keeping the key's expiry. */
export function metaOp(ctx: StoreContext, key: Uint8Array, meta: SeriesMeta): WriteOp {
  const expireAtMs = ctx.db.getEntry(key)?.expireAtMs ?? 0;
  return expireAtMs === 0
    ? { type: "meta", key, value: encodeSeriesMeta(meta) }
    : { type: "meta", key, value: encodeSeriesMeta(meta), expireAtMs };
}

/**
 * The labels and rules of a series created without any: shared (metadata arrays are replaced,
 * never changed in place; frozen so that a change would fail), two arrays fewer per series.
 */
const NO_LABELS = Object.freeze([]) as unknown as [string, string][];
const NO_RULES = Object.freeze([]) as unknown as Rule[];

/** Bytes of a slab of `seriesKeyCopy`. */
const KEY_SLAB_BYTES = 16 * 1024;
/** Longer keys get their own array. */
const KEY_SLAB_TAKE_MAX = 256;
let keySlab = new Uint8Array(KEY_SLAB_BYTES);
let keySlabUsed = 0;

/**
 * A copy of a new series' key, carved from a slab that holds only series keys (which live as
 * long as their series): a view is half the heap of an array of its own (~100 vs ~200 bytes in
 * V8), and the heap of every series is what each full garbage collection walks again.
 */
function seriesKeyCopy(key: Uint8Array): Uint8Array {
  const n = key.length;
  if (n > KEY_SLAB_TAKE_MAX) return key.slice();
  if (keySlabUsed + n > KEY_SLAB_BYTES) {
    keySlab = new Uint8Array(KEY_SLAB_BYTES);
    keySlabUsed = 0;
  }
  const out = new Uint8Array(keySlab.buffer, keySlabUsed, n);
  for (let i = 0; i < n; i++) out[i] = key[i]!;
  keySlabUsed += n;
  return out;
}

/**
 * Creates a series in the running batch, expiring at `expireAtMs` (0 = never). REQUIRES: `key`
 * holds nothing, or what it holds is dropped in the same batch.
 */
export function createSeries(
  ctx: StoreContext,
  b: Batch,
  key: Uint8Array,
  options: CreateOptions,
  expireAtMs = 0,
): Series {
  if (key.length > TS_KEY_BYTES_MAX) {
    throw tsError(`TSDB: key too long: ${key.length} bytes (limit ${TS_KEY_BYTES_MAX})`);
  }
  if (ctx.set.size + b.createdCount >= ctx.seriesMax) {
    throw tsError(`TSDB: too many series: limit ${ctx.seriesMax} reached`);
  }
  const labels = options.labels === undefined || options.labels.length === 0
    ? NO_LABELS
    : options.labels;
  checkLabels(labels);
  const { version, op } = ctx.versions.allocate();
  const meta: SeriesMeta = {
    version,
    retentionMs: options.retentionMs ?? 0,
    chunkSizeBytes: options.chunkSizeBytes ?? TS_CHUNK_SIZE_BYTES_DEFAULT,
    duplicatePolicy: options.duplicatePolicy,
    uncompressed: options.uncompressed ?? false,
    ignoreMaxTimeDiffMs: options.ignoreMaxTimeDiffMs ?? 0,
    ignoreMaxValDiff: options.ignoreMaxValDiff ?? 0,
    labels,
    sourceVersion: 0,
    rules: NO_RULES,
  };
  const metaPut: WriteOp = expireAtMs === 0
    ? { type: "meta", key, value: encodeSeriesMeta(meta) }
    : { type: "meta", key, value: encodeSeriesMeta(meta), expireAtMs };
  b.ops.push(op, metaPut, { type: "put", key: registryKey(version), value: key });
  b.meta(version);
  // Its own copy of the key: a RESP argument views a slab shared with other arguments, which
  // the series would keep alive as long as it lives (`SeriesSet.reload` is not run to replace it).
  const series = new Series(seriesKeyCopy(key), meta);
  ctx.set.add(series);
  b.noteCreated(series, metaPut);
  return series;
}

/** TS.CREATE. */
export function create(
  ctx: StoreContext,
  key: Uint8Array,
  options: CreateOptions,
  write?: Writer,
): Written<void> {
  return run(ctx, (b) => {
    if (ctx.db.getEntry(key) !== undefined) throw tsError("TSDB: key already exists");
    createSeries(ctx, b, key, options);
  }, write);
}

/** TS.ALTER: only the options given change; `labels` replaces every label. */
export function alter(
  ctx: StoreContext,
  key: Uint8Array,
  options: CreateOptions,
  write?: Writer,
): Written<void> {
  return run(ctx, (b) => {
    const series = getSeries(ctx, key);
    if (options.labels) checkLabels(options.labels);
    const meta: SeriesMeta = { ...series.meta };
    if (options.retentionMs !== undefined) meta.retentionMs = options.retentionMs;
    if (options.chunkSizeBytes !== undefined) meta.chunkSizeBytes = options.chunkSizeBytes;
    if (options.duplicatePolicy !== undefined) meta.duplicatePolicy = options.duplicatePolicy;
    if (options.labels !== undefined) meta.labels = options.labels;
    if (options.ignoreMaxTimeDiffMs !== undefined) {
      meta.ignoreMaxTimeDiffMs = options.ignoreMaxTimeDiffMs;
    }
    if (options.ignoreMaxValDiff !== undefined) meta.ignoreMaxValDiff = options.ignoreMaxValDiff;
    b.ops.push(metaOp(ctx, key, meta));
    b.meta(series.version);
    ctx.set.update(series, series.key, meta);
  }, write);
}

/** One sample to add; `ts` undefined = the server clock (`*`). */
export interface SampleIn {
  /** Series key. */
  key: Uint8Array;
  /** Timestamp (ms), or undefined for now. */
  ts: number | undefined;
  /** Value. */
  value: number;
}

/**
 * TS.ADD: creates the series when missing (with `create`), returns the timestamp. `found` is
 * the series at the key when the caller looked it up synchronously before (null: the key holds
 * nothing), else undefined.
 */
export function add(
  ctx: StoreContext,
  sample: SampleIn,
  options: {
    onDuplicate?: DuplicatePolicy | undefined;
    create?: CreateOptions;
    found?: Series | null | undefined;
  },
  write?: Writer,
): Written<number> {
  const ts = sample.ts ?? ctx.nowMs();
  // Known: the key was looked up (here or by the caller) without an error, and nothing ran
  // since, so `run` below need not look it up again.
  let found: Series | undefined;
  let known = options.found !== undefined;
  if (known) found = options.found ?? undefined;
  else {
    try {
      found = findSeries(ctx, sample.key);
      known = true;
    } catch (err) {
      // Answered by `run` below, in its order (a replica's READONLY first).
      if (!(err instanceof TsError)) throw err;
    }
  }
  if (found !== undefined) {
    const done = appendSample(ctx, found, ts, sample.value, write, options.onDuplicate);
    if (done !== undefined) return done;
  }
  return run(ctx, (b) => {
    let series: Series | undefined = found;
    if (!known) {
      try {
        series = findSeries(ctx, sample.key, b);
      } catch (err) {
        if (err instanceof TsError) throw tsError("TSDB: the key is not a TSDB key");
        throw err;
      }
    }
    if (!series) series = createSeries(ctx, b, sample.key, options.create ?? {});
    return writeSample(b, series, ts, sample.value, options.onDuplicate);
  }, write);
}

/**
 * TS.MADD: every sample independently (a missing key or a refused sample is that sample's
 * error, the others are written), all in one batch. Items already refused by parsing are
 * passed through as their `TsError`.
 */
export function madd(
  ctx: StoreContext,
  samples: readonly (SampleIn | TsError)[],
  write?: Writer,
): Written<(number | TsError)[]> {
  if (samples.length > TS_SAMPLES_PER_WRITE_MAX) {
    throw tsError(`TSDB: too many samples: ${samples.length} (limit ${TS_SAMPLES_PER_WRITE_MAX})`);
  }
  const written = maddColumns(ctx, toMaddColumns(samples), write);
  const { replies, errors } = written.value;
  const value = Array.from(replies, (r, i): number | TsError => errors?.[i] ?? r);
  return { ...written, value };
}

/** TS.MADD of samples given as columns (the RESP handler's form): replies as columns too. */
export function maddColumns(
  ctx: StoreContext,
  cols: MaddColumns,
  write?: Writer,
): Written<MaddReplies> {
  if (cols.n > TS_SAMPLES_PER_WRITE_MAX) {
    throw tsError(`TSDB: too many samples: ${cols.n} (limit ${TS_SAMPLES_PER_WRITE_MAX})`);
  }
  const lookups = ctx.lookups;
  return run(
    ctx,
    (b) => {
      lookups.begin(ctx);
      return writeMadd(b, cols, ctx.nowMs(), (key) => lookups.find(ctx, key, b));
    },
    write,
  );
}

/**
 * Samples for one key (the HTTP API's POST): creates the series with `create` when missing,
 * then adds each sample under `onDuplicate` (or the series' policy); per-sample refusals are
 * returned, the other samples are written, all in one batch.
 */
export function writeMany(
  ctx: StoreContext,
  key: Uint8Array,
  samples: readonly SampleIn[],
  options: { create?: CreateOptions; onDuplicate?: DuplicatePolicy | undefined },
  write?: Writer,
): Written<(number | TsError)[]> {
  if (samples.length > TS_SAMPLES_PER_WRITE_MAX) {
    throw tsError(`TSDB: too many samples: ${samples.length} (limit ${TS_SAMPLES_PER_WRITE_MAX})`);
  }
  return run(ctx, (b) => {
    let series: Series | undefined;
    try {
      series = findSeries(ctx, key, b);
    } catch (err) {
      if (err instanceof TsError) throw tsError("TSDB: the key is not a TSDB key");
      throw err;
    }
    if (!series) series = createSeries(ctx, b, key, options.create ?? {});
    const now = ctx.nowMs();
    return samples.map((s) => {
      try {
        return writeSample(b, series!, s.ts ?? now, s.value, options.onDuplicate);
      } catch (err) {
        if (!(err instanceof TsError)) throw err;
        return err;
      }
    });
  }, write);
}

/** TS.INCRBY / TS.DECRBY. */
export function incrBy(
  ctx: StoreContext,
  key: Uint8Array,
  delta: number,
  options: { ts?: number | undefined; create?: CreateOptions },
  write?: Writer,
): Written<number> {
  const ts = options.ts ?? ctx.nowMs();
  // An existing series' newest sample or a newer one, as TS.ADD's: without the batch.
  let found: Series | undefined;
  let known = false;
  try {
    found = findSeries(ctx, key);
    known = true;
  } catch (err) {
    // Answered by `run` below, in its order (a replica's READONLY first).
    if (!(err instanceof TsError)) throw err;
  }
  if (found !== undefined && !(found.lastTs > 0 && ts < found.lastTs)) {
    const base = found.lastTs >= 0 ? found.lastValue : 0;
    const done = appendSample(ctx, found, ts, base + delta, write, "last");
    if (done !== undefined) return done;
  }
  return run(ctx, (b) => {
    // Looked up just before without an error (nothing ran since): not again.
    let series = known ? found : findSeries(ctx, key, b);
    if (series && series.lastTs > 0 && ts < series.lastTs) {
      // RedisTimeSeries answers this one without the ERR prefix.
      throw new TsError("TSDB: for incrby/decrby, timestamp should be newer than the lastest one");
    }
    if (!series) series = createSeries(ctx, b, key, options.create ?? {});
    const base = series.lastTs >= 0 ? series.lastValue : 0;
    return writeSample(b, series, ts, base + delta, "last");
  }, write);
}

/** TS.DEL key from to: returns the samples removed. */
export function del(
  ctx: StoreContext,
  key: Uint8Array,
  from: number,
  to: number,
  write?: Writer,
): Written<number> {
  return run(ctx, (b) => deleteRange(b, getSeries(ctx, key), from, to), write);
}

/** TS.DEL from to FILTER ...: deletes the range in every selected series; returns the total. */
export function delByFilter(
  ctx: StoreContext,
  selected: readonly Series[],
  from: number,
  to: number,
  write?: Writer,
): Written<number> {
  return run(ctx, (b) => {
    let total = 0;
    for (const s of selected) total += deleteRange(b, s, from, to);
    return total;
  }, write);
}

/** The ops that remove every trace of series `version` from the engine (not its key). */
export function dropOps(ctx: StoreContext, version: number): WriteOp[] {
  const ops: WriteOp[] = [
    { type: "delete", key: registryKey(version) },
    { type: "delete", key: stateKey(version) },
  ];
  for (const key of ctx.chunks.allKeys(version)) ops.push({ type: "delete", key });
  return ops;
}

/**
 * RENAME/RENAMENX of a series key (the keyspace command checked the keys): the metadata moves
 * to `dst` with its expiry, the data stays under its version. A series `dst` held is dropped.
 */
export function rename(
  ctx: StoreContext,
  src: Uint8Array,
  dst: Uint8Array,
  write?: Writer,
): Written<void> {
  return run(ctx, (b) => {
    const series = getSeries(ctx, src);
    const entry = ctx.db.getEntry(src)!;
    let replaced: Series | undefined;
    try {
      replaced = findSeries(ctx, dst);
    } catch {
      replaced = undefined; // another type: simply overwritten
    }
    if (replaced && replaced !== series) {
      b.ops.push(...dropOps(ctx, replaced.version));
      b.drop(replaced.version);
    }
    b.ops.push(
      { type: "delete", key: src },
      entry.expireAtMs === 0
        ? { type: "meta", key: dst, value: entry.value }
        : { type: "meta", key: dst, value: entry.value, expireAtMs: entry.expireAtMs },
      { type: "put", key: registryKey(series.version), value: dst },
    );
    b.meta(series.version);
  }, write);
}

/**
 * COPY of a series: a new series (new version) with the same options, labels and samples but
 * no rules, as RedisTimeSeries's CopySeries. The caller checked `dst` (REPLACE or missing).
 */
export function copy(
  ctx: StoreContext,
  src: Uint8Array,
  dst: Uint8Array,
  write?: Writer,
): Written<void> {
  return run(ctx, (b) => {
    const from = getSeries(ctx, src);
    let replaced: Series | undefined;
    try {
      replaced = findSeries(ctx, dst);
    } catch {
      replaced = undefined;
    }
    if (replaced) {
      b.ops.push(...dropOps(ctx, replaced.version));
      b.drop(replaced.version);
    }
    const { version, op } = ctx.versions.allocate();
    const meta: SeriesMeta = { ...from.meta, version, sourceVersion: 0, rules: [] };
    const expireAtMs = ctx.db.getEntry(src)?.expireAtMs ?? 0;
    b.ops.push(
      op,
      expireAtMs === 0
        ? { type: "meta", key: dst, value: encodeSeriesMeta(meta) }
        : { type: "meta", key: dst, value: encodeSeriesMeta(meta), expireAtMs },
      { type: "put", key: registryKey(version), value: dst },
      { type: "put", key: stateKey(version), value: encodeState(b.seq - 1, from.stats, from.head) },
    );
    for (
      const [key, value] of ctx.db.readRange(
        { start: chunkKey(from.version, 0), end: chunkKey(from.version + 1, 0) },
        { limit: Number.MAX_SAFE_INTEGER },
      )
    ) {
      const ts = new DataView(key.buffer, key.byteOffset + 10, 8);
      const firstTs = ts.getUint32(0) * 0x1_0000_0000 + ts.getUint32(4);
      b.ops.push({ type: "put", key: chunkKey(version, firstTs), value });
    }
    b.meta(version);
  }, write);
}

/**
 * RESTORE of a series payload at `key` (the command checked REPLACE): a new series with the
 * payload's options, labels and ascending samples, expiring at `expireAtMs` (0 = never), in
 * one batch. Whatever `key` held goes: its entry is overwritten, and a series' data dropped.
 */
export function restore(
  ctx: StoreContext,
  key: Uint8Array,
  input: { options: CreateOptions; ts: Float64Array; values: Float64Array; expireAtMs: number },
  write?: Writer,
): Written<void> {
  return run(ctx, (b) => {
    const replaced = seriesAt(ctx, key);
    // Created first: its checks (key length, labels, series count) throw before any op.
    const series = createSeries(ctx, b, key, input.options, input.expireAtMs);
    if (replaced) {
      b.ops.push(...dropOps(ctx, replaced.version));
      b.drop(replaced.version);
    }
    const n = input.ts.length;
    writeRun(b, series, input.ts, input.values, 0, n, "last", (_, err) => {
      throw err;
    });
  }, write);
}

/** The series of `key` if it is one (for the keyspace commands). */
export function seriesAt(ctx: StoreContext, key: Uint8Array): Series | undefined {
  try {
    return findSeries(ctx, key);
  } catch {
    return undefined;
  }
}

/** True when the series still lives at its key (not deleted, overwritten or expired). */
export function isLive(ctx: StoreContext, series: Series): boolean {
  const e = ctx.db.getEntry(series.key);
  if (e === undefined || e.kind !== KIND_META || e.value[0] !== TYPE_TIMESERIES) return false;
  // The entry the series' metadata was read from (same sequence) still holds the key: it is
  // live, without `findSeries` reading the entry again (TS.MRANGE checks every series it selects).
  if (e.seq === series.metaSeq && ctx.set.byVersion(series.version) === series) return true;
  try {
    return findSeries(ctx, series.key) === series;
  } catch {
    return false;
  }
}

/**
 * The series of `version` if it still lives at its key: a series deleted, overwritten or
 * expired stays in the set until garbage collection drops it, but from the moment its key goes
 * no rule may lead to it or from it (RedisTimeSeries removes them at once).
 */
export function liveByVersion(ctx: StoreContext, version: number): Series | undefined {
  const s = ctx.set.byVersion(version);
  return s !== undefined && isLive(ctx, s) ? s : undefined;
}

/** Every live series, ordered by key bytes. */
export function liveSeries(ctx: StoreContext): Series[] {
  return sortByKey([...ctx.set.all()].filter((s) => isLive(ctx, s)));
}

function sortByKey(list: Series[]): Series[] {
  return list.sort((a, b) => (a.keyString < b.keyString ? -1 : a.keyString > b.keyString ? 1 : 0));
}

/** The live series matching `filters`, ordered by key bytes. */
export function selectSeries(ctx: StoreContext, filters: readonly LabelFilter[]): Series[] {
  const ids = ctx.set.index.query(filters, (id) => ctx.set.byVersion(id)!.labelMap);
  const out: Series[] = [];
  for (const id of ids) {
    const s = ctx.set.byVersion(id);
    if (s && isLive(ctx, s)) out.push(s);
  }
  return sortByKey(out);
}
