/**
 * Writes ingested samples (Influx line protocol, Prometheus remote write) into the time-series
 * store (ARCHITECTURE.md § "Ingest into the store"): series are created on first write with
 * their labels plus `__name__` and the canonical key (`series_key.ts`); a sample at an existing
 * timestamp replaces it (Influx's and Prometheus's "last write wins" for one series and time);
 * every `INGEST_BATCH_SAMPLES_MAX` samples are one atomic engine batch.
 *
 * A sample the store refuses (negative or fractional timestamp, a key holding another type, a
 * label over the store's limits, the series cap) is counted with the first reason; the others
 * are written. Values keep their bits: NaN, ±Inf and staleness markers are stored as given.
 *
 * @module
 */

import type { TimeSeriesStore } from "../timeseries/store.ts";
import { findSeries, run, type StoreContext, type Writer } from "../timeseries/context.ts";
import { createSeries } from "../timeseries/series_ops.ts";
import { TsError } from "../timeseries/write.ts";
import { writeRun } from "../timeseries/bulk.ts";
import { textToBinary } from "../timeseries/meta.ts";
import { stringBytes } from "../timeseries/meta.ts";
import type { Series } from "../timeseries/series_set.ts";
import type { Batch } from "../timeseries/batch.ts";
import { INGEST_BATCH_SAMPLES_MAX } from "../limits.ts";
import { NAME_LABEL } from "./series_key.ts";

/** A series to write to: canonical key, metric name, other labels (UTF-8 text). */
export interface IngestTarget {
  readonly key: string;
  readonly name: string;
  readonly labels: readonly (readonly [string, string])[];
}

/** Samples in columns; sample `i` belongs to `series[i]`. */
export interface IngestColumns {
  /** Number of samples. */
  samples: number;
  /** Series of each sample (objects repeat: one per distinct series of the request). */
  seriesOf: (i: number) => IngestTarget;
  /** Timestamps (ms). */
  timestamps: Float64Array;
  /** Values (bit-exact). */
  values: Float64Array;
  /**
   * Optional: the series of the samples as dense numbers, `seriesOf(i) === targets[of[i]]`
   * (a parser knows them for free), which spares a lookup per sample.
   */
  ids?: { of: Int32Array; targets: readonly IngestTarget[] } | undefined;
}

/** What a write did. */
export interface IngestResult {
  /** Samples written. */
  written: number;
  /** Samples refused by the store. */
  refused: number;
  /** The first refusal, for the reply and the log. */
  firstRefusal: string | undefined;
  /** Series created. */
  created: number;
  /** Resolves when every written sample is durable (the engine's sync mode). */
  durable: Promise<void>;
}

/** A series found for a canonical key, and what proves it still lives there. */
interface Known {
  keyBytes: Uint8Array;
  series: Series | undefined;
}

/**
 * Per store: canonical key text → key bytes and the series last found there. Ingest names the
 * same few thousand series in every request; looking each up through `findSeries` costs two
 * binary-string conversions and a reload check per series per request.
 */
const known = new WeakMap<StoreContext, Map<string, Known>>();

/** The live series at `k`'s key, cheaply when the key's entry is the one it was read from. */
function lookup(ctx: StoreContext, k: Known, b: Batch): Series | undefined {
  const s = k.series;
  if (s !== undefined && ctx.set.byVersion(s.version) === s) {
    const e = ctx.db.getEntry(k.keyBytes);
    // Same entry sequence: the very META entry the series' metadata was read from.
    if (e !== undefined && e.seq === s.metaSeq && s.metaSeq !== 0) return s;
  }
  k.series = findSeries(ctx, k.keyBytes, b);
  return k.series;
}

function storeLabels(t: IngestTarget): [string, string][] {
  const out: [string, string][] = [[NAME_LABEL, textToBinary(t.name)]];
  for (const [n, v] of t.labels) out.push([textToBinary(n), textToBinary(v)]);
  return out;
}

function reason(err: TsError): string {
  return err.reply.replace(/^ERR /, "").replace(/^TSDB: /, "");
}

/**
 * Writes `cols` into `store`. Throws only what the engine throws (closed, disk full, read-only
 * replica as `TsError` READONLY); refusals of single samples are counted in the result.
 * `write` applies each batch's engine ops (default: the database's write).
 */
export function ingestSamples(
  store: TimeSeriesStore,
  cols: IngestColumns,
  write?: Writer,
): IngestResult {
  const ctx: StoreContext = store.context;
  let written = 0;
  let refused = 0;
  let created = 0;
  let firstRefusal: string | undefined;
  const durables: Promise<void>[] = [];
  let cache = known.get(ctx);
  if (cache === undefined) known.set(ctx, cache = new Map());
  // Keys refused or deleted stay in the map: start over rather than grow without bound.
  if (cache.size > 2 * ctx.seriesMax) cache.clear();
  // Series resolved in this request (a string: refused, with the reason).
  const resolved = new Map<IngestTarget, Series | string>();
  // Refusals may be found out of sample order (series by series): keep the earliest.
  let firstRefusalAt = Infinity;
  const refuse = (i: number, why: string) => {
    refused++;
    if (i < firstRefusalAt) {
      firstRefusalAt = i;
      firstRefusal = why;
    }
  };
  const resolve = (t: IngestTarget, b: Batch): Series | string => {
    let s = resolved.get(t);
    if (s !== undefined) return s;
    try {
      let k = cache.get(t.key);
      if (k === undefined) {
        k = { keyBytes: encoder.encode(t.key), series: undefined };
        cache.set(t.key, k);
      }
      let found: Series | undefined;
      try {
        found = lookup(ctx, k, b);
      } catch (err) {
        if (!(err instanceof TsError)) throw err;
        throw new TsError(`ERR key ${t.key} holds another type, not a time series`);
      }
      if (found === undefined) {
        found = createSeries(ctx, b, k.keyBytes, {
          labels: storeLabels(t),
          duplicatePolicy: "last",
        });
        k.series = found;
        created++;
      }
      s = found;
    } catch (err) {
      if (!(err instanceof TsError)) throw err;
      s = `series ${t.key}: ${reason(err)}`;
    }
    resolved.set(t, s);
    return s;
  };
  for (let start = 0; start < cols.samples; start += INGEST_BATCH_SAMPLES_MAX) {
    const end = Math.min(cols.samples, start + INGEST_BATCH_SAMPLES_MAX);
    const { durable } = run(ctx, (b) => {
      written += writeChunk(cols, start, end, b, resolve, refuse);
    }, write);
    durables.push(durable);
  }
  return {
    written,
    refused,
    firstRefusal,
    created,
    durable: Promise.all(durables).then(() => {}),
  };
}

const encoder = new TextEncoder();

/** The store's key of a canonical key text (tests). */
export function storeKey(key: string): Uint8Array {
  return stringBytes(textToBinary(key));
}

/** A target number not resolved yet in `writeChunk` (groups are ≥ −n and < n). */
const UNSEEN = 0x7fff_ffff;

/**
 * Writes samples `[start, end)` of `cols` in one batch. Series are resolved in sample order
 * (so series are created, and the series cap reached, exactly as sample by sample); then each
 * series' samples are written as one run (`writeRun`), in the order series first appear. Series
 * are independent, so this is the result of writing sample by sample — unless a series has
 * compaction rules, whose destinations other samples of the request may also write: then the
 * samples are written one by one in request order.
 */
function writeChunk(
  cols: IngestColumns,
  start: number,
  end: number,
  b: Batch,
  resolve: (t: IngestTarget, b: Batch) => Series | string,
  refuse: (i: number, why: string) => void,
): number {
  const n = end - start;
  const ts = cols.timestamps;
  const values = cols.values;
  // Group of each sample (−1: refused); groups are series in order of first appearance.
  const groupOf = new Int32Array(n);
  const byTarget = new Map<IngestTarget, number>();
  const bySeries = new Map<Series, number>();
  const groups: Series[] = [];
  const counts: number[] = [];
  const keys: string[] = [];
  let rules = false;
  let contiguous = true;
  let prev = -1;
  const ids = cols.ids;
  // Group of each target number (ids given), or UNSEEN.
  const byId = ids === undefined ? undefined : new Int32Array(ids.targets.length).fill(UNSEEN);
  for (let i = start; i < end; i++) {
    let t: IngestTarget;
    let g: number | undefined;
    if (byId !== undefined) {
      const id = ids!.of[i]!;
      t = ids!.targets[id]!;
      g = byId[id]!;
      if (g === UNSEEN) g = undefined;
    } else {
      t = cols.seriesOf(i);
      g = byTarget.get(t);
    }
    if (g === undefined) {
      const s = resolve(t, b);
      if (typeof s === "string") g = -1 - keys.length;
      else {
        g = bySeries.get(s);
        if (g === undefined) {
          g = groups.length;
          bySeries.set(s, g);
          groups.push(s);
          counts.push(0);
          if (s.meta.rules.length > 0) rules = true;
        }
      }
      if (byId !== undefined) byId[ids!.of[i]!] = g;
      else byTarget.set(t, g);
      keys.push(typeof s === "string" ? s : t.key);
    }
    if (g < 0) {
      refuse(i, keys[-1 - g]!);
      groupOf[i - start] = -1;
      continue;
    }
    const at = ts[i]!;
    if (!Number.isSafeInteger(at) || at < 0) {
      refuse(i, `series ${t.key}: timestamp ${at} ms is before 1970 (the store keeps 0 and later)`);
      groupOf[i - start] = -1;
      continue;
    }
    groupOf[i - start] = g;
    if (g !== prev) {
      if (counts[g]! > 0) contiguous = false;
      prev = g;
    }
    counts[g]!++;
  }
  let written = 0;
  const refuseErr = (i: number, key: string, err: TsError) =>
    refuse(i, `series ${key}: ${reason(err)}`);
  if (rules) {
    // Sample by sample, in request order.
    for (let i = start; i < end; i++) {
      const g = groupOf[i - start]!;
      if (g < 0) continue;
      written += writeRun(
        b,
        groups[g]!,
        ts,
        values,
        i,
        i + 1,
        "last",
        (j, err) => refuseErr(j, cols.seriesOf(j).key, err),
      );
    }
    return written;
  }
  if (contiguous) {
    // Each series' samples are already together (remote write): runs over the columns.
    let i = start;
    while (i < end) {
      const g = groupOf[i - start]!;
      let j = i + 1;
      while (j < end && groupOf[j - start] === g) j++;
      if (g >= 0) {
        written += writeRun(
          b,
          groups[g]!,
          ts,
          values,
          i,
          j,
          "last",
          (k, err) => refuseErr(k, cols.seriesOf(k).key, err),
        );
      }
      i = j;
    }
    return written;
  }
  // Gather each series' samples together (a stable counting sort), then write run by run.
  const offsets = new Int32Array(groups.length + 1);
  for (let g = 0; g < groups.length; g++) offsets[g + 1] = offsets[g]! + counts[g]!;
  const total = offsets[groups.length]!;
  const fill = offsets.slice(0, groups.length);
  const gTs = new Float64Array(total);
  const gValues = new Float64Array(total);
  const gIndex = new Int32Array(total);
  for (let i = start; i < end; i++) {
    const g = groupOf[i - start]!;
    if (g < 0) continue;
    const at = fill[g]!++;
    gTs[at] = ts[i]!;
    gValues[at] = values[i]!;
    gIndex[at] = i;
  }
  for (let g = 0; g < groups.length; g++) {
    written += writeRun(
      b,
      groups[g]!,
      gTs,
      gValues,
      offsets[g]!,
      offsets[g + 1]!,
      "last",
      (k, err) => refuseErr(gIndex[k]!, cols.seriesOf(gIndex[k]!).key, err),
    );
  }
  return written;
}
