import { assert, assertEquals, assertRejects } from "@std/assert";
import { closeRedis, connectRedis, sleep, startTestServer } from "./_helpers.ts";

Deno.test("GET and SET round-trip, SET NX/XX/GET and syntax errors", async () => {
  const t = await startTestServer();
  const r = await connectRedis(t.port);
  try {
    assertEquals(await r.get("missing"), null);
    assertEquals(await r.set("k", "v1"), "OK");
    assertEquals(await r.get("k"), "v1");
    assertEquals(await r.set("k", "v2", "NX"), null);
    assertEquals(await r.get("k"), "v1");
    assertEquals(await r.set("new", "x", "XX"), null);
    assertEquals(await r.get("new"), null);
    assertEquals(await r.set("k", "v3", "XX"), "OK");
    assertEquals(await r.set("k", "v4", "GET"), "v3");
    assertEquals(await r.set("nk", "a", "NX", "GET"), null);
    assertEquals(await r.set("nk", "b", "NX", "GET"), "a");
    assertEquals(await r.get("nk"), "a");
    await assertRejects(() => r.call("set", "k", "v", "NX", "XX"), Error, "ERR syntax error");
    await assertRejects(
      () => r.call("set", "k", "v", "EX", "10", "PX", "100"),
      Error,
      "ERR syntax error",
    );
    await assertRejects(
      () => r.call("set", "k", "v", "KEEPTTL", "EX", "10"),
      Error,
      "ERR syntax error",
    );
    await assertRejects(() => r.call("set", "k", "v", "EX"), Error, "ERR syntax error");
    await assertRejects(() => r.call("set", "k", "v", "BOGUS"), Error, "ERR syntax error");
    await assertRejects(
      () => r.call("set", "k", "v", "EX", "abc"),
      Error,
      "ERR value is not an integer or out of range",
    );
    await assertRejects(
      () => r.call("set", "k", "v", "EX", "0"),
      Error,
      "ERR invalid expire time in 'set' command",
    );
    await assertRejects(
      () => r.call("set", "k", "v", "PX", "-5"),
      Error,
      "ERR invalid expire time in 'set' command",
    );
    await assertRejects(
      () => r.call("get"),
      Error,
      "ERR wrong number of arguments for 'get' command",
    );
  } finally {
    await closeRedis(r);
    await t.close();
  }
});

Deno.test("SET EX/PX/EXAT/PXAT/KEEPTTL set and keep expiry; short PX really expires", async () => {
  const t = await startTestServer();
  const r = await connectRedis(t.port);
  try {
    await r.set("a", "1", "EX", 100);
    const ttl = await r.ttl("a");
    assert(ttl >= 99 && ttl <= 100, `ttl ${ttl}`);
    await r.set("a", "2", "KEEPTTL");
    assert((await r.ttl("a")) >= 99);
    await r.set("a", "3");
    assertEquals(await r.ttl("a"), -1);
    await r.set("b", "1", "PX", 60);
    // Under load the 60 ms may already have passed: gone (-2) or at most 60 ms left.
    const left = await r.pttl("b");
    assert(left === -2 || (left >= 0 && left <= 60), `pttl ${left}`);
    await sleep(120);
    assertEquals(await r.get("b"), null);
    assertEquals(await r.exists("b"), 0);
    const at = Math.floor(Date.now() / 1000) + 1000;
    await r.set("c", "1", "EXAT", at);
    assertEquals(await r.expiretime("c"), at);
    await r.set("d", "1", "PXAT", Date.now() + 100_000);
    assert((await r.pttl("d")) > 99_000);
    await r.set("e", "1", "PXAT", 1000);
    assertEquals(await r.get("e"), null);
  } finally {
    await closeRedis(r);
    await t.close();
  }
});

Deno.test("SETNX SETEX PSETEX GETSET GETDEL GETEX", async () => {
  const t = await startTestServer();
  const r = await connectRedis(t.port);
  try {
    assertEquals(await r.setnx("a", "1"), 1);
    assertEquals(await r.setnx("a", "2"), 0);
    assertEquals(await r.setex("b", 100, "x"), "OK");
    assert((await r.ttl("b")) > 90);
    await assertRejects(
      () => r.call("setex", "b", 0, "x"),
      Error,
      "invalid expire time in 'setex' command",
    );
    assertEquals(await r.psetex("c", 100_000, "y"), "OK");
    assert((await r.pttl("c")) > 90_000);
    await assertRejects(
      () => r.call("psetex", "c", -1, "y"),
      Error,
      "invalid expire time in 'psetex'",
    );
    assertEquals(await r.getset("b", "z"), "x");
    assertEquals(await r.ttl("b"), -1);
    assertEquals(await r.getset("nope", "z"), null);
    assertEquals(await r.getdel("b"), "z");
    assertEquals(await r.getdel("b"), null);
    assertEquals(await r.getex("a", "EX", 100), "1");
    assert((await r.ttl("a")) > 90);
    assertEquals(await r.getex("a", "PERSIST"), "1");
    assertEquals(await r.ttl("a"), -1);
    assertEquals(await r.getex("missing"), null);
    await assertRejects(() => r.call("getex", "a", "EX", "1", "PX", "1"), Error, "syntax error");
  } finally {
    await closeRedis(r);
    await t.close();
  }
});

Deno.test("MGET MSET MSETNX, wrong arity of MSET", async () => {
  const t = await startTestServer();
  const r = await connectRedis(t.port);
  try {
    assertEquals(await r.mset("a", "1", "b", "2"), "OK");
    assertEquals(await r.mget("a", "b", "c"), ["1", "2", null]);
    assertEquals(await r.msetnx("c", "3", "a", "9"), 0);
    assertEquals(await r.get("c"), null);
    assertEquals(await r.msetnx("c", "3", "d", "4"), 1);
    assertEquals(await r.mget("c", "d"), ["3", "4"]);
    await assertRejects(
      () => r.call("mset", "a", "1", "b"),
      Error,
      "ERR wrong number of arguments for 'mset' command",
    );
  } finally {
    await closeRedis(r);
    await t.close();
  }
});

Deno.test("INCR family: int64 range, overflow and type errors, TTL kept", async () => {
  const t = await startTestServer();
  const r = await connectRedis(t.port);
  try {
    assertEquals(await r.incr("n"), 1);
    assertEquals(await r.incrby("n", 10), 11);
    assertEquals(await r.decr("n"), 10);
    assertEquals(await r.decrby("n", 20), -10);
    await r.set("big", "9223372036854775806");
    assertEquals(await r.call("incr", "big"), 9223372036854775807);
    await assertRejects(
      () => r.call("incr", "big"),
      Error,
      "ERR increment or decrement would overflow",
    );
    assertEquals(await r.get("big"), "9223372036854775807");
    await r.set("small", "-9223372036854775808");
    await assertRejects(
      () => r.call("decr", "small"),
      Error,
      "increment or decrement would overflow",
    );
    await assertRejects(
      () => r.call("decrby", "n", "-9223372036854775808"),
      Error,
      "ERR decrement would overflow",
    );
    await r.set("s", "abc");
    await assertRejects(
      () => r.call("incr", "s"),
      Error,
      "ERR value is not an integer or out of range",
    );
    await r.set("s", " 1");
    await assertRejects(
      () => r.call("incr", "s"),
      Error,
      "ERR value is not an integer or out of range",
    );
    await r.set("s", "01");
    await assertRejects(
      () => r.call("incr", "s"),
      Error,
      "ERR value is not an integer or out of range",
    );
    await assertRejects(
      () => r.call("incrby", "n", "1.5"),
      Error,
      "ERR value is not an integer or out of range",
    );
    await assertRejects(
      () => r.call("incrby", "n", "99999999999999999999"),
      Error,
      "ERR value is not an integer or out of range",
    );
    await r.set("t", "5", "EX", 100);
    await r.incr("t");
    assert((await r.ttl("t")) > 90);
    assertEquals(await r.incrbyfloat("f", "10.5"), "10.5");
    assertEquals(await r.incrbyfloat("f", "0.1"), "10.6");
    assertEquals(await r.incrbyfloat("f", "-5"), "5.6");
    assertEquals(await r.incrbyfloat("g", "5.0e3"), "5000");
    await assertRejects(
      () => r.call("incrbyfloat", "f", "abc"),
      Error,
      "ERR value is not a valid float",
    );
    await r.set("s", "x");
    await assertRejects(
      () => r.call("incrbyfloat", "s", "1"),
      Error,
      "ERR value is not a valid float",
    );
    await assertRejects(
      () => r.call("incrbyfloat", "f", "inf"),
      Error,
      "ERR increment would produce NaN or Infinity",
    );
  } finally {
    await closeRedis(r);
    await t.close();
  }
});

Deno.test("APPEND STRLEN GETRANGE SETRANGE", async () => {
  const t = await startTestServer();
  const r = await connectRedis(t.port);
  try {
    assertEquals(await r.append("s", "Hello"), 5);
    assertEquals(await r.append("s", " World"), 11);
    assertEquals(await r.strlen("s"), 11);
    assertEquals(await r.strlen("none"), 0);
    assertEquals(await r.getrange("s", 0, 4), "Hello");
    assertEquals(await r.getrange("s", -5, -1), "World");
    assertEquals(await r.getrange("s", 0, -1), "Hello World");
    assertEquals(await r.getrange("s", 5, 2), "");
    assertEquals(await r.getrange("s", -1, -5), "");
    assertEquals(await r.getrange("s", 0, 100), "Hello World");
    assertEquals(await r.getrange("none", 0, 10), "");
    assertEquals(await r.setrange("s", 6, "Redis"), 11);
    assertEquals(await r.get("s"), "Hello Redis");
    assertEquals(await r.setrange("p", 3, "x"), 4);
    assertEquals(new Uint8Array((await r.getBuffer("p"))!), new Uint8Array([0, 0, 0, 120]));
    assertEquals(await r.setrange("q", 0, ""), 0);
    assertEquals(await r.exists("q"), 0);
    await assertRejects(
      () => r.call("setrange", "s", -1, "x"),
      Error,
      "ERR offset is out of range",
    );
    await assertRejects(
      () => r.call("setrange", "s", 17 * 1024 * 1024, "x"),
      Error,
      "ERR string exceeds maximum allowed size",
    );
  } finally {
    await closeRedis(r);
    await t.close();
  }
});

Deno.test("binary keys and values round-trip byte for byte", async () => {
  const t = await startTestServer();
  const r = await connectRedis(t.port);
  try {
    const key = new Uint8Array([0, 255, 13, 10, 32, 0, 1]);
    const value = new Uint8Array(4096);
    for (let i = 0; i < value.length; i++) value[i] = (i * 31) & 0xff;
    await r.set(Buffer.from(key), Buffer.from(value));
    const got = await r.getBuffer(Buffer.from(key));
    assert(got !== null);
    assertEquals(new Uint8Array(got!), value);
    const keys = await r.keysBuffer("*");
    assertEquals(keys.map((k: Uint8Array) => [...k]), [[...key]]);
  } finally {
    await closeRedis(r);
    await t.close();
  }
});
