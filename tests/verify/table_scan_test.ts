import { assert, assertEquals } from "@std/assert";
import { readWholeFile } from "../../src/fs/mod.ts";
import { FaultFs } from "../../src/fs/fault_fs.ts";
import { decodeFooter } from "../../src/sstable/format.ts";
import { compareBytes } from "../../src/util/bytes.ts";
import type { Entry } from "../../src/util/entry.ts";
import { scanTable, type TableScan } from "../../src/verify/mod.ts";
import { Rng } from "../_helpers/random.ts";
import { randomEntries, sortUnique, writeTable } from "../sstable/_helpers.ts";

const PATH = "/t/000001.sst";

function setup(entries: Entry[], options = {}) {
  const fs = new FaultFs();
  fs.mkdirp("/t");
  writeTable(fs, PATH, entries, { blockSizeBytes: 256, ...options });
  const bytes = readWholeFile(fs, PATH);
  const footer = decodeFooter(bytes.subarray(bytes.length - 64), PATH, bytes.length - 64);
  return { fs, bytes, footer };
}

function write(fs: FaultFs, bytes: Uint8Array): void {
  const file = fs.open(PATH, { write: true, truncate: true });
  file.writeAt(bytes, 0);
  file.close();
}

/** Keys of the entries of the good blocks, read back through the scan's summaries. */
function entriesOf(scan: TableScan): number {
  return scan.blocks.reduce((s, b) => s + b.entries, 0);
}

const text = (i: number) => new TextEncoder().encode(`key-${String(i).padStart(5, "0")}`);
function entriesN(n: number): Entry[] {
  return Array.from({ length: n }, (_, i) => ({
    key: text(i),
    seq: i + 1,
    kind: 1 as const,
    expireAtMs: 0,
    value: new TextEncoder().encode(`value-${i}-${"q".repeat(i % 30)}`),
  }));
}

Deno.test("scanTable() finds nothing wrong in clean tables: random keys, compression on and off, no bloom", () => {
  const rng = new Rng(11);
  for (
    const options of [{}, { compression: false }, { bloomBitsPerKey: 0 }, { blockSizeBytes: 64 }]
  ) {
    const entries = sortUnique(randomEntries(rng, 500));
    const { fs } = setup(entries, options);
    const scan = scanTable(fs, PATH);
    assertEquals(scan.findings, [], JSON.stringify(options));
    assertEquals(entriesOf(scan), entries.length);
    assertEquals(scan.located, "index");
  }
  const { fs } = setup([]);
  assertEquals(scanTable(fs, PATH).findings, [], "an empty table");
});

Deno.test("scanTable() reports the damaged part and keeps every entry when the footer, index, filter or properties block is damaged", () => {
  const entries = entriesN(400);
  const { fs, bytes, footer } = setup(entries);
  const parts = [
    ["footer", bytes.length - 12, bytes.length - 64, 64, "scan"],
    ["footer", bytes.length - 1, bytes.length - 64, 64, "scan"], // the magic
    ["index block", footer.index.offset + 2, footer.index.offset, footer.index.sizeBytes, "scan"],
    [
      "filter block",
      footer.filter.offset + 2,
      footer.filter.offset,
      footer.filter.sizeBytes,
      "index",
    ],
    [
      "properties block",
      footer.properties.offset + 2,
      footer.properties.offset,
      footer.properties.sizeBytes,
      "index",
    ],
  ] as const;
  for (const [part, at, offset, size, located] of parts) {
    const bad = bytes.slice();
    bad[at] = bad[at]! ^ 0x08;
    write(fs, bad);
    const scan = scanTable(fs, PATH);
    assertEquals(
      scan.findings.map((f) => [f.severity, f.part, f.offset, f.sizeBytes]),
      [["corrupt", part, offset, size]],
      `${part} at ${at}`,
    );
    assertEquals(entriesOf(scan), entries.length, part);
    assertEquals(scan.located, located, part);
  }
});

Deno.test("scanTable() loses only a damaged data block's entries and names its offset, size and key range", () => {
  const entries = entriesN(400);
  for (const compression of [true, false]) {
    const { fs, bytes } = setup(entries, { compression });
    const clean = scanTable(fs, PATH);
    for (const i of [0, 3, clean.blocks.length - 1]) {
      const block = clean.blocks[i]!;
      const bad = bytes.slice();
      bad[block.offset + 1] = bad[block.offset + 1]! ^ 0x40;
      write(fs, bad);
      const scan = scanTable(fs, PATH);
      assertEquals(scan.findings.length, 1);
      const f = scan.findings[0]!;
      assertEquals([f.part, f.offset, f.sizeBytes], ["data block", block.offset, block.sizeBytes]);
      assert(compareBytes(f.keyRange!.through, block.lastKey) >= 0);
      if (i > 0) assert(compareBytes(f.keyRange!.after!, block.firstKey) < 0);
      assertEquals(entriesOf(scan), entries.length - block.entries);
    }
  }
});

Deno.test("scanTable() finds the data blocks by their trailers when the footer and a data block, or also the properties, are damaged", () => {
  const entries = entriesN(400);
  const { fs, bytes, footer } = setup(entries);
  const clean = scanTable(fs, PATH);
  const block = clean.blocks[5]!;
  const bad = bytes.slice();
  const flip = (at: number) => bad[at] = bad[at]! ^ 1;
  flip(bytes.length - 12);
  flip(block.offset + 3);
  write(fs, bad);
  let scan = scanTable(fs, PATH);
  assertEquals(scan.findings.map((f) => [f.part, f.offset]), [
    ["footer", bytes.length - 64],
    ["data block", block.offset],
  ]);
  assertEquals(entriesOf(scan), entries.length - block.entries);
  // Without footer and properties, the chain resynchronizes after the damaged block.
  flip(footer.properties.offset + 3);
  write(fs, bad);
  scan = scanTable(fs, PATH);
  assertEquals(entriesOf(scan), entries.length - block.entries);
  const corrupt = scan.findings.filter((f) => f.severity === "corrupt").map((
    f,
  ) => [f.part, f.offset]);
  assertEquals(corrupt, [
    ["footer", bytes.length - 64],
    ["region", block.offset],
    ["region", footer.properties.offset],
  ]);
});

Deno.test("scanTable() reads what is left of a cut table and of a file that is not a table", () => {
  const entries = entriesN(400);
  const { fs, bytes } = setup(entries);
  const clean = scanTable(fs, PATH);
  const cut = clean.blocks[10]!.offset + 7;
  write(fs, bytes.subarray(0, cut));
  const scan = scanTable(fs, PATH);
  assertEquals(scan.blocks.length, 10);
  assert(scan.findings.some((f) => f.part === "footer" && f.severity === "corrupt"));
  assert(scan.findings.some((f) => f.part === "region" && f.offset === clean.blocks[10]!.offset));
  write(fs, new Rng(3).bytes(5000));
  const garbage = scanTable(fs, PATH);
  assertEquals(garbage.blocks.length, 0);
  assert(garbage.findings.length >= 1);
  write(fs, new Uint8Array(10));
  assertEquals(scanTable(fs, PATH).findings[0]!.part, "footer");
});
