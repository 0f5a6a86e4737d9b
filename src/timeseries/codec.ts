/**
 * The sealed-chunk codec: a run of samples (strictly increasing integer-millisecond
 * timestamps, any float64 values) <-> one compressed, checksummed byte string.
 * ARCHITECTURE.md § "Chunk format" documents the bytes; § "Time series" the measurements.
 *
 * Pipeline, per chunk:
 * 1. Timestamps become residuals by the cheapest of three predictors (delta-of-delta; delta
 *    minus the chunk's typical step; distance from a regular grid that re-anchors after a
 *    jump) -- jittered 1 s sensor clocks cost ~3 bits per sample this way.
 * 2. Values that are decimals with <= `DECIMALS_MAX` digits (21.37, 1013.2, counters) become
 *    exact integers `round(v × 10^d)`, then residuals by the cheapest of delta, offset from
 *    the first value, or delta-of-delta. Other values keep their IEEE bits, XORed with the
 *    previous value and split into eight byte planes.
 * 3. Residuals become tokens (small values direct, larger ones a magnitude class plus raw
 *    "extra" bits) and every token stream is entropy-coded with static rANS (`_streams.ts`,
 *    `_rans.ts`).
 *
 * Invariants: `decodeChunk(encodeChunk(ts, vs))` returns the same timestamps and the same
 * float64 bit patterns; the encoder asserts it never loses precision (every decimal value is
 * checked to round-trip exactly, else the chunk uses the float mode); the decoder checks the
 * CRC before reading anything else and every length against the bytes left.
 *
 * @module
 */

import { CorruptionError } from "../errors.ts";
import { assert, AssertionError } from "../util/assert.ts";
import { crc32c, maskCrc } from "../util/crc32c.ts";
import { ByteReader, ByteWriter } from "../util/buffers.ts";
import {
  ESTIMATE_SAMPLES,
  readResiduals,
  readSymbolStream,
  residualBits,
  TOKEN_ALPHABET,
  type TokenScratch,
  writeResiduals,
  writeSymbolStream,
} from "./_streams.ts";

export { TOKEN_ALPHABET } from "./_streams.ts";

/** Chunk format version (first byte). */
export const CHUNK_FORMAT_VERSION = 1;
/** Most decimal digits the integer value mode uses; beyond, values keep their float bits. */
export const DECIMALS_MAX = 8;
/** Largest |round(v × 10^d)| of the integer mode: residuals then stay below 2^53. */
const DECIMAL_INT_MAX = 2 ** 51;

/** Timestamp predictors. On disk: never renumber. */
export const TS_DOD = 0;
/** Delta minus the chunk's step. On disk: never renumber. */
export const TS_DELTA = 1;
/** Distance from a grid of `step`, re-anchored after a jump. On disk: never renumber. */
export const TS_GRID = 2;

/** Value modes. On disk: never renumber. */
export const V_DELTA = 0;
/** Offset from the chunk's first value. On disk: never renumber. */
export const V_OFFSET = 1;
/** Delta of deltas (steady counters). On disk: never renumber. */
export const V_DOD = 2;
/** IEEE bits XORed with the previous value, eight byte planes. On disk: never renumber. */
export const V_FLOAT = 3;

const POW10 = [1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8];

/** The decoded content of a chunk. */
export interface ChunkSamples {
  /** Timestamps (ms), strictly increasing. */
  ts: Float64Array;
  /** Values, same length. */
  values: Float64Array;
}

/** What a chunk's header says without decoding its body. */
export interface ChunkHeader {
  /** Samples in the chunk (>= 1). */
  count: number;
  /** First timestamp. */
  firstTs: number;
  /** Last timestamp. */
  lastTs: number;
}

/**
 * The fewest decimal digits (0...DECIMALS_MAX) that represent `v` exactly as
 * `round(v × 10^d) / 10^d`, or -1 when none does (then the float mode keeps its bits).
 */
export function decimalsOf(v: number): number {
  if (Object.is(v, -0) || !Number.isFinite(v)) return -1;
  for (let d = 0; d <= DECIMALS_MAX; d++) {
    const m = POW10[d]!;
    const q = Math.round(v * m);
    if (Math.abs(q) > DECIMAL_INT_MAX) return -1;
    if (q / m === v) return d;
  }
  return -1;
}

/** The encoder's working arrays: residuals (`a`), decimal integers (`b`) and token scratch. */
interface Scratch extends TokenScratch {
  a: Float64Array;
  b: Float64Array;
}

/** Samples the shared scratch holds at most; larger chunks get their own arrays. */
const SCRATCH_SAMPLES_MAX = 1 << 15;
let sharedScratch: Scratch | undefined;

/**
 * Working arrays for `n` samples: one shared set (a seal encodes every 4,096 samples or so of
 * each series, and fresh arrays each time were a tenth of its work), fresh ones past
 * `SCRATCH_SAMPLES_MAX`. Callers finish with them before the next call (nothing here awaits).
 */
function scratchFor(n: number): Scratch {
  const fresh = (size: number): Scratch => ({
    toks: new Uint16Array(size),
    counts: new Int32Array(TOKEN_ALPHABET),
    a: new Float64Array(size),
    b: new Float64Array(size),
    extra: new Uint8Array(7 * size),
  });
  if (n > SCRATCH_SAMPLES_MAX) return fresh(n);
  if (sharedScratch === undefined || sharedScratch.a.length < n) {
    sharedScratch = fresh(Math.max(n, 4096));
  }
  return sharedScratch;
}

/** Deltas below this are counted by `typicalStep` in `stepSmall`, larger ones in its table. */
const STEP_SMALL = 4096;
const stepSmall = new Int32Array(STEP_SMALL);
/** Slots of `typicalStep`'s table (a power of two, at least twice the deltas it counts). */
let stepKeys = new Float64Array(1 << 13);
let stepCounts = new Int32Array(1 << 13);

/**
 * The most common delta of `ts` (the chunk's step), or 0 for fewer than two samples; among
 * equally common deltas, the first to reach that count. Counted in a plain array below
 * `STEP_SMALL`, else in an open-addressing table (a `Map` per chunk was a sixth of a seal's
 * work), with a first pass for the regular case where every delta is the same.
 */
function typicalStep(ts: ArrayLike<number>, n: number): number {
  if (n < 2) return 0;
  const first = ts[1]! - ts[0]!;
  let i = 2;
  while (i < n && ts[i]! - ts[i - 1]! === first) i++;
  if (i === n) return first;
  stepSmall.fill(0);
  let keys = stepKeys;
  let counts = stepCounts;
  let mask = -1; // the table is sized and cleared at its first use
  let best = 0;
  let bestCount = 0;
  for (let k = 1; k < n; k++) {
    const d = ts[k]! - ts[k - 1]!;
    if (d < STEP_SMALL) {
      // The usual delta (under ~4 s at millisecond resolution) is counted in a plain array.
      const c = ++stepSmall[d]!;
      if (c > bestCount) {
        bestCount = c;
        best = d;
      }
      continue;
    }
    if (mask < 0) {
      let size = stepKeys.length;
      while (size < 2 * n) size *= 2;
      if (size !== stepKeys.length) {
        stepKeys = new Float64Array(size);
        stepCounts = new Int32Array(size);
      }
      keys = stepKeys;
      counts = stepCounts;
      counts.fill(0);
      mask = size - 1;
    }
    // Deltas are positive safe integers: mix their low and high 32 bits (no division for the
    // usual delta below 2^32, whose high bits are 0).
    const high = d < 0x1_0000_0000 ? 0 : Math.imul((d / 0x1_0000_0000) | 0, 0x85ebca6b);
    let slot = (Math.imul(d | 0, 0x9e3779b1) ^ high) & mask;
    while (counts[slot]! !== 0 && keys[slot] !== d) slot = (slot + 1) & mask;
    keys[slot] = d;
    const c = ++counts[slot]!;
    if (c > bestCount) {
      bestCount = c;
      best = d;
    }
  }
  return best;
}

/**
 * Residuals of timestamps under `mode` into `out`; false when one would not be exact. One loop
 * per mode: a mode test per sample cost a fifth of the loop.
 */
function tsResiduals(
  ts: ArrayLike<number>,
  n: number,
  mode: number,
  step: number,
  out: Float64Array,
) {
  if (mode === TS_DOD) {
    let prevDelta = step;
    for (let i = 1; i < n; i++) {
      const d = ts[i]! - ts[i - 1]!;
      const r = d - prevDelta;
      prevDelta = d;
      if (!(Math.abs(r) < 2 ** 53)) return false;
      out[i - 1] = r;
    }
  } else if (mode === TS_DELTA) {
    for (let i = 1; i < n; i++) {
      const r = ts[i]! - ts[i - 1]! - step;
      if (!(Math.abs(r) < 2 ** 53)) return false;
      out[i - 1] = r;
    }
  } else {
    let anchor = ts[0]!;
    for (let i = 1; i < n; i++) {
      const t = ts[i]!;
      const pred = anchor + step;
      const r = t - pred;
      anchor = 2 * Math.abs(r) > step ? t : pred;
      if (!(Math.abs(r) < 2 ** 53)) return false;
      out[i - 1] = r;
    }
  }
  return true;
}

/** Residuals of decimal integers under `mode` into `out` (one loop per mode, as above). */
function valueResiduals(q: Float64Array, n: number, mode: number, out: Float64Array): void {
  if (mode === V_DELTA) {
    for (let i = 1; i < n; i++) out[i - 1] = q[i]! - q[i - 1]!;
  } else if (mode === V_OFFSET) {
    const q0 = q[0]!;
    for (let i = 1; i < n; i++) out[i - 1] = q[i]! - q0;
  } else {
    let prevDelta = 0;
    for (let i = 1; i < n; i++) {
      const d = q[i]! - q[i - 1]!;
      out[i - 1] = d - prevDelta;
      prevDelta = d;
    }
  }
}

/**
 * The fewest decimal digits `d` (0...DECIMALS_MAX) that hold every value of `values[0 ... n)`
 * exactly as `round(v × 10^d) / 10^d` within ±DECIMAL_INT_MAX, with those integers in `q`; or
 * -1 (float mode). Most values need no more digits than those before: one check at the current
 * count answers for them and already gives their integer; values before the last that needed
 * more digits (`decimalsOf`) are redone at the final count, and must hold there too.
 */
function decimalIntegers(values: ArrayLike<number>, n: number, q: Float64Array): number {
  let decimals = 0;
  let scale = 1;
  let redo = 0; // q[0 ... redo) are to be redone at the final count
  for (let i = 0; i < n; i++) {
    const v = values[i]!;
    const qi = Math.round(v * scale);
    // `v !== 0 || 1 / v > 0`: not -0, which keeps its sign only in the float mode.
    if (
      qi / scale === v && qi <= DECIMAL_INT_MAX && qi >= -DECIMAL_INT_MAX && (v !== 0 || 1 / v > 0)
    ) {
      q[i] = qi;
      continue;
    }
    const d = decimalsOf(v);
    if (d < 0) return -1;
    if (d > decimals) {
      decimals = d;
      scale = POW10[d]!;
    }
    redo = i + 1;
  }
  for (let i = 0; i < redo; i++) {
    const v = values[i]!;
    const qi = Math.round(v * scale);
    if (qi / scale !== v || Math.abs(qi) > DECIMAL_INT_MAX) return -1;
    q[i] = qi;
  }
  return decimals;
}

/**
 * Encodes samples `ts[0 ... n-1]`, `values[0 ... n-1]` into a chunk.
 * REQUIRES: n >= 1; timestamps are safe integers >= 0, strictly increasing. Values may be any
 * float64: NaN and ±Inf (written by ingest) take the float mode, which keeps their IEEE bits.
 */
export function encodeChunk(
  ts: ArrayLike<number>,
  values: ArrayLike<number>,
  n: number,
): Uint8Array {
  assert(n >= 1, "empty chunk");
  // Checks per sample without an `assert` call each (two calls were ~5% of the encoder).
  let prev = -1;
  for (let i = 0; i < n; i++) {
    const t = ts[i]!;
    if (!(Number.isSafeInteger(t) && t >= 0)) throw new AssertionError("bad timestamp");
    if (!(t > prev)) throw new AssertionError("timestamps not strictly increasing");
    prev = t;
  }
  const out = new ByteWriter(64 + n * 2);
  out.byte(CHUNK_FORMAT_VERSION);
  out.varint(n);
  out.varint(ts[0]!);
  out.varint(ts[n - 1]!);
  const m = n - 1;
  const scratch = scratchFor(Math.max(1, m));

  // Timestamps: the cheapest predictor, judged on the residuals of a prefix. Below 2^52 (every
  // millisecond timestamp until the year 144,000) with a step below 2^50 no residual of any
  // predictor reaches 2^53, so the prefix alone decides; above, each predictor is checked
  // over the whole chunk.
  const step = typicalStep(ts, n);
  const prefix = ts[n - 1]! < 2 ** 52 && step < 2 ** 50 ? Math.min(n, ESTIMATE_SAMPLES + 1) : n;
  let bestTs = TS_DELTA;
  let bestTsStep = 0;
  let bestBits = Infinity;
  for (const mode of [TS_GRID, TS_DELTA, TS_DOD]) {
    if (!tsResiduals(ts, prefix, mode, step, scratch.a)) continue;
    const bits = residualBits(scratch.a, m, scratch.counts);
    if (bits < bestBits) {
      bestBits = bits;
      bestTs = mode;
      bestTsStep = step;
    }
  }
  if (bestBits === Infinity) bestTsStep = 0; // delta with step 0 is always exact
  out.byte(bestTs);
  out.varint(bestTsStep);
  if (m > 0) {
    const exact = tsResiduals(ts, n, bestTs, bestTsStep, scratch.a);
    assert(exact, "timestamp residuals out of range");
    writeResiduals(out, scratch.a, m, scratch);
  }

  // Values: decimal integers when every value is one, else float bits.
  const q = scratch.b.length >= n ? scratch.b : new Float64Array(n);
  const decimals = decimalIntegers(values, n, q);
  if (decimals < 0) {
    out.byte(V_FLOAT);
    out.f64(values[0]!);
    if (m > 0) writeFloatPlanes(out, values, n);
  } else {
    let bestMode = V_DELTA;
    bestBits = Infinity;
    for (const mode of [V_DELTA, V_OFFSET, V_DOD]) {
      valueResiduals(q, Math.min(n, ESTIMATE_SAMPLES + 1), mode, scratch.a);
      const bits = residualBits(scratch.a, m, scratch.counts);
      if (bits < bestBits) {
        bestBits = bits;
        bestMode = mode;
      }
    }
    out.byte(bestMode);
    out.byte(decimals);
    out.svarint(q[0]!);
    if (m > 0) {
      valueResiduals(q, n, bestMode, scratch.a);
      writeResiduals(out, scratch.a, m, scratch);
    }
  }
  out.u32(maskCrc(crc32c(out.view())));
  return out.finish();
}

/** Two float64 slots and their bytes (`writeFloatPlanes`). */
const f64Pair = new Float64Array(2);
const f64PairBytes = new Uint8Array(f64Pair.buffer);
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function writeFloatPlanes(out: ByteWriter, values: ArrayLike<number>, n: number): void {
  const m = n - 1;
  const planes: Uint8Array[] = [];
  for (let p = 0; p < 8; p++) planes.push(new Uint8Array(m));
  if (LITTLE_ENDIAN) {
    // Plane p is big-endian byte p, byte 7 - p in memory here; each value goes into one of two
    // slots in turn and is XORed with the other (a DataView call per byte cost ~4x as much).
    const [p0, p1, p2, p3, p4, p5, p6, p7] = planes as [
      Uint8Array,
      Uint8Array,
      Uint8Array,
      Uint8Array,
      Uint8Array,
      Uint8Array,
      Uint8Array,
      Uint8Array,
    ];
    const f = f64Pair;
    const b = f64PairBytes;
    let prev = 0; // byte offset of the previous value's slot
    f[0] = values[0]!;
    for (let i = 1; i < n; i++) {
      const cur = 8 - prev;
      f[cur >> 3] = values[i]!;
      const j = i - 1;
      p0[j] = b[cur + 7]! ^ b[prev + 7]!;
      p1[j] = b[cur + 6]! ^ b[prev + 6]!;
      p2[j] = b[cur + 5]! ^ b[prev + 5]!;
      p3[j] = b[cur + 4]! ^ b[prev + 4]!;
      p4[j] = b[cur + 3]! ^ b[prev + 3]!;
      p5[j] = b[cur + 2]! ^ b[prev + 2]!;
      p6[j] = b[cur + 1]! ^ b[prev + 1]!;
      p7[j] = b[cur]! ^ b[prev]!;
      prev = cur;
    }
  } else {
    const cur = new DataView(new ArrayBuffer(8));
    const prev = new DataView(new ArrayBuffer(8));
    prev.setFloat64(0, values[0]!);
    for (let i = 1; i < n; i++) {
      cur.setFloat64(0, values[i]!);
      for (let p = 0; p < 8; p++) planes[p]![i - 1] = cur.getUint8(p) ^ prev.getUint8(p);
      prev.setFloat64(0, values[i]!);
    }
  }
  const counts = new Int32Array(256);
  for (const plane of planes) {
    counts.fill(0);
    for (let i = 0; i < m; i++) counts[plane[i]!]!++;
    writeSymbolStream(out, plane, m, 256, counts, true);
  }
}

function readFloatPlanes(input: ByteReader, first: number, n: number, out: Float64Array): void {
  const m = n - 1;
  const planes: Uint16Array[] = [];
  for (let p = 0; p < 8; p++) {
    const plane = new Uint16Array(m);
    readSymbolStream(input, plane, m, 256);
    planes.push(plane);
  }
  const cur = new DataView(new ArrayBuffer(8));
  cur.setFloat64(0, first);
  out[0] = first;
  for (let i = 0; i < m; i++) {
    for (let p = 0; p < 8; p++) cur.setUint8(p, cur.getUint8(p) ^ planes[p]![i]!);
    out[i + 1] = cur.getFloat64(0);
  }
}

function checkCrc(chunk: Uint8Array): void {
  if (chunk.length < 5) throw new CorruptionError("Cannot decode time-series chunk: too short");
  const body = chunk.length - 4;
  const stored = new DataView(chunk.buffer, chunk.byteOffset + body, 4).getUint32(0, true);
  if (stored !== maskCrc(crc32c(chunk, 0, body))) {
    throw new CorruptionError("Cannot decode time-series chunk: checksum mismatch");
  }
}

function readHeader(input: ByteReader): ChunkHeader {
  const version = input.byte();
  if (version !== CHUNK_FORMAT_VERSION) {
    throw new CorruptionError(`Cannot decode time-series chunk: unknown format version ${version}`);
  }
  const count = input.varint();
  const firstTs = input.varint();
  const lastTs = input.varint();
  if (count < 1 || lastTs < firstTs || (count === 1 && lastTs !== firstTs)) {
    throw new CorruptionError("Cannot decode time-series chunk: bad header");
  }
  return { count, firstTs, lastTs };
}

/** Reads the header (count, first and last timestamp) after checking the CRC. */
export function chunkHeader(chunk: Uint8Array): ChunkHeader {
  checkCrc(chunk);
  return readHeader(new ByteReader(chunk, 0, chunk.length - 4));
}

/** Decodes a chunk; throws `CorruptionError` on any damage. */
export function decodeChunk(chunk: Uint8Array): ChunkSamples {
  checkCrc(chunk);
  const input = new ByteReader(chunk, 0, chunk.length - 4);
  const { count: n, firstTs, lastTs } = readHeader(input);
  const m = n - 1;
  const ts = new Float64Array(n);
  const values = new Float64Array(n);
  const res = new Float64Array(Math.max(1, m));
  const toks = new Uint16Array(Math.max(1, m));
  const tsMode = input.byte();
  const step = input.varint();
  if (tsMode > TS_GRID) {
    throw new CorruptionError(`Cannot decode time-series chunk: bad timestamp mode ${tsMode}`);
  }
  ts[0] = firstTs;
  if (m > 0) {
    readResiduals(input, res, m, toks);
    let t = firstTs;
    let bad = false;
    if (tsMode === TS_DELTA) {
      for (let i = 1; i < n; i++) {
        const next = t + step + res[i - 1]!;
        bad ||= !(next > t);
        ts[i] = t = next;
      }
    } else if (tsMode === TS_DOD) {
      let d = step;
      for (let i = 1; i < n; i++) {
        d += res[i - 1]!;
        const next = t + d;
        bad ||= !(next > t);
        ts[i] = t = next;
      }
    } else {
      let anchor = firstTs;
      for (let i = 1; i < n; i++) {
        const r = res[i - 1]!;
        const pred = anchor + step;
        const next = pred + r;
        anchor = 2 * Math.abs(r) > step ? next : pred;
        bad ||= !(next > t);
        ts[i] = t = next;
      }
    }
    // Strictly increasing integers between two safe header values: all are safe integers.
    if (bad) throw new CorruptionError("Cannot decode time-series chunk: timestamps out of order");
    if (ts[m] !== lastTs) {
      throw new CorruptionError("Cannot decode time-series chunk: last timestamp mismatch");
    }
  }
  const mode = input.byte();
  if (mode === V_FLOAT) {
    const first = input.f64();
    if (m > 0) readFloatPlanes(input, first, n, values);
    else values[0] = first;
  } else if (mode <= V_DOD) {
    const decimals = input.byte();
    if (decimals > DECIMALS_MAX) {
      throw new CorruptionError(`Cannot decode time-series chunk: ${decimals} decimals`);
    }
    const scale = POW10[decimals]!;
    let q = input.svarint();
    const q0 = q;
    values[0] = q / scale;
    if (m > 0) {
      readResiduals(input, res, m, toks);
      let prevDelta = 0;
      for (let i = 1; i < n; i++) {
        const r = res[i - 1]!;
        if (mode === V_DELTA) q += r;
        else if (mode === V_OFFSET) q = q0 + r;
        else {
          prevDelta += r;
          q += prevDelta;
        }
        values[i] = q / scale;
      }
    }
  } else {
    throw new CorruptionError(`Cannot decode time-series chunk: bad value mode ${mode}`);
  }
  if (input.remaining !== 0) {
    throw new CorruptionError("Cannot decode time-series chunk: trailing bytes");
  }
  return { ts, values };
}
