/**
 * Functions over a range vector window: `*_over_time`, `rate`/`increase`/`delta` with
 * Prometheus 2.x extrapolation, `irate`/`idelta`, `deriv`, `predict_linear`, `holt_winters`,
 * `changes`, `resets` (ARCHITECTURE.md § "PromQL engine").
 *
 * Each works on one series' samples `ts[lo…hi)`, `vs[lo…hi)` (staleness markers already
 * removed, `hi > lo`) and returns the value, or `undefined` for "no sample at this step" (e.g.
 * `rate` over fewer than two samples). Sums use Neumaier's compensated summation where
 * Prometheus does, so results agree to the last bit.
 *
 * @module
 */
import { QueryError } from "./errors.ts";

/** What a range function sees besides the samples. */
export interface WindowContext {
  /** Evaluation time (ms). */
  readonly evalTs: number;
  /** First and last instant of the window (ms, both inclusive). */
  readonly rangeStart: number;
  readonly rangeEnd: number;
  /** Range length (ms). */
  readonly rangeMs: number;
  /** Scalar arguments at this step (quantile, prediction horizon, smoothing factors). */
  readonly scalars: readonly number[];
}

/** A range function. */
export type RangeFunction = (
  ts: ArrayLike<number>,
  vs: ArrayLike<number>,
  lo: number,
  hi: number,
  ctx: WindowContext,
) => number | undefined;

/** One Neumaier step: returns the new sum; `c` carries the compensation. */
function kahanInc(inc: number, sum: number, c: { v: number }): number {
  const t = sum + inc;
  if (Math.abs(sum) >= Math.abs(inc)) c.v += (sum - t) + inc;
  else c.v += (inc - t) + sum;
  return t;
}

/** Prometheus's `extrapolatedRate` for float samples. */
function extrapolatedRate(
  ts: ArrayLike<number>,
  vs: ArrayLike<number>,
  lo: number,
  hi: number,
  ctx: WindowContext,
  isCounter: boolean,
  isRate: boolean,
): number | undefined {
  const n = hi - lo;
  if (n < 2) return undefined;
  const first = vs[lo]!;
  const last = vs[hi - 1]!;
  let result = last - first;
  if (isCounter) {
    let prev = first;
    for (let i = lo + 1; i < hi; i++) {
      const cur = vs[i]!;
      if (cur < prev) result += prev;
      prev = cur;
    }
  }
  const firstT = ts[lo]!;
  const lastT = ts[hi - 1]!;
  let durationToStart = (firstT - ctx.rangeStart) / 1000;
  const durationToEnd = (ctx.rangeEnd - lastT) / 1000;
  const sampledInterval = (lastT - firstT) / 1000;
  const averageDurationBetweenSamples = sampledInterval / (n - 1);
  if (isCounter && result > 0 && first >= 0) {
    // A counter cannot go below zero: do not extrapolate to before the zero point.
    const durationToZero = sampledInterval * (first / result);
    if (durationToZero < durationToStart) durationToStart = durationToZero;
  }
  const threshold = averageDurationBetweenSamples * 1.1;
  let extrapolateToInterval = sampledInterval;
  extrapolateToInterval += durationToStart < threshold
    ? durationToStart
    : averageDurationBetweenSamples / 2;
  extrapolateToInterval += durationToEnd < threshold
    ? durationToEnd
    : averageDurationBetweenSamples / 2;
  let factor = extrapolateToInterval / sampledInterval;
  if (isRate) factor /= ctx.rangeMs / 1000;
  return result * factor;
}

function instantValue(
  ts: ArrayLike<number>,
  vs: ArrayLike<number>,
  lo: number,
  hi: number,
  isRate: boolean,
): number | undefined {
  if (hi - lo < 2) return undefined;
  const last = vs[hi - 1]!;
  const prev = vs[hi - 2]!;
  let result = isRate && last < prev ? last : last - prev;
  const sampledInterval = ts[hi - 1]! - ts[hi - 2]!;
  if (sampledInterval === 0) return undefined;
  if (isRate) result /= sampledInterval / 1000;
  return result;
}

/** Least squares over `(t - interceptTime)/1000`, like Prometheus's `linearRegression`. */
function linearRegression(
  ts: ArrayLike<number>,
  vs: ArrayLike<number>,
  lo: number,
  hi: number,
  interceptTime: number,
): [number, number] {
  let n = 0;
  let sumX = 0;
  let sumY = 0;
  let sumXY = 0;
  let sumX2 = 0;
  const cX = { v: 0 };
  const cY = { v: 0 };
  const cXY = { v: 0 };
  const cX2 = { v: 0 };
  const initY = vs[lo]!;
  let constY = true;
  for (let i = lo; i < hi; i++) {
    const y = vs[i]!;
    if (constY && i > lo && y !== initY) constY = false;
    n += 1;
    const x = (ts[i]! - interceptTime) / 1e3;
    sumX = kahanInc(x, sumX, cX);
    sumY = kahanInc(y, sumY, cY);
    sumXY = kahanInc(x * y, sumXY, cXY);
    sumX2 = kahanInc(x * x, sumX2, cX2);
  }
  if (constY) {
    if (!Number.isFinite(initY) && !Number.isNaN(initY)) return [NaN, NaN];
    return [0, initY];
  }
  sumX += cX.v;
  sumY += cY.v;
  sumXY += cXY.v;
  sumX2 += cX2.v;
  const covXY = sumXY - (sumX * sumY) / n;
  const varX = sumX2 - (sumX * sumX) / n;
  const slope = covXY / varX;
  const intercept = sumY / n - (slope * sumX) / n;
  return [slope, intercept];
}

/** Prometheus's `quantile` over values (NaN sorts first, weighted between neighbours). */
export function quantileOf(q: number, values: number[]): number {
  if (values.length === 0 || Number.isNaN(q)) return NaN;
  if (q < 0) return -Infinity;
  if (q > 1) return Infinity;
  values.sort((a, b) =>
    Number.isNaN(a) ? (Number.isNaN(b) ? 0 : -1) : Number.isNaN(b) ? 1 : a < b ? -1 : a > b ? 1 : 0
  );
  const n = values.length;
  const rank = q * (n - 1);
  const lower = Math.max(0, Math.floor(rank));
  const upper = Math.min(n - 1, lower + 1);
  const weight = rank - Math.floor(rank);
  return values[lower]! * (1 - weight) + values[upper]! * weight;
}

function avgOverTime(vs: ArrayLike<number>, lo: number, hi: number): number {
  let mean = 0;
  let count = 0;
  const c = { v: 0 };
  for (let i = lo; i < hi; i++) {
    const v = vs[i]!;
    count++;
    if (mean === Infinity || mean === -Infinity) {
      // Inf mean stays put for same-signed Inf and finite values (Inf - Inf would be NaN).
      if ((v === Infinity || v === -Infinity) && (mean > 0) === (v > 0)) continue;
      if (Number.isFinite(v)) continue;
    }
    mean = kahanInc(v / count - mean / count, mean, c);
  }
  return mean === Infinity || mean === -Infinity ? mean : mean + c.v;
}

function variance(vs: ArrayLike<number>, lo: number, hi: number): number {
  let count = 0;
  let mean = 0;
  let aux = 0;
  const cMean = { v: 0 };
  const cAux = { v: 0 };
  for (let i = lo; i < hi; i++) {
    const v = vs[i]!;
    count++;
    const delta = v - (mean + cMean.v);
    mean = kahanInc(delta / count, mean, cMean);
    aux = kahanInc(delta * (v - (mean + cMean.v)), aux, cAux);
  }
  return (aux + cAux.v) / count;
}

function holtWinters(vs: ArrayLike<number>, lo: number, hi: number, sf: number, tf: number) {
  if (!(sf > 0 && sf < 1)) {
    throw new QueryError(`invalid smoothing factor. Expected: 0 < sf < 1, got: ${sf.toFixed(6)}`);
  }
  if (!(tf > 0 && tf < 1)) {
    throw new QueryError(`invalid trend factor. Expected: 0 < tf < 1, got: ${tf.toFixed(6)}`);
  }
  if (hi - lo < 2) return undefined;
  let s0 = 0;
  let s1 = vs[lo]!;
  let b = vs[lo + 1]! - vs[lo]!;
  for (let i = 1; i < hi - lo; i++) {
    const x = sf * vs[lo + i]!;
    // Trend at this point (Prometheus's calcTrendValue with index i-1).
    b = i - 1 === 0 ? b : tf * (s1 - s0) + (1 - tf) * b;
    const y = (1 - sf) * (s1 + b);
    s0 = s1;
    s1 = x + y;
  }
  return s1;
}

/** Range functions by name. */
export const RANGE_FUNCTIONS: ReadonlyMap<string, RangeFunction> = new Map<string, RangeFunction>([
  ["rate", (ts, vs, lo, hi, ctx) => extrapolatedRate(ts, vs, lo, hi, ctx, true, true)],
  ["increase", (ts, vs, lo, hi, ctx) => extrapolatedRate(ts, vs, lo, hi, ctx, true, false)],
  ["delta", (ts, vs, lo, hi, ctx) => extrapolatedRate(ts, vs, lo, hi, ctx, false, false)],
  ["irate", (ts, vs, lo, hi) => instantValue(ts, vs, lo, hi, true)],
  ["idelta", (ts, vs, lo, hi) => instantValue(ts, vs, lo, hi, false)],
  ["avg_over_time", (_ts, vs, lo, hi) => avgOverTime(vs, lo, hi)],
  ["count_over_time", (_ts, _vs, lo, hi) => hi - lo],
  ["last_over_time", (_ts, vs, _lo, hi) => vs[hi - 1]!],
  ["present_over_time", () => 1],
  ["absent_over_time", () => 1],
  ["max_over_time", (_ts, vs, lo, hi) => {
    let max = vs[lo]!;
    for (let i = lo; i < hi; i++) {
      const v = vs[i]!;
      if (v > max || Number.isNaN(max)) max = v;
    }
    return max;
  }],
  ["min_over_time", (_ts, vs, lo, hi) => {
    let min = vs[lo]!;
    for (let i = lo; i < hi; i++) {
      const v = vs[i]!;
      if (v < min || Number.isNaN(min)) min = v;
    }
    return min;
  }],
  ["sum_over_time", (_ts, vs, lo, hi) => {
    let sum = 0;
    const c = { v: 0 };
    for (let i = lo; i < hi; i++) sum = kahanInc(vs[i]!, sum, c);
    return sum === Infinity || sum === -Infinity ? sum : sum + c.v;
  }],
  ["stddev_over_time", (_ts, vs, lo, hi) => Math.sqrt(variance(vs, lo, hi))],
  ["stdvar_over_time", (_ts, vs, lo, hi) => variance(vs, lo, hi)],
  ["quantile_over_time", (_ts, vs, lo, hi, ctx) => {
    const values: number[] = [];
    for (let i = lo; i < hi; i++) values.push(vs[i]!);
    return quantileOf(ctx.scalars[0]!, values);
  }],
  ["changes", (_ts, vs, lo, hi) => {
    let changes = 0;
    let prev = vs[lo]!;
    for (let i = lo + 1; i < hi; i++) {
      const cur = vs[i]!;
      if (cur !== prev && !(Number.isNaN(cur) && Number.isNaN(prev))) changes++;
      prev = cur;
    }
    return changes;
  }],
  ["resets", (_ts, vs, lo, hi) => {
    let resets = 0;
    let prev = vs[lo]!;
    for (let i = lo + 1; i < hi; i++) {
      const cur = vs[i]!;
      if (cur < prev) resets++;
      prev = cur;
    }
    return resets;
  }],
  ["deriv", (ts, vs, lo, hi) => {
    if (hi - lo < 2) return undefined;
    // Intercept at the first sample keeps the x values small (Prometheus issue 2674).
    return linearRegression(ts, vs, lo, hi, ts[lo]!)[0];
  }],
  ["predict_linear", (ts, vs, lo, hi, ctx) => {
    if (hi - lo < 2) return undefined;
    const [slope, intercept] = linearRegression(ts, vs, lo, hi, ctx.evalTs);
    return slope * ctx.scalars[0]! + intercept;
  }],
  [
    "holt_winters",
    (_ts, vs, lo, hi, ctx) => holtWinters(vs, lo, hi, ctx.scalars[0]!, ctx.scalars[1]!),
  ],
]);
