/**
 * `verifyDirectory` on whole directories: what open would do (learned on a copy-on-write
 * overlay) without changing a byte, a torn WAL tail as a warning, a damaged MANIFEST as
 * corruption that open survives, a table that disagrees with the manifest.
 */

import { assert, assertEquals } from "@std/assert";
import { Database } from "../../src/mod.ts";
import { readWholeFile } from "../../src/fs/mod.ts";
import { FaultFs } from "../../src/fs/fault_fs.ts";
import { verifyDirectory } from "../../src/verify/mod.ts";

async function build(fs: FaultFs): Promise<void> {
  const db = await Database.open("/db", {
    fs,
    memtableSizeBytesMax: 8 * 1024,
    walSegmentSizeBytes: 4096,
    blockSizeBytes: 256,
  });
  for (let i = 0; i < 400; i++) await db.put(`key-${i}`, `value-${i}-${"p".repeat(i % 20)}`);
  // No close: the newest segment keeps its records, as after a crash.
  fs.processCrash();
}

function snapshot(fs: FaultFs): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  for (const dir of ["/db", "/db/wal"]) {
    for (const name of fs.readDir(dir)) {
      const path = `${dir}/${name}`;
      if (fs.stat(path)?.isFile) out.set(path, readWholeFile(fs, path));
    }
  }
  return out;
}

Deno.test("verifyDirectory(): a clean directory is clean and open would succeed", async () => {
  const fs = new FaultFs();
  await build(fs);
  const report = await verifyDirectory(fs, "/db");
  assertEquals(report.findings, []);
  assertEquals([report.clean, report.open.ok], [true, true]);
  assert(report.tables.size >= 2, "several tables");
});

Deno.test("verifyDirectory(): a torn write at the end of the WAL is a warning; open would cut it, verify does not", async () => {
  const fs = new FaultFs();
  await build(fs);
  const report0 = await verifyDirectory(fs, "/db");
  const newest = report0.segments.filter((s) => s.records > 0).at(-1)!;
  const bytes = readWholeFile(fs, newest.path);
  let end = bytes.length;
  while (end > 0 && bytes[end - 1] === 0) end--;
  const file = fs.open(newest.path, { write: true });
  file.writeAt(new Uint8Array([0x21, 0, 0, 0, 0x99, 0x98, 0x97]), end); // half a record header
  file.close();
  const before = snapshot(fs);
  const report = await verifyDirectory(fs, "/db");
  assertEquals(report.clean, true);
  assertEquals(report.findings.map((f) => [f.severity, f.part, f.file, f.offset]), [
    ["warning", "WAL record", newest.path, end],
  ]);
  assert(report.open.ok && report.open.warnings.some((w) => w.includes("torn tail")));
  assertEquals(snapshot(fs), before, "verify wrote nothing");
});

Deno.test("verifyDirectory(): a damaged MANIFEST is corruption that open survives; nothing is repaired by verify", async () => {
  const fs = new FaultFs();
  await build(fs);
  const file = fs.open("/db/MANIFEST", { write: true });
  file.writeAt(new Uint8Array([0x7f]), 24);
  file.close();
  const before = snapshot(fs);
  const report = await verifyDirectory(fs, "/db");
  assertEquals(report.clean, false);
  const corrupt = report.findings.filter((f) => f.severity === "corrupt");
  assertEquals(corrupt.map((f) => [f.part, f.file, f.offset]), [["manifest", "/db/MANIFEST", 16]]);
  // The newest table is listed only by the damaged copy: reported, not read.
  assert(report.findings.some((f) => f.severity === "warning" && f.part === "table"));
  assert(report.open.ok, report.open.error);
  assert(
    report.open.warnings.some((w) => w.includes("MANIFEST is unusable")),
    report.open.warnings.join(),
  );
  assertEquals(snapshot(fs), before);
});

Deno.test("verifyDirectory(): a table that differs from what the manifest records is corruption", async () => {
  const fs = new FaultFs();
  await build(fs);
  const table = fs.readDir("/db").find((n) => n.endsWith(".sst"))!;
  // Append a byte: every block still checks, but the size differs from the manifest's.
  const f = fs.open(`/db/${table}`, { write: true });
  f.writeAt(new Uint8Array([0]), f.size());
  f.close();
  const report = await verifyDirectory(fs, "/db");
  assertEquals(report.clean, false);
  assert(
    report.findings.some((x) => x.part === "table" && x.reason.includes("differs from")),
    JSON.stringify(report.findings),
  );
  assertEquals(report.open.ok, false, "open refuses a table whose footer is not at the end");
});
