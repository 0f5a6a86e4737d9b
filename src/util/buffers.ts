/**
 * Growable byte and bit buffers for the formats built on varints (time-series chunks, key
 * metadata).
 * Readers check every length against the bytes left and throw `CorruptionError`, never
 * `RangeError`. Varints are the project's LEB128 (ARCHITECTURE.md conventions); signed values
 * use zigzag on top (`0 -> 0, -1 -> 1, 1 -> 2, ...`), for magnitudes below 2^52 only.
 *
 * @module
 */

import { CorruptionError } from "../errors.ts";
import { assert } from "./assert.ts";
import { copyBytes } from "./bytes.ts";

const TWO_32 = 0x1_0000_0000;

function corrupt(what: string): never {
  throw new CorruptionError(`Cannot decode: ${what}`);
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Scratch of `ByteWriter.f64`: a number's bytes, in the machine's order. */
const F64_SCRATCH = new Float64Array(1);
const F64_SCRATCH_BYTES = new Uint8Array(F64_SCRATCH.buffer);

/**
 * An append-only byte buffer. No `DataView`: one over the buffer made V8 give a small array
 * (<= 64 bytes, otherwise kept in the JS heap) a separate malloc'ed backing store, per writer;
 * each creation of a series made two such writers (its metadata, the version counter).
 */
export class ByteWriter {
  #buf: Uint8Array;
  /** Bytes written so far. */
  length = 0;

  /** Creates a writer with `capacity` bytes reserved. */
  constructor(capacity = 256) {
    this.#buf = new Uint8Array(capacity);
  }

  #reserve(n: number): void {
    if (this.length + n <= this.#buf.length) return;
    let size = Math.max(1, this.#buf.length * 2);
    while (size < this.length + n) size *= 2;
    const bigger = new Uint8Array(size);
    bigger.set(this.#buf.subarray(0, this.length));
    this.#buf = bigger;
  }

  /** Appends one byte. */
  byte(b: number): void {
    this.#reserve(1);
    this.#buf[this.length++] = b;
  }

  /** Appends an unsigned varint (a safe integer >= 0). */
  varint(value: number): void {
    this.#reserve(8);
    const buf = this.#buf;
    let n = this.length;
    while (value >= 0x80) {
      buf[n++] = (value & 0x7f) | 0x80;
      value = Math.floor(value / 128);
    }
    buf[n++] = value;
    this.length = n;
  }

  /** Appends a signed integer as a zigzag varint. REQUIRES: |value| < 2^52. */
  svarint(value: number): void {
    this.varint(value < 0 ? -2 * value - 1 : 2 * value);
  }

  /** Appends a float64, little-endian. */
  f64(value: number): void {
    F64_SCRATCH[0] = value;
    this.#f64Bytes(F64_SCRATCH_BYTES);
  }

  /**
   * Appends `src[i]` as a little-endian float64, byte by byte: a NaN keeps its payload (going
   * through a `number` may change it, e.g. a staleness marker's).
   */
  f64From(src: Float64Array, i: number): void {
    this.#f64Bytes(new Uint8Array(src.buffer, src.byteOffset + 8 * i, 8));
  }

  /** Appends the float64 whose bytes in the machine's order are `bytes[0 ... 8)`, little-endian. */
  #f64Bytes(bytes: Uint8Array): void {
    this.#reserve(8);
    const buf = this.#buf;
    const n = this.length;
    for (let b = 0; b < 8; b++) buf[n + b] = bytes[LITTLE_ENDIAN ? b : 7 - b]!;
    this.length = n + 8;
  }

  /** Appends a uint32, little-endian. */
  u32(value: number): void {
    this.#reserve(4);
    const buf = this.#buf;
    const n = this.length;
    const v = value >>> 0;
    buf[n] = v & 0xff;
    buf[n + 1] = (v >>> 8) & 0xff;
    buf[n + 2] = (v >>> 16) & 0xff;
    buf[n + 3] = v >>> 24;
    this.length = n + 4;
  }

  /** Appends bytes. */
  bytes(b: Uint8Array): void {
    this.#reserve(b.length);
    this.#buf.set(b, this.length);
    this.length += b.length;
  }

  /**
   * Room for `n` more bytes: the buffer to write them into at `length` (valid until the next
   * write), for an encoder that writes in place and then advances `length` by what it wrote.
   */
  room(n: number): Uint8Array {
    this.#reserve(n);
    return this.#buf;
  }

  /** Drops everything after the first `length` bytes. */
  truncate(length: number): void {
    assert(length >= 0 && length <= this.length, "truncate past the end");
    this.length = length;
  }

  /** A view of the bytes written (valid until the next write). */
  view(): Uint8Array {
    return this.#buf.subarray(0, this.length);
  }

  /** A copy of the bytes written. */
  finish(): Uint8Array {
    return this.#buf.slice(0, this.length);
  }

  /**
   * A copy of the bytes written, a small one carved from the shared slab (`copyBytes`), without
   * the view `view()` makes first (~100 bytes of heap each in V8): for a writer reused per value.
   */
  copy(): Uint8Array {
    return copyBytes(this.#buf, 0, this.length);
  }
}

/**
 * A cursor over bytes that fails with `CorruptionError` past the end. Its `DataView` is made
 * on the first float or uint32 read (most readers read varints only; see `ByteWriter`).
 */
export class ByteReader {
  readonly #buf: Uint8Array;
  #dataView: DataView | undefined;
  readonly #end: number;
  /** Offset of the next byte. */
  offset: number;

  /** Reads `buf[start ... end)`. */
  constructor(buf: Uint8Array, start = 0, end = buf.length) {
    this.#buf = buf;
    this.offset = start;
    this.#end = end;
  }

  get #view(): DataView {
    const buf = this.#buf;
    return this.#dataView ??= new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  /** Bytes left. */
  get remaining(): number {
    return this.#end - this.offset;
  }

  /** One byte. */
  byte(): number {
    if (this.offset >= this.#end) corrupt("truncated");
    return this.#buf[this.offset++]!;
  }

  /** An unsigned varint (at most 8 bytes, a safe integer). */
  varint(): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 8; i++) {
      if (this.offset >= this.#end) corrupt("truncated varint");
      const b = this.#buf[this.offset++]!;
      result += (b & 0x7f) * scale;
      if (b < 0x80) {
        if (!Number.isSafeInteger(result)) corrupt("varint exceeds 2^53 - 1");
        return result;
      }
      scale *= 128;
    }
    return corrupt("varint longer than 8 bytes");
  }

  /** A zigzag varint. */
  svarint(): number {
    const z = this.varint();
    return z % 2 === 0 ? z / 2 : -(z + 1) / 2;
  }

  /** A little-endian float64. */
  f64(): number {
    if (this.#end - this.offset < 8) corrupt("truncated float");
    const v = this.#view.getFloat64(this.offset, true);
    this.offset += 8;
    return v;
  }

  /** Reads a little-endian float64 into `dst[i]` byte by byte (NaN payloads kept). */
  f64Into(dst: Float64Array, i: number): void {
    if (this.#end - this.offset < 8) corrupt("truncated float");
    const bytes = new Uint8Array(dst.buffer, dst.byteOffset + 8 * i, 8);
    for (let b = 0; b < 8; b++) {
      bytes[LITTLE_ENDIAN ? b : 7 - b] = this.#buf[this.offset + b]!;
    }
    this.offset += 8;
  }

  /** A little-endian uint32. */
  u32(): number {
    if (this.#end - this.offset < 4) corrupt("truncated integer");
    const v = this.#view.getUint32(this.offset, true);
    this.offset += 4;
    return v;
  }

  /** The next `n` bytes (a view). */
  take(n: number): Uint8Array {
    if (n < 0 || n > this.#end - this.offset) corrupt(`length ${n} runs past the end`);
    const out = this.#buf.subarray(this.offset, this.offset + n);
    this.offset += n;
    return out;
  }
}

/** Packs bit fields LSB-first into bytes. */
export class BitWriter {
  #out = new ByteWriter(64);
  /** Pending bits, LSB-first; fewer than 8 between calls. */
  #acc = 0;
  #bits = 0;

  /** Appends the low `n` bits of `value` (0 <= n <= 53, 0 <= value < 2^n). */
  write(value: number, n: number): void {
    if (n > 24) {
      const lo = value % 0x1000000;
      this.write(lo, 24);
      this.write((value - lo) / 0x1000000, n - 24);
      return;
    }
    // At most 7 pending bits plus 24 new ones: the accumulator stays below 2^31.
    this.#acc |= value << this.#bits;
    this.#bits += n;
    while (this.#bits >= 8) {
      this.#out.byte(this.#acc & 0xff);
      this.#acc >>>= 8;
      this.#bits -= 8;
    }
  }

  /** The packed bytes (the last byte padded with zero bits). */
  finish(): Uint8Array {
    if (this.#bits > 0) this.#out.byte(this.#acc & 0xff);
    this.#acc = 0;
    this.#bits = 0;
    return this.#out.finish();
  }
}

/** Reads bit fields written by `BitWriter`. */
export class BitReader {
  readonly #buf: Uint8Array;
  #pos = 0;
  /** Buffered bits, LSB-first; fewer than 32. */
  #acc = 0;
  #bits = 0;

  /** Reads from `buf`. */
  constructor(buf: Uint8Array) {
    this.#buf = buf;
  }

  /** The next `n` bits (0 <= n <= 53) as a number. */
  read(n: number): number {
    if (n > 24) {
      const lo = this.read(24);
      return lo + this.read(n - 24) * 0x1000000;
    }
    while (this.#bits < n) {
      if (this.#pos >= this.#buf.length) corrupt("truncated extra bits");
      this.#acc |= this.#buf[this.#pos++]! << this.#bits;
      this.#bits += 8;
    }
    const v = n === 0 ? 0 : (this.#acc & ((1 << n) - 1)) >>> 0;
    this.#acc >>>= n;
    this.#bits -= n;
    return v;
  }

  /** True when every byte was consumed (trailing padding bits are fine). */
  get exhausted(): boolean {
    return this.#pos === this.#buf.length;
  }
}

/** `hi * 2^32 + lo` for code that needs 53-bit integers from two 32-bit halves. */
export function join32(hi: number, lo: number): number {
  return hi * TWO_32 + lo;
}
