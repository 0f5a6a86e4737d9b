/** Time-series maintenance: retention deletes whole expired chunks, garbage collection of
 * deleted series, and TS.DEL … FILTER across series. */

import { assert, assertEquals } from "@std/assert";
import { Database, FaultFs } from "../../src/mod.ts";
import { TimeSeriesStore } from "../../src/timeseries/mod.ts";
import { chunkKey, registryKey, stateKey } from "../../src/timeseries/log.ts";
import { toBytes } from "../../src/util/bytes.ts";
import { dueForCheckpoint } from "../../src/timeseries/maintenance.ts";

async function withStore(fn: (s: TimeSeriesStore, db: Database) => Promise<void>) {
  const db = await Database.open("/db", { fs: new FaultFs() });
  const store = TimeSeriesStore.open(db, { maintenanceIntervalMs: 0 });
  try {
    await fn(store, db);
  } finally {
    await store.close();
    await db.close();
  }
}

Deno.test("Retention hides expired samples at once and deletes whole expired chunks", async () => {
  await withStore(async (store, db) => {
    const key = toBytes("r");
    await store.create(key, { retentionMs: 10_000, chunkSizeBytes: 48 }).durable;
    for (let i = 0; i < 1000; i++) await store.add({ key, ts: i * 1000, value: i }).durable;
    const visible = store.range(key, { from: 0, to: 2_000_000 });
    assertEquals(visible.ts[0], 989_000); // newest 999 000 minus 10 000
    assertEquals(visible.ts.length, 11);
    const version = store.get(key).version;
    const chunksBefore = db.readRange(
      { start: chunkKey(version, 0), end: chunkKey(version + 1, 0) },
      { limit: 10_000 },
    ).length;
    await store.maintain();
    const chunksAfter = db.readRange(
      { start: chunkKey(version, 0), end: chunkKey(version + 1, 0) },
      { limit: 10_000 },
    ).length;
    assert(chunksBefore >= 20 && chunksAfter <= 1, `${chunksBefore} → ${chunksAfter} chunks`);
    assertEquals(store.range(key, { from: 0, to: 2_000_000 }).ts.length, 11);
    assertEquals(store.info(key).totalSamples, 11);
  });
});

Deno.test("A deleted series' registry entry, state and chunks are collected", async () => {
  await withStore(async (store, db) => {
    const key = toBytes("gone");
    await store.create(key, { chunkSizeBytes: 48, labels: [["a", "b"]] }).durable;
    for (let i = 0; i < 200; i++) await store.add({ key, ts: i, value: i }).durable;
    await store.persistAll();
    const version = store.get(key).version;
    await db.delete(key); // DEL acts on the key alone
    assertEquals(store.select([{ op: "eq", label: "a", values: ["b"] }]), []);
    await store.maintain();
    assertEquals(db.getEntry(registryKey(version)), undefined);
    assertEquals(db.getEntry(stateKey(version)), undefined);
    assertEquals(
      db.readRange({ start: chunkKey(version, 0), end: chunkKey(version + 1, 0) }, { limit: 10 }),
      [],
    );
    assertEquals(store.seriesCount, 0);
  });
});

Deno.test("TS.DEL from to FILTER deletes the range in every selected series", async () => {
  await withStore(async (store) => {
    for (const k of ["x", "y", "z"]) {
      await store.create(toBytes(k), { labels: [["site", k === "z" ? "b" : "a"]] }).durable;
      for (let i = 0; i < 10; i++) await store.add({ key: toBytes(k), ts: i, value: i }).durable;
    }
    const r = store.delByFilter([{ op: "eq", label: "site", values: ["a"] }], 2, 5);
    await r.durable;
    assertEquals(r.value, 8);
    assertEquals(store.range(toBytes("x"), { from: 0, to: 100 }).ts, [0, 1, 6, 7, 8, 9]);
    assertEquals(store.range(toBytes("z"), { from: 0, to: 100 }).ts.length, 10);
  });
});

Deno.test("Past the heads' memory budget, maintenance seals the largest heads early", async () => {
  const fs = new FaultFs();
  let db = await Database.open("/db", { fs });
  let store = TimeSeriesStore.open(db, { maintenanceIntervalMs: 0, headsBytesMax: 8192 });
  try {
    const keys = ["big", "mid", "tiny"].map(toBytes);
    for (const k of keys) await store.create(k).durable;
    const counts = [2000, 1000, 50];
    for (let i = 0; i < 2000; i++) {
      const batch = keys.filter((_, j) => i < counts[j]!).map((key) => ({
        key,
        ts: 1_000 + i * 1000,
        value: Math.round(Math.sin(i / 7) * 1000) / 100,
      }));
      await store.madd(batch).durable;
    }
    const all = () => keys.map((k) => store.range(k, { from: 0, to: 1e13 }));
    const before = all();
    const heads = () => store.all().reduce((n, s) => n + s.head.sizeBytes, 0);
    assert(heads() > 8192, `heads take ${heads()} bytes`);
    await store.maintain();
    assert(heads() <= 8192 * 0.75, `heads take ${heads()} bytes after`);
    assertEquals(store.get(keys[0]!).head.count, 0);
    assertEquals(store.get(keys[0]!).stats.sealedChunks, 1);
    assertEquals(store.get(keys[2]!).head.count, 50); // too small to seal
    assertEquals(all(), before);
    // Reopened, the sealed chunks hold the same samples.
    await store.close();
    await db.close();
    db = await Database.open("/db", { fs });
    store = TimeSeriesStore.open(db, { maintenanceIntervalMs: 0 });
    assertEquals(all(), before);
    assertEquals(store.get(keys[0]!).stats.sealedChunks, 1);
  } finally {
    await store.close();
    await db.close();
  }
});

Deno.test("Series written in step are checkpointed a tenth at a time before they fall due", async () => {
  const db = await Database.open("/db", { fs: new FaultFs(), walSegmentSizeBytes: 4096 });
  const store = TimeSeriesStore.open(db, { maintenanceIntervalMs: 0 });
  try {
    const keys = Array.from({ length: 40 }, (_, i) => toBytes(`s${String(i).padStart(2, "0")}`));
    for (const k of keys) await store.create(k).durable;
    for (const key of keys) await store.add({ key, ts: 1000, value: 1 }).durable;
    // Filler after the samples: ~20 KB of WAL.
    for (let i = 0; i < 200; i++) {
      await db.write([{ type: "put", key: `filler${i}`, value: "x".repeat(64) }]);
    }
    const ctx = store.context;
    const now = Date.now();
    const wal = db.walSegments().reduce((n, s) => n + s.sizeBytes, 0);
    // Nothing is past the whole budget; every series is past half of it: the 4 oldest go.
    const early = dueForCheckpoint(ctx, now, wal * 1.5);
    assertEquals(early.map((s) => s.keyString), ["s00", "s01", "s02", "s03"]);
    // Past the whole budget, every series is due at once.
    assertEquals(dueForCheckpoint(ctx, now, 4096).length, 40);
  } finally {
    await store.close();
    await db.close();
  }
});

Deno.test("Opening the store reads the state records without keeping them in the block cache", async () => {
  const fs = new FaultFs();
  let db = await Database.open("/db", { fs });
  let store = TimeSeriesStore.open(db, { maintenanceIntervalMs: 0 });
  for (let i = 0; i < 300; i++) {
    const key = toBytes(`s${i}`);
    await store.create(key).durable;
    await store.madd(
      Array.from({ length: 50 }, (_, k) => ({ key, ts: 1000 * (k + 1), value: i + k / 4 })),
    ).durable;
  }
  await store.persistAll();
  await db.flush();
  await store.close();
  await db.close();
  db = await Database.open("/db", { fs });
  store = TimeSeriesStore.open(db, { maintenanceIntervalMs: 0 });
  try {
    assertEquals(store.seriesCount, 300);
    // Read the state records again, filling the cache: had the open cached them, all hits.
    const before = db.stats();
    const rows = db.readRange({ start: stateKey(0), end: stateKey(Number.MAX_SAFE_INTEGER) }, {
      limit: 10_000,
    });
    const after = db.stats();
    assertEquals(rows.length, 300);
    assert(after.blockCacheMisses - before.blockCacheMisses > 0, "state blocks were not cached");
    assertEquals(after.blockCacheHits - before.blockCacheHits, 0);
  } finally {
    await store.close();
    await db.close();
  }
});
