/**
 * The head chunk codec (`src/timeseries/head.ts`, ARCHITECTURE.md § "Head chunks"): two samples
 * in decimal mode laid out byte for byte as the section describes them, round trips in decimal
 * and float mode, and every cut of a serialized head, a bad mode or a bad header refused with a
 * `CorruptionError` (the state record's CRC normally catches damage first; this is the next line).
 */

import { assertEquals, assertThrows } from "@std/assert";
import { CorruptionError } from "../../src/errors.ts";
import { Head, headFromBytes } from "../../src/timeseries/head.ts";
import { ByteWriter } from "../../src/util/buffers.ts";
import { hexBytes } from "../_helpers/hex.ts";

function f64(v: number): string {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setFloat64(0, v, true);
  return [...b].map((x) => x.toString(16).padStart(2, "0")).join(" ");
}

function bytesOf(head: Head): Uint8Array {
  const out = new ByteWriter(64);
  head.serialize(out);
  return out.finish();
}

Deno.test("a head of (…000, 21.5) (…1000, 21.52) is laid out as ARCHITECTURE.md describes", () => {
  const head = new Head();
  head.append(1700000000000, 21.5);
  head.append(1700000001000, 21.52);
  const ts = "80 d0 95 ff bc 31"; // varint 1700000000000
  const ts1 = "e8 d7 95 ff bc 31"; // varint 1700000001000
  // count 2 | firstTs | mode 2 decimals | 21.5 | lastTs | 21.52 | lastDelta 1000 (zigzag 2000)
  // | body 3 bytes: Δdelta 1000 (zigzag d0 0f), Δq 2152 − 2150 = 2 (zigzag 04)
  const expected = hexBytes(
    `02 ${ts} 02 ${f64(21.5)} ${ts1} ${f64(21.52)} d0 0f 03 d0 0f 04`,
  );
  assertEquals(bytesOf(head), expected);
  const back = headFromBytes(expected);
  back.verify();
  assertEquals(back.decode(), head.decode());
});

Deno.test("heads round-trip in decimal and float mode, empty included", () => {
  const decimal = new Head();
  const float = new Head();
  for (let i = 0; i < 500; i++) {
    decimal.append(1_000 + 10 * i + (i % 3), 20 + (i % 17) / 100);
    float.append(1_000 + 7 * i, Math.PI * i);
  }
  for (const head of [decimal, float, new Head()]) {
    const back = headFromBytes(bytesOf(head));
    back.verify();
    assertEquals(back.decode(), head.decode());
    assertEquals([back.count, back.firstTs, back.lastTs], [head.count, head.firstTs, head.lastTs]);
  }
});

Deno.test("headFromBytes() refuses every cut, a bad mode and a bad header", () => {
  const head = new Head();
  for (let i = 0; i < 20; i++) head.append(1_000 + i, i / 4);
  const bytes = bytesOf(head);
  for (let n = 0; n < bytes.length; n++) {
    assertThrows(() => headFromBytes(bytes.subarray(0, n)), CorruptionError, "Cannot decode");
  }
  const mode = bytes.slice();
  mode[3] = 9; // count (1 byte), firstTs (2 bytes), then the mode
  assertThrows(
    () => headFromBytes(mode),
    CorruptionError,
    "Cannot decode time-series head: 9 decimals",
  );
  const one = new Head();
  one.append(5, 1);
  const oneBytes = bytesOf(one);
  // lastTs before firstTs.
  const backwards = hexBytes(`01 05 00 ${f64(1)} 04 ${f64(1)} 00 00`);
  assertEquals(oneBytes.length, backwards.length);
  assertThrows(() => headFromBytes(backwards), CorruptionError, "bad header");
});
