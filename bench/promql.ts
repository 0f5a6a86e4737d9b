/**
 * PromQL benchmarks (section `promql`): issue 11's latency target, `sum by (site)
 * (rate(x[5m]))` over 500 counters × 6 h scraped every 15 s, as a range query at step 60 s
 * (target <= 100 ms), and the same at one instant. Over the in-memory source: the engine's
 * share of the time; the store adds its reads.
 */

import { instantQuery, Labels, MemorySource, rangeQuery } from "../src/promql/mod.ts";
import process from "node:process";
import { type Row, scaled } from "./harness.ts";

/** Where the PromQL rows' data starts (Unix ms) and how many hours it spans. */
export const T0 = 1_700_000_000_000;
/** Hours of data per series. */
export const HOURS = 6;

/** One counter of the PromQL benchmarks: its labels and samples. */
export interface CounterSeries {
  labels: Record<string, string>;
  ts: Float64Array;
  vs: Float64Array;
}

/**
 * `series` counters scraped every 15 s for 6 h from `T0`, spread over 20 sites: the data every
 * PromQL row uses (in memory, from the store, and in a real Prometheus).
 */
export function counterSeries(series: number): CounterSeries[] {
  const n = (HOURS * 3600) / 15;
  const out: CounterSeries[] = [];
  for (let s = 0; s < series; s++) {
    const ts = new Float64Array(n);
    const vs = new Float64Array(n);
    let v = 0;
    for (let i = 0; i < n; i++) {
      ts[i] = T0 + i * 15_000 + (s % 7);
      v += (s * 7 + i * 13) % 17;
      vs[i] = v;
    }
    out.push({
      labels: { __name__: "x", site: `site-${s % 20}`, instance: `i-${s}`, job: "node" },
      ts,
      vs,
    });
  }
  return out;
}

function source(series: number): MemorySource {
  const src = new MemorySource();
  for (const c of counterSeries(series)) src.add(Labels.fromObject(c.labels), c.ts, c.vs);
  return src;
}

/** The `p` quantile of ascending `sorted`. */
export function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

/** Wall and CPU milliseconds of `runs` calls (after 3 warm-ups), each sorted. */
function timeRuns(runs: number, fn: () => void): { wall: number[]; cpu: number[] } {
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < runs + 3; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    fn();
    const t = performance.now() - t0;
    const c = process.cpuUsage(c0);
    if (i >= 3) {
      wall.push(t);
      cpu.push((c.user + c.system) / 1000);
    }
  }
  wall.sort((a, b) => a - b);
  cpu.sort((a, b) => a - b);
  return { wall, cpu };
}

/** Runs the PromQL rows. */
export function promqlBench(print: (row: Row) => void): Row[] {
  const rows: Row[] = [];
  const src = source(500);
  const end = T0 + HOURS * 3_600_000;
  const q = "sum by (site) (rate(x[5m]))";
  const runs = scaled(20);
  const range = timeRuns(runs, () => rangeQuery(src, q, T0, end, 60_000));
  const row: Row = {
    name: `PromQL range ${q}, 500 series x 6 h, step 60 s`,
    unit: "ms",
    cityhall: percentile(range.wall, 0.5),
    lowerIsBetter: true,
    note: `p50 of ${runs}; p90 ${percentile(range.wall, 0.9).toFixed(1)} ms; CPU p50 ${
      percentile(range.cpu, 0.5).toFixed(1)
    } ms; target <= 100 ms`,
  };
  rows.push(row);
  print(row);
  const inst = timeRuns(runs, () => instantQuery(src, q, end));
  const row2: Row = {
    name: `PromQL instant ${q}, 500 series`,
    unit: "ms",
    cityhall: percentile(inst.wall, 0.5),
    lowerIsBetter: true,
    note: `p50 of ${runs}; CPU p50 ${percentile(inst.cpu, 0.5).toFixed(1)} ms`,
  };
  rows.push(row2);
  print(row2);
  return rows;
}
