/**
 * Reads: TS.GET, TS.MGET, TS.RANGE/TS.REVRANGE, TS.MRANGE/TS.MREVRANGE (GROUPBY ... REDUCE),
 * TS.INFO and TS.QUERYINDEX, as RedisTimeSeries 1.8 answers them (ARCHITECTURE.md § "Queries
 * and aggregation"). Every read is synchronous, so no write lands in the middle of one.
 *
 * Pipeline of a range: samples in `[max(from, retention cutoff), to]` -> LATEST's partial
 * bucket (a compaction) -> FILTER_BY_TS -> FILTER_BY_VALUE -> AGGREGATION -> reverse -> COUNT.
 *
 * @module
 */

import { TS_QUERY_BUCKETS_MAX } from "../limits.ts";
import {
  aggregate,
  aggregateRange,
  type AggregationSpec,
  bucketsSpanned,
  bucketStartRaw,
  type EdgeSample,
} from "./aggregate.ts";
import { chunkHeader } from "./codec.ts";
import { getSeries, type StoreContext } from "./context.ts";
import type { Samples } from "./head.ts";
import { chunkKey } from "./log.ts";
import type { Aggregator, Rule } from "./meta.ts";
import { beginScratchResults, mergeRuns, reduceEqual } from "./query_merge.ts";
import { isLive, liveByVersion } from "./series_ops.ts";
import type { Series } from "./series_set.ts";
import { readParts, readSamples, sampleAfter, sampleBefore, tsError } from "./write.ts";

/** A range query's options (parsed and checked by the front end). */
export interface RangeArgs {
  /** First timestamp (inclusive). */
  from: number;
  /** Last timestamp (inclusive). */
  to: number;
  /** Add a compaction's partial newest bucket. */
  latest?: boolean;
  /** Only these timestamps (sorted, unique). */
  filterByTs?: number[];
  /** Only values in `[min, max]`. */
  filterByValue?: { min: number; max: number };
  /** At most this many results (after aggregation and ordering). */
  count?: number;
  /** Aggregate into buckets. */
  aggregation?: AggregationSpec;
  /** Newest first. */
  reverse?: boolean;
}

/** Timestamps and values, as plain arrays (a reply). */
export interface Points {
  /** Timestamps. */
  ts: number[];
  /** Values. */
  values: number[];
}

/** The rule that feeds `series`, with its source, if both still exist. */
function feedingRule(ctx: StoreContext, series: Series): { src: Series; rule: Rule } | undefined {
  if (series.meta.sourceVersion === 0) return undefined;
  const src = liveByVersion(ctx, series.meta.sourceVersion);
  const rule = src?.meta.rules.find((r) => r.destVersion === series.version);
  return src && rule ? { src, rule } : undefined;
}

/** A compaction's partial newest bucket (LATEST), if its source has samples in it. */
export function latestBucket(
  ctx: StoreContext,
  series: Series,
): { ts: number; value: number } | undefined {
  const feed = feedingRule(ctx, series);
  if (!feed || feed.src.lastTs < 0) return undefined;
  const { src, rule } = feed;
  const raw = bucketStartRaw(src.lastTs, rule.bucketMs, rule.alignMs);
  const start = Math.max(0, raw);
  const from = Math.max(start, rule.startTs);
  const s = readSamples(ctx, src, from, raw + rule.bucketMs - 1);
  if (s.ts.length === 0) return undefined;
  const value = aggregate(rule.aggregator, s.ts, s.values, 0, s.ts.length, {
    prev: rule.aggregator === "twa" ? sampleBefore(ctx, src, from) : undefined,
    next: undefined,
    frameStart: start,
    frameEnd: start + rule.bucketMs,
  });
  return { ts: start, value };
}

/** TS.GET: the newest sample, or undefined when the series is empty. */
export function get(
  ctx: StoreContext,
  series: Series,
  latest: boolean,
): { ts: number; value: number } | undefined {
  if (latest) {
    const partial = latestBucket(ctx, series);
    if (partial && partial.ts > series.lastTs) return partial;
  }
  return series.lastTs >= 0 ? { ts: series.lastTs, value: series.lastValue } : undefined;
}

/**
 * The samples one query may still collect, all its series together (`querySamplesMax`,
 * `TS_QUERY_SAMPLES_MAX`): counted as each series' samples are read, before aggregation, which
 * needs them all in memory.
 */
export class QueryBudget {
  #left: number;
  readonly #max: number;

  /** A fresh budget of `ctx.querySamplesMax`. */
  constructor(ctx: StoreContext) {
    this.#max = this.#left = ctx.querySamplesMax;
  }

  /** Counts `n` samples read; past the budget the query is refused. */
  charge(n: number): void {
    this.#left -= n;
    if (this.#left < 0) {
      throw tsError(
        `TSDB: query too large: more than ${this.#max} samples in range (narrow the time range or the FILTER)`,
      );
    }
  }
}

/** The samples a range query answers for one series, counted against `budget`. */
export function rangeOf(
  ctx: StoreContext,
  series: Series,
  args: RangeArgs,
  budget: QueryBudget = new QueryBudget(ctx),
): Points {
  const from = Math.max(args.from, series.retentionCutoff);
  const to = args.to;
  const plain = args.latest === undefined && args.filterByTs === undefined &&
    args.filterByValue === undefined;
  // The aggregation path only reads the merged samples (into new arrays): scratch buffers do.
  const scratch = plain && args.aggregation !== undefined;
  const s: Samples = from <= to ? readSamples(ctx, series, from, to, scratch) : emptySamples();
  budget.charge(s.ts.length);
  if (scratch) {
    // The common dashboard query: aggregate the decoded arrays without copying them.
    const n = s.ts.length;
    const agg = { ...args.aggregation!, reverse: args.reverse === true };
    const out = aggregateRange(agg, s.ts, s.values, n, edgesOf(ctx, series, agg, s.ts, n, args));
    return finish(out.ts, out.values, args);
  }
  let ts = toArray(s.ts);
  let values = toArray(s.values);
  if (args.latest) {
    const partial = latestBucket(ctx, series);
    if (partial && partial.ts > series.lastTs && partial.ts >= from && partial.ts <= to) {
      ts.push(partial.ts);
      values.push(partial.value);
    }
  }
  if (args.filterByTs) {
    const wanted = new Set(args.filterByTs);
    const keep = ts.map((t) => wanted.has(t));
    ts = ts.filter((_, i) => keep[i]);
    values = values.filter((_, i) => keep[i]);
  }
  if (args.filterByValue) {
    const { min, max } = args.filterByValue;
    const keep = values.map((v) => v >= min && v <= max);
    ts = ts.filter((_, i) => keep[i]);
    values = values.filter((_, i) => keep[i]);
  }
  if (args.aggregation) {
    const agg = { ...args.aggregation, reverse: args.reverse === true };
    const filtered = args.filterByTs !== undefined || args.filterByValue !== undefined;
    const edges = filtered
      ? { rangeStart: args.from, rangeEnd: args.to }
      : edgesOf(ctx, series, agg, ts, ts.length, args);
    const out = aggregateRange(agg, ts, values, ts.length, edges);
    ts = out.ts;
    values = out.values;
  }
  return finish(ts, values, args);
}

/**
 * The samples just outside a range's `n` samples `ts` (for `twa`, EMPTY `last` and EMPTY
 * `twa`'s edge buckets), after checking that EMPTY's buckets stay under
 * `TS_QUERY_BUCKETS_MAX`: a gap of a year at 1 ms buckets must not fill the server's memory.
 */
function edgesOf(
  ctx: StoreContext,
  series: Series,
  agg: AggregationSpec,
  ts: ArrayLike<number>,
  n: number,
  args: RangeArgs,
): {
  prev?: EdgeSample | undefined;
  next?: EdgeSample | undefined;
  rangeStart: number;
  rangeEnd: number;
} {
  let prev: EdgeSample | undefined;
  let next: EdgeSample | undefined;
  const twaEmpty = agg.empty && agg.aggregator === "twa";
  if (n > 0) {
    prev = sampleBefore(ctx, series, ts[0]!);
    next = sampleAfter(ctx, series, ts[n - 1]!);
  } else if (twaEmpty && args.from <= args.to) {
    prev = sampleBefore(ctx, series, args.from);
    next = prev === undefined ? undefined : sampleAfter(ctx, series, args.to);
  }
  if (agg.empty) {
    const first = twaEmpty && prev !== undefined ? args.from : n > 0 ? ts[0]! : undefined;
    const last = twaEmpty && next !== undefined ? args.to : n > 0 ? ts[n - 1]! : undefined;
    if (
      first !== undefined && last !== undefined &&
      bucketsSpanned(agg, first, last) > TS_QUERY_BUCKETS_MAX
    ) {
      throw tsError(
        `TSDB: query too large: EMPTY would answer more than ${TS_QUERY_BUCKETS_MAX} buckets (use a larger bucket or a shorter range)`,
      );
    }
  }
  return { prev, next, rangeStart: args.from, rangeEnd: args.to };
}

/** REVERSE and COUNT, the last steps of a range. */
function finish(ts: number[], values: number[], args: RangeArgs): Points {
  if (args.reverse) {
    ts.reverse();
    values.reverse();
  }
  if (args.count !== undefined && ts.length > args.count) {
    ts.length = args.count;
    values.length = args.count;
  }
  return { ts, values };
}

/** A plain array copy (`Array.from` on a typed array goes through the iterator: ~10× slower). */
function toArray(a: Float64Array): number[] {
  const out = new Array<number>(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]!;
  return out;
}

function emptySamples(): Samples {
  return { ts: new Float64Array(0), values: new Float64Array(0) };
}

/** One series of a multi-series reply. */
export interface SeriesResult {
  /** Key (or `label=value` for a GROUPBY group). */
  key: Uint8Array;
  /** Every label pair, as binary strings (the front end selects what to show). */
  labels: [string, string][];
  /** Its points (typed arrays for a GROUPBY group). */
  points: Points | Samples;
}

/** TS.MRANGE/TS.MREVRANGE without GROUPBY: one result per series, by key. */
export function mrange(
  ctx: StoreContext,
  selected: readonly Series[],
  args: RangeArgs,
  budget: QueryBudget = new QueryBudget(ctx),
): SeriesResult[] {
  return selected.map((s) => ({
    key: s.key,
    labels: s.meta.labels,
    points: rangeOf(ctx, s, args, budget),
  }));
}

/**
 * GROUPBY label REDUCE reducer: series are grouped by their value of `label` (series without it
 * are left out), each group's points (after per-series aggregation) are reduced per timestamp;
 * the group is named `label=value` with labels `label`, `__reducer__`, `__source__`. With
 * `scratch`, the groups' points may view buffers the next scratch query overwrites.
 */
export function mrangeGrouped(
  ctx: StoreContext,
  selected: readonly Series[],
  args: RangeArgs,
  label: string,
  reducer: Aggregator,
  budget: QueryBudget = new QueryBudget(ctx),
  scratch = false,
): SeriesResult[] {
  if (scratch) beginScratchResults();
  const groups = new Map<string, Series[]>();
  for (const s of selected) {
    const v = s.labelMap.get(label);
    if (v === undefined) continue;
    let list = groups.get(v);
    if (!list) groups.set(v, list = []);
    list.push(s);
  }
  const perSeries: RangeArgs = { ...args, reverse: false };
  delete perSeries.count;
  const plain = perSeries.aggregation === undefined && perSeries.latest === undefined &&
    perSeries.filterByTs === undefined && perSeries.filterByValue === undefined;
  const out: SeriesResult[] = [];
  const names = [...groups.keys()].sort((a, b) => {
    const x = `${label}=${a}`;
    const y = `${label}=${b}`;
    return x < y ? -1 : x > y ? 1 : 0;
  });
  for (const value of names) {
    const members = groups.get(value)!;
    // Each member's points as one ascending run (the views of its chunks and head), runs merged
    // into fresh arrays, then each set of equal timestamps reduced in place (query_merge.ts).
    const runs: Samples[][] = members.map((s) => {
      const parts: Samples[] = [];
      if (plain) {
        const from = Math.max(perSeries.from, s.retentionCutoff);
        if (from <= perSeries.to) readParts(ctx, s, from, perSeries.to, parts);
        let n = 0;
        for (const p of parts) n += p.ts.length;
        budget.charge(n);
      } else {
        const p = rangeOf(ctx, s, perSeries, budget);
        parts.push({ ts: Float64Array.from(p.ts), values: Float64Array.from(p.values) });
      }
      return parts;
    });
    const merged = mergeRuns(runs, scratch);
    const m = reduceEqual(reducer, merged.ts, merged.values, merged.ts.length);
    let ts = merged.ts.subarray(0, m);
    let values = merged.values.subarray(0, m);
    if (args.reverse) {
      ts.reverse();
      values.reverse();
    }
    if (args.count !== undefined && m > args.count) {
      ts = ts.subarray(0, args.count);
      values = values.subarray(0, args.count);
    }
    const name = `${label}=${value}`;
    out.push({
      key: new Uint8Array([...name].map((c) => c.charCodeAt(0) & 0xff)),
      labels: [
        [label, value],
        ["__reducer__", reducer],
        ["__source__", members.map((s) => s.keyString).join(",")],
      ],
      points: { ts, values },
    });
  }
  return out;
}

/** What TS.INFO reports. */
export interface SeriesInfo {
  totalSamples: number;
  memoryUsage: number;
  firstTimestamp: number;
  lastTimestamp: number;
  retentionTime: number;
  chunkCount: number;
  chunkSize: number;
  chunkType: "compressed" | "uncompressed";
  duplicatePolicy: string | undefined;
  labels: [string, string][];
  sourceKey: Uint8Array | undefined;
  rules: { key: Uint8Array; bucketMs: number; aggregator: string; alignMs: number }[];
  /** With DEBUG: each chunk (the head last, unless it is empty after sealed chunks). */
  chunks?: { startTimestamp: number; endTimestamp: number; samples: number; size: number }[];
}

/** TS.INFO [DEBUG]. */
export function info(ctx: StoreContext, key: Uint8Array, debug: boolean): SeriesInfo {
  const s = getSeries(ctx, key);
  const meta = s.meta;
  const cutoff = s.retentionCutoff;
  let skipped = 0;
  let first = s.firstTs;
  if (cutoff > 0 && first >= 0 && first < cutoff) {
    // Samples older than the retention are invisible until their chunk is dropped.
    const gone = readSamples(ctx, s, first, cutoff - 1);
    skipped = gone.ts.length;
    first = s.totalSamples > skipped ? sampleAfter(ctx, s, cutoff - 1)?.ts ?? 0 : 0;
  }
  const src = meta.sourceVersion !== 0 ? liveByVersion(ctx, meta.sourceVersion) : undefined;
  const rules = meta.rules.flatMap((r) => {
    const d = liveByVersion(ctx, r.destVersion);
    return d
      ? [{ key: d.key, bucketMs: r.bucketMs, aggregator: r.aggregator, alignMs: r.alignMs }]
      : [];
  });
  const chunkRows = ctx.db.readRange(
    { start: chunkKey(s.version, 0), end: chunkKey(s.version + 1, 0) },
    { limit: Number.MAX_SAFE_INTEGER },
  );
  let chunkBytes = 0;
  const chunks: NonNullable<SeriesInfo["chunks"]> = [];
  for (const [, value] of chunkRows) {
    chunkBytes += value.length;
    if (debug) {
      const h = chunkHeader(value);
      chunks.push({
        startTimestamp: h.firstTs,
        endTimestamp: h.lastTs,
        samples: h.count,
        size: value.length,
      });
    }
  }
  // As RedisTimeSeries, whose newest chunk is opened by the sample that no longer fits the
  // last one: a head left empty by sealing a full chunk is not a chunk until a sample arrives.
  // An empty head after a chunk that is not full (TS.DEL emptied it, or an early seal) shows,
  // as RedisTimeSeries keeps its last chunk when a delete empties it; so does the one empty
  // chunk of a series without samples.
  const lastSealed = chunkRows.length > 0 ? chunkRows[chunkRows.length - 1]![1] : undefined;
  const headShown = s.head.count > 0 || lastSealed === undefined ||
    chunkHeader(lastSealed).count < s.chunkSamples;
  if (debug && headShown) {
    chunks.push({
      startTimestamp: s.head.count > 0 ? s.head.firstTs : -1,
      endTimestamp: s.head.count > 0 ? s.head.lastTs : -1,
      samples: s.head.count,
      size: s.head.sizeBytes,
    });
  }
  const labelBytes = meta.labels.reduce((n, [a, b]) => n + a.length + b.length, 0);
  const result: SeriesInfo = {
    totalSamples: s.totalSamples - skipped,
    memoryUsage: 256 + labelBytes + s.head.sizeBytes + chunkBytes,
    firstTimestamp: first < 0 ? 0 : first,
    lastTimestamp: s.lastTs < 0 ? 0 : s.lastTs,
    retentionTime: meta.retentionMs,
    chunkCount: chunkRows.length + (headShown ? 1 : 0),
    chunkSize: meta.chunkSizeBytes,
    chunkType: meta.uncompressed ? "uncompressed" : "compressed",
    duplicatePolicy: meta.duplicatePolicy,
    labels: meta.labels,
    sourceKey: src?.key,
    rules,
  };
  if (debug) result.chunks = chunks;
  return result;
}

/** TS.QUERYINDEX and the HTTP series list: live series keys matching the filters, by key. */
export function liveKeys(ctx: StoreContext, selected: readonly Series[]): Uint8Array[] {
  return selected.filter((s) => isLive(ctx, s)).map((s) => s.key);
}
