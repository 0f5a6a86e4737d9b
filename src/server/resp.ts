/**
 * RESP framing: an incremental request parser (the reply encoder is `resp_writer.ts`).
 * ARCHITECTURE.md § "Framing (requests)" documents the accepted frames.
 *
 * Requests are either multibulk (`*N\r\n` then N times `$len\r\n<len bytes>\r\n`) or inline
 * (one line of space-separated words with Redis's `sdssplitargs` quoting rules). The parser
 * reads straight into its own growable buffer (`writable()` then `commit(n)`), keeps the state
 * of a half-received command between reads, and hands out one command at a time.
 *
 * Invariants:
 * - `#start <= #pos <= #end <= #buf.length`; bytes before `#start` are consumed.
 * - Argument bytes handed out are copies: the buffer is reused after `next()` returns.
 * - Every limit violation throws `ProtocolError` with Redis's message; the caller answers
 *   `-ERR <message>` and closes the connection.
 *
 * @module
 */

import { copyBytes } from "../util/bytes.ts";
import { looksLikeHttp, splitInlineArgs } from "./_resp_inline.ts";
import { PackedArgs, PackedBuilder } from "./resp_packed.ts";
import { ProtocolError } from "../errors.ts";
import { assert } from "../util/assert.ts";
import {
  RESP_ARG_OVERHEAD_BYTES,
  RESP_ARGS_MAX,
  RESP_BULK_SIZE_BYTES_MAX,
  RESP_HEADER_LINE_BYTES_MAX,
  RESP_INLINE_LINE_BYTES_MAX,
  RESP_QUERY_BUFFER_BYTES_MAX,
  RESP_READ_CHUNK_BYTES,
  RESP_READ_CHUNK_BYTES_MIN,
  RESP_UNAUTHENTICATED_ARGS_MAX,
  RESP_UNAUTHENTICATED_BULK_SIZE_BYTES_MAX,
} from "../limits.ts";

const CR = 13;
const LF = 10;
const STAR = 42;
const DOLLAR = 36;

/** An HTTP request arrived on the RESP port; the connection is closed without a reply. */
export class HttpOnRespPortError extends ProtocolError {}

/** One parsed command: the name and its arguments as raw bytes. */
export type RespCommand = Uint8Array[];

/** Limits of one parser; every field defaults to the value in `limits.ts`. */
export interface RespParserLimits {
  /** Largest bulk string. */
  bulkSizeBytesMax?: number;
  /** Most arguments (name included) per command. */
  argsMax?: number;
  /** Longest inline line. */
  inlineLineBytesMax?: number;
  /** Most bytes buffered for one command not yet complete. */
  queryBufferBytesMax?: number;
}

/** Parses a strict decimal integer like Redis's `string2ll`; `undefined` when it is not one. */
export function parseInteger(bytes: Uint8Array, from = 0, to = bytes.length): number | undefined {
  const n = to - from;
  if (n <= 0 || n > 20) return undefined;
  let i = from;
  let negative = false;
  if (bytes[i] === 45 /* - */) {
    negative = true;
    i++;
    if (i === to) return undefined;
  }
  // No leading zeros except "0" itself, as string2ll.
  if (bytes[i] === 48 && to - i > 1) return undefined;
  if (negative && bytes[i] === 48) return undefined;
  let value = 0;
  for (; i < to; i++) {
    const d = bytes[i]! - 48;
    if (d < 0 || d > 9) return undefined;
    value = value * 10 + d;
  }
  if (value > Number.MAX_SAFE_INTEGER) return undefined;
  return negative ? -value : value;
}

/** Scans this many bytes in a plain loop before `indexOf` takes over for long lines. */
const SHORT_SCAN_BYTES = 32;

function indexOfByte(buf: Uint8Array, byte: number, from: number, to: number): number {
  // Header lines (`*3`, `$5`) are a few bytes: a loop avoids allocating a subarray per line.
  const shortEnd = Math.min(to, from + SHORT_SCAN_BYTES);
  for (let i = from; i < shortEnd; i++) if (buf[i] === byte) return i;
  if (shortEnd === to) return -1;
  const i = buf.subarray(shortEnd, to).indexOf(byte);
  return i < 0 ? -1 : shortEnd + i;
}

/** `TS.MADD` in any case: the command `take()` hands out packed (`resp_packed.ts`). */
function isTsMadd(name: Uint8Array): boolean {
  return name.length === 7 && (name[0]! | 0x20) === 0x74 && (name[1]! | 0x20) === 0x73 &&
    name[2] === 0x2e && (name[3]! | 0x20) === 0x6d && (name[4]! | 0x20) === 0x61 &&
    (name[5]! | 0x20) === 0x64 && (name[6]! | 0x20) === 0x64;
}

/** An incremental RESP request parser with limits. */
export class RespParser {
  #buf: Uint8Array = new Uint8Array(0);
  #start = 0;
  #end = 0;
  /** Bytes the next read may bring: grows while reads fill it, back to the minimum when quiet. */
  #chunk = RESP_READ_CHUNK_BYTES_MIN;
  /** Length of the region the last `writable()` returned. */
  #offered = 0;
  /** Complete commands handed out by `next()` since the parser was created. */
  #commandsParsed = 0;
  /** Arguments of the multibulk command being received, if any. */
  #args: Uint8Array[] | undefined;
  #argsLeft = 0;
  /** Length of the bulk being received, or -1 while its `$` header is pending. */
  #bulkLength = -1;
  /** Bytes of the current command held in `#args`. */
  #commandBytes = 0;
  readonly #bulkSizeBytesMax: number;
  readonly #argsMax: number;
  readonly #inlineLineBytesMax: number;
  readonly #queryBufferBytesMax: number;
  /** Arguments of a command being received packed. */
  #pack: PackedBuilder | undefined;
  /** When true, the tight limits for unauthenticated clients apply. */
  restricted = false;
  /** When true, `take()` hands out TS.MADD as `PackedArgs` (the connection's parser). */
  packTsMadd = false;

  /** Creates a parser; `limits` override the defaults of `limits.ts`. */
  constructor(limits: RespParserLimits = {}) {
    this.#bulkSizeBytesMax = limits.bulkSizeBytesMax ?? RESP_BULK_SIZE_BYTES_MAX;
    this.#argsMax = limits.argsMax ?? RESP_ARGS_MAX;
    this.#inlineLineBytesMax = limits.inlineLineBytesMax ?? RESP_INLINE_LINE_BYTES_MAX;
    this.#queryBufferBytesMax = limits.queryBufferBytesMax ?? RESP_QUERY_BUFFER_BYTES_MAX;
  }

  /** Bytes received and not yet consumed. */
  get bufferedBytes(): number {
    return this.#end - this.#start + this.#commandBytes;
  }

  /** Complete commands handed out so far (a request deadline restarts when this moves). */
  get commandsParsed(): number {
    return this.#commandsParsed;
  }

  /** Bytes of memory the parser's buffer holds. */
  get bufferBytes(): number {
    return this.#buf.length;
  }

  /**
   * Gives memory back between commands: with nothing buffered, a buffer grown for a large bulk
   * or a burst shrinks to the smallest read size again, so an idle connection holds
   * `RESP_READ_CHUNK_BYTES_MIN`.
   */
  release(): void {
    if (this.#start !== this.#end || this.#args !== undefined) return;
    this.#start = this.#end = 0;
    const grownForBulk = this.#buf.length > RESP_READ_CHUNK_BYTES;
    if (
      grownForBulk || (this.#chunk === RESP_READ_CHUNK_BYTES_MIN && this.#buf.length > this.#chunk)
    ) {
      this.#buf = new Uint8Array(0);
      this.#region = this.#regionBuf = undefined;
    }
  }

  /** A region to read socket bytes into; follow with `commit(n)`. */
  writable(): Uint8Array {
    let need = this.#chunk;
    if (this.#bulkLength >= 0) {
      // Make room for the whole bulk at once instead of growing chunk by chunk.
      need = Math.max(need, this.#bulkLength + 2 - (this.#end - this.#start));
    }
    if (this.#buf.length - this.#end < need) {
      const live = this.#end - this.#start;
      if (this.#start > 0 && this.#buf.length - live >= need) {
        this.#buf.copyWithin(0, this.#start, this.#end);
      } else {
        const grown = new Uint8Array(Math.max(this.#buf.length * 2, live + need));
        grown.set(this.#buf.subarray(this.#start, this.#end));
        this.#buf = grown;
      }
      this.#start = 0;
      this.#end = live;
    }
    // A request/reply client reads into the same region every time: reuse its view.
    let region = this.#region;
    if (region === undefined || this.#regionBuf !== this.#buf || this.#regionEnd !== this.#end) {
      region = this.#buf.subarray(this.#end);
      this.#region = region;
      this.#regionBuf = this.#buf;
      this.#regionEnd = this.#end;
    }
    this.#offered = region.length;
    return region;
  }

  /** The command name of the last command parsed (a client mostly sends the same again). */
  #lastName: Uint8Array | undefined;

  /**
   * The command name of `length` bytes at `#start`: the last one's array again when the bytes
   * are the same (argument arrays are never changed once parsed), else a copy.
   */
  #commandName(length: number): Uint8Array {
    const last = this.#lastName;
    const buf = this.#buf;
    const at = this.#start;
    if (last !== undefined && last.length === length) {
      let i = 0;
      while (i < length && last[i] === buf[at + i]) i++;
      if (i === length) return last;
    }
    const name = copyBytes(buf, at, at + length);
    // Only short names are kept: a long first argument is no command anyway.
    if (length <= 32) this.#lastName = name;
    return name;
  }

  /** The last region `writable()` handed out, of which buffer, from which offset. */
  #region: Uint8Array | undefined;
  #regionBuf: Uint8Array | undefined;
  #regionEnd = -1;

  /** Marks `n` bytes of the last `writable()` region as received. */
  commit(n: number): void {
    assert(n >= 0 && this.#end + n <= this.#buf.length, "commit within the writable region");
    this.#end += n;
    // A read that filled its region means more is waiting: read more at once next time. A small
    // read means the client is quiet: fall back, so `release()` can shrink the buffer.
    if (n >= this.#offered) this.#chunk = Math.min(this.#chunk * 2, RESP_READ_CHUNK_BYTES);
    else if (n < RESP_READ_CHUNK_BYTES_MIN) this.#chunk = RESP_READ_CHUNK_BYTES_MIN;
  }

  /** Appends bytes (tests and callers that do not read into `writable()`). */
  push(bytes: Uint8Array): void {
    let off = 0;
    while (off < bytes.length) {
      const w = this.writable();
      const n = Math.min(w.length, bytes.length - off);
      w.set(bytes.subarray(off, off + n));
      this.commit(n);
      off += n;
    }
  }

  /**
   * The next complete command, or `undefined` when more bytes are needed. Empty commands
   * (`*0`, `*-1`, blank inline lines) are skipped. Throws `ProtocolError` on bad framing.
   */
  next(): RespCommand | undefined {
    const command = this.take();
    return command instanceof PackedArgs ? command.toArgs() : command;
  }

  /** As `next()`, but TS.MADD comes packed when `packTsMadd` is set. */
  take(): RespCommand | PackedArgs | undefined {
    const command = this.#next();
    if (command !== undefined) this.#commandsParsed++;
    return command;
  }

  #next(): RespCommand | PackedArgs | undefined {
    while (true) {
      if (this.#start === this.#end && this.#args === undefined) {
        this.#start = this.#end = 0;
        return undefined;
      }
      if (this.#args !== undefined) return this.#continueMultibulk();
      if (this.#buf[this.#start] === STAR) {
        const r = this.#startMultibulk();
        if (r === "skip") continue;
        if (r === undefined) return undefined;
        return this.#continueMultibulk();
      }
      const inline = this.#inline();
      if (inline === "skip") continue;
      return inline;
    }
  }

  #checkQueryBuffer(): void {
    if (this.bufferedBytes > this.#queryBufferBytesMax) {
      throw new ProtocolError("Protocol error: query buffer limit exceeded");
    }
  }

  /** Finds `\r` of a header line; throws when the line is too long. */
  #headerEnd(tooBig: string): number {
    const cr = indexOfByte(this.#buf, CR, this.#start, this.#end);
    if (cr < 0) {
      if (this.#end - this.#start > RESP_HEADER_LINE_BYTES_MAX) {
        throw new ProtocolError(`Protocol error: too big ${tooBig} count string`);
      }
      return -1;
    }
    // The header needs its `\n` too.
    if (cr + 1 >= this.#end) return -1;
    return cr;
  }

  #startMultibulk(): "skip" | true | undefined {
    const cr = this.#headerEnd("mbulk");
    if (cr < 0) return undefined;
    const count = parseInteger(this.#buf, this.#start + 1, cr);
    // Redis skips every count <= 0 (`*-5` too) as an empty command.
    if (count === undefined || count > this.#argsMax) {
      throw new ProtocolError("Protocol error: invalid multibulk length");
    }
    if (this.restricted && count > RESP_UNAUTHENTICATED_ARGS_MAX) {
      throw new ProtocolError("Protocol error: unauthenticated multibulk length");
    }
    this.#start = cr + 2;
    if (count <= 0) return "skip";
    this.#args = [];
    this.#argsLeft = count;
    this.#bulkLength = -1;
    this.#commandBytes = 0;
    return true;
  }

  #continueMultibulk(): RespCommand | PackedArgs | undefined {
    const args = this.#args;
    assert(args !== undefined, "multibulk in progress");
    while (this.#argsLeft > 0) {
      if (this.#bulkLength < 0) {
        if (this.#pack !== undefined) this.#packRun(this.#pack);
        else this.#argRun(args);
        if (this.#argsLeft === 0) break;
      }
      if (this.#bulkLength < 0) {
        if (this.#start === this.#end) return undefined;
        const c = this.#buf[this.#start]!;
        if (c !== DOLLAR) {
          // The byte as sent (RespWriter writes U+DC80-U+DCFF back as 0x80-0xFF).
          const shown = c === CR || c === LF ? " " : String.fromCharCode(c < 0x80 ? c : 0xdc00 + c);
          throw new ProtocolError(`Protocol error: expected '$', got '${shown}'`);
        }
        const cr = this.#headerEnd("bulk");
        if (cr < 0) {
          this.#checkQueryBuffer();
          return undefined;
        }
        const length = parseInteger(this.#buf, this.#start + 1, cr);
        if (length === undefined || length < 0 || length > this.#bulkSizeBytesMax) {
          throw new ProtocolError("Protocol error: invalid bulk length");
        }
        if (this.restricted && length > RESP_UNAUTHENTICATED_BULK_SIZE_BYTES_MAX) {
          throw new ProtocolError("Protocol error: unauthenticated bulk length");
        }
        this.#start = cr + 2;
        this.#bulkLength = length;
        this.#checkQueryBuffer();
      }
      const length = this.#bulkLength;
      if (this.#end - this.#start < length + 2) {
        if (this.#commandBytes + length + RESP_ARG_OVERHEAD_BYTES > this.#queryBufferBytesMax) {
          throw new ProtocolError("Protocol error: query buffer limit exceeded");
        }
        return undefined;
      }
      // Like Redis, the two bytes after the data are taken as the CRLF without checking.
      if (this.#pack !== undefined) this.#pack.add(this.#buf, this.#start, length);
      else {
        args.push(
          args.length === 0
            ? this.#commandName(length)
            : copyBytes(this.#buf, this.#start, this.#start + length),
        );
        if (args.length === 1 && this.packTsMadd && this.#argsLeft > 1 && isTsMadd(args[0]!)) {
          this.#pack = new PackedBuilder(
            args[0]!,
            this.#argsLeft - 1,
            this.#end - this.#start - length - 2,
          );
        }
      }
      this.#commandBytes += length + RESP_ARG_OVERHEAD_BYTES;
      this.#start += length + 2;
      this.#bulkLength = -1;
      this.#argsLeft--;
      this.#checkQueryBuffer();
    }
    this.#args = undefined;
    this.#commandBytes = 0;
    if (this.#start === this.#end) this.#start = this.#end = 0;
    const pack = this.#pack;
    if (pack !== undefined) {
      this.#pack = undefined;
      return pack.finish();
    }
    return args;
  }

  /**
   * Takes the complete `$len\r\n<bytes>\r\n` arguments already buffered into `args` in one
   * tight loop (a whole command, as a client mostly sends one): the same copies the general
   * steps of `#continueMultibulk` make, without their per-step state and checks. It stops at
   * anything else (a partial frame, a header it would refuse, a limit reached, TS.MADD to be
   * packed): the general steps go on from there and answer exactly as for any command.
   */
  #argRun(args: Uint8Array[]): void {
    const buf = this.#buf;
    const end = this.#end;
    const bulkMax = this.restricted
      ? Math.min(this.#bulkSizeBytesMax, RESP_UNAUTHENTICATED_BULK_SIZE_BYTES_MAX)
      : this.#bulkSizeBytesMax;
    const queryMax = this.#queryBufferBytesMax;
    let start = this.#start;
    let left = this.#argsLeft;
    let bytes = this.#commandBytes;
    while (left > 0 && start < end && buf[start] === DOLLAR) {
      let i = start + 1;
      let len = 0;
      const digitsEnd = Math.min(end, start + 17);
      for (; i < digitsEnd; i++) {
        const c = buf[i]!;
        if (c < 48 || c > 57) break;
        len = len * 10 + (c - 48);
      }
      const digits = i - start - 1;
      if (
        digits === 0 || (digits > 1 && buf[start + 1] === 48) || i + 1 >= end || buf[i] !== CR ||
        len > bulkMax
      ) {
        break;
      }
      const data = i + 2;
      const next = data + len + 2;
      const after = bytes + len + RESP_ARG_OVERHEAD_BYTES;
      // The general steps check the query buffer after the header and after the argument:
      // stop where either check would refuse (they then refuse it).
      if (end - data + bytes > queryMax || end - data < len + 2 || end - next + after > queryMax) {
        break;
      }
      if (args.length === 0) {
        this.#start = data;
        const name = this.#commandName(len);
        // TS.MADD is packed: the general steps take its name and set that up.
        if (this.packTsMadd && left > 1 && isTsMadd(name)) break;
        args.push(name);
      } else args.push(copyBytes(buf, data, data + len));
      bytes = after;
      start = next;
      left--;
    }
    this.#start = start;
    this.#argsLeft = left;
    this.#commandBytes = bytes;
  }

  /**
   * Moves the complete `$len\r\n<bytes>\r\n` arguments already buffered into `pack` in one
   * tight loop. It stops at anything else (a partial frame, a header it would refuse, a limit
   * reached): the general steps of `#continueMultibulk` go on from there and answer exactly as
   * for any command.
   */
  #packRun(pack: PackedBuilder): void {
    const buf = this.#buf;
    const end = this.#end;
    const bulkMax = this.restricted
      ? Math.min(this.#bulkSizeBytesMax, RESP_UNAUTHENTICATED_BULK_SIZE_BYTES_MAX)
      : this.#bulkSizeBytesMax;
    const queryMax = this.#queryBufferBytesMax;
    const regionStart = this.#start;
    // The run's frames are copied as they are, in one go, once the run is known.
    const base = pack.used - regionStart;
    let start = regionStart;
    let left = this.#argsLeft;
    let bytes = this.#commandBytes;
    while (left > 0 && start < end && buf[start] === DOLLAR) {
      let i = start + 1;
      let len = 0;
      const digitsEnd = Math.min(end, start + 17);
      for (; i < digitsEnd; i++) {
        const c = buf[i]!;
        if (c < 48 || c > 57) break;
        len = len * 10 + (c - 48);
      }
      const digits = i - start - 1;
      if (
        digits === 0 || (digits > 1 && buf[start + 1] === 48) || i + 1 >= end || buf[i] !== CR ||
        len > bulkMax
      ) {
        break;
      }
      const data = i + 2;
      // The general steps check the query buffer after each header (and after each argument,
      // which holds less): stop where that check would refuse.
      if (end - data + bytes > queryMax || end - data < len + 2) break;
      pack.bound(base + data, base + data + len);
      bytes += len;
      start = data + len + 2;
      left--;
    }
    if (start > regionStart) pack.copy(buf, regionStart, start);
    this.#start = start;
    this.#argsLeft = left;
    this.#commandBytes = bytes;
  }

  #inline(): RespCommand | "skip" | undefined {
    const nl = indexOfByte(this.#buf, LF, this.#start, this.#end);
    if (nl < 0) {
      if (this.#end - this.#start > this.#inlineLineBytesMax) {
        throw new ProtocolError("Protocol error: too big inline request");
      }
      return undefined;
    }
    if (nl - this.#start > this.#inlineLineBytesMax) {
      throw new ProtocolError("Protocol error: too big inline request");
    }
    let lineEnd = nl;
    if (lineEnd > this.#start && this.#buf[lineEnd - 1] === CR) lineEnd--;
    const args = splitInlineArgs(this.#buf.subarray(this.#start, lineEnd));
    this.#start = nl + 1;
    if (args === undefined) {
      throw new ProtocolError("Protocol error: unbalanced quotes in request");
    }
    if (args.length === 0) return "skip";
    if (looksLikeHttp(args)) {
      throw new HttpOnRespPortError("Possible SECURITY ATTACK detected: HTTP request on RESP port");
    }
    if (args.length > this.#argsMax) {
      throw new ProtocolError("Protocol error: invalid multibulk length");
    }
    if (this.restricted && args.length > RESP_UNAUTHENTICATED_ARGS_MAX) {
      throw new ProtocolError("Protocol error: unauthenticated multibulk length");
    }
    return args;
  }
}

export { type RespVersion, RespWriter } from "./resp_writer.ts";
export { splitInlineArgs } from "./_resp_inline.ts";
