/**
 * Aggregation: RedisTimeSeries 1.8's aggregators over time buckets (TS.RANGE AGGREGATION,
 * compaction rules) and its reducers (TS.MRANGE GROUPBY ... REDUCE). ARCHITECTURE.md
 * § "Queries and aggregation" states the semantics, including the edge cases below.
 *
 * - A bucket of `bucketMs` starting at `align` holds `[start, start + bucketMs)`; its start is
 *   `ts - ((ts - align) mod bucketMs)`, clamped at 0 (RedisTimeSeries's `CalcBucketStart` and
 *   `BucketStartNormalize`).
 * - Variance as RedisTimeSeries computes it (sum and sum of squares); `var.s`/`std.s` of one
 *   value is 0.
 * - `twa` is the time-weighted average of the linear interpolation of the samples over the
 *   bucket's time frame: from the bucket start (or the range start) when a sample precedes the
 *   bucket, else from its first sample; to the bucket end when a sample follows it, else to its
 *   last sample. One point (or a zero-width span) gives that point's value.
 * - EMPTY fills the buckets between the first and the last bucket holding data: `sum` and
 *   `count` with 0, `last` with the last value before the bucket, `twa` by interpolating the
 *   neighbours, every other aggregator with NaN. For `twa` it also fills the range's buckets
 *   before the first and after the last sample (all of them when none is inside), when a
 *   sample lies beyond that range edge to interpolate towards.
 *
 * @module
 */

import type { Aggregator } from "./meta.ts";

/** Where a bucket's reported timestamp lies. */
export type BucketTimestamp = "start" | "mid" | "end";

/** How a range query aggregates. */
export interface AggregationSpec {
  /** The aggregator. */
  aggregator: Aggregator;
  /** Bucket length in ms (>= 1). */
  bucketMs: number;
  /** Bucket alignment (a timestamp at which a bucket starts). */
  alignMs: number;
  /** Report empty buckets. */
  empty: boolean;
  /** Which timestamp stands for a bucket. */
  bucketTimestamp: BucketTimestamp;
  /**
   * TS.REVRANGE/MREVRANGE: RedisTimeSeries aggregates the samples newest first, so `first` is
   * a bucket's newest sample, `last` its oldest, and EMPTY `last` carries the value of the
   * sample after an empty bucket, not before it.
   */
  reverse?: boolean;
}

/** A sample outside the range, for `twa` at the edges. */
export interface EdgeSample {
  /** Timestamp. */
  ts: number;
  /** Value. */
  value: number;
}

/** The start of the bucket holding `ts`. */
export function bucketStart(ts: number, bucketMs: number, alignMs: number): number {
  return Math.max(0, bucketStartRaw(ts, bucketMs, alignMs));
}

/**
 * The start of the bucket holding `ts` before clamping at 0: with an alignment, the first
 * bucket may start before 0. RedisTimeSeries 1.8 reports it at 0 but ends it at this start +
 * bucketMs, so it is shorter, not shifted.
 */
export function bucketStartRaw(ts: number, bucketMs: number, alignMs: number): number {
  const diff = ts - alignMs;
  const mod = ((diff % bucketMs) + bucketMs) % bucketMs;
  return ts - mod;
}

/**
 * One aggregate over `values[a ... b)` (timestamps `ts[a ... b)`), or NaN when empty. For `twa`,
 * `prev`/`next` are the samples just outside and `[frameStart, frameEnd]` the bucket's frame.
 */
export function aggregate(
  aggregator: Aggregator,
  ts: ArrayLike<number>,
  values: ArrayLike<number>,
  a: number,
  b: number,
  twa?: {
    prev?: EdgeSample | undefined;
    next?: EdgeSample | undefined;
    frameStart: number;
    frameEnd: number;
  },
): number {
  const n = b - a;
  if (n <= 0) return NaN;
  switch (aggregator) {
    case "avg": {
      let sum = 0;
      for (let i = a; i < b; i++) sum += values[i]!;
      if (Number.isFinite(sum)) return sum / n;
      // The sum of finite values overflowed (RedisTimeSeries sums in an 80-bit long double and
      // does not): a running mean stays within the values' range.
      let mean = 0;
      for (let i = a; i < b; i++) mean += (values[i]! - mean) / (i - a + 1);
      return Number.isNaN(mean) ? sum / n : mean; // an infinite value: the sum's answer
    }
    case "sum": {
      let sum = 0;
      for (let i = a; i < b; i++) sum += values[i]!;
      return sum;
    }
    case "min": {
      let m = values[a]!;
      for (let i = a + 1; i < b; i++) if (values[i]! < m) m = values[i]!;
      return m;
    }
    case "max": {
      let m = values[a]!;
      for (let i = a + 1; i < b; i++) if (values[i]! > m) m = values[i]!;
      return m;
    }
    case "range": {
      let lo = values[a]!;
      let hi = lo;
      for (let i = a + 1; i < b; i++) {
        const v = values[i]!;
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
      return hi - lo;
    }
    case "count":
      return n;
    case "first":
      return values[a]!;
    case "last":
      return values[b - 1]!;
    case "var.p":
    case "var.s":
    case "std.p":
    case "std.s": {
      let sum = 0;
      let sum2 = 0;
      for (let i = a; i < b; i++) {
        const v = values[i]!;
        sum += v;
        sum2 += v * v;
      }
      let v = (sum2 - 2 * sum * sum / n + Math.pow(sum / n, 2) * n) / n;
      if (aggregator === "var.s" || aggregator === "std.s") v = n === 1 ? 0 : v * n / (n - 1);
      return aggregator.startsWith("std") ? Math.sqrt(v) : v;
    }
    case "twa":
      return timeWeighted(ts, values, a, b, twa);
  }
}

function timeWeighted(
  ts: ArrayLike<number>,
  values: ArrayLike<number>,
  a: number,
  b: number,
  edges: {
    prev?: EdgeSample | undefined;
    next?: EdgeSample | undefined;
    frameStart: number;
    frameEnd: number;
  } | undefined,
): number {
  let area = 0;
  let first = ts[a]!;
  let last = ts[b - 1]!;
  const prev = edges?.prev;
  const next = edges?.next;
  if (prev !== undefined && edges !== undefined) {
    // Interpolate the value at the frame start from the previous sample.
    const t1 = prev.ts;
    const v1 = prev.value;
    const t2 = ts[a]!;
    const v2 = values[a]!;
    const ta = Math.max(edges.frameStart, t1);
    const va = v1 + ((ta - t1) * (v2 - v1)) / (t2 - t1);
    area += ((va + v2) * (t2 - ta)) / 2;
    first = ta;
  }
  for (let i = a + 1; i < b; i++) {
    area += ((values[i - 1]! + values[i]!) * (ts[i]! - ts[i - 1]!)) / 2;
  }
  if (next !== undefined && edges !== undefined) {
    const t1 = ts[b - 1]!;
    const v1 = values[b - 1]!;
    const tb = Math.min(edges.frameEnd, next.ts);
    const vb = v1 + ((tb - t1) * (next.value - v1)) / (next.ts - t1);
    area += ((v1 + vb) * (tb - t1)) / 2;
    last = tb;
  }
  if (last === first) return values[b - 1]!;
  return area / (last - first);
}

/** The value of an empty bucket under EMPTY (see the module comment). */
function emptyValue(
  aggregator: Aggregator,
  bucket: number,
  bucketMs: number,
  prev: EdgeSample | undefined,
  next: EdgeSample | undefined,
): number {
  switch (aggregator) {
    case "sum":
    case "count":
      return 0;
    case "last":
      return prev === undefined ? NaN : prev.value;
    case "twa":
      return prev === undefined || next === undefined
        ? NaN
        : interpolatedMean(prev, next, bucket, bucket + bucketMs);
    default:
      return NaN;
  }
}

/** The mean over `[ta, tb]` of the straight line from `prev` to `next`. */
function interpolatedMean(prev: EdgeSample, next: EdgeSample, ta: number, tb: number): number {
  const slope = (next.value - prev.value) / (next.ts - prev.ts);
  const va = prev.value + (ta - prev.ts) * slope;
  const vb = prev.value + (tb - prev.ts) * slope;
  return (va + vb) / 2;
}

/**
 * How many buckets `aggregateRange` answers at most for samples from `first` to `last` (the
 * range's own bounds where EMPTY `twa` reaches past the samples): EMPTY makes a bucket of
 * every step in between, data or not, so a query must be bounded by this, not by its samples.
 */
export function bucketsSpanned(spec: AggregationSpec, first: number, last: number): number {
  const { bucketMs, alignMs } = spec;
  return (bucketStartRaw(last, bucketMs, alignMs) - bucketStartRaw(first, bucketMs, alignMs)) /
      bucketMs + 1;
}

/**
 * Aggregates `ts[0 ... n)`/`values` (already filtered, ascending) into buckets. `prev`/`next`
 * are the samples just before and after the range (for `twa` and EMPTY `last`); `rangeStart`
 * and `rangeEnd` bound `twa`'s first and last frames. Returns ascending buckets.
 */
export function aggregateRange(
  spec: AggregationSpec,
  ts: ArrayLike<number>,
  values: ArrayLike<number>,
  n: number,
  edges: {
    prev?: EdgeSample | undefined;
    next?: EdgeSample | undefined;
    rangeStart: number;
    rangeEnd: number;
  },
): { ts: number[]; values: number[] } {
  const outTs: number[] = [];
  const outValues: number[] = [];
  const { bucketMs, alignMs } = spec;
  const reverse = spec.reverse === true;
  const aggregator: Aggregator = !reverse
    ? spec.aggregator
    : spec.aggregator === "first"
    ? "last"
    : spec.aggregator === "last"
    ? "first"
    : spec.aggregator;
  // Newest first, an empty bucket's `last` is the value of the sample after it.
  const carryNext = reverse && spec.aggregator === "last";
  const shift = spec.bucketTimestamp === "start"
    ? 0
    : spec.bucketTimestamp === "end"
    ? bucketMs
    : Math.floor(bucketMs / 2);
  let prevEnd = 0;
  let i = 0;
  let prevBucket = -1;
  let prevSample = edges.prev;
  const twaOrEmpty = aggregator === "twa" || spec.empty;
  // EMPTY `twa` also fills the buckets of the range before its first sample and after its
  // last (or the whole range when it holds none), by interpolating across the range edge, but
  // only where a sample lies beyond that edge (RedisTimeSeries 1.8: no extrapolation).
  const fillTwa = (first: number, last: number, a: EdgeSample, b: EdgeSample): void => {
    for (let raw = first; raw <= last; raw += bucketMs) {
      const ta = Math.max(raw, edges.rangeStart);
      const tb = Math.min(raw + bucketMs, edges.rangeEnd);
      outTs.push(Math.max(0, raw) + shift);
      outValues.push(interpolatedMean(a, b, ta, tb));
    }
  };
  const twaEmpty = aggregator === "twa" && spec.empty;
  if (twaEmpty && edges.prev !== undefined) {
    const rangeBucket = bucketStartRaw(edges.rangeStart, bucketMs, alignMs);
    if (n === 0) {
      if (edges.next !== undefined) {
        fillTwa(
          rangeBucket,
          bucketStartRaw(edges.rangeEnd, bucketMs, alignMs),
          edges.prev,
          edges.next,
        );
      }
      return { ts: outTs, values: outValues };
    }
    const firstBucket = bucketStartRaw(ts[0]!, bucketMs, alignMs);
    fillTwa(rangeBucket, firstBucket - bucketMs, edges.prev, { ts: ts[0]!, value: values[0]! });
  }
  while (i < n) {
    const raw = bucketStartRaw(ts[i]!, bucketMs, alignMs);
    const bucket = Math.max(0, raw);
    let j = i + 1;
    const end = raw + bucketMs;
    const emptyFrom = prevEnd;
    prevEnd = end;
    while (j < n && ts[j]! < end) j++;
    if (spec.empty && prevBucket >= 0) {
      for (let e = emptyFrom; e < bucket; e += bucketMs) {
        const v = carryNext ? values[i]! : emptyValue(aggregator, e, bucketMs, prevSample, {
          ts: ts[i]!,
          value: values[i]!,
        });
        outTs.push(e + shift);
        outValues.push(v);
      }
    }
    // Only `twa` reads the edge samples (and EMPTY the previous one): other aggregators make
    // no objects per bucket (a day at 1 Hz in minutes is 1,440 buckets).
    const v = aggregator === "twa"
      ? aggregate(aggregator, ts, values, i, j, {
        prev: prevSample,
        next: j < n ? { ts: ts[j]!, value: values[j]! } : edges.next,
        frameStart: Math.max(bucket, edges.rangeStart),
        frameEnd: Math.min(end, edges.rangeEnd),
      })
      : aggregate(aggregator, ts, values, i, j);
    outTs.push(bucket + shift);
    outValues.push(v);
    if (twaOrEmpty) prevSample = { ts: ts[j - 1]!, value: values[j - 1]! };
    prevBucket = bucket;
    i = j;
  }
  if (twaEmpty && edges.next !== undefined && n > 0) {
    const lastBucket = bucketStartRaw(ts[n - 1]!, bucketMs, alignMs);
    const last = { ts: ts[n - 1]!, value: values[n - 1]! };
    fillTwa(
      lastBucket + bucketMs,
      bucketStartRaw(edges.rangeEnd, bucketMs, alignMs),
      last,
      edges.next,
    );
  }
  return { ts: outTs, values: outValues };
}

/** A GROUPBY reducer over the non-NaN values of one timestamp (RedisTimeSeries 1.8). */
export function reduce(reducer: Aggregator, values: readonly number[]): number {
  const clean = values.filter((v) => !Number.isNaN(v));
  if (clean.length === 0) return NaN;
  const ts = clean.map((_, i) => i);
  return aggregate(reducer, ts, clean, 0, clean.length);
}
