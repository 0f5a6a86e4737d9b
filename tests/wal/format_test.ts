import { assert, assertEquals, assertThrows } from "@std/assert";
import { CorruptionError } from "../../src/errors.ts";
import { WAL_RECORD_HEADER_BYTES, WAL_RECORD_TRAILER_BYTES } from "../../src/limits.ts";
import { KIND_DELETE, KIND_PUT } from "../../src/util/entry.ts";
import {
  decodeBatch,
  decodeSegmentHeader,
  encodeBatch,
  encodeRecord,
  encodeRecordV2,
  encodeSealRecord,
  encodeSegmentHeader,
  parseSegmentFileName,
  segmentFileName,
  WAL_RECORD_TYPE_BATCH,
  WAL_RECORD_TYPE_SEAL,
  WAL_SEAL_RECORD_BYTES,
  WAL_SEGMENT_HEADER_BYTES,
  type WalOp,
} from "../../src/wal/mod.ts";
import { parseRecordAt } from "../../src/wal/format.ts";

const bytes = (s: string) => new TextEncoder().encode(s);

function sampleOps(): WalOp[] {
  return [
    { kind: KIND_PUT, key: bytes("alpha"), value: bytes("one") },
    { kind: KIND_PUT, key: new Uint8Array([0, 0xff, 0, 0x80]), value: new Uint8Array([0, 1, 2]) },
    { kind: KIND_DELETE, key: bytes("gone") },
    { kind: KIND_PUT, key: new Uint8Array(0), value: new Uint8Array(0) },
    { kind: KIND_PUT, key: bytes("ttl"), value: bytes("v"), expireAtMs: 1_700_000_000_123 },
    { kind: KIND_PUT, key: bytes("max"), value: bytes("v"), expireAtMs: 8_640_000_000_000_000 },
  ];
}

Deno.test("encodeBatch/decodeBatch round-trip binary keys, empty values and expireAtMs", () => {
  const ops = sampleOps();
  const entries = decodeBatch(encodeBatch(ops), 41);
  assertEquals(entries.length, ops.length);
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i]!;
    assertEquals(entries[i], {
      key: op.key,
      seq: 41 + i,
      kind: op.kind,
      expireAtMs: op.kind === KIND_PUT ? op.expireAtMs ?? 0 : 0,
      value: op.kind === KIND_PUT ? op.value ?? new Uint8Array(0) : new Uint8Array(0),
    });
  }
});

Deno.test("decodeBatch copies keys and values out of the payload", () => {
  const payload = encodeBatch([{ kind: KIND_PUT, key: bytes("k"), value: bytes("v") }]);
  const [entry] = decodeBatch(payload, 1);
  payload.fill(0);
  assertEquals(entry!.key, bytes("k"));
  assertEquals(entry!.value, bytes("v"));
});

Deno.test("decodeBatch throws CorruptionError (never RangeError) on every truncation", () => {
  const payload = encodeBatch(sampleOps());
  for (let n = 0; n < payload.length; n++) {
    assertThrows(() => decodeBatch(payload.subarray(0, n), 1), CorruptionError, undefined, `${n}`);
  }
});

Deno.test("decodeBatch throws only CorruptionError on flipped bytes", () => {
  const payload = encodeBatch(sampleOps());
  for (let i = 0; i < payload.length; i++) {
    for (const bit of [0x01, 0x40, 0x80]) {
      const bad = payload.slice();
      bad[i] = bad[i]! ^ bit;
      try {
        decodeBatch(bad, 1);
      } catch (err) {
        assert(err instanceof CorruptionError, `byte ${i} bit ${bit}: ${err}`);
      }
    }
  }
});

Deno.test("decodeBatch rejects a zero count, an unknown kind and trailing bytes", () => {
  assertThrows(() => decodeBatch(new Uint8Array([0]), 1), CorruptionError, "op count 0");
  assertThrows(() => decodeBatch(new Uint8Array([1, 7, 0]), 1), CorruptionError, "unknown kind 7");
  const payload = encodeBatch([{ kind: KIND_DELETE, key: bytes("k") }]);
  const longer = new Uint8Array(payload.length + 1);
  longer.set(payload);
  assertThrows(() => decodeBatch(longer, 1), CorruptionError, "trailing");
  assertThrows(() => decodeBatch(new Uint8Array([0xff, 0xff, 0xff]), 1), CorruptionError);
});

Deno.test("encodeRecord lays out length, crc, seq, type and payload little-endian", () => {
  const payload = encodeBatch([{ kind: KIND_PUT, key: bytes("k"), value: bytes("v") }]);
  const record = encodeRecord(0x0102030405, WAL_RECORD_TYPE_BATCH, payload);
  assertEquals(record.length, WAL_RECORD_HEADER_BYTES + payload.length);
  const view = new DataView(record.buffer);
  assertEquals(view.getUint32(0, true), payload.length);
  assertEquals(view.getUint32(8, true), 0x02030405);
  assertEquals(view.getUint32(12, true), 0x01);
  assertEquals(record[16], WAL_RECORD_TYPE_BATCH);
  assertEquals(record.subarray(17), payload);
  const parsed = parseRecordAt(record, 0, 100);
  if (parsed.status !== "record") throw new Error(`not a record: ${parsed.status}`);
  assertEquals(parsed.record.seq, 0x0102030405);
  assertEquals(parsed.record.offset, 100);
  assertEquals(parsed.record.endOffset, 100 + record.length);
});

Deno.test("parseRecordAt: zeros end the data; every flipped bit is bad or checksummed-bad", () => {
  assertEquals(parseRecordAt(new Uint8Array(40), 0).status, "end");
  assertEquals(parseRecordAt(new Uint8Array(5), 0).status, "end");
  const record = encodeRecord(7, WAL_RECORD_TYPE_BATCH, encodeBatch(sampleOps()));
  for (let i = 0; i < record.length; i++) {
    const bad = record.slice();
    bad[i] = bad[i]! ^ 0x10;
    assertEquals(parseRecordAt(bad, 0).status, "bad", `byte ${i}`);
  }
});

Deno.test("parseRecordAt (v2): every flipped bit of body or trailer is bad or checksummed-bad", () => {
  const record = encodeRecordV2(7, WAL_RECORD_TYPE_BATCH, encodeBatch(sampleOps()), 32);
  const parsed = parseRecordAt(record, 0, 100, "v2");
  if (parsed.status !== "record") throw new Error(`not a record: ${parsed.status}`);
  assertEquals(parsed.record.syncedThrough, 32);
  assertEquals(parsed.record.endOffset, 100 + record.length);
  assertEquals(parsed.record.bodyEndOffset, 100 + record.length - WAL_RECORD_TRAILER_BYTES);
  for (let i = 0; i < record.length; i++) {
    const bad = record.slice();
    bad[i] = bad[i]! ^ 0x10;
    assertEquals(parseRecordAt(bad, 0, 100, "v2").status, "bad", `byte ${i}`);
  }
  // A synced-through offset past the record's own offset cannot come from a writer.
  const ahead = encodeRecordV2(7, WAL_RECORD_TYPE_BATCH, encodeBatch(sampleOps()), 200);
  const verdict = parseRecordAt(ahead, 0, 100, "v2");
  assertEquals(verdict.status === "bad" && verdict.checksummed, true);
  // Replication's wire format (the body) never carries a SEAL.
  const seal = encodeSealRecord(10, 64);
  assertEquals(seal.length, WAL_SEAL_RECORD_BYTES);
  const sealed = parseRecordAt(seal, 0, 64, "v2");
  assertEquals(sealed.status === "record" && sealed.record.type, WAL_RECORD_TYPE_SEAL);
  assertEquals(parseRecordAt(seal.subarray(0, 18), 0, 64).status, "bad");
});

Deno.test("The worked example of ARCHITECTURE.md § WAL is what the code writes", () => {
  const hex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, "0")).join(" ");
  assertEquals(
    hex(encodeSegmentHeader(1)),
    "43 48 57 41 4c 53 45 47 02 00 00 00 00 00 00 00 01 00 00 00 00 00 00 00 00 00 00 00 " +
      "e5 6c 83 75",
  );
  const ops: WalOp[] = [
    { kind: KIND_PUT, key: bytes("k"), value: bytes("v") },
    { kind: KIND_DELETE, key: bytes("x") },
  ];
  const record = encodeRecordV2(5, WAL_RECORD_TYPE_BATCH, encodeBatch(ops), 32);
  assertEquals(
    hex(record),
    "0a 00 00 00 24 92 fc c8 05 00 00 00 00 00 00 00 01 " +
      "02 01 01 6b 00 01 76 00 01 78 " +
      "20 00 00 00 39 9a e8 1d",
  );
  assertEquals(
    hex(encodeSealRecord(7, 67)),
    "01 00 00 00 7d e7 03 5e 07 00 00 00 00 00 00 00 02 00 43 00 00 00 a9 ff 01 f4",
  );
});

Deno.test("Segment header round-trips (versions 1 and 2) and rejects bad magic, version and checksum", () => {
  const v1 = encodeSegmentHeader(12, 1, 4096);
  assertEquals(decodeSegmentHeader(v1, "x"), { id: 12, version: 1, unsyncedBytesMax: 4096 });
  const header = encodeSegmentHeader(12);
  assertEquals(header.length, WAL_SEGMENT_HEADER_BYTES);
  assertEquals(decodeSegmentHeader(header, "x"), { id: 12, version: 2, unsyncedBytesMax: 0 });
  for (let i = 0; i < header.length; i++) {
    const bad = header.slice();
    bad[i] = bad[i]! ^ 0x01;
    assertThrows(() => decodeSegmentHeader(bad, "000012.wal"), CorruptionError, "000012.wal");
  }
  assertThrows(
    () => decodeSegmentHeader(header.subarray(0, 31), "x"),
    CorruptionError,
    "fewer than",
  );
});

Deno.test("segmentFileName and parseSegmentFileName agree", () => {
  assertEquals(segmentFileName(3), "000003.wal");
  assertEquals(segmentFileName(1_234_567), "1234567.wal");
  assertEquals(parseSegmentFileName("000003.wal"), 3);
  assertEquals(parseSegmentFileName("1234567.wal"), 1_234_567);
  assertEquals(parseSegmentFileName("000003.wal.tmp"), undefined);
  assertEquals(parseSegmentFileName("3.wal"), undefined);
  assertEquals(parseSegmentFileName("000000.wal"), undefined);
});
