/**
 * A static byte-wise rANS entropy coder (Jarek Duda's asymmetric numeral systems, in the
 * 32-bit, byte-renormalising form Fabian Giesen's `rans_byte.h` popularised), private to the
 * time-series codec. ARCHITECTURE.md § "Chunk format" describes where its output goes.
 *
 * Why rANS and not a general compressor: sealed chunks hold a few thousand small integers
 * whose distribution is very skewed (an on/off state is "no change" 4,095 times out of 4,096).
 * rANS codes each symbol at almost exactly -log2(p) bits, also far below one bit, from one
 * frequency table per stream; zstd over the same bytes measured 20-25% larger and costs ~50 µs
 * of fixed overhead per `zstdDecompressSync` call (see ARCHITECTURE.md § "Time series").
 *
 * Layout of one coded stream (written by `writeRansStream`, read by `readRansStream`):
 *
 * ```
 * varint nsym                 distinct symbols (>= 2; 0 and 1 are handled by the caller)
 * nsym × (varint gap, varint freq - 1)   ascending symbols: symbol = previous + 1 + gap,
 *                                        the first symbol = gap; freqs sum to 2^PROB_BITS
 * varint byteLength           bytes of the coded body
 * body                        rANS bytes, to be read forwards; the first 4 bytes are the
 *                             final encoder state (little-endian)
 * ```
 *
 * Invariants: every present symbol has a frequency >= 1; frequencies sum to exactly
 * `1 << PROB_BITS`; the decoder ends in state `RANS_L` having consumed exactly the body.
 *
 * @module
 */

import { CorruptionError } from "../errors.ts";
import { assert, AssertionError } from "../util/assert.ts";
import type { ByteReader, ByteWriter } from "../util/buffers.ts";

/** Precision of the probabilities: frequencies sum to 2^12. */
export const PROB_BITS = 12;
const PROB_SCALE = 1 << PROB_BITS;
const PROB_MASK = PROB_SCALE - 1;
/** Lower bound of the normalised state interval [L, 256 L). */
const RANS_L = 1 << 23;

/** Streams up to this many symbols are coded in a kept buffer (64 KiB at most). */
const ENC_SYMBOLS_KEPT_MAX = (1 << 15) - 2;
/** `writeRansStream`'s per-symbol tables and output buffer, reused (a seal writes 2+ streams). */
let encStart = new Int32Array(0);
let encFreq = new Int32Array(0);
let encBuf = new Uint8Array(0);

/** A normalised frequency table over symbols `0 ... alphabet - 1`. */
export interface FreqTable {
  /** Present symbols, ascending. */
  symbols: number[];
  /** Frequency of each present symbol (same order), sum = 2^PROB_BITS. */
  freqs: number[];
}

/**
 * Scales raw counts to frequencies summing to 2^PROB_BITS, every present symbol >= 1.
 * REQUIRES: at least two symbols have a count > 0.
 */
export function normalizeCounts(counts: Int32Array, total: number): FreqTable {
  const symbols: number[] = [];
  const freqs: number[] = [];
  let sum = 0;
  let largest = 0;
  for (let s = 0; s < counts.length; s++) {
    const c = counts[s]!;
    if (c === 0) continue;
    const f = Math.max(1, Math.floor((c * PROB_SCALE) / total));
    symbols.push(s);
    freqs.push(f);
    sum += f;
    if (f > freqs[largest]!) largest = freqs.length - 1;
  }
  assert(symbols.length >= 2, "rANS needs at least two symbols");
  assert(symbols.length <= PROB_SCALE, "too many symbols for the probability precision");
  // Give the rounding error to the largest frequencies (they lose least relative precision).
  let diff = PROB_SCALE - sum;
  while (diff !== 0) {
    if (diff > 0) {
      freqs[largest]! += diff;
      diff = 0;
    } else {
      // Take from the largest symbols that can spare it, one unit at a time, biggest first.
      let best = -1;
      for (let i = 0; i < freqs.length; i++) {
        if (freqs[i]! > 1 && (best < 0 || freqs[i]! > freqs[best]!)) best = i;
      }
      assert(best >= 0, "cannot normalise frequencies");
      const take = Math.min(-diff, freqs[best]! - 1, Math.max(1, freqs[best]! >> 4));
      freqs[best]! -= take;
      diff += take;
    }
  }
  return { symbols, freqs };
}

/** Estimated bits of coding `counts` with a table (entropy plus the table's own bytes). */
export function estimateBits(counts: Int32Array, total: number): number {
  let bits = 0;
  let nsym = 0;
  for (let s = 0; s < counts.length; s++) {
    const c = counts[s]!;
    if (c === 0) continue;
    nsym++;
    bits -= c * Math.log2(c / total);
  }
  // Table: ~2 bytes per symbol plus the lengths.
  return nsym <= 1 ? 16 : bits + nsym * 16 + 48;
}

/**
 * Encodes `syms[0 ... n-1]` (each a symbol of `table`) and appends the stream (table, length,
 * body) to `out`. One element type only (byte planes are widened by the caller): a second one
 * made the loop polymorphic, ~30% more instructions.
 */
export function writeRansStream(
  out: ByteWriter,
  syms: Uint16Array,
  n: number,
  table: FreqTable,
  alphabet: number,
): void {
  const { symbols, freqs } = table;
  out.varint(symbols.length);
  let prev = -1;
  for (let i = 0; i < symbols.length; i++) {
    out.varint(symbols[i]! - prev - 1);
    out.varint(freqs[i]! - 1);
    prev = symbols[i]!;
  }
  if (encFreq.length < alphabet) {
    encStart = new Int32Array(alphabet);
    encFreq = new Int32Array(alphabet);
  }
  const start = encStart;
  const freq = encFreq;
  freq.fill(0, 0, alphabet);
  let cum = 0;
  for (let i = 0; i < symbols.length; i++) {
    start[symbols[i]!] = cum;
    freq[symbols[i]!] = freqs[i]!;
    cum += freqs[i]!;
  }
  // rANS encodes in reverse; bytes are produced backwards into `buf` and read forwards: at most
  // 2 bytes per symbol (see below), then the 4 bytes of the final state.
  let buf = encBuf;
  if (buf.length < 2 * n + 4) {
    buf = new Uint8Array(2 * n + 4);
    if (n <= ENC_SYMBOLS_KEPT_MAX) encBuf = buf;
  }
  let p = buf.length;
  // The state stays in [RANS_L, 256 × RANS_L) = [2^23, 2^31): int32 arithmetic throughout.
  let x = RANS_L;
  for (let i = n - 1; i >= 0; i--) {
    const s = syms[i]!;
    const f = freq[s]!;
    // Not `assert`: as a call it cost a third of this loop's instructions.
    if (f === 0) throw new AssertionError("symbol missing from the table");
    // x_max = ((L >> PROB_BITS) << 8) * f = 2^19 f; below 2^31 since f < 2^12. At most two
    // bytes go out (x < 2^31 and 2^15 < x_max), unrolled: a loop cost ~40% more instructions.
    const xMax = f << 19;
    if (x >= xMax) {
      buf[--p] = x & 0xff;
      x = x >> 8;
      if (x >= xMax) {
        buf[--p] = x & 0xff;
        x = x >> 8;
      }
    }
    // x / f < 2^19 (x < 2^19 f): the quotient truncates exactly, and q × 2^12 stays below 2^31.
    const q = (x / f) | 0;
    x = (q << PROB_BITS) + (x - q * f) + start[s]!;
  }
  assert(p >= 4, "rANS bound exceeded");
  p -= 4;
  buf[p] = x & 0xff;
  buf[p + 1] = (x >>> 8) & 0xff;
  buf[p + 2] = (x >>> 16) & 0xff;
  buf[p + 3] = (x >>> 24) & 0xff;
  out.varint(buf.length - p);
  out.bytes(buf.subarray(p));
}

/**
 * Decodes `n` symbols of one stream written by `writeRansStream` into `dest`. Throws
 * `CorruptionError` on a bad table, a truncated body or a final state that does not match.
 */
export function readRansStream(
  input: ByteReader,
  dest: Uint16Array,
  n: number,
  alphabet: number,
): void {
  const fail = (what: string): never => {
    throw new CorruptionError(`Cannot decode time-series chunk: ${what}`);
  };
  const nsym = input.varint();
  if (nsym < 2 || nsym > alphabet) fail(`bad symbol count ${nsym}`);
  const lookupSym = new Uint16Array(PROB_SCALE);
  const freq = new Uint32Array(alphabet);
  const start = new Uint32Array(alphabet);
  let cum = 0;
  let prev = -1;
  for (let i = 0; i < nsym; i++) {
    const s = prev + 1 + input.varint();
    const f = input.varint() + 1;
    if (s >= alphabet || cum + f > PROB_SCALE) fail("bad frequency table");
    freq[s] = f;
    start[s] = cum;
    lookupSym.fill(s, cum, cum + f);
    cum += f;
    prev = s;
  }
  if (cum !== PROB_SCALE) fail("frequencies do not sum to the scale");
  const length = input.varint();
  const body = input.take(length);
  if (body.length < 4) fail("truncated rANS body");
  let x = (body[0]! | (body[1]! << 8) | (body[2]! << 16) | (body[3]! << 24)) >>> 0;
  let p = 4;
  const end = body.length;
  for (let i = 0; i < n; i++) {
    const slot = x & PROB_MASK;
    const s = lookupSym[slot]!;
    dest[i] = s;
    x = freq[s]! * (x >>> PROB_BITS) + slot - start[s]!;
    while (x < RANS_L) {
      if (p >= end) fail("truncated rANS body");
      x = ((x << 8) | body[p++]!) >>> 0;
    }
  }
  if (x !== RANS_L || p !== end) fail("rANS stream does not end where it should");
}
