/**
 * The time-series log op and state record codec (`src/timeseries/log.ts`, ARCHITECTURE.md
 * § "Time-series log ops" and § "Series state record"): every entry type round-trips (NaN
 * payloads kept bit for bit), the worked example (two samples and a STATE of version 7, 42
 * bytes) is reproduced byte for byte, and cut, flipped or unknown input is a `CorruptionError`.
 */

import { assertEquals, assertThrows } from "@std/assert";
import { CorruptionError } from "../../src/errors.ts";
import { Head } from "../../src/timeseries/head.ts";
import {
  decodeLog,
  decodeState,
  emptyStats,
  encodeLog,
  encodeSampleLog,
  encodeState,
  ENTRY_DELETE,
  ENTRY_DROP,
  ENTRY_META,
  ENTRY_SAMPLES,
  ENTRY_SEAL,
  ENTRY_STATE,
  type LogEntry,
  type SealedStats,
} from "../../src/timeseries/log.ts";
import { hexBytes } from "../_helpers/hex.ts";

function f64(v: number): string {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setFloat64(0, v, true);
  return [...b].map((x) => x.toString(16).padStart(2, "0")).join(" ");
}

const EXAMPLE_ENTRIES: LogEntry[] = [
  {
    type: ENTRY_SAMPLES,
    version: 7,
    ts: [1700000000000, 1700000001000],
    values: new Float64Array([21.5, 21.52]),
  },
  { type: ENTRY_STATE, version: 7, stats: emptyStats() },
];
const EXAMPLE = hexBytes(`01  01 07 02 80 d0 95 ff bc 31 ${f64(21.5)} d0 0f ${f64(21.52)}
  04 07 00 00 00 00 00 00 00 00 00 00 00 00`);

Deno.test("encodeLog() writes the worked example byte for byte (42 bytes)", () => {
  assertEquals(encodeLog(EXAMPLE_ENTRIES), EXAMPLE);
  assertEquals(EXAMPLE.length, 42);
  assertEquals(decodeLog(EXAMPLE), EXAMPLE_ENTRIES);
});

Deno.test("every log entry type round-trips; out-of-order samples and NaN payloads survive", () => {
  const values = new Float64Array(4);
  values.set([1.5, -0, Infinity]);
  // A NaN with a payload (Prometheus's stale marker) must come back bit for bit.
  new DataView(values.buffer).setUint32(24, 0x00000002, true);
  new DataView(values.buffer).setUint32(28, 0x7ff00000, true);
  const stats: SealedStats = {
    lastSealedTs: 1700000000000,
    lastSealedValue: -3.25,
    sealedSamples: 12345,
    sealedChunks: 17,
    firstSealedTs: 1600000000000,
  };
  const entries: LogEntry[] = [
    { type: ENTRY_META, version: 1 },
    { type: ENTRY_SAMPLES, version: 2 ** 40, ts: [50, 10, 10, 2 ** 50], values },
    { type: ENTRY_DELETE, version: 3, from: 0, to: Number.MAX_SAFE_INTEGER },
    { type: ENTRY_SEAL, version: 3, throughTs: 99 },
    { type: ENTRY_STATE, version: 3, stats },
    { type: ENTRY_DROP, version: 4 },
  ];
  const decoded = decodeLog(encodeLog(entries));
  assertEquals(decoded.length, entries.length);
  const samples = decoded[1] as Extract<LogEntry, { type: typeof ENTRY_SAMPLES }>;
  assertEquals(samples.ts, [50, 10, 10, 2 ** 50]);
  // The entry's own bytes: decodeLog carves every entry's values from one buffer per op.
  const got = samples.values;
  assertEquals(
    new Uint8Array(got.buffer, got.byteOffset, got.byteLength),
    new Uint8Array(values.buffer),
  );
  assertEquals([decoded[0], ...decoded.slice(2)], [entries[0], ...entries.slice(2)]);
  assertEquals(decodeLog(encodeLog([])), []);
});

Deno.test("decodeLog() rejects cut input, an unknown format or entry type, a bad sample count", () => {
  for (let n = 0; n < EXAMPLE.length; n++) {
    if (n === 1 || n === 28) continue; // cut exactly between entries: a shorter, valid list
    assertThrows(() => decodeLog(EXAMPLE.subarray(0, n)), CorruptionError, "Cannot decode");
  }
  assertThrows(
    () => decodeLog(hexBytes("02")),
    CorruptionError,
    "Cannot decode time-series log op: unknown format 2",
  );
  assertThrows(
    () => decodeLog(hexBytes("01 09 07")),
    CorruptionError,
    "Cannot decode time-series log op: unknown entry type 9",
  );
  assertThrows(
    () => decodeLog(hexBytes("01 01 07 00")),
    CorruptionError,
    "Cannot decode time-series log op: 0 samples",
  );
  // A first timestamp followed by a difference that goes below zero.
  assertThrows(
    () => decodeLog(hexBytes(`01 01 07 02 01 ${f64(1)} 05 ${f64(2)}`)),
    CorruptionError,
    "Cannot decode time-series log op: bad timestamp",
  );
});

function sampleHead(): Head {
  const head = new Head();
  for (let i = 0; i < 10; i++) head.append(1700000000000 + 1000 * i, 20 + i / 4);
  return head;
}

Deno.test("state record round-trips its sequence, statistics and head", () => {
  const stats: SealedStats = {
    lastSealedTs: 1699999999000,
    lastSealedValue: 19.75,
    sealedSamples: 100,
    sealedChunks: 1,
    firstSealedTs: 1699999900000,
  };
  const head = sampleHead();
  const record = decodeState(encodeState(4242, stats, head));
  assertEquals(record.throughSeq, 4242);
  assertEquals(record.stats, stats);
  assertEquals(record.head.decode(), head.decode());
  const empty = decodeState(encodeState(0, emptyStats(), new Head()));
  assertEquals([empty.throughSeq, empty.stats, empty.head.count], [0, emptyStats(), 0]);
});

Deno.test("decodeState() rejects a cut, flipped or foreign record", () => {
  const bytes = encodeState(7, emptyStats(), sampleHead());
  for (let n = 0; n < bytes.length; n++) {
    assertThrows(
      () => decodeState(bytes.subarray(0, n)),
      CorruptionError,
      "Cannot decode time-series state: ",
    );
  }
  for (let at = 0; at < bytes.length; at++) {
    const bad = bytes.slice();
    bad[at]! ^= 0x04;
    assertThrows(
      () => decodeState(bad),
      CorruptionError,
      "Cannot decode time-series state: checksum mismatch",
    );
  }
});

Deno.test("encodeLog: values viewing a shared buffer at any offset keep their bits", () => {
  // The batch carves SAMPLES values from a slab and encodeLog reads them through one byte view
  // of that buffer: entries at different offsets of one buffer, one of them a signalling NaN.
  const slab = new Float64Array(64);
  const words = new Uint32Array(slab.buffer);
  for (let i = 0; i < 64; i++) slab[i] = i + 0.5;
  words[2 * 37] = 2; // 0x7ff0000000000002: a signalling NaN, as Prometheus's staleness marker
  words[2 * 37 + 1] = 0x7ff00000;
  const entries = [
    { type: ENTRY_SAMPLES, version: 1, ts: [10, 20], values: slab.subarray(3, 5) },
    { type: ENTRY_SAMPLES, version: 2, ts: [30], values: slab.subarray(37, 38) },
    { type: ENTRY_SAMPLES, version: 3, ts: [40, 41, 45], values: slab.subarray(60, 63) },
  ] as const;
  const decoded = decodeLog(encodeLog(entries.map((e) => ({ ...e, ts: [...e.ts] }))));
  assertEquals(decoded.length, 3);
  for (let k = 0; k < 3; k++) {
    const got = decoded[k]!;
    const want = entries[k]!;
    if (got.type !== ENTRY_SAMPLES) throw new Error("not a SAMPLES entry");
    assertEquals(got.ts, [...want.ts]);
    const gotWords = new Uint32Array(got.values.buffer, got.values.byteOffset, 2 * want.ts.length);
    const wantWords = new Uint32Array(
      want.values.buffer,
      want.values.byteOffset,
      2 * want.ts.length,
    );
    assertEquals([...gotWords], [...wantWords], `entry ${k}`);
  }
});

Deno.test("encodeSampleLog() writes the bytes encodeLog writes for one sample", () => {
  const versions = [0, 1, 127, 128, 16_383, 16_384, 2 ** 32 + 5, Number.MAX_SAFE_INTEGER];
  const timestamps = [0, 1, 127, 128, 1_700_000_000_000, 2 ** 48 - 1, Number.MAX_SAFE_INTEGER];
  const values = [0, -0, 21.5, -3.25e-300, 1e308, Infinity, -Infinity, NaN, 5e-324];
  for (const version of versions) {
    for (const ts of timestamps) {
      for (const value of values) {
        const want = encodeLog([{
          type: ENTRY_SAMPLES,
          version,
          ts: [ts],
          values: Float64Array.of(value),
        }]);
        assertEquals(encodeSampleLog(version, ts, value), want, `${version} ${ts} ${value}`);
      }
    }
  }
});
