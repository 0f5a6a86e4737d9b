/**
 * What SORT does beyond Redis's replies: patterns never reach internal keys, STORE into one is
 * refused, a sorted list's window is read without loading the list, and `SORT_ELEMENTS_MAX` is
 * the most elements one SORT sorts.
 */
import { assertEquals, assertRejects } from "@std/assert";
import { SORT_ELEMENTS_MAX } from "../../src/limits.ts";
import { closeRedis, connectRedis, startTestServer } from "./_helpers.ts";

Deno.test("SORT: BY and GET patterns find nothing in internal keys; STORE into one is refused", async () => {
  const t = await startTestServer();
  const r = await connectRedis(t.port);
  try {
    await r.rpush("l", "2", "1");
    await r.hset("h", "f", "v");
    // `\xff*` would name the engine's own records (type metadata, registry entries).
    const pattern = Buffer.from([0xff, 0x2a]);
    assertEquals(await r.call("sort", "l", "get", pattern), [null, null]);
    assertEquals(await r.call("sort", "l", "by", pattern, "get", "#"), ["1", "2"]);
    await assertRejects(
      () => r.call("sort", "l", "store", Buffer.from([0xff, 0x20, 0x00])),
      Error,
      "reserved",
    );
  } finally {
    await closeRedis(r);
    await t.close();
  }
});

Deno.test("SORT: SORT_ELEMENTS_MAX elements at most; a LIMIT window without sorting counts its own", async () => {
  const t = await startTestServer();
  const r = await connectRedis(t.port);
  try {
    const chunk = Array.from({ length: 100_000 }, () => "7");
    for (let n = 0; n < SORT_ELEMENTS_MAX;) {
      const take = Math.min(chunk.length, SORT_ELEMENTS_MAX - n);
      await r.rpush("l", ...chunk.slice(0, take));
      n += take;
    }
    assertEquals(await r.call("sort", "l", "limit", "0", "2"), ["7", "7"]);
    await r.rpush("l", "1");
    await assertRejects(
      () => r.call("sort", "l", "limit", "0", "2"),
      Error,
      `ERR SORT of ${SORT_ELEMENTS_MAX + 1} elements: at most ${SORT_ELEMENTS_MAX} elements`,
    );
    assertEquals(await r.call("sort", "l", "by", "nosort", "desc", "limit", "0", "2"), ["1", "7"]);
  } finally {
    await closeRedis(r);
    await t.close();
  }
});
