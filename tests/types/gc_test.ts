/**
 * Garbage of the member types on a real server: DEL of a 100,000-field hash writes one
 * tombstone, the sweep marks the dead version with one more write, and compaction (the
 * `types-members` filter) removes the members from disk; a live key of the same name keeps its
 * members; a filter that throws fails that compaction only.
 */
import { assertEquals, assertRejects } from "@std/assert";
import { closeRedis, connectRedis, startTestServer } from "../server/_helpers.ts";
import type { Database } from "../../src/mod.ts";
import { CompactionFilterError } from "../../src/compaction/filter.ts";
import { MEMBER_FILTER_NAME, TypeGarbageCollector } from "../../src/types/gc.ts";

/** Member entries readable in spaces 0x21…0x25. */
function memberEntries(db: Database): number {
  return db.readRange({ start: new Uint8Array([0xff, 0x21]), end: new Uint8Array([0xff, 0x26]) }, {
    limit: 10_000_000,
  }).length;
}

/** Entries in every table on disk (live, overwritten and tombstones alike). */
function entriesOnDisk(db: Database): number {
  return db.tables().reduce((n, t) => n + t.entries, 0);
}

Deno.test("DEL of a 100k-field hash is one write and compaction removes its fields", async () => {
  const t = await startTestServer();
  const r = await connectRedis(t.port, { protocol: 2 });
  try {
    const n = 100_000;
    for (let i = 0; i < n; i += 5000) {
      const args: string[] = [];
      for (let j = i; j < i + 5000; j++) args.push(`f${j}`, `v${j}`);
      await r.hset("big", ...args);
    }
    await r.hset("other", "a", "1");
    await t.db.flush();
    assertEquals(entriesOnDisk(t.db) >= n, true);
    // O(1): DEL writes one entry, whatever the key's size.
    const beforeDel = t.db.lastSeq;
    assertEquals(await r.del("big"), 1);
    assertEquals(t.db.lastSeq - beforeDel, 1);
    // The sweep marks the version dead with one batch of two entries (no member tombstones).
    const beforeSweep = t.db.lastSeq;
    await new TypeGarbageCollector(t.db, () => {}).sweepAll();
    assertEquals(t.db.lastSeq - beforeSweep, 2);
    assertEquals(memberEntries(t.db), n + 1);
    await t.db.compactRange();
    // Only the live hash's field is left, on disk too.
    assertEquals(memberEntries(t.db), 1);
    assertEquals(entriesOnDisk(t.db) < 100, true, `${entriesOnDisk(t.db)} entries on disk`);
    assertEquals(await r.hgetall("other"), { a: "1" });
    assertEquals(await r.exists("big"), 0);
    // The next pass finds the members gone and deletes the marker.
    await new TypeGarbageCollector(t.db, () => {}).sweepAll();
    assertEquals(
      t.db.readRange({ start: new Uint8Array([0xff, 0x26]), end: new Uint8Array([0xff, 0x27]) }, {
        limit: 10,
      }).length,
      0,
    );
  } finally {
    await closeRedis(r);
    await t.close();
  }
});

Deno.test("members of a key that was only overwritten stay until the sweep marks them", async () => {
  const t = await startTestServer();
  const r = await connectRedis(t.port, { protocol: 2 });
  try {
    await r.sadd("s", "a", "b", "c");
    await r.set("s", "now a string");
    // No marker yet: compaction keeps the dead members (nothing proved them dead durably).
    await t.db.compactRange();
    assertEquals(memberEntries(t.db), 3);
    await new TypeGarbageCollector(t.db, () => {}).sweepAll();
    await t.db.compactRange();
    assertEquals(memberEntries(t.db), 0);
    assertEquals(await r.get("s"), "now a string");
  } finally {
    await closeRedis(r);
    await t.close();
  }
});

Deno.test("a member filter that throws fails that compaction only", async () => {
  const t = await startTestServer();
  const r = await connectRedis(t.port, { protocol: 2 });
  try {
    await r.hset("h", "a", "1");
    await r.sadd("gone", "x");
    await r.del("gone");
    await new TypeGarbageCollector(t.db, () => {}).sweepAll();
    // A member key too short to hold a version: the filter throws on it.
    const bad = new Uint8Array([0xff, 0x21, 0, 0, 1]);
    await t.db.put(bad, new Uint8Array([1]));
    const err = await assertRejects(() => t.db.compactRange(), CompactionFilterError);
    assertEquals(err.filterName, MEMBER_FILTER_NAME);
    // Nothing was half applied; the server reads and writes on.
    assertEquals(memberEntries(t.db), 3);
    assertEquals(await r.hset("h", "b", "2"), 1);
    assertEquals(await r.hgetall("h"), { a: "1", b: "2" });
    // Without the bad key, the next compaction runs and drops the dead member.
    await t.db.delete(bad);
    await t.db.compactRange();
    assertEquals(memberEntries(t.db), 2);
  } finally {
    await closeRedis(r);
    await t.close();
  }
});
