/**
 * Replies compared side by side with real Redis 7: option repeats, lookup-before-validate,
 * CONFIG and COMMAND details, and empty negative multibulk counts.
 */
import { assertEquals, assertRejects } from "@std/assert";
import { closeRedis, connectRedis, RawClient, startTestServer } from "./_helpers.ts";
import { startRedisServer } from "./_redis.ts";

Deno.test("SET allows a repeated option; the last expire value wins", async () => {
  const t = await startTestServer();
  const r = await connectRedis(t.port, { protocol: 2 });
  try {
    assertEquals(await r.call("set", "k", "v", "EX", "10", "EX", "100"), "OK");
    const ttl = await r.ttl("k");
    assertEquals(ttl > 10 && ttl <= 100, true);
    assertEquals(await r.call("set", "k", "v", "KEEPTTL", "KEEPTTL"), "OK");
    assertEquals(await r.ttl("k") > 10, true);
    assertEquals(await r.call("set", "k", "v", "NX", "NX"), null);
    await assertRejects(() => r.call("set", "k", "v", "EX", "10", "PX", "100"), Error, "syntax");
    await assertRejects(() => r.call("set", "k", "v", "EX", "10", "EX", "0"), Error, "invalid");
  } finally {
    await closeRedis(r);
    await t.close();
  }
});

Deno.test("GETEX: repeated PERSIST is allowed; a missing key is nil before the expire check", async () => {
  const t = await startTestServer();
  const r = await connectRedis(t.port, { protocol: 2 });
  try {
    await r.set("k", "v", "EX", 100);
    assertEquals(await r.call("getex", "k", "PERSIST", "PERSIST"), "v");
    assertEquals(await r.ttl("k"), -1);
    assertEquals(await r.call("getex", "missing", "EX", "0"), null);
    assertEquals(await r.call("getex", "k", "EX", "5", "EX", "50"), "v");
    assertEquals(await r.ttl("k") > 5, true);
    await assertRejects(() => r.call("getex", "k", "EX", "0"), Error, "invalid expire time");
  } finally {
    await closeRedis(r);
    await t.close();
  }
});

Deno.test("CONFIG GET echoes exact names as typed; CONFIG SET duplicates and odd args", async () => {
  const t = await startTestServer();
  const r = await connectRedis(t.port, { protocol: 2 });
  try {
    assertEquals(await r.config("GET", "MAXCLIENTS"), ["MAXCLIENTS", "10000"]);
    assertEquals(await r.config("GET", "maxclients", "max*", "MAXCLIENTS"), [
      "maxclients",
      "10000",
      "maxmemory",
      "0",
      "maxmemory-policy",
      "noeviction",
    ]);
    await assertRejects(
      () => r.call("config", "set", "timeout", "0", "TIMEOUT", "0"),
      Error,
      "ERR CONFIG SET failed (possibly related to argument 'TIMEOUT') - duplicate parameter",
    );
    await assertRejects(
      () => r.call("config", "set", "timeout", "0", "maxclients"),
      Error,
      "ERR syntax error",
    );
    await assertRejects(() => r.call("config", "help", "x"), Error, "'config|help'");
    await assertRejects(() => r.call("config", "rewrite", "x"), Error, "'config|rewrite'");
    await assertRejects(() => r.call("command", "help", "x"), Error, "'command|help'");
  } finally {
    await closeRedis(r);
    await t.close();
  }
});

Deno.test("COMMAND LIST FILTERBY and Redis ACL categories in COMMAND INFO", async () => {
  const t = await startTestServer();
  const r = await connectRedis(t.port, { protocol: 2 });
  try {
    const ge = await r.call("command", "list", "filterby", "pattern", "GE*") as string[];
    assertEquals(ge.sort(), ["get", "getbit", "getdel", "getex", "getrange", "getset"]);
    assertEquals(await r.call("command", "list", "filterby", "pattern", "xyz*"), []);
    assertEquals(await r.call("command", "list", "filterby", "module", "x"), []);
    const fast = await r.call("command", "list", "filterby", "aclcat", "fast") as string[];
    assertEquals(fast.includes("get") && !fast.includes("keys"), true);
    await assertRejects(() => r.call("command", "list", "filterby", "foo", "x"), Error, "syntax");
    await assertRejects(() => r.call("command", "list", "x"), Error, "syntax");
    const info = await r.call("command", "info", "get", "keys", "config") as unknown[][];
    assertEquals(info.map((c) => c[6]), [
      ["@read", "@string", "@fast"],
      ["@keyspace", "@read", "@slow"],
      ["@admin", "@slow", "@dangerous"],
    ]);
  } finally {
    await closeRedis(r);
    await t.close();
  }
});

Deno.test("COMMAND LIST names subcommands as container|sub, and PATTERN matches them, as Redis", async () => {
  const t = await startTestServer();
  const real = await startRedisServer();
  const r = await connectRedis(t.port, { protocol: 2 });
  const want = await connectRedis(real.port, { protocol: 2 });
  try {
    const list = async (c: typeof r, ...filter: string[]) =>
      ((await c.call("command", "list", ...filter)) as string[]).sort();
    const all = await list(r);
    assertEquals(all.includes("set") && all.includes("client|list"), true);
    assertEquals(all.includes("config|get") && all.includes("object|encoding"), true);
    for (const pattern of ["config*", "config|*re*", "object|*", "client|get*", "set", "nope*"]) {
      assertEquals(
        await list(r, "filterby", "pattern", pattern),
        await list(want, "filterby", "pattern", pattern),
        pattern,
      );
    }
    // Subcommands here carry no flags of their own, so ACLCAT names commands only.
    const conn = await list(r, "filterby", "aclcat", "connection");
    assertEquals(conn.includes("client") && !conn.some((n) => n.includes("|")), true);
  } finally {
    await closeRedis(r);
    await closeRedis(want);
    await t.close();
    await real.stop();
  }
});

Deno.test("a negative multibulk count is an empty command, as in Redis", async () => {
  const t = await startTestServer();
  const c = await RawClient.connect(t.port);
  try {
    await c.send("*-5\r\n*-2\r\nPING\r\n");
    assertEquals(await c.readUntil((s) => s.endsWith("\r\n")), "+PONG\r\n");
    assertEquals(t.server.metrics.protocolErrors, 0);
  } finally {
    c.close();
    await t.close();
  }
});
