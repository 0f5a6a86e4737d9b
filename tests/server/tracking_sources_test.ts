/**
 * Client-side caching hears every write, whatever its source: the HTTP API's key routes, its
 * series routes, Influx line protocol and Prometheus remote write ingest (a RESP server and an
 * HTTP server over one database and one time-series store, as `cityhall serve` runs them), a
 * replica applying its leader's records or installing its snapshot, and the time-series commands
 * with NOLOOP. Raw RESP3
 * sockets and real HTTP requests; absence of a message is shown with a PING (`_tracking.ts`).
 */

import { assertEquals } from "@std/assert";
import { Database } from "../../src/mod.ts";
import { startServer } from "../../src/server/mod.ts";
import { startHttpServer } from "../../src/http/mod.ts";
import { TimeSeriesStore } from "../../src/timeseries/mod.ts";
import { encodeRemoteWrite } from "../../src/ingest/remote_write.ts";
import { silentLogger } from "../../src/util/log.ts";
import { RespConn } from "./_resp_conn.ts";
import { assertNoPush, inval, invalSorted, readSorted, tracker } from "./_tracking.ts";
import {
  removeDir,
  startTestLeader,
  startTestReplica,
  writeSensors,
} from "../replication/_helpers.ts";
import { replicationPort } from "../../src/engine/mod.ts";
import { type Replica, startReplica } from "../../src/replication/mod.ts";

/** A RESP server and an HTTP server over one database and time-series store. */
async function withBoth(
  fn: (
    open: () => Promise<RespConn>,
    http: (path: string, init?: RequestInit) => Promise<void>,
  ) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "cityhall-tracking-http-" });
  const db = await Database.open(dir);
  const timeseries = TimeSeriesStore.open(db);
  const resp = await startServer(db, { hostname: "127.0.0.1", port: 0, timeseries });
  const server = await startHttpServer(db, {
    hostname: "127.0.0.1",
    port: 0,
    logger: silentLogger,
    timeseries,
  });
  const conns: RespConn[] = [];
  const open = async () => {
    const c = await RespConn.connect(resp.addr.port);
    conns.push(c);
    return c;
  };
  const http = async (path: string, init?: RequestInit) => {
    const r = await fetch(server.url + path, init);
    const text = await r.text();
    if (r.status >= 300) throw new Error(`${init?.method ?? "GET"} ${path}: ${r.status} ${text}`);
  };
  try {
    await fn(open, http);
  } finally {
    for (const c of conns) c.close();
    await resp.close();
    await server.shutdown();
    await timeseries.close();
    await db.close();
    await removeDir(dir);
  }
}

const json = (method: string, body: unknown): RequestInit => ({
  method,
  headers: { "content-type": "application/json" },
  body: JSON.stringify(body),
});

Deno.test("tracking: HTTP PUT, DELETE and batch writes invalidate keys a RESP client caches", async () => {
  await withBoth(async (open, http) => {
    const a = await tracker(open);
    const bcast = await tracker(open, "BCAST", "PREFIX", "h:");
    assertEquals(await a.call("GET", "k"), null);
    await http("/v1/keys/k", { method: "PUT", body: "1" });
    assertEquals(await a.read(), inval(["k"]));
    assertEquals(await a.call("GET", "k"), "1");
    await http("/v1/keys/k", { method: "DELETE" });
    assertEquals(await a.read(), inval(["k"]));
    await a.call("MGET", "k", "j");
    await http(
      "/v1/batch",
      json("POST", { ops: [{ op: "put", key: "j", value: "1" }, { op: "delete", key: "k" }] }),
    );
    assertEquals(await readSorted(a, 2), invalSorted("j", "k"));
    // The seed's routes write through the same engine.
    await a.call("GET", "s");
    await http("/keys", json("POST", { key: "s", value: "v" }));
    assertEquals(await a.read(), inval(["s"]));
    await assertNoPush(a);
    // BCAST: keys under the prefix, whoever wrote them.
    await http("/v1/keys/h:1", { method: "PUT", body: "1" });
    assertEquals(await bcast.read(), inval(["h:1"]));
    await assertNoPush(bcast);
  });
});

Deno.test("tracking: HTTP series routes, Influx and remote write invalidate the series key", async () => {
  await withBoth(async (open, http) => {
    const a = await tracker(open);
    const b = await open();
    assertEquals(await b.call("TS.CREATE", "t"), "OK");
    assertEquals(await a.call("TS.GET", "t"), []);
    await http("/v1/series/t/samples", json("POST", { samples: [[1, 1], [2, 2]] }));
    assertEquals(await a.read(), inval(["t"]));
    await a.call("TS.GET", "t");
    await http("/v1/series/t/samples?from=0&to=1", { method: "DELETE" });
    assertEquals(await a.read(), inval(["t"]));
    // Influx line protocol: `room v=1` is series `room_v`.
    await http("/write?db=x&precision=ms", { method: "POST", body: "room v=1 1000\n" });
    await a.call("TS.GET", "room_v");
    await http("/write?db=x&precision=ms", { method: "POST", body: "room v=2 2000\n" });
    assertEquals(await a.read(), inval(["room_v"]));
    // Prometheus remote write: metric `m` without labels is series `m`.
    const remote = (ts: number) => ({
      method: "POST",
      headers: { "Content-Type": "application/x-protobuf", "Content-Encoding": "snappy" },
      body: encodeRemoteWrite([{
        labels: [["__name__", "m"]],
        timestamps: [ts],
        values: Float64Array.of(ts),
      }]) as Uint8Array<ArrayBuffer>,
    });
    await http("/api/v1/write", remote(1000));
    await a.call("TS.GET", "m");
    await http("/api/v1/write", remote(2000));
    assertEquals(await a.read(), inval(["m"]));
    await assertNoPush(a);
  });
});

Deno.test("tracking: time-series writes invalidate, rule destinations too; NOLOOP skips a client's own", async () => {
  await withBoth(async (open) => {
    const w = await tracker(open);
    const n = await tracker(open, "NOLOOP");
    const b = await open();
    await b.call("TS.CREATE", "src");
    await b.call("TS.CREATE", "dst");
    await b.call("TS.CREATE", "c");
    assertEquals(await b.call("TS.CREATERULE", "src", "dst", "AGGREGATION", "sum", "10"), "OK");
    // Each own write of the NOLOOP client: nothing for it, the invalidation for the other.
    const own = async (key: string, ...command: string[]) => {
      await w.call("TS.GET", key);
      await n.call("TS.GET", key);
      const reply = await n.call(...command);
      assertEquals(typeof reply === "number" || reply === "OK" || Array.isArray(reply), true);
      assertEquals(await w.read(), inval([key]));
      await assertNoPush(n);
      await assertNoPush(w);
    };
    await own("src", "TS.ADD", "src", "1", "1");
    await own("src", "TS.MADD", "src", "2", "2", "src", "3", "3");
    await own("c", "TS.INCRBY", "c", "5", "TIMESTAMP", "1");
    await own("c", "TS.DECRBY", "c", "1", "TIMESTAMP", "2");
    await own("src", "TS.DEL", "src", "3", "3");
    // The NOLOOP client's own TS.ADD that closes a bucket writes `dst` too: its own write.
    await n.call("TS.GET", "dst");
    await w.call("TS.GET", "dst");
    await w.call("TS.GET", "src");
    assertEquals(await n.call("TS.ADD", "src", "15", "1"), 15);
    assertEquals(await readSorted(w, 2), invalSorted("dst", "src"));
    await assertNoPush(n);
    // Another client's: both keys for both trackers.
    await n.call("TS.GET", "src");
    await n.call("TS.GET", "dst");
    await w.call("TS.GET", "src");
    await w.call("TS.GET", "dst");
    assertEquals(await b.call("TS.ADD", "src", "25", "1"), 25);
    assertEquals(await readSorted(w, 2), invalSorted("dst", "src"));
    assertEquals(await readSorted(n, 2), invalSorted("dst", "src"));
    await assertNoPush(n);
    await assertNoPush(w);
  });
});

Deno.test("tracking: FLUSHALL sends a BCAST client one null, not each deleted key", async () => {
  await withBoth(async (open) => {
    const a = await tracker(open, "BCAST");
    const b = await open();
    await b.call("MSET", "x", "1", "y", "1");
    assertEquals(await a.read(), inval(["x", "y"]));
    assertEquals(await b.call("FLUSHALL"), "OK");
    assertEquals(await a.read(), inval(null));
    await assertNoPush(a);
    // Writes after the flush are heard again.
    await b.call("SET", "x", "2");
    assertEquals(await a.read(), inval(["x"]));
  });
});

Deno.test({
  name: "tracking: a replica's clients are invalidated by the leader's writes it applies",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const leader = await startTestLeader();
    const replica = await startTestReplica(leader.port);
    const leaderServer = await startServer(leader.db, { hostname: "127.0.0.1", port: 0 });
    const replicaServer = await startServer(replica.db, { hostname: "127.0.0.1", port: 0 });
    const conns: RespConn[] = [];
    const open = async (port: number) => {
      const c = await RespConn.connect(port);
      conns.push(c);
      return c;
    };
    try {
      const l = await open(leaderServer.addr.port);
      const a = await tracker(() => open(replicaServer.addr.port));
      await l.call("SET", "k", "1");
      await l.call("HSET", "h", "f", "1");
      await l.call("TS.CREATE", "t");
      await l.call("TS.ADD", "t", "1", "1");
      // Applied on the replica once it acknowledged.
      assertEquals(await l.call("WAIT", "1", "60000"), 1);
      assertEquals(await a.call("GET", "k"), "1");
      assertEquals(await a.call("HGET", "h", "f"), "1");
      assertEquals(await a.call("TS.GET", "t"), [1, "1"]);
      await l.call("SET", "k", "2");
      assertEquals(await a.read(), inval(["k"]));
      await l.call("HSET", "h", "f", "2");
      assertEquals(await a.read(), inval(["h"]));
      // A sample is a log op: the replica's time-series layer names its series.
      await l.call("TS.ADD", "t", "2", "2");
      assertEquals(await a.read(), inval(["t"]));
      await l.call("DEL", "h");
      await assertNoPush(a);
      assertEquals(await l.call("WAIT", "1", "60000"), 1);
      await assertNoPush(a);
    } finally {
      for (const c of conns) c.close();
      await leaderServer.close();
      await replicaServer.close();
      await replica.close();
      await leader.close();
      await removeDir(leader.dir);
      await removeDir(replica.dir);
    }
  },
});

Deno.test({
  name: "tracking: a replica that installs its leader's snapshot while serving sends a null",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const small = { walSegmentSizeBytes: 64 * 1024, memtableSizeBytesMax: 32 * 1024 };
    const leader = await startTestLeader({ db: small, retentionMaxBytes: 64 * 1024 });
    const replica = await startTestReplica(leader.port);
    const replicaServer = await startServer(replica.db, { hostname: "127.0.0.1", port: 0 });
    const conns: RespConn[] = [];
    let link: Replica | undefined;
    try {
      await leader.db.write([{ type: "put", key: "k", value: "1" }]);
      await replica.replica.waitForAck(leader.db.lastSeq);
      const a = await tracker(async () => {
        const c = await RespConn.connect(replicaServer.addr.port);
        conns.push(c);
        return c;
      });
      assertEquals(await a.call("GET", "k"), "1");
      // The link stops (the server keeps serving); the leader's WAL moves past the replica.
      await replica.replica.close();
      await leader.db.write([{ type: "put", key: "k", value: "2" }]);
      await writeSensors(leader.db, 6000);
      await leader.db.flush();
      replicationPort(leader.db).applyRetention();
      link = startReplica(replica.db, {
        leader: `127.0.0.1:${leader.port}`,
        logger: silentLogger,
        backoff: { baseMs: 20, maxMs: 200 },
        fetchWaitMs: 200,
        heartbeatMs: 200,
      });
      await link.waitForAck(leader.db.lastSeq);
      assertEquals(await a.read(), inval(null));
      assertEquals(await a.call("GET", "k"), "2");
    } finally {
      for (const c of conns) c.close();
      await link?.close();
      await replicaServer.close();
      await replica.db.close();
      await leader.close();
      await removeDir(leader.dir);
      await removeDir(replica.dir);
    }
  },
});
