/**
 * Fleet frame bodies byte by byte (the worked examples of ARCHITECTURE.md § "Fleet frames"),
 * and RECORDS checked whole: gaps, counts, bad payloads and lying headers are refused before
 * anything is applied.
 *
 * @module
 */

import { assertEquals, assertThrows } from "@std/assert";
import { ProtocolError } from "../../src/errors.ts";
import {
  checkRecordsFrame,
  decodeUplinkHello,
  decodeUplinkWelcome,
  encodeRecords,
  encodeUplinkHello,
  encodeUplinkWelcome,
} from "../../src/fleet/frames.ts";
import { encodeFrame, FRAME_RECORDS, FRAME_UPLINK_HELLO } from "../../src/replication/frame.ts";
import { encodeBatch } from "../../src/wal/format.ts";
import { KIND_DELETE, KIND_LOG, KIND_PUT } from "../../src/util/entry.ts";
import { encodeLog, ENTRY_SAMPLES, TS_LOG_KEY } from "../../src/timeseries/log.ts";
import { toCatchUp } from "../../src/fleet/catchup.ts";

const hex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, "0")).join(" ");
const utf8 = new TextEncoder();

Deno.test("frames: UPLINK_HELLO and UPLINK_WELCOME, byte by byte", () => {
  const hello = {
    version: 1,
    site: "s1",
    shipMode: 0,
    edgeId: new Uint8Array(16).fill(0xee),
    expectedHubId: new Uint8Array(16),
    edgeDurableSeq: 3,
    edgeFirstSeq: 1,
    rateLimitBytesPerSec: 65536,
    token: utf8.encode("tk"),
  };
  const body = encodeUplinkHello(hello);
  assertEquals(body.length, 70);
  assertEquals(
    hex(body.subarray(0, 12)),
    "43 48 53 59 4e 43 0d 0a 01 00 02 00",
  );
  assertEquals(
    hex(body.subarray(44, 70)),
    "03 00 00 00 00 00 00 00 01 00 00 00 00 00 00 00 00 00 01 00 02 00 73 31 74 6b",
  );
  assertEquals(decodeUplinkHello(body), hello);
  const frame = encodeFrame(FRAME_UPLINK_HELLO, body);
  assertEquals(hex(frame.subarray(0, 8)), "0c 00 00 00 46 00 00 00");
  const welcome = {
    hubId: new Uint8Array(16).fill(0x11),
    position: 2,
    heartbeatMs: 1000,
    idleTimeoutMs: 10000,
  };
  const w = encodeUplinkWelcome(welcome);
  assertEquals(hex(w.subarray(16)), "02 00 00 00 00 00 00 00 e8 03 00 00 10 27 00 00");
  assertEquals(decodeUplinkWelcome(w), welcome);
  assertThrows(() => decodeUplinkHello(body.subarray(0, 69)), ProtocolError, "token length");
  const badMagic = body.slice();
  badMagic[0] = 0;
  assertThrows(() => decodeUplinkHello(badMagic), ProtocolError, "bad magic");
});

function records(
  firstSeq: number,
  payloads: Uint8Array[],
  lastSeq: number,
  count = payloads.length,
) {
  const body = encodeRecords({
    firstSeq,
    lastSeq,
    edgeDurableSeq: Math.max(lastSeq, 9),
    behindBytes: 0,
    behindMs: 0,
    payloads,
  });
  new DataView(body.buffer).setUint32(40, count, true);
  return body;
}

const put = (
  k: string,
  v: string,
) => ({ kind: KIND_PUT, key: utf8.encode(k), value: utf8.encode(v), expireAtMs: 0 } as const);

Deno.test("frames: RECORDS of the worked example decode to their ops with their sequences", () => {
  const p1 = encodeBatch([put("k", "v")]);
  const p2 = encodeBatch([put("a", "1"), { kind: KIND_DELETE, key: utf8.encode("k") }]);
  const body = records(1, [p1, p2], 3);
  assertEquals(hex(body.subarray(44)), "07 01 01 01 6b 00 01 76 0a 02 01 01 61 00 01 31 00 01 6b");
  const checked = checkRecordsFrame(body, 1);
  assertEquals(checked.records.map((r) => r.seq), [1, 2]);
  assertEquals(checked.records[1]!.entries.map((e) => e.seq), [2, 3]);
  assertEquals(checked.records[1]!.entries[1]!.kind, KIND_DELETE);
  // Re-sent from sequence 3: the record holding it (from 2) is accepted, the hub skips op 2.
  assertEquals(checkRecordsFrame(records(2, [p2], 3), 3).records.length, 1);
  const frame = encodeFrame(FRAME_RECORDS, body, { zstdLevel: 3 });
  assertEquals(frame[0], 14);
});

Deno.test("frames: RECORDS that leave a gap, lie about counts or sequences, or hold a bad batch are refused", () => {
  const p1 = encodeBatch([put("k", "v")]);
  const p2 = encodeBatch([put("a", "1"), put("b", "2")]);
  assertThrows(() => checkRecordsFrame(records(5, [p1], 5), 4), ProtocolError, "gap");
  assertThrows(
    () => checkRecordsFrame(records(1, [p1, p2], 3, 3), 1),
    ProtocolError,
    "2 records, header says 3",
  );
  assertThrows(() => checkRecordsFrame(records(1, [p1, p2], 4), 1), ProtocolError, "header says 4");
  assertThrows(
    () => checkRecordsFrame(records(1, [p1, p2], 3, 1), 1),
    ProtocolError,
    "more records",
  );
  const broken = p2.slice(0, p2.length - 1);
  assertThrows(() => checkRecordsFrame(records(1, [broken], 2), 1), ProtocolError, "bad record");
  assertThrows(() => checkRecordsFrame(records(2, [], 1), 1), ProtocolError, "empty frame");
  const cut = records(1, [p1], 1).subarray(0, 50);
  assertThrows(() => checkRecordsFrame(cut, 1), ProtocolError);
});

Deno.test('frames: CHUNKS of the worked example (ARCHITECTURE.md § "Catch-up chunks"), and bad groups refused', () => {
  const log = encodeLog([{
    type: ENTRY_SAMPLES,
    version: 7,
    ts: [1_700_000_000_000, 1_700_000_001_000],
    values: Float64Array.of(21.5, 21.52),
  }]);
  const record = encodeBatch([{ kind: KIND_LOG, key: TS_LOG_KEY, value: log }]);
  const { payloads, groups } = toCatchUp([record]);
  const frame = (g = groups) =>
    encodeRecords({
      firstSeq: 1,
      lastSeq: 1,
      edgeDurableSeq: 1,
      behindBytes: 0,
      behindMs: 0,
      payloads,
      groups: g,
    });
  const body = frame();
  assertEquals(
    hex(body.subarray(44)),
    "08 01 03 02 ff 04 00 01 01 01 00 01 07 1f 01 02 80 d0 95 ff bc 31 e8 d7 95 ff bc 31 02 e8 07 00 00 00 00 02 cc 21 00 04 00 a9 f0 57 ec",
  );
  const checked = checkRecordsFrame(body, 1, true);
  assertEquals(checked.records[0]!.entries[0]!.kind, KIND_LOG);
  assertEquals(Array.from(checked.records[0]!.samples![0]!.ts), [
    1_700_000_000_000,
    1_700_000_001_000,
  ]);
  assertEquals(Array.from(checked.records[0]!.samples![0]!.values), [21.5, 21.52]);
  // A group after a record that is not there, trailing bytes, a damaged chunk.
  const after = [{ after: 1, chunks: groups[0]!.chunks }];
  assertThrows(() => checkRecordsFrame(frame(after), 1, true), ProtocolError, "past the records");
  const trailing = new Uint8Array(body.length + 1);
  trailing.set(body);
  assertThrows(() => checkRecordsFrame(trailing, 1, true), ProtocolError, "after the groups");
  const damaged = body.slice();
  damaged[damaged.length - 8]! ^= 1;
  assertThrows(() => checkRecordsFrame(damaged, 1, true), ProtocolError, "bad chunk");
  // The same bytes as RECORDS: the groups are trailing garbage there.
  assertThrows(() => checkRecordsFrame(body, 1), ProtocolError);
});
