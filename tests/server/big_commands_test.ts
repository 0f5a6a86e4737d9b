/**
 * Commands with many arguments, as bulk loads send them (Redis's own suite sends SADD of
 * 100,000 members and MSET of 10,001 keys): accepted up to `RESP_ARGS_MAX`, with memory bound by
 * the query buffer limit counting `RESP_ARG_OVERHEAD_BYTES` per argument. MSET stays one atomic
 * batch, which holds every key the protocol lets one command name; more key and value bytes than
 * a batch holds is an error that writes nothing.
 */

import { assert, assertEquals, assertRejects } from "@std/assert";
import {
  BATCH_OPS_MAX,
  BATCH_SIZE_BYTES_MAX,
  RESP_ARG_OVERHEAD_BYTES,
  RESP_ARGS_MAX,
  RESP_QUERY_BUFFER_BYTES_MAX,
} from "../../src/limits.ts";
import { closeRedis, connectRedis, rawExchange, startTestServer } from "./_helpers.ts";
import { startServe, tempDir } from "../cli/_helpers.ts";

Deno.test("SADD of 100,000 members and DEL of 30,000 keys in one command", async () => {
  const t = await startTestServer();
  const r = await connectRedis(t.port);
  try {
    const members = Array.from({ length: 100_000 }, (_, i) => String(i));
    assertEquals(await r.sadd("myset", ...members), 100_000);
    assertEquals(await r.scard("myset"), 100_000);
    assertEquals(await r.sismember("myset", "99999"), 1);
    await r.mset(...Array.from({ length: 30_000 }, (_, k) => [`k${k}`, "v"]).flat());
    const all = Array.from({ length: 30_000 }, (_, i) => `k${i}`);
    assertEquals(await r.del(...all), 30_000);
    assertEquals(await r.exists("k0", "k29999"), 0);
  } finally {
    await closeRedis(r);
    await t.close();
  }
});

Deno.test("MSET of 10,001 and of 200,000 keys is one engine batch each", async () => {
  const t = await startTestServer();
  const r = await connectRedis(t.port);
  const batches: number[] = [];
  try {
    t.db.setWriteGuard((ops) => void batches.push(ops.length));
    // Redis's unit/protocol "test large number of args": 10,000 times `k v`, then `{k}2 v2`.
    const suite = [...Array.from({ length: 10_000 }, () => ["k", "v"]).flat(), "{k}2", "v2"];
    assertEquals(await r.mset(...suite), "OK");
    assertEquals(await r.get("{k}2"), "v2");
    const pairs = Array.from({ length: 200_000 }, (_, i) => [`a${i}`, "v"]).flat();
    assertEquals(await r.call("msetnx", pairs), 1);
    assertEquals(batches, [10_001, 200_000]);
    assertEquals(await r.dbsize(), 200_002);
    assert(BATCH_OPS_MAX >= (RESP_ARGS_MAX - 1) / 2);
  } finally {
    t.db.setWriteGuard(undefined);
    await closeRedis(r);
    await t.close();
  }
});

Deno.test("MSET of BATCH_SIZE_BYTES_MAX key and value bytes is applied; one byte more writes nothing", async () => {
  const t = await startTestServer();
  const r = await connectRedis(t.port);
  try {
    // Four 2-byte keys and values that fill the batch to the byte.
    const value = (tag: string, extra: number) => tag.repeat(BATCH_SIZE_BYTES_MAX / 4 - 2 + extra);
    const at = ["a0", value("a", 0), "a1", value("b", 0), "a2", value("c", 0), "a3", value("d", 0)];
    assertEquals(await r.mset(...at), "OK");
    assertEquals(await r.strlen("a3"), BATCH_SIZE_BYTES_MAX / 4 - 2);
    const over = [
      "b0",
      value("e", 1),
      "b1",
      value("f", 0),
      "b2",
      value("g", 0),
      "b3",
      value("h", 0),
    ];
    for (const name of ["mset", "msetnx"]) {
      await assertRejects(
        () => r.call(name, ...over),
        Error,
        `ERR ${name.toUpperCase()} of ${BATCH_SIZE_BYTES_MAX + 1} key and value bytes: at most ` +
          `${BATCH_SIZE_BYTES_MAX} in one command (one atomic batch)`,
      );
    }
    assertEquals(await r.exists("b0", "b1", "b2", "b3"), 0);
    assertEquals(await r.dbsize(), 4);
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

Deno.test("kill -9 after an MSET of 200,000 keys: recovery replays the one WAL record whole", async () => {
  const [dir, cleanup] = await tempDir();
  let serve = await startServe(dir, ["--no-http"]);
  try {
    const r = await connectRedis(serve.port);
    const pairs = Array.from({ length: 200_000 }, (_, i) => [`m${i}`, String(i)]).flat();
    try {
      assertEquals(await r.call("mset", pairs), "OK");
    } finally {
      await closeRedis(r);
    }
    await serve.stop("SIGKILL");
    serve = await startServe(dir, ["--no-http"]);
    const again = await connectRedis(serve.port);
    try {
      assertEquals(await again.dbsize(), 200_000);
      assertEquals(await again.mget("m0", "m199999"), ["0", "199999"]);
    } finally {
      await closeRedis(again);
    }
  } finally {
    await serve.stop();
    await cleanup();
  }
});
