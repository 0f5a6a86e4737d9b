/**
 * Every type beside every other: WRONGTYPE between each pair (strings, time series, hashes,
 * sets, sorted sets, lists), TYPE, SCAN TYPE, DEL/UNLINK, EXPIRE/TTL/PERSIST, RENAME and COPY
 * across types, HTTP `GET /v1/keys/{key}` as JSON, and a replica answering the same as its
 * leader.
 */
import { assertEquals, assertMatch } from "@std/assert";
import { closeRedis, connectRedis, type Redis, startTestServer } from "../server/_helpers.ts";
import { startServer } from "../../src/server/mod.ts";
import {
  eventually,
  removeDir,
  startTestLeader,
  startTestReplica,
} from "../replication/_helpers.ts";
import { startHttpServer } from "../../src/http/mod.ts";
import { silentLogger } from "../../src/util/log.ts";

async function makeAll(r: Redis): Promise<void> {
  await r.set("string", "v");
  await r.call("ts.create", "series");
  await r.hset("hash", "f", "v");
  await r.sadd("set", "m");
  await r.zadd("zset", 1, "m");
  await r.rpush("list", "i");
}

/** One command per type that reads or writes a key of that type. */
const PROBES: Record<string, (key: string) => (string | number)[]> = {
  string: (k) => ["append", k, "x"],
  series: (k) => ["ts.add", k, "1", "1"],
  hash: (k) => ["hset", k, "f", "v"],
  set: (k) => ["sadd", k, "m"],
  zset: (k) => ["zadd", k, "1", "m"],
  list: (k) => ["rpush", k, "i"],
};
const READS: Record<string, (key: string) => (string | number)[]> = {
  string: (k) => ["getrange", k, "0", "1"],
  series: (k) => ["ts.get", k],
  hash: (k) => ["hgetall", k],
  set: (k) => ["smembers", k],
  zset: (k) => ["zrange", k, "0", "-1"],
  list: (k) => ["lrange", k, "0", "-1"],
};

async function errorOf(r: Redis, args: (string | number)[]): Promise<string> {
  try {
    await r.call(String(args[0]), ...args.slice(1));
    return "";
  } catch (err) {
    return (err as Error).message;
  }
}

Deno.test("WRONGTYPE between every pair of types, both ways, and nothing changes", async () => {
  const t = await startTestServer();
  const r = await connectRedis(t.port, { protocol: 2 });
  try {
    await makeAll(r);
    for (const probeType of Object.keys(PROBES)) {
      for (const keyType of Object.keys(PROBES)) {
        if (probeType === keyType) continue;
        for (const cmd of [PROBES[probeType]!(keyType), READS[probeType]!(keyType)]) {
          const err = await errorOf(r, cmd);
          // The time-series module words TS.ADD's refusal its own way.
          assertMatch(err, /WRONGTYPE|not a TSDB key/, `${cmd.join(" ")} on a ${keyType}`);
        }
      }
    }
    assertEquals(await r.type("string"), "string");
    assertEquals(await r.type("series"), "TSDB-TYPE");
    assertEquals(await r.type("hash"), "hash");
    assertEquals(await r.type("set"), "set");
    assertEquals(await r.type("zset"), "zset");
    assertEquals(await r.type("list"), "list");
    assertEquals(await r.hgetall("hash"), { f: "v" });
    assertEquals(await r.lrange("list", 0, -1), ["i"]);
  } finally {
    await closeRedis(r);
    await t.close();
  }
});

Deno.test("TYPE, SCAN TYPE, EXPIRE, DEL/UNLINK, RENAME and COPY across all types", async () => {
  const t = await startTestServer();
  const r = await connectRedis(t.port, { protocol: 2 });
  try {
    await makeAll(r);
    for (
      const [type, key] of [["hash", "hash"], ["set", "set"], ["zset", "zset"], ["list", "list"]]
    ) {
      assertEquals(await r.call("scan", "0", "type", type!, "count", "100"), ["0", [key]]);
    }
    for (const key of ["hash", "set", "zset", "list"]) {
      assertEquals(await r.expire(key, 100), 1);
      assertEquals((await r.ttl(key)) > 90, true);
      assertEquals(await r.persist(key), 1);
      assertEquals(await r.ttl(key), -1);
    }
    // RENAME a type over every other type; COPY with and without REPLACE.
    const kinds = ["string", "series", "hash", "set", "zset", "list"];
    for (const src of ["hash", "set", "zset", "list"]) {
      for (const dst of kinds) {
        if (src === dst) continue;
        await r.call("flushall");
        await makeAll(r);
        assertEquals(await r.call("copy", src, dst), 0);
        assertEquals(await r.call("copy", src, dst, "replace"), 1);
        assertEquals(await r.type(dst), src);
        assertEquals(
          await r.call(...(READS[src]!(dst) as [string])),
          await r.call(...(READS[src]!(src) as [string])),
        );
        assertEquals(await r.rename(src, "moved"), "OK");
        assertEquals(await r.type("moved"), src);
        assertEquals(await r.exists(src), 0);
        assertEquals(await r.rename(dst, "moved"), "OK");
        assertEquals(await r.type("moved"), src);
      }
    }
    await r.call("flushall");
    await makeAll(r);
    assertEquals(await r.del("hash", "set"), 2);
    assertEquals(await r.unlink("zset", "list", "nokey"), 2);
    assertEquals(await r.exists("hash", "set", "zset", "list"), 0);
  } finally {
    await closeRedis(r);
    await t.close();
  }
});

Deno.test("HTTP GET /v1/keys/{key} returns hashes, sets, sorted sets and lists as JSON", async () => {
  const t = await startTestServer();
  const http = await startHttpServer(t.db, {
    hostname: "127.0.0.1",
    port: 0,
    logger: silentLogger,
  });
  const r = await connectRedis(t.port, { protocol: 2 });
  try {
    await r.hset("h", "a", "1", "b", "2");
    await r.sadd("s", "y", "x");
    await r.zadd("z", 2, "b", 1.5, "a", "inf", "c");
    await r.rpush("l", "one", "two");
    await r.pexpire("l", 100_000);
    const get = async (key: string, q = "") => {
      const res = await fetch(`http://127.0.0.1:${http.addr.port}/v1/keys/${key}${q}`);
      assertEquals(res.headers.get("content-type")?.startsWith("application/json"), true);
      return await res.json();
    };
    assertEquals(await get("h"), {
      type: "hash",
      size: 2,
      value: { a: "1", b: "2" },
      truncated: false,
    });
    assertEquals(await get("s"), { type: "set", size: 2, value: ["x", "y"], truncated: false });
    assertEquals((await get("z")).value, [
      { member: "a", score: 1.5 },
      { member: "b", score: 2 },
      { member: "c", score: "inf" },
    ]);
    const l = await get("l", "?encoding=base64");
    assertEquals(l.value, [btoa("one"), btoa("two")]);
    assertEquals(typeof l.expire_at_ms, "number");
  } finally {
    await closeRedis(r);
    await http.shutdown();
    await t.close();
  }
});

Deno.test("a replica answers the same as its leader for every type", async () => {
  const leader = await startTestLeader();
  const replica = await startTestReplica(leader.port);
  const leaderServer = await startServer(leader.db, { hostname: "127.0.0.1", port: 0 });
  const replicaServer = await startServer(replica.db, { hostname: "127.0.0.1", port: 0 });
  const lc = await connectRedis(leaderServer.addr.port, { protocol: 2 });
  const rc = await connectRedis(replicaServer.addr.port, { protocol: 2 });
  try {
    await lc.hset("h", "a", "1", "b", "2");
    await lc.sadd("s", "1", "2", "3");
    await lc.zadd("z", 1, "a", 2, "b");
    await lc.rpush("l", "x", "y", "z");
    await lc.lpop("l");
    await lc.zincrby("z", 5, "a");
    await lc.rename("h", "h2");
    assertEquals(await lc.wait(1, 10_000), 1);
    const reads: (string | number)[][] = [
      ["hgetall", "h2"],
      ["smembers", "s"],
      ["zrange", "z", 0, -1, "withscores"],
      ["lrange", "l", 0, -1],
      ["type", "h2"],
      ["exists", "h"],
    ];
    await eventually(async () => (await rc.exists("h2")) === 1, "the replica has h2");
    for (const cmd of reads) {
      assertEquals(
        await rc.call(String(cmd[0]), ...cmd.slice(1)),
        await lc.call(String(cmd[0]), ...cmd.slice(1)),
        cmd.join(" "),
      );
    }
  } finally {
    await closeRedis(lc);
    await closeRedis(rc);
    await leaderServer.close();
    await replicaServer.close();
    await replica.close();
    await leader.close();
    await removeDir(leader.dir);
    await removeDir(replica.dir);
  }
});
