import { assert, assertEquals, assertRejects, assertThrows } from "@std/assert";
import { CorruptionError } from "../../src/errors.ts";
import { FaultFs, joinPath } from "../../src/fs/mod.ts";
import { crc32c, crc32cExtend, maskCrc } from "../../src/util/crc32c.ts";
import type { LogFields, LogLevel } from "../../src/util/log.ts";
import {
  encodeBatch,
  encodeRecord,
  encodeSegmentHeader,
  readSegmentRecords,
  recoverWal,
  segmentFileName,
  WAL_RECORD_TYPE_BATCH,
  WAL_SEGMENT_HEADER_BYTES,
  type WalRecordType,
} from "../../src/wal/mod.ts";
import {
  DIR,
  keysOf,
  ops,
  patch,
  readBytes,
  records,
  recoverEntries,
  writeWal,
} from "./_helpers.ts";

const SEG1 = joinPath(DIR, segmentFileName(1));

/** Keys `key-first` … `key-last`. */
function keyRange(first: number, last: number): string[] {
  return Array.from({ length: last - first + 1 }, (_, i) => `key-${first + i}`);
}

/** Three records (seqs 1–3, 4–5, 6–9) in segment 1. */
async function threeRecords(fs: FaultFs): Promise<void> {
  await writeWal(fs, [ops(1, 3), ops(4, 2), ops(6, 4)], { segmentSizeBytes: 4096 });
}

/** Records spread over several 512-byte segments (seqs 1–60, 2 ops per record). */
async function manySegments(fs: FaultFs, options = {}): Promise<void> {
  const batches = Array.from({ length: 30 }, (_, i) => ops(1 + 2 * i, 2));
  await writeWal(fs, batches, { segmentSizeBytes: 512, ...options });
}

function segmentPaths(fs: FaultFs): string[] {
  return fs.readDir(DIR).filter((n) => n.endsWith(".wal")).map((n) => joinPath(DIR, n));
}

function u32(value: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, value, true);
  return b;
}

/** A record with a valid checksum but any type and sequence (even 0). */
function forgedRecord(seq: number, type: number, first: number): Uint8Array {
  const record = encodeRecord(1, type as WalRecordType, encodeBatch(ops(first, 1)));
  const view = new DataView(record.buffer);
  view.setUint32(8, seq, true);
  const crc = crc32cExtend(crc32cExtend(0, record, 0, 4), record, 8, record.length);
  view.setUint32(4, maskCrc(crc), true);
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
  assertEquals(result.segments.length, 1);
  const [segment] = result.segments;
  assertEquals(segment!.firstSeq, 1);
  assertEquals(segment!.lastSeq, 9);
  assertEquals(segment!.sizeBytes, records(fs, SEG1).at(-1)!.endOffset);
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

Deno.test("WalReader ignores a truncated trailing record at every byte offset (zeroed tail)", async () => {
  const base = new FaultFs();
  await threeRecords(base);
  const last = records(base, SEG1)[2]!;
  for (let cut = 0; cut < last.endOffset - last.offset; cut++) {
    const fs = new FaultFs();
    await threeRecords(fs);
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
    // The cut is durable: the bytes are zero now and the next recovery is clean.
    assertEquals(readBytes(fs, SEG1, last.offset, 64), new Uint8Array(64));
    fs.powerLoss();
    const again = recoverEntries(fs);
    assertEquals(again.result.tornTail, undefined);
    assertEquals(keysOf(again.entries), keyRange(1, 5));
  }
});

Deno.test("WalReader ignores a truncated trailing record at every byte offset (short file)", async () => {
  const base = new FaultFs();
  await threeRecords(base);
  const last = records(base, SEG1)[2]!;
  for (let cut = 0; cut < last.endOffset - last.offset; cut++) {
    const fs = new FaultFs();
    await threeRecords(fs);
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
  await threeRecords(fs);
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
  /** True when even the tail segment must fail (the checksum holds). */
  alwaysCorrupt: boolean;
}

const DAMAGES: Damage[] = [
  {
    name: "bad length",
    bytes: (r) => [r.offset, u32(0x7fff_ffff)],
    reason: "bad record length",
    alwaysCorrupt: false,
  },
  {
    name: "length past the end of the segment",
    bytes: (r) => [r.offset, u32(100_000)],
    reason: "truncated record",
    alwaysCorrupt: false,
  },
  {
    name: "checksum mismatch",
    bytes: (r) => [r.endOffset - 1, new Uint8Array([0x5a])],
    reason: "checksum mismatch",
    alwaysCorrupt: false,
  },
  {
    name: "bad type",
    bytes: (r) => [r.offset, forgedRecord(r.seq, 9, r.seq)],
    reason: "unknown record type 9",
    alwaysCorrupt: true,
  },
  {
    name: "sequence 0",
    bytes: (r) => [r.offset, forgedRecord(0, WAL_RECORD_TYPE_BATCH, r.seq)],
    reason: "sequence 0",
    alwaysCorrupt: true,
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

  Deno.test(
    `WalReader: ${damage.name} in the last record of the tail segment is ${
      damage.alwaysCorrupt ? "CorruptionError" : "cut as a torn write"
    }`,
    async () => {
      const fs = new FaultFs();
      await manySegments(fs);
      const paths = segmentPaths(fs);
      const tail = paths.at(-1)!;
      const recs = records(fs, tail);
      const record = recs.at(-1)!;
      const [at, data] = damage.bytes(record);
      patch(fs, tail, at, data);
      if (damage.alwaysCorrupt) {
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

Deno.test("WalReader: a bad record followed by valid ones within one group-commit window is cut", async () => {
  const fs = new FaultFs();
  await threeRecords(fs);
  const first = records(fs, SEG1)[0]!;
  patch(fs, SEG1, first.endOffset - 1, new Uint8Array([0x5a]));
  const logged: [LogLevel, string, LogFields | undefined][] = [];
  const { result, entries } = recoverEntries(fs, {
    logger: (level, msg, fields) => logged.push([level, msg, fields]),
  });
  assertEquals(entries, []);
  assertEquals(result.lastSeq, 0);
  assertEquals(result.tornTail?.offset, first.offset);
  assertEquals(logged[0]?.[0], "warn");
  assertEquals(logged[0]?.[2]?.validRecordDroppedAt, first.endOffset);
});

Deno.test("WalReader: a bad record with a valid one past the unsynced window is CorruptionError", async () => {
  const fs = new FaultFs();
  // A 64-byte group cap: each group of the always-mode writer is synced before the next.
  await writeWal(fs, [ops(1, 3), ops(4, 2), ops(6, 4), ops(10, 2)], { groupCommitBytesMax: 64 });
  const recs = records(fs, SEG1);
  const bad = recs[0]!;
  assert(recs.at(-1)!.offset - bad.offset >= 64, "records too small for the test");
  patch(fs, SEG1, bad.endOffset - 1, new Uint8Array([0x5a]));
  const err = assertThrows(() => recoverWal(fs, DIR), CorruptionError, "checksum mismatch");
  assert(err.message.includes(`at offset ${bad.offset} in ${SEG1}`), err.message);
  assert(err.message.includes("not a torn write"), err.message);
});

Deno.test("WalReader: segments written in interval mode cut at the first bad record", async () => {
  const fs = new FaultFs();
  await writeWal(fs, [ops(1, 3), ops(4, 2), ops(6, 4)], {
    syncMode: "interval",
    groupCommitBytesMax: 64,
  });
  const first = records(fs, SEG1)[0]!;
  patch(fs, SEG1, first.endOffset - 1, new Uint8Array([0x5a]));
  const { result } = recoverEntries(fs);
  assertEquals(result.tornTail?.offset, first.offset);
  assertEquals(result.lastSeq, 0);
});

Deno.test("WalReader: garbage after the end-of-data mark in the tail segment is cut", async () => {
  const fs = new FaultFs();
  await threeRecords(fs);
  const end = records(fs, SEG1).at(-1)!.endOffset;
  patch(fs, SEG1, end + 100, new Uint8Array([1, 2, 3]));
  const { result, entries } = recoverEntries(fs);
  assertEquals(entries.length, 9);
  assertEquals(result.tornTail?.offset, end);
  assertEquals(result.tornTail?.bytes, 103);
  assertEquals(recoverEntries(fs).result.tornTail, undefined);
});

Deno.test("WalReader: an empty segment after a torn tail does not make it corruption", async () => {
  const fs = new FaultFs();
  await threeRecords(fs);
  // A preallocated next segment the crash left behind, holding no record.
  const empty = new Uint8Array(4096);
  empty.set(encodeSegmentHeader(2, 64));
  patch(fs, joinPath(DIR, segmentFileName(2)), 0, empty);
  const last = records(fs, SEG1).at(-1)!;
  patch(fs, SEG1, last.endOffset - 1, new Uint8Array([0x5a]));
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
  await threeRecords(fs);
  const last = records(fs, SEG1).at(-1)!;
  // Valid checksum around a payload claiming 2 ops but holding 1.
  const payload = encodeBatch(ops(6, 1));
  payload[0] = 2;
  patch(fs, SEG1, last.offset, encodeRecord(6, WAL_RECORD_TYPE_BATCH, payload));
  assertThrows(() => recoverWal(fs, DIR), CorruptionError, `bad batch`);
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
  const header = encodeSegmentHeader(1, 0);
  const view = new DataView(header.buffer);
  view.setUint16(8, 2, true);
  view.setUint32(28, maskCrc(crc32c(header, 0, 28)), true);
  patch(fs, SEG1, 0, header);
  assertThrows(() => recoverWal(fs, DIR), CorruptionError, "unsupported format version 2");
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
  assertEquals(result, { segments: [], lastSeq: 0, nextSegmentId: 1 });
});

Deno.test("readSegmentRecords yields records from an offset and throws on a bad one", async () => {
  const fs = new FaultFs();
  await threeRecords(fs);
  const all = [...readSegmentRecords(fs, SEG1)];
  assertEquals(all.map((r) => r.seq), [1, 4, 6]);
  assertEquals(all[0]!.offset, WAL_SEGMENT_HEADER_BYTES);
  assertEquals(all[1]!.offset, all[0]!.endOffset);
  const tail = [...readSegmentRecords(fs, SEG1, all[1]!.offset)];
  assertEquals(tail.map((r) => r.seq), [4, 6]);
  patch(fs, SEG1, all[2]!.endOffset - 1, new Uint8Array([0x5a]));
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
