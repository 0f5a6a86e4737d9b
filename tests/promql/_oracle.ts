/**
 * The PromQL oracle: the same seeded samples in a real Prometheus 2.42 (Debian's `prometheus`
 * and `promtool`) and in CityHall's engine, the same queries to both, answers compared point by
 * point (ARCHITECTURE.md § "PromQL engine", "Oracle test").
 *
 * Data: counters with resets and late starts, gauges, histogram buckets, a gap longer than the
 * 5 m lookback, NaN and extreme values; written as OpenMetrics text and loaded with `promtool
 * tsdb create-blocks-from openmetrics`. OpenMetrics text cannot carry a staleness marker (its
 * `NaN` is an ordinary NaN), so the series with staleness markers go in after the blocks' end
 * through Prometheus's own remote-write receiver, encoded by `src/ingest/remote_write.ts`.
 *
 * Comparison: both answers as JSON; the same status and error type; the same result type; the
 * same series (by labels) with the same timestamps and the same value strings. Vector results
 * are compared as sets unless the query sorts (`sort`, `sort_desc`). Queries marked tolerant
 * (functions computed by different libm code in Go and V8: `exp`, `ln`/`log2`/`log10` (Go
 * uses an assembly `Log` on amd64 that differs from V8's in the last bit), trigonometry, `^`,
 * `atan2`, `holt_winters`) compare numerically within a relative 1e-12.
 *
 * @module
 */

import { Rng } from "../_helpers/random.ts";
import { freePort } from "../cli/_helpers.ts";
import { Labels, MemorySource, writeStaleNaN } from "../../src/promql/mod.ts";
import { FormParams, queryHandler, queryRangeHandler } from "../../src/promql/api.ts";
import { encodeRemoteWrite, type SeriesToWrite } from "../../src/ingest/remote_write.ts";
import { runChild } from "../_helpers/child.ts";
import { spawnPrometheus } from "../_helpers/prometheus.ts";

/** First sample time of the data set (2023-11-14T22:13:20Z). */
export const T0 = 1_700_000_000_000;
const MIN = 60_000;
const HOUR = 60 * MIN;
/** End of the OpenMetrics part; the remote-write part follows. */
export const PART1_END = T0 + 3 * HOUR;
/** End of all data. */
export const DATA_END = T0 + 4 * HOUR;

/** One generated series. */
export interface GenSeries {
  labels: Record<string, string>;
  ts: number[];
  vs: number[];
  /** Indexes of staleness markers (remote-write part only). */
  stale: Set<number>;
}

/** The generated data set. */
export interface DataSet {
  openMetrics: GenSeries[];
  remoteWrite: GenSeries[];
}

function scrapeTimes(rng: Rng, from: number, to: number, intervalMs: number): number[] {
  const phase = rng.int(intervalMs);
  const out: number[] = [];
  for (let t = from + phase; t < to; t += intervalMs) out.push(t + rng.int(40));
  return out;
}

/** Rounds to 3 decimals like a real exporter's gauge, keeping values readable. */
function round3(v: number): number {
  return Math.round(v * 1000) / 1000;
}

/** Builds the seeded data set. */
export function generate(seed: number): DataSet {
  const rng = new Rng(seed);
  const om: GenSeries[] = [];
  const sites = ["hq", "north", "south"];
  // Counters with resets; some start late, end early or have a 12-minute gap.
  let n = 0;
  for (const site of sites) {
    for (const instance of ["a", "b"]) {
      for (const code of ["200", "500"]) {
        const from = n % 5 === 3 ? T0 + 20 * MIN : T0;
        const to = n % 7 === 5 ? T0 + 150 * MIN : PART1_END;
        const ts = scrapeTimes(rng, from, to, 15_000).filter((t) =>
          !(n % 4 === 1 && t > T0 + 90 * MIN && t < T0 + 102 * MIN)
        );
        const vs: number[] = [];
        let v = rng.int(1000);
        for (let i = 0; i < ts.length; i++) {
          if (rng.chance(0.004)) v = rng.int(5);
          else v += code === "200" ? rng.int(40) : rng.int(3);
          vs.push(v);
        }
        om.push({
          labels: { __name__: "http_requests_total", site, instance, code },
          ts,
          vs,
          stale: new Set(),
        });
        n++;
      }
    }
  }
  // Gauges: random walks with three decimals; one with an 8-minute gap.
  for (const site of sites) {
    for (const room of ["lab", "hall"]) {
      const ts = scrapeTimes(rng, T0, PART1_END, 30_000).filter((t) =>
        !(site === "north" && room === "lab" && t > T0 + 40 * MIN && t < T0 + 48 * MIN)
      );
      let v = 15 + rng.next() * 10;
      const vs = ts.map(() => (v = round3(v + (rng.next() - 0.5) * 2)));
      om.push({
        labels: { __name__: "temperature_celsius", site, room },
        ts,
        vs,
        stale: new Set(),
      });
    }
  }
  // Classic histogram buckets (cumulative, monotonic in le), with _count and _sum.
  const les = ["0.05", "0.1", "0.25", "0.5", "1", "+Inf"];
  for (const site of ["hq", "north"]) {
    const ts = scrapeTimes(rng, T0, PART1_END, 15_000);
    const counts = les.map(() => 0);
    const series = les.map(() => [] as number[]);
    const sums: number[] = [];
    let sum = 0;
    for (let i = 0; i < ts.length; i++) {
      const obs = rng.int(20);
      for (let o = 0; o < obs; o++) {
        const x = rng.next() * rng.next() * 1.5;
        sum += x;
        les.forEach((le, j) => {
          if (le === "+Inf" || x <= Number(le)) counts[j]!++;
        });
      }
      les.forEach((_, j) => series[j]!.push(counts[j]!));
      sums.push(round3(sum));
    }
    les.forEach((le, j) =>
      om.push({
        labels: { __name__: "request_duration_seconds_bucket", site, le },
        ts: ts.slice(),
        vs: series[j]!,
        stale: new Set(),
      })
    );
    om.push({
      labels: { __name__: "request_duration_seconds_count", site },
      ts: ts.slice(),
      vs: series[les.length - 1]!.slice(),
      stale: new Set(),
    });
    om.push({
      labels: { __name__: "request_duration_seconds_sum", site },
      ts: ts.slice(),
      vs: sums,
      stale: new Set(),
    });
  }
  // Values that stress formatting: tiny, huge, negative, NaN.
  const kinds: [string, () => number][] = [
    ["tiny", () => rng.next() * 1e-7],
    ["huge", () => (1 + rng.next()) * 1e21],
    ["negative", () => -rng.int(100) - rng.next()],
    ["nan", () => (rng.chance(0.2) ? NaN : rng.int(10))],
  ];
  for (const [kind, f] of kinds) {
    const ts = scrapeTimes(rng, T0, PART1_END, 60_000);
    om.push({ labels: { __name__: "odd_values", kind }, ts, vs: ts.map(f), stale: new Set() });
  }
  // Remote-write part: gauges that go stale and come back, and an `up` that ends stale.
  const rw: GenSeries[] = [];
  for (const site of sites) {
    const ts = scrapeTimes(rng, PART1_END + MIN, DATA_END, 15_000);
    let v = rng.int(50);
    const vs = ts.map(() => (v += rng.int(7) - 3));
    const stale = new Set<number>();
    // A staleness marker mid-way, a 10-minute pause, then samples again; one ends stale.
    const mid = ts.findIndex((t) => t > PART1_END + 20 * MIN);
    stale.add(mid);
    const resume = ts.findIndex((t) => t > PART1_END + 30 * MIN);
    const keep = ts.map((_, i) => i <= mid || i >= resume);
    const ts2 = ts.filter((_, i) => keep[i]);
    const vs2 = vs.filter((_, i) => keep[i]);
    const stale2 = new Set([ts2.indexOf(ts[mid]!)]);
    if (site === "south") stale2.add(ts2.length - 1);
    rw.push({ labels: { __name__: "stale_gauge", site }, ts: ts2, vs: vs2, stale: stale2 });
  }
  for (const instance of ["x", "y"]) {
    const ts = scrapeTimes(
      rng,
      PART1_END + MIN,
      DATA_END - (instance === "y" ? 25 * MIN : 0),
      15_000,
    );
    const vs = ts.map(() => 1);
    const stale = new Set(instance === "y" ? [ts.length - 1] : []);
    rw.push({ labels: { __name__: "up", job: "node", instance }, ts, vs, stale });
  }
  return { openMetrics: om, remoteWrite: rw };
}

function omValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return String(v);
}

/** Timestamps as OpenMetrics seconds text, and the milliseconds Prometheus reads back. */
function omTime(ms: number): [string, number] {
  const text = (ms / 1000).toFixed(3);
  // Prometheus's parser computes int64(seconds * 1000): truncation, reproduced exactly.
  return [text, Math.trunc(Number(text) * 1000)];
}

/** Writes the OpenMetrics part; returns the series with the timestamps Prometheus will see. */
export function openMetricsText(series: GenSeries[]): { text: string; loaded: GenSeries[] } {
  const lines: string[] = [];
  const loaded: GenSeries[] = [];
  // Group by metric family (OpenMetrics wants families contiguous).
  const byName = new Map<string, GenSeries[]>();
  for (const s of series) {
    const name = s.labels.__name__!;
    byName.set(name, [...(byName.get(name) ?? []), s]);
  }
  for (const [name, list] of byName) {
    for (const s of list) {
      const labelText = Object.entries(s.labels)
        .filter(([k]) => k !== "__name__")
        .map(([k, v]) => `${k}="${v}"`)
        .join(",");
      const ts: number[] = [];
      for (let i = 0; i < s.ts.length; i++) {
        const [text, ms] = omTime(s.ts[i]!);
        ts.push(ms);
        lines.push(`${name}{${labelText}} ${omValue(s.vs[i]!)} ${text}`);
      }
      loaded.push({ ...s, ts });
    }
  }
  lines.push("# EOF");
  return { text: lines.join("\n") + "\n", loaded };
}

/** Both data parts in CityHall's in-memory source. */
export function memorySource(parts: GenSeries[][]): MemorySource {
  const src = new MemorySource();
  for (const part of parts) {
    for (const s of part) {
      const values = Float64Array.from(s.vs);
      for (const i of s.stale) writeStaleNaN(values, i);
      src.add(Labels.fromObject(s.labels), Float64Array.from(s.ts), values);
    }
  }
  return src;
}

/** A generated series as a remote-write series (staleness markers with their exact bits). */
export function toWrite(s: GenSeries): SeriesToWrite {
  const values = Float64Array.from(s.vs);
  for (const i of s.stale) writeStaleNaN(values, i);
  return { labels: Object.entries(s.labels), timestamps: s.ts, values };
}

/** A running Prometheus with the data set loaded. */
export interface Oracle {
  url: string;
  stop(): Promise<void>;
}

async function run(cmd: string, args: string[]): Promise<void> {
  const out = await runChild(cmd, args);
  if (!out.success) throw new Error(`${cmd} ${args.join(" ")} failed:\n${out.stderr}`);
}

/** Loads the data set into a fresh Prometheus and starts it; `stop()` kills it and cleans up. */
export async function startOracle(data: DataSet, openMetrics: string): Promise<Oracle> {
  const dir = await Deno.makeTempDir({ prefix: "cityhall-promql-oracle-" });
  const input = `${dir}/data.om`;
  await Deno.writeTextFile(input, openMetrics);
  await run("promtool", ["tsdb", "create-blocks-from", "openmetrics", input, `${dir}/tsdb`]);
  await Deno.writeTextFile(`${dir}/prometheus.yml`, "global:\n  scrape_interval: 1h\n");
  const port = freePort();
  const child = spawnPrometheus(dir, port, {
    flags: ["--web.enable-remote-write-receiver", "--storage.tsdb.retention.time=100y"],
  });
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    await child.kill("SIGKILL");
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  try {
    const deadline = Date.now() + 60_000;
    for (;;) {
      try {
        const r = await fetch(`${url}/-/ready`);
        await r.body?.cancel();
        if (r.status === 200) break;
      } catch { /* not listening yet */ }
      if (Date.now() > deadline) throw new Error("Prometheus did not become ready within 60 s");
      await new Promise((r) => setTimeout(r, 100));
    }
    const body = encodeRemoteWrite(data.remoteWrite.map(toWrite)) as Uint8Array<ArrayBuffer>;
    const r = await fetch(`${url}/api/v1/write`, {
      method: "POST",
      headers: {
        "Content-Type": "application/x-protobuf",
        "Content-Encoding": "snappy",
        "X-Prometheus-Remote-Write-Version": "0.1.0",
      },
      body,
    });
    const text = await r.text();
    if (r.status >= 300) throw new Error(`remote write to Prometheus failed: ${r.status} ${text}`);
  } catch (err) {
    await stop();
    throw err;
  }
  return { url, stop };
}

/** One query to compare: instant at `time`, or range `[start, end]` by `step` (ms). */
export type QuerySpec =
  | { kind: "instant"; query: string; time: number }
  | { kind: "range"; query: string; start: number; end: number; step: number };

function paramsOf(q: QuerySpec): Record<string, string> {
  return q.kind === "instant" ? { query: q.query, time: (q.time / 1000).toFixed(3) } : {
    query: q.query,
    start: (q.start / 1000).toFixed(3),
    end: (q.end / 1000).toFixed(3),
    step: (q.step / 1000).toString(),
  };
}

/** Prometheus's answer (status and parsed JSON). */
export async function askPrometheus(url: string, q: QuerySpec): Promise<[number, unknown]> {
  const path = q.kind === "instant" ? "query" : "query_range";
  const r = await fetch(`${url}/api/v1/${path}`, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams(paramsOf(q)),
  });
  return [r.status, await r.json()];
}

/** CityHall's answer through the same API handlers the HTTP server mounts. */
export function askCityHall(src: MemorySource, q: QuerySpec): [number, unknown] {
  const params = new FormParams(new URLSearchParams(paramsOf(q)));
  const ctx = { source: src };
  const r = q.kind === "instant" ? queryHandler(params, ctx) : queryRangeHandler(params, ctx);
  return [r.status, JSON.parse(r.json)];
}

type Json = Record<string, unknown>;

function sameValue(a: string, b: string, tolerance: number): boolean {
  if (a === b) return true;
  if (tolerance === 0) return false;
  const x = Number(a.replace("Inf", "Infinity"));
  const y = Number(b.replace("Inf", "Infinity"));
  if (Number.isNaN(x) || Number.isNaN(y)) return false;
  return Math.abs(x - y) <= tolerance * Math.max(Math.abs(x), Math.abs(y));
}

function metricKey(m: unknown): string {
  const obj = m as Record<string, string>;
  return JSON.stringify(Object.keys(obj).sort().map((k) => [k, obj[k]]));
}

/**
 * Compares two answers; returns `undefined` when they agree, else what differs. `tolerance` is
 * the relative difference allowed between values (0: the same strings).
 */
export function compare(
  q: QuerySpec,
  [ps, pj]: [number, unknown],
  [cs, cj]: [number, unknown],
  tolerance: number,
): string | undefined {
  const p = pj as Json;
  const c = cj as Json;
  if (p.status !== c.status || ps !== cs) {
    return `status: prometheus ${ps} ${JSON.stringify(p)} vs cityhall ${cs} ${JSON.stringify(c)}`;
  }
  if (p.status === "error") {
    return p.errorType === c.errorType ? undefined : `errorType: ${p.errorType} vs ${c.errorType}`;
  }
  const pd = p.data as Json;
  const cd = c.data as Json;
  if (pd.resultType !== cd.resultType) return `resultType: ${pd.resultType} vs ${cd.resultType}`;
  const pr = pd.result as unknown;
  const cr = cd.result as unknown;
  if (pd.resultType === "scalar" || pd.resultType === "string") {
    const [pt, pv] = pr as [number, string];
    const [ct, cv] = cr as [number, string];
    if (pt !== ct || !sameValue(pv, cv, tolerance)) {
      return `value: ${JSON.stringify(pr)} vs ${JSON.stringify(cr)}`;
    }
    return undefined;
  }
  const pl = pr as Json[];
  const cl = cr as Json[];
  if (pl.length !== cl.length) {
    const pk = pl.map((s) => metricKey(s.metric));
    const ck = cl.map((s) => metricKey(s.metric));
    return `series count ${pl.length} vs ${cl.length}; only prometheus: ${
      pk.filter((k) => !ck.includes(k)).slice(0, 3).join(" ")
    }; only cityhall: ${ck.filter((k) => !pk.includes(k)).slice(0, 3).join(" ")}`;
  }
  // A sorted vector must list the same values in the same order; Go's sort is not stable, so
  // equal values may come in any order in Prometheus's answer.
  const ordered = /^\s*sort(_desc)?\(/.test(q.query) && pd.resultType === "vector";
  if (ordered) {
    for (let i = 0; i < pl.length; i++) {
      const pv = (pl[i]!.value as [number, string])[1];
      const cv = (cl[i]!.value as [number, string])[1];
      if (!sameValue(pv, cv, tolerance)) return `order: value ${i} is ${pv} vs ${cv}`;
    }
  }
  const cByKey = new Map(cl.map((s, i) => [metricKey(s.metric), { s, i }]));
  for (let i = 0; i < pl.length; i++) {
    const ps1 = pl[i]!;
    const k = metricKey(ps1.metric);
    const hit = cByKey.get(k);
    if (!hit) return `series ${k} missing from cityhall`;
    const pPoints = (pd.resultType === "vector" ? [ps1.value] : ps1.values) as [number, string][];
    const cPoints = (pd.resultType === "vector" ? [hit.s.value] : hit.s.values) as [
      number,
      string,
    ][];
    if (pPoints.length !== cPoints.length) {
      return `${k}: ${pPoints.length} points vs ${cPoints.length}; first prometheus ${
        JSON.stringify(pPoints.slice(0, 3))
      } cityhall ${JSON.stringify(cPoints.slice(0, 3))}`;
    }
    for (let j = 0; j < pPoints.length; j++) {
      const [pt, pv] = pPoints[j]!;
      const [ct, cv] = cPoints[j]!;
      if (pt !== ct || !sameValue(pv, cv, tolerance)) {
        return `${k} point ${j}: prometheus [${pt}, ${pv}] vs cityhall [${ct}, ${cv}]`;
      }
    }
  }
  return undefined;
}

/**
 * The relative tolerance of a query: 1e-12 where Go and V8 compute a function with different
 * libm code, else 0 (the same strings).
 */
export function toleranceOf(query: string): number {
  return /\b(exp|ln|log2|log10|sin|cos|tan|asin|acos|atan|sinh|cosh|tanh|asinh|acosh|atanh|atan2|holt_winters|deg|rad)\b|\^/
      .test(query)
    ? 1e-12
    : 0;
}
