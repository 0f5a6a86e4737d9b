import { assert, assertEquals, assertRejects, assertThrows } from "@std/assert";
import { CorruptionError } from "../../src/errors.ts";
import { joinPath } from "../../src/fs/mod.ts";
import { FaultFs } from "../../src/fs/fault_fs.ts";
import { crc32c, maskCrc } from "../../src/util/crc32c.ts";
import type { LogFields, LogLevel } from "../../src/util/log.ts";
import {
  encodeBatch,
  encodeRecordV2,
  encodeSegmentHeader,
  readSegmentRecords,
  recoverWal,
  segmentFileName,
  WAL_RECORD_TYPE_BATCH,
  WAL_SEAL_RECORD_BYTES,
  WAL_SEGMENT_HEADER_BYTES,
  type WalRecordType,
} from "../../src/wal/mod.ts";
import { parseRecordAt } from "../../src/wal/format.ts";
import {
  DIR,
  keysOf,
  ops,
  patch,
  readBytes,
  records,
  recoverEntries,
  writeOneGroupCrashed,
  writeV1Segment,
  writeWal,
  writeWalCrashed,
} from "./_helpers.ts";

const SEG1 = joinPath(DIR, segmentFileName(1));

/** Keys `key-first` … `key-last`. */
function keyRange(first: number, last: number): string[] {
  return Array.from({ length: last - first + 1 }, (_, i) => `key-${first + i}`);
}

const THREE = () => [ops(1, 3), ops(4, 2), ops(6, 4)];

/** Three records (seqs 1–3, 4–5, 6–9) in segment 1, each acknowledged, closed (sealed). */
async function threeRecords(fs: FaultFs): Promise<void> {
  await writeWal(fs, THREE(), { segmentSizeBytes: 4096 });
}

/** The same three records, then the process dies: no SEAL. */
async function threeRecordsCrashed(fs: FaultFs): Promise<void> {
  await writeWalCrashed(fs, THREE(), { segmentSizeBytes: 4096 });
}

/** Records spread over several 512-byte segments (seqs 1–60, 2 ops per record). */
async function manySegments(fs: FaultFs, crashed = false): Promise<void> {
  const batches = Array.from({ length: 30 }, (_, i) => ops(1 + 2 * i, 2));
  if (crashed) await writeWalCrashed(fs, batches, { segmentSizeBytes: 512 });
  else await writeWal(fs, batches, { segmentSizeBytes: 512 });
}

function segmentPaths(fs: FaultFs): string[] {
  return fs.readDir(DIR).filter((n) => n.endsWith(".wal")).map((n) => joinPath(DIR, n));
}

function u32(value: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, value, true);
  return b;
}

/** A version-2 record with valid checksums but any type and sequence (even 0). */
function forgedRecord(seq: number, type: number, first: number, at: number): Uint8Array {
  const record = encodeRecordV2(1, type as WalRecordType, encodeBatch(ops(first, 1)), 32);
  const view = new DataView(record.buffer);
  view.setUint32(8, seq, true);
  const length = view.getUint32(0, true);
  const crc = crc32c(
    new Uint8Array([...record.subarray(0, 4), ...record.subarray(8, 17 + length)]),
  );
  view.setUint32(4, maskCrc(crc), true);
  view.setUint32(17 + length, Math.min(32, at), true);
  const t = crc32c(
    new Uint8Array([...record.subarray(4, 8), ...record.subarray(17 + length, 21 + length)]),
  );
  view.setUint32(21 + length, maskCrc(t), true);
  return record;
}

Deno.test("recoverWal replays every record in sequence order", async () => {
  const fs = new FaultFs();
  await threeRecords(fs);
  const { result, entries, batches } = recoverEntries(fs);
  assertEquals(keysOf(entries), keyRange(1, 9));
  assertEquals(entries.map((e) => e.seq), [1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assertEquals(batches, [[1, 3], [4, 2], [6, 4]]);
  assertEquals(result.lastSeq, 9);
  assertEquals(result.nextSegmentId, 2);
  assertEquals(result.tornTail, undefined);
  assertEquals(result.skippedDamage, []);
  assertEquals(result.segments.length, 1);
  const [segment] = result.segments;
  assertEquals(segment!.firstSeq, 1);
  assertEquals(segment!.lastSeq, 9);
  // The three records, then the SEAL the writer wrote at close.
  assertEquals(segment!.sizeBytes, records(fs, SEG1).at(-1)!.endOffset + WAL_SEAL_RECORD_BYTES);
});

Deno.test("recoverWal passes only the ops above afterSeq, trimming a straddling record", async () => {
  const fs = new FaultFs();
  await threeRecords(fs);
  const { entries, batches, result } = recoverEntries(fs, { afterSeq: 4 });
  assertEquals(batches, [[5, 1], [6, 4]]);
  assertEquals(entries.map((e) => e.seq), [5, 6, 7, 8, 9]);
  assertEquals(result.lastSeq, 9);
  assertEquals(recoverEntries(fs, { afterSeq: 9 }).entries, []);
});

Deno.test("WalReader ignores a truncated trailing record at every byte offset after a crash (zeroed tail)", async () => {
  const base = new FaultFs();
  await threeRecordsCrashed(base);
  const last = records(base, SEG1)[2]!;
  for (let cut = 0; cut < last.endOffset - last.offset; cut++) {
    const fs = new FaultFs();
    await threeRecordsCrashed(fs);
    const zeros = new Uint8Array(last.endOffset - last.offset - cut);
    patch(fs, SEG1, last.offset + cut, zeros);
    const logs: string[] = [];
    const { result, entries } = recoverEntries(fs, { logger: (_l, msg) => logs.push(msg) });
    assertEquals(keysOf(entries), keyRange(1, 5), `cut at ${cut}`);
    assertEquals(result.lastSeq, 5);
    if (cut === 0) {
      assertEquals(result.tornTail, undefined);
    } else {
      assertEquals(result.tornTail?.offset, last.offset, `cut at ${cut}`);
      assertEquals(result.tornTail?.path, SEG1);
      assertEquals(logs, ["cut torn tail of WAL segment"]);
    }
    // The cut is durable, and recovery sealed the segment where its data now ends.
    const sealed = parseRecordAt(readBytes(fs, SEG1, 0, 4096), last.offset, 0, "v2");
    assertEquals(sealed.status === "record" && sealed.record.type, 2, `cut at ${cut}`);
    assertEquals(
      readBytes(fs, SEG1, last.offset + WAL_SEAL_RECORD_BYTES, 64),
      new Uint8Array(64),
    );
    fs.powerLoss();
    const again = recoverEntries(fs);
    assertEquals(again.result.tornTail, undefined);
    assertEquals(keysOf(again.entries), keyRange(1, 5));
  }
});

Deno.test("WalReader ignores a truncated trailing record at every byte offset after a crash (short file)", async () => {
  const base = new FaultFs();
  await threeRecordsCrashed(base);
  const last = records(base, SEG1)[2]!;
  for (let cut = 0; cut < last.endOffset - last.offset; cut++) {
    const fs = new FaultFs();
    await threeRecordsCrashed(fs);
    const file = fs.open(SEG1, { write: true });
    file.truncate(last.offset + cut);
    file.close();
    const { result, entries } = recoverEntries(fs);
    assertEquals(keysOf(entries), keyRange(1, 5), `cut at ${cut}`);
    assertEquals(result.tornTail?.offset, cut === 0 ? undefined : last.offset);
  }
});

Deno.test("A torn tail is cut and the next writer continues the sequence", async () => {
  const fs = new FaultFs();
  await threeRecordsCrashed(fs);
  const last = records(fs, SEG1)[2]!;
  patch(fs, SEG1, last.offset + 20, new Uint8Array([0xde, 0xad]));
  const first = recoverEntries(fs);
  assertEquals(first.result.lastSeq, 5);
  await writeWal(fs, [ops(6, 2)], { nextSeq: 6, nextSegmentId: first.result.nextSegmentId });
  const second = recoverEntries(fs);
  assertEquals(second.result.tornTail, undefined);
  assertEquals(keysOf(second.entries), keyRange(1, 7));
  assertEquals(second.result.segments.map((s) => [s.id, s.firstSeq, s.lastSeq]), [
    [1, 1, 5],
    [2, 6, 7],
  ]);
});

interface Damage {
  name: string;
  /** Bytes to write over the record at `record.offset`, given the record. */
  bytes: (record: { offset: number; endOffset: number; seq: number }) => [number, Uint8Array];
  /** Expected message fragment. */
  reason: string;
  /** True when even a torn tail must fail (the checksums hold). */
  checksummed: boolean;
}

const DAMAGES: Damage[] = [
  {
    name: "bad length",
    bytes: (r) => [r.offset, u32(0x7fff_ffff)],
    reason: "bad record length",
    checksummed: false,
  },
  {
    name: "length past the end of the segment",
    bytes: (r) => [r.offset, u32(100_000)],
    reason: "truncated record",
    checksummed: false,
  },
  {
    name: "checksum mismatch",
    bytes: (r) => [r.endOffset - 12, new Uint8Array([0x5a])],
    reason: "checksum mismatch",
    checksummed: false,
  },
  {
    name: "trailer checksum mismatch",
    bytes: (r) => [r.endOffset - 6, new Uint8Array([0x5a])],
    reason: "trailer checksum mismatch",
    checksummed: false,
  },
  {
    name: "bad type",
    bytes: (r) => [r.offset, forgedRecord(r.seq, 9, r.seq, r.offset)],
    reason: "unknown record type 9",
    checksummed: true,
  },
  {
    name: "sequence 0",
    bytes: (r) => [r.offset, forgedRecord(0, WAL_RECORD_TYPE_BATCH, r.seq, r.offset)],
    reason: "sequence 0",
    checksummed: true,
  },
];

for (const damage of DAMAGES) {
  Deno.test(`WalReader: ${damage.name} in an older segment is CorruptionError with file and offset`, async () => {
    const fs = new FaultFs();
    await manySegments(fs);
    const paths = segmentPaths(fs);
    assert(paths.length >= 3, `only ${paths.length} segments`);
    const record = records(fs, paths[0]!)[1]!;
    const [at, data] = damage.bytes(record);
    patch(fs, paths[0]!, at, data);
    const err = assertThrows(() => recoverWal(fs, DIR), CorruptionError, damage.reason);
    assert(err.message.includes(`at offset ${record.offset} in ${paths[0]}`), err.message);
  });

  Deno.test(`WalReader: ${damage.name} in the last record of a cleanly closed segment is CorruptionError (its SEAL follows)`, async () => {
    const fs = new FaultFs();
    await manySegments(fs);
    const tail = segmentPaths(fs).at(-1)!;
    const record = records(fs, tail).at(-1)!;
    const [at, data] = damage.bytes(record);
    patch(fs, tail, at, data);
    const before = readBytes(fs, tail, 0, 512);
    const err = assertThrows(() => recoverWal(fs, DIR), CorruptionError, damage.reason);
    assert(err.message.includes(`at offset ${record.offset} in ${tail}`), err.message);
    assertEquals(readBytes(fs, tail, 0, 512), before, "a failed recovery changes nothing");
  });

  Deno.test(
    `WalReader: ${damage.name} in the last record after a crash is ${
      damage.checksummed ? "CorruptionError" : "cut as a torn write"
    }`,
    async () => {
      const fs = new FaultFs();
      await manySegments(fs, true);
      const tail = segmentPaths(fs).filter((p) => records(fs, p).length > 0).at(-1)!;
      const record = records(fs, tail).at(-1)!;
      const [at, data] = damage.bytes(record);
      patch(fs, tail, at, data);
      if (damage.checksummed) {
        const err = assertThrows(() => recoverWal(fs, DIR), CorruptionError, damage.reason);
        assert(err.message.includes(`at offset ${record.offset} in ${tail}`), err.message);
        return;
      }
      const { result, entries } = recoverEntries(fs);
      assertEquals(result.tornTail?.offset, record.offset);
      assert(result.tornTail!.reason.includes(damage.reason), result.tornTail!.reason);
      assertEquals(result.lastSeq, record.seq - 1);
      assertEquals(keysOf(entries), keyRange(1, record.seq - 1));
    },
  );
}

Deno.test("WalReader: a bad record followed by a record written after it was synced is CorruptionError (issue 7.2)", async () => {
  const fs = new FaultFs();
  // Each record is acknowledged (fdatasync'ed) before the next is written; then a crash.
  await threeRecordsCrashed(fs);
  const [first, second] = records(fs, SEG1);
  assertEquals(second!.syncedThrough, first!.endOffset);
  patch(fs, SEG1, first!.endOffset - 12, new Uint8Array([0x5a]));
  const before = readBytes(fs, SEG1, 0, 4096);
  const err = assertThrows(() => recoverWal(fs, DIR), CorruptionError, "checksum mismatch");
  assert(err.message.includes(`at offset ${first!.offset} in ${SEG1}`), err.message);
  assert(
    err.message.includes(`written after the segment had been fdatasync'ed through offset`),
    err.message,
  );
  assertEquals(readBytes(fs, SEG1, 0, 4096), before, "nothing was cut");
});

Deno.test("WalReader: records of one unsynced write are cut together when a later page survives an earlier one", async () => {
  const fs = new FaultFs();
  const writer = await import("../../src/wal/mod.ts").then((m) =>
    m.WalWriter.open(fs, DIR, { nextSeq: 1, segmentSizeBytes: 8192 })
  );
  await writer.append(ops(1, 2)).durable;
  // Five records in one group commit: one pwrite, one fdatasync (which power loss beat).
  await Promise.all([3, 5, 7, 9, 11].map((s) => writer.append(ops(s, 2)).durable));
  fs.processCrash();
  const recs = records(fs, SEG1);
  assertEquals(recs.map((r) => r.syncedThrough), [32, ...Array(5).fill(recs[1]!.offset)]);
  // The disk persisted the group's later records but not the bytes of its first one.
  patch(fs, SEG1, recs[1]!.offset, new Uint8Array(recs[1]!.endOffset - recs[1]!.offset));
  const logged: [LogLevel, string, LogFields | undefined][] = [];
  const { result, entries } = recoverEntries(fs, {
    logger: (level, msg, fields) => logged.push([level, msg, fields]),
  });
  assertEquals(keysOf(entries), keyRange(1, 2));
  assertEquals(result.tornTail?.offset, recs[1]!.offset);
  assertEquals(logged[0]?.[0], "warn");
  assertEquals(logged[0]?.[2]?.inFlightRecords, 4);
  assertEquals(logged[0]?.[2]?.firstInFlightAt, recs[2]!.offset);
});

Deno.test("WalReader: a newest segment whose first sector was lost but later ones kept is the torn tail", async () => {
  const fs = new FaultFs();
  await writeWal(fs, [ops(1, 2)]);
  // The next process writes one group into a fresh segment 2, and the power goes.
  await writeOneGroupCrashed(fs, [ops(3, 2), ops(5, 2), ops(7, 2)], {
    nextSeq: 3,
    nextSegmentId: 2,
  });
  const seg2 = joinPath(DIR, segmentFileName(2));
  const recs = records(fs, seg2);
  // The disk kept the group's later bytes, not its first ones (where the first record starts).
  patch(fs, seg2, WAL_SEGMENT_HEADER_BYTES, new Uint8Array(recs[1]!.offset - 32));
  const { result, entries } = recoverEntries(fs);
  assertEquals(keysOf(entries), keyRange(1, 2));
  assertEquals([result.tornTail?.path, result.tornTail?.offset], [seg2, WAL_SEGMENT_HEADER_BYTES]);
});

Deno.test("WalReader: in interval mode every record since the last sync was in flight: a bad one is cut", async () => {
  const fs = new FaultFs();
  await writeWalCrashed(fs, THREE(), { syncMode: "interval", syncIntervalMs: 60_000 });
  const recs = records(fs, SEG1);
  assertEquals(recs.map((r) => r.syncedThrough), [32, 32, 32]);
  patch(fs, SEG1, recs[0]!.endOffset - 12, new Uint8Array([0x5a]));
  const { result } = recoverEntries(fs);
  assertEquals(result.tornTail?.offset, recs[0]!.offset);
  assertEquals(result.lastSeq, 0);
});

Deno.test("WalReader: one unsynced write cut, then the sealed segment protects what stayed", async () => {
  const fs = new FaultFs();
  await writeOneGroupCrashed(fs, THREE());
  const recs = records(fs, SEG1);
  patch(fs, SEG1, recs[2]!.offset + 3, new Uint8Array([0x77]));
  assertEquals(recoverEntries(fs).result.lastSeq, 5);
  // Recovery sealed the segment: damage to a record it kept is now damage, not a tear.
  patch(fs, SEG1, recs[1]!.offset + 20, new Uint8Array([0x77]));
  assertThrows(() => recoverWal(fs, DIR), CorruptionError, `at offset ${recs[1]!.offset}`);
});

Deno.test("WalReader: garbage after the end-of-data mark of a crashed tail segment is cut", async () => {
  const fs = new FaultFs();
  await threeRecordsCrashed(fs);
  const end = records(fs, SEG1).at(-1)!.endOffset;
  patch(fs, SEG1, end + 100, new Uint8Array([1, 2, 3]));
  const { result, entries } = recoverEntries(fs);
  assertEquals(entries.length, 9);
  assertEquals(result.tornTail?.offset, end);
  assertEquals(result.tornTail?.bytes, 103);
  assertEquals(recoverEntries(fs).result.tornTail, undefined);
});

Deno.test("WalReader: stray bytes after a SEAL hold no record and are cut", async () => {
  const fs = new FaultFs();
  await threeRecords(fs);
  const end = records(fs, SEG1).at(-1)!.endOffset + WAL_SEAL_RECORD_BYTES;
  patch(fs, SEG1, end + 7, new Uint8Array([9]));
  const { result, entries } = recoverEntries(fs);
  assertEquals(entries.length, 9);
  assertEquals(result.tornTail?.offset, end);
  assert(result.tornTail!.reason.includes("after the segment's SEAL"), result.tornTail!.reason);
});

Deno.test("WalReader: an empty segment after a torn tail does not make it corruption", async () => {
  const fs = new FaultFs();
  await threeRecordsCrashed(fs);
  // A preallocated next segment the crash left behind, holding no record.
  const empty = new Uint8Array(4096);
  empty.set(encodeSegmentHeader(2));
  patch(fs, joinPath(DIR, segmentFileName(2)), 0, empty);
  const last = records(fs, SEG1).at(-1)!;
  patch(fs, SEG1, last.endOffset - 12, new Uint8Array([0x5a]));
  const { result } = recoverEntries(fs);
  assertEquals(result.tornTail?.path, SEG1);
  assertEquals(result.nextSegmentId, 3);
  assertEquals(result.segments.map((s) => [s.id, s.lastSeq]), [[1, 5], [2, 0]]);
});

Deno.test("WalReader: a sequence gap between segments is CorruptionError", async () => {
  const fs = new FaultFs();
  await writeWal(fs, [ops(1, 3)]);
  await writeWal(fs, [ops(10, 2)], { nextSeq: 10 });
  const second = joinPath(DIR, segmentFileName(2));
  const err = assertThrows(() => recoverWal(fs, DIR), CorruptionError, "sequence 10 where 4");
  assert(err.message.includes(`at offset ${WAL_SEGMENT_HEADER_BYTES} in ${second}`), err.message);
});

Deno.test("WalReader: a gap wholly at or below afterSeq is no loss (the tables hold it)", async () => {
  const fs = new FaultFs();
  await writeWal(fs, [ops(1, 3)]);
  await writeWal(fs, [ops(10, 2)], { nextSeq: 10 });
  const { entries, result } = recoverEntries(fs, { afterSeq: 9 });
  assertEquals(keysOf(entries), ["key-10", "key-11"]);
  assertEquals(result.lastSeq, 11);
});

Deno.test("WalReader: a repeated sequence is CorruptionError", async () => {
  const fs = new FaultFs();
  await writeWal(fs, [ops(1, 3)]);
  await writeWal(fs, [ops(3, 2)], { nextSeq: 3 });
  assertThrows(() => recoverWal(fs, DIR), CorruptionError, "gap or repeat");
});

Deno.test("WalReader: a first record above afterSeq + 1 is CorruptionError (missing records)", async () => {
  const fs = new FaultFs();
  await writeWal(fs, [ops(50, 2)], { nextSeq: 50 });
  assertThrows(() => recoverWal(fs, DIR, { afterSeq: 10 }), CorruptionError, "missing");
  assertEquals(recoverEntries(fs, { afterSeq: 49 }).entries.length, 2);
});

Deno.test("WalReader: a record whose batch does not decode is CorruptionError even at the tail", async () => {
  const fs = new FaultFs();
  await threeRecordsCrashed(fs);
  const last = records(fs, SEG1).at(-1)!;
  // Valid checksums around a payload claiming 2 ops but holding 1.
  const payload = encodeBatch(ops(6, 1));
  payload[0] = 2;
  patch(fs, SEG1, last.offset, encodeRecordV2(6, WAL_RECORD_TYPE_BATCH, payload, 32));
  assertThrows(() => recoverWal(fs, DIR), CorruptionError, `bad batch`);
});

Deno.test("WalReader: damage wholly at or below afterSeq is skipped, in any segment", async () => {
  for (const which of ["older", "tail"] as const) {
    const fs = new FaultFs();
    await manySegments(fs);
    const paths = segmentPaths(fs);
    const path = which === "older" ? paths[0]! : paths.at(-1)!;
    const recs = records(fs, path);
    const bad = recs[0]!;
    patch(fs, path, bad.offset + 20, new Uint8Array([0x42]));
    // Fails while the damaged record's ops are above afterSeq…
    assertThrows(() => recoverWal(fs, DIR, { afterSeq: bad.seq }), CorruptionError);
    // …and is skipped once they are all in tables.
    const logs: string[] = [];
    const { result, entries } = recoverEntries(fs, {
      afterSeq: bad.seq + 1,
      logger: (_l, msg) => logs.push(msg),
    });
    assertEquals(result.skippedDamage.map((d) => [d.path, d.offset]), [[path, bad.offset]]);
    assertEquals(logs, ["skipped WAL damage below the flushed sequence"], which);
    assertEquals(result.lastSeq, 60, which);
    assertEquals(entries.length, 60 - bad.seq - 1, which);
    const info = result.segments.find((s) => s.path === path)!;
    assertEquals(info.firstOffset, recs[1]?.offset ?? bad.endOffset, which);
  }
});

Deno.test("recoverWal with onDamage stop reports the damage, what was kept and the highest sequence after it", async () => {
  const fs = new FaultFs();
  await manySegments(fs);
  const paths = segmentPaths(fs);
  const recs = records(fs, paths[1]!);
  patch(fs, paths[1]!, recs[0]!.offset + 20, new Uint8Array([0x42]));
  const before = paths.map((p) => readBytes(fs, p, 0, 512));
  const { result, entries } = recoverEntries(fs, { onDamage: "stop" });
  assertEquals(result.damage?.path, paths[1]);
  assertEquals(result.damage?.offset, recs[0]!.offset);
  assertEquals(result.damage?.keptSeq, recs[0]!.seq - 1);
  assertEquals(result.damage?.highestSeqAfter, 60);
  assert(result.damage!.message.includes("checksum mismatch"), result.damage!.message);
  assertEquals(entries.length, recs[0]!.seq - 1);
  assertEquals(paths.map((p) => readBytes(fs, p, 0, 512)), before, "nothing cut or sealed");
});

Deno.test("recoverWal with onDamage stop also stops at a damaged segment header", async () => {
  const fs = new FaultFs();
  await manySegments(fs);
  const paths = segmentPaths(fs);
  patch(fs, paths[2]!, 3, new Uint8Array([0x99]));
  const { result } = recoverEntries(fs, { onDamage: "stop" });
  assertEquals([result.damage?.path, result.damage?.offset], [paths[2], 0]);
  assertEquals(result.damage?.keptSeq, records(fs, paths[1]!).at(-1)!.seq + 1);
  assertEquals(result.damage?.highestSeqAfter, 60);
});

Deno.test("recoverWal still reads version-1 segments (an older data directory) and their rule", async () => {
  const fs = new FaultFs();
  const batches = [{ seq: 1, ops: ops(1, 3) }, { seq: 4, ops: ops(4, 2) }, {
    seq: 6,
    ops: ops(6, 4),
  }];
  writeV1Segment(fs, 1, 64, batches);
  const { entries, result } = recoverEntries(fs);
  assertEquals(keysOf(entries), keyRange(1, 9));
  assertEquals(result.segments[0]!.version, 1);
  // A writer of this build continues in a version-2 segment; both replay.
  await writeWal(fs, [ops(10, 1)], { nextSeq: 10, nextSegmentId: 2 });
  assertEquals(keysOf(recoverEntries(fs).entries), keyRange(1, 10));
  // Version 1 keeps its rule: a valid record 64 bytes or more past a bad one is damage…
  const bad = new FaultFs();
  writeV1Segment(bad, 1, 64, batches);
  const recs = records(bad, SEG1);
  assert(recs[2]!.offset - recs[0]!.offset >= 64, "records too small for the test");
  patch(bad, SEG1, recs[0]!.endOffset - 1, new Uint8Array([0x5a]));
  assertThrows(() => recoverWal(bad, DIR), CorruptionError, "not a torn write");
  // …and with no bound (interval or none mode) the tail is cut at the first bad record.
  const loose = new FaultFs();
  writeV1Segment(loose, 1, 0, batches);
  patch(loose, SEG1, recs[0]!.endOffset - 1, new Uint8Array([0x5a]));
  assertEquals(recoverEntries(loose).result.tornTail?.offset, recs[0]!.offset);
});

Deno.test("WalReader: bad segment header magic is CorruptionError", async () => {
  const fs = new FaultFs();
  await threeRecords(fs);
  patch(fs, SEG1, 0, new TextEncoder().encode("NOTAWAL!"));
  assertThrows(
    () => recoverWal(fs, DIR),
    CorruptionError,
    `bad magic (not a CityHall WAL segment) at offset 0 in ${SEG1}`,
  );
});

Deno.test("WalReader: an unsupported segment format version is CorruptionError", async () => {
  const fs = new FaultFs();
  await threeRecords(fs);
  const header = encodeSegmentHeader(1);
  const view = new DataView(header.buffer);
  view.setUint16(8, 3, true);
  view.setUint32(28, maskCrc(crc32c(header, 0, 28)), true);
  patch(fs, SEG1, 0, header);
  assertThrows(() => recoverWal(fs, DIR), CorruptionError, "unsupported format version 3");
});

Deno.test("WalReader: a segment header checksum mismatch is CorruptionError", async () => {
  const fs = new FaultFs();
  await threeRecords(fs);
  patch(fs, SEG1, 20, new Uint8Array([9]));
  assertThrows(() => recoverWal(fs, DIR), CorruptionError, "checksum mismatch at offset 0");
});

Deno.test("WalReader: a segment whose header id does not match its name is CorruptionError", async () => {
  const fs = new FaultFs();
  await threeRecords(fs);
  fs.rename(SEG1, joinPath(DIR, segmentFileName(7)));
  assertThrows(() => recoverWal(fs, DIR), CorruptionError, "does not match the file name");
});

Deno.test("WalReader: a segment shorter than its header is CorruptionError", async () => {
  const fs = new FaultFs();
  await threeRecords(fs);
  const file = fs.open(SEG1, { write: true });
  file.truncate(10);
  file.close();
  assertThrows(() => recoverWal(fs, DIR), CorruptionError, "fewer than the 32-byte header");
});

Deno.test("recoverWal removes leftover .wal.tmp files and ignores other names", async () => {
  const fs = new FaultFs();
  await threeRecords(fs);
  patch(fs, joinPath(DIR, "000009.wal.tmp"), 0, new Uint8Array(10));
  patch(fs, joinPath(DIR, "notes.txt"), 0, new Uint8Array(10));
  const { result } = recoverEntries(fs);
  assertEquals(result.nextSegmentId, 2);
  assertEquals(fs.readDir(DIR), ["000001.wal", "notes.txt"]);
});

Deno.test("recoverWal on an empty directory returns no segments", () => {
  const fs = new FaultFs();
  fs.mkdirp(DIR);
  const result = recoverWal(fs, DIR);
  assertEquals(result, { segments: [], lastSeq: 0, nextSegmentId: 1, skippedDamage: [] });
});

Deno.test("readSegmentRecords yields batches from an offset, skips the SEAL and throws on a bad one", async () => {
  const fs = new FaultFs();
  await threeRecords(fs);
  const all = [...readSegmentRecords(fs, SEG1)];
  assertEquals(all.map((r) => r.seq), [1, 4, 6]);
  assertEquals(all[0]!.offset, WAL_SEGMENT_HEADER_BYTES);
  assertEquals(all[1]!.offset, all[0]!.endOffset);
  const tail = [...readSegmentRecords(fs, SEG1, all[1]!.offset)];
  assertEquals(tail.map((r) => r.seq), [4, 6]);
  patch(fs, SEG1, all[2]!.endOffset - 12, new Uint8Array([0x5a]));
  assertThrows(
    () => [...readSegmentRecords(fs, SEG1)],
    CorruptionError,
    `checksum mismatch at offset ${all[2]!.offset} in ${SEG1}`,
  );
});

Deno.test("recoverWal rethrows errors from onBatch unchanged", async () => {
  const fs = new FaultFs();
  await threeRecords(fs);
  await assertRejects(
    () =>
      Promise.resolve().then(() =>
        recoverWal(fs, DIR, {
          onBatch: () => {
            throw new RangeError("from the engine");
          },
        })
      ),
    RangeError,
    "from the engine",
  );
});
