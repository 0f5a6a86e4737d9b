import { assert, assertEquals, assertThrows } from "@std/assert";
import { InvalidArgumentError } from "../../src/errors.ts";
import { readWholeFile, RealFs } from "../../src/fs/mod.ts";
import { FaultFs } from "../../src/fs/fault_fs.ts";
import { crc32c, unmaskCrc } from "../../src/util/crc32c.ts";
import { AssertionError } from "../../src/util/assert.ts";
import {
  BlockCache,
  COMPRESSION_NONE,
  COMPRESSION_SNAPPY,
  FOOTER_SIZE_BYTES,
  shortestSeparator,
  Table,
  TableBuilder,
} from "../../src/sstable/mod.ts";
import { compareBytes, toBytes } from "../../src/util/bytes.ts";
import { type Entry, KIND_DELETE, KIND_PUT } from "../../src/util/entry.ts";
import { Rng, seedFromEnv } from "../_helpers/random.ts";
import {
  assertEntry,
  boundaryTargets,
  buildTable,
  checkCollectLive,
  checkFullScan,
  checkSeeks,
  prefixTargets,
  randomEntries,
  writeTable,
} from "./_helpers.ts";

const BLOCK_SIZES = [64, 256, 4096];

function put(key: string, value: string, seq = 1, expireAtMs = 0): Entry {
  return { key: toBytes(key), seq, kind: KIND_PUT, expireAtMs, value: toBytes(value) };
}

Deno.test("Table round-trips random entries across block sizes and compression", () => {
  const seed = seedFromEnv();
  const rng = new Rng(seed);
  const fs = new FaultFs();
  for (const blockSizeBytes of BLOCK_SIZES) {
    for (const compression of [false, true]) {
      const entries = randomEntries(rng, 600);
      const what = `seed=${seed} block=${blockSizeBytes} compression=${compression}`;
      const table = buildTable(fs, "t.sst", entries, { blockSizeBytes, compression });
      try {
        assertEquals(table.properties.entries, entries.length, what);
        assertEquals(
          table.properties.tombstones,
          entries.filter((e) => e.kind === KIND_DELETE).length,
          what,
        );
        assertEquals(table.properties.smallestKey, entries[0]!.key, what);
        assertEquals(table.properties.largestKey, entries[entries.length - 1]!.key, what);
        assertEquals(table.properties.minSeq, Math.min(...entries.map((e) => e.seq)), what);
        assertEquals(table.properties.maxSeq, Math.max(...entries.map((e) => e.seq)), what);
        for (const e of entries) assertEntry(table.get(e.key), e, what);
        for (let i = 0; i < 300; i++) {
          const k = rng.bytes(1 + rng.int(10));
          const at = entries.find((e) => compareBytes(e.key, k) === 0);
          assertEntry(table.get(k), at, what);
        }
        checkFullScan(table.iterator(), entries);
        const it = table.iterator();
        for (const t of boundaryTargets(entries)) checkSeeks(it, entries, t, 2);
      } finally {
        table.close();
      }
    }
  }
});

Deno.test("Table iterator crosses every block boundary in both directions with tiny blocks", () => {
  const fs = new FaultFs();
  const entries: Entry[] = [];
  for (let i = 0; i < 200; i++) {
    entries.push(put(`key${String(i * 2).padStart(5, "0")}`, i % 7 === 0 ? "" : `v${i}`, i + 1));
  }
  for (const compression of [false, true]) {
    const table = buildTable(fs, "t.sst", entries, { blockSizeBytes: 64, compression });
    assert(table.stats.dataBlocks > 30, `${table.stats.dataBlocks} blocks`);
    checkFullScan(table.iterator(), entries);
    const it = table.iterator();
    for (const t of boundaryTargets(entries)) checkSeeks(it, entries, t, 4);
    // Odd keys fall between entries (and sometimes between blocks).
    for (let i = -1; i < 402; i += 2) {
      checkSeeks(it, entries, toBytes(`key${String(i).padStart(5, "0")}`), 2);
    }
    table.close();
  }
});

Deno.test("Table iterator collectLive reads across block boundaries, in chunks, up to a stop key", () => {
  const fs = new FaultFs();
  const rng = new Rng(seedFromEnv());
  const nowMs = 1_700_000_000_000 + 500_000_000;
  for (const compression of [false, true]) {
    const entries = randomEntries(rng, 300);
    const table = buildTable(fs, "t.sst", entries, { blockSizeBytes: 64, compression });
    assert(table.stats.dataBlocks > 30, `${table.stats.dataBlocks} blocks`);
    const it = table.iterator();
    const targets = boundaryTargets(entries);
    const stops = [...targets, ...prefixTargets(entries)];
    for (const start of targets) {
      const stop = rng.chance(0.2) ? undefined : rng.pick(stops);
      checkCollectLive(it, entries, start, stop, rng.pick([1, 7, 1000]), nowMs);
    }
    table.close();
  }
});

Deno.test("Table with a single entry and with one huge value", () => {
  const fs = new FaultFs();
  const one = [put("only", "value", 7)];
  const t1 = buildTable(fs, "a.sst", one);
  checkFullScan(t1.iterator(), one);
  for (const t of boundaryTargets(one)) checkSeeks(t1.iterator(), one, t);
  t1.close();
  const big = new Uint8Array(300_000).map((_, i) => (i * 31) & 0xff);
  const entries = [put("a", "x"), { ...put("b", ""), value: big }, put("c", "y")];
  const t2 = buildTable(fs, "b.sst", entries, { blockSizeBytes: 64 });
  for (const e of entries) assertEntry(t2.get(e.key), e);
  checkFullScan(t2.iterator(), entries);
  t2.close();
});

Deno.test("Table with no entries opens and iterates as empty", () => {
  const fs = new FaultFs();
  const table = buildTable(fs, "e.sst", []);
  assertEquals(table.properties.entries, 0);
  assertEquals(table.get(toBytes("a")), undefined);
  const it = table.iterator();
  it.seekToFirst();
  assertEquals(it.valid(), false);
  it.seekToLast();
  assertEquals(it.valid(), false);
  it.seek(toBytes("a"));
  assertEquals(it.valid(), false);
  it.seekForPrev(toBytes("a"));
  assertEquals(it.valid(), false);
  table.close();
});

Deno.test("Table works on real files through RealFs", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cityhall-sstable-" });
  try {
    const fs = new RealFs();
    const rng = new Rng(seedFromEnv());
    const entries = randomEntries(rng, 5000, { valueLenMax: 200 });
    const path = `${dir}/000012.sst`;
    const props = writeTable(fs, path, entries, { blockSizeBytes: 1024 });
    assertEquals(props.sizeBytes, (await Deno.stat(path)).size);
    const table = Table.open(fs, path, { cache: new BlockCache(), fileNumber: 12 });
    for (const e of entries) assertEntry(table.get(e.key), e);
    checkFullScan(table.iterator(), entries);
    table.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Table.get returns tombstones and expiry as stored", () => {
  const fs = new FaultFs();
  const entries: Entry[] = [
    put("a", "1", 5, 1_800_000_000_000),
    { key: toBytes("b"), seq: 9, kind: KIND_DELETE, expireAtMs: 0, value: new Uint8Array(0) },
    put("c", "", 3),
  ];
  const table = buildTable(fs, "t.sst", entries);
  assertEntry(table.get(toBytes("a")), entries[0]);
  assertEntry(table.get(toBytes("b")), entries[1]);
  assertEntry(table.get(toBytes("c")), entries[2]);
  assertEquals(table.properties.tombstones, 1);
  table.close();
});

Deno.test("TableBuilder stores incompressible blocks raw and compresses sensor-like data", () => {
  const fs = new FaultFs();
  const rng = new Rng(42);
  const random: Entry[] = [];
  for (let i = 0; i < 2000; i++) {
    random.push({
      key: toBytes(`k${String(i).padStart(6, "0")}`),
      seq: i + 1,
      kind: KIND_PUT,
      expireAtMs: 0,
      value: rng.bytes(100),
    });
  }
  writeTable(fs, "r.sst", random, { compression: true });
  const rTable = Table.open(fs, "r.sst", { cache: new BlockCache(), fileNumber: 1 });
  assertEquals(countBlockTypes(fs, rTable), { raw: rTable.stats.dataBlocks, snappy: 0 });
  rTable.close();

  const sensor = sensorEntries(5000);
  const on = writeTable(fs, "s1.sst", sensor, { compression: true });
  const off = writeTable(fs, "s0.sst", sensor, { compression: false });
  assert(on.sizeBytes * 8 <= off.sizeBytes * 7, `compressed ${on.sizeBytes} vs ${off.sizeBytes}`);
  const sTable = Table.open(fs, "s1.sst", { cache: new BlockCache(), fileNumber: 2 });
  const types = countBlockTypes(fs, sTable);
  assertEquals(types.snappy, sTable.stats.dataBlocks);
  checkFullScan(sTable.iterator(), sensor);
  sTable.close();
  const s0 = Table.open(fs, "s0.sst", { cache: new BlockCache(), fileNumber: 3 });
  assertEquals(countBlockTypes(fs, s0), { raw: s0.stats.dataBlocks, snappy: 0 });
  s0.close();
});

/** Sensor-like data: `sensor.<site>.<metric>.<timestamp>` → numeric strings. */
export function sensorEntries(count: number): Entry[] {
  const rng = new Rng(7);
  const out: Entry[] = [];
  const sites = ["ams", "ber", "cdg", "dub"];
  const metrics = ["humidity", "pressure", "temp"];
  let seq = 1;
  for (const site of sites) {
    for (const metric of metrics) {
      for (let i = 0; i < count / 12; i++) {
        const ts = 1_700_000_000_000 + i * 1000;
        out.push({
          key: toBytes(`sensor.${site}.${metric}.${ts}`),
          seq: seq++,
          kind: KIND_PUT,
          expireAtMs: 0,
          value: toBytes((20 + rng.next() * 5).toFixed(2)),
        });
      }
    }
  }
  return out;
}

/**
 * Counts data blocks by stored compression type. Data blocks lie back to back from offset 0
 * over `stats.dataBytes`; each block's size is found as the one whose trailer CRC holds.
 */
function countBlockTypes(fs: FaultFs, table: Table): { raw: number; snappy: number } {
  const buf = readWholeFile(fs, table.path);
  const counts = { raw: 0, snappy: 0 };
  const end = table.stats.dataBytes;
  let offset = 0;
  while (offset < end) {
    let size = 1;
    while (offset + size + 5 <= end && !trailerOk(buf, offset, size)) size++;
    assert(offset + size + 5 <= end, `no block at ${offset}`);
    if (buf[offset + size] === COMPRESSION_NONE) counts.raw++;
    else if (buf[offset + size] === COMPRESSION_SNAPPY) counts.snappy++;
    offset += size + 5;
  }
  return counts;
}

function trailerOk(buf: Uint8Array, offset: number, size: number): boolean {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const stored = view.getUint32(offset + size + 1, true);
  return unmaskCrc(stored) === crc32c(buf, offset, offset + size + 1);
}

Deno.test("TableBuilder asserts ascending unique keys", () => {
  const fs = new FaultFs();
  const file = fs.open("t.sst", { write: true, create: true });
  const builder = new TableBuilder(file);
  builder.add(put("b", "1"));
  assertThrows(() => builder.add(put("a", "1")), AssertionError);
  assertThrows(() => builder.add(put("b", "2")), AssertionError);
  builder.abandon();
  file.close();
});

Deno.test("TableBuilder rejects invalid options", () => {
  const fs = new FaultFs();
  const file = fs.open("t.sst", { write: true, create: true });
  assertThrows(() => new TableBuilder(file, { blockSizeBytes: 0 }), InvalidArgumentError);
  assertThrows(() => new TableBuilder(file, { bloomBitsPerKey: -1 }), InvalidArgumentError);
  assertThrows(() => new TableBuilder(file, { bloomBitsPerKey: 1.5 }), InvalidArgumentError);
  file.close();
});

Deno.test("TableBuilder writes in large sequential chunks and never syncs", () => {
  const fs = new FaultFs();
  const file = fs.open("t.sst", { write: true, create: true });
  const builder = new TableBuilder(file);
  const before = { ...fs.calls };
  const entries = sensorEntries(60_000);
  for (const e of entries) builder.add(e);
  const props = builder.finish();
  const writes = fs.calls.write - before.write;
  assert(writes <= Math.ceil(props.sizeBytes / (256 * 1024)) + 1, `${writes} writes`);
  assertEquals(fs.calls.sync, before.sync);
  assertEquals(file.size(), props.sizeBytes);
  file.close();
});

Deno.test("TableBuilder surfaces a failed write and can be abandoned", () => {
  const fs = new FaultFs();
  const file = fs.open("t.sst", { write: true, create: true });
  const builder = new TableBuilder(file);
  fs.failAfter({ write: 1 });
  assertThrows(() => {
    for (const e of sensorEntries(60_000)) builder.add(e);
    builder.finish();
  });
  builder.abandon();
  file.close();
});

Deno.test("TableBuilder.estimatedSizeBytes tracks the file size", () => {
  const fs = new FaultFs();
  const file = fs.open("t.sst", { write: true, create: true });
  const builder = new TableBuilder(file, { compression: false });
  for (const e of sensorEntries(12_000)) builder.add(e);
  const estimate = builder.estimatedSizeBytes;
  const props = builder.finish();
  assert(Math.abs(estimate - props.sizeBytes) < props.sizeBytes * 0.05, `${estimate}`);
  file.close();
});

Deno.test("shortestSeparator lies between its arguments", () => {
  const rng = new Rng(3);
  for (let i = 0; i < 2000; i++) {
    let a = rng.bytes(rng.int(6));
    let b = rng.bytes(rng.int(6));
    if (rng.chance(0.3)) b = Uint8Array.from([...a, ...rng.bytes(1 + rng.int(3))]);
    const c = compareBytes(a, b);
    if (c === 0) continue;
    if (c > 0) [a, b] = [b, a];
    const s = shortestSeparator(a, b);
    assert(compareBytes(a, s) <= 0 && compareBytes(s, b) < 0);
    assert(s.length <= a.length);
  }
  assertEquals(shortestSeparator(toBytes("abcd"), toBytes("abzz")), toBytes("abd"));
});

Deno.test("Table bloom filter: bloomBitsPerKey 0 writes none, mayContain is then always true", () => {
  const fs = new FaultFs();
  const entries = sensorEntries(1200);
  const without = buildTable(fs, "n.sst", entries, { bloomBitsPerKey: 0 });
  const withBloom = buildTable(fs, "y.sst", entries, { bloomBitsPerKey: 10 });
  let negatives = 0;
  for (let i = 0; i < 1000; i++) {
    const k = toBytes(`missing.${i}`);
    assert(without.mayContain(k));
    assertEquals(without.get(k), undefined);
    if (!withBloom.mayContain(k)) negatives++;
    assertEquals(withBloom.get(k), undefined);
  }
  assert(negatives > 950, `${negatives}`);
  for (const e of entries) assert(withBloom.mayContain(e.key));
  assert(without.properties.sizeBytes < withBloom.properties.sizeBytes);
  without.close();
  withBloom.close();
});

Deno.test("Table iterator with fillCache false leaves the cache alone", () => {
  const fs = new FaultFs();
  const cache = new BlockCache(1 << 20);
  const entries = sensorEntries(3000);
  const table = buildTable(fs, "t.sst", entries, { cache });
  const it = table.iterator({ fillCache: false });
  let n = 0;
  for (it.seekToFirst(); it.valid(); it.next()) n++;
  assertEquals(n, entries.length);
  assertEquals(cache.size, 0);
  table.get(entries[0]!.key);
  assertEquals(cache.size, 1);
  assert(cache.misses >= table.stats.dataBlocks);
  table.get(entries[0]!.key);
  assertEquals(cache.hits, 1);
  table.close();
});

Deno.test("Table footer is the last FOOTER_SIZE_BYTES and ends with the magic", () => {
  const fs = new FaultFs();
  writeTable(fs, "t.sst", [put("a", "b")]);
  const file = fs.open("t.sst");
  const buf = new Uint8Array(file.size());
  file.readAt(buf, 0);
  file.close();
  assertEquals(
    new TextDecoder().decode(buf.subarray(buf.length - 8)),
    "CITYHSST",
  );
  assert(buf.length > FOOTER_SIZE_BYTES);
});
