/**
 * Smoke tests with the clients users bring: redis-py (4.3.4), ioredis (RESP2 and RESP3) and
 * node-redis 4 against a real server, one pass over each type's common calls.
 */
import { assertEquals } from "@std/assert";
import { createClient } from "redis";
import { closeRedis, connectRedis, startTestServer } from "../server/_helpers.ts";
import { runRedisPy } from "../server/_redis.ts";

const PY = `
import sys, redis
r = redis.Redis(port=int(sys.argv[1]), decode_responses=True)
r.hset("dev:1", mapping={"state": "on", "temp": "21.5"})
assert r.hgetall("dev:1") == {"state": "on", "temp": "21.5"}
assert r.hincrbyfloat("dev:1", "temp", 0.5) == 22.0
r.rpush("jobs", "a", "b")
assert r.brpop("jobs", timeout=1) == ("jobs", "b")
assert r.blpop(["none", "jobs"], timeout=1) == ("jobs", "a")
assert r.blpop("jobs", timeout=0.05) is None
r.sadd("tags", "x", "y")
assert r.smembers("tags") == {"x", "y"}
assert r.sismember("tags", "x")
r.zadd("top", {"a": 3, "b": 1, "c": 2})
assert r.zrange("top", 0, -1, withscores=True) == [("b", 1.0), ("c", 2.0), ("a", 3.0)]
assert r.zrevrangebyscore("top", "+inf", 2) == ["a", "c"]
assert r.zpopmin("top") == [("b", 1.0)]
assert r.bzpopmax("top", timeout=1) == ("top", "a", 3.0)
p = r.pipeline(transaction=True)
p.hset("h", "f", "1").hincrby("h", "f", 2).lpush("l", "x").lrange("l", 0, -1)
assert p.execute() == [1, 3, 1, ["x"]]
assert sorted(k for k, _ in [(x, 0) for x in r.scan_iter(_type="hash")]) == ["dev:1", "h"]
print("ok")
`;

Deno.test("redis-py: hashes, lists with blocking pops, sets, sorted sets, a transaction", async () => {
  const t = await startTestServer();
  try {
    assertEquals((await runRedisPy(PY, [String(t.port)])).trim(), "ok");
  } finally {
    await t.close();
  }
});

for (const protocol of [2, 3]) {
  Deno.test(`ioredis RESP${protocol}: every type`, async () => {
    const t = await startTestServer();
    const r = await connectRedis(t.port, { protocol });
    try {
      await r.hset("h", { a: "1", b: "2" });
      assertEquals(await r.hgetall("h"), { a: "1", b: "2" });
      assertEquals(await r.hkeys("h"), ["a", "b"]);
      assertEquals(await r.lpush("l", "1", "2", "3"), 3);
      assertEquals(await r.lrange("l", 0, -1), ["3", "2", "1"]);
      assertEquals(await r.lmove("l", "m", "RIGHT", "LEFT"), "1");
      assertEquals(await r.sadd("s", "a", "b", "c"), 3);
      assertEquals(await r.sinter("s", "s"), ["a", "b", "c"]);
      assertEquals(await r.zadd("z", 1, "a", 2, "b"), 2);
      assertEquals(await r.zscore("z", "b"), "2");
      assertEquals(await r.zrange("z", "0", "-1", "WITHSCORES"), ["a", "1", "b", "2"]);
      assertEquals(await r.zrangebyscore("z", "(1", "+inf"), ["b"]);
      const other = await connectRedis(t.port, { protocol });
      try {
        const blocked = other.blpop("q", 0);
        await new Promise((res) => setTimeout(res, 50));
        await r.rpush("q", "job");
        assertEquals(await blocked, ["q", "job"]);
      } finally {
        await closeRedis(other);
      }
    } finally {
      await closeRedis(r);
      await t.close();
    }
  });
}

Deno.test("node-redis: every type", async () => {
  const t = await startTestServer();
  const c = createClient({ socket: { host: "127.0.0.1", port: t.port, reconnectStrategy: false } });
  await c.connect();
  try {
    assertEquals(await c.hSet("h", { a: "1", b: "2" }), 2);
    assertEquals(await c.hGetAll("h"), { a: "1", b: "2" });
    assertEquals(await c.hIncrBy("h", "a", 5), 6);
    assertEquals(await c.rPush("l", ["x", "y"]), 2);
    assertEquals(await c.lPop("l"), "x");
    assertEquals(await c.sAdd("s", ["m", "n"]), 2);
    assertEquals(await c.sMembers("s"), ["m", "n"]);
    assertEquals(await c.zAdd("z", [{ score: 2, value: "b" }, { score: 1, value: "a" }]), 2);
    assertEquals(await c.zRangeWithScores("z", 0, -1), [
      { value: "a", score: 1 },
      { value: "b", score: 2 },
    ]);
    assertEquals(await c.zPopMax("z"), { value: "b", score: 2 });
    assertEquals(await c.type("h"), "hash");
  } finally {
    await c.quit();
    await t.close();
  }
});
