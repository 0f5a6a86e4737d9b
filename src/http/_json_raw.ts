/**
 * JSON strings read straight into UTF-8 bytes, for bodies whose long strings are data (batch
 * values): no JavaScript string is built for them, so a large body neither doubles in memory
 * (string + bytes) nor fills the young generation with survivors that make every scavenge copy
 * megabytes, and no `TextEncoder` pass runs over it later. Escapes are resolved byte by byte,
 * exactly as `JSON.parse` + `TextEncoder` would (a lone surrogate becomes U+FFFD).
 *
 * @module
 */

import { isUtf8 } from "node:buffer";

/** A JSON string value delivered as its UTF-8 bytes (see `JsonLimits.bytesStringsFrom`). */
export class JsonBytes {
  /** The string's UTF-8 bytes (escapes resolved); a fresh buffer of exactly this size. */
  readonly bytes: Uint8Array;

  /** Wraps `bytes`. */
  constructor(bytes: Uint8Array) {
    this.bytes = bytes;
  }
}

/** Thrown by `RawString.scan` for invalid content; the parser adds the position. */
export class RawStringError extends Error {
  /** Index in the chunk where the problem is. */
  readonly at: number;

  /** Creates the error. */
  constructor(message: string, at: number) {
    super(message);
    this.at = at;
  }
}

/** Escape output collected before it becomes a segment of its own. */
const ESCAPED_BYTES = 16 * 1024;
const SIMPLE_ESCAPES: Record<number, number> = {
  0x22: 0x22, // \"
  0x5c: 0x5c, // \\
  0x2f: 0x2f, // \/
  0x62: 0x08, // \b
  0x66: 0x0c, // \f
  0x6e: 0x0a, // \n
  0x72: 0x0d, // \r
  0x74: 0x09, // \t
};

function hexDigit(b: number): number {
  if (b >= 0x30 && b <= 0x39) return b - 0x30;
  if (b >= 0x41 && b <= 0x46) return b - 0x41 + 10;
  if (b >= 0x61 && b <= 0x66) return b - 0x61 + 10;
  return -1;
}

/** The content of one JSON string, collected across chunks as UTF-8 bytes. */
export class RawString {
  /** Raw spans (views into the pushed chunks, which the caller never reuses) and escape output. */
  #segments: Uint8Array[] = [];
  #len = 0;
  #lenMax = Infinity;
  /** Bytes produced by escapes since the last span, flushed as one segment when full. */
  #escaped = new Uint8Array(ESCAPED_BYTES);
  #escapedLen = 0;
  /** 0: no escape; 1: after `\`; 2–5: after `\u` and that many minus 2 hex digits. */
  #esc = 0;
  #unit = 0;
  /** A high surrogate waiting for its low half, or -1. */
  #high = -1;

  /** Starts a new string of at most `lenMax` bytes. */
  reset(lenMax: number): void {
    this.#segments = [];
    this.#escapedLen = 0;
    this.#len = 0;
    this.#lenMax = lenMax;
    this.#esc = 0;
    this.#high = -1;
  }

  /**
   * Consumes `chunk[start…]` up to the closing quote: returns the quote's index, or -1 when the
   * chunk ended first. Throws `RawStringError` for a control character, a bad escape or a
   * string over its length limit.
   */
  scan(chunk: Uint8Array, start: number): number {
    let span = start;
    for (let i = start; i < chunk.length; i++) {
      const b = chunk[i]!;
      if (this.#esc !== 0) {
        this.#escapeByte(b, i);
        span = i + 1;
        continue;
      }
      if (b === 0x22) {
        this.#append(chunk, span, i);
        return i;
      }
      if (b === 0x5c) {
        this.#append(chunk, span, i);
        this.#esc = 1;
        span = i + 1;
      } else if (b < 0x20) {
        throw new RawStringError("control character in a string", i);
      }
    }
    this.#append(chunk, span, chunk.length);
    return -1;
  }

  /** The string's bytes (a fresh exact-size buffer); throws for invalid UTF-8. */
  finish(at: number): Uint8Array {
    if (this.#esc !== 0) throw new RawStringError("unfinished escape in a string", at);
    this.#flushHigh();
    this.#flushEscaped();
    const out = new Uint8Array(this.#len);
    let offset = 0;
    for (const segment of this.#segments) {
      out.set(segment, offset);
      offset += segment.length;
    }
    this.#segments = [];
    // Escapes only ever add valid UTF-8; the raw spans are checked here in one native pass.
    if (!isUtf8(out)) throw new RawStringError("string is not valid UTF-8", at);
    return out;
  }

  #grow(bytes: number, at: number): void {
    this.#len += bytes;
    if (this.#len > this.#lenMax) {
      throw new RawStringError(`string too long (limit ${this.#lenMax} bytes)`, at);
    }
  }

  #append(chunk: Uint8Array, from: number, to: number): void {
    if (to <= from) return;
    this.#flushHigh();
    this.#flushEscaped();
    this.#grow(to - from, to);
    this.#segments.push(chunk.subarray(from, to));
  }

  #flushEscaped(): void {
    if (this.#escapedLen === 0) return;
    this.#segments.push(this.#escaped.slice(0, this.#escapedLen));
    this.#escapedLen = 0;
  }

  #byte(b: number, at: number): void {
    this.#grow(1, at);
    if (this.#escapedLen === this.#escaped.length) this.#flushEscaped();
    this.#escaped[this.#escapedLen++] = b;
  }

  #escapeByte(b: number, i: number): void {
    if (this.#esc === 1) {
      if (b === 0x75) {
        this.#esc = 2;
        this.#unit = 0;
        return;
      }
      const simple = SIMPLE_ESCAPES[b];
      if (simple === undefined) throw new RawStringError("invalid escape in a string", i);
      this.#esc = 0;
      this.#flushHigh();
      this.#byte(simple, i);
      return;
    }
    const d = hexDigit(b);
    if (d < 0) throw new RawStringError("invalid escape in a string", i);
    this.#unit = this.#unit * 16 + d;
    if (++this.#esc < 6) return;
    this.#esc = 0;
    this.#codeUnit(this.#unit, i);
  }

  /** One UTF-16 code unit from `\uXXXX`: pairs surrogates, encodes the rest as UTF-8. */
  #codeUnit(u: number, at: number): void {
    if (u >= 0xdc00 && u <= 0xdfff && this.#high >= 0) {
      const cp = 0x10000 + ((this.#high - 0xd800) << 10) + (u - 0xdc00);
      this.#high = -1;
      this.#byte(0xf0 | (cp >> 18), at);
      this.#byte(0x80 | ((cp >> 12) & 0x3f), at);
      this.#byte(0x80 | ((cp >> 6) & 0x3f), at);
      this.#byte(0x80 | (cp & 0x3f), at);
      return;
    }
    this.#flushHigh();
    if (u >= 0xd800 && u <= 0xdbff) {
      this.#high = u;
      return;
    }
    // A lone low surrogate becomes U+FFFD, as TextEncoder does.
    this.#codePoint(u >= 0xdc00 && u <= 0xdfff ? 0xfffd : u, at);
  }

  #flushHigh(): void {
    if (this.#high < 0) return;
    this.#high = -1;
    this.#codePoint(0xfffd, 0);
  }

  #codePoint(cp: number, at: number): void {
    if (cp < 0x80) this.#byte(cp, at);
    else if (cp < 0x800) {
      this.#byte(0xc0 | (cp >> 6), at);
      this.#byte(0x80 | (cp & 0x3f), at);
    } else {
      this.#byte(0xe0 | (cp >> 12), at);
      this.#byte(0x80 | ((cp >> 6) & 0x3f), at);
      this.#byte(0x80 | (cp & 0x3f), at);
    }
  }
}
