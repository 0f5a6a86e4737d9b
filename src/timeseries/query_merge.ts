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

/** Merge buffers, grown on demand and reused (the result is written to fresh arrays). */
let mergeTs = [new Float64Array(0), new Float64Array(0)];
let mergeValues = [new Float64Array(0), new Float64Array(0)];

/**
 * Ascending runs (each a list of ascending, disjoint parts in time order) merged into fresh
 * arrays, stably: equal timestamps in the order of their runs.
 */
export function mergeRuns(runs: readonly (readonly Samples[])[]): Samples {
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
  const outTs = new Float64Array(total);
  const outValues = new Float64Array(total);
  if (nonEmpty <= 1) {
    let at = 0;
    for (const p of only) {
      outTs.set(p.ts, at);
      outValues.set(p.values, at);
      at += p.ts.length;
    }
    return { ts: outTs, values: outValues };
  }
  if (mergeTs[0]!.length < total) {
    mergeTs = [new Float64Array(total), new Float64Array(total)];
    mergeValues = [new Float64Array(total), new Float64Array(total)];
  }
  // Run boundaries in buffer 0: run r is [bounds[r], bounds[r + 1]).
  let bounds: number[] = [0];
  let at = 0;
  for (const r of runs) {
    const start = at;
    for (const p of r) {
      mergeTs[0]!.set(p.ts, at);
      mergeValues[0]!.set(p.values, at);
      at += p.ts.length;
    }
    if (at > start) bounds.push(at);
  }
  let src = 0;
  while (bounds.length > 2) {
    const sTs = mergeTs[src]!;
    const sV = mergeValues[src]!;
    // The last pass (two runs left) writes the result.
    const last = bounds.length === 3;
    const dTs = last ? outTs : mergeTs[1 - src]!;
    const dV = last ? outValues : mergeValues[1 - src]!;
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
