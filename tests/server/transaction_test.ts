/**
 * MULTI/EXEC/DISCARD/WATCH/UNWATCH (issue 7.1): Redis 7 replies compared with a real
 * redis-server, the clients' own transaction APIs (ioredis, node-redis, redis-py), WATCH
 * touched by every kind of change, no interleaving, and one atomic batch per transaction.
 */
import { assert, assertEquals, assertRejects } from "@std/assert";
import { createClient } from "redis";
import {
  closeRedis,
  connectRedis,
  RawClient,
  sleep,
  startTestServer,
  type TestServer,
} from "./_helpers.ts";
import { exchangeLines, runRedisPy, startRedisServer } from "./_redis.ts";

/** Scenarios sent to both servers; each starts from an empty database. */
const SCENARIOS: string[][] = [
  ["MULTI", "SET a 1", "INCR a", "GET a", "EXEC", "GET a"],
  ["SET a x", "MULTI", "SET b 1", "INCR a", "GET b", "EXEC"],
  ["MULTI", "NOSUCH x", "SET a 1", "EXEC", "GET a"],
  ["MULTI", "GET", "SET a 1", "EXEC", "EXISTS a"],
  ["MULTI", "MULTI", "SET a 1", "EXEC"],
  ["EXEC", "DISCARD"],
  ["MULTI", "WATCH a", "PING", "EXEC"],
  ["WATCH a", "SET a 2", "MULTI", "GET a", "EXEC"],
  ["SET a 1", "WATCH a", "MULTI", "INCR a", "EXEC"],
  ["MULTI", "SET a 1", "DISCARD", "GET a", "EXEC"],
  ["MULTI", "SHUTDOWN", "EXEC"],
  ["EXEC x", "MULTI x", "DISCARD x", "WATCH", "UNWATCH x"],
  ["MULTI", "CLIENT NOSUCH", "EXEC"],
  ["MULTI", "CLIENT SETNAME", "EXEC"],
  ["MULTI", "CONFIG", "EXEC"],
  ["WATCH a", "UNWATCH", "SET a 3", "MULTI", "GET a", "EXEC"],
  ["MULTI", "EXEC"],
  ["MULTI", "SET a 1", "EXEC x", "GET a"],
  ["SET k v", "WATCH k", "DEL k", "MULTI", "PING", "EXEC"],
  ["WATCH nokey", "SET nokey 1", "DEL nokey", "MULTI", "PING", "EXEC"],
  ["WATCH a", "FLUSHALL", "MULTI", "PING", "EXEC"],
  ["SET a 1", "WATCH a", "FLUSHALL", "MULTI", "PING", "EXEC"],
  ["MULTI", "PING", "ECHO hi", "DEL a b", "EXISTS a", "MSET a 1 b 2", "MGET a b", "EXEC"],
  ["MULTI", "SET a 1", "EXPIRE a 100", "TTL a", "PERSIST a", "TTL a", "EXEC"],
  ["SET a 1", "MULTI", "RENAME a b", "GET b", "EXISTS a", "EXEC"],
  // KEYS is left out: Redis answers in hash order, CityHall in byte order.
  ["MULTI", "SET a 1", "SET b 2", "EXISTS a b", "DBSIZE", "FLUSHDB", "DBSIZE", "EXEC", "DBSIZE"],
  ["WATCH a b", "MULTI", "SET a 1", "EXEC", "WATCH a", "SET a 2", "UNWATCH", "MULTI", "EXEC"],
  ["MULTI", "INFO", "EXEC"].slice(0, 0), // INFO text differs by server: not compared
  ["MULTI", "SET a 1", "QUIT"],
  ["MULTI", "GETDEL nokey", "INCRBY a 5", "DECR a", "APPEND a x", "STRLEN a", "EXEC"],
  ["MULTI", "SET a 1", "WATCH b", "EXEC", "GET a"],
];

Deno.test("MULTI/EXEC/DISCARD/WATCH answer exactly like redis-server 7 for every scenario", async () => {
  const redis = await startRedisServer();
  const t = await startTestServer();
  try {
    for (const scenario of SCENARIOS) {
      if (scenario.length === 0) continue;
      const want = await exchangeLines(redis.port, ["FLUSHALL", ...scenario]);
      const got = await exchangeLines(t.port, ["FLUSHALL", ...scenario]);
      assertEquals(got, want, `scenario ${JSON.stringify(scenario)}`);
    }
  } finally {
    await t.close();
    await redis.stop();
  }
});

Deno.test("MULTI queues, EXEC runs in order with per-command errors, the rest still runs", async () => {
  const t = await startTestServer();
  const c = await RawClient.connect(t.port);
  try {
    await c.send("SET s text\r\nMULTI\r\nSET a 1\r\nINCR s\r\nINCR a\r\nEXEC\r\n");
    const reply = await c.readUntil((s) => s.includes("*3\r\n") && s.endsWith(":2\r\n"));
    assertEquals(
      reply,
      "+OK\r\n+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n*3\r\n+OK\r\n" +
        "-ERR value is not an integer or out of range\r\n:2\r\n",
    );
    assertEquals(new TextDecoder().decode(t.db.getEntry("a")!.value), "2");
  } finally {
    c.close();
    await t.close();
  }
});

Deno.test("EXECABORT after a refused command: nothing of the transaction is written", async () => {
  const t = await startTestServer();
  const c = await RawClient.connect(t.port);
  try {
    await c.send("MULTI\r\nSET a 1\r\nSET\r\nSET b 2\r\nEXEC\r\nEXISTS a b\r\n");
    const reply = await c.readUntil((s) => s.endsWith(":0\r\n"));
    assertEquals(
      reply,
      "+OK\r\n+QUEUED\r\n-ERR wrong number of arguments for 'set' command\r\n+QUEUED\r\n" +
        "-EXECABORT Transaction discarded because of previous errors.\r\n:0\r\n",
    );
  } finally {
    c.close();
    await t.close();
  }
});

/** Runs MULTI GET k EXEC on `c` after `change` and returns whether EXEC ran (not null). */
async function watchedExecRan(
  t: TestServer,
  change: (t: TestServer) => Promise<void>,
  setup = "SET k v\r\n",
): Promise<boolean> {
  const c = await RawClient.connect(t.port);
  try {
    await c.send(`FLUSHALL\r\n${setup}WATCH k\r\n`);
    await c.readUntil((s) => s.split("\r\n").length - 1 >= 2 + setup.split("\r\n").length - 1);
    await change(t);
    await c.send("MULTI\r\nPING\r\nEXEC\r\n");
    const reply = await c.readUntil((s) => s.includes("*-1\r\n") || s.includes("+PONG\r\n"));
    return reply.includes("+PONG");
  } finally {
    c.close();
  }
}

Deno.test("WATCH: EXEC answers null after a write, delete, expiry or flush by anyone", async () => {
  const t = await startTestServer();
  const other = await connectRedis(t.port, { protocol: 2 });
  try {
    assertEquals(await watchedExecRan(t, async () => {}), true, "untouched");
    assertEquals(await watchedExecRan(t, async () => void await other.set("k", "v2")), false);
    assertEquals(await watchedExecRan(t, async () => void await other.del("k")), false);
    assertEquals(await watchedExecRan(t, async () => void await other.expire("k", 100)), false);
    assertEquals(await watchedExecRan(t, async () => void await other.flushall()), false);
    // A write that does not go through the RESP server (the HTTP API, a replica) counts too.
    assertEquals(await watchedExecRan(t, async (t) => await t.db.put("k", "direct")), false);
    // A key that did not exist, set and deleted again in between, was touched.
    assertEquals(
      await watchedExecRan(t, async () => {
        await other.set("k", "1");
        await other.del("k");
      }, ""),
      false,
    );
    // Expiring on its own after WATCH also aborts, as in Redis since 6.0.9.
    assertEquals(
      await watchedExecRan(t, async () => await sleep(150), "SET k v PX 50\r\n"),
      false,
    );
    // A write to another key does not.
    assertEquals(await watchedExecRan(t, async () => void await other.set("x", "1")), true);
    assert(t.server.metrics.transactionsAborted >= 7);
  } finally {
    await closeRedis(other);
    await t.close();
  }
});

Deno.test("EXEC is not interleaved with other clients, even across an asynchronous command", async () => {
  const token = "interleave-token";
  const t = await startTestServer({ authToken: token });
  const tx = await connectRedis(t.port, { protocol: 2, password: token });
  const noisy = await connectRedis(t.port, { protocol: 2, password: token });
  let stop = false;
  const noise = (async () => {
    while (!stop) {
      const p = noisy.pipeline();
      for (let i = 0; i < 20; i++) p.incr("noise");
      await p.exec();
    }
  })();
  try {
    for (let round = 0; round < 20; round++) {
      const m = tx.multi().set("counter", "0");
      for (let i = 0; i < 200; i++) m.incr("counter");
      // AUTH (a SHA-256 off the main thread), KEYS and DBSIZE are asynchronous: the gate must
      // still keep the noisy client's INCRs out from between the two GETs of a key the
      // transaction does not write.
      m.get("counter").get("noise");
      for (let i = 0; i < 5; i++) m.auth(token).keys("*").dbsize();
      m.get("noise").get("counter");
      const results = await m.exec();
      const values = results!.map(([err, v]) => {
        assertEquals(err, null);
        return v;
      });
      assertEquals(values[201], "200");
      assertEquals(values.at(-1), "200");
      assertEquals(values.at(-2), values[202], `round ${round}`);
    }
  } finally {
    stop = true;
    await noise.catch(() => {});
    await closeRedis(tx);
    await closeRedis(noisy);
    await t.close();
  }
});

Deno.test("ioredis multi() and pipeline transactions: results, errors and WATCH", async () => {
  const t = await startTestServer();
  const r = await connectRedis(t.port);
  const other = await connectRedis(t.port, { protocol: 2 });
  try {
    assertEquals(await r.multi().set("a", "1").incr("a").get("a").exec(), [
      [null, "OK"],
      [null, 2],
      [null, "2"],
    ]);
    const mixed = await r.multi().set("s", "text").incr("s").set("b", "1").exec();
    assertEquals(mixed![0], [null, "OK"]);
    assert(mixed![1]![0] instanceof Error);
    assertEquals(mixed![2], [null, "OK"]);
    await r.watch("a");
    await other.set("a", "changed");
    assertEquals(await r.multi().incr("a").exec(), null);
    assertEquals(await r.get("a"), "changed");
    // A refused command makes ioredis reject the whole EXEC (EXECABORT), nothing written.
    await assertRejects(
      () => r.multi().set("z", "1").call("nosuchcommand").exec(),
      Error,
      "EXECABORT",
    );
    assertEquals(await r.exists("z"), 0);
  } finally {
    await closeRedis(r);
    await closeRedis(other);
    await t.close();
  }
});

Deno.test("node-redis multi().exec(), WATCH and a retry that does not double-apply", async () => {
  const t = await startTestServer();
  const client = createClient({
    socket: { host: "127.0.0.1", port: t.port, reconnectStrategy: false },
  });
  const other = createClient({
    socket: { host: "127.0.0.1", port: t.port, reconnectStrategy: false },
  });
  await client.connect();
  await other.connect();
  try {
    assertEquals(await client.multi().set("n", "1").incr("n").get("n").exec(), ["OK", 2, "2"]);
    await client.watch("n");
    await other.set("n", "9");
    await assertRejects(() => client.multi().incr("n").exec(), Error, "watched keys");
    assertEquals(await client.get("n"), "9");
    // The retry: one successful EXEC means one INCR.
    assertEquals(await client.multi().incr("n").exec(), [10]);
    assertEquals(await client.get("n"), "10");
  } finally {
    await client.quit();
    await other.quit();
    await t.close();
  }
});

const REDIS_PY_SCRIPT = `
import json, sys, redis
r = redis.Redis(host="127.0.0.1", port=int(sys.argv[1]))
other = redis.Redis(host="127.0.0.1", port=int(sys.argv[1]))
out = {}
p = r.pipeline()  # transaction=True by default: MULTI ... EXEC
p.set("py", "1"); p.incr("py"); p.get("py")
out["pipeline"] = [x.decode() if isinstance(x, bytes) else x for x in p.execute()]
with r.pipeline() as p:
    p.watch("py")
    other.set("py", "changed")
    p.multi(); p.incr("py")
    try:
        p.execute(); out["watch"] = "ran"
    except redis.WatchError:
        out["watch"] = "WatchError"
p = r.pipeline(); p.set("py2", "x"); p.incr("py2")
try:
    p.execute(); out["error"] = "none"
except redis.ResponseError as e:
    out["error"] = str(e)
out["py2"] = r.get("py2").decode()
print(json.dumps(out))
`;

Deno.test("redis-py pipeline() (transaction=True): results, WatchError, errors inside EXEC", async () => {
  const t = await startTestServer();
  try {
    const out = JSON.parse(await runRedisPy(REDIS_PY_SCRIPT, [String(t.port)]));
    assertEquals(out.pipeline, [true, 2, "2"]);
    assertEquals(out.watch, "WatchError");
    assert(String(out.error).includes("not an integer"), out.error);
    // Errors inside EXEC do not undo the other commands, as in Redis.
    assertEquals(out.py2, "x");
  } finally {
    await t.close();
  }
});

Deno.test("a transaction is one engine batch: one sequence range, applied all at once", async () => {
  const t = await startTestServer();
  const r = await connectRedis(t.port, { protocol: 2 });
  try {
    const before = t.db.lastSeq;
    const m = r.multi();
    for (let i = 0; i < 100; i++) m.set(`k${i}`, `v${i}`);
    m.set("k0", "last").del("k1");
    await m.exec();
    // One operation per key in one batch: k0 written once (its last value), k1 put then
    // deleted inside the transaction so not written at all: 99 sequence numbers.
    assertEquals(t.db.lastSeq - before, 99);
    assertEquals(new TextDecoder().decode(t.db.getEntry("k0")!.value), "last");
    assertEquals(t.db.getEntry("k1"), undefined);
  } finally {
    await closeRedis(r);
    await t.close();
  }
});

Deno.test("a transaction whose writes exceed one batch is refused whole with EXECABORT", async () => {
  const t = await startTestServer();
  const r = await connectRedis(t.port, { protocol: 2 });
  try {
    // 10,001 keys are one batch (a batch holds any key count one command can name).
    const ok = r.multi();
    for (let i = 0; i < 10_001; i++) ok.set(`many${i}`, "v");
    assertEquals((await ok.exec())!.length, 10_001);
    assertEquals(await r.exists("many0", "many10000"), 2);
    // Five values of 13 MiB: 65 MiB of writes, past the 64 MiB of one batch.
    const m = r.multi();
    for (let i = 0; i < 5; i++) m.set(`big${i}`, "v".repeat(13 * 1024 * 1024));
    await assertRejects(() => m.exec(), Error, "do not fit one atomic batch");
    assertEquals(await r.exists("big0"), 0);
  } finally {
    await closeRedis(r);
    await t.close();
  }
});
