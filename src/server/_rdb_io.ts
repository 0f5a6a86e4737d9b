/**
 * The RDB primitives DUMP/RESTORE payloads are made of (ARCHITECTURE.md § "DUMP payload"):
 * lengths, strings (plain, integer, LZF), binary doubles, Redis's CRC-64. Shared by the Redis
 * types' payloads (`dump_payload.ts`) and the time-series one (`dump_series.ts`).
 *
 * @module
 */

import { VALUE_SIZE_BYTES_MAX } from "../limits.ts";

/**
 * Why a payload was refused: its footer (`version`), its body (`format`), or a named limit
 * (`limit`: the message says which, and is the reply).
 */
export class DumpPayloadError extends Error {
  constructor(readonly kind: "version" | "format" | "limit", message: string) {
    super(message);
  }
}

// ---------------------------------------------------------------- CRC-64 (Jones, reflected)

/**
 * The CRC-64 table, built by the first DUMP or RESTORE, not at start: its loop is hot enough
 * for V8 to optimize on the spot, and that compile touched the executable's code pages of
 * every idle server (ARCHITECTURE.md § "Memory").
 */
let crcLo: Uint32Array | undefined;
let crcHi: Uint32Array | undefined;

/** The table in two 32-bit halves: the CRC runs on plain integers, not BigInt. */
function crc64TableBuild(): void {
  // 0xad93d23594c935a9 bit-reversed: 0x95ac9329ac4bc9b5.
  const polyHi = 0x95ac9329;
  const polyLo = 0xac4bc9b5;
  crcLo = new Uint32Array(256);
  crcHi = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let lo = i;
    let hi = 0;
    for (let k = 0; k < 8; k++) {
      const odd = lo & 1;
      lo = ((lo >>> 1) | (hi << 31)) >>> 0;
      hi = hi >>> 1;
      if (odd) {
        lo = (lo ^ polyLo) >>> 0;
        hi = (hi ^ polyHi) >>> 0;
      }
    }
    crcLo[i] = lo;
    crcHi[i] = hi;
  }
}

/**
 * Redis's CRC-64 (Jones polynomial, reflected, initial value 0, no final xor). On 32-bit halves:
 * with a BigInt per byte, a 16 MiB payload took ~30 s of the event loop; now ~50 ms.
 */
export function crc64(bytes: Uint8Array, crc = 0n): bigint {
  if (crcLo === undefined) crc64TableBuild();
  const tLo = crcLo!;
  const tHi = crcHi!;
  let lo = Number(crc & 0xffffffffn) >>> 0;
  let hi = Number(crc >> 32n) >>> 0;
  for (let i = 0; i < bytes.length; i++) {
    const idx = (lo ^ bytes[i]!) & 0xff;
    lo = (tLo[idx]! ^ ((lo >>> 8) | (hi << 24))) >>> 0;
    hi = (tHi[idx]! ^ (hi >>> 8)) >>> 0;
  }
  return (BigInt(hi) << 32n) | BigInt(lo);
}

// ---------------------------------------------------------------- writing

/** Builds an RDB object: bytes, lengths, strings, doubles. */
export class RdbOut {
  #buf = new Uint8Array(256);
  length = 0;

  #room(n: number): void {
    if (this.length + n <= this.#buf.length) return;
    const grown = new Uint8Array(Math.max(this.#buf.length * 2, this.length + n));
    grown.set(this.#buf.subarray(0, this.length));
    this.#buf = grown;
  }

  byte(b: number): void {
    this.#room(1);
    this.#buf[this.length++] = b;
  }

  bytes(b: Uint8Array): void {
    this.#room(b.length);
    this.#buf.set(b, this.length);
    this.length += b.length;
  }

  /** An RDB length: 6 bits, 14 bits, or 32/64 bits big-endian after a marker byte. */
  len(n: number): void {
    if (n < 64) this.byte(n);
    else if (n < 16384) {
      this.byte(0x40 | (n >> 8));
      this.byte(n & 0xff);
    } else if (n <= 0xffffffff) {
      this.byte(0x80);
      for (let s = 24; s >= 0; s -= 8) this.byte(Math.floor(n / 2 ** s) & 0xff);
    } else {
      this.byte(0x81);
      const v = BigInt(n);
      for (let s = 56n; s >= 0n; s -= 8n) this.byte(Number((v >> s) & 0xffn));
    }
  }

  string(b: Uint8Array): void {
    this.len(b.length);
    this.bytes(b);
  }

  /** An RDB length of any 64-bit value (module fields: timestamps, double bits). */
  u64(v: bigint): void {
    if (v < 0xffffffffn) return this.len(Number(v));
    this.byte(0x81);
    for (let s = 56n; s >= 0n; s -= 8n) this.byte(Number((v >> s) & 0xffn));
  }

  doubleLE(x: number): void {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, x, true);
    this.bytes(b);
  }

  done(): Uint8Array {
    return this.#buf.slice(0, this.length);
  }
}

// ---------------------------------------------------------------- reading

/** Refuses a payload body. */
export function bad(why: string): never {
  throw new DumpPayloadError("format", `Bad data format: ${why}`);
}

/** Reads an RDB object, every read bounds-checked (`Bad data format` past `end`). */
export class RdbIn {
  pos = 0;
  constructor(readonly buf: Uint8Array, readonly end: number) {}

  byte(): number {
    if (this.pos >= this.end) bad("truncated");
    return this.buf[this.pos++]!;
  }

  take(n: number): Uint8Array {
    if (n < 0 || n > this.end - this.pos) bad("truncated");
    const out = this.buf.slice(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  /** An RDB length, or `{ encoded }` for a special string encoding. */
  len(): number | { encoded: number } {
    const b = this.byte();
    const kind = b >> 6;
    if (kind === 0) return b & 0x3f;
    if (kind === 1) return ((b & 0x3f) << 8) | this.byte();
    if (kind === 3) return { encoded: b & 0x3f };
    let n = 0;
    const bytes = b === 0x80 ? 4 : b === 0x81 ? 8 : bad("length marker");
    for (let i = 0; i < bytes; i++) n = n * 256 + this.byte();
    if (!Number.isSafeInteger(n)) bad("length");
    return n;
  }

  count(): number {
    const n = this.len();
    if (typeof n !== "number") bad("encoded count");
    // Every element takes at least one byte: a count past the payload is a lie.
    if (n > this.end - this.pos) bad("count past the payload");
    return n;
  }

  /** An RDB length of any 64-bit value; a special string encoding is refused. */
  u64(): bigint {
    const b = this.byte();
    const kind = b >> 6;
    if (kind === 0) return BigInt(b & 0x3f);
    if (kind === 1) return BigInt(((b & 0x3f) << 8) | this.byte());
    const bytes = b === 0x80 ? 4 : b === 0x81 ? 8 : bad("length marker");
    let n = 0n;
    for (let i = 0; i < bytes; i++) n = (n << 8n) | BigInt(this.byte());
    return n;
  }

  /** `n` as a count of elements that take a byte each at least: past the payload is a lie. */
  countLimit(n: number): number {
    if (n > this.end - this.pos) bad("count past the payload");
    return n;
  }

  string(): Uint8Array {
    const n = this.len();
    if (typeof n === "number") return this.take(n);
    const enc = new TextEncoder();
    switch (n.encoded) {
      case 0:
        return enc.encode(String((this.byte() << 24) >> 24));
      case 1: {
        const v = this.byte() | (this.byte() << 8);
        return enc.encode(String((v << 16) >> 16));
      }
      case 2: {
        const v = this.byte() | (this.byte() << 8) | (this.byte() << 16) | (this.byte() << 24);
        return enc.encode(String(v | 0));
      }
      case 3: {
        const clen = this.len();
        const ulen = this.len();
        if (typeof clen !== "number" || typeof ulen !== "number") bad("LZF lengths");
        return lzfDecompress(this.take(clen), ulen);
      }
      default:
        return bad("string encoding");
    }
  }

  doubleLE(): number {
    const b = this.take(8);
    return new DataView(b.buffer, b.byteOffset, 8).getFloat64(0, true);
  }

  /** The old ZSET type's score: a length byte, then ASCII (253 NaN, 254 +inf, 255 −inf). */
  asciiDouble(): number {
    const n = this.byte();
    if (n === 253) return NaN;
    if (n === 254) return Infinity;
    if (n === 255) return -Infinity;
    return Number(new TextDecoder().decode(this.take(n)));
  }
}

/** LZF (liblzf) decompression of `input` into exactly `length` bytes. */
export function lzfDecompress(input: Uint8Array, length: number): Uint8Array {
  // The stated length is allocated before a byte is read: no larger than a value can be.
  if (length > VALUE_SIZE_BYTES_MAX) bad(`LZF length ${length} over the value limit`);
  const out = new Uint8Array(length);
  let ip = 0;
  let op = 0;
  while (ip < input.length) {
    const ctrl = input[ip++]!;
    if (ctrl < 32) {
      const n = ctrl + 1;
      if (op + n > length || ip + n > input.length) bad("LZF literal past the end");
      out.set(input.subarray(ip, ip + n), op);
      ip += n;
      op += n;
    } else {
      let n = ctrl >> 5;
      if (n === 7) {
        if (ip >= input.length) bad("LZF truncated");
        n += input[ip++]!;
      }
      if (ip >= input.length) bad("LZF truncated");
      const ref = op - ((ctrl & 0x1f) << 8) - 1 - input[ip++]!;
      n += 2;
      if (ref < 0 || op + n > length) bad("LZF reference out of range");
      for (let i = 0; i < n; i++) out[op++] = out[ref + i]!;
    }
  }
  if (op !== length) bad("LZF length");
  return out;
}
