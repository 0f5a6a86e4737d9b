/**
 * The RESP server opens the time-series layer when first needed (ARCHITECTURE.md § "Memory"):
 * not at start on data without series, at start on data with series (before the first
 * client), by the first TS.* command (inside MULTI too) or RESTORE, and with one version
 * counter for every type before and after it opens.
 */
import type { Buffer } from "node:buffer";
import { assert, assertEquals } from "@std/assert";
import { Database } from "../../src/mod.ts";
import { startServer } from "../../src/server/mod.ts";
import type { TimeSeriesStore } from "../../src/timeseries/mod.ts";
import { closeRedis, connectRedis, startTestServer } from "./_helpers.ts";

/** The layer the server has open, if any (not on the public `Server`). */
function openLayer(server: unknown): TimeSeriesStore | undefined {
  return (server as { timeseriesIfOpen: TimeSeriesStore | undefined }).timeseriesIfOpen;
}

Deno.test("a server on data without series opens the time-series layer with its first TS command", async () => {
  const t = await startTestServer();
  const r = await connectRedis(t.port, { protocol: 2 });
  try {
    await r.set("s", "1");
    await r.hset("h", "f", "v");
    await r.call("SAVE");
    await r.call("FLUSHALL");
    assertEquals(openLayer(t.server), undefined, "open before any TS command");
    assertEquals(await r.call("TS.ADD", "a", "1", "2"), 1);
    assert(openLayer(t.server) !== undefined);
    assertEquals(await r.call("TS.GET", "a"), [1, "2"]);
    assertEquals(await r.type("a"), "TSDB-TYPE");
  } finally {
    await closeRedis(r);
    await t.close();
  }
});

Deno.test("a TS command queued by MULTI opens the layer; EXEC runs it", async () => {
  const t = await startTestServer();
  const r = await connectRedis(t.port, { protocol: 2 });
  try {
    // TS writes refuse MULTI (no_multi); a query is queued, and its group loads first.
    const replies = await r.multi().set("x", "1").call("TS.GET", "x").exec();
    assert(openLayer(t.server) !== undefined);
    assertEquals(replies!.length, 2);
    assertEquals(replies![0], [null, "OK"]);
    assert(replies![1]![0] instanceof Error, "TS.GET of a string answers an error");
  } finally {
    await closeRedis(r);
    await t.close();
  }
});

Deno.test("RESTORE of a series payload opens the layer", async () => {
  const t = await startTestServer();
  const r = await connectRedis(t.port, { protocol: 2 });
  let payload: Buffer;
  try {
    await r.call("TS.ADD", "a", "7", "3");
    payload = (await r.dumpBuffer("a"))!;
  } finally {
    await closeRedis(r);
    await t.close();
  }
  const u = await startTestServer();
  const s = await connectRedis(u.port, { protocol: 2 });
  try {
    assertEquals(openLayer(u.server), undefined);
    assertEquals(await s.call("RESTORE", "b", "0", payload), "OK");
    assertEquals(await s.call("TS.GET", "b"), [7, "3"]);
  } finally {
    await closeRedis(s);
    await u.close();
  }
});

Deno.test("data with series: the layer opens at start, and recovered samples are there", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cityhall-lazy-ts-" });
  try {
    let db = await Database.open(dir, { syncMode: "always" });
    let server = await startServer(db, { hostname: "127.0.0.1", port: 0 });
    let r = await connectRedis(server.addr.port, { protocol: 2 });
    // Samples stay in the WAL as log ops (no checkpoint before the close).
    await r.call("TS.ADD", "a", "1", "10");
    await r.call("TS.ADD", "a", "2", "20");
    await closeRedis(r);
    await server.close();
    await db.close();

    db = await Database.open(dir, { syncMode: "always" });
    server = await startServer(db, { hostname: "127.0.0.1", port: 0 });
    assert(openLayer(server) !== undefined, "not open at start on data with series");
    r = await connectRedis(server.addr.port, { protocol: 2 });
    try {
      // RENAME of a series reaches the layer without any TS command first.
      assertEquals(await r.rename("a", "b"), "OK");
      assertEquals(await r.call("TS.RANGE", "b", "-", "+"), [[1, "10"], [2, "20"]]);
    } finally {
      await closeRedis(r);
      await server.close();
      await db.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("one version counter for every type, before and after the layer opens", async () => {
  const t = await startTestServer();
  const r = await connectRedis(t.port, { protocol: 2 });
  try {
    // A hash takes a version before the layer opens, a series after, another hash after that:
    // were the counters two, the series would reuse the first hash's version and DEL of one
    // would leave the other's data reading the wrong members.
    await r.hset("h1", "f", "v");
    await r.call("TS.ADD", "a", "1", "1");
    await r.hset("h2", "g", "w");
    const layer = openLayer(t.server)!;
    assert(layer.versions === (t.server as unknown as { versions: unknown }).versions);
    const versions = new Set<number>();
    for (const key of ["h1", "a", "h2"]) {
      const entry = t.db.getEntry(new TextEncoder().encode(key))!;
      versions.add(entry.value[1]!);
    }
    assertEquals(versions.size, 3, "a version handed out twice");
    assertEquals(await r.hgetall("h1"), { f: "v" });
    assertEquals(await r.hgetall("h2"), { g: "w" });
  } finally {
    await closeRedis(r);
    await t.close();
  }
});
