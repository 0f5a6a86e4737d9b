/**
 * Reads RedisTimeSeries's compressed chunks (its Gorilla variant), so RESTORE takes the series
 * RedisTimeSeries dumps by default (ARCHITECTURE.md § "DUMP payload", its time-series part).
 * Written here, from the format's description: no kept library reads this variant, and the
 * decoder is small. Only reading: DUMP writes uncompressed chunks.
 *
 * The bit stream is 64-bit little-endian words, bits taken from the least significant up. After
 * the chunk's first sample (its base timestamp and value, outside the stream), each sample is
 *
 * - a timestamp: `0` = the previous delta again; else `1` then a delta-of-delta, its width
 *   given by the ones that follow up to a zero: `0` 5 bits, `10` 8, `110` 11, `1110` 15,
 *   `11110` 32 (two's complement), `11111` a raw 64-bit word;
 * - a value: `0` = the previous value; else `1`, then `0` to XOR the next `width` bits shifted by
 *   the previous trailing zeros, or `1`, 5 bits of leading zeros, 6 bits of width − 1, and the
 *   width bits shifted left by `64 − leading − width`.
 *
 * @module
 */

import { bad } from "./_rdb_io.ts";

/** One compressed chunk as its payload fields give it. */
export interface GorillaChunk {
  /** Samples in the chunk. */
  count: number;
  /** Bits of `data` in use. */
  bitsUsed: bigint;
  /** The first sample's timestamp. */
  baseTimestamp: bigint;
  /** The first sample's value, as its IEEE 754 bits. */
  baseValueBits: bigint;
  /** The bit stream. */
  data: Uint8Array;
}

const MASK64 = (1n << 64n) - 1n;
const WIDTHS = [5, 8, 11, 15, 32];

/** Calls `emit` with each sample of `chunk` in order; a stream that does not add up is refused. */
export function decodeGorillaChunk(
  chunk: GorillaChunk,
  emit: (ts: bigint, value: number) => void,
): void {
  const { data } = chunk;
  const totalBits = data.length * 8;
  if (chunk.bitsUsed > BigInt(totalBits)) bad("compressed chunk bit index");
  const end = Number(chunk.bitsUsed);
  let pos = 0;
  const bit = (): number => {
    if (pos >= end) bad("compressed chunk past its bits");
    const b = (data[pos >> 3]! >> (pos & 7)) & 1;
    pos++;
    return b;
  };
  const bits = (n: number): bigint => {
    if (pos + n > end) bad("compressed chunk past its bits");
    let v = 0n;
    for (let i = 0; i < n; i++) {
      if ((data[(pos + i) >> 3]! >> ((pos + i) & 7)) & 1) v |= 1n << BigInt(i);
    }
    pos += n;
    return v;
  };
  const view = new DataView(new ArrayBuffer(8));
  const asDouble = (u: bigint) => {
    view.setBigUint64(0, u);
    return view.getFloat64(0);
  };
  if (chunk.count === 0) return;
  let ts = chunk.baseTimestamp;
  let delta = 0n;
  let valueBits = chunk.baseValueBits & MASK64;
  let width = 0;
  let trailing = 0;
  emit(ts, asDouble(valueBits));
  for (let i = 1; i < chunk.count; i++) {
    if (bit() === 1) {
      let level = 0;
      while (level < WIDTHS.length && bit() === 1) level++;
      if (level === WIDTHS.length) delta = (delta + bits(64)) & MASK64;
      else {
        const w = WIDTHS[level]!;
        let dd = bits(w);
        if (dd & (1n << BigInt(w - 1))) dd -= 1n << BigInt(w);
        delta = (delta + dd) & MASK64;
      }
    }
    ts = (ts + delta) & MASK64;
    if (bit() === 1) {
      if (bit() === 1) {
        const leading = Number(bits(5));
        width = Number(bits(6)) + 1;
        trailing = 64 - leading - width;
        if (trailing < 0) bad("compressed chunk value width");
      } else if (width === 0) bad("compressed chunk value width");
      valueBits ^= bits(width) << BigInt(trailing);
    }
    emit(ts, asDouble(valueBits));
  }
  if (pos !== end) bad("compressed chunk bit index");
}
