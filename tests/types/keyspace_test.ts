/**
 * The member-type layer on a real server: big keys paged (HSCAN covers every field once), DEL
 * in one tombstone with the members freed at compaction, RENAME/COPY/EXPIRE/TYPE/SCAN TYPE,
 * MULTI/EXEC reading its own staged members, WATCH seeing a member change.
 */
import { assertEquals } from "@std/assert";
import { closeRedis, connectRedis, type Redis, startTestServer } from "../server/_helpers.ts";
import type { Database } from "../../src/mod.ts";
import { TypeGarbageCollector } from "../../src/types/gc.ts";

/** Internal member entries (spaces 0x21…0x25). */
function memberEntries(db: Database): number {
  return db.readRange({ start: new Uint8Array([0xff, 0x21]), end: new Uint8Array([0xff, 0x26]) }, {
    limit: 10_000_000,
  }).length;
}

/** A sweep pass (dead versions get their markers), then a compaction (their members go). */
async function collect(db: Database): Promise<void> {
  await new TypeGarbageCollector(db, () => {}).sweepAll();
  await db.compact();
}

async function withServer(
  fn: (r: Redis, t: Awaited<ReturnType<typeof startTestServer>>) => Promise<void>,
) {
  const t = await startTestServer();
  const r = await connectRedis(t.port, { protocol: 2 });
  try {
    await fn(r, t);
  } finally {
    await closeRedis(r);
    await t.close();
  }
}

Deno.test("a big hash is paged by HSCAN, deleted in one tombstone and freed at compaction", async () => {
  await withServer(async (r, t) => {
    const n = 3000;
    for (let i = 0; i < n; i += 500) {
      const args: string[] = [];
      for (let j = i; j < i + 500; j++) args.push(`f${j}`, `v${j}`);
      await r.hset("big", ...args);
    }
    assertEquals(await r.hlen("big"), n);
    const seen = new Set<string>();
    let cursor = "0";
    let calls = 0;
    do {
      const [next, items] = await r.hscan("big", cursor, "COUNT", 100);
      for (let i = 0; i < items.length; i += 2) {
        assertEquals(items[i + 1], "v" + items[i]!.slice(1));
        assertEquals(seen.has(items[i]!), false);
        seen.add(items[i]!);
      }
      cursor = next;
      calls++;
    } while (cursor !== "0");
    assertEquals(seen.size, n);
    assertEquals(calls > 10, true);
    assertEquals(memberEntries(t.db), n);
    assertEquals(await r.del("big"), 1);
    assertEquals(await r.hlen("big"), 0);
    // A new hash of the same name never sees the old fields.
    await r.hset("big", "x", "1");
    assertEquals(await r.hgetall("big"), { x: "1" });
    await collect(t.db);
    assertEquals(memberEntries(t.db), 1);
  });
});

Deno.test("RENAME, COPY, EXPIRE, TYPE, SCAN TYPE and overwrites work on hashes", async () => {
  await withServer(async (r, t) => {
    await r.hset("h", "a", "1", "b", "2");
    await r.set("s", "v");
    assertEquals(await r.type("h"), "hash");
    assertEquals(await r.call("scan", "0", "type", "hash"), ["0", ["h"]]);
    assertEquals(await r.rename("h", "h2"), "OK");
    assertEquals(await r.hgetall("h2"), { a: "1", b: "2" });
    assertEquals(await r.call("copy", "h2", "h3"), 1);
    await r.hset("h3", "c", "3");
    assertEquals(await r.hlen("h2"), 2);
    assertEquals(await r.hlen("h3"), 3);
    // RENAME over another hash: the overwritten one's fields become garbage.
    assertEquals(await r.rename("h3", "h2"), "OK");
    assertEquals(await r.hgetall("h2"), { a: "1", b: "2", c: "3" });
    await r.pexpire("h2", 100_000);
    await r.hset("h2", "d", "4");
    assertEquals((await r.pttl("h2")) > 90_000, true);
    // SET replaces a hash, as in Redis.
    await r.set("h2", "plain");
    assertEquals(await r.get("h2"), "plain");
    await collect(t.db);
    assertEquals(memberEntries(t.db), 0);
    await r.hset("e", "a", "1");
    await r.pexpire("e", 1);
    await new Promise((res) => setTimeout(res, 20));
    assertEquals(await r.exists("e"), 0);
    await collect(t.db);
    assertEquals(memberEntries(t.db), 0);
  });
});

Deno.test("MULTI/EXEC sees its own hash writes; WATCH sees a field change", async () => {
  await withServer(async (r, t) => {
    const other = await connectRedis(t.port, { protocol: 2 });
    try {
      const res = await r.multi().hset("h", "a", "1").hincrby("h", "a", 5).hgetall("h")
        .hdel("h", "a").exists("h").exec();
      assertEquals(res!.map(([, v]) => v), [1, 6, { a: "6" }, 1, 0]);
      await r.hset("h", "a", "1");
      await r.watch("h");
      await other.hset("h", "a", "2");
      const aborted = await r.multi().hset("h", "b", "1").exec();
      assertEquals(aborted, null);
      assertEquals(await r.hgetall("h"), { a: "2" });
    } finally {
      await closeRedis(other);
    }
  });
});
