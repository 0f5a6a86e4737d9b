/**
 * Fuzz: random damage (flipped bits, zeroed runs, cuts) to SSTables and WAL segments. The
 * offline readers never throw, always report the damage (every byte of both formats is under
 * a checksum or a magic), and never return an entry that was not written. Seeded
 * (CITYHALL_SEED, printed); `deno task fuzz` runs more cases.
 */

import { assert, assertEquals } from "@std/assert";
import { readWholeFile } from "../../src/fs/mod.ts";
import { FaultFs } from "../../src/fs/fault_fs.ts";
import { fromBytes } from "../../src/util/bytes.ts";
import type { Entry } from "../../src/util/entry.ts";
import { encodeBatch, encodeRecordV2, encodeSegmentHeader } from "../../src/wal/mod.ts";
import { scanSegment, scanTable } from "../../src/verify/mod.ts";
import { fuzzCases } from "../_helpers/fuzz.ts";
import { Rng, seedFromEnv } from "../_helpers/random.ts";
import { writeTable } from "../sstable/_helpers.ts";

const enc = new TextEncoder();

function damage(rng: Rng, bytes: Uint8Array, kind = rng.int(3)): Uint8Array {
  const bad = bytes.slice();
  if (kind === 0) {
    for (let n = 1 + rng.int(3); n > 0; n--) {
      const at = rng.int(bad.length);
      bad[at] = bad[at]! ^ (1 << rng.int(8));
    }
  } else if (kind === 1) {
    const at = rng.int(bad.length);
    bad.fill(0, at, Math.min(bad.length, at + 1 + rng.int(300)));
  } else {
    return bad.subarray(0, rng.int(bad.length));
  }
  return bad;
}

function writeFile(fs: FaultFs, path: string, bytes: Uint8Array): void {
  const file = fs.open(path, { write: true, create: true, truncate: true });
  file.writeAt(bytes, 0);
  file.close();
}

Deno.test("fuzz: scanTable() and scanSegment() report random damage, never throw, never invent entries", () => {
  const seed = seedFromEnv();
  console.log(`CITYHALL_SEED=${seed}`);
  const rng = new Rng(seed);
  const fs = new FaultFs();
  fs.mkdirp("/f");
  const written = new Map<string, string>();
  const entries: Entry[] = Array.from({ length: 300 }, (_, i) => {
    const key = `key-${String(i).padStart(4, "0")}`;
    const value = `v${i}-${"w".repeat(rng.int(40))}`;
    written.set(key, value);
    return {
      key: enc.encode(key),
      seq: i + 1,
      kind: 1 as const,
      expireAtMs: 0,
      value: enc.encode(value),
    };
  });
  writeTable(fs, "/f/000001.sst", entries, { blockSizeBytes: 200, compression: rng.chance(0.5) });
  const table = readWholeFile(fs, "/f/000001.sst");
  const segment: Uint8Array[] = [encodeSegmentHeader(1)];
  for (let i = 0, at = 32; i < 100; i++) {
    const e = entries[i]!;
    const payload = encodeBatch([{ kind: 1, key: e.key, value: e.value }]);
    segment.push(encodeRecordV2(i + 1, 1, payload, at));
    at += segment.at(-1)!.length;
  }
  segment.push(new Uint8Array(64));
  const wal = new Uint8Array(segment.reduce((n, s) => n + s.length, 0));
  segment.reduce((o, s) => (wal.set(s, o), o + s.length), 0);
  const cases = fuzzCases(150);
  for (let c = 0; c < cases; c++) {
    const badTable = damage(rng, table);
    writeFile(fs, "/f/000001.sst", badTable);
    const scan = scanTable(fs, "/f/000001.sst");
    // Zeroing a run that already held zeros changes nothing: there is no damage to report.
    const changed = badTable.length !== table.length || badTable.some((b, i) => b !== table[i]);
    assert(!changed || scan.findings.length > 0, `case ${c}: damage to the table went unreported`);
    const recovered = scan.blocks.reduce((n, b) => n + b.entries, 0);
    assert(recovered <= entries.length, `case ${c}`);
    const kind = rng.int(3);
    const badWal = damage(rng, wal, kind);
    writeFile(fs, "/f/000001.wal", badWal);
    let records = 0;
    const walScan = scanSegment(fs, "/f/000001.wal", (_seq, batch) => {
      for (const e of batch) {
        assertEquals(written.get(fromBytes(e.key)), fromBytes(e.value), `case ${c}`);
      }
      records++;
    });
    assertEquals(walScan.records, records);
    // Flipped bits always show. A cut or a run of zeros from a record boundary to the end of
    // the records looks like the end of the written data (this segment has no SEAL).
    if (kind === 0) {
      assert(
        walScan.findings.length > 0 || walScan.tail !== undefined,
        `case ${c}: WAL damage unreported`,
      );
    }
  }
});
