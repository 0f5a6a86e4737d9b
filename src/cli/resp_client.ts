/**
 * A minimal RESP client for the CLI: encodes commands as multibulk arrays, pipelines them
 * and reads the replies with `ReplyReader`. The server's `RespParser` parses requests only
 * (arrays of bulk strings), so replies need this small reader of their own. It reads RESP2
 * and, after a user types `HELLO 3` at the prompt, RESP3's types too.
 *
 * Invariants:
 * - Replies come back in the order the commands were sent; `pipeline` returns one per command.
 * - The reader never recurses: nested arrays are built with an explicit stack bounded by
 *   `REPLY_DEPTH_MAX`, and every length is checked against a limit before it is trusted.
 *
 * @module
 */

import { ProtocolError } from "../errors.ts";
import { RESP_BULK_SIZE_BYTES_MAX } from "../limits.ts";

/**
 * One reply. RESP3's types map onto RESP2's where they mean the same to a reader (null →
 * a null bulk, big number → integer, verbatim string → bulk, blob error → error); sets and
 * out-of-band pushes are arrays marked with `resp3`, so code that reads arrays reads them too.
 */
export type RespReply =
  | { kind: "simple"; value: string }
  | { kind: "error"; value: string }
  | { kind: "integer"; value: bigint }
  | { kind: "bulk"; value: Uint8Array | null }
  | { kind: "array"; value: RespReply[] | null; resp3?: "set" | "push" }
  | { kind: "double"; value: number }
  | { kind: "boolean"; value: boolean }
  | { kind: "map"; value: [RespReply, RespReply][] };

/** Deepest nesting of arrays accepted in a reply (SCAN replies nest 2 deep). */
export const REPLY_DEPTH_MAX = 16;
/** Most elements in one reply array (`SCAN` pages and `MGET` stay far below it). */
export const REPLY_ARRAY_LENGTH_MAX = 10_000_000;
/** Longest simple string, error or integer line. */
const REPLY_LINE_BYTES_MAX = 64 * 1024;
const READ_CHUNK_BYTES = 64 * 1024;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The server closed the connection before answering. */
export class ConnectionClosedError extends Error {
  /** Creates the error. */
  constructor(message = "Server closed the connection") {
    super(message);
    this.name = "ConnectionClosedError";
  }
}

/** Encodes one command as a RESP multibulk array. */
export function encodeCommand(args: readonly (string | Uint8Array)[]): Uint8Array {
  const parts: Uint8Array[] = [encoder.encode(`*${args.length}\r\n`)];
  for (const arg of args) {
    const bytes = typeof arg === "string" ? encoder.encode(arg) : arg;
    parts.push(encoder.encode(`$${bytes.length}\r\n`), bytes, encoder.encode("\r\n"));
  }
  return concat(parts);
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  let total = 0;
  for (const p of parts) total += p.length;
  const out = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

interface Frame {
  items: RespReply[];
  left: number;
  /** What the aggregate is: `*` array, `~` set, `>` push, `%` map, `|` attribute. */
  type: number;
}

/** RESP3 aggregate types whose elements the reader collects, by type byte. */
const AGGREGATES = new Set([42, /* * */ 126, /* ~ */ 62, /* > */ 37, /* % */ 124 /* | */]);

/**
 * An incremental RESP2 reply reader: `push` received bytes, then call `next` until it returns
 * `undefined` (more bytes needed). Throws `ProtocolError` on a malformed reply.
 */
export class ReplyReader {
  #buf = new Uint8Array(READ_CHUNK_BYTES);
  #start = 0;
  #end = 0;

  /** Appends received bytes. */
  push(bytes: Uint8Array): void {
    if (this.#buf.length - this.#end < bytes.length) {
      const live = this.#end - this.#start;
      // Grow geometrically so a large reply arriving in chunks costs linear time.
      const size = Math.max(this.#buf.length, live + bytes.length);
      const grown = live + bytes.length > this.#buf.length / 2
        ? new Uint8Array(Math.max(size, this.#buf.length * 2))
        : this.#buf;
      if (grown === this.#buf) this.#buf.copyWithin(0, this.#start, this.#end);
      else grown.set(this.#buf.subarray(this.#start, this.#end));
      this.#buf = grown;
      this.#start = 0;
      this.#end = live;
    }
    this.#buf.set(bytes, this.#end);
    this.#end += bytes.length;
  }

  /** Bytes received and not yet consumed by a complete reply. */
  get bufferedBytes(): number {
    return this.#end - this.#start;
  }

  /** The next complete reply, or `undefined` when more bytes are needed. */
  next(): RespReply | undefined {
    // A reply is consumed only once complete, so a partial one is parsed again from its start
    // when more bytes arrive; replies the CLI asks for are small.
    let pos = this.#start;
    const stack: Frame[] = [];
    while (true) {
      const lineEnd = this.#lineEnd(pos);
      if (lineEnd < 0) return undefined;
      const type = this.#buf[pos]!;
      const line = decoder.decode(this.#buf.subarray(pos + 1, lineEnd));
      pos = lineEnd + 2;
      let reply: RespReply | undefined;
      if (type === 43 /* + */) reply = { kind: "simple", value: line };
      else if (type === 45 /* - */) reply = { kind: "error", value: line };
      else if (type === 58 /* : */) {
        if (!/^-?\d+$/.test(line)) throw new ProtocolError(`Bad integer reply: ${line}`);
        reply = { kind: "integer", value: BigInt(line) };
      } else if (type === 36 /* $ */) {
        const n = lengthOf(line, RESP_BULK_SIZE_BYTES_MAX);
        if (n < 0) reply = { kind: "bulk", value: null };
        else {
          if (this.#end < pos + n + 2) return undefined;
          reply = { kind: "bulk", value: this.#buf.slice(pos, pos + n) };
          pos += n + 2;
        }
      } else if (type === 40 /* ( big number */) {
        if (!/^-?\d+$/.test(line)) throw new ProtocolError(`Bad big number reply: ${line}`);
        reply = { kind: "integer", value: BigInt(line) };
      } else if (type === 95 /* _ null */) {
        if (line !== "") throw new ProtocolError(`Bad null reply: ${line}`);
        reply = { kind: "bulk", value: null };
      } else if (type === 35 /* # boolean */) {
        if (line !== "t" && line !== "f") throw new ProtocolError(`Bad boolean reply: ${line}`);
        reply = { kind: "boolean", value: line === "t" };
      } else if (type === 44 /* , double */) {
        reply = { kind: "double", value: parseDouble(line) };
      } else if (type === 61 /* = verbatim */ || type === 33 /* ! blob error */) {
        const n = lengthOf(line, RESP_BULK_SIZE_BYTES_MAX);
        if (n < 0) throw new ProtocolError(`Bad length in reply: ${line}`);
        if (this.#end < pos + n + 2) return undefined;
        const body = this.#buf.slice(pos, pos + n);
        pos += n + 2;
        if (type === 33) reply = { kind: "error", value: decoder.decode(body) };
        else {
          // A verbatim string starts with its three-letter format and a colon (`txt:`).
          if (n < 4 || body[3] !== 58) throw new ProtocolError("Bad verbatim string reply");
          reply = { kind: "bulk", value: body.slice(4) };
        }
      } else if (AGGREGATES.has(type)) {
        const pairs = type === 37 || type === 124;
        const n = lengthOf(line, pairs ? REPLY_ARRAY_LENGTH_MAX / 2 : REPLY_ARRAY_LENGTH_MAX);
        if (n < 0 && type !== 42) throw new ProtocolError(`Bad length in reply: ${line}`);
        if (n <= 0) {
          if (type === 124) continue; // An empty attribute annotates the reply that follows.
          reply = emptyAggregate(type, n < 0);
        } else {
          if (stack.length >= REPLY_DEPTH_MAX) {
            throw new ProtocolError(`Reply nested deeper than ${REPLY_DEPTH_MAX} arrays`);
          }
          stack.push({ items: [], left: pairs ? 2 * n : n, type });
          continue;
        }
      } else {
        throw new ProtocolError(
          `Unexpected reply type ${JSON.stringify(String.fromCharCode(type))}`,
        );
      }
      // Attach the finished reply to its parent arrays, closing every array it completes.
      while (true) {
        const top = stack.at(-1);
        if (top === undefined) {
          this.#start = pos;
          if (this.#start === this.#end) this.#start = this.#end = 0;
          return reply;
        }
        top.items.push(reply);
        top.left--;
        if (top.left > 0) break;
        stack.pop();
        if (top.type === 124) {
          // An attribute (`|`) is metadata about the next reply, which the CLI does not show:
          // drop it and go on reading the reply it annotates.
          reply = undefined;
          break;
        }
        reply = aggregate(top);
      }
      if (reply === undefined) continue;
    }
  }

  #lineEnd(from: number): number {
    const buf = this.#buf;
    const limit = Math.min(this.#end - 1, from + REPLY_LINE_BYTES_MAX);
    for (let i = from; i < limit; i++) {
      if (buf[i] === 13 && buf[i + 1] === 10) return i;
    }
    if (this.#end - from > REPLY_LINE_BYTES_MAX) {
      throw new ProtocolError("Reply line too long");
    }
    return -1;
  }
}

/** A finished aggregate as a reply. */
function aggregate(frame: Frame): RespReply {
  if (frame.type === 37) {
    const pairs: [RespReply, RespReply][] = [];
    for (let i = 0; i < frame.items.length; i += 2) {
      pairs.push([frame.items[i]!, frame.items[i + 1]!]);
    }
    return { kind: "map", value: pairs };
  }
  if (frame.type === 126) return { kind: "array", value: frame.items, resp3: "set" };
  if (frame.type === 62) return { kind: "array", value: frame.items, resp3: "push" };
  return { kind: "array", value: frame.items };
}

/** An aggregate of no elements (or RESP2's null array). */
function emptyAggregate(type: number, isNull: boolean): RespReply {
  return isNull ? { kind: "array", value: null } : aggregate({ items: [], left: 0, type });
}

/** A RESP3 double: decimal, `inf`, `-inf` or `nan`. */
function parseDouble(line: string): number {
  if (line === "inf") return Infinity;
  if (line === "-inf") return -Infinity;
  if (line === "nan") return NaN;
  if (!/^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$/.test(line)) {
    throw new ProtocolError(`Bad double reply: ${line}`);
  }
  return Number(line);
}

function lengthOf(line: string, max: number): number {
  if (!/^-?\d+$/.test(line)) throw new ProtocolError(`Bad length in reply: ${line}`);
  const n = Number(line);
  if (n < -1 || n > max) throw new ProtocolError(`Bad length in reply: ${line}`);
  return n;
}

/** Where and how to connect. */
export interface ConnectOptions {
  /** Host name or address. */
  hostname: string;
  /** TCP port. */
  port: number;
  /** Sent with AUTH right after connecting, when given. */
  authToken?: string | undefined;
  /** PEM CA certificate: when given, the connection uses TLS and trusts this CA. */
  tlsCaCert?: string | undefined;
}

/** A connection to a CityHall (or Redis) server. */
export class RespClient {
  readonly #conn: Deno.Conn;
  readonly #reader = new ReplyReader();
  #closed = false;

  private constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  /**
   * Connects, and authenticates when a token is given. Throws `Deno.errors.ConnectionRefused`
   * (and other connect errors) as Deno raises them; a refused token throws an `Error` whose
   * message is the server's reply.
   */
  static async connect(options: ConnectOptions): Promise<RespClient> {
    const conn = options.tlsCaCert === undefined
      ? await Deno.connect({ hostname: options.hostname, port: options.port })
      : await Deno.connectTls({
        hostname: options.hostname,
        port: options.port,
        caCerts: [options.tlsCaCert],
      });
    try {
      if ("setNoDelay" in conn) conn.setNoDelay(true);
    } catch {
      // Not every platform supports it; it only affects latency.
    }
    const client = new RespClient(conn);
    if (options.authToken !== undefined && options.authToken !== "") {
      let reply: RespReply;
      try {
        reply = await client.command(["AUTH", options.authToken]);
      } catch (err) {
        client.close();
        throw err;
      }
      if (reply.kind === "error" && !/without any password configured/.test(reply.value)) {
        client.close();
        throw new Error(`Authentication failed: ${reply.value}`);
      }
    }
    return client;
  }

  /** Sends one command and waits for its reply. */
  async command(args: readonly (string | Uint8Array)[]): Promise<RespReply> {
    const [reply] = await this.pipeline([args]);
    return reply!;
  }

  /** Sends every command in one write and returns their replies in order. */
  async pipeline(commands: readonly (readonly (string | Uint8Array)[])[]): Promise<RespReply[]> {
    if (this.#closed) throw new ConnectionClosedError("Connection is closed");
    const bytes = concat(commands.map(encodeCommand));
    let off = 0;
    try {
      while (off < bytes.length) off += await this.#conn.write(bytes.subarray(off));
    } catch (err) {
      if (err instanceof Deno.errors.BrokenPipe || err instanceof Deno.errors.ConnectionReset) {
        this.close();
        throw new ConnectionClosedError();
      }
      throw err;
    }
    const replies: RespReply[] = [];
    const chunk = new Uint8Array(READ_CHUNK_BYTES);
    while (replies.length < commands.length) {
      const reply = this.#reader.next();
      if (reply !== undefined) {
        replies.push(reply);
        continue;
      }
      let n: number | null;
      try {
        n = await this.#conn.read(chunk);
      } catch (err) {
        if (err instanceof Deno.errors.ConnectionReset || err instanceof Deno.errors.BadResource) {
          n = null;
        } else throw err;
      }
      if (n === null) {
        this.close();
        throw new ConnectionClosedError();
      }
      this.#reader.push(chunk.subarray(0, n));
    }
    return replies;
  }

  /** True once the connection is closed (by `close` or by the server). */
  get closed(): boolean {
    return this.#closed;
  }

  /** Closes the connection. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#conn.close();
    } catch {
      // Already closed.
    }
  }
}
