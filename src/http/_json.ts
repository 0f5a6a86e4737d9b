/**
 * An incremental JSON parser for request bodies. Bytes are pushed as they arrive from the
 * socket (at most `HTTP_READ_CHUNK_BYTES` at a time), so parsing a large body is spread over
 * many event-loop turns instead of one `JSON.parse` that stalls every other client, and a body
 * that is nested too deeply or holds too many values is refused at the byte that crosses the
 * limit, before the rest is read or anything is built for it.
 *
 * It accepts exactly RFC 8259 JSON (as `JSON.parse` does) in UTF-8, plus a leading BOM. Long
 * strings are decoded piece by piece (a streaming UTF-8 decoder; escapes resolved per piece),
 * so no single step touches more than one chunk.
 *
 * @module
 */

import { JsonBytes, RawString, RawStringError } from "./_json_raw.ts";
import { HttpError } from "./_response.ts";

/** Bounds of one parse. */
export interface JsonLimits {
  /** Deepest nesting of arrays and objects (the top-level container is depth 1). */
  depthMax: number;
  /** Most values (scalars and containers, keys not counted). */
  valuesMax: number;
  /**
   * String values (not keys) of at least this many UTF-8 bytes come out as `JsonBytes`
   * instead of strings; absent = always strings.
   */
  bytesStringsFrom?: number;
  /** Longest string value read as bytes, in UTF-8 bytes after escapes (with `bytesStringsFrom`). */
  bytesStringBytesMax?: number;
}

const enum S {
  Value, // expecting a value
  ValueOrEnd, // after '[': a value or ']'
  KeyOrEnd, // after '{': a key or '}'
  Key, // after ',' in an object
  Colon,
  After, // after a value: ',' or the closing bracket, or end of input at top level
  Str,
  Num,
  Lit,
  Done,
}

interface Frame {
  /** The array or object being filled. */
  value: unknown[] | Record<string, unknown>;
  /** The key waiting for its value (objects). */
  key: string | undefined;
}

const fatal = new TextDecoder("utf-8", { fatal: true });
const NUMBER = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?$/;

function isWs(b: number): boolean {
  return b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;
}

/** A push parser: `push` every chunk, then `end` for the value. Errors are `HttpError` 400. */
export class JsonPushParser {
  readonly #limits: JsonLimits;
  #state: S = S.Value;
  #stack: Frame[] = [];
  #root: unknown = undefined;
  #values = 0;
  /** Bytes pushed before the current chunk (for error positions). */
  #offset = 0;
  // String being read: text decoded so far, raw bytes of the current chunk start at #strStart.
  #strIsKey = false;
  #strText = "";
  #strEscaped = false;
  #strHasEscape = false;
  #strDecoder: TextDecoder | undefined;
  /** Raw escape text carried into the next piece (an escape split across chunks). */
  #strCarry = "";
  /** Set while a string value is read as bytes (`bytesStringsFrom`). */
  #raw: RawString | undefined;
  #rawActive = false;
  #token = "";

  /** A parser bounded by `limits`. */
  constructor(limits: JsonLimits) {
    this.#limits = limits;
  }

  /**
   * Parses the next bytes of the body. Views of `chunk` may be kept until the string they hold
   * ends, so the caller must not reuse its memory.
   */
  push(chunk: Uint8Array): void {
    let i = 0;
    const n = chunk.length;
    if (
      this.#offset === 0 && n >= 3 && chunk[0] === 0xef && chunk[1] === 0xbb && chunk[2] === 0xbf
    ) {
      i = 3;
    }
    while (i < n) {
      const state = this.#state;
      if (state === S.Str) {
        i = this.#rawActive ? this.#rawString(chunk, i) : this.#string(chunk, i);
        continue;
      }
      const b = chunk[i]!;
      if (state === S.Num || state === S.Lit) {
        if (
          (b >= 0x30 && b <= 0x39) || (b >= 0x61 && b <= 0x7a) || b === 0x2b || b === 0x2d ||
          b === 0x2e || b === 0x45
        ) {
          this.#token += String.fromCharCode(b);
          if (this.#token.length > 512) this.#fail("number or literal too long", i);
          i++;
          continue;
        }
        this.#endToken(i);
        continue;
      }
      i++;
      if (isWs(b)) continue;
      if (b >= 0x80) this.#fail(`unexpected byte ${describe(b)} (JSON is UTF-8 text)`, i - 1);
      this.#structural(b, i - 1);
    }
    this.#offset += n;
  }

  /** Ends the input and returns the value. */
  end(): unknown {
    if (this.#state === S.Num || this.#state === S.Lit) this.#endToken(0);
    if (this.#state !== S.Done) {
      if (this.#offset === 0) throw new HttpError(400, "Invalid JSON body: empty");
      throw new HttpError(400, `Invalid JSON body: unexpected end at byte ${this.#offset}`);
    }
    return this.#root;
  }

  #fail(what: string, i: number): never {
    throw new HttpError(400, `Invalid JSON body: ${what} at byte ${this.#offset + i}`);
  }

  #structural(b: number, i: number): void {
    switch (this.#state) {
      case S.Value:
      case S.ValueOrEnd:
        if (b === 0x5d && this.#state === S.ValueOrEnd) return this.#close(0x5d, i);
        return this.#startValue(b, i);
      case S.KeyOrEnd:
        if (b === 0x7d) return this.#close(0x7d, i);
        // falls through
      case S.Key:
        if (b !== 0x22) this.#fail("expected a string key", i);
        this.#startString(true);
        return;
      case S.Colon:
        if (b !== 0x3a) this.#fail("expected ':'", i);
        this.#state = S.Value;
        return;
      case S.After: {
        const top = this.#stack[this.#stack.length - 1];
        if (top === undefined) this.#fail("unexpected data after the value", i);
        const isArray = Array.isArray(top.value);
        if (b === 0x2c) {
          this.#state = isArray ? S.Value : S.Key;
          return;
        }
        if (b === (isArray ? 0x5d : 0x7d)) return this.#close(b, i);
        this.#fail(`expected ',' or '${isArray ? "]" : "}"}'`, i);
        return;
      }
      case S.Done:
        this.#fail("unexpected data after the value", i);
    }
  }

  #count(i: number): void {
    if (++this.#values > this.#limits.valuesMax) {
      this.#fail(`too many values (limit ${this.#limits.valuesMax})`, i);
    }
  }

  #startValue(b: number, i: number): void {
    this.#count(i);
    if (b === 0x7b || b === 0x5b) {
      if (this.#stack.length >= this.#limits.depthMax) {
        this.#fail(`nested too deeply (limit ${this.#limits.depthMax} levels)`, i);
      }
      const value = b === 0x7b ? {} : [];
      this.#stack.push({ value, key: undefined });
      this.#state = b === 0x7b ? S.KeyOrEnd : S.ValueOrEnd;
      return;
    }
    if (b === 0x22) return this.#startString(false);
    if (b === 0x2d || (b >= 0x30 && b <= 0x39)) {
      this.#token = String.fromCharCode(b);
      this.#state = S.Num;
      return;
    }
    if (b === 0x74 || b === 0x66 || b === 0x6e) {
      this.#token = String.fromCharCode(b);
      this.#state = S.Lit;
      return;
    }
    this.#fail(`unexpected character ${describe(b)}`, i);
  }

  #endToken(i: number): void {
    const token = this.#token;
    this.#token = "";
    let value: unknown;
    if (this.#state === S.Num) {
      if (!NUMBER.test(token)) this.#fail(`invalid number ${JSON.stringify(token)}`, i);
      value = Number(token);
    } else if (token === "true") value = true;
    else if (token === "false") value = false;
    else if (token === "null") value = null;
    else this.#fail(`invalid literal ${JSON.stringify(token)}`, i);
    this.#add(value);
  }

  /** Stores a finished value in its container (or as the root). */
  #add(value: unknown): void {
    const top = this.#stack[this.#stack.length - 1];
    if (top === undefined) {
      this.#root = value;
      this.#state = S.Done;
      return;
    }
    if (Array.isArray(top.value)) top.value.push(value);
    else {
      const key = top.key!;
      top.key = undefined;
      // A plain assignment of "__proto__" would set the prototype; JSON.parse makes a property.
      if (key === "__proto__") {
        Object.defineProperty(top.value, key, {
          value,
          writable: true,
          enumerable: true,
          configurable: true,
        });
      } else top.value[key] = value;
    }
    this.#state = S.After;
  }

  #close(b: number, i: number): void {
    const frame = this.#stack.pop()!;
    if ((b === 0x5d) !== Array.isArray(frame.value)) this.#fail("mismatched bracket", i);
    this.#add(frame.value);
  }

  #startString(isKey: boolean): void {
    this.#state = S.Str;
    if (!isKey && this.#limits.bytesStringsFrom !== undefined) {
      this.#raw ??= new RawString();
      this.#raw.reset(this.#limits.bytesStringBytesMax ?? Infinity);
      this.#rawActive = true;
      return;
    }
    this.#rawActive = false;
    this.#strIsKey = isKey;
    this.#strText = "";
    this.#strEscaped = false;
    this.#strHasEscape = false;
    this.#strDecoder = undefined;
    this.#strCarry = "";
  }

  /** Reads string bytes from `chunk[i…]`; returns the index after what it consumed. */
  #string(chunk: Uint8Array, start: number): number {
    const n = chunk.length;
    let escaped = this.#strEscaped;
    let i = start;
    for (; i < n; i++) {
      const b = chunk[i]!;
      if (escaped) {
        escaped = false;
      } else if (b === 0x22) {
        break;
      } else if (b === 0x5c) {
        escaped = true;
        this.#strHasEscape = true;
      } else if (b < 0x20) {
        this.#fail("control character in a string", i);
      }
    }
    this.#strEscaped = escaped;
    const closed = i < n;
    this.#appendString(chunk.subarray(start, i), closed, start);
    if (!closed) return n;
    const text = this.#strText;
    this.#strText = "";
    if (this.#strIsKey) {
      this.#stack[this.#stack.length - 1]!.key = text;
      this.#state = S.Colon;
    } else {
      this.#add(text);
    }
    return i + 1;
  }

  /** Reads a string value as bytes from `chunk[i…]`; returns the index after what it consumed. */
  #rawString(chunk: Uint8Array, start: number): number {
    const raw = this.#raw!;
    let end: number;
    let bytes: Uint8Array;
    try {
      end = raw.scan(chunk, start);
      if (end < 0) return chunk.length;
      bytes = raw.finish(end);
    } catch (err) {
      if (err instanceof RawStringError) this.#fail(err.message, err.at);
      throw err;
    }
    this.#rawActive = false;
    if (bytes.length >= this.#limits.bytesStringsFrom!) this.#add(new JsonBytes(bytes));
    else this.#add(fatal.decode(bytes));
    return end + 1;
  }

  /** Decodes one piece of a string's raw bytes (UTF-8, escapes) onto the text so far. */
  #appendString(raw: Uint8Array, last: boolean, at: number): void {
    let piece: string;
    try {
      if (last && this.#strDecoder === undefined) piece = fatal.decode(raw);
      else {
        this.#strDecoder ??= new TextDecoder("utf-8", { fatal: true });
        piece = this.#strDecoder.decode(raw, { stream: !last });
      }
    } catch {
      this.#fail("string is not valid UTF-8", at);
    }
    if (!this.#strHasEscape) {
      this.#strText += piece;
      return;
    }
    piece = this.#strCarry + piece;
    // Keep an escape that may continue in the next chunk ("\", "\u12") for the next piece.
    let cut = piece.length;
    if (!last) {
      const back = piece.lastIndexOf("\\", piece.length - 1);
      if (back >= 0 && back >= piece.length - 6 && !escapedBackslash(piece, back)) cut = back;
    }
    this.#strCarry = piece.slice(cut);
    try {
      this.#strText += JSON.parse(`"${piece.slice(0, cut)}"`);
    } catch {
      this.#fail("invalid escape in a string", at);
    }
  }
}

/** True when the backslash at `at` is itself escaped (preceded by an odd run of backslashes). */
function escapedBackslash(text: string, at: number): boolean {
  let run = 0;
  for (let j = at - 1; j >= 0 && text[j] === "\\"; j--) run++;
  return run % 2 === 1;
}

function describe(b: number): string {
  return b >= 0x21 && b <= 0x7e ? `'${String.fromCharCode(b)}'` : `0x${b.toString(16)}`;
}
