import { assert, assertEquals, assertRejects } from "@std/assert";
import { closeRedis, connectRedis, sleep, startTestServer } from "./_helpers.ts";
import { EXPIRE_AT_MS_MAX } from "../../src/limits.ts";

Deno.test("TTL and PTTL: -2 missing, -1 no expiry, rounded seconds", async () => {
  const t = await startTestServer();
  const r = await connectRedis(t.port);
  try {
    assertEquals(await r.ttl("nope"), -2);
    assertEquals(await r.pttl("nope"), -2);
    await r.set("a", "1");
    assertEquals(await r.ttl("a"), -1);
    assertEquals(await r.expiretime("a"), -1);
    assertEquals(await r.expiretime("nope"), -2);
    assertEquals(await r.expire("a", 100), 1);
    assertEquals(await r.ttl("a"), 100);
    const pttl = await r.pttl("a");
    assert(pttl > 99_000 && pttl <= 100_000);
    const at = await r.pexpiretime("a");
    assert(Math.abs(at - (Date.now() + 100_000)) < 1000);
    assertEquals(await r.persist("a"), 1);
    assertEquals(await r.persist("a"), 0);
    assertEquals(await r.persist("nope"), 0);
    assertEquals(await r.ttl("a"), -1);
  } finally {
    await closeRedis(r);
    await t.close();
  }
});

Deno.test("EXPIRE NX XX GT LT follow Redis 7 rules", async () => {
  const t = await startTestServer();
  const r = await connectRedis(t.port);
  try {
    assertEquals(await r.expire("nope", 10), 0);
    await r.set("a", "1");
    assertEquals(await r.call("expire", "a", 100, "XX"), 0);
    assertEquals(await r.call("expire", "a", 100, "GT"), 0);
    assertEquals(await r.call("expire", "a", 100, "NX"), 1);
    assertEquals(await r.call("expire", "a", 200, "NX"), 0);
    assertEquals(await r.call("expire", "a", 50, "GT"), 0);
    assertEquals(await r.call("expire", "a", 200, "GT"), 1);
    assertEquals(await r.call("expire", "a", 300, "LT"), 0);
    assertEquals(await r.call("expire", "a", 150, "LT"), 1);
    assertEquals(await r.call("expire", "a", 120, "XX", "LT"), 1);
    assertEquals(await r.ttl("a"), 120);
    await r.set("b", "1");
    assertEquals(await r.call("expire", "b", 100, "LT"), 1);
    await assertRejects(
      () => r.call("expire", "a", 10, "NX", "XX"),
      Error,
      "ERR NX and XX, GT or LT options at the same time are not compatible",
    );
    await assertRejects(
      () => r.call("expire", "a", 10, "GT", "LT"),
      Error,
      "ERR GT and LT options at the same time are not compatible",
    );
    await assertRejects(
      () => r.call("expire", "a", 10, "FOO"),
      Error,
      "ERR Unsupported option FOO",
    );
    await assertRejects(
      () => r.call("expire", "a", "ten"),
      Error,
      "ERR value is not an integer or out of range",
    );
    await assertRejects(
      () => r.call("expire", "a", "9223372036854775807"),
      Error,
      "ERR invalid expire time in 'expire' command",
    );
  } finally {
    await closeRedis(r);
    await t.close();
  }
});

Deno.test("expiry in the past deletes; PEXPIRE really expires; EXPIREAT/PEXPIREAT absolute", async () => {
  const t = await startTestServer();
  const r = await connectRedis(t.port);
  try {
    await r.set("a", "1");
    assertEquals(await r.expire("a", -1), 1);
    assertEquals(await r.exists("a"), 0);
    await r.set("b", "1");
    // Long enough that the PEXPIRE's own fsync on a loaded disk does not outlast it.
    assertEquals(await r.pexpire("b", 1500), 1);
    assertEquals(await r.get("b"), "1");
    await sleep(1600);
    assertEquals(await r.get("b"), null);
    assertEquals(await r.ttl("b"), -2);
    await r.set("c", "1");
    const at = Math.floor(Date.now() / 1000) + 500;
    assertEquals(await r.expireat("c", at), 1);
    assertEquals(await r.expiretime("c"), at);
    assertEquals(await r.pexpireat("c", at * 1000 + 123), 1);
    assertEquals(await r.pexpiretime("c"), at * 1000 + 123);
    assertEquals(await r.pexpireat("c", 1), 1);
    assertEquals(await r.exists("c"), 0);
  } finally {
    await closeRedis(r);
    await t.close();
  }
});

Deno.test("Expiry times past year 275760 are accepted as Redis accepts them, kept as that year", async () => {
  const t = await startTestServer();
  const r = await connectRedis(t.port);
  try {
    await r.set("foo", "bar");
    assertEquals(await r.call("pexpireat", "foo", "9223372036854770000"), 1);
    assertEquals(await r.pexpiretime("foo"), EXPIRE_AT_MS_MAX);
    assert((await r.ttl("foo")) > 0);
    assertEquals(await r.get("foo"), "bar");
    assertEquals(await r.call("set", "k", "v", "PXAT", "9223372036854770000"), "OK");
    assertEquals(await r.pexpiretime("k"), EXPIRE_AT_MS_MAX);
    assertEquals(await r.call("set", "k2", "v", "EX", "9223372036854"), "OK");
    assertEquals(await r.pexpiretime("k2"), EXPIRE_AT_MS_MAX);
    // Far in the past deletes, as any past time does.
    assertEquals(await r.call("pexpireat", "foo", "-9223372036854770000"), 1);
    assertEquals(await r.ttl("foo"), -2);
    // Overflow is still an error.
    await assertRejects(
      () => r.call("set", "k3", "v", "EX", "9223372036854776"),
      Error,
      "ERR invalid expire time in 'set' command",
    );
    await assertRejects(
      () => r.call("pexpire", "k", "9223372036854775807"),
      Error,
      "ERR invalid expire time in 'pexpire' command",
    );
  } finally {
    await closeRedis(r);
    await t.close();
  }
});
