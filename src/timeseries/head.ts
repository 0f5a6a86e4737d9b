/**
 * The head chunk: a series' newest samples in memory, before they are sealed into a compressed
 * chunk (`codec.ts`). Prometheus keeps its head the same way. ARCHITECTURE.md § "Head chunks"
 * documents the byte format, which is also what a checkpoint stores, so a reopen loads heads
 * without decoding them.
 *
 * Samples are appended in a compact, byte-aligned encoding (~2-3 bytes per sample for 1 Hz
 * decimal readings): per sample after the first, `svarint(delta - previous delta)` of the
 * timestamp, then `svarint(q - previous q)` where `q = round(value × 10^decimals)`, or the
 * 8-byte float when the head is in float mode. Appending is O(1). Replacing the newest sample
 * (a duplicate under LAST/SUM/...) is O(1) too; any other out-of-order change decodes and
 * re-encodes the head (O(n), n <= the chunk size), as RedisTimeSeries pays for it too.
 *
 * Invariants: timestamps strictly increase; `count`, `firstTs`, `lastTs`, `lastValue` describe
 * the encoded samples; in decimal mode every value equals `q / 10^decimals` exactly.
 *
 * @module
 */

import { CorruptionError } from "../errors.ts";
import { assert, AssertionError } from "../util/assert.ts";
import { ByteReader, type ByteWriter } from "../util/buffers.ts";
import { DECIMALS_MAX, decimalsOf } from "./codec.ts";

const FLOAT_MODE = 0xff;
/** Least buffer growth (see `#reserve`). */
const GROWTH_MIN = 64;
const DECIMAL_INT_MAX = 2 ** 51;
const POW10 = [1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8];
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
/** The buffer of an empty head (never written: `#reserve` replaces it first). */
const EMPTY = new Uint8Array(0);
const EMPTY_VIEW = new DataView(EMPTY.buffer);
/** Where `appendRun` encodes before copying into the head (grown on demand, shared). */
let runScratch = new Uint8Array(4096);

/** Decoded samples. */
export interface Samples {
  /** Timestamps, strictly increasing. */
  ts: Float64Array;
  /** Values. */
  values: Float64Array;
}

/**
 * Where a decoding of a head stopped (`Head.decodeMore`): `n` samples decoded, the byte offset
 * of the next, and the running timestamp, delta and integer value.
 */
export interface HeadCursor {
  /** The head's epoch the decoding belongs to. */
  readonly epoch: number;
  /** Samples decoded. */
  n: number;
  /** Offset of the next sample's bytes. */
  p: number;
  /** Timestamp of sample `n - 1`. */
  t: number;
  /** Its delta. */
  delta: number;
  /** Its integer value (decimal mode). */
  q: number;
}

/** A cursor at the start of `head`'s current epoch. */
export function newHeadCursor(head: Head): HeadCursor {
  return { epoch: head.epoch, n: 0, p: 0, t: 0, delta: 0, q: 0 };
}

/** A series' unsealed samples. */
export class Head {
  /** Samples held. */
  count = 0;
  /** Oldest timestamp (valid when count > 0). */
  firstTs = 0;
  /** Newest timestamp (valid when count > 0). */
  lastTs = 0;
  /** Newest value (valid when count > 0). */
  lastValue = 0;
  #buf = EMPTY;
  #len = 0;
  /**
   * A view of `#buf` for float mode, made on first use (`#floatView`): most heads hold
   * decimals, and a `DataView` per head was ~84 bytes × 10,000 series for nothing.
   */
  #view = EMPTY_VIEW;
  /** Decimal digits of the integer mode, or `FLOAT_MODE`. */
  #decimals = 0;
  /**
   * The first value, in a typed array: V8's cold code may canonicalise a NaN stored into an
   * object field, which would turn a staleness marker (ingest stores NaN payloads) into a plain
   * NaN. A `Float64Array` keeps the bits.
   */
  readonly #first = new Float64Array(1);
  #lastQ = 0;
  #lastDelta = 0;
  /** See `epoch`. */
  #epoch = 0;
  /** Where the newest sample's bytes start, and the state before it; -1 = unknown. */
  #lastOffset = -1;
  #prevTs = 0;
  #prevQ = 0;
  #prevDelta = 0;
  #prevValue = 0;

  /** Bytes of memory the encoded samples take. */
  get sizeBytes(): number {
    return this.#buf.length;
  }

  /** `#view`, made or remade for the current buffer. */
  #floatView(): DataView {
    if (this.#view.buffer !== this.#buf.buffer) this.#view = new DataView(this.#buf.buffer);
    return this.#view;
  }

  #reserve(n: number): void {
    if (this.#len + n <= this.#buf.length) return;
    // A quarter more each time, in 64-byte steps: at most a fifth of a head's buffer is unused
    // (10,000 heads share `TS_HEADS_BYTES_MAX`), for ~4 bytes copied per byte appended.
    const step = (size: number) => size + Math.max(GROWTH_MIN, Math.ceil(size / 4 / 64) * 64);
    let size = step(this.#buf.length);
    while (size < this.#len + n) size = step(size);
    const bigger = new Uint8Array(size);
    bigger.set(this.#buf.subarray(0, this.#len));
    this.#buf = bigger;
  }

  #varint(value: number): void {
    const buf = this.#buf;
    let n = this.#len;
    while (value >= 0x80) {
      buf[n++] = (value & 0x7f) | 0x80;
      value = Math.floor(value / 128);
    }
    buf[n++] = value;
    this.#len = n;
  }

  #svarint(value: number): void {
    this.#varint(value < 0 ? -2 * value - 1 : 2 * value);
  }

  /** The integer of `v` in the current decimal mode, or undefined when it does not fit. */
  #quantize(v: number): number | undefined {
    if (this.#decimals === FLOAT_MODE) return undefined;
    const m = POW10[this.#decimals]!;
    const q = Math.round(v * m);
    return q / m === v && Math.abs(q) <= DECIMAL_INT_MAX && !Object.is(v, -0) ? q : undefined;
  }

  /** Appends a sample newer than every held one. */
  append(ts: number, value: number): void {
    assert(this.count === 0 || ts > this.lastTs, "head append out of order");
    if (this.count === 0) {
      const values = [value];
      this.#start(ts, value, modeFor(values, 1));
      return;
    }
    let q = 0;
    if (this.#decimals !== FLOAT_MODE) {
      const fit = this.#quantize(value);
      if (fit === undefined) {
        // A finer or non-decimal value: re-encode everything in a mode that holds it.
        const all = this.decode();
        const n = all.ts.length;
        const ts2 = new Float64Array(n + 1);
        const v2 = new Float64Array(n + 1);
        ts2.set(all.ts);
        v2.set(all.values);
        ts2[n] = ts;
        v2[n] = value;
        this.#rebuild(ts2, v2, n + 1);
        return;
      }
      q = fit;
    }
    this.#reserve(24);
    this.#lastOffset = this.#len;
    this.#prevTs = this.lastTs;
    this.#prevQ = this.#lastQ;
    this.#prevDelta = this.#lastDelta;
    this.#prevValue = this.lastValue;
    const delta = ts - this.lastTs;
    // Most deltas of delta and of value are small: their one zigzag byte is written here,
    // without the varint loop (`#svarint` writes the same bytes for any value).
    const dod = delta - this.#lastDelta;
    if (dod > -64 && dod < 64) this.#buf[this.#len++] = dod < 0 ? -2 * dod - 1 : 2 * dod;
    else this.#svarint(dod);
    if (this.#decimals === FLOAT_MODE) {
      this.#floatView().setFloat64(this.#len, value, true);
      this.#len += 8;
    } else {
      const dq = q - this.#lastQ;
      if (dq > -64 && dq < 64) this.#buf[this.#len++] = dq < 0 ? -2 * dq - 1 : 2 * dq;
      else this.#svarint(dq);
      this.#lastQ = q;
    }
    this.#lastDelta = delta;
    this.lastTs = ts;
    this.lastValue = value;
    this.count++;
  }

  /**
   * Appends `ts[from ... to)` / `values[from ... to)`, the same bytes as that many `append`s but
   * with one buffer reservation and no per-sample calls (ingest's bulk path). REQUIRES: the
   * timestamps strictly increase and the first is newer than every held one.
   */
  appendRun(ts: Float64Array, values: Float64Array, from: number, to: number): void {
    let i = from;
    if (i < to && this.count === 0) {
      const first = values.subarray(i, i + 1);
      this.#start(ts[i]!, values[i]!, modeFor(first, 1));
      this.#first.set(first); // bit for bit (a NaN's payload)
      i++;
    }
    if (i >= to) return;
    // The run is encoded into a shared scratch first (two varints of at most 10 bytes, or a
    // varint and 8 bytes, per sample), then the head grows by what it took: reserving the worst
    // case in the head itself made it grow (allocate and copy) several times more often.
    const worst = (to - i) * 20;
    if (runScratch.length < worst) {
      runScratch = new Uint8Array(Math.max(worst, 2 * runScratch.length));
    }
    const buf = runScratch;
    const float = this.#decimals === FLOAT_MODE;
    const m = float ? 1 : POW10[this.#decimals]!;
    // The values' bytes, for float mode only (a view costs an allocation per call: replay
    // appends one sample per call).
    const src = float ? new Uint8Array(values.buffer, values.byteOffset, values.byteLength) : EMPTY;
    let len = 0;
    let lastTs = this.lastTs;
    let lastQ = this.#lastQ;
    let lastDelta = this.#lastDelta;
    let lastValue = this.lastValue;
    // The state before the newest sample (what `upsert` needs to replace it in O(1)).
    let lastOffset = this.#lastOffset;
    let prevTs = this.#prevTs;
    let prevQ = this.#prevQ;
    let prevDelta = this.#prevDelta;
    let prevValue = this.#prevValue;
    const base = this.#len;
    const start = i;
    for (; i < to; i++) {
      const t = ts[i]!;
      const v = values[i]!;
      // Inline, not an `assert` call per sample (~7% of an append run's instructions).
      if (!(t > lastTs)) throw new AssertionError("head append out of order");
      let q = 0;
      if (!float) {
        q = Math.round(v * m);
        if (!(q / m === v && Math.abs(q) <= DECIMAL_INT_MAX && !Object.is(v, -0))) break;
      }
      lastOffset = base + len;
      prevTs = lastTs;
      prevQ = lastQ;
      prevDelta = lastDelta;
      prevValue = lastValue;
      const delta = t - lastTs;
      let z = delta - lastDelta;
      z = z < 0 ? -2 * z - 1 : 2 * z;
      while (z >= 0x80) {
        buf[len++] = (z & 0x7f) | 0x80;
        z = Math.floor(z / 128);
      }
      buf[len++] = z;
      if (float) {
        // The value's bytes as stored in `values`: a signalling NaN (the Prometheus staleness
        // marker) stays one, where going through a register may quieten it.
        const o = 8 * i;
        if (LITTLE_ENDIAN) { for (let k = 0; k < 8; k++) buf[len + k] = src[o + k]!; }
        else for (let k = 0; k < 8; k++) buf[len + k] = src[o + 7 - k]!;
        len += 8;
      } else {
        z = q - lastQ;
        z = z < 0 ? -2 * z - 1 : 2 * z;
        while (z >= 0x80) {
          buf[len++] = (z & 0x7f) | 0x80;
          z = Math.floor(z / 128);
        }
        buf[len++] = z;
        lastQ = q;
      }
      lastDelta = delta;
      lastTs = t;
      lastValue = v;
    }
    this.#reserve(len);
    const out = this.#buf;
    if (len <= 512) { for (let k = 0; k < len; k++) out[base + k] = buf[k]!; }
    else out.set(buf.subarray(0, len), base);
    this.#len = base + len;
    this.count += i - start;
    this.lastTs = lastTs;
    this.#lastQ = lastQ;
    this.#lastDelta = lastDelta;
    this.lastValue = lastValue;
    this.#lastOffset = lastOffset;
    this.#prevTs = prevTs;
    this.#prevQ = prevQ;
    this.#prevDelta = prevDelta;
    this.#prevValue = prevValue;
    // A value the decimal mode cannot hold: the one-sample path re-encodes; go on there.
    for (; i < to; i++) this.append(ts[i]!, values[i]!);
  }

  /**
   * Sets the value at `ts`, adding the sample when it is missing. O(1) for a new newest
   * sample or a change of the newest one; otherwise re-encodes.
   */
  upsert(ts: number, value: number): void {
    if (this.count === 0 || ts > this.lastTs) return this.append(ts, value);
    if (ts === this.lastTs && this.count === 1) {
      this.#reset();
      return this.append(ts, value);
    }
    if (ts === this.lastTs && this.#lastOffset >= 0) {
      // Undo the newest sample's bytes, then append the new value.
      this.#epoch++;
      this.#len = this.#lastOffset;
      this.lastTs = this.#prevTs;
      this.#lastQ = this.#prevQ;
      this.#lastDelta = this.#prevDelta;
      this.lastValue = this.#prevValue;
      this.count--;
      this.#lastOffset = -1;
      return this.append(ts, value);
    }
    const all = this.decode();
    const n = all.ts.length;
    const i = lowerBound(all.ts, n, ts);
    if (i < n && all.ts[i] === ts) {
      all.values[i] = value;
      this.#rebuild(all.ts, all.values, n);
      return;
    }
    const tsOut = new Float64Array(n + 1);
    const vOut = new Float64Array(n + 1);
    tsOut.set(all.ts.subarray(0, i));
    vOut.set(all.values.subarray(0, i));
    tsOut[i] = ts;
    vOut[i] = value;
    tsOut.set(all.ts.subarray(i), i + 1);
    vOut.set(all.values.subarray(i), i + 1);
    this.#rebuild(tsOut, vOut, n + 1);
  }

  /** Removes the samples with `from <= ts <= to`; returns how many. */
  deleteRange(from: number, to: number): number {
    if (this.count === 0 || to < this.firstTs || from > this.lastTs) return 0;
    // Every sample in range (a seal, replayed or not): nothing to decode or re-encode.
    if (from <= this.firstTs && to >= this.lastTs) return this.clear();
    const all = this.decode();
    const n = all.ts.length;
    const a = lowerBound(all.ts, n, from);
    const b = lowerBound(all.ts, n, to + 1);
    if (b <= a) return 0;
    const tsOut = new Float64Array(n - (b - a));
    const vOut = new Float64Array(n - (b - a));
    tsOut.set(all.ts.subarray(0, a));
    vOut.set(all.values.subarray(0, a));
    tsOut.set(all.ts.subarray(b), a);
    vOut.set(all.values.subarray(b), a);
    // A fresh buffer, sized to what is left.
    this.#buf = EMPTY;
    this.#view = EMPTY_VIEW;
    this.#rebuild(tsOut, vOut, tsOut.length);
    return b - a;
  }

  /**
   * Removes every sample and gives the head's memory back (a sealed head); returns how many
   * there were. A new epoch, as for any edit that is not an append: a kept decoding is stale.
   */
  clear(): number {
    const n = this.count;
    this.#buf = EMPTY;
    this.#view = EMPTY_VIEW;
    this.#reset();
    return n;
  }

  /** The value at `ts`, or undefined. */
  valueAt(ts: number): number | undefined {
    if (this.count === 0 || ts < this.firstTs || ts > this.lastTs) return undefined;
    if (ts === this.lastTs) return this.lastValue;
    const all = this.decode();
    const i = lowerBound(all.ts, all.ts.length, ts);
    return all.ts[i] === ts ? all.values[i] : undefined;
  }

  #reset(): void {
    this.#epoch++;
    this.count = 0;
    this.#len = 0;
    this.#lastOffset = -1;
  }

  /** Re-encodes from scratch in the one mode that holds every value. */
  #rebuild(ts: Float64Array, values: Float64Array, n: number): void {
    this.#reset();
    if (n === 0) return;
    this.#start(ts[0]!, values[0]!, modeFor(values, n));
    for (let i = 1; i < n; i++) this.append(ts[i]!, values[i]!);
  }

  /** Makes `(ts, value)` the only sample, in mode `decimals` (which must hold it). */
  #start(ts: number, value: number, decimals: number): void {
    this.#epoch++;
    this.#decimals = decimals;
    this.count = 1;
    this.firstTs = ts;
    this.lastTs = ts;
    this.lastValue = value;
    this.#first[0] = value;
    this.#lastQ = decimals === FLOAT_MODE ? 0 : Math.round(value * POW10[decimals]!);
    this.#lastDelta = 0;
    this.#lastOffset = -1;
    this.#len = 0;
  }

  /** Every sample, decoded. */
  decode(): Samples {
    const n = this.count;
    const ts = new Float64Array(n);
    const values = new Float64Array(n);
    this.decodeMore(ts, values, newHeadCursor(this));
    return { ts, values };
  }

  /**
   * Changes with every edit that is not an append (a re-encoding, a reset, the newest sample
   * replaced): a decoding kept from before such an edit is stale; one kept from before appends
   * only lacks the new samples (`decodeMore`).
   */
  get epoch(): number {
    return this.#epoch;
  }

  /**
   * Decodes samples `[cursor.n, count)` into `ts`/`values` at their indexes, continuing from
   * `cursor` (made by `newHeadCursor` at the current epoch, advanced by earlier calls), and
   * advances it to `count`. REQUIRES: `cursor.epoch === epoch`, room for `count` samples.
   */
  decodeMore(ts: Float64Array, values: Float64Array, cursor: HeadCursor): void {
    assert(cursor.epoch === this.#epoch, "head cursor of the current epoch");
    const n = this.count;
    let i = cursor.n;
    if (i >= n) return;
    const float = this.#decimals === FLOAT_MODE;
    const scale = float ? 1 : POW10[this.#decimals]!;
    let q = cursor.q;
    let t = cursor.t;
    let delta = cursor.delta;
    let p = cursor.p;
    if (i === 0) {
      ts[0] = t = this.firstTs;
      values.set(this.#first);
      if (!float) q = Math.round(this.#first[0]! * scale);
      i = 1;
    }
    const buf = this.#buf;
    const view = float ? this.#floatView() : EMPTY_VIEW;
    for (; i < n; i++) {
      // Inline zigzag varints: this loop is on every read of recent data.
      let z = 0;
      let mul = 1;
      let b: number;
      do {
        b = buf[p++]!;
        z += (b & 0x7f) * mul;
        mul *= 128;
      } while (b >= 0x80);
      delta += z % 2 === 0 ? z / 2 : -(z + 1) / 2;
      t += delta;
      ts[i] = t;
      if (float) {
        values[i] = view.getFloat64(p, true);
        p += 8;
      } else {
        z = 0;
        mul = 1;
        do {
          b = buf[p++]!;
          z += (b & 0x7f) * mul;
          mul *= 128;
        } while (b >= 0x80);
        q += z % 2 === 0 ? z / 2 : -(z + 1) / 2;
        values[i] = q / scale;
      }
    }
    cursor.n = n;
    cursor.p = p;
    cursor.t = t;
    cursor.delta = delta;
    cursor.q = q;
  }

  /** Writes the head (ARCHITECTURE.md § "Head chunks"). */
  serialize(out: ByteWriter): void {
    out.varint(this.count);
    if (this.count === 0) return;
    out.varint(this.firstTs);
    out.byte(this.#decimals);
    out.f64From(this.#first, 0);
    out.varint(this.lastTs);
    out.f64(this.lastValue);
    out.svarint(this.#lastDelta);
    out.varint(this.#len);
    out.bytes(this.#buf.subarray(0, this.#len));
  }

  /** Reads a head written by `serialize`; throws `CorruptionError` on damage. */
  static deserialize(input: ByteReader): Head {
    const head = new Head();
    const count = input.varint();
    if (count === 0) return head;
    head.count = count;
    head.firstTs = input.varint();
    const decimals = input.byte();
    if (decimals !== FLOAT_MODE && decimals > DECIMALS_MAX) {
      throw new CorruptionError(`Cannot decode time-series head: ${decimals} decimals`);
    }
    head.#decimals = decimals;
    input.f64Into(head.#first, 0);
    head.lastTs = input.varint();
    head.lastValue = input.f64();
    head.#lastDelta = input.svarint();
    const body = input.take(input.varint());
    head.#buf = body.slice();
    head.#len = body.length;
    head.#lastQ = decimals === FLOAT_MODE ? 0 : Math.round(head.lastValue * POW10[decimals]!);
    if (count < 1 || head.lastTs < head.firstTs || (count === 1 && body.length !== 0)) {
      throw new CorruptionError("Cannot decode time-series head: bad header");
    }
    return head;
  }

  /** Checks that the encoded bytes decode to what the header says (after deserialize). */
  verify(): void {
    const all = this.decode();
    const n = all.ts.length;
    for (let i = 1; i < n; i++) {
      if (!(all.ts[i]! > all.ts[i - 1]!)) {
        throw new CorruptionError("Cannot decode time-series head: timestamps out of order");
      }
    }
    if (n > 0 && (all.ts[n - 1] !== this.lastTs || !Object.is(all.values[n - 1], this.lastValue))) {
      throw new CorruptionError("Cannot decode time-series head: last sample mismatch");
    }
  }
}

/** The decimal mode holding every value of `values[0 ... n)` exactly, or `FLOAT_MODE`. */
function modeFor(values: ArrayLike<number>, n: number): number {
  let d = 0;
  for (let i = 0; i < n; i++) {
    const k = decimalsOf(values[i]!);
    if (k < 0) return FLOAT_MODE;
    if (k > d) d = k;
  }
  const m = POW10[d]!;
  for (let i = 0; i < n; i++) {
    const q = Math.round(values[i]! * m);
    if (q / m !== values[i] || Math.abs(q) > DECIMAL_INT_MAX) return FLOAT_MODE;
  }
  return d;
}

/** First index i in `ts[0 ... n)` with `ts[i] >= target`. */
export function lowerBound(ts: Float64Array, n: number, target: number): number {
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ts[mid]! < target) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Reads a head from bytes (convenience for tests and tools). */
export function headFromBytes(bytes: Uint8Array): Head {
  return Head.deserialize(new ByteReader(bytes));
}
