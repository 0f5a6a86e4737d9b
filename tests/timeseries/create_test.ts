/**
 * Creating a series by TS.ADD takes shortcuts (ARCHITECTURE.md § "Time-series write path"):
 * the RESP handler's first lookup that found the key holding nothing is not repeated, and after
 * the write the new series' metadata entry is not read back (`Batch.settleCreated` sets the
 * sequence `SeriesSet.reload` would have read). What such a series must still be: found again
 * without a reload, queryable by label, the same after a reopen and on a replica, and movable
 * and deletable like any key.
 *
 * @module
 */

import { assert, assertEquals, assertStrictEquals } from "@std/assert";
import { Database } from "../../src/mod.ts";
import { startServer } from "../../src/server/mod.ts";
import { TimeSeriesStore } from "../../src/timeseries/mod.ts";
import type { Series } from "../../src/timeseries/series_set.ts";
import { toBytes } from "../../src/util/bytes.ts";
import { removeDir, startTestLeader, startTestReplica } from "../replication/_helpers.ts";
import { PlainClient } from "./_resp.ts";

/** Runs `fn` with a client of a server over a fresh database and its time-series store. */
async function withStore(
  fn: (c: PlainClient, db: Database, store: TimeSeriesStore) => Promise<void>,
  seriesMax?: number,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "cityhall-create-" });
  const db = await Database.open(dir, { syncMode: "always" });
  const timeseries = TimeSeriesStore.open(db, {
    maintenanceIntervalMs: 0,
    ...(seriesMax === undefined ? {} : { seriesMax }),
  });
  const server = await startServer(db, { hostname: "127.0.0.1", port: 0, timeseries });
  const c = await PlainClient.connect(server.addr.port);
  try {
    await fn(c, db, timeseries);
  } finally {
    c.close();
    await server.close();
    await timeseries.close();
    await db.close();
    await removeDir(dir);
  }
}

/** The engine's entry at `key` was read into `series` (what `isLive`'s fast check asks). */
function assertSettled(db: Database, store: TimeSeriesStore, key: string): Series {
  const series = store.find(toBytes(key))!;
  assert(series !== undefined, `${key} is a series`);
  assertEquals(series.metaSeq, db.getEntry(toBytes(key))!.seq, `${key}'s metadata sequence`);
  assertEquals(store.context.set.byVersion(series.version), series);
  return series;
}

Deno.test("A series TS.ADD creates holds its metadata entry's sequence, is found without a reload and by its labels", async () => {
  await withStore(async (c, db, store) => {
    assertEquals(await c.send("TS.ADD", "plain", "1000", "1.5"), 1000);
    assertEquals(
      await c.send("TS.ADD", "lab", "1000", "2.5", "ON_DUPLICATE", "LAST", "LABELS", "room", "a"),
      1000,
    );
    const now = await c.send("TS.ADD", "lab2", "*", "3", "LABELS", "room", "b", "kind", "t");
    assert(typeof now === "number" && now > 0, `TS.ADD * answered ${now}`);
    const plain = assertSettled(db, store, "plain");
    const lab = assertSettled(db, store, "lab");
    assertSettled(db, store, "lab2");
    // Found again as the same object, and the next sample takes the one-sample path.
    assertStrictEquals(store.find(toBytes("plain")), plain);
    assertEquals(await c.send("TS.ADD", "plain", "2000", "2"), 2000);
    assertEquals(await c.send("TS.ADD", "lab", "1000", "9", "ON_DUPLICATE", "LAST"), 1000);
    assertStrictEquals(store.find(toBytes("lab")), lab);
    assertEquals(await c.send("TS.RANGE", "lab", "-", "+"), [[1000, "+9"]]);
    assertEquals(await c.send("TS.QUERYINDEX", "room=a"), ["lab"]);
    assertEquals(await c.send("TS.QUERYINDEX", "room=(a,b)"), ["lab", "lab2"]);
    assertEquals(await c.send("TS.QUERYINDEX", "room=(a,b)", "kind="), ["lab"]);
    assertEquals(await c.send("TS.MGET", "FILTER", "room=b", "kind=t"), [["lab2", [], [
      now,
      "+3",
    ]]]);
    // Series created without labels share one empty label map; one with labels has its own.
    assertEquals([...plain.labelMap], []);
    assertEquals([...lab.labelMap], [["room", "a"]]);
    // A key the RESP argument buffer no longer backs: the series holds its own copy.
    assertEquals(new TextDecoder().decode(plain.key), "plain");
  });
});

Deno.test("TS.ADD that creates still answers WRONGTYPE, a bad option and the series limit, writing nothing", async () => {
  await withStore(async (c, db) => {
    assertEquals(await c.send("SET", "str", "x"), "+OK");
    assertEquals(
      await c.send("TS.ADD", "str", "*", "1"),
      "-ERR TSDB: the key is not a TSDB key",
    );
    assertEquals(
      await c.send("TS.ADD", "new", "1", "1", "RETENTION", "x"),
      "-ERR TSDB: Couldn't parse RETENTION",
    );
    assertEquals(await c.send("EXISTS", "new"), 0);
    assertEquals(await c.send("TS.ADD", "a", "1", "1"), 1);
    assertEquals(await c.send("TS.ADD", "b", "1", "1"), 1);
    assertEquals(
      await c.send("TS.ADD", "c", "1", "1"),
      "-ERR TSDB: too many series: limit 2 reached",
    );
    assertEquals(await c.send("EXISTS", "c"), 0);
    const seq = db.lastSeq;
    assertEquals(
      await c.send("TS.ADD", "c", "1", "1"),
      "-ERR TSDB: too many series: limit 2 reached",
    );
    assertEquals(db.lastSeq, seq, "a refused creation writes nothing");
  }, 2);
});

Deno.test("Series TS.ADD created move, expire and go like keys, and come back the same after a reopen", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cityhall-create-" });
  let db = await Database.open(dir, { syncMode: "always" });
  let server = await startServer(db, { hostname: "127.0.0.1", port: 0 });
  let c = await PlainClient.connect(server.addr.port);
  try {
    for (let i = 0; i < 50; i++) {
      assertEquals(await c.send("TS.ADD", `s:${i}`, 1000 + i, i, "LABELS", "odd", i % 2), 1000 + i);
    }
    assertEquals(await c.send("RENAME", "s:0", "moved"), "+OK");
    assertEquals(await c.send("TS.ADD", "moved", "5000", "5"), 5000);
    assertEquals(await c.send("DEL", "s:1"), 1);
    assertEquals(await c.send("TS.ADD", "s:1", "7", "7"), 7); // a new series at the old key
    assertEquals(await c.send("PEXPIRE", "s:2", "1"), 1);
    await new Promise((r) => setTimeout(r, 5));
    assertEquals(await c.send("EXISTS", "s:2"), 0);
    assertEquals(await c.send("TS.ADD", "s:2", "8", "8"), 8);
    const before = {
      odd: await c.send("TS.QUERYINDEX", "odd=1"),
      even: await c.send("TS.QUERYINDEX", "odd=0"),
      moved: await c.send("TS.RANGE", "moved", "-", "+"),
      s1: await c.send("TS.RANGE", "s:1", "-", "+"),
      s2: await c.send("TS.INFO", "s:2"),
    };
    assertEquals((before.odd as string[]).length, 24); // s:1 lost its labels
    assertEquals(before.moved, [[1000, "+0"], [5000, "+5"]]);
    assertEquals(before.s1, [[7, "+7"]]);
    c.close();
    await server.close();
    await db.close();

    db = await Database.open(dir, { syncMode: "always" });
    server = await startServer(db, { hostname: "127.0.0.1", port: 0 });
    c = await PlainClient.connect(server.addr.port);
    const after = {
      odd: await c.send("TS.QUERYINDEX", "odd=1"),
      even: await c.send("TS.QUERYINDEX", "odd=0"),
      moved: await c.send("TS.RANGE", "moved", "-", "+"),
      s1: await c.send("TS.RANGE", "s:1", "-", "+"),
      s2: await c.send("TS.INFO", "s:2"),
    };
    assertEquals(after, before);
    assertEquals(await c.send("TS.ADD", "s:3", "2000", "1"), 2000);
    assertEquals(await c.send("TS.RANGE", "s:3", "-", "+"), [[1003, "+3"], [2000, "+1"]]);
  } finally {
    c.close();
    await server.close();
    await db.close();
    await removeDir(dir);
  }
});

Deno.test("A replica ends with the series its leader's TS.ADD, TS.CREATE and TS.INCRBY created", async () => {
  const leader = await startTestLeader();
  const lts = TimeSeriesStore.open(leader.db, { maintenanceIntervalMs: 0 });
  const replica = await startTestReplica(leader.port);
  const rts = TimeSeriesStore.open(replica.db, { maintenanceIntervalMs: 0 });
  try {
    for (let i = 0; i < 30; i++) {
      const key = toBytes(`r:${i}`);
      const labels: [string, string][] = [["group", String(i % 3)]];
      if (i % 3 === 0) {
        await lts.add({ key, ts: 100 + i, value: i }, { create: { labels } }).durable;
      } else if (i % 3 === 1) {
        await lts.create(key, { labels }).durable;
        await lts.add({ key, ts: 100 + i, value: i }).durable;
      } else await lts.incrBy(key, i, { ts: 100 + i, create: { labels } }).durable;
      assertSettled(leader.db, lts, `r:${i}`);
    }
    await replica.replica.waitForAck(leader.db.lastSeq);
    const view = (store: TimeSeriesStore) =>
      store.select([{ op: "eq", label: "group", values: ["0", "1", "2"] }]).map((s) => ({
        key: new TextDecoder().decode(s.key),
        labels: [...s.labelMap],
        last: store.lastOf(s),
      }));
    assertEquals(view(lts).length, 30);
    assertEquals(view(rts), view(lts));
    for (const g of ["0", "1", "2"]) {
      const filter = [{ op: "eq" as const, label: "group", values: [g] }];
      assertEquals(
        rts.select(filter).map((s) => s.keyString),
        lts.select(filter).map((s) => s.keyString),
      );
    }
  } finally {
    await rts.close();
    await replica.close();
    await removeDir(replica.dir);
    await lts.close();
    await leader.close();
    await removeDir(leader.dir);
  }
});
