/**
 * HTTP/1.1 request heads (RFC 9112), parsed strictly: anything a proxy and this server could
 * read differently (both `Content-Length` and `Transfer-Encoding`, two different lengths, a
 * folded header line, a bare CR or LF, a space before the colon) is a 400, so requests cannot be
 * smuggled. ARCHITECTURE.md § "HTTP API" (Errors) lists the answers.
 *
 * @module
 */

import { HTTP_HEADERS_MAX } from "../limits.ts";
import { HttpError } from "./_response.ts";

/** Header fields of a request, by lower-case name; repeated fields are joined with `, `. */
export class RequestHeaders {
  readonly #fields: Map<string, string>;

  /** Wraps fields keyed by lower-case name. */
  constructor(fields: Map<string, string> = new Map()) {
    this.#fields = fields;
  }

  /** The value of field `name` (any case), or null when absent. */
  get(name: string): string | null {
    return this.#fields.get(name.toLowerCase()) ?? null;
  }

  /** True when field `name` (any case) is present. */
  has(name: string): boolean {
    return this.#fields.has(name.toLowerCase());
  }

  /** Every field as `[lower-case name, value]`. */
  entries(): IterableIterator<[string, string]> {
    return this.#fields.entries();
  }
}

/** A parsed request head. */
export interface RequestHead {
  /** Method token as sent (case matters: `get` is not `GET`). */
  method: string;
  /** Request target as sent, e.g. `/v1/keys/a%2Fb?x=1`; never normalised. */
  target: string;
  /** 0 for HTTP/1.0, 1 for HTTP/1.1. */
  minorVersion: number;
  /** Header fields. */
  headers: RequestHeaders;
  /** Body length from `Content-Length`; undefined when the body is chunked or absent. */
  contentLength: number | undefined;
  /** True for `Transfer-Encoding: chunked`. */
  chunked: boolean;
  /** True when the client allows the connection to stay open after the response. */
  keepAlive: boolean;
  /** True for `Expect: 100-continue`. */
  expectContinue: boolean;
}

const CR = 0x0d;
const LF = 0x0a;

/**
 * Index just past the `\r\n\r\n` that ends the head starting at `start`, searching
 * `buf[from, to)`, or -1. A terminator split across two reads is found: the check looks back 3
 * bytes (never before `start`).
 */
export function findHeadEnd(buf: Uint8Array, start: number, from: number, to: number): number {
  // A plain loop over the new bytes only: `indexOf` would run on past `to` into stale bytes.
  for (let i = Math.max(from, start + 3); i < to; i++) {
    if (buf[i] === LF && buf[i - 1] === CR && buf[i - 2] === LF && buf[i - 3] === CR) return i + 1;
  }
  return -1;
}

/** Index of the first `\n` in `buf[from, to)`, or -1: a request line that never ends. */
export function findLineEnd(buf: Uint8Array, from: number, to: number): number {
  const i = buf.indexOf(LF, from);
  return i < 0 || i >= to ? -1 : i;
}

const decoder = new TextDecoder();

/** The head bytes as a string; bytes 0x80–0xff become U+0080–U+00FF (obs-text). */
function headText(bytes: Uint8Array): string {
  let ascii = true;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (b >= 0x80) ascii = false;
    // NUL and other controls are never valid in a head; CR and LF are checked per line.
    else if (b < 0x20 && b !== 0x09 && b !== CR && b !== LF) {
      throw new HttpError(400, `Bad request: control character 0x${hex(b)} in the head`);
    } else if (b === 0x7f) {
      throw new HttpError(400, "Bad request: control character 0x7f in the head");
    }
  }
  if (ascii) return decoder.decode(bytes);
  let out = "";
  for (let i = 0; i < bytes.length; i += 8192) {
    out += String.fromCharCode(...bytes.subarray(i, i + 8192));
  }
  return out;
}

function hex(b: number): string {
  return b.toString(16).padStart(2, "0");
}

const REQUEST_LINE = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+) ([\x21-\x7e]+) HTTP\/([0-9])\.([0-9])$/;
const HEADER_LINE = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*([^\r\n]*?)[ \t]*$/;
const DIGITS = /^[0-9]{1,15}$/;

/** The request-line error: a version other than 1.x is a 505, anything else a 400. */
function badRequestLine(line: string): HttpError {
  const version = /^\S+ \S+ (HTTP\/[0-9.]+)$/.exec(line);
  if (version !== null && !version[1]!.startsWith("HTTP/1.")) {
    return new HttpError(505, `HTTP version not supported: ${version[1]} (use HTTP/1.1)`);
  }
  return new HttpError(400, `Bad request line: ${JSON.stringify(line.slice(0, 100))}`);
}

/**
 * Parses a head: `bytes` runs from the request line to the blank line, both CRLFs included.
 * Throws `HttpError` 400, 411, 417, 431, 501 or 505.
 */
export function parseHead(bytes: Uint8Array): RequestHead {
  const text = headText(bytes);
  // The head ends with "\r\n\r\n": the last two entries of the split are empty.
  const lines = text.split("\r\n");
  lines.length -= 2;
  const requestLine = lines[0] ?? "";
  const m = REQUEST_LINE.exec(requestLine);
  if (m === null) throw badRequestLine(requestLine);
  const method = m[1]!;
  const target = m[2]!;
  if (m[3] !== "1") throw badRequestLine(requestLine);
  const minorVersion = Number(m[4]);
  if (lines.length - 1 > HTTP_HEADERS_MAX) {
    throw new HttpError(
      431,
      `Too many header fields: ${lines.length - 1} (limit ${HTTP_HEADERS_MAX})`,
    );
  }
  const fields = new Map<string, string>();
  let lengths: string[] | undefined;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const h = HEADER_LINE.exec(line);
    if (h === null) {
      const why = line.length > 0 && (line[0] === " " || line[0] === "\t")
        ? "folded header line"
        : "malformed header line";
      throw new HttpError(400, `Bad request: ${why} ${JSON.stringify(line.slice(0, 100))}`);
    }
    const name = h[1]!.toLowerCase();
    const value = h[2]!;
    if (name === "content-length") (lengths ??= []).push(value);
    const prev = fields.get(name);
    if (prev === undefined) fields.set(name, value);
    else if (name === "host") throw new HttpError(400, "Bad request: more than one Host field");
    else fields.set(name, `${prev}, ${value}`);
  }
  return frame(method, target, minorVersion, new RequestHeaders(fields), lengths);
}

/** Works out how the body is framed and whether the connection stays open. */
function frame(
  method: string,
  target: string,
  minorVersion: number,
  headers: RequestHeaders,
  lengths: string[] | undefined,
): RequestHead {
  if (minorVersion === 1 && !headers.has("host")) {
    throw new HttpError(400, "Bad request: HTTP/1.1 requires a Host field");
  }
  const te = headers.get("transfer-encoding");
  let contentLength: number | undefined;
  let chunked = false;
  if (te !== null) {
    if (lengths !== undefined) {
      throw new HttpError(400, "Bad request: both Content-Length and Transfer-Encoding");
    }
    if (minorVersion === 0) {
      throw new HttpError(400, "Bad request: Transfer-Encoding in an HTTP/1.0 request");
    }
    if (te.toLowerCase() !== "chunked") {
      throw new HttpError(
        501,
        `Transfer-Encoding not supported: ${JSON.stringify(te.slice(0, 100))} (only chunked)`,
      );
    }
    chunked = true;
  } else if (lengths !== undefined) {
    const first = lengths[0]!;
    if (!DIGITS.test(first) || lengths.some((l) => l !== first)) {
      throw new HttpError(
        400,
        `Bad request: invalid Content-Length ${JSON.stringify(lengths.join(", ").slice(0, 100))}`,
      );
    }
    contentLength = Number(first);
  } else if (method === "POST" || method === "PUT") {
    throw new HttpError(411, `Length required: ${method} needs Content-Length or chunked`);
  }
  const expect = headers.get("expect");
  let expectContinue = false;
  if (expect !== null) {
    if (expect.toLowerCase() !== "100-continue") {
      throw new HttpError(417, `Expectation failed: ${JSON.stringify(expect.slice(0, 100))}`);
    }
    expectContinue = minorVersion === 1;
  }
  const connection = headers.get("connection")?.toLowerCase() ?? "";
  const tokens = connection.split(",").map((t) => t.trim());
  const keepAlive = minorVersion === 1 ? !tokens.includes("close") : tokens.includes("keep-alive");
  return {
    method,
    target,
    minorVersion,
    headers,
    contentLength,
    chunked,
    keepAlive,
    expectContinue,
  };
}
