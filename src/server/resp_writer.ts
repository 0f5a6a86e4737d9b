/**
 * The reply encoder (RESP2 and RESP3) with a bounded, zero-copy output buffer.
 * ARCHITECTURE.md § "Replies: RESP2 and RESP3" lists the shapes; § "Output buffers and
 * streaming" the buffering rules.
 *
 * Small replies are encoded back to back into one growable buffer; a bulk value of at least
 * `RESP_OUTPUT_REF_BYTES_MIN` is not copied: the writer keeps a reference to the caller's bytes
 * (an engine value, which is never mutated) as a chunk of its own, so a reply of many large values
 * costs references, not copies, and is written to the socket straight from those bytes.
 *
 * Invariants:
 * - `length` = bytes in `#chunks` + bytes of `#buf` in `[#sealed, #len)`; it never passes
 *   `limitBytes`: the append that would is refused with `OutputLimitError` before it happens.
 * - Bytes of `#buf` before `#sealed` belong to chunks handed out or held in `#chunks` and are not
 *   written again until `take()`.
 *
 * @module
 */

import { assert } from "../util/assert.ts";
import {
  RESP_OUTPUT_BUFFER_BYTES_INITIAL,
  RESP_OUTPUT_BUFFER_POOL_MAX,
  RESP_OUTPUT_REF_BYTES_MIN,
} from "../limits.ts";

const encoder = new TextEncoder();

function ascii(s: string): Uint8Array {
  return encoder.encode(s);
}

const OK = ascii("+OK\r\n");
const CRLF = ascii("\r\n");
const NULL3 = ascii("_\r\n");
const NULL_BULK2 = ascii("$-1\r\n");
const NULL_ARRAY2 = ascii("*-1\r\n");
const EMPTY = new Uint8Array(0);

/** A buffer kept between batches only up to this size; larger ones are dropped after `take()`. */
const KEEP_BUFFER_BYTES_MAX = 16 * 1024;

/**
 * Reply buffers given back by idle connections (`release()`), taken by the next connection that
 * encodes a reply: a request/reply client would otherwise allocate (and the GC free) a fresh
 * buffer for every command. At most `RESP_OUTPUT_BUFFER_POOL_MAX`, each at most
 * `KEEP_BUFFER_BYTES_MAX`.
 */
const pool: Uint8Array[] = [];
/**
 * The view `takeOne()` handed out last of each pooled buffer (`pool[i]`'s at `poolViews[i]`):
 * a request/reply client gets a different buffer from the pool almost every time (50 clients
 * give theirs back and take one again in different orders), and a reply of the same length
 * can then be written through the view that buffer already had instead of a new one.
 */
const poolViews: Uint8Array[] = [];

/** RESP protocol version of a connection: 2 (default) or 3 (after `HELLO 3`). */
export type RespVersion = 2 | 3;

/** A reply would make a client's pending output pass its hard limit; the client is closed. */
export class OutputLimitError extends Error {
  /** Creates the error for `pendingBytes` against `limitBytes`. */
  constructor(readonly pendingBytes: number, readonly limitBytes: number) {
    super(
      `Client output buffer limit reached: ${pendingBytes} bytes pending, hard limit ${limitBytes}`,
    );
    this.name = "OutputLimitError";
  }
}

/**
 * Encodes replies for one connection. Container headers take their element count; the caller
 * writes that many elements after. `take()` hands the encoded chunks to the socket writer.
 */
export class RespWriter {
  #buf: Uint8Array = EMPTY;
  #len = 0;
  #sealed = 0;
  #chunks: Uint8Array[] = [];
  #chunkBytes = 0;
  /** Protocol version replies are encoded for. */
  protocol: RespVersion = 2;
  /** Most bytes this writer may hold (the client's hard output limit). */
  limitBytes = Infinity;

  /** Bytes encoded and not yet taken. */
  get length(): number {
    return this.#chunkBytes + this.#len - this.#sealed;
  }

  /** Bytes of memory this writer holds for encoding (its own buffer, not referenced values). */
  get bufferBytes(): number {
    return this.#buf.length;
  }

  #checkLimit(n: number): void {
    const after = this.length + n;
    if (after > this.limitBytes) throw new OutputLimitError(after, this.limitBytes);
  }

  #reserve(n: number): void {
    if (this.#chunkBytes + this.#len - this.#sealed + n > this.limitBytes) this.#checkLimit(n);
    if (this.#len + n <= this.#buf.length) return;
    // Only the unsealed tail moves: sealed chunks keep viewing the old buffer.
    const live = this.#len - this.#sealed;
    const size = Math.max(RESP_OUTPUT_BUFFER_BYTES_INITIAL, this.#buf.length * 2, live + n);
    let grown: Uint8Array;
    if (this.#buf.length === 0 && pool.length > 0 && pool[pool.length - 1]!.length >= size) {
      grown = pool.pop()!;
      this.#view = poolViews.pop()!;
      this.#viewBuf = grown;
    } else grown = new Uint8Array(size);
    if (live > 0) grown.set(this.#buf.subarray(this.#sealed, this.#len));
    this.#buf = grown;
    this.#len = live;
    this.#sealed = 0;
  }

  /** Appends raw bytes (pre-encoded replies), copying them. */
  raw(bytes: Uint8Array): void {
    this.#reserve(bytes.length);
    this.#buf.set(bytes, this.#len);
    this.#len += bytes.length;
  }

  /** Appends `bytes` by reference: they must not change until written. */
  #ref(bytes: Uint8Array): void {
    this.#checkLimit(bytes.length);
    if (this.#len > this.#sealed) {
      this.#chunks.push(this.#buf.subarray(this.#sealed, this.#len));
      this.#chunkBytes += this.#len - this.#sealed;
      this.#sealed = this.#len;
    }
    this.#chunks.push(bytes);
    this.#chunkBytes += bytes.length;
  }

  #text(s: string): void {
    const n = s.length;
    this.#reserve(n * 3);
    const buf = this.#buf;
    let len = this.#len;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c >= 128) {
        this.#len = textRest(s, i, buf, len);
        return;
      }
      buf[len++] = c;
    }
    this.#len = len;
  }

  #line(prefix: string, s: string): void {
    this.#text(prefix);
    this.#text(s);
    this.raw(CRLF);
  }

  /** `+OK`. */
  ok(): void {
    this.raw(OK);
  }

  /** A simple string; `\r` and `\n` become spaces. */
  simple(s: string): void {
    this.#line("+", s.replace(/[\r\n]/g, " "));
  }

  /** An error; `message` starts with its code (`ERR ...`, `NOAUTH ...`). */
  error(message: string): void {
    this.#line("-", message.replace(/[\r\n]/g, " "));
  }

  /** An integer. */
  integer(n: number | bigint): void {
    // Digits straight into the buffer: no string per reply (TS.MADD answers 500 at a time).
    if (typeof n === "number" && isCount(n)) this.#count(58, n); // ':'
    else this.#line(":", String(n));
  }

  /**
   * `<prefix>n\r\n` for `n` a non-negative safe integer (a count, a length, an integer reply),
   * its digits written straight into the buffer: no string made per header.
   */
  #count(prefix: number, n: number): void {
    let digits = 1;
    for (let p = 10; p <= n; p *= 10) digits++;
    this.#reserve(digits + 3);
    const buf = this.#buf;
    let len = this.#len;
    buf[len++] = prefix;
    let v = n;
    for (let i = len + digits - 1; i >= len; i--) {
      const q = Math.floor(v / 10);
      buf[i] = 48 + (v - q * 10);
      v = q;
    }
    len += digits;
    buf[len++] = 13;
    buf[len++] = 10;
    this.#len = len;
  }

  /**
   * A bulk string of bytes or UTF-8 text. Bytes of at least `RESP_OUTPUT_REF_BYTES_MIN` are
   * referenced, not copied: the caller must not change them afterwards.
   */
  bulk(value: Uint8Array | string): void {
    if (typeof value === "string") value = encoder.encode(value);
    // Refused before anything of it is encoded, so a reply never ends half written.
    this.#checkLimit(value.length + 16);
    this.#count(36, value.length); // '$'
    if (value.length >= RESP_OUTPUT_REF_BYTES_MIN) this.#ref(value);
    else this.raw(value);
    this.raw(CRLF);
  }

  /** The null bulk string (`$-1`, RESP3 `_`). */
  null(): void {
    this.raw(this.protocol === 3 ? NULL3 : NULL_BULK2);
  }

  /** The null array (`*-1`, RESP3 `_`). */
  nullArray(): void {
    this.raw(this.protocol === 3 ? NULL3 : NULL_ARRAY2);
  }

  /** An array header of `n` elements. */
  array(n: number): void {
    if (isCount(n)) this.#count(42, n); // '*'
    else this.#line("*", String(n));
  }

  /** A map header of `n` key/value pairs (RESP2: an array of 2n elements). */
  map(n: number): void {
    if (!isCount(n)) {
      this.#line(this.protocol === 3 ? "%" : "*", String(this.protocol === 3 ? n : 2 * n));
    } else if (this.protocol === 3) this.#count(37, n); // '%'
    else this.#count(42, 2 * n);
  }

  /** A set header of `n` elements (RESP2: an array). */
  set(n: number): void {
    if (isCount(n)) this.#count(this.protocol === 3 ? 126 : 42, n); // '~' or '*'
    else this.#line(this.protocol === 3 ? "~" : "*", String(n));
  }

  /** A double (RESP2: a bulk string). */
  double(x: number): void {
    const s = Number.isNaN(x)
      ? "nan"
      : x === Infinity
      ? "inf"
      : x === -Infinity
      ? "-inf"
      : String(x);
    if (this.protocol === 3) this.#line(",", s);
    else this.bulk(s);
  }

  /** A boolean (RESP2: integer 1 or 0). */
  boolean(b: boolean): void {
    if (this.protocol === 3) this.#line("#", b ? "t" : "f");
    else this.integer(b ? 1 : 0);
  }

  /** A verbatim text string (RESP3 `=len\r\ntxt:...`; RESP2: a bulk string). */
  verbatim(text: string): void {
    if (this.protocol !== 3) return this.bulk(text);
    const body = encoder.encode("txt:" + text);
    this.#checkLimit(body.length + 16);
    this.#line("=", String(body.length));
    this.raw(body);
    this.raw(CRLF);
  }

  /**
   * Appends replies encoded elsewhere (`encodeBulks`): copied, or referenced when at least
   * `RESP_OUTPUT_REF_BYTES_MIN` long, so the caller must not change them afterwards.
   */
  encoded(bytes: Uint8Array): void {
    if (bytes.length >= RESP_OUTPUT_REF_BYTES_MIN) this.#ref(bytes);
    else this.raw(bytes);
  }

  /** Drops everything after the first `length` bytes (a failed reply is replaced). */
  truncate(length: number): void {
    assert(length >= 0 && length <= this.length, "truncate within the buffer");
    if (length >= this.#chunkBytes) {
      this.#len = this.#sealed + (length - this.#chunkBytes);
      return;
    }
    // The cut falls inside the chunks: the unsealed tail goes, and chunks past the cut.
    this.#len = this.#sealed;
    while (this.#chunkBytes > length) {
      const last = this.#chunks.pop()!;
      this.#chunkBytes -= last.length;
      if (this.#chunkBytes < length) {
        this.#chunks.push(last.subarray(0, length - this.#chunkBytes));
        this.#chunkBytes = length;
      }
    }
  }

  /**
   * The encoded chunks, in order, and resets the writer. The chunks stay valid until the next
   * reply is encoded: write them out first.
   */
  take(): Uint8Array[] {
    const chunks = this.#chunks;
    if (this.#len > this.#sealed) chunks.push(this.#buf.subarray(this.#sealed, this.#len));
    this.#chunks = [];
    this.#chunkBytes = 0;
    this.#len = 0;
    this.#sealed = 0;
    // A connection that once sent a big reply does not keep a big buffer while it idles.
    if (this.#buf.length > KEEP_BUFFER_BYTES_MAX) this.#buf = EMPTY;
    return chunks;
  }

  /** The view `takeOne()` handed out last, and of which buffer. */
  #view: Uint8Array = EMPTY;
  #viewBuf: Uint8Array = EMPTY;

  /**
   * `take()` of output that is one run of the encoding buffer (no bytes by reference, nothing
   * sealed: a reply or a few): that run as one view, or `undefined` (nothing taken) otherwise.
   * The view is reused while the buffer and length are the same (a request/reply client gets
   * the same reply again and again), so it stays valid only until the next reply is encoded:
   * write it out first.
   */
  takeOne(): Uint8Array | undefined {
    if (this.#chunks.length > 0 || this.#sealed !== 0 || this.#len === 0) return undefined;
    const buf = this.#buf;
    const len = this.#len;
    let view = this.#view;
    if (this.#viewBuf !== buf || view.length !== len) {
      view = this.#view = buf.subarray(0, len);
      this.#viewBuf = buf;
    }
    this.#len = 0;
    if (buf.length > KEEP_BUFFER_BYTES_MAX) {
      // As `take()`: a big buffer is not kept, nor a view of it.
      this.#buf = this.#view = this.#viewBuf = EMPTY;
    }
    return view;
  }

  /**
   * Drops the encoding buffer when nothing is pending (an idle connection holds none), into the
   * shared pool when it has room. REQUIRES: every chunk `take()` handed out has been written.
   */
  release(): void {
    if (this.length === 0) {
      const buf = this.#buf;
      if (
        buf.length > 0 && buf.length <= KEEP_BUFFER_BYTES_MAX &&
        pool.length < RESP_OUTPUT_BUFFER_POOL_MAX
      ) {
        pool.push(buf);
        poolViews.push(this.#viewBuf === buf ? this.#view : EMPTY);
      }
      this.#buf = this.#view = this.#viewBuf = EMPTY;
      this.#len = this.#sealed = 0;
    }
  }

  /** Everything encoded as one array (tests, small replies), and resets the writer. */
  takeBytes(): Uint8Array {
    return concatChunks(this.take());
  }
}

/** True for a non-negative safe integer (`#count` writes it). */
function isCount(n: number): boolean {
  return n >= 0 && n <= Number.MAX_SAFE_INTEGER && Number.isInteger(n);
}

/** Decimal digits of a non-negative integer below 2^53. */
function digitCount(n: number): number {
  let d = 1;
  while (n >= 10) {
    n = Math.floor(n / 10);
    d++;
  }
  return d;
}

/**
 * `values` as RESP bulk strings back to back (the elements of an array reply, same bytes in
 * RESP2 and RESP3), in one new buffer, with the offset where each starts and, last, the end:
 * `offsets` has `values.length + 1` entries.
 */
export function encodeBulks(
  values: readonly Uint8Array[],
): { bytes: Uint8Array; offsets: Uint32Array } {
  let total = 0;
  for (let i = 0; i < values.length; i++) {
    const n = values[i]!.length;
    total += n + digitCount(n) + 5;
  }
  const bytes = new Uint8Array(total);
  const offsets = new Uint32Array(values.length + 1);
  let at = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    const n = v.length;
    offsets[i] = at;
    bytes[at] = 36; // "$"
    const d = digitCount(n);
    for (let k = d, rest = n; k > 0; k--) {
      bytes[at + k] = 48 + (rest % 10);
      rest = Math.floor(rest / 10);
    }
    at += d + 1;
    bytes[at++] = 13;
    bytes[at++] = 10;
    // Short values (the common case) are copied by hand: cheaper than a `set` call.
    if (n <= 16) { for (let k = 0; k < n; k++) bytes[at + k] = v[k]!; }
    else bytes.set(v, at);
    at += n;
    bytes[at++] = 13;
    bytes[at++] = 10;
  }
  offsets[values.length] = at;
  return { bytes, offsets };
}

/** The chunks joined into one array. */
export function concatChunks(chunks: readonly Uint8Array[]): Uint8Array {
  if (chunks.length === 1) return chunks[0]!.slice();
  let total = 0;
  for (const c of chunks) total += c.length;
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/**
 * Writes `s` from `i` on into `buf` at `len` (room for 3 bytes a character is reserved); returns
 * the new length. UTF-8, except that a lone surrogate U+DC80-U+DCFF is the byte 0x80-0xFF it
 * stands for (`echoArg` in context.ts): an argument echoed in an error comes back as sent.
 */
function textRest(s: string, i: number, buf: Uint8Array, len: number): number {
  let from = i;
  for (let j = i; j < s.length; j++) {
    const c = s.charCodeAt(j);
    if (c >= 0xd800 && c <= 0xdbff) {
      j++; // A pair's high half: its low half is not an escaped byte.
      continue;
    }
    if (c < 0xdc80 || c > 0xdcff) continue;
    len += encoder.encodeInto(s.slice(from, j), buf.subarray(len)).written;
    buf[len++] = c - 0xdc00;
    from = j + 1;
  }
  return len + encoder.encodeInto(s.slice(from), buf.subarray(len)).written;
}
