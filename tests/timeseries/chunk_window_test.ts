/**
 * Range reads of a window: the sealed chunks a read meets are found by one reverse engine read
 * sized from the series' average chunk span (`ChunkStore.overlapping` with `expected`), or by the
 * general path when that guess is short. Chunks of very uneven spans (bursts 1 ms apart, then
 * gaps of hours) make the guess wrong in both directions; every window must still answer exactly
 * the raw samples in it, for TS.RANGE and for TS.MRANGE GROUPBY (and MREVRANGE).
 */

import { assertEquals } from "@std/assert";
import { Database, FaultFs } from "../../src/mod.ts";
import { parseFilters, TimeSeriesStore } from "../../src/timeseries/mod.ts";
import { Rng, seedFromEnv } from "../_helpers/random.ts";

Deno.test("TS.RANGE and MRANGE GROUPBY of windows over chunks of uneven spans", async () => {
  const seed = seedFromEnv();
  console.log(`seed ${seed}`);
  const rng = new Rng(seed);
  const db = await Database.open("/db", { fs: new FaultFs() });
  const store = TimeSeriesStore.open(db, { maintenanceIntervalMs: 0 });
  try {
    const enc = new TextEncoder();
    const key = enc.encode("uneven");
    // 48-byte chunks: a seal every few dozen samples.
    await store.create(key, { chunkSizeBytes: 48, labels: [["g", "1"]] }).durable;
    const ts: number[] = [];
    const values: number[] = [];
    let t = 1_000_000;
    for (let burst = 0; burst < 40; burst++) {
      // A burst of 1 ms steps (a chunk or more spanning milliseconds), then a gap of up to ~3 h
      // (chunks spanning hours around it).
      const n = burst % 3 === 0 ? 5 + rng.int(10) : 50 + rng.int(150);
      for (let i = 0; i < n; i++) {
        t += burst % 3 === 0 ? 1_000_000 + rng.int(10_000_000) : 1 + rng.int(2);
        ts.push(t);
        values.push(rng.int(1000) / 10);
      }
      await store.madd(
        ts.slice(ts.length - n).map((x, j) => ({ key, ts: x, value: values[ts.length - n + j]! })),
      ).durable;
    }
    const first = ts[0]!;
    const last = ts[ts.length - 1]!;
    const filters = parseFilters(["g=1"]);
    for (let q = 0; q < 300; q++) {
      const a = first - 10 + rng.int(last - first + 20);
      const b = q % 4 === 0 ? a + rng.int(50) : a + rng.int(last - a + 10);
      const want: number[] = [];
      const wantValues: number[] = [];
      for (let i = 0; i < ts.length; i++) {
        if (ts[i]! >= a && ts[i]! <= b) {
          want.push(ts[i]!);
          wantValues.push(values[i]!);
        }
      }
      const got = store.range(key, { from: a, to: b });
      assertEquals(got.ts, want, `TS.RANGE ${a} ${b} timestamps`);
      assertEquals(got.values, wantValues, `TS.RANGE ${a} ${b} values`);
      const grouped = store.mrange(filters, { from: a, to: b }, { label: "g", reducer: "max" });
      assertEquals(Array.from(grouped[0]!.points.ts), want, `GROUPBY ${a} ${b} timestamps`);
      assertEquals(Array.from(grouped[0]!.points.values), wantValues, `GROUPBY ${a} ${b} values`);
      // Newest first: the group's own arrays are reversed, never the cached chunks they came
      // from (the next windows would see them reversed).
      const reversed = store.mrange(filters, { from: a, to: b, reverse: true }, {
        label: "g",
        reducer: q % 2 === 0 ? "avg" : "count",
      });
      assertEquals(Array.from(reversed[0]!.points.ts), want.toReversed(), `MREVRANGE ${a} ${b}`);
    }
  } finally {
    await store.close();
    await db.close();
  }
});
