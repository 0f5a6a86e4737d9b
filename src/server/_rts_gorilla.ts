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

const WIDTHS = [5, 8, 11, 15, 32];

/**
 * Calls `emit` with each sample of `chunk` in order; a stream that does not add up, or a
 * timestamp past 2^53 − 1, is refused. Plain numbers throughout (timestamps stay exact below
 * 2^53; a value's 64 bits as two 32-bit halves): with a BigInt per bit, a 16 MiB payload took
 * seconds.
 */
export function decodeGorillaChunk(
  chunk: GorillaChunk,
  emit: (ts: number, value: number) => void,
): void {
  const { data } = chunk;
  if (chunk.bitsUsed > BigInt(data.length * 8)) bad("compressed chunk bit index");
  if (chunk.baseTimestamp > BigInt(Number.MAX_SAFE_INTEGER)) bad("timestamp");
  const end = Number(chunk.bitsUsed);
  let pos = 0;
  const bit = (): number => {
    if (pos >= end) bad("compressed chunk past its bits");
    const b = (data[pos >> 3]! >> (pos & 7)) & 1;
    pos++;
    return b;
  };
  /** `n` ≤ 32 bits, least significant first, as a non-negative number. */
  const bits = (n: number): number => {
    if (pos + n > end) bad("compressed chunk past its bits");
    let v = 0;
    let got = 0;
    while (got < n) {
      const off = pos & 7;
      const take = Math.min(8 - off, n - got);
      v += ((data[pos >> 3]! >> off) & ((1 << take) - 1)) * 2 ** got;
      got += take;
      pos += take;
    }
    return v;
  };
  const view = new DataView(new ArrayBuffer(8));
  let hi = Number(chunk.baseValueBits >> 32n) >>> 0;
  let lo = Number(chunk.baseValueBits & 0xffffffffn) >>> 0;
  const value = (): number => {
    view.setUint32(0, hi);
    view.setUint32(4, lo);
    return view.getFloat64(0);
  };
  if (chunk.count === 0) return;
  let ts = Number(chunk.baseTimestamp);
  let delta = 0;
  let width = 0;
  let trailing = 0;
  emit(ts, value());
  for (let i = 1; i < chunk.count; i++) {
    if (bit() === 1) {
      let level = 0;
      while (level < WIDTHS.length && bit() === 1) level++;
      if (level === WIDTHS.length) {
        const low = bits(32);
        const high = bits(32);
        delta += Number(BigInt.asIntN(64, (BigInt(high) << 32n) | BigInt(low)));
      } else {
        const w = WIDTHS[level]!;
        const dd = bits(w);
        delta += dd >= 2 ** (w - 1) ? dd - 2 ** w : dd;
      }
    }
    ts += delta;
    if (!Number.isSafeInteger(ts) || ts < 0) bad("timestamp");
    if (bit() === 1) {
      if (bit() === 1) {
        const leading = bits(5);
        width = bits(6) + 1;
        trailing = 64 - leading - width;
        if (trailing < 0) bad("compressed chunk value width");
      } else if (width === 0) bad("compressed chunk value width");
      // The block's `width` bits, placed at `trailing`, XORed into the value's two halves.
      const bLo = bits(Math.min(width, 32));
      const bHi = width > 32 ? bits(width - 32) : 0;
      if (trailing >= 32) {
        hi = (hi ^ (bLo * 2 ** (trailing - 32))) >>> 0;
      } else if (trailing === 0) {
        lo = (lo ^ bLo) >>> 0;
        hi = (hi ^ bHi) >>> 0;
      } else {
        lo = (lo ^ ((bLo << trailing) >>> 0)) >>> 0;
        hi = (hi ^ (((bHi << trailing) | (bLo >>> (32 - trailing))) >>> 0)) >>> 0;
      }
    }
    emit(ts, value());
  }
  if (pos !== end) bad("compressed chunk bit index");
}
