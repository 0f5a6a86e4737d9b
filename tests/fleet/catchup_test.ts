/**
 * Catch-up in CHUNKS frames over real sockets: an edge that wrote a seeded sensor workload
 * while its hub was away catches up with ≤ 2 bytes per sample on the wire, and the hub holds
 * exactly the edge's samples; a rewritten sealed chunk (late sample), a delete and a string
 * key in the middle keep their order; `--uplink-ship rollups` sends only the rollup series.
 *
 * @module
 */

import { assert, assertEquals } from "@std/assert";
import { generateSensors } from "../_helpers/sensors.ts";
import { TimeSeriesStore } from "../../src/timeseries/mod.ts";
import { openEdgeDatabase } from "../../src/fleet/uplink.ts";
import { Database } from "../../src/engine/mod.ts";
import { addTestSite, removeDir, startTestEdge, startTestHub } from "./_helpers.ts";

const utf8 = new TextEncoder();

/** Every series' samples as `key → [ts, value][]` (keys without the site prefix). */
function samplesOf(store: TimeSeriesStore, prefix = ""): Map<string, [number, number][]> {
  const out = new Map<string, [number, number][]>();
  for (const s of store.all()) {
    const key = new TextDecoder().decode(s.key);
    if (!key.startsWith(prefix) || store.find(s.key) !== s) continue;
    const points = store.range(utf8.encode(key), { from: 0, to: Number.MAX_SAFE_INTEGER });
    const pairs: [number, number][] = [];
    for (let i = 0; i < points.ts.length; i++) pairs.push([points.ts[i]!, points.values[i]!]);
    out.set(key.slice(prefix.length), pairs);
  }
  return out;
}

/** Writes `seconds` of `count` seeded sensors into a fresh edge directory (hub away). */
async function offlineEdge(
  count: number,
  seconds: number,
  extra?: (ts: TimeSeriesStore) => Promise<void>,
) {
  const dir = await Deno.makeTempDir({ prefix: "cityhall-catchup-edge-" });
  const { db } = await openEdgeDatabase(dir, "plant", { syncMode: "none" });
  const store = TimeSeriesStore.open(db, { maintenanceIntervalMs: 0 });
  const sensors = generateSensors(7, count, seconds);
  for (const s of sensors) {
    await store.create(utf8.encode(s.name), { labels: [["kind", s.kind]] }).durable;
  }
  let samples = 0;
  for (let t = 0; t < seconds; t += 10) {
    const batch = [];
    for (const s of sensors) {
      for (let i = t; i < Math.min(t + 10, s.ts.length); i++) {
        batch.push({ key: utf8.encode(s.name), ts: s.ts[i]!, value: s.values[i]! });
      }
    }
    samples += batch.length;
    await store.madd(batch).durable;
  }
  await extra?.(store);
  await db.sync();
  const want = samplesOf(store);
  await store.close();
  await db.close();
  return { dir, samples, want };
}

Deno.test("catch-up: CHUNKS frames carry a sensor backlog at <= 2 bytes per sample; the hub holds exactly the edge's samples", async () => {
  const edgeData = await offlineEdge(40, 2 * 3600, async (store) => {
    // A late sample into a sealed chunk, a delete of a sealed range, a string key between.
    await store.add({ key: utf8.encode("sensor_0"), ts: 1_700_000_000_500, value: 99 }).durable;
    await store.del(utf8.encode("sensor_1"), 1_700_000_100_000, 1_700_000_200_000).durable;
    await store.context.db.put("note", "between");
    await store.madd([{ key: utf8.encode("sensor_2"), ts: 1_800_000_000_000, value: 1 }]).durable;
  });
  const hub = await startTestHub({ withSeries: true });
  const token = await addTestSite(hub.dir, "plant");
  const edge = await startTestEdge(hub.port, "plant", token, { dir: edgeData.dir });
  try {
    await edge.uplink.waitForAck(edge.db.lastSeq);
    const have = samplesOf(hub.timeseries!, "plant/");
    assertEquals(have.size, edgeData.want.size);
    for (const [key, points] of edgeData.want) assertEquals(have.get(key), points, key);
    assertEquals(new TextDecoder().decode(await hub.db.get("plant/note")), "between");
    const wire = hub.hub.statuses()[0]!.wireBytes;
    const perSample = wire / edgeData.samples;
    console.log(
      `catch-up: ${edgeData.samples} samples, ${wire} bytes on the wire, ${
        perSample.toFixed(3)
      } B/sample`,
    );
    assert(perSample <= 2, `${perSample} bytes per sample`);
  } finally {
    await edge.close();
    await hub.close();
    await removeDir(edge.dir);
    await removeDir(hub.dir);
  }
});

Deno.test("catch-up: --uplink-ship rollups sends only series a rule feeds; raw samples stay at the edge", async () => {
  const hub = await startTestHub({ withSeries: true });
  const token = await addTestSite(hub.dir, "clinic");
  const opened: { store?: TimeSeriesStore } = {};
  const edge = await startTestEdge(hub.port, "clinic", token, {
    ship: "rollups",
    isRollup: (v) => {
      const s = opened.store?.context.set.byVersion(v);
      return s === undefined ? undefined : s.meta.sourceVersion !== 0;
    },
  });
  const store = opened.store = TimeSeriesStore.open(edge.db, { maintenanceIntervalMs: 0 });
  try {
    const raw = utf8.encode("hr");
    const avg = utf8.encode("hr:avg1m");
    await store.create(raw, { labels: [["metric", "hr"]] }).durable;
    await store.create(avg, { labels: [["metric", "hr"], ["agg", "avg"]] }).durable;
    await store.createRule(raw, avg, {
      aggregator: "avg",
      bucketMs: 60_000,
      alignMs: 0,
      backfill: false,
    }).durable;
    const batch = [];
    for (let i = 0; i < 600; i++) batch.push({ key: raw, ts: 1_000 * i, value: 60 + (i % 7) });
    await store.madd(batch).durable;
    await edge.uplink.waitForAck(edge.db.lastSeq);
    const have = samplesOf(hub.timeseries!, "clinic/");
    assertEquals([...have.keys()], ["hr:avg1m"]);
    const want = samplesOf(store).get("hr:avg1m")!;
    assertEquals(want.length, 9);
    assertEquals(have.get("hr:avg1m"), want);
  } finally {
    await store.close();
    await edge.close();
    await hub.close();
    await removeDir(edge.dir);
    await removeDir(hub.dir);
  }
});

Deno.test("catch-up: an edge whose WAL no longer holds its series' history sends a snapshot; the hub rebuilds every series", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cityhall-snap-edge-" });
  const plain = await Database.open(dir, { walSegmentSizeBytes: 64 * 1024 });
  const store = TimeSeriesStore.open(plain, { maintenanceIntervalMs: 0 });
  const sensors = generateSensors(11, 10, 3600);
  for (const s of sensors) {
    await store.create(utf8.encode(s.name), { labels: [["site", "x"]] }).durable;
  }
  for (let t = 0; t < 3600; t += 60) {
    const batch = [];
    for (const s of sensors) {
      for (let i = t; i < Math.min(t + 60, s.ts.length); i++) {
        batch.push({ key: utf8.encode(s.name), ts: s.ts[i]!, value: s.values[i]! });
      }
    }
    await store.madd(batch).durable;
  }
  const want = samplesOf(store);
  await store.persistAll();
  await plain.flush();
  await plain.put("late", "1");
  await plain.flush();
  await store.close();
  await plain.close();
  const hub = await startTestHub({ withSeries: true });
  const token = await addTestSite(hub.dir, "old");
  const edge = await startTestEdge(hub.port, "old", token, {
    dir,
    db: { walSegmentSizeBytes: 64 * 1024 },
  });
  try {
    assert(edge.db.walSegments()[0]!.firstSeq > 1, "the early WAL is gone");
    await edge.uplink.waitForAck(edge.db.lastSeq);
    assertEquals(hub.hub.statuses()[0]!.snapshots, 1);
    const have = samplesOf(hub.timeseries!, "old/");
    assertEquals([...have.keys()].sort(), [...want.keys()].sort());
    for (const [key, points] of want) assertEquals(have.get(key), points, key);
    const info = hub.timeseries!.info(utf8.encode("old/sensor_0"));
    assertEquals(info.labels, [["exported_site", "x"], ["site", "old"]]);
  } finally {
    await edge.close();
    await hub.close();
    await removeDir(dir);
    await removeDir(hub.dir);
  }
});
