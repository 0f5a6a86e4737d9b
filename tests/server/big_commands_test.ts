/**
 * Commands with many arguments, as bulk loads send them (Redis's own suite sends SADD of
 * 100,000 members and MSET of 10,001 keys): accepted up to `RESP_ARGS_MAX`, with memory bound by
 * the query buffer limit counting `RESP_ARG_OVERHEAD_BYTES` per argument; MSET stays one atomic
 * batch, so more keys than a batch holds is an error that writes nothing.
 */

import { assert, assertEquals, assertRejects } from "@std/assert";
import {
  BATCH_OPS_MAX,
  RESP_ARG_OVERHEAD_BYTES,
  RESP_ARGS_MAX,
  RESP_QUERY_BUFFER_BYTES_MAX,
} from "../../src/limits.ts";
import { closeRedis, connectRedis, rawExchange, startTestServer } from "./_helpers.ts";

Deno.test("SADD of 100,000 members and DEL of 30,000 keys in one command", async () => {
  const t = await startTestServer();
  const r = await connectRedis(t.port);
  try {
    const members = Array.from({ length: 100_000 }, (_, i) => String(i));
    assertEquals(await r.sadd("myset", ...members), 100_000);
    assertEquals(await r.scard("myset"), 100_000);
    assertEquals(await r.sismember("myset", "99999"), 1);
    for (let i = 0; i < 30_000; i += BATCH_OPS_MAX) {
      const keys = Array.from({ length: Math.min(BATCH_OPS_MAX, 30_000 - i) }, (_, j) => i + j);
      await r.mset(...keys.flatMap((k) => [`k${k}`, "v"]));
    }
    const all = Array.from({ length: 30_000 }, (_, i) => `k${i}`);
    assertEquals(await r.del(...all), 30_000);
    assertEquals(await r.exists("k0", "k29999"), 0);
  } finally {
    await closeRedis(r);
    await t.close();
  }
});

Deno.test("MSET of one full batch is applied; one key more is refused and writes nothing", async () => {
  const t = await startTestServer();
  const r = await connectRedis(t.port);
  try {
    const pairs = (n: number, tag: string) =>
      Array.from({ length: n }, (_, i) => [`${tag}${i}`, "v"]).flat();
    assertEquals(await r.mset(...pairs(BATCH_OPS_MAX, "a")), "OK");
    assertEquals(await r.dbsize(), BATCH_OPS_MAX);
    await assertRejects(
      () => r.mset(...pairs(BATCH_OPS_MAX + 1, "b")),
      Error,
      `ERR MSET of ${BATCH_OPS_MAX + 1} keys: at most ${BATCH_OPS_MAX} keys in one command`,
    );
    await assertRejects(
      () => r.msetnx(...pairs(BATCH_OPS_MAX + 1, "c")),
      Error,
      `ERR MSETNX of ${BATCH_OPS_MAX + 1} keys`,
    );
    assertEquals(await r.dbsize(), BATCH_OPS_MAX);
    assertEquals(await r.exists("b0", "c0"), 0);
  } finally {
    await closeRedis(r);
    await t.close();
  }
});

Deno.test("RESP_ARGS_MAX arguments are the most; tiny arguments count their overhead", async () => {
  const t = await startTestServer();
  try {
    const over = await rawExchange(t.port, `*${RESP_ARGS_MAX + 1}\r\n`);
    assert(over.closed);
    assertEquals(over.reply, "-ERR Protocol error: invalid multibulk length\r\n");
    // One-byte arguments: what they cost in objects reaches the limit long before their bytes.
    const count = Math.ceil(RESP_QUERY_BUFFER_BYTES_MAX / (1 + RESP_ARG_OVERHEAD_BYTES)) + 1;
    assert(count < RESP_ARGS_MAX);
    const head = `*${count + 1}\r\n$4\r\nSADD\r\n`;
    const tiny = "$1\r\nx\r\n".repeat(count);
    const res = await rawExchange(t.port, head + tiny);
    assert(res.closed);
    assertEquals(res.reply, "-ERR Protocol error: query buffer limit exceeded\r\n");
    const r = await connectRedis(t.port);
    try {
      assertEquals(await r.exists("x"), 0);
    } finally {
      await closeRedis(r);
    }
  } finally {
    await t.close();
  }
});

Deno.test("INFO rdb_changes_since_last_save counts writes, not no-ops, and SAVE resets it", async () => {
  const t = await startTestServer();
  const r = await connectRedis(t.port);
  const changes = async () =>
    Number(/rdb_changes_since_last_save:(\d+)/.exec(await r.info("persistence"))![1]);
  try {
    const before = await changes();
    await r.setbit("foo", 0, 0); // creates the key
    await r.call("bitfield", "foo2", "set", "i5", "0", "0");
    assertEquals(await changes(), before + 2);
    await r.setbit("foo", 0, 0); // no change
    await r.call("bitfield", "foo2", "set", "i5", "0", "0");
    assertEquals(await changes(), before + 2);
    await r.mset("a", "1", "b", "2", "c", "3");
    assertEquals(await changes(), before + 5);
    assertEquals(await r.save(), "OK");
    assertEquals(await changes(), 0);
  } finally {
    await closeRedis(r);
    await t.close();
  }
});
