/**
 * Database API behaviour: scans across long runs of tombstones, scans while writes land,
 * read-your-writes ordering, closed handles, stats.
 */

import { assert, assertEquals, assertInstanceOf, assertRejects, assertThrows } from "@std/assert";
import { ClosedError, Database } from "../../src/mod.ts";
import { readWholeFile } from "../../src/fs/mod.ts";
import { FaultFs } from "../../src/fs/fault_fs.ts";
import { BATCH_SIZE_BYTES_MAX, KEY_SIZE_BYTES_MAX } from "../../src/limits.ts";
import { fromBytes } from "../../src/util/bytes.ts";

async function keysOf(it: AsyncIterable<[Uint8Array, Uint8Array]>): Promise<string[]> {
  const out: string[] = [];
  for await (const [k] of it) out.push(fromBytes(k));
  return out;
}

Deno.test("Database.scan() skips runs of tombstones longer than its decode chunk", async () => {
  const db = await Database.open("/db", { fs: new FaultFs(), memtableSizeBytesMax: 64 * 1024 });
  const key = (i: number) => `k${String(i).padStart(5, "0")}`;
  for (let i = 0; i < 2000; i += 500) {
    await db.write(
      Array.from(
        { length: 500 },
        (_, j) => ({ type: "put" as const, key: key(i + j), value: "v" }),
      ),
    );
  }
  // Delete 1,000 keys in a row, half flushed to a table and half in the memtable.
  await db.write(
    Array.from({ length: 500 }, (_, j) => ({ type: "delete" as const, key: key(500 + j) })),
  );
  await db.flush();
  await db.write(
    Array.from({ length: 500 }, (_, j) => ({ type: "delete" as const, key: key(1000 + j) })),
  );
  const keys = await keysOf(db.scan({ prefix: "k" }));
  assertEquals(keys.length, 1000);
  assertEquals(keys[499], key(499));
  assertEquals(keys[500], key(1500));
  const reversed = await keysOf(db.scan({ prefix: "k" }, { reverse: true }));
  assertEquals(reversed, [...keys].reverse());
  assertEquals(await keysOf(db.scan({ start: key(400), end: key(1600) }, { limit: 150 })), [
    ...keys.slice(400, 500),
    ...keys.slice(500, 550),
  ]);
  await db.close();
});

Deno.test("Database.scan() sees every key that exists throughout, once, while writes land", async () => {
  const db = await Database.open("/db", { fs: new FaultFs(), memtableSizeBytesMax: 16 * 1024 });
  const stable = Array.from({ length: 3000 }, (_, i) => `s${String(i).padStart(5, "0")}`);
  for (const k of stable) await db.put(k, "v");
  const seen: string[] = [];
  let n = 0;
  for await (const [k] of db.scan({ prefix: "s" })) {
    seen.push(fromBytes(k));
    // Writes interleave with the scan: new keys ahead and behind, overwrites, flushes.
    if (++n % 100 === 0) {
      await db.put(`s${String(n * 2).padStart(5, "0")}x`, "new");
      await db.put(stable[n % stable.length]!, "overwritten");
      if (n % 1000 === 0) await db.flush();
    }
  }
  const stableSeen = seen.filter((k) => !k.endsWith("x"));
  assertEquals(stableSeen, stable);
  assertEquals(new Set(seen).size, seen.length);
  await db.close();
});

Deno.test("Database.scan() agrees with a model across chunk, block and table boundaries", async () => {
  // Three overlapping sources (two tables and the memtable) with overwrites, tombstones and
  // expired entries, so the bulk read stops mid-block at chunk ends, at keys another source
  // holds, and at the range's end; the same scans in reverse go entry by entry.
  let now = 1_700_000_000_000;
  const db = await Database.open("/db", {
    fs: new FaultFs(),
    memtableSizeBytesMax: 1 << 20,
    nowMs: () => now,
  });
  const key = (i: number) => `k${String(i).padStart(5, "0")}`;
  const model = new Map<string, string>();
  const put = (i: number, value: string, expireAtMs?: number) => ({
    type: "put" as const,
    key: key(i),
    value,
    ...(expireAtMs !== undefined ? { expireAtMs } : {}),
  });
  await db.write(Array.from({ length: 3000 }, (_, i) => put(i, `a${i}`)));
  for (let i = 0; i < 3000; i++) model.set(key(i), `a${i}`);
  await db.flush();
  const second = [];
  for (let i = 0; i < 3000; i += 7) {
    second.push(put(i, `b${i}`));
    model.set(key(i), `b${i}`);
  }
  for (let i = 3; i < 3000; i += 11) second.push({ type: "delete" as const, key: key(i) });
  for (let i = 3; i < 3000; i += 11) model.delete(key(i));
  for (let i = 5; i < 3000; i += 13) {
    second.push(put(i, `e${i}`, now + 1000));
    model.delete(key(i)); // read after expiry
  }
  await db.write(second);
  await db.flush();
  const third = [];
  for (let i = 1; i < 3000; i += 17) {
    third.push(put(i, `c${i}`));
    if (i % 13 !== 5) model.set(key(i), `c${i}`);
    else model.delete(key(i));
  }
  // Live in the memtable's newest version, expiring later than the reads.
  for (let i = 5; i < 3000; i += 13) {
    if (i % 17 === 1) {
      third.push(put(i, `f${i}`, now + 10_000));
      model.set(key(i), `f${i}`);
    }
  }
  await db.write(third);
  now += 2000;
  const sorted = [...model.keys()].sort();
  const pairs = async (it: AsyncIterable<[Uint8Array, Uint8Array]>) => {
    const out: string[] = [];
    for await (const [k, v] of it) out.push(`${fromBytes(k)}=${fromBytes(v)}`);
    return out;
  };
  const expect = (keys: string[]) => keys.map((k) => `${k}=${model.get(k)}`);
  for (const limit of [1, 255, 256, 257, 1000, Infinity]) {
    assertEquals(await pairs(db.scan({ prefix: "k" }, { limit })), expect(sorted.slice(0, limit)));
    assertEquals(
      await pairs(db.scan({ prefix: "k" }, { limit, reverse: true })),
      expect(sorted.toReversed().slice(0, limit)),
    );
    const inRange = sorted.filter((k) => k >= key(700) && k < key(1900));
    assertEquals(
      await pairs(db.scan({ start: key(700), end: key(1900) }, { limit })),
      expect(inRange.slice(0, limit)),
    );
  }
  await db.close();
});

Deno.test("Database: a write is visible to getEntry as soon as write() returns", async () => {
  const db = await Database.open("/db", { fs: new FaultFs() });
  const pending = db.put("k", "v1");
  assertEquals(fromBytes(db.getEntry("k")!.value), "v1");
  await pending;
  assertEquals(db.stats().puts, 1);
  await db.close();
  assertThrows(() => db.getEntry("k"), ClosedError);
  await assertRejects(() => db.put("k", "v"), ClosedError);
});

Deno.test("Database.stats() counts the WAL's commit groups and their fdatasyncs", async () => {
  const db = await Database.open("/db", { fs: new FaultFs() });
  const before = db.stats();
  await Promise.all(Array.from({ length: 50 }, (_, i) => db.put(`k${i}`, "v")));
  await db.put("last", "v");
  const after = db.stats();
  const groups = after.walGroupCommits - before.walGroupCommits;
  // The 50 concurrent puts share one group (or a few), the last put has its own.
  assert(groups >= 2 && groups <= 10, `${groups} groups`);
  assertEquals(after.walSyncs - before.walSyncs, groups);
  assert(after.walSyncSeconds >= before.walSyncSeconds);
  await db.close();
});

Deno.test("Database.clear() deletes keys whose total size exceeds one batch's byte limit", async () => {
  const db = await Database.open("/db", { fs: new FaultFs(), syncMode: "none" });
  // Each delete counts its key against BATCH_SIZE_BYTES_MAX: this many long keys cannot go
  // in one batch, though they are far fewer than BATCH_OPS_MAX.
  const count = Math.floor(BATCH_SIZE_BYTES_MAX / KEY_SIZE_BYTES_MAX) + 2;
  const key = (i: number) => String(i).padStart(8, "0").padEnd(KEY_SIZE_BYTES_MAX, "x");
  for (let i = 0; i < count; i += 500) {
    await db.write(
      Array.from(
        { length: Math.min(500, count - i) },
        (_, j) => ({ type: "put" as const, key: key(i + j), value: "" }),
      ),
    );
  }
  await db.clear();
  assertEquals(await keysOf(db.scan({})), []);
  await db.close();
});

Deno.test("Database.compact() started before close() does not touch files after close()", async () => {
  const fs = new FaultFs();
  const db = await Database.open("/db", { fs, autoCompaction: false });
  for (let t = 0; t < 3; t++) {
    for (let i = 0; i < 50; i++) await db.put(`k${t}-${i}`, "v");
    await db.flush();
  }
  const compacted = db.compact().then(() => undefined, (err) => err);
  await db.close();
  const filesAtClose = fs.readDir("/db").sort();
  const manifestAtClose = readWholeFile(fs, "/db/MANIFEST");
  const outcome = await compacted;
  await new Promise((resolve) => setTimeout(resolve, 20));
  // The lock is released: another open may own the directory now.
  assertEquals(fs.readDir("/db").sort(), filesAtClose);
  assertEquals(readWholeFile(fs, "/db/MANIFEST"), manifestAtClose);
  assertInstanceOf(outcome, ClosedError);
  const reopened = await Database.open("/db", { fs });
  assertEquals((await keysOf(reopened.scan({}))).length, 150);
  await reopened.close();
});

Deno.test("Database.compact() of a level-0-only tree keeps a concurrent flush's table on top (tiered)", async () => {
  // Tiered: a full compaction of a one-level tree writes level 0 again (leveled writes level 1).
  const db = await Database.open("/db", { fs: new FaultFs(), compactionStyle: "tiered" });
  await db.put("k", "old");
  await db.put("gone", "v");
  await db.flush();
  await db.put("x", "1");
  await db.flush();
  assertEquals(db.stats().tablesPerLevel, [2]);
  // compact() merges level 0 into level 0; the flush below finishes while it runs, so its
  // newer table is in level 0 before the compaction's output is.
  const compacted = db.compact();
  const writes = [db.put("k", "new"), db.delete("gone")];
  const flushed = db.flush();
  await Promise.all([compacted, ...writes, flushed]);
  assertEquals(db.stats().tablesPerLevel, [2]);
  const k = await db.get("k");
  assertEquals(k && fromBytes(k), "new");
  assertEquals(await db.get("gone"), undefined);
  await db.close();
});

Deno.test("Database compaction leaves the block cache to readers", async () => {
  // Tiered: its level-0 tables are merged (leveled would move these disjoint ones as they are).
  const db = await Database.open("/db", {
    fs: new FaultFs(),
    compactionStyle: "tiered",
    compression: false,
    blockCacheSizeBytes: 16 * 1024,
  });
  const value = "v".repeat(1000);
  const fill = async (round: number) => {
    for (let t = 0; t < 4; t++) {
      for (let i = 0; i < 40; i++) {
        await db.put(`r${round}-${t}-${String(i).padStart(3, "0")}`, value);
      }
      await db.flush();
      await db.idle();
    }
  };
  await db.put("hot", "h");
  await fill(0); // four level-0 tables merge into level 1, "hot" with them
  assertEquals(db.stats().tablesPerLevel, [0, 1]);
  await db.get("hot"); // now cached
  // The next merge reads ~160 KiB of level-0 blocks, ten times the cache, but not "hot"'s.
  await fill(1);
  assertEquals(db.stats().tablesPerLevel, [0, 2]);
  const hits = db.stats().blockCacheHits;
  await db.get("hot");
  assertEquals(db.stats().blockCacheHits, hits + 1);
  await db.close();
});

Deno.test("Database.scan() continued after close() rejects with ClosedError", async () => {
  const db = await Database.open("/db", { fs: new FaultFs(), memtableSizeBytesMax: 4096 });
  for (let i = 0; i < 2000; i++) await db.put(`k${String(i).padStart(5, "0")}`, "v");
  await db.flush();
  const it = db.scan({ prefix: "k" });
  let n = 0;
  const err = await assertRejects(async () => {
    for await (const _ of it) {
      if (++n === 10) await db.close();
    }
  }, ClosedError);
  assertEquals(err.message, "Cannot scan: database is closed");
});

Deno.test("Database.get() never answers from the row cache what the tables no longer say", async () => {
  const db = await Database.open("/db", { fs: new FaultFs(), memtableSizeBytesMax: 64 * 1024 });
  const get = async (k: string) => {
    const v = await db.get(k);
    return v === undefined ? undefined : fromBytes(v);
  };
  const readThrice = async (k: string) => {
    const seen = [await get(k), await get(k), await get(k)];
    assertEquals(new Set(seen).size, 1, `reads of ${k} agree: ${seen}`);
    return seen[0];
  };
  await db.put("k", "v1");
  await db.put("other", "o");
  await db.flush();
  assertEquals(await readThrice("k"), "v1"); // the second miss admits it, the third hits
  await db.put("k", "v2"); // the memtable answers first
  assertEquals(await readThrice("k"), "v2");
  await db.flush(); // the tables change: the cache starts over
  assertEquals(await readThrice("k"), "v2");
  await db.delete("k");
  assertEquals(await readThrice("k"), undefined);
  await db.flush();
  assertEquals(await readThrice("k"), undefined);
  // A compaction filter rewrites a value in the tables without any write.
  await db.put("r", "before");
  await db.flush();
  assertEquals(await readThrice("r"), "before");
  db.registerCompactionFilter({
    name: "rewrite",
    filter: (e) => fromBytes(e.key) === "r" ? { value: new TextEncoder().encode("after") } : "keep",
  });
  await db.compact();
  assertEquals(await readThrice("r"), "after");
  assertEquals(await readThrice("other"), "o");
  await db.close();
});

Deno.test("Database: put, delete and one-op writes store and refuse exactly as batches do, across a reopen", async () => {
  // One-op writes take a path that encodes ASCII strings and bytes straight into the WAL; the
  // rest (non-ASCII or long strings, wrong types, limits) goes through the batch path.
  const fs = new FaultFs();
  const values: [string, string | Uint8Array][] = [
    ["ascii", "21.33"],
    ["empty", ""],
    ["utf8 ключ", "значение ✓"],
    ["long", "v".repeat(5000)],
    ["bytes", new Uint8Array([0, 0x80, 0xff])],
    ["", "the empty key"],
  ];
  const open = () => Database.open("/db", { fs, syncMode: "always" });
  const bytesOf = (v: string | Uint8Array) =>
    typeof v === "string" ? new TextEncoder().encode(v) : v;
  let db = await open();
  for (const [k, v] of values) {
    await db.put(`one/${k}`, v);
    await db.write([{ type: "put", key: `w1/${k}`, value: v }]);
    // Two ops: the batch path, the reference.
    await db.write([{ type: "put", key: `two/${k}`, value: v }, {
      type: "delete",
      key: "nothing",
    }]);
  }
  await db.put(new TextEncoder().encode("bytes-key"), "v", { expireAtMs: 9_999_999_999_999 });
  await db.write([{ type: "meta", key: "m", value: "meta" }]);
  await db.put("gone", "v");
  await db.delete("gone");
  await db.write([{ type: "put", key: "gone2", value: "v" }]);
  await db.write([{ type: "delete", key: "gone2" }]);
  const check = async () => {
    for (const [k, v] of values) {
      for (const p of ["one", "w1", "two"]) assertEquals(await db.get(`${p}/${k}`), bytesOf(v));
    }
    assertEquals((await db.getEntry("bytes-key"))?.expireAtMs, 9_999_999_999_999);
    assertEquals(fromBytes((await db.get("m"))!), "meta");
    assertEquals(await db.get("gone"), undefined);
    assertEquals(await db.get("gone2"), undefined);
  };
  await check();
  const refused = async (write: () => Promise<void>) => {
    const err = await assertRejects(write);
    return `${(err as Error).name}: ${(err as Error).message}`;
  };
  // deno-lint-ignore no-explicit-any
  const bad: any[] = [
    [123, "v"],
    ["k", null],
    [new Uint8Array(KEY_SIZE_BYTES_MAX + 1), "v"],
    ["k", "v", { expireAtMs: -1 }],
  ];
  for (const [k, v, options] of bad) {
    const viaPut = await refused(() => db.put(k, v, options));
    const viaBatch = await refused(() =>
      db.write([{ type: "put", key: k, value: v, ...options }, { type: "delete", key: "x" }])
    );
    assertEquals(viaPut, viaBatch.replace(/operation \d/, "operation 0"));
  }
  const statsBefore = db.stats();
  await db.close();
  db = await open();
  await check();
  assertEquals(statsBefore.puts > 0, true);
  await db.close();
});
