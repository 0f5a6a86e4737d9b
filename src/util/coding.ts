/**
 * Integer encodings shared by every on-disk and on-wire format: LEB128 varints (LevelDB's
 * `coding.cc`) and fixed-width little-endian integers through `DataView`.
 *
 * Numbers stay exact: every integer is asserted to be a safe integer (<= 2^53 - 1) before it is
 * encoded, so sequence numbers and timestamps never round.
 *
 * @module
 */

import { CorruptionError } from "../errors.ts";
import { assert } from "./assert.ts";

/** Bytes a varint of `value` takes (1-8 for safe integers). */
export function varintLength(value: number): number {
  let n = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 128);
    n++;
  }
  return n;
}

/** Writes `value` as a varint at `buf[offset]`; returns the offset after it. */
export function putVarint(
  buf: Uint8Array,
  offset: number,
  value: number,
): number {
  // The message is built only on failure: this runs for every key and value written.
  if (!(Number.isSafeInteger(value) && value >= 0)) assert(false, `varint out of range: ${value}`);
  while (value >= 0x80) {
    buf[offset++] = (value & 0x7f) | 0x80;
    value = Math.floor(value / 128);
  }
  buf[offset++] = value;
  return offset;
}

/** A decoded varint and the offset just past it. */
export interface VarintResult {
  /** The decoded value. */
  value: number;
  /** Offset of the first byte after the varint. */
  offset: number;
}

/**
 * Reads a varint at `buf[offset]`, not past `end`. Throws `CorruptionError` on a truncated or
 * over-long varint (more than 8 bytes, beyond a safe integer).
 */
export function getVarint(
  buf: Uint8Array,
  offset: number,
  end = buf.length,
): VarintResult {
  let result = 0;
  let scale = 1;
  for (let i = 0; i < 8; i++) {
    if (offset >= end) {
      throw new CorruptionError("Cannot decode varint: truncated");
    }
    const byte = buf[offset++]!;
    result += (byte & 0x7f) * scale;
    if (byte < 0x80) {
      if (!Number.isSafeInteger(result)) {
        throw new CorruptionError(
          "Cannot decode varint: value exceeds 2^53 - 1",
        );
      }
      return { value: result, offset };
    }
    scale *= 128;
  }
  throw new CorruptionError("Cannot decode varint: longer than 8 bytes");
}

/** Writes a little-endian uint64 holding a safe integer. */
export function putU64(view: DataView, offset: number, value: number): void {
  assert(
    Number.isSafeInteger(value) && value >= 0,
    `u64 out of range: ${value}`,
  );
  view.setUint32(offset, value >>> 0, true);
  view.setUint32(offset + 4, Math.floor(value / 0x1_0000_0000), true);
}

/** Reads a little-endian uint64; throws `CorruptionError` when it exceeds 2^53 - 1. */
export function getU64(view: DataView, offset: number): number {
  const lo = view.getUint32(offset, true);
  const hi = view.getUint32(offset + 4, true);
  if (hi > 0x1f_ffff) {
    throw new CorruptionError("Cannot decode u64: value exceeds 2^53 - 1");
  }
  return hi * 0x1_0000_0000 + lo;
}

/** A `DataView` over exactly the bytes of `buf`. */
export function viewOf(buf: Uint8Array): DataView {
  return new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
}
