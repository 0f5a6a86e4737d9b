/**
 * *STORE and COPY results bigger than one engine batch (`WRITE_CHUNK_OPS`) are all or nothing:
 * the members go under a new version first and the metadata record that makes them visible
 * goes last. A batch the engine refuses in the middle stops the rest (the old value stays and
 * the half-written members are compaction garbage); kill -9 while such commands run leaves each
 * destination whole, old or new.
 */
import { assertEquals, assertRejects } from "@std/assert";
import { startServe, tempDir } from "../cli/_helpers.ts";
import { closeRedis, connectRedis, type Redis, startTestServer } from "../server/_helpers.ts";
import type { Database } from "../../src/mod.ts";
import { TypeGarbageCollector } from "../../src/types/gc.ts";
import { WRITE_CHUNK_OPS } from "../../src/limits.ts";

/** Member entries readable in spaces 0x21…0x25. */
function memberEntries(db: Database): number {
  return db.readRange({ start: new Uint8Array([0xff, 0x21]), end: new Uint8Array([0xff, 0x26]) }, {
    limit: 10_000_000,
  }).length;
}

/** Adds `n` members named `prefix0…` to set `key` (or sorted set with `zset`). */
async function fill(r: Redis, key: string, prefix: string, n: number, zset = false) {
  for (let i = 0; i < n; i += 5000) {
    const args: string[] = [];
    for (let j = i; j < Math.min(n, i + 5000); j++) {
      if (zset) args.push(String(j));
      args.push(`${prefix}${j}`);
    }
    if (zset) await r.call("zadd", key, ...args);
    else await r.sadd(key, ...args);
  }
}

Deno.test("a big *STORE or COPY whose middle batch is refused leaves the old value", async () => {
  const t = await startTestServer();
  const r = await connectRedis(t.port, { protocol: 2 });
  try {
    const n = Math.ceil(WRITE_CHUNK_OPS * 2.5);
    await fill(r, "a", "m", n);
    await fill(r, "b", "m", n);
    await fill(r, "za", "m", n, true);
    await fill(r, "zb", "m", n, true);
    const sources = memberEntries(t.db);
    const commands = [
      ["sunionstore", "dst", "a"],
      ["sinterstore", "dst", "a", "b"],
      ["sdiffstore", "dst", "a", "nokey"],
      ["zunionstore", "dst", "1", "za"],
      ["zinterstore", "dst", "2", "za", "zb"],
      ["zdiffstore", "dst", "1", "za"],
      ["zrangestore", "dst", "za", "0", "-1"],
      ["copy", "a", "dst", "replace"],
      ["copy", "za", "dst", "replace"],
    ];
    for (const [name, ...args] of commands) {
      await r.del("dst");
      await r.hset("dst", "old", "1");
      let writes = 0;
      // The second batch of the command's write is refused (as a full disk would).
      t.db.setWriteGuard((ops) => {
        if (ops.length >= WRITE_CHUNK_OPS && ++writes === 2) throw new Error("injected refusal");
      });
      try {
        await assertRejects(() => r.call(name!, ...args));
      } finally {
        t.db.setWriteGuard(undefined);
      }
      assertEquals(writes, 2, `${name}: batches written before the refusal`);
      assertEquals(await r.type("dst"), "hash", name);
      assertEquals(await r.hgetall("dst"), { old: "1" }, name);
    }
    // The half-written members are garbage: the sweep marks their versions, compaction drops them.
    assertEquals(memberEntries(t.db) > sources + 1, true);
    await new TypeGarbageCollector(t.db, () => {}).sweepAll();
    await t.db.compactRange();
    assertEquals(memberEntries(t.db), sources + 1);
    // The same commands without a refusal store the whole result.
    assertEquals(await r.call("sunionstore", "dst", "a"), n);
    assertEquals(await r.scard("dst"), n);
    assertEquals((await r.smembers("dst")).length, n);
  } finally {
    await closeRedis(r);
    await t.close();
  }
});

Deno.test("kill -9 while big *STORE and COPY run leaves every destination whole", async () => {
  const [dir, cleanup] = await tempDir();
  let serve = await startServe(dir, ["--no-http"]);
  const sizes = { a: Math.ceil(WRITE_CHUNK_OPS * 2.2), b: Math.ceil(WRITE_CHUNK_OPS * 1.3) };
  try {
    const setup = await connectRedis(serve.port, { protocol: 2 });
    await fill(setup, "a", "a", sizes.a);
    await fill(setup, "b", "b", sizes.b);
    await fill(setup, "za", "a", sizes.a, true);
    await fill(setup, "zb", "b", sizes.b, true);
    await closeRedis(setup);
    const writers = await Promise.all([0, 1, 2].map(() => connectRedis(serve.port)));
    let done = 0;
    let stop = false;
    const loops = writers.map(async (r, w) => {
      for (let i = 0; !stop; i++) {
        const src = i % 2 === 0 ? "a" : "b";
        try {
          if (w === 0) await r.call("sunionstore", "sdst", src);
          else if (w === 1) await r.call("zunionstore", "zdst", "1", `z${src}`);
          else await r.call("copy", src, "cdst", "replace");
          done++;
        } catch {
          return;
        }
      }
    });
    while (done < 6) await new Promise((res) => setTimeout(res, 20));
    // Somewhere inside the next commands' writes (their batches take a while to fsync).
    await new Promise((res) => setTimeout(res, Math.floor(Math.random() * 200)));
    await serve.stop("SIGKILL");
    stop = true;
    await Promise.all(loops);
    for (const r of writers) r.disconnect();
    serve = await startServe(dir, ["--no-http"]);
    const r = await connectRedis(serve.port, { protocol: 2 });
    try {
      for (const key of ["sdst", "cdst"]) {
        const members = await r.smembers(key);
        const card = await r.scard(key);
        assertEquals(members.length, card, key);
        const prefix = members[0]![0]! as "a" | "b";
        assertEquals(card, sizes[prefix], key);
        assertEquals(members.every((m) => m[0] === prefix), true, key);
      }
      const zmembers = await r.zrange("zdst", "0", "-1");
      const prefix = zmembers[0]![0]! as "a" | "b";
      assertEquals(zmembers.length, sizes[prefix]);
      assertEquals(await r.zcard("zdst"), zmembers.length);
      assertEquals(zmembers.every((m) => m[0] === prefix), true);
    } finally {
      await closeRedis(r);
    }
  } finally {
    await serve.stop();
    await cleanup();
  }
});
