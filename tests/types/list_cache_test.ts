/**
 * The LRANGE range cache (`src/types/list_cache.ts`): the cache itself (hits, misses, the
 * window bounds, the byte limit, a history change) over a real database, and every write path
 * of a list between two reads of the same range, compared byte for byte with redis-server 7.0:
 * a read answered from a window that a write should have invalidated differs from Redis.
 */

import { assert, assertEquals } from "@std/assert";
import { Database } from "../../src/engine/mod.ts";
import { TYPES_LIST_CACHE_BYTES_MAX, TYPES_LIST_CACHE_WINDOW_BYTES_MAX } from "../../src/limits.ts";
import { encodeBulks } from "../../src/server/resp_writer.ts";
import { ListRangeCache, listRangeCache } from "../../src/types/list_cache.ts";
import { compare, withPair } from "./_pair.ts";
import { startServer } from "../../src/server/mod.ts";
import { closeRedis, connectRedis } from "../server/_helpers.ts";
import {
  eventually,
  removeDir,
  startTestLeader,
  startTestReplica,
} from "../replication/_helpers.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

function encoded(...items: string[]): { bytes: Uint8Array; offsets: Uint32Array } {
  return encodeBulks(items.map((s) => enc.encode(s)));
}

async function withDb(fn: (db: Database) => Promise<void> | void): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "cityhall-list-cache-" });
  const db = await Database.open(dir);
  try {
    await fn(db);
  } finally {
    await db.close();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("encodeBulks writes RESP bulk strings and the offset of each", () => {
  const long = "x".repeat(1000);
  const { bytes, offsets } = encoded("a", "", long, "héllo");
  assertEquals(dec.decode(bytes), `$1\r\na\r\n$0\r\n\r\n$1000\r\n${long}\r\n$6\r\nhéllo\r\n`);
  assertEquals([...offsets], [0, 7, 13, 13 + 1009, 13 + 1009 + 12]);
});

Deno.test("ListRangeCache answers a range inside a window of the same sequence only", async () => {
  await withDb((db) => {
    const cache = new ListRangeCache(db);
    const { bytes, offsets } = encoded("a", "b", "c", "d");
    cache.store(7, 42, 100, bytes, offsets);
    assertEquals(
      dec.decode(cache.lookup(7, 42, 100, 103)!),
      "$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n",
    );
    assertEquals(dec.decode(cache.lookup(7, 42, 101, 102)!), "$1\r\nb\r\n$1\r\nc\r\n");
    assertEquals(dec.decode(cache.lookup(7, 42, 103, 103)!), "$1\r\nd\r\n");
    assertEquals(cache.hits, 3);
    // Another sequence (any write to the list), another version, outside the window: misses.
    assertEquals(cache.lookup(7, 43, 100, 103), undefined);
    assertEquals(cache.lookup(8, 42, 100, 103), undefined);
    assertEquals(cache.lookup(7, 42, 99, 101), undefined);
    assertEquals(cache.lookup(7, 42, 102, 104), undefined);
    // A staged record (a transaction's) has no sequence: never stored, never answered.
    assertEquals(cache.lookup(7, -1, 100, 101), undefined);
    cache.store(9, -1, 0, bytes, offsets);
    assertEquals(cache.lookup(9, -1, 0, 0), undefined);
    assertEquals(cache.size, 1);
    // A new window of the version replaces the old one.
    const next = encoded("z");
    cache.store(7, 50, 99, next.bytes, next.offsets);
    assertEquals(cache.lookup(7, 42, 100, 100), undefined);
    assertEquals(dec.decode(cache.lookup(7, 50, 99, 99)!), "$1\r\nz\r\n");
    assertEquals(cache.size, 1);
    assertEquals(cache.misses, 7);
  });
});

Deno.test("ListRangeCache holds at most its byte limit, dropping windows not read lately", async () => {
  await withDb((db) => {
    const cache = new ListRangeCache(db);
    const item = "v".repeat(1000);
    const window = encodeBulks(Array.from({ length: 50 }, () => enc.encode(item)));
    const per = window.bytes.length + window.offsets.byteLength;
    const fit = Math.floor(TYPES_LIST_CACHE_BYTES_MAX / per);
    for (let v = 1; v <= fit + 20; v++) {
      cache.store(v, v, 0, window.bytes, window.offsets);
      // Version 1 is read after every store: always marked used, never evicted.
      assert(cache.lookup(1, 1, 0, 49) !== undefined, `version 1 after storing ${v}`);
      assert(cache.bytes <= TYPES_LIST_CACHE_BYTES_MAX, `${cache.bytes} bytes`);
    }
    assert(cache.size < fit + 20 && cache.size > fit / 2, `${cache.size} windows`);
    assertEquals(cache.lookup(2, 2, 0, 0), undefined);
    assert(cache.lookup(fit + 20, fit + 20, 0, 0) !== undefined);
    // Too big a window is not kept at all.
    const huge = encodeBulks([new Uint8Array(TYPES_LIST_CACHE_WINDOW_BYTES_MAX)]);
    cache.store(1, 1, 0, huge.bytes, huge.offsets);
    assertEquals(cache.lookup(1, 1, 0, 0), undefined);
    cache.clear();
    assertEquals([cache.size, cache.bytes], [0, 0]);
  });
});

Deno.test("listRangeCache is one cache per database", async () => {
  await withDb(async (db) => {
    assert(listRangeCache(db) === listRangeCache(db));
    await withDb((other) => {
      assert(listRangeCache(db) !== listRangeCache(other));
    });
  });
});

Deno.test("every write to a list between two equal LRANGEs answers as redis-server 7.0 does", async () => {
  await withPair(async (pair) => {
    const cache = listRangeCache(pair.ours.db);
    const hitsBefore = cache.hits;
    // Each write is between reads of the ranges read before it: a window the write failed to
    // invalidate would answer the old items.
    const read = (k: string) => `A: lrange ${k} 0 -1\nA: lrange ${k} 1 3\nA: lrange ${k} -2 -1`;
    await compare(
      pair,
      "writes between reads",
      `
      A: rpush l a b c d e f g
      ${read("l")}
      ${read("l")}
      A: lpush l z
      ${read("l")}
      A: rpush l h
      ${read("l")}
      A: lpop l
      ${read("l")}
      A: lpush l Z
      ${read("l")}
      A: rpop l
      ${read("l")}
      A: rpush l H
      ${read("l")}
      A: lpop l 2
      ${read("l")}
      A: rpop l 2
      ${read("l")}
      A: lpushx l P
      ${read("l")}
      A: rpushx l Q
      ${read("l")}
      A: lset l 2 S
      ${read("l")}
      A: lset l -1 T
      ${read("l")}
      A: lrem l 1 S
      ${read("l")}
      A: rpush l d d
      ${read("l")}
      A: lrem l -1 d
      ${read("l")}
      A: lrem l 0 d
      ${read("l")}
      A: ltrim l 1 -2
      ${read("l")}
      A: ltrim l 0 100
      ${read("l")}
      A: linsert l before c C
      ${read("l")}
      A: linsert l after T U
      ${read("l")}
      A: rpush l2 x y
      ${read("l2")}
      A: lmove l l2 left right
      ${read("l")}
      ${read("l2")}
      A: lmove l2 l right left
      ${read("l")}
      ${read("l2")}
      A: rpoplpush l l2
      ${read("l")}
      ${read("l2")}
      A: lmpop 2 nokey l right count 2
      ${read("l")}
      A: rename l2 l3
      ${read("l2")}
      ${read("l3")}
      A: rpush l3 q
      ${read("l3")}
      A: rename l3 l
      ${read("l")}
      ${read("l3")}
      A: copy l lc
      ${read("lc")}
      A: rpush lc copied
      ${read("lc")}
      ${read("l")}
      A: copy lc l replace
      ${read("l")}
      A: del l
      ${read("l")}
      A: rpush l new1 new2 new3 new4
      ${read("l")}
      A: set l string
      A: lrange l 0 -1
      A: del l
      A: rpush l a b c d
      ${read("l")}
      A: multi
      A: rpush l e
      A: lrange l 0 -1
      A: lset l 0 A
      A: lrange l 0 -1
      A: exec
      ${read("l")}
      A: multi
      A: lrange l 0 -1
      A: lpop l
      A: lrange l 0 -1
      A: discard
      ${read("l")}
      B: blpop l 0
      ${read("l")}
      B: brpop l 0
      ${read("l")}
      A: rpush w 1 2 3
      ${read("w")}
      B: blmove w l left left 0
      ${read("w")}
      ${read("l")}
      A: pexpire l 20
      ~: sleep 60
      ${read("l")}
      A: rpush l after-expiry
      ${read("l")}
      A: flushall
      ${read("l")}
      A: rpush l x
      ${read("l")}
    `,
    );
    assert(cache.hits > hitsBefore, `the reads were answered from the cache (${cache.hits} hits)`);
  });
});

Deno.test("a replica's LRANGE follows every list write the leader ships, after reading the same range", async () => {
  const leader = await startTestLeader();
  const replica = await startTestReplica(leader.port);
  const leaderServer = await startServer(leader.db, { hostname: "127.0.0.1", port: 0 });
  const replicaServer = await startServer(replica.db, { hostname: "127.0.0.1", port: 0 });
  const lc = await connectRedis(leaderServer.addr.port, { protocol: 2 });
  const rc = await connectRedis(replicaServer.addr.port, { protocol: 2 });
  try {
    const cache = listRangeCache(replica.db);
    // Each write with the list it leaves (written out here: the leader runs the same code).
    const writes: [(string | number)[], string[]][] = [
      [["rpush", "l", "a", "b", "c", "d"], ["a", "b", "c", "d"]],
      [["lpush", "l", "z"], ["z", "a", "b", "c", "d"]],
      [["lpop", "l"], ["a", "b", "c", "d"]],
      [["lpush", "l", "y"], ["y", "a", "b", "c", "d"]],
      [["lset", "l", 1, "A"], ["y", "A", "b", "c", "d"]],
      [["lrem", "l", 0, "c"], ["y", "A", "b", "d"]],
      [["linsert", "l", "before", "d", "D"], ["y", "A", "b", "D", "d"]],
      [["ltrim", "l", 0, 2], ["y", "A", "b"]],
      [["rpop", "l"], ["y", "A"]],
      [["rpush", "l", "tail"], ["y", "A", "tail"]],
      [["lset", "l", -1, "TAIL"], ["y", "A", "TAIL"]],
      [["rename", "l", "l2"], []],
      [["rename", "l2", "l"], ["y", "A", "TAIL"]],
      [["del", "l"], []],
      [["rpush", "l", "again"], ["again"]],
    ];
    for (const [w, want] of writes) {
      await lc.call(String(w[0]), ...w.slice(1));
      assertEquals(await lc.lrange("l", 0, -1), want, `leader after ${w.join(" ")}`);
      assertEquals(await lc.wait(1, 10_000), 1);
      // The replica applies the record shortly after acknowledging it: read until it shows.
      await eventually(async () => {
        const got = await rc.lrange("l", 0, -1);
        return JSON.stringify(got) === JSON.stringify(want);
      }, `the replica's list after ${w.join(" ")}`);
      // Read again: now from the cache, still the same.
      assertEquals(await rc.lrange("l", 0, -1), want, w.join(" "));
    }
    assert(cache.hits > 0, `the replica answered from its cache (${cache.hits} hits)`);
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
