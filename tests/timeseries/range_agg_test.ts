/**
 * TS.RANGE with AGGREGATION over samples spread across several sealed chunks and the head:
 * the store merges them into reused scratch buffers (`readSamples(…, scratch)`) and aggregates
 * without per-bucket objects. Checked against aggregating the raw samples, for two series in
 * turn (the second query reuses the buffers the first one filled) and for every aggregator;
 * and TS.MRANGE GROUPBY … REDUCE (runs merged in reused buffers, reduced into typed arrays)
 * against reducing the raw samples per timestamp.
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

/** Each value of `got` within 1e-9 (relative) of `want`'s, named `${label} <timestamp>`. */
function assertClose(
  want: readonly (readonly [number, number])[],
  got: ArrayLike<number>,
  label: string,
): void {
  for (let i = 0; i < want.length; i++) {
    const [w, g] = [want[i]![1], got[i]!];
    const close = Math.abs(w - g) <= 1e-9 * Math.max(1, Math.abs(w));
    assertEquals(close, true, `${label} ${want[i]![0]}: ${g} vs ${w}`);
  }
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
        assertClose(want, got.values, `${aggregator} bucket`);
      }
    }
  } finally {
    await store.close();
    await db.close();
  }
});

Deno.test("TS.MRANGE GROUPBY REDUCE over several chunks and heads matches the raw samples", async () => {
  const seed = seedFromEnv();
  console.log(`seed ${seed}`);
  const rng = new Rng(seed);
  const db = await Database.open("/db", { fs: new FaultFs() });
  const store = TimeSeriesStore.open(db, { maintenanceIntervalMs: 0 });
  try {
    const enc = new TextEncoder();
    // Two groups of series whose timestamps often collide (a 5 ms grid), each spanning several
    // 48-byte chunks and its head; one series left empty, one outside every group.
    const raw = new Map<string, [number, number][]>();
    for (let i = 0; i < 7; i++) {
      const key = enc.encode(`s${i}`);
      const group = i === 6 ? [] : [["g", `g${i % 2}`] as [string, string]];
      await store.create(key, { chunkSizeBytes: 48, labels: [["all", "1"], ...group] }).durable;
      if (i === 4) continue;
      const samples: [number, number][] = [];
      let t = 1_000_000 + 5 * rng.int(100);
      for (let k = 0; k < 300 + rng.int(200); k++) {
        t += 5 * (1 + rng.int(4));
        samples.push([t, Math.round(rng.next() * 10_000) / 100]);
      }
      for (let k = 0; k < samples.length; k += 100) {
        await store.madd(
          samples.slice(k, k + 100).map(([ts, value]) => ({ key, ts, value })),
        ).durable;
      }
      if (i !== 6) {
        const name = `g${i % 2}`;
        raw.set(name, [...(raw.get(name) ?? []), ...samples]);
      }
    }
    const filters = [{ op: "eq" as const, label: "all", values: ["1"] }];
    for (const reducer of ["avg", "sum", "min", "max", "count", "range"] as const) {
      for (const [from, to] of [[0, Number.MAX_SAFE_INTEGER], [1_000_600, 1_001_400]]) {
        for (const reverse of [false, true]) {
          const got = store.mrange(filters, { from: from!, to: to!, reverse, count: 50 }, {
            label: "g",
            reducer,
          });
          assertEquals(got.map((r) => new TextDecoder().decode(r.key)), ["g=g0", "g=g1"]);
          for (const r of got) {
            const byTs = new Map<number, number[]>();
            for (const [t, v] of raw.get(r.labels[0]![1])!) {
              if (t < from! || t > to!) continue;
              byTs.set(t, [...(byTs.get(t) ?? []), v]);
            }
            let want = [...byTs].sort((a, b) => a[0] - b[0]).map(([t, vs]) => {
              const sum = vs.reduce((a, v) => a + v, 0);
              const value = {
                avg: sum / vs.length,
                sum,
                min: Math.min(...vs),
                max: Math.max(...vs),
                count: vs.length,
                range: Math.max(...vs) - Math.min(...vs),
              }[reducer];
              return [t, value] as const;
            });
            if (reverse) want = want.reverse();
            want = want.slice(0, 50);
            assertEquals(Array.from(r.points.ts), want.map((x) => x[0]), `${reducer} timestamps`);
            assertClose(want, r.points.values, `${reducer} at`);
          }
        }
      }
    }
  } finally {
    await store.close();
    await db.close();
  }
});

Deno.test("twa reads the sample after a range inside the same sealed chunk, for queries and rules", async () => {
  const db = await Database.open("/db", { fs: new FaultFs() });
  const store = TimeSeriesStore.open(db, { maintenanceIntervalMs: 0 });
  try {
    const enc = new TextEncoder();
    const [src, dst] = [enc.encode("src"), enc.encode("dst")];
    // 48-byte chunks seal every 48 samples, so 10…20 share a sealed chunk. Samples at even
    // timestamps with values t², which are not linear: interpolating towards any sample other
    // than the true next one gives another average.
    await store.create(src, { chunkSizeBytes: 48 }).durable;
    await store.create(dst, { duplicatePolicy: "last" }).durable;
    await store.createRule(src, dst, {
      aggregator: "twa",
      bucketMs: 10,
      alignMs: 0,
      backfill: false,
    }).durable;
    const value = new Map<number, number>();
    for (let t = 0; t < 2000; t += 2) value.set(t, t * t);
    const all = [...value];
    for (let i = 0; i < all.length; i += 100) {
      await store.madd(all.slice(i, i + 100).map(([ts, v]) => ({ key: src, ts, value: v })))
        .durable;
    }
    // The time-weighted average over [10, end]: trapezoids through the samples, the last one
    // interpolated at `end` towards the sample at 20.
    const twa = (end: number) => {
      const at = (t: number) =>
        value.get(t) ?? value.get(18)! + (value.get(20)! - value.get(18)!) * (t - 18) / 2;
      let area = 0;
      for (let t = 10; t < end; t = Math.min(end, t + 2)) {
        const u = Math.min(end, t + 2);
        area += (at(t) + at(u)) * (u - t) / 2;
      }
      return area / (end - 10);
    };
    const query = () =>
      store.range(src, {
        from: 10,
        to: 19,
        aggregation: {
          aggregator: "twa",
          bucketMs: 10,
          alignMs: 0,
          empty: false,
          bucketTimestamp: "start",
        },
      }).values[0];
    // A query ending at 19 interpolates towards the sample at 20, in the same sealed chunk.
    assertEquals(query(), twa(19));
    // A late sample in a closed bucket makes the rule recompute it over the whole bucket.
    await store.add({ key: src, ts: 14, value: 42 }, { onDuplicate: "last" }).durable;
    value.set(14, 42);
    assertEquals(query(), twa(19));
    assertEquals(store.range(dst, { from: 10, to: 10 }).values[0], twa(20));
  } finally {
    await store.close();
    await db.close();
  }
});

Deno.test("EMPTY twa fills the range's buckets before and after its samples by interpolating across the edge", async () => {
  const db = await Database.open("/db", { fs: new FaultFs() });
  const store = TimeSeriesStore.open(db, { maintenanceIntervalMs: 0 });
  try {
    const key = new TextEncoder().encode("t");
    await store.create(key, {}).durable;
    // A straight line v = 100 + t at t = 10, 20, 50, 60: the mean of the line over [ta, tb]
    // is 100 + (ta + tb) / 2.
    for (const t of [10, 20, 50, 60]) await store.add({ key, ts: t, value: 100 + t }, {}).durable;
    const twa = (from: number, to: number, reverse = false) => {
      const p = store.range(key, {
        from,
        to,
        reverse,
        aggregation: {
          aggregator: "twa",
          bucketMs: 5,
          alignMs: 0,
          empty: true,
          bucketTimestamp: "start",
        },
      });
      return p.ts.map((t, i) => [t, p.values[i]!]);
    };
    // No sample inside [16, 18]: one bucket, the line's mean over [16, 18] (RedisTimeSeries's
    // own test: 107, not an empty reply).
    assertEquals(twa(16, 18), [[15, 117]]);
    // [31, 44] holds no sample either: buckets 30, 35 and 40, each over its part of the range.
    assertEquals(twa(31, 44), [[30, 133], [35, 137.5], [40, 142]]);
    // [12, 58]: buckets 10 (before the first sample inside, 20) and 55 (after the last, 50) are
    // filled towards the samples at 10 and 60 beyond the edges; the gap 25…45 as before.
    const got = twa(12, 58);
    assertEquals(got.map(([t]) => t), [10, 15, 20, 25, 30, 35, 40, 45, 50, 55]);
    assertEquals(got[0], [10, 100 + (12 + 15) / 2]);
    assertEquals(got[1], [15, 117.5]);
    assertEquals(got[9], [55, 100 + (55 + 58) / 2]);
    assertEquals(twa(12, 58, true).map(([t]) => t), [55, 50, 45, 40, 35, 30, 25, 20, 15, 10]);
    // Nothing beyond an edge: nothing to interpolate towards, so no bucket there.
    assertEquals(twa(0, 8), []);
    assertEquals(twa(61, 90), []);
    // [55, 90]: bucket 55 lies before the sample at 60 and after the one at 50; nothing after 60.
    assertEquals(twa(55, 90).map(([t]) => t), [55, 60]);
  } finally {
    await store.close();
    await db.close();
  }
});
