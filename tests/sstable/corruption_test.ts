import { assert, assertEquals, assertMatch, assertThrows } from "@std/assert";
import { CorruptionError } from "../../src/errors.ts";
import { readWholeFile } from "../../src/fs/mod.ts";
import { FaultFs } from "../../src/fs/fault_fs.ts";
import { BlockCache, FOOTER_SIZE_BYTES, Table } from "../../src/sstable/mod.ts";
import { compareBytes } from "../../src/util/bytes.ts";
import { crc32c, maskCrc, unmaskCrc } from "../../src/util/crc32c.ts";
import type { Entry } from "../../src/util/entry.ts";
import { Rng, seedFromEnv } from "../_helpers/random.ts";
import { assertEntry, randomEntries, writeTable } from "./_helpers.ts";

function writeBytes(fs: FaultFs, path: string, bytes: Uint8Array) {
  const file = fs.open(path, { write: true, create: true, truncate: true });
  file.writeAt(bytes, 0);
  file.close();
}

/**
 * Opens `path` and reads everything through get and both iteration directions. Returns
 * "corrupt" on CorruptionError; any wrong answer or other exception fails the test.
 */
function readAll(fs: FaultFs, path: string, entries: Entry[], what: string): "ok" | "corrupt" {
  let table: Table | undefined;
  try {
    table = Table.open(fs, path, { cache: new BlockCache(1 << 20), fileNumber: 1 });
    for (const e of entries) {
      const got = table.get(e.key);
      // A flipped filter bit may only turn a true answer into "maybe"; never a wrong entry.
      assertEntry(got, e, `${what} get`);
    }
    const it = table.iterator();
    let i = 0;
    for (it.seekToFirst(); it.valid(); it.next()) assertEntry(it.entry(), entries[i++], what);
    assertEquals(i, entries.length, what);
    i = entries.length - 1;
    for (it.seekToLast(); it.valid(); it.prev()) assertEntry(it.entry(), entries[i--], what);
    for (const e of entries.slice(0, 20)) {
      it.seek(e.key);
      assert(it.valid() && compareBytes(it.entry().key, e.key) === 0, what);
    }
    return "ok";
  } catch (err) {
    if (err instanceof CorruptionError) {
      assertMatch(err.message, /^Cannot [a-z]+ [a-z]+: .+ in t\d?\.sst$/, what);
      return "corrupt";
    }
    throw new Error(`${what}: ${err}`, { cause: err });
  } finally {
    table?.close();
  }
}

Deno.test("Table detects every single-byte flip of a small table", () => {
  const seed = seedFromEnv();
  for (const compression of [false, true]) {
    const rng = new Rng(seed);
    const fs = new FaultFs();
    const entries = compression
      ? Array.from({ length: 40 }, (_, i) => ({
        key: new TextEncoder().encode(`sensor.ams.temp.${1_700_000_000_000 + i * 1000}`),
        seq: i + 1,
        kind: 1 as const,
        expireAtMs: i % 3 === 0 ? 1_800_000_000_000 : 0,
        value: new TextEncoder().encode("21.50,21.50,21.50"),
      }))
      : randomEntries(rng, 30, { valueLenMax: 12 });
    writeTable(fs, "t.sst", entries, { blockSizeBytes: 128, compression });
    const good = readWholeFile(fs, "t.sst");
    assertEquals(readAll(fs, "t.sst", entries, "intact"), "ok");
    let corrupt = 0;
    for (let pos = 0; pos < good.length; pos++) {
      for (const mask of [0x01, 0x80, 0xff]) {
        const bad = good.slice();
        bad[pos] = bad[pos]! ^ mask;
        writeBytes(fs, "t1.sst", bad);
        const r = readAll(fs, "t1.sst", entries, `seed=${seed} pos=${pos} mask=${mask}`);
        if (r === "corrupt") corrupt++;
      }
    }
    // Every byte is covered by a block CRC, the footer CRC or the magic.
    assertEquals(corrupt, good.length * 3, `compression=${compression}`);
  }
});

Deno.test("Table gives CorruptionError or correct answers under random multi-byte damage", () => {
  const seed = seedFromEnv();
  const rng = new Rng(seed);
  const fs = new FaultFs();
  const entries = randomEntries(rng, 400, { valueLenMax: 40 });
  writeTable(fs, "t.sst", entries, { blockSizeBytes: 512 });
  const good = readWholeFile(fs, "t.sst");
  const table = Table.open(fs, "t.sst", { cache: new BlockCache(), fileNumber: 1 });
  const footerStart = good.length - FOOTER_SIZE_BYTES;
  const dataEnd = table.stats.dataBytes;
  table.close();
  // Sample positions in every region: data, filter/properties/index, footer.
  const regions: [number, number][] = [[0, dataEnd], [dataEnd, footerStart], [
    footerStart,
    good.length,
  ]];
  for (const [from, to] of regions) {
    for (let trial = 0; trial < 150; trial++) {
      const bad = good.slice();
      const n = 1 + rng.int(8);
      for (let k = 0; k < n; k++) bad[from + rng.int(to - from)] = rng.int(256);
      writeBytes(fs, "t2.sst", bad);
      readAll(fs, "t2.sst", entries, `seed=${seed} region=${from}-${to} trial=${trial}`);
    }
  }
});

Deno.test("Table.open of a truncated file throws CorruptionError at every length", () => {
  const fs = new FaultFs();
  const entries = randomEntries(new Rng(5), 50);
  writeTable(fs, "t.sst", entries, { blockSizeBytes: 128 });
  const good = readWholeFile(fs, "t.sst");
  for (let len = 0; len < good.length; len++) {
    writeBytes(fs, "t3.sst", good.subarray(0, len));
    assertThrows(
      () => Table.open(fs, "t3.sst", { cache: new BlockCache(), fileNumber: 1 }),
      CorruptionError,
    );
  }
  // Zeros appended (a preallocated or torn file) move the footer: also corruption.
  const longer = new Uint8Array(good.length + 100);
  longer.set(good);
  writeBytes(fs, "t3.sst", longer);
  assertThrows(
    () => Table.open(fs, "t3.sst", { cache: new BlockCache(), fileNumber: 1 }),
    CorruptionError,
    "bad magic number",
  );
});

Deno.test("Table reports a data block checksum mismatch with file and offset", () => {
  const fs = new FaultFs();
  const entries = randomEntries(new Rng(9), 200);
  writeTable(fs, "t.sst", entries, { blockSizeBytes: 256 });
  const bad = readWholeFile(fs, "t.sst");
  bad[3] = bad[3]! ^ 0x10;
  writeBytes(fs, "t4.sst", bad);
  const table = Table.open(fs, "t4.sst", { cache: new BlockCache(), fileNumber: 1 });
  assertThrows(
    () => table.get(entries[0]!.key),
    CorruptionError,
    "Cannot read block: checksum mismatch at offset 0 in t4.sst",
  );
  const it = table.iterator();
  assertThrows(() => it.seekToFirst(), CorruptionError, "checksum mismatch");
  table.close();
});

Deno.test("Table read after the file shrank underneath reports truncation", () => {
  const fs = new FaultFs();
  const entries = randomEntries(new Rng(11), 300);
  writeTable(fs, "t.sst", entries, { blockSizeBytes: 256 });
  const table = Table.open(fs, "t.sst", { cache: new BlockCache(), fileNumber: 1 });
  const file = fs.open("t.sst", { write: true });
  file.truncate(10);
  file.close();
  assertThrows(() => table.get(entries[entries.length - 1]!.key), CorruptionError, "truncated");
  table.close();
});

Deno.test("Table decoding malformed Snappy data under a valid CRC throws only CorruptionError", () => {
  const fs = new FaultFs();
  const entries: Entry[] = Array.from({ length: 100 }, (_, i) => ({
    key: new TextEncoder().encode(`sensor.ber.pressure.${1_700_000_000_000 + i * 1000}`),
    seq: i + 1,
    kind: 1 as const,
    expireAtMs: 0,
    value: new TextEncoder().encode("1013.25"),
  }));
  writeTable(fs, "t.sst", entries, { blockSizeBytes: 1024, compression: true });
  const good = readWholeFile(fs, "t.sst");
  // Find the first block: the smallest size whose trailer checksum holds.
  let size = 1;
  while (!trailerOk(good, size)) size++;
  assertEquals(good[size], 1, "first block is Snappy-compressed");
  const rng = new Rng(seedFromEnv());
  let corrupt = 0;
  for (let trial = 0; trial < 300; trial++) {
    const bad = good.slice();
    const n = 1 + rng.int(3);
    for (let k = 0; k < n; k++) bad[rng.int(size)] = rng.int(256);
    if (trial === 0) bad[0] = 0xff; // A huge claimed length.
    resealTrailer(bad, size);
    writeBytes(fs, "t5.sst", bad);
    // The CRC holds, so wrong answers are possible here; other exception types are not.
    if (readTypesOnly(fs, "t5.sst", entries) === "corrupt") corrupt++;
  }
  assert(corrupt > 100, `${corrupt}`);
});

function readTypesOnly(fs: FaultFs, path: string, entries: Entry[]): "ok" | "corrupt" {
  let table: Table | undefined;
  try {
    table = Table.open(fs, path, { cache: new BlockCache(1 << 20), fileNumber: 1 });
    for (const e of entries) table.get(e.key);
    const it = table.iterator();
    for (it.seekToFirst(); it.valid(); it.next()) it.entry();
    for (it.seekToLast(); it.valid(); it.prev()) it.entry();
    return "ok";
  } catch (err) {
    if (err instanceof CorruptionError) return "corrupt";
    throw err;
  } finally {
    table?.close();
  }
}

function trailerOk(buf: Uint8Array, size: number): boolean {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  return unmaskCrc(view.getUint32(size + 1, true)) === crc32c(buf, 0, size + 1);
}

function resealTrailer(buf: Uint8Array, size: number) {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  view.setUint32(size + 1, maskCrc(crc32c(buf, 0, size + 1)), true);
}
