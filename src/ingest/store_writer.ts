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
import { findSeries, run, type StoreContext } from "../timeseries/context.ts";
import { createSeries } from "../timeseries/series_ops.ts";
import { TsError, writeSample } from "../timeseries/write.ts";
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
 */
export function ingestSamples(store: TimeSeriesStore, cols: IngestColumns): IngestResult {
  const ctx: StoreContext = store.context;
  let written = 0;
  let refused = 0;
  let created = 0;
  let firstRefusal: string | undefined;
  const refuse = (why: string) => {
    refused++;
    firstRefusal ??= why;
  };
  const durables: Promise<void>[] = [];
  let cache = known.get(ctx);
  if (cache === undefined) known.set(ctx, cache = new Map());
  // Keys refused or deleted stay in the map: start over rather than grow without bound.
  if (cache.size > 2 * ctx.seriesMax) cache.clear();
  // Series resolved in this request (a string: refused, with the reason).
  const resolved = new Map<IngestTarget, Series | string>();
  for (let start = 0; start < cols.samples; start += INGEST_BATCH_SAMPLES_MAX) {
    const end = Math.min(cols.samples, start + INGEST_BATCH_SAMPLES_MAX);
    const { durable } = run(ctx, (b) => {
      for (let i = start; i < end; i++) {
        const t = cols.seriesOf(i);
        let s = resolved.get(t);
        if (s === undefined) {
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
        }
        if (typeof s === "string") {
          refuse(s);
          continue;
        }
        const ts = cols.timestamps[i]!;
        if (!Number.isSafeInteger(ts) || ts < 0) {
          refuse(
            `series ${t.key}: timestamp ${ts} ms is before 1970 (the store keeps 0 and later)`,
          );
          continue;
        }
        try {
          writeSample(b, s, ts, cols.values[i]!, "last");
          written++;
        } catch (err) {
          if (!(err instanceof TsError)) throw err;
          refuse(`series ${t.key}: ${reason(err)}`);
        }
      }
    });
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
