/**
 * Time series over CityHall Sync: a replica applies the leader's log ops to its own heads and
 * its seal, checkpoint and rule writes as engine writes, never deciding them itself, so it
 * answers exactly what the leader answers — after streaming, after a restart, and after a
 * snapshot bootstrap (heads persisted by the leader's checkpoint first). It refuses writes.
 */

import { replicationPort } from "../../src/engine/mod.ts";
import { assert, assertEquals, assertThrows } from "@std/assert";
import { TimeSeriesStore, TsError } from "../../src/timeseries/mod.ts";
import { toBytes } from "../../src/util/bytes.ts";
import { openReplicaDatabase, startReplica } from "../../src/replication/mod.ts";
import { removeDir, startTestLeader, startTestReplica } from "../replication/_helpers.ts";
import { Rng, seedFromEnv } from "../_helpers/random.ts";

const MAX = Number.MAX_SAFE_INTEGER - 1;
const SMALL = { walSegmentSizeBytes: 64 * 1024, memtableSizeBytesMax: 32 * 1024 };

/** Everything a client can see of the series set, for comparing two stores. */
function view(store: TimeSeriesStore, keys: string[]) {
  return keys.map((k) => {
    const key = toBytes(k);
    if (!store.find(key)) return { k, missing: true };
    const info = store.info(key);
    const points = store.range(key, { from: 0, to: MAX });
    for (let i = 1; i < points.ts.length; i++) assert(points.ts[i]! > points.ts[i - 1]!, "twice");
    return { k, points, total: info.totalSamples, labels: info.labels, rules: info.rules.length };
  });
}

async function writeLoad(store: TimeSeriesStore, rng: Rng, keys: string[], n: number) {
  for (let i = 0; i < n; i++) {
    const k = toBytes(rng.pick(keys));
    const s = store.find(k);
    const last = s?.lastTs ?? 0;
    const late = rng.chance(0.15) && last > 100_000;
    const ts = late ? last - 1 - rng.int(100_000) : last + 1 + rng.int(2000);
    const r = store.add({ key: k, ts, value: Math.round(rng.next() * 1000) / 10 }, {
      onDuplicate: "last",
    });
    await r.durable;
  }
}

Deno.test("Time series replicate exactly: streaming, restart, read-only", async () => {
  const rng = new Rng(seedFromEnv());
  const leader = await startTestLeader({ db: SMALL });
  const lts = TimeSeriesStore.open(leader.db, { maintenanceIntervalMs: 0 });
  const replica = await startTestReplica(leader.port);
  let rts = TimeSeriesStore.open(replica.db, { maintenanceIntervalMs: 0 });
  const keys = ["a", "b", "c", "roll"];
  try {
    for (const k of ["a", "b", "c"]) {
      await lts.create(toBytes(k), { chunkSizeBytes: 48, labels: [["g", k]] }).durable;
    }
    await lts.create(toBytes("roll")).durable;
    await lts.createRule(toBytes("a"), toBytes("roll"), {
      aggregator: "avg",
      bucketMs: 10_000,
      alignMs: 0,
      backfill: false,
    }).durable;
    await writeLoad(lts, rng, ["a", "b", "c"], 800);
    await lts.del(toBytes("b"), 0, 50_000).durable;
    await lts.persistAll();
    await writeLoad(lts, rng, ["a", "b", "c"], 300);
    await replica.replica.waitForAck(leader.db.lastSeq);
    assertEquals(view(rts, keys), view(lts, keys));
    assertThrows(() => rts.add({ key: toBytes("a"), ts: 1, value: 1 }), TsError, "READONLY");

    // Restarted, the replica rebuilds the same state from its own log and tables.
    await rts.close();
    await replica.replica.close();
    await replica.db.close();
    const db = await openReplicaDatabase(replica.dir);
    rts = TimeSeriesStore.open(db, { maintenanceIntervalMs: 0 });
    assertEquals(view(rts, keys), view(lts, keys));
    const link = startReplica(db, {
      leader: `127.0.0.1:${leader.port}`,
      backoff: { baseMs: 20, maxMs: 200 },
      fetchWaitMs: 200,
      heartbeatMs: 200,
    });
    await writeLoad(lts, rng, ["a", "b", "c"], 200);
    await link.waitForAck(leader.db.lastSeq);
    assertEquals(view(rts, keys), view(lts, keys));
    await link.close();
    await rts.close();
    await db.close();
  } finally {
    await lts.close();
    await leader.close();
    await removeDir(leader.dir);
    await removeDir(replica.dir);
  }
});

Deno.test("A replica bootstrapped from a snapshot holds every head sample the leader had", async () => {
  const rng = new Rng(seedFromEnv());
  const leader = await startTestLeader({ db: SMALL });
  const lts = TimeSeriesStore.open(leader.db, { maintenanceIntervalMs: 0 });
  const keys = ["x", "y"];
  try {
    for (const k of keys) await lts.create(toBytes(k), { chunkSizeBytes: 4096 }).durable;
    await writeLoad(lts, rng, keys, 3000);
    // Push the early WAL out: the checkpoint moves the heads into engine puts, then retention.
    await lts.persistAll();
    for (let i = 0; i < 3; i++) await leader.db.put(`filler${i}`, "x".repeat(40_000));
    await leader.db.flush();
    replicationPort(leader.db).applyRetention();
    const first = leader.db.walSegments().find((s) => s.firstSeq > 0)?.firstSeq ?? 0;
    assert(first > 1, `the leader's WAL still starts at ${first}`);
    await writeLoad(lts, rng, keys, 100); // unsealed, un-checkpointed: the snapshot must carry them
    const replica = await startTestReplica(leader.port);
    const rts = TimeSeriesStore.open(replica.db, { maintenanceIntervalMs: 0 });
    try {
      await replica.replica.waitForAck(leader.db.lastSeq);
      assert(replica.log.lines.some((l) => l.includes("bootstrapped replica")), "snapshot used");
      assertEquals(view(rts, keys), view(lts, keys));
    } finally {
      await rts.close();
      await replica.close();
      await removeDir(replica.dir);
    }
  } finally {
    await lts.close();
    await leader.close();
    await removeDir(leader.dir);
  }
});

Deno.test("A replica holds the first sample of a series its leader's TS.ADD created in the same batch", async () => {
  const leader = await startTestLeader();
  const lts = TimeSeriesStore.open(leader.db, { maintenanceIntervalMs: 0 });
  const replica = await startTestReplica(leader.port);
  const rts = TimeSeriesStore.open(replica.db, { maintenanceIntervalMs: 0 });
  const keys = ["new", "created", "restored"];
  try {
    await lts.add({ key: toBytes("new"), ts: 100, value: 1.5 }, {
      create: { labels: [["a", "b"]] },
    })
      .durable;
    await lts.create(toBytes("created")).durable;
    await lts.add({ key: toBytes("created"), ts: 100, value: 2.5 }).durable;
    // A batch that creates a series and writes its state record (a RESTORE that seals): the
    // replica starts it from the record, which already holds the batch's samples.
    const n = 300;
    const ts = Float64Array.from({ length: n }, (_, i) => 1000 + i);
    const values = Float64Array.from({ length: n }, (_, i) => i / 4);
    await lts.restore(toBytes("restored"), {
      options: { chunkSizeBytes: 128 },
      ts,
      values,
      expireAtMs: 0,
    }).durable;
    await replica.replica.waitForAck(leader.db.lastSeq);
    assertEquals(view(rts, keys), view(lts, keys));
    assertEquals(rts.last(toBytes("new")), { ts: 100, value: 1.5 });
    assertEquals(rts.range(toBytes("restored"), { from: 0, to: MAX }).ts.length, n);
  } finally {
    await rts.close();
    await replica.close();
    await removeDir(replica.dir);
    await lts.close();
    await leader.close();
    await removeDir(leader.dir);
  }
});
