/**
 * The merge and reduction behind TS.MRANGE ... GROUPBY (ARCHITECTURE.md § "Queries and
 * aggregation"): the members' ascending runs merged into one ascending sequence, then each set of
 * equal timestamps reduced to one point, in place.
 *
 * Runs are merged pairwise, pass after pass (`O(n log k)`), through two reused buffers; the last
 * pass writes straight into the fresh arrays the reply keeps. Members of a group seldom share a
 * timestamp (100 sensors with their own phase and jitter), so for the reducers whose value over
 * one sample is that sample, the reduction only visits the sets of equal timestamps and moves
 * the stretches between them down with `copyWithin`.
 *
 * Invariant: on equal timestamps, samples keep the order of their runs (a reducer sums them in
 * member order).
 *
 * @module
 */

import { aggregate, reduce } from "./aggregate.ts";
import type { Samples } from "./head.ts";
import type { Aggregator } from "./meta.ts";
import {
  TS_GROUPBY_MERGE_SAMPLES_KEPT_MAX as MERGE_SAMPLES_KEPT_MAX,
  TS_GROUPBY_RESULT_SAMPLES_KEPT_MAX as RESULT_SAMPLES_KEPT_MAX,
} from "../limits.ts";

/** Merge buffers, grown on demand and reused (the result is written elsewhere). */
let mergeTs = [new Float64Array(0), new Float64Array(0)];
let mergeValues = [new Float64Array(0), new Float64Array(0)];

/** Results of the current scratch query (`beginScratchResults`): `[0, resultAt)` is taken. */
let resultTs = new Float64Array(0);
let resultValues = new Float64Array(0);
let resultAt = 0;

/**
 * Starts a query whose results may be views of buffers the next such query overwrites (the
 * RESP front end encodes them before it runs another command): a reply of 100 series x 1 h
 * then allocates (and the collector frees) no 5.7 MB of result arrays.
 */
export function beginScratchResults(): void {
  resultAt = 0;
}

/** Arrays for `n` result samples: views of the scratch results when `scratch`, else fresh. */
function resultArrays(n: number, scratch: boolean): Samples {
  const end = resultAt + n;
  if (!scratch || end > RESULT_SAMPLES_KEPT_MAX) {
    return { ts: new Float64Array(n), values: new Float64Array(n) };
  }
  if (resultTs.length < end) {
    // Views handed out earlier keep the old buffers alive until they are dropped.
    const size = Math.min(RESULT_SAMPLES_KEPT_MAX, Math.max(end, 2 * resultTs.length));
    resultTs = new Float64Array(size);
    resultValues = new Float64Array(size);
  }
  const at = resultAt;
  resultAt = end;
  return { ts: resultTs.subarray(at, end), values: resultValues.subarray(at, end) };
}

/**
 * Ascending runs (each a list of ascending, disjoint parts in time order) merged stably (equal
 * timestamps in the order of their runs) into fresh arrays, or with `scratch` into the scratch
 * results (`beginScratchResults`).
 */
export function mergeRuns(runs: readonly (readonly Samples[])[], scratch = false): Samples {
  let total = 0;
  let nonEmpty = 0;
  let only: readonly Samples[] = [];
  for (const r of runs) {
    let size = 0;
    for (const p of r) size += p.ts.length;
    if (size > 0) {
      nonEmpty++;
      only = r;
    }
    total += size;
  }
  const out = resultArrays(total, scratch);
  const outTs = out.ts;
  const outValues = out.values;
  if (nonEmpty <= 1) {
    let at = 0;
    for (const p of only) {
      outTs.set(p.ts, at);
      outValues.set(p.values, at);
      at += p.ts.length;
    }
    return { ts: outTs, values: outValues };
  }
  let bufTs = mergeTs;
  let bufValues = mergeValues;
  if (bufTs[0]!.length < total) {
    bufTs = [new Float64Array(total), new Float64Array(total)];
    bufValues = [new Float64Array(total), new Float64Array(total)];
    if (total <= MERGE_SAMPLES_KEPT_MAX) {
      mergeTs = bufTs;
      mergeValues = bufValues;
    }
  }
  // Run boundaries in buffer 0: run r is [bounds[r], bounds[r + 1]).
  let bounds: number[] = [0];
  let at = 0;
  for (const r of runs) {
    const start = at;
    for (const p of r) {
      bufTs[0]!.set(p.ts, at);
      bufValues[0]!.set(p.values, at);
      at += p.ts.length;
    }
    if (at > start) bounds.push(at);
  }
  let src = 0;
  while (bounds.length > 2) {
    const sTs = bufTs[src]!;
    const sV = bufValues[src]!;
    // The last pass (two runs left) writes the result.
    const last = bounds.length === 3;
    const dTs = last ? outTs : bufTs[1 - src]!;
    const dV = last ? outValues : bufValues[1 - src]!;
    const next: number[] = [0];
    for (let r = 0; r + 1 < bounds.length; r += 2) {
      const a0 = bounds[r]!;
      const a1 = bounds[r + 1]!;
      const b1 = r + 2 < bounds.length ? bounds[r + 2]! : a1;
      // Merge [a0, a1) and [a1, b1) into the other buffer at a0 (a lone last run is copied).
      let i = a0;
      let j = a1;
      let k = a0;
      if (i < a1 && j < b1) {
        let ti = sTs[i]!;
        let tj = sTs[j]!;
        for (;;) {
          if (ti <= tj) {
            dTs[k] = ti;
            dV[k++] = sV[i++]!;
            if (i === a1) break;
            ti = sTs[i]!;
          } else {
            dTs[k] = tj;
            dV[k++] = sV[j++]!;
            if (j === b1) break;
            tj = sTs[j]!;
          }
        }
      }
      if (i < a1) {
        dTs.set(sTs.subarray(i, a1), k);
        dV.set(sV.subarray(i, a1), k);
      } else if (j < b1) {
        dTs.set(sTs.subarray(j, b1), k);
        dV.set(sV.subarray(j, b1), k);
      }
      next.push(b1);
    }
    bounds = next;
    src = 1 - src;
  }
  return { ts: outTs, values: outValues };
}

/** Reducers whose value over one sample is that sample. */
const SINGLE_IS_VALUE: ReadonlySet<Aggregator> = new Set([
  "avg",
  "sum",
  "min",
  "max",
  "first",
  "last",
]);

/**
 * Reduces each set of equal timestamps of ascending `ts`/`values` (`n` samples) to one point
 * with `reducer`, in place; returns how many points are left (at the front). A set holding a
 * NaN goes through `reduce` (which skips NaNs), the others through `aggregate`.
 */
export function reduceEqual(
  reducer: Aggregator,
  ts: Float64Array,
  values: Float64Array,
  n: number,
): number {
  const single = SINGLE_IS_VALUE.has(reducer);
  // Points are written at m, read at i >= m: a set is read before its point is written.
  let m = 0;
  let i = 0;
  for (let a = 0; a < n; a++) {
    if (single && (a + 1 >= n || ts[a + 1] !== ts[a])) continue; // its own value
    let b = a + 1;
    while (b < n && ts[b] === ts[a]) b++;
    if (m !== i) {
      ts.copyWithin(m, i, a);
      values.copyWithin(m, i, a);
    }
    m += a - i;
    let nan = false;
    for (let k = a; k < b; k++) nan ||= Number.isNaN(values[k]!);
    const value = nan
      ? reduce(reducer, Array.from(values.subarray(a, b)))
      : aggregate(reducer, ts, values, a, b);
    ts[m] = ts[a]!;
    values[m] = value;
    m++;
    i = b;
    a = b - 1;
  }
  if (m !== i) {
    ts.copyWithin(m, i, n);
    values.copyWithin(m, i, n);
  }
  return m + (n - i);
}
