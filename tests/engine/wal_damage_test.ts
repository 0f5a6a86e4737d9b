/**
 * WAL damage is never mistaken for a torn tail (issue 7.2): a flipped byte in records that
 * were acknowledged, with valid records after it, fails `Database.open` with a
 * `CorruptionError` naming the file and the offset, instead of silently cutting every record
 * after it. Damage wholly at or below the flushed sequence does not stop the open.
 */

import { assert, assertEquals, assertRejects } from "@std/assert";
import { CorruptionError, Database, type DatabaseOptions } from "../../src/mod.ts";
import { RealFs } from "../../src/fs/mod.ts";
import { fromBytes } from "../../src/util/bytes.ts";
import { readSegmentRecords, type WalRecord } from "../../src/wal/mod.ts";
import { Rng, seedFromEnv } from "../_helpers/random.ts";

/** The workload: 20,000 acknowledged SETs. */
const WRITES = 20_000;
/** The issue flipped one byte in the WAL's last 4 MiB. */
const LAST_BYTES = 4 * 1024 * 1024;

function valueOf(i: number): string {
  return `value-${i}-${"x".repeat(i % 40)}`;
}

/** Writes `WRITES` SETs, 200 in flight at a time (group commits of many records). */
async function writeAll(dir: string, options: DatabaseOptions): Promise<void> {
  const db = await Database.open(dir, options);
  for (let i = 0; i < WRITES; i += 200) {
    const pending: Promise<void>[] = [];
    for (let j = i; j < i + 200; j++) pending.push(db.put(`key-${j}`, valueOf(j)));
    await Promise.all(pending);
  }
  await db.close();
}

function walFiles(dir: string): string[] {
  return [...Deno.readDirSync(`${dir}/wal`)].map((e) => e.name).filter((n) => n.endsWith(".wal"))
    .sort().map((n) => `${dir}/wal/${n}`);
}

/** The record of `records` holding byte `at`. */
function recordAt(records: WalRecord[], at: number): WalRecord {
  const r = records.find((r) => r.offset <= at && at < r.endOffset);
  if (r === undefined) throw new Error(`no record holds offset ${at}`);
  return r;
}

Deno.test(`WAL damage: a flipped byte in the last 4 MiB of ${WRITES} acknowledged SETs fails open with CorruptionError naming file and offset`, async () => {
  const dir = await Deno.makeTempDir({ prefix: "cityhall-wal-damage-" });
  // A memtable large enough that nothing is flushed: every write lives only in the WAL.
  const options: DatabaseOptions = { memtableSizeBytesMax: 64 << 20 };
  try {
    await writeAll(dir, options);
    const files = walFiles(dir);
    const path = files.at(-1)!;
    const records = [...readSegmentRecords(new RealFs(), path)];
    const dataEnd = records.at(-1)!.endOffset;
    const original = await Deno.readFile(path);
    const seed = seedFromEnv();
    const rng = new Rng(seed);
    // The last record, the first one, and random bytes of the last 4 MiB of data.
    const lastStart = Math.max(records[0]!.offset, dataEnd - LAST_BYTES);
    const targets = [dataEnd - 1, records[0]!.offset + 3];
    for (let i = 0; i < 12; i++) targets.push(lastStart + rng.int(dataEnd - lastStart));
    for (const at of targets) {
      const bad = original.slice();
      bad[at] = bad[at]! ^ (1 << rng.int(8));
      await Deno.writeFile(path, bad);
      const record = recordAt(records, at);
      const name = path.slice(path.lastIndexOf("/") + 1);
      const err = await assertRejects(
        () => Database.open(dir, options),
        CorruptionError,
        undefined,
        `CITYHALL_SEED=${seed}: flip at ${at} (record at ${record.offset}) was not detected`,
      );
      assert(err.message.includes(name), err.message);
      assert(err.message.includes(`offset ${record.offset}`), `${err.message} (flip at ${at})`);
      // Nothing was cut: the file is as the flip left it.
      assertEquals(await Deno.readFile(path), bad, "open changed the damaged file");
    }
    await Deno.writeFile(path, original);
    const db = await Database.open(dir, options);
    for (let i = 0; i < WRITES; i += 997) {
      assertEquals(fromBytes((await db.get(`key-${i}`))!), valueOf(i));
    }
    assertEquals(db.lastSeq, WRITES);
    await db.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("WAL damage wholly at or below the flushed sequence does not stop the open", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cityhall-wal-damage-" });
  const options: DatabaseOptions = { memtableSizeBytesMax: 64 << 20 };
  try {
    await writeAll(dir, options);
    const path = walFiles(dir).at(-1)!;
    const records = [...readSegmentRecords(new RealFs(), path)];
    const saved = await Deno.readFile(path);
    {
      // Flush (every record is now in a table) and write 100 more into a newer segment.
      const db = await Database.open(dir, options);
      await db.flush();
      for (let i = 0; i < 100; i++) await db.put(`more-${i}`, "v");
      await db.close();
    }
    // The old segment (kept for MANIFEST.prev or a replica, or restored from a backup) has a
    // flipped byte: every record in it is at or below the flushed sequence.
    saved[records[100]!.offset + 20]! ^= 0x08;
    await Deno.writeFile(path, saved);
    const db = await Database.open(dir, options);
    assertEquals(db.lastSeq, WRITES + 100);
    assertEquals(fromBytes((await db.get("key-100"))!), valueOf(100));
    assertEquals(fromBytes((await db.get("more-99"))!), "v");
    await db.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("WAL damage: recoverWalPastDamage keeps every write before it, loses the rest, forks a new history and never reuses a sequence", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cityhall-wal-fork-" });
  const options: DatabaseOptions = { memtableSizeBytesMax: 64 << 20 };
  try {
    await writeAll(dir, options);
    const path = walFiles(dir).at(-1)!;
    const records = [...readSegmentRecords(new RealFs(), path)];
    const bad = records[Math.floor(records.length * 0.6)]!;
    const bytes = await Deno.readFile(path);
    bytes[bad.offset + 20]! ^= 0x01;
    await Deno.writeFile(path, bytes);
    await assertRejects(() => Database.open(dir, options), CorruptionError);
    const lines: [string, Record<string, unknown> | undefined][] = [];
    const forked = await Database.open(dir, {
      ...options,
      recoverWalPastDamage: true,
      logger: (_level, message, fields) => lines.push([message, fields]),
    });
    await forked.close();
    const line = lines.find(([m]) => m.startsWith("recovered past WAL damage"));
    if (line === undefined) throw new Error(lines.map(([m]) => m).join("; "));
    assertEquals(line[1]?.offset, bad.offset);
    assertEquals(line[1]?.lostSeqs, `${bad.seq}..${WRITES}`);
    assertEquals(line[1]?.nextSeq, WRITES + 1);
    // Opened again without the flag: the damage is gone from the WAL, the fork is durable.
    const db = await Database.open(dir, options);
    try {
      const keptSeq = bad.seq - 1;
      // Put i got sequence i + 1.
      assertEquals(fromBytes((await db.get(`key-${keptSeq - 1}`))!), valueOf(keptSeq - 1));
      assertEquals(await db.get(`key-${keptSeq}`), undefined, "the damaged write is gone");
      assertEquals(await db.get(`key-${WRITES - 1}`), undefined, "writes after it are gone");
      // The old history reached sequence 20,000: the new one continues after it.
      assertEquals(db.lastSeq, WRITES);
      await db.put("after-fork", "x");
      assertEquals(db.getEntry("after-fork")?.seq, WRITES + 1);
      const history = db.history;
      assertEquals(history.ancestors.length, 1);
      assertEquals(history.ancestors[0]!.forkSeq, keptSeq);
      assertEquals(history.ancestors[0]!.historyId, db.databaseId);
      assert(history.historyId.some((b, i) => b !== db.databaseId[i]), "a new history id");
      const hexId = [...history.historyId].map((b) => b.toString(16).padStart(2, "0")).join("");
      const moved = [...Deno.readDirSync(`${dir}/wal-damaged/${hexId}`)].map((e) => e.name);
      assertEquals(moved, [path.slice(path.lastIndexOf("/") + 1)]);
    } finally {
      await db.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
