/**
 * A full disk heals by itself (issue 7.3), on the fault-injecting file system with a capacity:
 * writes that cannot get space are refused with DiskFullError and never seen by readers, reads
 * go on, nothing half-written stays behind, and writes are accepted again without a restart
 * once space exists — also when the database starts on a full disk. `tests/cli/disk_full_test.ts`
 * does the same with a real server on a real 8 MiB file system.
 */

import { assert, assertEquals, assertRejects } from "@std/assert";
import { Database, type DatabaseOptions, DiskFullError, IoError } from "../../src/mod.ts";
import { FaultFs } from "../../src/fs/fault_fs.ts";
import { fromBytes } from "../../src/util/bytes.ts";

/** Polls `check` every 5 ms, at most `tries` times. */
async function eventually(check: () => Promise<boolean>, what: string, tries = 2000) {
  for (let i = 0; i < tries; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`Condition never held: ${what}`);
}

function leftovers(fs: FaultFs): string[] {
  return [...fs.readDir("/db"), ...fs.readDir("/db/wal").map((n) => `wal/${n}`)]
    .filter((n) => n.endsWith(".tmp"));
}

function options(fs: FaultFs, lines: string[], extra: DatabaseOptions = {}): DatabaseOptions {
  return {
    fs,
    walSegmentSizeBytes: 16 * 1024,
    memtableSizeBytesMax: 1 << 20,
    diskFullRetryMs: 5,
    logger: (level, message) => lines.push(`${level} ${message}`),
    ...extra,
  };
}

const value = (i: number) => `value-${i}-${"x".repeat(150)}`;

Deno.test("Disk full: writes the WAL cannot hold are refused unapplied, and accepted again once space is freed", async () => {
  const fs = new FaultFs();
  const lines: string[] = [];
  const db = await Database.open("/db", options(fs, lines));
  // Room for a few kilobytes more: the next 16 KiB segment cannot be preallocated.
  fs.capacityBytes = fs.usedBytes + 8 * 1024;
  const acked: number[] = [];
  const refused: number[] = [];
  for (let i = 0; i < 500 && refused.length < 20; i++) {
    try {
      await db.put(`k${i}`, value(i));
      acked.push(i);
    } catch (err) {
      if (!(err instanceof DiskFullError)) throw err;
      assert(err.message.startsWith("disk full: "), err.message);
      refused.push(i);
      // Never visible, not even for a moment: it was refused before it was applied.
      assertEquals(await db.get(`k${i}`), undefined, `refused k${i} is readable`);
    }
  }
  assert(acked.length > 10 && refused.length === 20, `${acked.length} acked, ${refused.length}`);
  assert(db.stats().diskFull?.startsWith("disk full: "), "stats say why");
  assertEquals(db.stats().fatalError, undefined, "not fatal");
  assertEquals(leftovers(fs), [], "no temp file left");
  assertEquals(lines.filter((l) => l.includes("refusing writes")).length, 1);
  for (const i of acked) assertEquals(fromBytes((await db.get(`k${i}`))!), value(i));
  // Space is freed: writes are accepted again by themselves, without a restart.
  fs.capacityBytes = undefined;
  await eventually(() => db.put("after", "x").then(() => true, () => false), "writes resume");
  assert(lines.some((l) => l.includes("disk space available again")), lines.join("\n"));
  assertEquals(db.stats().diskFull, undefined);
  await db.close();
  fs.powerLoss();
  const again = await Database.open("/db", options(fs, []));
  for (const i of acked) assertEquals(fromBytes((await again.get(`k${i}`))!), value(i));
  for (const i of refused) assertEquals(await again.get(`k${i}`), undefined);
  assertEquals(fromBytes((await again.get("after"))!), "x");
  await again.close();
});

Deno.test("Disk full: a database that starts on a full disk serves reads, refuses writes with one log line, and heals", async () => {
  const fs = new FaultFs();
  const first = await Database.open("/db", options(fs, []));
  for (let i = 0; i < 100; i++) await first.put(`k${i}`, value(i));
  await first.close();
  fs.capacityBytes = fs.usedBytes + 1024; // no room for a 16 KiB segment
  const lines: string[] = [];
  const db = await Database.open("/db", options(fs, lines));
  assertEquals(fromBytes((await db.get("k42"))!), value(42));
  await assertRejects(
    () => db.put("new", "x"),
    DiskFullError,
    "disk full: cannot create WAL segment",
  );
  await assertRejects(() => db.write([{ type: "delete", key: "k1" }]), DiskFullError);
  assertEquals(fromBytes((await db.get("k1"))!), value(1));
  assertEquals(lines.filter((l) => l.includes("refusing writes")).length, 1, lines.join("\n"));
  assertEquals(leftovers(fs), [], "the failed preallocation left no .wal.tmp");
  fs.capacityBytes = undefined;
  await eventually(() => db.put("new", "x").then(() => true, () => false), "writes resume");
  await db.close();
  const again = await Database.open("/db", options(fs, []));
  assertEquals(fromBytes((await again.get("new"))!), "x");
  assertEquals(again.lastSeq, 101);
  await again.close();
});

Deno.test("Disk full: a memtable flush that runs out of space keeps its data, leaves nothing behind, and is retried", async () => {
  const fs = new FaultFs();
  const lines: string[] = [];
  const db = await Database.open(
    "/db",
    options(fs, lines, { walSegmentSizeBytes: 256 * 1024, memtableSizeBytesMax: 4096 }),
  );
  fs.capacityBytes = fs.usedBytes + 1024;
  const acked: number[] = [];
  let refused = 0;
  for (let i = 0; i < 400 && refused < 5; i++) {
    try {
      await db.put(`k${i}`, value(i));
      acked.push(i);
    } catch (err) {
      assert(err instanceof DiskFullError, String(err));
      refused++;
    }
  }
  assert(refused === 5, "writes were refused once the flush failed");
  assert(lines.some((l) => l.includes("refusing writes")), lines.join("\n"));
  // Nothing half-written stays: no temp file, no table the manifest does not list.
  const tables = db.stats().tablesPerLevel.reduce((a, b) => a + b, 0);
  assertEquals(fs.readDir("/db").filter((n) => n.endsWith(".sst")).length, tables);
  assertEquals(leftovers(fs), []);
  for (const i of acked) assertEquals(fromBytes((await db.get(`k${i}`))!), value(i));
  await assertRejects(() => db.flush(), DiskFullError);
  fs.capacityBytes = undefined;
  await eventually(() => db.put("after", "x").then(() => true, () => false), "writes resume");
  await db.flush();
  assert(db.stats().tablesPerLevel.reduce((a, b) => a + b, 0) > tables, "the flush ran");
  await db.close();
  const again = await Database.open("/db", options(fs, []));
  for (const i of acked) assertEquals(fromBytes((await again.get(`k${i}`))!), value(i));
  await again.close();
});

Deno.test("Disk full: a compaction out of space fails alone; writes go on; a failed fsync stays fatal", async () => {
  const fs = new FaultFs();
  const db = await Database.open("/db", options(fs, [], { memtableSizeBytesMax: 4096 }));
  for (let i = 0; i < 200; i++) await db.put(`k${i}`, value(i));
  await db.flush();
  await db.idle();
  fs.capacityBytes = fs.usedBytes + 2048;
  await assertRejects(() => db.compact(), DiskFullError, "cannot compact");
  assertEquals(fs.readDir("/db").filter((n) => n.endsWith(".tmp")), []);
  assertEquals(db.stats().fatalError, undefined);
  await db.put("still", "writable");
  fs.capacityBytes = undefined;
  await db.compact();
  // ENOSPC is not a lost fsync; a failed fsync is, and stays fatal.
  fs.failAfter({ sync: 1 });
  await assertRejects(() => db.put("x", "y"), IoError);
  await assertRejects(() => db.put("z", "y"), IoError, "fatal");
  fs.heal();
  await db.close();
});
