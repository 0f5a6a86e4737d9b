/**
 * The time-series layer against an in-memory reference: random adds (in order, out of order,
 * backfill into sealed chunks, duplicates under every policy), TS.MADD, range deletes,
 * retention, a compaction rule, reopen (log replay), checkpoints, engine flush/compaction and
 * garbage collection — after every step the store must answer exactly what the reference
 * says. Seeded: CITYHALL_SEED reproduces a run; CITYHALL_TS_MODEL_OPS scales it.
 */

import { assert, assertEquals } from "@std/assert";
import { Database, FaultFs } from "../../src/mod.ts";
import { TimeSeriesStore, TsError } from "../../src/timeseries/mod.ts";
import { aggregate, bucketStart } from "../../src/timeseries/aggregate.ts";
import type { DuplicatePolicy } from "../../src/timeseries/meta.ts";
import { toBytes } from "../../src/util/bytes.ts";
import { intFromEnv, Rng, seedFromEnv } from "../_helpers/random.ts";

interface ModelSeries {
  samples: Map<number, number>;
  retentionMs: number;
  policy: DuplicatePolicy | undefined;
}

const MAX = Number.MAX_SAFE_INTEGER - 1;

class Model {
  series = new Map<string, ModelSeries>();

  last(s: ModelSeries): number {
    let m = -1;
    for (const t of s.samples.keys()) if (t > m) m = t;
    return m;
  }

  /** Expected result of TS.ADD: the timestamp, or the error reply. */
  add(key: string, ts: number, value: number, override?: DuplicatePolicy): number | string {
    const s = this.series.get(key)!;
    const last = this.last(s);
    if (s.retentionMs > 0 && last >= 0 && ts < last && last - ts > s.retentionMs) {
      return "ERR TSDB: Timestamp is older than retention";
    }
    const existing = s.samples.get(ts);
    if (existing === undefined || ts > last) {
      s.samples.set(ts, value);
      return ts;
    }
    const policy = override ?? s.policy ?? "block";
    if (policy === "block") {
      return "ERR TSDB: Error at upsert, update is not supported when DUPLICATE_POLICY is set to BLOCK mode";
    }
    const next = policy === "first"
      ? existing
      : policy === "last"
      ? value
      : policy === "min"
      ? Math.min(existing, value)
      : policy === "max"
      ? Math.max(existing, value)
      : existing + value;
    s.samples.set(ts, next);
    return ts;
  }

  visible(key: string): [number, number][] {
    const s = this.series.get(key)!;
    const last = this.last(s);
    const cutoff = s.retentionMs > 0 && last > s.retentionMs ? last - s.retentionMs : 0;
    return [...s.samples].filter(([t]) => t >= cutoff).sort((a, b) => a[0] - b[0]);
  }

  /** What a rule src → dst (avg over bucketMs, from the start) must have produced. */
  ruleExpectation(src: string, bucketMs: number): [number, number][] {
    const samples = [...this.series.get(src)!.samples].sort((a, b) => a[0] - b[0]);
    if (samples.length === 0) return [];
    const open = bucketStart(samples[samples.length - 1]![0], bucketMs, 0);
    const buckets = new Map<number, [number, number][]>();
    for (const [t, v] of samples) {
      const b = bucketStart(t, bucketMs, 0);
      if (b >= open) continue;
      let list = buckets.get(b);
      if (!list) buckets.set(b, list = []);
      list.push([t, v]);
    }
    return [...buckets].sort((a, b) => a[0] - b[0]).map(([b, list]) => [
      b,
      aggregate("avg", list.map((x) => x[0]), list.map((x) => x[1]), 0, list.length),
    ]);
  }
}

const DIR = "/ts";

Deno.test("TimeSeriesStore matches a reference model across writes, reopens and compactions", async () => {
  const seed = seedFromEnv();
  const opsTotal = intFromEnv("CITYHALL_TS_MODEL_OPS", 4000);
  console.log(`seed ${seed}, ${opsTotal} operations`);
  const rng = new Rng(seed);
  const fs = new FaultFs();
  const options = { fs, memtableSizeBytesMax: 64 * 1024, walSegmentSizeBytes: 64 * 1024 };
  let db = await Database.open(DIR, options);
  let store = TimeSeriesStore.open(db, { maintenanceIntervalMs: 0 });
  const model = new Model();
  const keys = ["a", "b", "c", "src"];
  const policies: (DuplicatePolicy | undefined)[] = [
    undefined,
    "last",
    "sum",
    "min",
    "max",
    "first",
  ];
  for (const key of keys) {
    const policy = key === "src" ? "last" : rng.pick(policies);
    const retentionMs = key === "c" ? 50_000 : 0;
    await store.create(toBytes(key), {
      chunkSizeBytes: 48 + 8 * rng.int(10),
      ...(policy ? { duplicatePolicy: policy } : {}),
      retentionMs,
      labels: [["k", key], ["group", key === "src" ? "rule" : "plain"]],
    }).durable;
    model.series.set(key, { samples: new Map(), retentionMs, policy });
  }
  await store.create(toBytes("dst"), { labels: [["k", "dst"]] }).durable;
  await store.createRule(toBytes("src"), toBytes("dst"), {
    aggregator: "avg",
    bucketMs: 10_000,
    alignMs: 0,
    backfill: false,
  }).durable;

  const clock = { t: 1_000_000 };
  const check = (where: string) => {
    for (const key of keys) {
      const got = store.range(toBytes(key), { from: 0, to: MAX });
      const want = model.visible(key);
      assertEquals(
        got.ts.map((t, i) => [t, got.values[i]]),
        want,
        `${where}: series ${key} (seed ${seed})`,
      );
    }
    const dst = store.range(toBytes("dst"), { from: 0, to: MAX });
    const want = model.ruleExpectation("src", 10_000);
    assertEquals(dst.ts, want.map((x) => x[0]), `${where}: rule timestamps (seed ${seed})`);
    dst.values.forEach((v, i) => {
      assert(
        Math.abs(v - want[i]![1]) < 1e-9,
        `${where}: rule value at ${dst.ts[i]}: ${v} vs ${want[i]![1]}`,
      );
    });
  };

  for (let op = 0; op < opsTotal; op++) {
    const r = rng.int(100);
    const key = rng.pick(keys);
    if (r < 55) {
      // Mostly in order, sometimes late (into the head or a sealed chunk), sometimes a duplicate.
      const mode = rng.int(10);
      const last = model.last(model.series.get(key)!);
      const ts = mode < 6 || last < 0
        ? (clock.t += 1 + rng.int(2000))
        : mode < 8
        ? Math.max(0, last - rng.int(200_000))
        : last;
      const value = rng.chance(0.8) ? Math.round(rng.next() * 10_000) / 100 : rng.int(5);
      const override = rng.chance(0.2) ? rng.pick(policies) : undefined;
      const want = model.add(key, ts, value, override);
      try {
        const got = store.add({ key: toBytes(key), ts, value }, { onDuplicate: override });
        await got.durable;
        assertEquals(got.value, want, `add ${key} ${ts}`);
      } catch (err) {
        if (!(err instanceof TsError)) throw err;
        assertEquals(err.reply, want, `add ${key} ${ts} (seed ${seed})`);
      }
    } else if (r < 70) {
      // Interleaved series, mostly in order; some samples late (head or sealed chunk) or a
      // duplicate of the newest: TS.MADD writes each series' samples as a run, and must answer
      // as sample by sample.
      const batch = Array.from({ length: 1 + rng.int(20) }, () => {
        const k = rng.pick(keys);
        const mode = rng.int(10);
        const last = model.last(model.series.get(k)!);
        const ts = mode < 7 || last < 0
          ? (clock.t += rng.int(3))
          : mode < 9
          ? Math.max(0, last - rng.int(200_000))
          : last;
        return { key: k, ts, value: rng.int(1000) / 10 };
      });
      const want = batch.map((s) => model.add(s.key, s.ts, s.value));
      const got = store.madd(batch.map((s) => ({ key: toBytes(s.key), ts: s.ts, value: s.value })));
      await got.durable;
      assertEquals(got.value.map((x) => x instanceof TsError ? x.reply : x), want);
    } else if (r < 78) {
      const s = model.series.get(key)!;
      const last = model.last(s);
      if (last < 0) continue;
      const from = Math.max(0, last - rng.int(300_000));
      // A retention window follows the newest sample: keep it, so that what expired stays so.
      const to = Math.min(from + rng.int(100_000), s.retentionMs > 0 ? last - 1 : MAX);
      const visible = new Set(model.visible(key).map(([t]) => t));
      let n = 0;
      for (const t of [...s.samples.keys()]) {
        if (t >= from && t <= to) {
          s.samples.delete(t);
          if (visible.has(t)) n++;
        }
      }
      const got = store.del(toBytes(key), from, to);
      await got.durable;
      assertEquals(got.value, n, `del ${key} ${from}..${to} (seed ${seed})`);
    } else if (r < 82) {
      await store.close();
      await db.close();
      db = await Database.open(DIR, options);
      store = TimeSeriesStore.open(db, { maintenanceIntervalMs: 0 });
      check(`after reopen at op ${op}`);
    } else if (r < 85) {
      await db.compact();
    } else if (r < 90) {
      await store.maintain();
      await store.persistAll();
    } else {
      check(`op ${op}`);
    }
  }
  check("end");
  await store.close();
  await db.close();
});
