/**
 * The previous manifest copy (ARCHITECTURE.md § "Manifest"): a damaged `MANIFEST` opens from
 * `MANIFEST.prev` with every acknowledged write, whether the last manifest write was a flush
 * (the WAL must still hold what came after the previous copy's flushedSeq) or a compaction
 * (the tables the previous copy lists must still exist); a crash at every step of a manifest
 * write leaves a directory that opens, even with `MANIFEST` damaged afterwards; and when the
 * previous copy cannot serve, open refuses with a CorruptionError naming both files.
 */

import { assert, assertEquals, assertRejects } from "@std/assert";
import { CorruptionError, Database, type DatabaseOptions } from "../../src/mod.ts";
import { readWholeFile } from "../../src/fs/mod.ts";
import { FaultFs } from "../../src/fs/fault_fs.ts";
import { decodeManifest, tableFileName } from "../../src/manifest/mod.ts";
import { fromBytes } from "../../src/util/bytes.ts";
import type { LogLevel } from "../../src/util/log.ts";

type Scenario = "flush" | "compaction";

/** What each key should hold: a value, or undefined when deleted. */
type Model = Map<string, string | undefined>;

function options(fs: FaultFs, scenario: Scenario, logs?: string[]): DatabaseOptions {
  return {
    fs,
    memtableSizeBytesMax: 1 << 20,
    walSegmentSizeBytes: 4096,
    blockSizeBytes: 256,
    levelTablesMax: 2,
    autoCompaction: scenario === "compaction",
    logger: (level: LogLevel, message: string) => logs?.push(`${level} ${message}`),
  };
}

async function writeRound(db: Database, model: Model, round: number): Promise<void> {
  for (let i = 0; i < 60; i++) {
    const key = `key-${String((i * 7 + round * 13) % 150).padStart(3, "0")}`;
    if (i % 11 === 10) {
      await db.delete(key);
      model.set(key, undefined);
    } else {
      const value = `${key}:r${round}:${"v".repeat(i % 40)}`;
      await db.put(key, value);
      model.set(key, value);
    }
  }
}

/**
 * Builds /db so that its last manifest write was a flush (`MANIFEST.prev` has a lower
 * flushedSeq) or a compaction (`MANIFEST.prev` lists the compaction's inputs), then writes a
 * round that stays in the WAL only, and closes.
 */
async function build(fs: FaultFs, scenario: Scenario, model: Model): Promise<void> {
  const db = await Database.open("/db", options(fs, scenario));
  for (let round = 0; round < 4; round++) {
    await writeRound(db, model, round);
    await db.flush();
    await db.idle();
  }
  await writeRound(db, model, 4);
  await db.close();
}

async function check(db: Database, model: Model, what: string): Promise<void> {
  for (const [key, value] of model) {
    const got = await db.get(key);
    assertEquals(got === undefined ? undefined : fromBytes(got), value, `${what}: ${key}`);
  }
  let n = 0;
  for await (const [k] of db.scan({})) {
    assert(model.get(fromBytes(k)) !== undefined, `${what}: ${fromBytes(k)} should be gone`);
    n++;
  }
  assertEquals(n, [...model.values()].filter((v) => v !== undefined).length, what);
}

function flipByte(fs: FaultFs, path: string, at: number): void {
  const bytes = readWholeFile(fs, path);
  const offset = at < 0 ? bytes.length + at : at;
  bytes[offset] = bytes[offset]! ^ 0x20;
  const file = fs.open(path, { write: true });
  file.writeAt(bytes, 0);
  file.sync();
  file.close();
}

/** Offsets in every part of the file: magic, version, length, checksum, payload, last byte. */
const OFFSETS = [0, 7, 8, 12, 15, 16, 19, 20, 35, 37, 40, -1];

for (const scenario of ["flush", "compaction"] as const) {
  Deno.test(`Database.open() opens from MANIFEST.prev when MANIFEST is damaged anywhere (last write: ${scenario})`, async () => {
    for (const at of OFFSETS) {
      const fs = new FaultFs();
      const model: Model = new Map();
      await build(fs, scenario, model);
      const current = readWholeFile(fs, "/db/MANIFEST");
      const state = decodeManifest(current);
      const previous = decodeManifest(readWholeFile(fs, "/db/MANIFEST.prev"));
      if (scenario === "flush") assert(previous.flushedSeq < state.flushedSeq, "flush last");
      else assert(previous.tables.length > state.tables.length, "compaction last");
      flipByte(fs, "/db/MANIFEST", at);
      const logs: string[] = [];
      const db = await Database.open("/db", options(fs, scenario, logs));
      await check(db, model, `${scenario}, offset ${at}`);
      assert(logs.some((l) => l.startsWith("warn MANIFEST is unusable")), logs.join("\n"));
      // New writes after the repair survive another reopen.
      await writeRound(db, model, 5);
      await db.flush();
      await db.close();
      assertEquals(readWholeFile(fs, "/db/MANIFEST.damaged").length, current.length);
      const again = await Database.open("/db", options(fs, scenario));
      await check(again, model, `${scenario}, offset ${at}, reopened`);
      await again.close();
    }
  });
}

Deno.test("Database.open() refuses MANIFEST.prev when a table it lists is gone, naming both files", async () => {
  const fs = new FaultFs();
  await build(fs, "compaction", new Map());
  // The compaction's inputs are listed only by the previous copy; remove one of them.
  const current = decodeManifest(readWholeFile(fs, "/db/MANIFEST"));
  const previous = decodeManifest(readWholeFile(fs, "/db/MANIFEST.prev"));
  const live = new Set(current.tables.map((t) => t.fileNumber));
  const retired = previous.tables.filter((t) => !live.has(t.fileNumber));
  assert(retired.length > 0, "the previous copy lists the compaction's inputs");
  const name = tableFileName(retired[0]!.fileNumber);
  assert(fs.stat(`/db/${name}`) !== undefined, `${name} is kept for the previous copy`);
  fs.remove(`/db/${name}`);
  flipByte(fs, "/db/MANIFEST", 16);
  const err = await assertRejects(
    () => Database.open("/db", options(fs, "compaction")),
    CorruptionError,
  );
  assert(err.message.includes("MANIFEST is unusable"), err.message);
  assert(err.message.includes("MANIFEST.prev cannot replace it"), err.message);
  assert(err.message.includes(name), err.message);
});

Deno.test("Database.open() refuses MANIFEST.prev when the WAL no longer holds what came after it", async () => {
  const fs = new FaultFs();
  await build(fs, "flush", new Map());
  for (const name of fs.readDir("/db/wal")) fs.remove(`/db/wal/${name}`);
  fs.syncDir("/db/wal");
  flipByte(fs, "/db/MANIFEST", 25);
  const err = await assertRejects(
    () => Database.open("/db", options(fs, "flush")),
    CorruptionError,
  );
  assert(err.message.includes("MANIFEST.prev cannot replace it"), err.message);
});

Deno.test("Database.open() refuses a directory with tables but no manifest copy", async () => {
  const fs = new FaultFs();
  await build(fs, "flush", new Map());
  fs.remove("/db/MANIFEST");
  fs.remove("/db/MANIFEST.prev");
  const err = await assertRejects(
    () => Database.open("/db", options(fs, "flush")),
    CorruptionError,
  );
  assert(err.message.includes("are missing"), err.message);
  // Nothing was deleted or created.
  assert(fs.readDir("/db").some((n) => n.endsWith(".sst")));
  assertEquals(fs.stat("/db/MANIFEST"), undefined);
});

/** Two rounds, each flushed; the second flush fills level 0 and starts a compaction. */
async function flushTwice(db: Database, model: Model): Promise<void> {
  for (const round of [9, 10]) {
    // writeRound records a write in the model only once it is acknowledged.
    await writeRound(db, model, round);
    await db.flush();
    await db.idle();
  }
}

/**
 * Power loss after the k-th sync (or rename) of a flush and the compaction it starts, then
 * open: every acknowledged write is there. Then the same crash with `MANIFEST` damaged after
 * it: the previous copy serves, with every acknowledged write.
 */
for (const kind of ["sync", "rename"] as const) {
  Deno.test(`Database survives power loss at every ${kind} of a manifest write, with or without MANIFEST damaged after it`, async () => {
    // How many calls a fault-free flush and compaction make: the fault points to try.
    const probe = new FaultFs();
    await build(probe, "compaction", new Map());
    const db0 = await Database.open("/db", options(probe, "compaction"));
    const before = probe.calls[kind];
    await flushTwice(db0, new Map());
    const points = probe.calls[kind] - before;
    await db0.close();
    // Two flushes and a compaction: three manifest writes of 4 syncs and 2 renames each.
    assert(points >= (kind === "sync" ? 16 : 6), `${kind} calls: ${points}`);
    for (const damage of [false, true]) {
      for (let k = 1; k <= points; k++) {
        const fs = new FaultFs();
        const model: Model = new Map();
        await build(fs, "compaction", model);
        const db = await Database.open("/db", options(fs, "compaction"));
        fs.failAfter({ [kind]: k });
        await flushTwice(db, model).catch(() => {});
        fs.heal();
        fs.powerLoss();
        if (damage) flipByte(fs, "/db/MANIFEST", 18);
        const reopened = await Database.open("/db", options(fs, "compaction"));
        await check(reopened, model, `${kind} ${k} of ${points}, damaged ${damage}`);
        await reopened.close();
      }
    }
  });
}
