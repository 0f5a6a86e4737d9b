/**
 * Leveled compaction: trivial moves for time-ordered keys, fences for several time-ordered
 * series (the next level's tables between the new keys stay), a tree written by the tiered
 * style taken over, and the per-level lookup orders of `Version`.
 */

import { assert, assertEquals } from "@std/assert";
import { Database, type DatabaseOptions } from "../../src/mod.ts";
import { FaultFs } from "../../src/fs/fault_fs.ts";
import { compareBytes, fromBytes } from "../../src/util/bytes.ts";
import { orderLevel } from "../../src/manifest/version.ts";
import type { LiveTable } from "../../src/manifest/version.ts";
import { Rng } from "../_helpers/random.ts";

const OPTIONS: DatabaseOptions = {
  memtableSizeBytesMax: 8 * 1024,
  tableSizeBytesTarget: 16 * 1024,
  levelTablesMax: 2,
  compactionStyle: "leveled",
  syncMode: "none",
};

/** Throws when two tables of a level ≥ 1 overlap. */
function assertDisjointLevels(db: Database): void {
  const levels = new Map<number, ReturnType<Database["tables"]>>();
  for (const t of db.tables()) {
    if (t.level === 0) continue;
    levels.set(t.level, [...(levels.get(t.level) ?? []), t]);
  }
  for (const [level, tables] of levels) {
    tables.sort((a, b) => compareBytes(a.smallestKey, b.smallestKey));
    for (let i = 1; i < tables.length; i++) {
      assert(
        compareBytes(tables[i - 1]!.largestKey, tables[i]!.smallestKey) < 0,
        `level ${level}: tables ${tables[i - 1]!.fileNumber} and ${tables[i]!.fileNumber} overlap`,
      );
    }
  }
}

const ts = (i: number) => String(1_700_000_000_000 + i * 1000);

Deno.test("Leveled: time-ordered keys move down without being rewritten", async () => {
  const db = await Database.open("/db", { ...OPTIONS, fs: new FaultFs() });
  try {
    for (let i = 0; i < 6000; i++) {
      await db.put(`sensor.a.${ts(i)}`, `v${i}`);
      if (i % 500 === 0) await db.idle();
    }
    await db.flush();
    await db.idle();
    const s = db.stats();
    assert(s.compactionTrivialMoves > 0, `moves: ${s.compactionTrivialMoves}`);
    assertEquals(s.compactionBytesWritten, 0);
    assert(s.tablesPerLevel.length >= 3, `levels: ${s.tablesPerLevel}`);
    assertDisjointLevels(db);
    assertEquals(fromBytes((await db.get(`sensor.a.${ts(1234)}`))!), "v1234");
  } finally {
    await db.close();
  }
});

Deno.test("Leveled: several time-ordered series leave the next level's tables between them in place", async () => {
  const db = await Database.open("/db", { ...OPTIONS, fs: new FaultFs() });
  try {
    const n = 8000;
    for (let i = 0; i < n; i++) {
      await db.put(`sensor.site${i % 4}.${ts(i)}`, `v${i}`);
      if (i % 500 === 0) {
        await db.idle();
        assertDisjointLevels(db);
      }
    }
    await db.flush();
    await db.idle();
    assertDisjointLevels(db);
    const s = db.stats();
    // Without fences every level-0 compaction would rewrite all of level 1.
    const rewrite = s.compactionBytesWritten / s.flushBytesWritten;
    assert(rewrite < 4, `compaction wrote ${rewrite.toFixed(2)}x the flushed bytes`);
    let count = 0;
    for await (const [k, v] of db.scan({ prefix: "sensor." })) {
      const i = Number(fromBytes(v).slice(1));
      assertEquals(fromBytes(k), `sensor.site${i % 4}.${ts(i)}`);
      count++;
    }
    assertEquals(count, n);
  } finally {
    await db.close();
  }
});

Deno.test("Leveled takes over a tree the tiered style wrote (overlapping runs) and keeps every value", async () => {
  const fs = new FaultFs();
  const rng = new Rng(7);
  const model = new Map<string, string>();
  let db = await Database.open("/db", { ...OPTIONS, fs, compactionStyle: "tiered" });
  for (let i = 0; i < 4000; i++) {
    const key = `k${rng.int(800)}`;
    await db.put(key, `v${i}`);
    model.set(key, `v${i}`);
  }
  await db.flush();
  await db.idle();
  await db.close();
  db = await Database.open("/db", { ...OPTIONS, fs });
  try {
    await db.put("x", "y");
    model.set("x", "y");
    await db.flush();
    await db.idle();
    assertDisjointLevels(db);
    for (const [k, v] of model) assertEquals(fromBytes((await db.get(k))!), v, k);
  } finally {
    await db.close();
  }
});

function fakeTable(n: number, lo: string, hi: string, minSeq: number, maxSeq: number): LiveTable {
  const enc = new TextEncoder();
  return {
    meta: {
      fileNumber: n,
      level: 1,
      sizeBytes: 1,
      entries: 1,
      minSeq,
      maxSeq,
      smallestKey: enc.encode(lo),
      largestKey: enc.encode(hi),
    },
    table: undefined as never,
    refs: 0,
    obsolete: false,
  };
}

Deno.test("Version orders each level by keys, by age or as mixed", () => {
  const disjoint = [fakeTable(1, "m", "p", 1, 9), fakeTable(2, "a", "c", 5, 6)];
  assertEquals(orderLevel(disjoint), "keys");
  assertEquals(disjoint.map((t) => t.meta.fileNumber), [2, 1]);
  // Runs: the newer one's sequences are all above the older one's.
  const runs = [fakeTable(1, "a", "z", 1, 10), fakeTable(2, "b", "y", 11, 20)];
  assertEquals(orderLevel(runs), "age");
  assertEquals(runs.map((t) => t.meta.fileNumber), [2, 1]);
  // Tiered runs over leveled tables: sequences interleave across overlapping tables.
  const mixed = [fakeTable(1, "a", "m", 1, 100), fakeTable(2, "b", "c", 40, 50)];
  assertEquals(orderLevel(mixed), "mixed");
});
