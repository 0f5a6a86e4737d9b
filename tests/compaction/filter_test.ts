/**
 * Compaction filters: a registered function keeps, drops or rewrites each live entry a
 * compaction writes; TTL expiry runs on the same mechanism; a filter that throws fails that
 * compaction alone and leaves the old tables in place; `compactRange` compacts only the tables
 * a key range touches.
 */

import { assert, assertEquals, assertRejects, assertThrows } from "@std/assert";
import { CompactionFilterError, Database, type DatabaseOptions } from "../../src/mod.ts";
import { FaultFs } from "../../src/fs/fault_fs.ts";
import { fromBytes, toBytes } from "../../src/util/bytes.ts";
import type { Logger } from "../../src/util/log.ts";

const STYLES = ["tiered", "leveled"] as const;

function options(style: (typeof STYLES)[number], extra: DatabaseOptions = {}): DatabaseOptions {
  return {
    fs: new FaultFs(),
    memtableSizeBytesMax: 4096,
    compactionStyle: style,
    autoCompaction: false,
    ...extra,
  };
}

async function all(db: Database): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for await (const [k, v] of db.scan({})) out[fromBytes(k)] = fromBytes(v);
  return out;
}

function hasPrefix(key: Uint8Array, prefix: string): boolean {
  return fromBytes(key).startsWith(prefix);
}

for (const style of STYLES) {
  Deno.test(`Compaction filter (${style}): keeps, drops and rewrites the newest version of each key`, async () => {
    const db = await Database.open("/db", options(style));
    try {
      // Older versions in their own table, below the ones the filter sees.
      await db.put("tmp:1", "old");
      await db.put("keep:1", "k");
      await db.flush();
      await db.put("tmp:1", "new");
      await db.put("tmp:2", "x");
      await db.put("up:1", "lower");
      await db.flush();
      const seen: string[] = [];
      const off = db.registerCompactionFilter({
        name: "test",
        filter(entry, context) {
          seen.push(fromBytes(entry.key));
          assert(context.nowMs > 0);
          if (hasPrefix(entry.key, "tmp:")) return "drop";
          if (hasPrefix(entry.key, "up:")) {
            return { value: toBytes(fromBytes(entry.value).toUpperCase()) };
          }
          return "keep";
        },
      });
      // Nothing changes before a compaction.
      assertEquals((await all(db))["tmp:1"], "new");
      await db.compact();
      assertEquals(await all(db), { "keep:1": "k", "up:1": "LOWER" });
      // The filter saw each key once: the newest version only.
      assertEquals(seen.sort(), ["keep:1", "tmp:1", "tmp:2", "up:1"]);
      off();
      await db.put("tmp:3", "stays");
      await db.compact();
      assertEquals((await all(db))["tmp:3"], "stays");
      // A reopen reads what the compaction wrote.
      await db.close();
    } finally {
      await db.close();
    }
  });

  Deno.test(`Compaction filter (${style}): one that throws fails the compaction, leaves the tables, is logged and counted`, async () => {
    const lines: { level: string; message: string; fields: Record<string, unknown> }[] = [];
    const logger: Logger = (level, message, fields = {}) => lines.push({ level, message, fields });
    const opts = options(style, { logger });
    let db = await Database.open("/db", opts);
    try {
      for (let i = 0; i < 50; i++) await db.put(`k${i}`, `v${i}`);
      await db.flush();
      for (let i = 0; i < 50; i += 2) await db.delete(`k${i}`);
      await db.flush();
      const before = db.tables().map((t) => t.fileNumber).sort();
      const off = db.registerCompactionFilter({
        name: "broken",
        filter(entry) {
          if (fromBytes(entry.key) === "k31") throw new Error("boom");
          return "keep";
        },
      });
      const err = await assertRejects(() => db.compact(), CompactionFilterError);
      assertEquals(err.filterName, "broken");
      assert(err.message.includes("boom"), err.message);
      // Old tables in place, no new file, every value readable, writes still accepted.
      assertEquals(db.tables().map((t) => t.fileNumber).sort(), before);
      const live = await all(db);
      assertEquals(Object.keys(live).length, 25);
      assertEquals(db.stats().compactionFilterErrors, 1);
      assert(lines.some((l) => l.level === "error" && l.fields.filter === "broken"));
      await db.put("after", "1");
      // Automatic compaction fails the same way without stopping the database.
      off();
      db.registerCompactionFilter({
        name: "broken2",
        filter() {
          throw new Error("always");
        },
      });
      await assertRejects(() => db.compact(), CompactionFilterError);
      assertEquals(db.stats().compactionFilterErrors, 2);
      assertEquals(db.stats().fatalError, undefined);
      assertEquals((await db.get("after")) !== undefined, true);
      // Nothing half applied shows after a reopen either.
      await db.close();
      db = await Database.open("/db", opts);
      assertEquals(Object.keys(await all(db)).length, 26);
      const after = new Set(db.tables().map((t) => t.fileNumber));
      assert(before.every((n) => after.has(n)));
    } finally {
      await db.close();
    }
  });

  Deno.test(`Compaction filter (${style}): TTL expiry is the built-in filter`, async () => {
    let now = 1_000_000;
    const db = await Database.open("/db", options(style, { nowMs: () => now }));
    try {
      for (let i = 0; i < 20; i++) {
        await db.put(`e${i}`, "v", { expireAtMs: now + 1000 });
        await db.put(`p${i}`, "v");
      }
      await db.flush();
      now += 2000;
      const context: string[] = [];
      db.registerCompactionFilter({
        name: "watch",
        filter(entry) {
          context.push(fromBytes(entry.key));
          return "keep";
        },
      });
      await db.compact();
      // Expired entries were dropped by TTL before later filters saw them.
      assert(context.every((k) => k.startsWith("p")), context.join(","));
      assertEquals(db.stats().sstableEntries, 20);
    } finally {
      await db.close();
    }
  });

  Deno.test(`Database.compactRange() (${style}) compacts only the tables the range touches`, async () => {
    let dropping = false;
    const db = await Database.open("/db", options(style));
    try {
      db.registerCompactionFilter({
        name: "drop-b",
        filter: (entry) => dropping && hasPrefix(entry.key, "b") ? "drop" : "keep",
      });
      for (const p of ["a", "b", "c"]) {
        for (let i = 0; i < 10; i++) await db.put(`${p}${i}`, "v");
        await db.flush();
      }
      const tableOf = (prefix: string) =>
        db.tables().find((t) => fromBytes(t.smallestKey).startsWith(prefix))!.fileNumber;
      const a = tableOf("a");
      const c = tableOf("c");
      dropping = true;
      await db.compactRange("b", "b\xff");
      const keys = Object.keys(await all(db));
      assertEquals(keys.filter((k) => k.startsWith("b")), []);
      assertEquals(keys.length, 20);
      // The other tables were not rewritten.
      assertEquals(tableOf("a"), a);
      assertEquals(tableOf("c"), c);
      await assertRejects(() => db.compactRange("z", "a"), Error, "start is after end");
    } finally {
      await db.close();
    }
  });
}

Deno.test("Compaction filter: a drop while an older table holds the key writes a tombstone (no resurrection)", async () => {
  const db = await Database.open(
    "/db",
    options("tiered", { autoCompaction: true, levelTablesMax: 2 }),
  );
  try {
    await db.put("tmp:1", "old");
    await db.flush();
    await db.put("x", "1");
    await db.flush();
    await db.idle();
    // Level 0 was merged into level 1, which now holds tmp:1 = old.
    assertEquals(db.stats().tablesPerLevel[0], 0);
    db.registerCompactionFilter({
      name: "drop-tmp",
      filter: (entry) => hasPrefix(entry.key, "tmp:") ? "drop" : "keep",
    });
    await db.put("tmp:1", "new");
    await db.flush();
    await db.put("y", "1");
    await db.flush();
    await db.idle();
    assert(db.stats().compactions >= 2);
    // Level 0 went into a new run of level 1 without the old one: the drop is a tombstone.
    assertEquals(await db.get("tmp:1"), undefined);
    assertEquals(Object.keys(await all(db)), ["x", "y"]);
  } finally {
    await db.close();
  }
});

Deno.test("Compaction filter: a rewrite with an invalid expiry fails the compaction like a throw", async () => {
  const db = await Database.open("/db", options("leveled"));
  try {
    await db.put("a", "1");
    await db.flush();
    db.registerCompactionFilter({
      name: "bad-expiry",
      filter: (entry) => ({ value: entry.value, expireAtMs: -5 }),
    });
    const err = await assertRejects(() => db.compact(), CompactionFilterError);
    assert(err.message.includes("invalid expiry -5"), err.message);
    assertEquals(fromBytes((await db.get("a"))!), "1");
  } finally {
    await db.close();
  }
});

Deno.test("registerCompactionFilter() refuses a second filter of the same name", async () => {
  const db = await Database.open("/db", options("tiered"));
  try {
    db.registerCompactionFilter({ name: "x", filter: () => "keep" });
    assertThrows(
      () => db.registerCompactionFilter({ name: "x", filter: () => "keep" }),
      Error,
      "already registered",
    );
    assertThrows(
      () => db.registerCompactionFilter({ name: "ttl", filter: () => "keep" }),
      Error,
      "already registered",
    );
  } finally {
    await db.close();
  }
});
