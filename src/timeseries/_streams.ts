/**
 * Residual streams of the sealed-chunk codec (`codec.ts`), private to it: residuals (integers)
 * become tokens -- those in [-16, 15] direct, larger ones a magnitude class plus raw "extra"
 * bits -- and every stream of symbols is written constant, raw or entropy-coded with static
 * rANS (`_rans.ts`). ARCHITECTURE.md § "Chunk format" documents the bytes.
 *
 * Invariants: `readResiduals` returns what `writeResiduals` was given (integers below 2^53 in
 * magnitude); the encoder's int32 fast paths write the bytes of the float64 formulas.
 *
 * @module
 */

import { CorruptionError } from "../errors.ts";
import { BitReader, type ByteReader, type ByteWriter } from "../util/buffers.ts";
import { estimateBits, normalizeCounts, readRansStream, writeRansStream } from "./_rans.ts";

/** Stream modes. On disk: never renumber. */
const STREAM_CONST = 0;
const STREAM_RANS = 1;
const STREAM_RAW = 2;

/** Residuals the encoder looks at to choose a predictor. */
export const ESTIMATE_SAMPLES = 1024;

/** Residuals in [-16, 15] are tokens 0...31 (zigzag); larger ones a class token + extra bits. */
const DIRECT_TOKENS = 32;
/** Class tokens: 8 per bit length 5...53 (2 mantissa bits × sign). */
export const TOKEN_ALPHABET = DIRECT_TOKENS + 49 * 8;

const POW2: number[] = [];
for (let k = 0; k <= 53; k++) POW2.push(2 ** k);

function bitLength(a: number): number {
  return a < 0x1_0000_0000 ? 32 - Math.clz32(a) : 64 - Math.clz32(Math.floor(a / 0x1_0000_0000));
}

/**
 * The token of a residual outside the direct range: `DIRECT_TOKENS + (k - 5) × 8 + (top - 4) ×
 * 2 + sign`, with `k` the bit length of `|r|` and `top` its leading 3 bits (4...7).
 */
function classToken(r: number, k: number, top: number): number {
  return DIRECT_TOKENS + (k - 5) * 8 + (top - 4) * 2 + (r < 0 ? 1 : 0);
}

// Residuals are integers: those in the direct range or below 2^31 in magnitude (nearly all) are
// tokenized in int32 arithmetic (`r | 0`), ~a third fewer instructions than in float64; the
// bytes are those of the float64 formulas (zigzag `r < 0 ? -2r - 1 : 2r`, `top` by division).

/** Counts the tokens of `res[0 ... n)` into `counts`; returns their extra bits. */
export function countTokens(res: Float64Array, n: number, counts: Int32Array): number {
  let extraBits = 0;
  counts.fill(0);
  for (let i = 0; i < n; i++) {
    const r = res[i]!;
    if (r >= -16 && r <= 15) {
      const z = r | 0;
      counts[(z << 1) ^ (z >> 31)]!++;
    } else if (r > -0x8000_0000 && r < 0x8000_0000) {
      const z = r | 0;
      const a = z < 0 ? -z : z;
      const k = 32 - Math.clz32(a);
      counts[classToken(z, k, a >>> (k - 3))]!++;
      extraBits += k - 3;
    } else {
      const a = r < 0 ? -r : r;
      const k = bitLength(a);
      counts[classToken(r, k, Math.floor(a / POW2[k - 3]!))]!++;
      extraBits += k - 3;
    }
  }
  return extraBits;
}

/**
 * Splits residuals into tokens (`toks`, counted into `counts`) and extra bits, packed LSB-first
 * into `extra` as `BitWriter` packs them (the last byte padded with zero bits); returns the
 * bytes of extra bits. REQUIRES: `extra` holds 7 bytes per residual (53-bit magnitudes).
 */
function tokenize(
  res: Float64Array,
  n: number,
  toks: Uint16Array,
  counts: Int32Array,
  extra: Uint8Array,
): number {
  counts.fill(0);
  // Pending bits, fewer than 8 between residuals; up to 24 more are added at a time, so the
  // accumulator stays below 2^31: int32 shifts (`>>`, not `>>>`, whose uint32 results made V8
  // keep it as a float64: ~40% more instructions for this loop).
  let acc = 0;
  let bits = 0;
  let len = 0;
  for (let i = 0; i < n; i++) {
    const r = res[i]!;
    let t: number;
    if (r >= -16 && r <= 15) {
      const z = r | 0;
      t = (z << 1) ^ (z >> 31);
    } else if (r > -0x8000_0000 && r < 0x8000_0000) {
      const z = r | 0;
      const a = z < 0 ? -z : z;
      const k = 32 - Math.clz32(a);
      const top = a >>> (k - 3);
      t = classToken(z, k, top);
      let v = a - (top << (k - 3));
      let nb = k - 3;
      if (nb > 24) {
        acc = acc | ((v & 0xff_ffff) << bits);
        bits += 24;
        while (bits >= 8) {
          extra[len++] = acc & 0xff;
          acc = acc >> 8;
          bits -= 8;
        }
        v = v >> 24;
        nb -= 24;
      }
      acc = acc | (v << bits);
      bits += nb;
      if (bits >= 8) {
        extra[len++] = acc & 0xff;
        acc = acc >> 8;
        bits -= 8;
        while (bits >= 8) {
          extra[len++] = acc & 0xff;
          acc = acc >> 8;
          bits -= 8;
        }
      }
    } else {
      const a = r < 0 ? -r : r;
      const k = bitLength(a);
      const shift = POW2[k - 3]!;
      const top = Math.floor(a / shift);
      t = classToken(r, k, top);
      let v = a - top * shift;
      let nb = k - 3;
      while (nb > 0) {
        const take = nb > 24 ? 24 : nb;
        const lo = v % 0x100_0000;
        acc = acc | (lo << bits);
        bits += take;
        while (bits >= 8) {
          extra[len++] = acc & 0xff;
          acc = acc >> 8;
          bits -= 8;
        }
        v = (v - lo) / 0x100_0000;
        nb -= take;
      }
    }
    toks[i] = t;
    counts[t]!++;
  }
  if (bits > 0) extra[len++] = acc & 0xff;
  return len;
}

/** Estimated bits of a residual vector (tokens entropy-coded plus extra bits). */
export function residualBits(res: Float64Array, n: number, counts: Int32Array) {
  // A prefix predicts the whole chunk well enough to pick a predictor, at a fraction of the cost.
  const k = Math.min(n, ESTIMATE_SAMPLES);
  const extra = countTokens(res, k, counts);
  return estimateBits(counts, k) + extra;
}

/** A float chunk's byte plane widened for `writeRansStream` (grown on demand, reused). */
let planeScratch: Uint16Array = new Uint16Array(0);
/** Planes up to this many bytes are widened into `planeScratch` (64 KiB), larger ones apart. */
const PLANE_SCRATCH_MAX = 1 << 15;

/**
 * Writes symbols `syms[0 ... n)` of `alphabet`, counted in `counts`, as one stream: constant,
 * raw bytes (`rawBytes` streams that rANS would not shrink) or rANS.
 */
export function writeSymbolStream(
  out: ByteWriter,
  syms: Uint16Array | Uint8Array,
  n: number,
  alphabet: number,
  counts: Int32Array,
  rawBytes: boolean,
): void {
  let nsym = 0;
  let only = 0;
  for (let s = 0; s < alphabet; s++) {
    if (counts[s]! > 0) {
      nsym++;
      only = s;
    }
  }
  if (nsym === 1) {
    out.byte(STREAM_CONST);
    out.varint(only);
    return;
  }
  if (rawBytes && estimateBits(counts, n) >= n * 8) {
    out.byte(STREAM_RAW);
    out.bytes(
      syms instanceof Uint8Array ? syms.subarray(0, n) : Uint8Array.from(syms.subarray(0, n)),
    );
    return;
  }
  out.byte(STREAM_RANS);
  let wide: Uint16Array;
  if (syms instanceof Uint16Array) wide = syms;
  else {
    wide = planeScratch.length >= n ? planeScratch : new Uint16Array(n);
    if (n <= PLANE_SCRATCH_MAX) planeScratch = wide;
    wide.set(syms.subarray(0, n));
  }
  writeRansStream(out, wide, n, normalizeCounts(counts, n), alphabet);
}

/** Reads a stream written by `writeSymbolStream` into `dest[0 ... n)`. */
export function readSymbolStream(
  input: ByteReader,
  dest: Uint16Array,
  n: number,
  alphabet: number,
) {
  const mode = input.byte();
  if (mode === STREAM_CONST) {
    const s = input.varint();
    if (s >= alphabet) throw new CorruptionError(`Cannot decode time-series chunk: symbol ${s}`);
    dest.fill(s, 0, n);
  } else if (mode === STREAM_RANS) readRansStream(input, dest, n, alphabet);
  else if (mode === STREAM_RAW && alphabet === 256) dest.set(input.take(n));
  else throw new CorruptionError(`Cannot decode time-series chunk: bad stream mode ${mode}`);
}

/** Working arrays of `writeResiduals` for up to as many residuals as `toks` holds. */
export interface TokenScratch {
  /** Tokens. */
  toks: Uint16Array;
  /** Token counts (`TOKEN_ALPHABET` of them). */
  counts: Int32Array;
  /** Packed extra bits of one residual stream: 7 bytes per residual at most. */
  extra: Uint8Array;
}

/** Writes residuals `res[0 ... n)`: their token stream, then their extra bits. */
export function writeResiduals(
  out: ByteWriter,
  res: Float64Array,
  n: number,
  scratch: TokenScratch,
): void {
  const len = tokenize(res, n, scratch.toks, scratch.counts, scratch.extra);
  writeSymbolStream(out, scratch.toks, n, TOKEN_ALPHABET, scratch.counts, false);
  out.varint(len);
  out.bytes(scratch.extra.subarray(0, len));
}

/** Reads `n` residuals written by `writeResiduals` into `dest`. */
export function readResiduals(input: ByteReader, dest: Float64Array, n: number, toks: Uint16Array) {
  readSymbolStream(input, toks, n, TOKEN_ALPHABET);
  const bits = new BitReader(input.take(input.varint()));
  for (let i = 0; i < n; i++) {
    const t = toks[i]!;
    if (t < DIRECT_TOKENS) {
      dest[i] = (t & 1) === 0 ? t >>> 1 : -((t + 1) >>> 1);
      continue;
    }
    const c = t - DIRECT_TOKENS;
    const k = (c >>> 3) + 5;
    const top = 4 + ((c >>> 1) & 3);
    const a = top * POW2[k - 3]! + bits.read(k - 3);
    dest[i] = (c & 1) === 1 ? -a : a;
  }
}
