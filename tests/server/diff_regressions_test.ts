/**
 * Divergences from redis-server 7.0 that the differential fuzzer (tests/_helpers/resp_diff.ts)
 * found, each replayed as a fixed scenario against both servers (tests/server/_compare.ts).
 *
 * @module
 */

import { assertEquals } from "@std/assert";
import { compareScenario } from "./_compare.ts";
import { rawExchange, startTestServer } from "./_helpers.ts";
import { startRedisServer } from "./_redis.ts";
import { RespConn } from "./_resp_conn.ts";

Deno.test("score bounds are read with plain strtod: empty, '(' alone, spaces, 1e400, a NUL", async () => {
  await compareScenario(
    "score bounds",
    `
    A: zadd z 0 a 1 b 2 c 3 d
    A: zcount z "" ""
    A: zcount z "(" 1
    A: zrangebyscore z " 1" +inf
    A: zrangebyscore z -1e400 1e400 withscores
    A: zrevrangebyscore z 1e400 "(" withscores
    A: zcount z "1\\x00junk" 2
    A: zrange z "" "(2" byscore
    A: zrange z "(3" "" byscore rev
    A: zcount z "1 " 2
    A: zcount z nan 1
    A: zcount z "(nan" 1
    A: zcount z 0x1 0x2
    A: zcount z 1e-400 1
    A: zrangestore dst z "" 1 byscore
    A: zremrangebyscore z "(" "("
    A: zremrangebyscore z "" "(1"
    A: zrange z 0 -1 withscores
    A: set s v
    A: zcount s "" ""
    A: zcount s x 1
    A: zcount missing "" ""
    A: zcount missing x 1
    `,
  );
});

Deno.test("SORT reads a weight up to its first NUL byte, as strtod reads the C string", async () => {
  await compareScenario(
    "sort weights",
    `
    A: rpush l "1\\x00x" 3 2 "\\x00abc"
    A: sort l
    A: sort l desc
    A: rpush m "1\\x00" "x\\x001"
    A: sort m
    `,
  );
});

Deno.test("HSCAN, SSCAN and ZSCAN check the cursor, then the key, then the options", async () => {
  await compareScenario(
    "key scans",
    `
    A: hscan missing 0 count 1000 junk
    A: sscan missing 0 match
    A: zscan missing 0 count 0
    A: hscan missing x
    A: set s v
    A: hscan s 0 junk
    A: sscan s 0 count
    A: zscan s 0 bad opt
    A: sscan s x junk
    A: sadd st a
    A: sscan st 0 count 0
    A: sscan st 0 match
    A: hset h f v
    A: hscan h 0 count 1000 extra
    A: zadd zs 1 m
    A: zscan zs 0 nomatch x
    `,
  );
});

Deno.test("arguments echoed in errors come back byte for byte, cut at a NUL as Redis's %s cuts", async () => {
  await compareScenario(
    "error echo",
    `
    A: nosuchcmd "\\xff\\xfe" "a\\x00b" "\\xc3\\xa9" "\\xed\\xb2\\x80"
    A: "\\xe9cho" x
    A: "ab\\x00cd" x
    A: set k v
    A: expire k 10 "\\xff"
    A: expire k 10 "x\\x00y"
    A: config "\\xff"
    A: object "a\\x00b" k
    A: object "\\xc3\\xa9" k
    `,
  );
});

Deno.test("a protocol error names the unexpected byte as sent", async () => {
  const t = await startTestServer();
  const redis = await startRedisServer();
  try {
    for (const frame of ["*1\r\n\xff4\r\nPING\r\n", "*1\r\n\xc34\r\nPING\r\n", "*1\r\nx\r\n"]) {
      const bytes = Uint8Array.from(frame, (c) => c.charCodeAt(0));
      const ours = await rawExchange(t.port, bytes);
      const theirs = await rawExchange(redis.port, bytes);
      assertEquals(ours, theirs, JSON.stringify(frame));
    }
  } finally {
    await redis.stop();
    await t.close();
  }
});

Deno.test("blocking timeouts: BLMPOP and BZMPOP read theirs after the other arguments", async () => {
  await compareScenario(
    "blocking timeouts",
    `
    A: brpop l -inf
    A: blpop l 1e5000
    A: blpop l nan
    A: blpop l -0.5
    A: blmove a b left up 1e300
    A: blmpop -1 2 k1 left
    A: blmpop x 1 l left count 0
    A: bzmpop x 1 z min count 0
    A: bzmpop -0.5 2 k1 max count 4
    A: blmpop x 1 l left
    A: rpush l v
    A: blpop l 0.01
    `,
  );
});

Deno.test("blocking timeouts past LLONG_MAX ms are out of range, as Redis 7.2 (a long double) reads them", async () => {
  const t = await startTestServer();
  const c = await RespConn.connect(t.port);
  try {
    for (const timeout of ["1e400", "inf", "+inf", "1e300", "9223372036854775.807"]) {
      assertEquals(await c.call("BLPOP", "l", timeout), { error: "ERR timeout is out of range" });
    }
    assertEquals(await c.call("BLPOP", "l", "-inf"), { error: "ERR timeout is negative" });
    assertEquals(await c.call("BLPOP", "l", "-1e400"), { error: "ERR timeout is negative" });
    assertEquals(await c.call("BLPOP", "l", "1e5000"), {
      error: "ERR timeout is not a float or out of range",
    });
    // Milliseconds round up: a tiny timeout waits 1 ms and answers nil, it does not block forever.
    assertEquals(await c.call("BLPOP", "l", "0.0001"), null);
    assertEquals(await c.call("BLPOP", "l", "1e-400"), null);
  } finally {
    c.close();
    await t.close();
  }
});

Deno.test("BLPOP with a timeout longer than a timer can wait (~24.8 days) stays blocked", async () => {
  const t = await startTestServer();
  const a = await RespConn.connect(t.port);
  const b = await RespConn.connect(t.port);
  try {
    await a.send("BLPOP", "q", "3000000");
    while (true) {
      const info = await b.call("INFO", "clients");
      if (typeof info === "string" && /blocked_clients:1\r\n/.test(info)) break;
    }
    assertEquals(await b.call("RPUSH", "q", "x"), 1);
    assertEquals(await a.read(), ["q", "x"]);
  } finally {
    a.close();
    b.close();
    await t.close();
  }
});

Deno.test("BITFIELD reads every argument before BITFIELD_RO refuses a write; types are lower case", async () => {
  await compareScenario(
    "bitfield",
    `
    A: set s abc
    A: bitfield s get U8 0
    A: bitfield s get I8 0
    A: bitfield s get u08 0
    A: bitfield s get u+8 0
    A: bitfield s get "u8\\x00x" 0
    A: bitfield_ro s set u8 0 1 get x8 0
    A: bitfield_ro s set u8 0 1 get u8 -1
    A: bitfield_ro s set u8 0 x
    A: bitfield_ro s incrby u8 0 1
    A: bitfield_ro s get u8 0 set u8 0 1
    A: lpush l x
    A: bitfield l get U8 0
    A: bitfield_ro l get u8 0 set u8 0 1
    A: bitfield l get u8 0 overflow bad
    `,
  );
});
