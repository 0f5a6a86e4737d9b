/**
 * One damaged part at a time — a data block, the index, bloom and properties blocks, the
 * footer, the manifest, a WAL record — in a database whose keys each live in one place:
 * the default open still refuses (or, for a data block, SCAN fails) with CorruptionError;
 * salvage changes nothing, exports every key but those the damaged part held, and reports
 * exactly that part (file, offset, size); verify reports it too and exits 1.
 */

import { assert, assertEquals, assertRejects } from "@std/assert";
import { CorruptionError, Database } from "../../src/mod.ts";
import { RealFs } from "../../src/fs/mod.ts";
import { decodeFooter } from "../../src/sstable/format.ts";
import { ExportWriter, readExport, salvageDirectory } from "../../src/salvage/mod.ts";
import { type Finding, readDirectory, verifyDirectory } from "../../src/verify/mod.ts";
import { decodeBatch, readSegmentRecords } from "../../src/wal/mod.ts";
import { fromBytes } from "../../src/util/bytes.ts";
import { runCli } from "../cli/_helpers.ts";
import {
  assertUnchanged,
  buildDatabase,
  copyDir,
  FIRST_WAL_ONLY_KEY,
  flipByte,
  indexOf,
  keyOf,
  KEYS,
  OPTIONS,
  snapshotDir,
  valueOf,
} from "./_helpers.ts";

interface Case {
  name: string;
  /** File (relative to the data directory) and byte to flip. */
  file: string;
  at: number;
  /** The one corrupt finding expected. */
  part: Finding["part"];
  partOffset: number;
  partSize: number;
  /** Keys the part held, and only it. */
  lost: Set<number>;
  /** What the default open does. */
  open: "refuses" | "scan fails" | "opens";
}

async function exportOf(dir: string) {
  const chunks: Uint8Array[] = [];
  const summary = salvageDirectory(
    new RealFs(),
    dir,
    new ExportWriter((c) => chunks.push(c.slice()), 0),
  );
  const entries = [];
  for await (const item of readExport(chunks, "memory")) {
    if (item.type === "entry") entries.push(item.entry);
  }
  return { summary, entries };
}

/** The cases, computed from the pristine database's own files. */
function casesFor(dir: string): Case[] {
  const read = readDirectory(new RealFs(), dir);
  assertEquals(read.findings, [], "the pristine database is clean");
  const tables = [...read.tables.values()].filter((t) =>
    t.blocks.length >= 5 && indexOf(fromBytes(t.blocks[t.blocks.length - 1]!.lastKey)) < 3000
  );
  assert(tables.length >= 3, `several tables: ${tables.length}`);
  const table = tables[1]!;
  const name = table.path.slice(dir.length + 1);
  const bytes = Deno.readFileSync(table.path);
  const footer = decodeFooter(bytes.subarray(bytes.length - 64), name, bytes.length - 64);
  const block = table.blocks[2]!;
  const lost = new Set<number>();
  for (let i = indexOf(fromBytes(block.firstKey)); i <= indexOf(fromBytes(block.lastKey)); i++) {
    lost.add(i);
  }
  const base = { file: name, lost: new Set<number>(), open: "refuses" as const };
  // A WAL record of a WAL-only key, in a segment that is not the newest (so not a torn tail).
  const segments = read.segments.filter((s) => s.records > 0);
  assert(segments.length >= 3, `several WAL segments: ${segments.length}`);
  const segment = segments[segments.length - 2]!;
  const records = [...readSegmentRecords(new RealFs(), segment.path)];
  const record = records[Math.floor(records.length / 2)]!;
  const walKey = indexOf(fromBytes(decodeBatch(record.payload, record.seq)[0]!.key));
  assert(walKey >= FIRST_WAL_ONLY_KEY, `a WAL-only key: ${walKey}`);
  return [
    {
      ...base,
      name: "data block",
      at: block.offset + 5,
      part: "data block",
      partOffset: block.offset,
      partSize: block.sizeBytes,
      lost,
      open: "scan fails",
    },
    {
      ...base,
      name: "index block",
      at: footer.index.offset + 3,
      part: "index block",
      partOffset: footer.index.offset,
      partSize: footer.index.sizeBytes,
    },
    {
      ...base,
      name: "bloom block",
      at: footer.filter.offset + 3,
      part: "filter block",
      partOffset: footer.filter.offset,
      partSize: footer.filter.sizeBytes,
    },
    {
      ...base,
      name: "properties block",
      at: footer.properties.offset + 3,
      part: "properties block",
      partOffset: footer.properties.offset,
      partSize: footer.properties.sizeBytes,
    },
    {
      ...base,
      name: "footer",
      at: bytes.length - 12,
      part: "footer",
      partOffset: bytes.length - 64,
      partSize: 64,
    },
    {
      ...base,
      name: "manifest",
      file: "MANIFEST",
      at: 30,
      part: "manifest",
      partOffset: 16,
      partSize: Deno.statSync(`${dir}/MANIFEST`).size,
      open: "opens",
    },
    {
      ...base,
      name: "WAL record",
      file: segment.path.slice(dir.length + 1),
      at: record.offset + 20,
      part: "WAL record",
      partOffset: record.offset,
      partSize: record.endOffset - record.offset,
      lost: new Set([walKey]),
    },
  ];
}

Deno.test("Salvage and verify: each damaged part is reported exactly, and only its keys are lost", async () => {
  const pristine = await Deno.makeTempDir({ prefix: "cityhall-salvage-" });
  await buildDatabase(pristine);
  for (const c of casesFor(pristine)) {
    const dir = `${pristine}-${c.name.replace(/ /g, "-")}`;
    await copyDir(pristine, dir);
    await flipByte(`${dir}/${c.file}`, c.at);
    const before = await snapshotDir(dir);

    // Salvage: nothing changed, every other key exported with its value.
    const { summary, entries } = await exportOf(dir);
    await assertUnchanged(dir, before);
    const corrupt = summary.read.findings.filter((f) => f.severity === "corrupt");
    assertEquals(
      corrupt.map((f) => [f.file, f.part, f.offset, f.sizeBytes]),
      [[`${dir}/${c.file}`, c.part, c.partOffset, c.partSize]],
      c.name,
    );
    const expected = Array.from({ length: KEYS }, (_, i) => i).filter((i) => !c.lost.has(i));
    assertEquals(entries.map((e) => fromBytes(e.key)), expected.map(keyOf), c.name);
    for (const e of entries) assertEquals(fromBytes(e.value), valueOf(indexOf(fromBytes(e.key))));
    if (c.part === "data block") {
      const range = corrupt[0]!.keyRange!;
      assert(fromBytes(range.through) >= keyOf(Math.max(...c.lost)), "key range from the index");
      assert(fromBytes(range.after!) < keyOf(Math.min(...c.lost)), "key range from the index");
    }

    // Verify: the same part, exit 1 naming file and offset; nothing changed.
    const report = await verifyDirectory(new RealFs(), dir);
    assertEquals(report.clean, false, c.name);
    assert(
      report.findings.some((f) =>
        f.file === `${dir}/${c.file}` && f.part === c.part && f.offset === c.partOffset
      ),
      c.name,
    );
    const cli = await runCli(["verify", "--data-dir", dir]);
    assertEquals(cli.code, 1, `${c.name}: ${cli.stdout}${cli.stderr}`);
    assert(cli.stdout.includes(`file=${dir}/${c.file} offset=${c.partOffset} `), cli.stdout);
    await assertUnchanged(dir, before);

    // The default open is as strict as before (the manifest has its previous copy now).
    if (c.open === "refuses") {
      await assertRejects(() => Database.open(dir, OPTIONS), CorruptionError);
    } else {
      const db = await Database.open(dir, OPTIONS);
      try {
        if (c.open === "scan fails") {
          await assertRejects(async () => {
            for await (const _ of db.scan({})) { /* reads every block */ }
          }, CorruptionError);
        } else {
          assertEquals(fromBytes((await db.get(keyOf(0)))!), valueOf(0));
        }
      } finally {
        await db.close();
      }
    }
    await Deno.remove(dir, { recursive: true });
  }
  await Deno.remove(pristine, { recursive: true });
});
