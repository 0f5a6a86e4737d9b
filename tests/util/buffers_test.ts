/**
 * `ByteWriter` and `ByteReader` (`src/util/buffers.ts`) write and read the bytes a `DataView`
 * gives, without one: floats and uint32s little-endian, a NaN's payload kept by `f64From`,
 * growth from any capacity, and `copy()`/`finish()` equal to what was written.
 */

import { assertEquals } from "@std/assert";
import { ByteReader, ByteWriter } from "../../src/util/buffers.ts";

/** What a `DataView` writes for `value` as a little-endian float64. */
function dataViewF64(value: number): number[] {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, value, true);
  return [...new Uint8Array(view.buffer)];
}

Deno.test("ByteWriter.f64() and u32() write the bytes of a little-endian DataView", () => {
  const floats = [0, -0, 1.5, -2.25, Math.PI, Infinity, -Infinity, 5e-324, Number.MAX_VALUE, NaN];
  const out = new ByteWriter(0);
  for (const f of floats) out.f64(f);
  const ints = [0, 1, 0x7f, 0x80, 0xff, 0x100, 0xdeadbeef, 0xffffffff, -1];
  for (const u of ints) out.u32(u);
  const bytes = [...out.view()];
  assertEquals(bytes.slice(0, 8 * floats.length), floats.flatMap(dataViewF64));
  const view = new DataView(new ArrayBuffer(4 * ints.length));
  ints.forEach((u, i) => view.setUint32(4 * i, u >>> 0, true));
  assertEquals(bytes.slice(8 * floats.length), [...new Uint8Array(view.buffer)]);
  const input = new ByteReader(out.copy());
  for (const f of floats) assertEquals(input.f64(), f);
  for (const u of ints) assertEquals(input.u32(), u >>> 0);
  assertEquals(input.remaining, 0);
});

Deno.test("ByteWriter.f64From() keeps a NaN's payload and ByteReader.f64Into() reads it back", () => {
  const src = new Float64Array(1);
  // A signalling NaN with a payload (Prometheus's staleness marker is 0x7ff0000000000002).
  new DataView(src.buffer).setBigUint64(0, 0x7ff0000000000002n, true);
  const out = new ByteWriter(3);
  out.byte(9);
  out.f64From(src, 0);
  assertEquals([...out.finish()], [9, 2, 0, 0, 0, 0, 0, 0xf0, 0x7f]);
  const back = new Float64Array(1);
  const input = new ByteReader(out.copy(), 1);
  input.f64Into(back, 0);
  assertEquals(new DataView(back.buffer).getBigUint64(0, true), 0x7ff0000000000002n);
});

Deno.test("ByteWriter.copy() is a copy: later writes and truncation leave it as it was", () => {
  const out = new ByteWriter(4);
  out.varint(300);
  out.bytes(new Uint8Array([1, 2, 3]));
  const copy = out.copy();
  assertEquals([...copy], [0xac, 0x02, 1, 2, 3]);
  out.truncate(0);
  out.bytes(new Uint8Array([7, 7, 7, 7, 7, 7]));
  assertEquals([...copy], [0xac, 0x02, 1, 2, 3]);
  // A reader over a view into a larger buffer reads from the view's start.
  const big = new Uint8Array(16);
  big.set(copy, 5);
  const input = new ByteReader(big.subarray(5, 10));
  assertEquals(input.varint(), 300);
  assertEquals([...input.take(3)], [1, 2, 3]);
});
