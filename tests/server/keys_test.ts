import { assert, assertEquals, assertRejects } from "@std/assert";
import { closeRedis, connectRedis, type Redis, startTestServer } from "./_helpers.ts";

Deno.test("DEL UNLINK EXISTS TYPE count keys like Redis", async () => {
  const t = await startTestServer();
  const r = await connectRedis(t.port);
  try {
    await r.mset("a", "1", "b", "2", "c", "3");
    assertEquals(await r.exists("a", "a", "b", "zz"), 3);
    assertEquals(await r.type("a"), "string");
    assertEquals(await r.type("zz"), "none");
    assertEquals(await r.del("a", "a", "zz"), 1);
    assertEquals(await r.unlink("b", "c"), 2);
    assertEquals(await r.exists("a", "b", "c"), 0);
    assertEquals(await r.dbsize(), 0);
  } finally {
    await closeRedis(r);
    await t.close();
  }
});

Deno.test("RENAME RENAMENX COPY keep the value and TTL", async () => {
  const t = await startTestServer();
  const r = await connectRedis(t.port);
  try {
    await assertRejects(() => r.call("rename", "nope", "x"), Error, "ERR no such key");
    await r.set("a", "1", "EX", 100);
    assertEquals(await r.rename("a", "b"), "OK");
    assertEquals(await r.get("a"), null);
    assertEquals(await r.get("b"), "1");
    assert((await r.ttl("b")) > 90);
    assertEquals(await r.rename("b", "b"), "OK");
    await r.set("c", "3");
    assertEquals(await r.renamenx("b", "c"), 0);
    assertEquals(await r.renamenx("b", "d"), 1);
    assertEquals(await r.copy("d", "e"), 1);
    assertEquals(await r.get("e"), "1");
    assert((await r.ttl("e")) > 90);
    assertEquals(await r.copy("d", "c"), 0);
    assertEquals(await r.call("copy", "d", "c", "REPLACE"), 1);
    assertEquals(await r.get("c"), "1");
    assertEquals(await r.copy("missing", "z"), 0);
    await assertRejects(
      () => r.call("copy", "d", "d"),
      Error,
      "ERR source and destination objects are the same",
    );
    await assertRejects(
      () => r.call("copy", "d", "f", "DB", "1"),
      Error,
      "ERR DB index is out of range",
    );
    assertEquals(await r.call("copy", "d", "f", "DB", "0"), 1);
    await assertRejects(() => r.call("copy", "d", "f", "BOGUS"), Error, "ERR syntax error");
  } finally {
    await closeRedis(r);
    await t.close();
  }
});

Deno.test("KEYS matches Redis globs and returns keys in byte order", async () => {
  const t = await startTestServer();
  const r = await connectRedis(t.port);
  try {
    await r.mset(
      "user:2",
      "x",
      "user:1",
      "x",
      "user:10",
      "x",
      "job:1",
      "x",
      "hello",
      "x",
      "hallo",
      "x",
    );
    assertEquals(await r.keys("user:*"), ["user:1", "user:10", "user:2"]);
    assertEquals(await r.keys("h?llo"), ["hallo", "hello"]);
    assertEquals(await r.keys("h[ae]llo"), ["hallo", "hello"]);
    assertEquals(await r.keys("h[^e]llo"), ["hallo"]);
    assertEquals(await r.keys("*:1*"), ["job:1", "user:1", "user:10"]);
    assertEquals(await r.keys("nothing*"), []);
    assertEquals((await r.keys("*")).length, 6);
  } finally {
    await closeRedis(r);
    await t.close();
  }
});

async function scanAll(r: Redis, ...opts: (string | number)[]): Promise<string[]> {
  const out: string[] = [];
  let cursor = "0";
  let calls = 0;
  do {
    const [next, keys] = await r.call("scan", cursor, ...opts) as [string, string[]];
    out.push(...keys);
    cursor = next;
    calls++;
    assert(calls < 100_000, "scan terminates");
  } while (cursor !== "0");
  return out;
}

Deno.test("SCAN walks every key once in byte order, with MATCH, COUNT and TYPE", async () => {
  const t = await startTestServer();
  const r = await connectRedis(t.port);
  try {
    const keys: string[] = [];
    for (let i = 0; i < 250; i++) keys.push(`k:${String(i).padStart(4, "0")}`);
    for (let i = 0; i < 50; i++) keys.push(`other:${i}`);
    await r.mset(...keys.flatMap((k) => [k, "v"]));
    const all = await scanAll(r, "COUNT", 7);
    assertEquals(all, [...keys].sort());
    const ks = await scanAll(r, "MATCH", "k:*", "COUNT", 20);
    assertEquals(ks, keys.slice(0, 250));
    const tens = await scanAll(r, "MATCH", "k:00?0", "COUNT", 1000);
    assertEquals(tens, [
      "k:0000",
      "k:0010",
      "k:0020",
      "k:0030",
      "k:0040",
      "k:0050",
      "k:0060",
      "k:0070",
      "k:0080",
      "k:0090",
    ]);
    assertEquals(await scanAll(r, "TYPE", "string", "MATCH", "other:4*"), [
      "other:4",
      "other:40",
      "other:41",
      "other:42",
      "other:43",
      "other:44",
      "other:45",
      "other:46",
      "other:47",
      "other:48",
      "other:49",
    ]);
    assertEquals(await scanAll(r, "TYPE", "hash"), []);
    const [first, page] = await r.scan("0") as [string, string[]];
    assertEquals(page.length, 10);
    assert(/^[1-9][0-9]*$/.test(first), `numeric cursor ${first}`);
    await assertRejects(() => r.call("scan", "0", "COUNT", "0"), Error, "ERR syntax error");
    await assertRejects(
      () => r.call("scan", "0", "COUNT", "x"),
      Error,
      "ERR value is not an integer",
    );
    await assertRejects(() => r.call("scan", "0", "MATCH"), Error, "ERR syntax error");
    await assertRejects(() => r.call("scan", "abc"), Error, "ERR invalid cursor");
    await assertRejects(() => r.call("scan", "999999999"), Error, "ERR invalid cursor");
  } finally {
    await closeRedis(r);
    await t.close();
  }
});

Deno.test("SCAN is complete and free of duplicates during concurrent writes", async () => {
  const t = await startTestServer();
  const r = await connectRedis(t.port);
  const w = await connectRedis(t.port);
  try {
    const stable: string[] = [];
    for (let i = 0; i < 2000; i += 2) stable.push(`key:${String(i).padStart(5, "0")}`);
    await r.mset(...stable.flatMap((k) => [k, "stable"]));
    let writing = true;
    const writer = (async () => {
      let i = 1;
      while (writing) {
        // Insert keys between the stable ones, and delete/reinsert some that come and go.
        const p = w.pipeline();
        for (let j = 0; j < 20; j++, i += 2) {
          p.set(`key:${String(i % 2000).padStart(5, "0")}`, "new");
          p.del(`key:${String((i * 7) % 2000 | 1).padStart(5, "0")}`);
        }
        await p.exec();
      }
    })();
    const seen = await scanAll(r, "MATCH", "key:*", "COUNT", 13);
    writing = false;
    await writer;
    const set = new Set(seen);
    assertEquals(set.size, seen.length, "no duplicates");
    for (const k of stable) assert(set.has(k), `missing ${k}`);
    const sorted = [...seen].sort();
    assertEquals(seen, sorted, "byte order");
  } finally {
    await closeRedis(w);
    await closeRedis(r);
    await t.close();
  }
});

Deno.test("DBSIZE counts live keys, FLUSHDB and FLUSHALL clear", async () => {
  const t = await startTestServer();
  const r = await connectRedis(t.port);
  try {
    await r.mset("a", "1", "b", "2");
    await r.set("c", "3", "PX", 1);
    await new Promise((res) => setTimeout(res, 20));
    assertEquals(await r.dbsize(), 2);
    assertEquals(await r.flushdb(), "OK");
    assertEquals(await r.dbsize(), 0);
    await r.set("a", "1");
    assertEquals(await r.call("flushall", "ASYNC"), "OK");
    assertEquals(await r.dbsize(), 0);
    await assertRejects(() => r.call("flushdb", "NOW"), Error, "ERR syntax error");
  } finally {
    await closeRedis(r);
    await t.close();
  }
});
