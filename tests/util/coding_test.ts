import { assertEquals, assertThrows } from "@std/assert";
import { CorruptionError } from "../../src/errors.ts";
import {
  getU64,
  getVarint,
  putU64,
  putVarint,
  varintLength,
  viewOf,
} from "../../src/util/coding.ts";
import { compareBytes, prefixEnd } from "../../src/util/bytes.ts";

Deno.test("varints round-trip at every width up to 2^53 - 1", () => {
  const values = [
    0,
    1,
    127,
    128,
    16383,
    16384,
    2 ** 21,
    2 ** 28 - 1,
    2 ** 35,
    2 ** 49,
    2 ** 53 - 1,
  ];
  for (const v of values) {
    const buf = new Uint8Array(10);
    const end = putVarint(buf, 0, v);
    assertEquals(end, varintLength(v));
    assertEquals(getVarint(buf, 0), { value: v, offset: end });
  }
});

Deno.test("getVarint() rejects truncated and over-long input with CorruptionError", () => {
  assertThrows(() => getVarint(new Uint8Array([0x80, 0x80]), 0), CorruptionError);
  assertThrows(() => getVarint(new Uint8Array(9).fill(0x80), 0), CorruptionError);
  assertThrows(() => getVarint(new Uint8Array([0x80]), 0, 1), CorruptionError);
});

Deno.test("u64 round-trips safe integers and rejects larger ones", () => {
  const buf = new Uint8Array(8);
  for (const v of [0, 1, 2 ** 32, 2 ** 53 - 1]) {
    putU64(viewOf(buf), 0, v);
    assertEquals(getU64(viewOf(buf), 0), v);
  }
  buf.fill(0xff);
  assertThrows(() => getU64(viewOf(buf), 0), CorruptionError);
});

Deno.test("compareBytes() orders as unsigned bytes and prefixEnd() bounds a prefix", () => {
  const b = (...x: number[]) => new Uint8Array(x);
  assertEquals(compareBytes(b(0x7f), b(0x80)) < 0, true);
  assertEquals(compareBytes(b(0xff), b(0x00, 0x00)) > 0, true);
  assertEquals(compareBytes(b(1, 2), b(1, 2, 0)) < 0, true);
  assertEquals(compareBytes(b(), b()), 0);
  assertEquals(prefixEnd(b(1, 2)), b(1, 3));
  assertEquals(prefixEnd(b(1, 0xff)), b(2));
  assertEquals(prefixEnd(b(0xff, 0xff)), undefined);
  assertEquals(prefixEnd(b()), undefined);
});
