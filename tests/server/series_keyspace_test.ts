/**
 * Time series and the operator side of the RESP server: the keyspace events TS.* commands
 * publish (RedisTimeSeries 1.8's names and classes, plus Redis's `new`), the generic commands'
 * events for series keys (RENAME, COPY, DEL, EXPIRE …), and MEMORY USAGE, OBJECT, RANDOMKEY,
 * TOUCH, bit commands, LCS and INFO keyspace on series keys, none of which may show the
 * internal `0xFF` keyspace.
 */
import { Buffer } from "node:buffer";
import { assert, assertEquals, assertRejects } from "@std/assert";
import { withDeadline } from "../_helpers/fuzz.ts";
import { startServe, tempDir } from "../cli/_helpers.ts";
import { closeRedis, connectRedis, RawClient, type Redis, startTestServer } from "./_helpers.ts";

const SENTINEL = "__keyspace@0__:~end";

/**
 * Reads the pmessages of a `PSUBSCRIBE __keyspace@0__:*` subscriber until the sentinel message
 * (published last by the test) and answers them as `key event` lines.
 */
async function keyspaceEvents(sub: RawClient, r: Redis): Promise<string[]> {
  await r.publish(SENTINEL, "end");
  const text = await withDeadline(
    sub.readUntil((s) => s.includes(`${SENTINEL}\r\n$3\r\nend\r\n`)),
    60_000,
    "the keyspace events",
  );
  const events: string[] = [];
  const frame =
    /\*4\r\n\$8\r\npmessage\r\n\$\d+\r\n__keyspace@0__:\*\r\n\$\d+\r\n__keyspace@0__:([^\r]*)\r\n\$\d+\r\n([^\r]*)\r\n/g;
  for (const m of text.matchAll(frame)) if (m[1] !== "~end") events.push(`${m[1]} ${m[2]}`);
  return events;
}

async function subscribeKeyspace(port: number): Promise<RawClient> {
  const sub = await RawClient.connect(port);
  await sub.send("PSUBSCRIBE __keyspace@0__:*\r\n");
  await sub.readUntil((s) => s.endsWith(":1\r\n"));
  return sub;
}

Deno.test("TS.* commands publish RedisTimeSeries' keyspace events; new keys publish `new`", async () => {
  const t = await startTestServer();
  const r = await connectRedis(t.port, { protocol: 2 });
  const sub = await subscribeKeyspace(t.port);
  try {
    await r.config("SET", "notify-keyspace-events", "KAn");
    await r.call("TS.CREATE", "a");
    await r.call("TS.ALTER", "a", "LABELS", "site", "x");
    await r.call("TS.ADD", "a", "1", "1");
    await r.call("TS.ADD", "b", "1", "1");
    await r.call("TS.INCRBY", "c", "5");
    await r.call("TS.DECRBY", "c", "1");
    // A refused sample (bad value, a missing key: TS.MADD creates none) publishes nothing; a
    // repeated key is announced per sample.
    const madd = await r.call(
      "TS.MADD",
      "a",
      "2",
      "2",
      "d",
      "1",
      "1",
      "a",
      "3",
      "x",
      "a",
      "4",
      "4",
    );
    assertEquals((madd as unknown[]).length, 4);
    await r.call("TS.CREATE", "avg");
    await r.call("TS.CREATERULE", "a", "avg", "AGGREGATION", "avg", "10");
    await r.call("TS.DELETERULE", "a", "avg");
    await r.call("TS.DEL", "a", "0", "1");
    await r.call("TS.DEL", "0", "10", "FILTER", "site=x");
    // Refused commands publish nothing.
    await assertRejects(() => r.call("TS.CREATE", "a"), Error, "key already exists");
    await assertRejects(() => r.call("TS.ALTER", "nosuch"), Error, "does not exist");
    await assertRejects(() => r.call("TS.ADD", "a", "1", "nan?"), Error, "invalid value");
    assertEquals(await keyspaceEvents(sub, r), [
      "a new",
      "a ts.create",
      "a ts.alter",
      "a ts.add",
      "b new",
      "b ts.add",
      "c new",
      "c ts.incrby",
      "c ts.decrby",
      "a ts.add",
      "a ts.add",
      "avg new",
      "avg ts.create",
      "a ts.createrule:src",
      "avg ts.createrule:dest",
      "a ts.deleterule:src",
      "avg ts.deleterule:dest",
      "a ts.del",
      "a ts.del",
    ]);
  } finally {
    sub.close();
    await closeRedis(r);
    await t.close();
  }
});

Deno.test("generic commands on series keys publish Redis's events: EXPIRE, PERSIST, RENAME, COPY, DEL, expired", async () => {
  const t = await startTestServer();
  const r = await connectRedis(t.port, { protocol: 2 });
  const sub = await subscribeKeyspace(t.port);
  try {
    await r.config("SET", "notify-keyspace-events", "Kgx");
    await r.call("TS.ADD", "s", "1", "1");
    assertEquals(await r.expire("s", 100), 1);
    assertEquals(await r.persist("s"), 1);
    assertEquals(await r.rename("s", "s2"), "OK");
    assertEquals(await r.call("COPY", "s2", "s3"), 1);
    assertEquals(await r.del("s2", "s3"), 2);
    await r.call("TS.ADD", "short", "1", "1");
    assertEquals(await r.pexpire("short", 150), 1);
    await withDeadline(
      (async () => {
        while (await r.exists("short")) await new Promise((res) => setTimeout(res, 20));
      })(),
      60_000,
      "the series to expire",
    );
    // The expiry tracker announces it within a cron tick or two.
    const events: string[] = [];
    await withDeadline(
      (async () => {
        while (!events.includes("short expired")) {
          events.push(...await keyspaceEvents(sub, r));
        }
      })(),
      60_000,
      "the expired event",
    );
    assertEquals(events, [
      "s expire",
      "s persist",
      "s rename_from",
      "s2 rename_to",
      "s3 copy_to",
      "s2 del",
      "s3 del",
      "short expire",
      "short expired",
    ]);
  } finally {
    sub.close();
    await closeRedis(r);
    await t.close();
  }
});

Deno.test("MEMORY USAGE, OBJECT, TOUCH, bit commands and LCS on a series; internal keys refused", async () => {
  const t = await startTestServer();
  const r = await connectRedis(t.port, { protocol: 2 });
  try {
    await r.call("TS.ADD", "temp", "1", "20.5");
    await r.call("TS.ADD", "temp", "2", "21");
    await r.set("str", "abc");
    const info = await r.call("TS.INFO", "temp") as unknown[];
    const tsMemory = info[info.indexOf("memoryUsage") + 1] as number;
    // TS.INFO's memoryUsage, the key's sds (header, 4 bytes, NUL: jemalloc class 8) and a dict entry.
    assertEquals(await r.call("MEMORY", "USAGE", "temp"), tsMemory + 8 + 24);
    assertEquals(await r.call("OBJECT", "ENCODING", "temp"), "raw");
    assertEquals(await r.call("OBJECT", "REFCOUNT", "temp"), 1);
    assertEquals(await r.call("TOUCH", "temp", "str", "nosuch"), 2);
    for (
      const cmd of [
        ["GETBIT", "temp", "0"],
        ["SETBIT", "temp", "0", "1"],
        ["BITCOUNT", "temp"],
        ["BITPOS", "temp", "1"],
        ["BITFIELD", "temp", "GET", "u8", "0"],
        ["BITFIELD_RO", "temp", "GET", "u8", "0"],
        ["BITOP", "AND", "dest", "str", "temp"],
      ]
    ) {
      await assertRejects(() => r.call(cmd[0]!, ...cmd.slice(1)), Error, "WRONGTYPE", cmd[0]);
    }
    await assertRejects(
      () => r.call("LCS", "str", "temp"),
      Error,
      "The specified keys must contain string values",
    );
    // BITOP's destination is replaced whatever its type, as in Redis.
    assertEquals(await r.call("BITOP", "NOT", "temp", "str"), 3);
    assertEquals(await r.type("temp"), "string");
    // The series is still there under its data, unreachable, until garbage collection: the
    // internal keyspace (0xFF …) is never a user key.
    const internal = Buffer.from([0xff, 0x00, 0x76]);
    await assertRejects(() => r.call("MEMORY", "USAGE", internal), Error, "Key is reserved");
    await assertRejects(() => r.call("OBJECT", "ENCODING", internal), Error, "Key is reserved");
    await assertRejects(() => r.call("TOUCH", internal), Error, "Key is reserved");
  } finally {
    await closeRedis(r);
    await t.close();
  }
});

Deno.test("RANDOMKEY and INFO keyspace see series as keys and never the internal keyspace", async () => {
  const t = await startTestServer();
  const r = await connectRedis(t.port, { protocol: 2 });
  try {
    // A series leaves internal data (the version counter at least) after its key is gone.
    await r.call("TS.ADD", "gone", "1", "1");
    await r.del("gone");
    assertEquals(await r.randomkey(), null);
    assertEquals(await r.dbsize(), 0);
    assert(!/^db0:/m.test(await r.info("keyspace")), await r.info("keyspace"));
    for (let i = 0; i < 5; i++) await r.call("TS.ADD", `sensor:${i}`, "1", String(i));
    await r.set("plain", "v", "EX", 1000);
    await r.pexpire("sensor:0", 500_000);
    const keys = new Set(["plain", ...Array.from({ length: 5 }, (_, i) => `sensor:${i}`)]);
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const k = await r.randomkey();
      assert(k !== null && keys.has(k), `RANDOMKEY answered ${JSON.stringify(k)}`);
      seen.add(k!);
    }
    assert(seen.size > 1, `RANDOMKEY always answered ${[...seen]}`);
    const line = (await r.info("keyspace")).split(/\r?\n/).find((l) => l.startsWith("db0:"));
    assert(line !== undefined && /^db0:keys=6,expires=2,avg_ttl=\d+$/.test(line), line);
    assertEquals(await r.dbsize(), 6);
  } finally {
    await closeRedis(r);
    await t.close();
  }
});

Deno.test("samples written by TS.* commands go out on __ts__:<key>; a closed bucket is `ts.add:dest`", async () => {
  const t = await startTestServer();
  const r = await connectRedis(t.port, { protocol: 2 });
  const feed = await RawClient.connect(t.port);
  const sub = await subscribeKeyspace(t.port);
  try {
    await r.config("SET", "notify-keyspace-events", "Kgd");
    await feed.send("PSUBSCRIBE __ts__:*\r\n");
    await feed.readUntil((s) => s.endsWith(":1\r\n"));
    await r.call("TS.CREATE", "room", "DUPLICATE_POLICY", "SUM");
    await r.call("TS.CREATE", "room:avg");
    await r.call("TS.CREATERULE", "room", "room:avg", "AGGREGATION", "avg", "10");
    await r.call("TS.ADD", "room", "1", "20.5");
    // A duplicate under SUM publishes the value stored; a refused sample publishes nothing.
    await r.call("TS.MADD", "room", "1", "1", "room", "2", "x", "room", "3", "22");
    // Closes bucket [0, 10) of the rule: its average is written into room:avg.
    await r.call("TS.INCRBY", "room", "1", "TIMESTAMP", "12");
    await r.publish("__ts__:~end", "end");
    const text = await withDeadline(
      feed.readUntil((s) => s.includes("__ts__:~end\r\n$3\r\nend\r\n")),
      60_000,
      "the feed",
    );
    const frame =
      /\*4\r\n\$8\r\npmessage\r\n\$\d+\r\n__ts__:\*\r\n\$\d+\r\n__ts__:([^\r]*)\r\n\$\d+\r\n([^\r]*)\r\n/g;
    const messages = [...text.matchAll(frame)].map((m) => `${m[1]} ${m[2]}`);
    // One message per sample, per series in the order the command wrote them.
    assertEquals(messages, [
      "room 1 20.5",
      "room 1 21.5",
      "room 3 22",
      "room 12 23",
      "room:avg 0 21.75",
      "~end end",
    ]);
    assertEquals(await keyspaceEvents(sub, r), [
      "room ts.create",
      "room:avg ts.create",
      "room ts.createrule:src",
      "room:avg ts.createrule:dest",
      "room ts.add",
      "room ts.add",
      "room ts.add",
      "room:avg ts.add:dest",
      "room ts.incrby",
    ]);
  } finally {
    feed.close();
    sub.close();
    await closeRedis(r);
    await t.close();
  }
});

Deno.test("samples POSTed to the HTTP series route reach __ts__:<key> subscribers (serve child)", async () => {
  const [dir, cleanup] = await tempDir("cityhall-ts-feed-");
  const serve = await startServe(dir);
  const feed = await RawClient.connect(serve.port);
  try {
    await feed.send("SUBSCRIBE __ts__:line1.temp\r\n");
    await feed.readUntil((s) => s.endsWith(":1\r\n"));
    const res = await fetch(`http://127.0.0.1:${serve.httpPort}/v1/series/line1.temp/samples`, {
      method: "POST",
      body: JSON.stringify({ samples: [[1000, 21.5], [2000, 22]] }),
      headers: { "content-type": "application/json" },
    });
    assertEquals(res.status, 200, await res.text());
    assertEquals(
      await withDeadline(feed.readUntil((s) => s.endsWith("2000 22\r\n")), 60_000, "the feed"),
      "*3\r\n$7\r\nmessage\r\n$17\r\n__ts__:line1.temp\r\n$9\r\n1000 21.5\r\n" +
        "*3\r\n$7\r\nmessage\r\n$17\r\n__ts__:line1.temp\r\n$7\r\n2000 22\r\n",
    );
  } finally {
    feed.close();
    await serve.stop();
    await cleanup();
  }
});
