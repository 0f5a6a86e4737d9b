/**
 * One HTTP/1.1 connection of the front: reads request heads and bodies under deadlines, hands
 * each request to the router, writes the response, keeps the connection for the next request or
 * closes it. Requests on one connection are served one after another (pipelined requests wait in
 * the buffer). ARCHITECTURE.md § "HTTP API" (Limits) lists every deadline.
 *
 * Invariants:
 * - Deadlines are absolute: received bytes never extend them (a trickle cannot hold a slot).
 *   `H1Server`'s sweep calls `checkDeadline`, which answers 408 when it can and closes.
 * - Body budget taken for a request is given back once its response is written or the
 *   connection dies, whichever comes first.
 * - After an error whose request body was not read to its end, the connection is closed (the
 *   framing is lost), lingering up to `HTTP_LINGER_MS` so the answer is not destroyed by a reset.
 *
 * @module
 */

import { HTTP_HEAD_BYTES_MAX, HTTP_LINGER_MS, HTTP_WRITE_RATE_BYTES_PER_S_MIN } from "../limits.ts";
import type { BodyBudget } from "./_budget.ts";
import { type BodySource, IncomingBody, type IncomingRequest } from "./_h1_body.ts";
import { findHeadEnd, findLineEnd, parseHead, type RequestHead } from "./_h1_head.ts";
import { cannedResponse, CONTINUE, encodeResponse } from "./_h1_write.ts";
import { HttpError } from "./_response.ts";
import { BYTES_PER_TURN, REQUESTS_PER_TURN, yieldToEventLoop } from "./_yield.ts";

/** One finished request (or refused head), for the access log and metrics. */
export interface AccessEntry {
  method: string | undefined;
  target: string | undefined;
  /** The target's path, when the router split it already. */
  path: string | undefined;
  status: number;
  /** Response body bytes. */
  bytes: number;
  /** Request body bytes read. */
  bytesIn: number;
  ms: number;
  remote: string;
  route: string;
  error: string | undefined;
}

/** What every connection of a server shares. */
export interface ConnContext {
  headerTimeoutMs: number;
  bodyTimeoutMs: number;
  idleTimeoutMs: number;
  /** Base time to write a response (plus 1 s per `HTTP_WRITE_RATE_BYTES_PER_S_MIN` bytes). */
  writeTimeoutMs: number;
  budget: BodyBudget;
  /** Answers a request; must not throw. */
  handler(req: IncomingRequest): Promise<Response>;
  /** Called once per request after its response was written (or failed). */
  onDone(entry: AccessEntry): void;
  /** Called when a deadline closes a connection. */
  onTimeout(what: Phase, remote: string): void;
  /** True once the server is shutting down: finish the current request, then close. */
  stopping(): boolean;
}

/** Where a connection is; each phase but `handler` has a deadline. */
export type Phase = "head" | "idle" | "body" | "handler" | "write" | "linger" | "closed";

const INITIAL_BUFFER_BYTES = 4 * 1024;
/** Bytes read per call while lingering (what is read is dropped). */
const LINGER_READ_BYTES = 64 * 1024;
const CR = 0x0d;
const LF = 0x0a;
const decoder = new TextDecoder();

class Request1 implements IncomingRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingRequest["headers"];
  readonly body: IncomingBody | null;
  readonly remoteAddr: string;
  note: IncomingRequest["note"] = { route: "unknown" };

  constructor(head: RequestHead, body: IncomingBody | null, remoteAddr: string) {
    this.method = head.method;
    this.url = head.target;
    this.headers = head.headers;
    this.body = body;
    this.remoteAddr = remoteAddr;
  }

  get bodyUsed(): boolean {
    return this.body?.used ?? false;
  }
}

/** One accepted connection. */
export class H1Connection implements BodySource {
  readonly #conn: Deno.Conn;
  readonly #ctx: ConnContext;
  /** `host:port` of the client. */
  readonly remote: string;
  #phase: Phase = "head";
  #deadlineAt: number;
  #body: IncomingBody | null = null;
  #buf = new Uint8Array(INITIAL_BUFFER_BYTES);
  #start = 0;
  #end = 0;
  #timedOut: Phase | undefined;
  /** Requests and response bytes since this connection last let the event loop run. */
  #turnRequests = 0;
  #turnBytes = 0;

  /** Wraps `conn`; its header deadline starts now (it covers a TLS handshake too). */
  constructor(conn: Deno.Conn, ctx: ConnContext) {
    this.#conn = conn;
    this.#ctx = ctx;
    const addr = conn.remoteAddr as Deno.NetAddr;
    this.remote = addr.hostname.includes(":")
      ? `[${addr.hostname}]:${addr.port}`
      : `${addr.hostname}:${addr.port}`;
    this.#deadlineAt = Date.now() + ctx.headerTimeoutMs;
  }

  /** The current phase. */
  get phase(): Phase {
    return this.#phase;
  }

  /** Serves requests until the connection closes. Never throws. */
  async run(): Promise<void> {
    try {
      while (await this.#serveOne()) {
        // Next request on the same connection.
      }
    } catch {
      // A socket error ends the connection; there is nobody left to answer.
    } finally {
      this.close();
    }
  }

  /** Closes now (idempotent); pending reads and writes fail. */
  close(): void {
    if (this.#phase === "closed") return;
    this.#phase = "closed";
    this.#body?.release();
    this.#body = null;
    try {
      this.#conn.close();
    } catch {
      // Already closed.
    }
  }

  /** True while the connection waits for the client: a request, its head or its body. */
  #waitingForClient(): boolean {
    const phase = this.#phase;
    return phase === "idle" || phase === "head" || (phase === "body" && this.#body?.done === false);
  }

  /**
   * Closes the connection when it waits for the client (shutdown): no request of it can have
   * been acted on yet. A request being handled or answered finishes first.
   */
  closeIfIdle(): void {
    if (this.#waitingForClient()) this.close();
  }

  /** Enforces the current deadline; `now` is `Date.now()`. */
  checkDeadline(now: number): void {
    const phase = this.#phase;
    if (phase === "handler" || phase === "closed" || now < this.#deadlineAt) return;
    if (phase === "body" && !this.#waitingForClient()) return;
    if (phase === "linger") {
      // Lingering was a courtesy: its end is not a client's fault.
      this.close();
      return;
    }
    this.#timedOut = phase;
    this.#ctx.onTimeout(phase, this.remote);
    const partialHead = phase === "head" && this.#end > this.#start;
    if (phase === "body" || partialHead) {
      const what = phase === "body" ? "Request body" : "Request head";
      const ms = phase === "body" ? this.#ctx.bodyTimeoutMs : this.#ctx.headerTimeoutMs;
      void this.#writeThenClose(
        cannedResponse(408, `${what} timeout: not complete within ${ms} ms`),
      );
    } else {
      this.close();
    }
  }

  async #writeThenClose(bytes: Uint8Array): Promise<void> {
    this.#phase = "linger";
    this.#deadlineAt = Date.now() + HTTP_LINGER_MS;
    try {
      await this.#writeAll(bytes);
    } catch {
      // The client is gone or not reading.
    }
    this.close();
  }

  // ---------------------------------------------------------------- one request

  async #serveOne(): Promise<boolean> {
    const head = await this.#readHead();
    if (head === undefined) return false;
    const t0 = performance.now();
    let parsed: RequestHead;
    try {
      parsed = parseHead(head);
    } catch (err) {
      if (!(err instanceof HttpError)) throw err;
      await this.#refuse(err, t0);
      return false;
    }
    const hasBody = parsed.chunked || (parsed.contentLength ?? 0) > 0;
    const body = hasBody ? new IncomingBody(this, parsed, this.#ctx.budget) : null;
    this.#body = body;
    if (body !== null) {
      this.#phase = "body";
      this.#deadlineAt = Date.now() + this.#ctx.bodyTimeoutMs;
    } else {
      this.#phase = "handler";
    }
    const req = new Request1(parsed, body, this.remote);
    const response = await this.#ctx.handler(req);
    // A deadline may have answered 408 and closed while the handler ran.
    const phase = this.#phase as Phase;
    if (phase === "closed" || phase === "linger") {
      this.#log(req, response.status, 0, t0);
      return false;
    }
    const drained = body === null || body.done;
    const keepAlive = parsed.keepAlive && drained && !this.#ctx.stopping() &&
      this.#timedOut === undefined;
    const encoded = await encodeResponse(response, {
      headRequest: parsed.method === "HEAD",
      close: !keepAlive,
      keepAlive10: parsed.minorVersion === 0,
    });
    this.#phase = "write";
    this.#deadlineAt = Date.now() + this.#ctx.writeTimeoutMs +
      Math.ceil((encoded.bodyBytes * 1000) / HTTP_WRITE_RATE_BYTES_PER_S_MIN);
    try {
      for (const chunk of encoded.chunks) await this.#writeAll(chunk);
    } finally {
      body?.release();
      this.#body = null;
      this.#log(req, response.status, encoded.bodyBytes, t0);
    }
    if (!keepAlive) {
      if (drained) this.close();
      else await this.#linger();
      return false;
    }
    this.#phase = "idle";
    this.#deadlineAt = Date.now() + this.#ctx.idleTimeoutMs;
    this.#turnBytes += encoded.bodyBytes;
    if (++this.#turnRequests >= REQUESTS_PER_TURN || this.#turnBytes >= BYTES_PER_TURN) {
      // Pipelined requests and eager writes never wait: give other connections a turn.
      this.#turnRequests = 0;
      this.#turnBytes = 0;
      await yieldToEventLoop();
    }
    return true;
  }

  #log(req: IncomingRequest, status: number, bytes: number, t0: number): void {
    this.#ctx.onDone({
      method: req.method,
      target: req.url,
      path: req.note.path,
      status,
      bytes,
      bytesIn: req.body?.bytesRead ?? 0,
      ms: performance.now() - t0,
      remote: this.remote,
      route: req.note.route,
      error: req.note.error,
    });
  }

  /** Answers a head the front cannot serve (400, 414, 431, 505…) and closes. */
  async #refuse(err: HttpError, t0: number): Promise<void> {
    this.#ctx.onDone({
      method: undefined,
      target: undefined,
      path: undefined,
      status: err.status,
      bytes: 0,
      bytesIn: 0,
      ms: performance.now() - t0,
      remote: this.remote,
      route: "unknown",
      error: err.message,
    });
    this.#phase = "write";
    this.#deadlineAt = Date.now() + this.#ctx.writeTimeoutMs;
    await this.#writeAll(cannedResponse(err.status, err.message, err.headers));
    await this.#linger();
  }

  /**
   * Sends FIN, then reads and drops what the client still sends for up to `HTTP_LINGER_MS`,
   * so unread request bytes do not make the kernel answer with a reset that destroys the
   * response before the client read it.
   */
  async #linger(): Promise<void> {
    this.#phase = "linger";
    this.#deadlineAt = Date.now() + HTTP_LINGER_MS;
    try {
      await (this.#conn as Deno.TcpConn).closeWrite();
      this.#start = this.#end = 0;
      const sink = new Uint8Array(LINGER_READ_BYTES);
      let sinceYield = 0;
      for (;;) {
        const n = await this.#conn.read(sink);
        if (n === null) break;
        // Reads of a fast sender complete without waiting: let other clients in.
        if ((sinceYield += n) >= BYTES_PER_TURN) {
          sinceYield = 0;
          await yieldToEventLoop();
        }
      }
    } catch {
      // Closed by the deadline or by the client.
    }
    this.close();
  }

  // ---------------------------------------------------------------- reading

  /** The next head's bytes, or undefined when the connection ended or a head error was sent. */
  async #readHead(): Promise<Uint8Array | undefined> {
    // Bytes after #start already searched for the end of the head (indices shift on compaction).
    let scanned = 0;
    for (;;) {
      // Empty lines before a request line are allowed (RFC 9112 § 2.2).
      while (
        this.#start < this.#end && (this.#buf[this.#start] === CR || this.#buf[this.#start] === LF)
      ) this.#start++;
      scanned = Math.min(scanned, this.#end - this.#start);
      if (this.#phase === "idle" && this.#end > this.#start) {
        this.#phase = "head";
        this.#deadlineAt = Date.now() + this.#ctx.headerTimeoutMs;
      }
      const end = findHeadEnd(this.#buf, this.#start, this.#start + scanned, this.#end);
      if (end >= 0) {
        const head = this.#buf.slice(this.#start, end);
        this.#start = end;
        this.#shrink();
        return head;
      }
      scanned = this.#end - this.#start;
      if (scanned >= HTTP_HEAD_BYTES_MAX) {
        const lineEnd = findLineEnd(this.#buf, this.#start, this.#end);
        const err = lineEnd < 0
          ? new HttpError(414, `Request line too long: over ${HTTP_HEAD_BYTES_MAX} bytes`)
          : new HttpError(431, `Request head too large: over ${HTTP_HEAD_BYTES_MAX} bytes`);
        await this.#refuse(err, performance.now());
        return undefined;
      }
      if (!(await this.#fill(HTTP_HEAD_BYTES_MAX))) return undefined;
    }
  }

  /** Reads more into the buffer (growing it up to `capacityMax`); false at end of stream. */
  async #fill(capacityMax: number): Promise<boolean> {
    if (this.#start === this.#end) this.#start = this.#end = 0;
    if (this.#end === this.#buf.length) {
      if (this.#start > 0) {
        this.#buf.copyWithin(0, this.#start, this.#end);
        this.#end -= this.#start;
        this.#start = 0;
      } else {
        const grown = new Uint8Array(Math.min(this.#buf.length * 2, capacityMax));
        grown.set(this.#buf.subarray(0, this.#end));
        this.#buf = grown;
      }
    }
    const n = await this.#conn.read(this.#buf.subarray(this.#end));
    if (n === null) return false;
    this.#end += n;
    return true;
  }

  /** Returns a grown buffer to its initial size once it is empty (idle connections stay small). */
  #shrink(): void {
    if (
      this.#buf.length > INITIAL_BUFFER_BYTES && this.#end - this.#start <= INITIAL_BUFFER_BYTES
    ) {
      const small = new Uint8Array(INITIAL_BUFFER_BYTES);
      small.set(this.#buf.subarray(this.#start, this.#end));
      this.#end -= this.#start;
      this.#start = 0;
      this.#buf = small;
    }
  }

  /** @inheritdoc */
  async readBytes(max: number): Promise<Uint8Array | null> {
    const buffered = this.#end - this.#start;
    if (buffered > 0) {
      const n = Math.min(buffered, max);
      const out = this.#buf.slice(this.#start, this.#start + n);
      this.#start += n;
      return out;
    }
    const piece = new Uint8Array(max);
    const n = await this.#conn.read(piece);
    if (n === null) return null;
    // A short read (a slow client) must not pin a whole read-sized buffer per byte.
    return n < max / 2 ? piece.slice(0, n) : piece.subarray(0, n);
  }

  /** @inheritdoc */
  async readLine(max: number): Promise<string | null> {
    for (;;) {
      // Lines are short (bounded by `max`), so searching again from the start is cheap.
      const lf = this.#buf.indexOf(LF, this.#start);
      if (lf >= 0 && lf < this.#end) {
        if (lf === this.#start || this.#buf[lf - 1] !== CR) {
          throw new HttpError(400, "Invalid chunked body: line not ended by CRLF");
        }
        const line = decoder.decode(this.#buf.subarray(this.#start, lf - 1));
        this.#start = lf + 1;
        return line;
      }
      if (this.#end - this.#start > max + 1) {
        throw new HttpError(400, `Invalid chunked body: line longer than ${max} bytes`);
      }
      if (!(await this.#fill(Math.max(max + 2, INITIAL_BUFFER_BYTES)))) return null;
    }
  }

  /** @inheritdoc */
  writeContinue(): Promise<void> {
    return this.#writeAll(CONTINUE);
  }

  /** @inheritdoc */
  readFailure(got: number): HttpError {
    if (this.#timedOut === "body") {
      return new HttpError(
        408,
        `Request body timeout: not complete within ${this.#ctx.bodyTimeoutMs} ms`,
      );
    }
    return new HttpError(400, `Request body incomplete: connection ended after ${got} bytes`);
  }

  async #writeAll(bytes: Uint8Array): Promise<void> {
    let off = 0;
    while (off < bytes.length) off += await this.#conn.write(bytes.subarray(off));
  }
}
