/**
 * Sealing empties a head without decoding it a second time (`Head.clear`, also the path of
 * `Head.deleteRange` over every sample, which replays a SEAL entry): the emptied head is exactly a
 * new one (no samples, no buffer, a new epoch, the empty head bytes), later appends encode as in a
 * fresh head whatever mode the old samples had, a decoding kept from before the seal goes stale
 * (and views handed out keep their samples), and a series sealed between reads answers every
 * range exactly, before and after a reopen replays its seals.
 */

import { assert, assertEquals, assertNotEquals, assertThrows } from "@std/assert";
import { Database, FaultFs } from "../../src/mod.ts";
import { Head } from "../../src/timeseries/head.ts";
import { TimeSeriesStore } from "../../src/timeseries/mod.ts";
import { HeadCache } from "../../src/timeseries/query_heads.ts";
import { AssertionError } from "../../src/util/assert.ts";
import { ByteWriter } from "../../src/util/buffers.ts";
import { toBytes } from "../../src/util/bytes.ts";
import { Rng, seedFromEnv } from "../_helpers/random.ts";

function bytesOf(head: Head): Uint8Array {
  const out = new ByteWriter(64);
  head.serialize(out);
  return out.finish();
}

function plain(s: { ts: Float64Array; values: Float64Array }): [number[], number[]] {
  return [Array.from(s.ts), Array.from(s.values)];
}

/** A head holding `n` samples from `t0`, 1 s apart, in float mode when `float`. */
function filled(n: number, t0: number, float: boolean): Head {
  const head = new Head();
  for (let i = 0; i < n; i++) head.append(t0 + 1000 * i, float ? Math.PI * i : (i % 50) / 10);
  return head;
}

Deno.test("Head.clear() and deleteRange() over every sample empty the head into a new one", () => {
  for (const float of [false, true]) {
    for (const empty of ["clear", "deleteRange", "deleteRange wider"]) {
      const head = filled(300, 1_700_000_000_000, float);
      const epoch = head.epoch;
      const removed = empty === "clear"
        ? head.clear()
        : empty === "deleteRange"
        ? head.deleteRange(head.firstTs, head.lastTs)
        : head.deleteRange(0, Number.MAX_SAFE_INTEGER);
      assertEquals(removed, 300, empty);
      assertEquals(head.count, 0);
      assertEquals(head.sizeBytes, 0, "the buffer went back");
      assertNotEquals(head.epoch, epoch, "a new epoch");
      assertEquals(bytesOf(head), bytesOf(new Head()));
      assertEquals(plain(head.decode()), [[], []]);
      assertEquals(head.valueAt(1_700_000_000_000), undefined);
      assertEquals(head.deleteRange(0, Number.MAX_SAFE_INTEGER), 0);
      // Appends afterwards, in the other mode than before: the same bytes as a fresh head's.
      const fresh = new Head();
      for (const h of [head, fresh]) {
        h.append(1_800_000_000_000, float ? 21.5 : Math.E);
        h.append(1_800_000_001_003, float ? 21.25 : 1);
        h.appendRun(
          Float64Array.of(1_800_000_002_000, 1_800_000_003_000),
          Float64Array.of(7, 8),
          0,
          2,
        );
        h.upsert(1_800_000_003_000, 9);
      }
      assertEquals(bytesOf(head), bytesOf(fresh), `${empty} float=${float}`);
      assertEquals(plain(head.decode()), plain(fresh.decode()));
      assertEquals([head.firstTs, head.lastTs, head.lastValue], [
        1_800_000_000_000,
        1_800_000_003_000,
        9,
      ]);
    }
  }
  assertEquals(new Head().clear(), 0);
});

Deno.test("A decoding kept from before a head was emptied is stale; views handed out stay", () => {
  const cache = new HeadCache();
  const head = filled(200, 1_000_000, false);
  const before = cache.samples(head);
  const kept = plain(before);
  head.clear();
  // Refilled past the old count before the next read: the kept decoding must not go on from
  // sample 200 in the new bytes.
  for (let i = 0; i < 300; i++) head.append(5_000_000 + 7 * i, i);
  assertEquals(plain(cache.samples(head)), plain(head.decode()));
  head.clear();
  assertEquals(plain(cache.samples(head)), [[], []]);
  for (let i = 0; i < 250; i++) head.append(9_000_000 + 3 * i, -i / 100);
  assertEquals(plain(cache.samples(head)), plain(head.decode()));
  assertEquals(plain(before), kept, "a view handed out changed");
});

Deno.test("A series sealed between reads answers every range exactly, also after a reopen", async () => {
  const seed = seedFromEnv();
  console.log(`seed ${seed}`);
  const rng = new Rng(seed);
  const fs = new FaultFs();
  let db = await Database.open("/seal", { fs });
  let store = TimeSeriesStore.open(db, { maintenanceIntervalMs: 0 });
  const key = toBytes("s");
  try {
    // 64-sample chunks: a seal every 64 adds.
    await store.create(key, { chunkSizeBytes: 64, duplicatePolicy: "last" }).durable;
    const model: [number, number][] = [];
    let t = 1_700_000_000_000;
    const check = (what: string) => {
      const all = store.range(key, { from: 0, to: Number.MAX_SAFE_INTEGER });
      assertEquals(all.ts, model.map((x) => x[0]), `${what} (seed ${seed})`);
      assertEquals(all.values, model.map((x) => x[1]), `${what} (seed ${seed})`);
      const a = model[rng.int(model.length)]![0];
      const b = model[rng.int(model.length)]![0];
      const [from, to] = a <= b ? [a, b] : [b, a];
      const some = store.range(key, { from, to });
      assertEquals(some.ts, model.filter((x) => x[0] >= from && x[0] <= to).map((x) => x[0]));
    };
    for (let i = 0; i < 700; i++) {
      t += 1 + rng.int(2000);
      // Mostly decimals, some float values: heads of both modes get sealed.
      const v = rng.chance(0.9) ? rng.int(10_000) / 100 : rng.next();
      await store.add({ key, ts: t, value: v }).durable;
      model.push([t, v]);
      if (rng.chance(0.05)) {
        // A replaced newest sample (the head's O(1) undo), right before a seal now and then.
        const v2 = rng.int(100);
        await store.add({ key, ts: t, value: v2 }).durable;
        model[model.length - 1] = [t, v2];
      }
      if (rng.chance(0.3)) check(`after add ${i}`);
    }
    assert(store.get(key).stats.sealedChunks >= 10, "sealed");
    check("before reopen");
    await store.close();
    await db.close();
    db = await Database.open("/seal", { fs });
    store = TimeSeriesStore.open(db, { maintenanceIntervalMs: 0 });
    check("after reopen");
    for (let i = 0; i < 100; i++) {
      t += 1000;
      await store.add({ key, ts: t, value: i }).durable;
      model.push([t, i]);
    }
    check("appends after reopen");
  } finally {
    await store.close();
    await db.close();
  }
});

Deno.test("Head.appendRun() refuses a run that is not newer than the head or not increasing", () => {
  const head = filled(10, 1_000_000, false);
  const run = (ts: number[]) => () =>
    head.appendRun(Float64Array.from(ts), Float64Array.from(ts.map(() => 1)), 0, ts.length);
  assertThrows(run([head.lastTs]), AssertionError, "head append out of order");
  assertThrows(run([head.lastTs + 5, head.lastTs + 5]), AssertionError, "head append out of order");
  assertThrows(run([head.lastTs + 5, head.lastTs + 4]), AssertionError, "head append out of order");
});
