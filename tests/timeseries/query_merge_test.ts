/**
 * The GROUPBY merge and reduction (`src/timeseries/query_merge.ts`) against a straightforward
 * reference: every sample of every run sorted by timestamp, ties in run order (a stable sort of
 * the concatenation), then each set of equal timestamps reduced from its values in that order
 * (`reduce` over the non-NaN values, a lone sample its own value for the reducers where one
 * sample is its value). Runs of several parts, empty runs, one run, many runs, runs sharing most
 * timestamps or none, NaNs; compared bit for bit (`Object.is`).
 */

import { assertEquals } from "@std/assert";
import { aggregate, reduce } from "../../src/timeseries/aggregate.ts";
import type { Samples } from "../../src/timeseries/head.ts";
import type { Aggregator } from "../../src/timeseries/meta.ts";
import { beginScratchResults, mergeRuns, reduceEqual } from "../../src/timeseries/query_merge.ts";
import { Rng, seedFromEnv } from "../_helpers/random.ts";

const REDUCERS: Aggregator[] = [
  "avg",
  "sum",
  "min",
  "max",
  "range",
  "count",
  "std.p",
  "std.s",
  "var.p",
  "var.s",
];
const SINGLE = new Set<Aggregator>(["avg", "sum", "min", "max"]);

/** One run: ascending timestamps on a grid of `step` (shared across runs when `step` is 1000). */
function makeRun(rng: Rng, step: number): Samples[] {
  const n = rng.int(4) === 0 ? 0 : rng.int(300);
  const ts: number[] = [];
  let t = 1_700_000_000_000 + rng.int(5) * step;
  for (let i = 0; i < n; i++) {
    t += step * (1 + rng.int(3));
    ts.push(t);
  }
  const values = ts.map(() =>
    rng.int(40) === 0 ? NaN : rng.int(3) === 0 ? rng.int(5) : Math.round(rng.next() * 1e5) / 100
  );
  // Cut into up to three disjoint parts.
  const parts: Samples[] = [];
  let from = 0;
  while (from < n) {
    const to = rng.int(2) === 0 ? n : Math.min(n, from + 1 + rng.int(n));
    parts.push({
      ts: Float64Array.from(ts.slice(from, to)),
      values: Float64Array.from(values.slice(from, to)),
    });
    from = to;
  }
  return parts;
}

Deno.test("GROUPBY's merge and reduction equal a stable sort and a per-timestamp reduce", () => {
  const seed = seedFromEnv();
  console.log(`seed ${seed}`);
  const rng = new Rng(seed);
  for (let round = 0; round < 300; round++) {
    const k = [1, 2, 3, 7, 20, 64][round % 6]!;
    const step = [1000, 7, 1][rng.int(3)]!;
    const runs = Array.from({ length: k }, () => makeRun(rng, step));
    // Reference: a stable sort of the concatenation in run order.
    const all: [number, number][] = [];
    for (const r of runs) for (const p of r) p.ts.forEach((t, i) => all.push([t, p.values[i]!]));
    all.sort((a, b) => a[0] - b[0]);
    const merged = mergeRuns(runs);
    assertEquals([...merged.ts], all.map((x) => x[0]), `round ${round}: timestamps`);
    assertEquals(
      [...merged.values].map((v) => Object.is(v, -0) ? "-0" : v),
      all.map((x) => Object.is(x[1], -0) ? "-0" : x[1]),
      `round ${round}: values`,
    );
    const reducer = REDUCERS[round % REDUCERS.length]!;
    const want: [number, number][] = [];
    for (let i = 0; i < all.length;) {
      let j = i + 1;
      while (j < all.length && all[j]![0] === all[i]![0]) j++;
      const vs = all.slice(i, j).map((x) => x[1]);
      const value = j === i + 1 && SINGLE.has(reducer)
        ? vs[0]!
        : vs.some(Number.isNaN)
        ? reduce(reducer, vs)
        : aggregate(reducer, all.slice(i, j).map((x) => x[0]), vs, 0, vs.length);
      want.push([all[i]![0], value]);
      i = j;
    }
    const m = reduceEqual(reducer, merged.ts, merged.values, merged.ts.length);
    const got: [number, number][] = [];
    for (let i = 0; i < m; i++) got.push([merged.ts[i]!, merged.values[i]!]);
    assertEquals(got, want, `round ${round}: ${reducer} over ${k} runs, step ${step}`);
  }
});

Deno.test("scratch results of one query's groups do not overlap, whatever the buffer's growth", () => {
  const rng = new Rng(seedFromEnv());
  for (let round = 0; round < 20; round++) {
    beginScratchResults();
    const groups: { got: Samples; want: number[] }[] = [];
    for (let g = 0; g < 6; g++) {
      const runs = Array.from({ length: 1 + rng.int(8) }, () => makeRun(rng, 7));
      const want: number[] = [];
      for (const r of runs) for (const p of r) want.push(...p.ts);
      want.sort((a, b) => a - b);
      groups.push({ got: mergeRuns(runs, true), want });
    }
    for (const { got, want } of groups) assertEquals([...got.ts], want);
  }
});
