/**
 * TS.RANGE with AGGREGATION over samples spread across several sealed chunks and the head:
 * the store merges them into reused scratch buffers (`readSamples(…, scratch)`) and aggregates
 * without per-bucket objects. Checked against aggregating the raw samples, for two series in
 * turn (the second query reuses the buffers the first one filled) and for every aggregator.
 */

import { assertEquals } from "@std/assert";
import { Database, FaultFs } from "../../src/mod.ts";
import { TimeSeriesStore } from "../../src/timeseries/mod.ts";
import { type Aggregator, AGGREGATORS as ALL_AGGREGATORS } from "../../src/timeseries/meta.ts";
import { Rng, seedFromEnv } from "../_helpers/random.ts";

/** Every aggregator (the on-disk list without its empty code 0). */
const AGGREGATORS = ALL_AGGREGATORS.filter((a): a is Aggregator => a !== "");

/** The reference: bucket the raw samples one by one. */
function reference(
  ts: number[],
  values: number[],
  aggregator: Aggregator,
  bucketMs: number,
): [number, number][] {
  const buckets = new Map<number, number[]>();
  for (let i = 0; i < ts.length; i++) {
    const b = ts[i]! - (ts[i]! % bucketMs);
    let list = buckets.get(b);
    if (!list) buckets.set(b, list = []);
    list.push(values[i]!);
  }
  const out: [number, number][] = [];
  for (const [b, vs] of buckets) {
    const n = vs.length;
    const sum = vs.reduce((a, v) => a + v, 0);
    const sum2 = vs.reduce((a, v) => a + v * v, 0);
    const varP = (sum2 - 2 * sum * sum / n + Math.pow(sum / n, 2) * n) / n;
    const varS = n === 1 ? 0 : varP * n / (n - 1);
    const v = {
      avg: sum / n,
      sum,
      min: Math.min(...vs),
      max: Math.max(...vs),
      range: Math.max(...vs) - Math.min(...vs),
      count: n,
      first: vs[0]!,
      last: vs[n - 1]!,
      "var.p": varP,
      "var.s": varS,
      "std.p": Math.sqrt(varP),
      "std.s": Math.sqrt(varS),
      twa: NaN, // checked for its bucket timestamps only
    }[aggregator];
    out.push([b, v]);
  }
  return out;
}

Deno.test("TS.RANGE AGGREGATION over several chunks and the head matches the raw samples", async () => {
  const seed = seedFromEnv();
  console.log(`seed ${seed}`);
  const rng = new Rng(seed);
  const db = await Database.open("/db", { fs: new FaultFs() });
  const store = TimeSeriesStore.open(db, { maintenanceIntervalMs: 0 });
  try {
    const enc = new TextEncoder();
    const data: { key: Uint8Array; ts: number[]; values: number[] }[] = [];
    for (const name of ["a", "b"]) {
      const key = enc.encode(name);
      // 48-byte chunks: a seal every 48 samples, so 1,000 samples span ~20 chunks + the head.
      await store.create(key, { chunkSizeBytes: 48 }).durable;
      const ts: number[] = [];
      const values: number[] = [];
      let t = 1_000_000 + rng.int(1000);
      const n = 900 + rng.int(200);
      for (let i = 0; i < n; i++) {
        t += 1 + rng.int(2_000);
        ts.push(t);
        values.push(Math.round(rng.next() * 10_000) / 100);
      }
      for (let i = 0; i < n; i += 100) {
        await store.madd(
          ts.slice(i, i + 100).map((x, j) => ({ key, ts: x, value: values[i + j]! })),
        ).durable;
      }
      data.push({ key, ts, values });
    }
    for (const aggregator of AGGREGATORS) {
      for (const { key, ts, values } of data) {
        const bucketMs = 10_000;
        const got = store.range(key, {
          from: 0,
          to: Number.MAX_SAFE_INTEGER,
          aggregation: { aggregator, bucketMs, alignMs: 0, empty: false, bucketTimestamp: "start" },
        });
        const want = reference(ts, values, aggregator, bucketMs);
        assertEquals(got.ts, want.map((x) => x[0]), `${aggregator} bucket timestamps`);
        if (aggregator === "twa") continue;
        for (let i = 0; i < want.length; i++) {
          const [w, g] = [want[i]![1], got.values[i]!];
          const close = Math.abs(w - g) <= 1e-9 * Math.max(1, Math.abs(w));
          assertEquals(close, true, `${aggregator} bucket ${want[i]![0]}: ${g} vs ${w}`);
        }
      }
    }
  } finally {
    await store.close();
    await db.close();
  }
});
