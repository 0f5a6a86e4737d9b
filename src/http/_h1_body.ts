/**
 * Request bodies of the HTTP/1.1 front: `Content-Length` and chunked framing read from the
 * connection piece by piece, each piece paid for from the global body budget first. A body that
 * ends early, is framed wrongly or does not arrive before its deadline is an `HttpError`
 * (400, 408) and the connection is closed after the answer.
 *
 * @module
 */

import {
  HTTP_BODY_BUDGET_WAIT_MS,
  HTTP_CHUNK_LINE_BYTES_MAX,
  HTTP_HEAD_BYTES_MAX,
  HTTP_HEADERS_MAX,
  HTTP_READ_CHUNK_BYTES,
  HTTP_RETRY_AFTER_S,
} from "../limits.ts";
import type { BodyBudget } from "./_budget.ts";
import type { RequestHead, RequestHeaders } from "./_h1_head.ts";
import { HttpError } from "./_response.ts";

/** What a body reads from: the connection's buffer and socket. */
export interface BodySource {
  /** Up to `max` bytes: buffered ones first, else one socket read; null at end of stream. */
  readBytes(max: number): Promise<Uint8Array | null>;
  /** One CRLF-terminated line without its CRLF; null at end of stream; 400 past `max`. */
  readLine(max: number): Promise<string | null>;
  /** Writes `HTTP/1.1 100 Continue` (the client waits for it before sending the body). */
  writeContinue(): Promise<void>;
  /** The error to report when a read failed: 408 once the body deadline passed, else 400. */
  readFailure(got: number): HttpError;
}

/** A request as handlers see it (the parts of a fetch `Request` they use). */
export interface IncomingRequest {
  /** Method token, e.g. `GET`. */
  readonly method: string;
  /** Request target as sent (`/path?query`), never normalised. */
  readonly url: string;
  /** Header fields. */
  readonly headers: RequestHeaders;
  /** The body, or null when the request has none (no `Content-Length`, or 0, or not chunked). */
  readonly body: IncomingBody | null;
  /** True once the body has been read to its end or cancelled. */
  readonly bodyUsed: boolean;
  /** Remote address `host:port`, for logs. */
  readonly remoteAddr: string;
  /** Route name, path and error message, set by the router for the access log and metrics. */
  note: { route: string; path?: string | undefined; error?: string | undefined };
}

/** A request body, read once, in pieces of at most `HTTP_READ_CHUNK_BYTES`. */
export class IncomingBody {
  readonly #source: BodySource;
  readonly #budget: BodyBudget;
  readonly #contentLength: number | undefined;
  #expectContinue: boolean;
  #started = false;
  #done = false;
  #cancelled = false;
  #reserved = 0;
  /** Bytes of the current chunk still to read (chunked), or of the body (Content-Length). */
  #remaining = 0;
  /** Body bytes handed out so far. */
  bytesRead = 0;

  /** A body framed as `head` says, read from `source`, paid for from `budget`. */
  constructor(source: BodySource, head: RequestHead, budget: BodyBudget) {
    this.#source = source;
    this.#budget = budget;
    this.#contentLength = head.contentLength;
    this.#expectContinue = head.expectContinue;
  }

  /** True once the last byte (and a chunked body's trailer) was read. */
  get done(): boolean {
    return this.#done;
  }

  /** True once read to the end or cancelled. */
  get used(): boolean {
    return this.#done || this.#cancelled;
  }

  /** The next piece of the body, or null at its end. */
  async read(): Promise<Uint8Array | null> {
    if (this.#done) return null;
    if (this.#cancelled) throw new HttpError(400, "Request body already cancelled");
    try {
      if (!this.#started) await this.#start();
      const piece = this.#contentLength !== undefined
        ? await this.#readFixed()
        : await this.#readChunked();
      if (piece !== null) this.bytesRead += piece.length;
      return piece;
    } catch (err) {
      // A failed read (no budget, bad framing, a timeout) leaves the stream unusable.
      this.#cancelled = true;
      throw err;
    }
  }

  /** Stops reading; the connection closes after the response since the body was not drained. */
  cancel(): Promise<void> {
    if (!this.#done) this.#cancelled = true;
    return Promise.resolve();
  }

  /** Gives the budget this body took back; called once the response is written. */
  release(): void {
    if (this.#reserved > 0) this.#budget.release(this.#reserved);
    this.#reserved = 0;
  }

  async #start(): Promise<void> {
    this.#started = true;
    // A Content-Length is paid for at once, before a byte is read, so a busy server says so
    // before the client sends the body (and before 100 Continue).
    if (this.#contentLength !== undefined) {
      await this.#pay(this.#contentLength);
      this.#remaining = this.#contentLength;
    }
    if (this.#expectContinue) {
      this.#expectContinue = false;
      await this.#source.writeContinue();
    }
  }

  async #pay(bytes: number): Promise<void> {
    if (bytes === 0) return;
    if (!(await this.#budget.acquire(bytes, HTTP_BODY_BUDGET_WAIT_MS))) {
      throw new HttpError(
        503,
        `Server busy: request bodies in flight fill the HTTP body budget ` +
          `(${this.#budget.capacity} bytes); retry in ${HTTP_RETRY_AFTER_S} s`,
        { "retry-after": String(HTTP_RETRY_AFTER_S) },
      );
    }
    this.#reserved += bytes;
  }

  async #readFixed(): Promise<Uint8Array | null> {
    if (this.#remaining === 0) {
      this.#done = true;
      return null;
    }
    const piece = await this.#readData(Math.min(this.#remaining, HTTP_READ_CHUNK_BYTES));
    this.#remaining -= piece.length;
    if (this.#remaining === 0) this.#done = true;
    return piece;
  }

  async #readData(max: number): Promise<Uint8Array> {
    let piece: Uint8Array | null;
    try {
      piece = await this.#source.readBytes(max);
    } catch (err) {
      if (err instanceof HttpError) throw err;
      throw this.#source.readFailure(this.bytesRead);
    }
    if (piece === null) throw this.#source.readFailure(this.bytesRead);
    return piece;
  }

  async #line(max: number): Promise<string> {
    let line: string | null;
    try {
      line = await this.#source.readLine(max);
    } catch (err) {
      if (err instanceof HttpError) throw err;
      throw this.#source.readFailure(this.bytesRead);
    }
    if (line === null) throw this.#source.readFailure(this.bytesRead);
    return line;
  }

  async #readChunked(): Promise<Uint8Array | null> {
    if (this.#remaining === 0) {
      const size = parseChunkSize(await this.#line(HTTP_CHUNK_LINE_BYTES_MAX));
      if (size === 0) {
        await this.#readTrailer();
        this.#done = true;
        return null;
      }
      this.#remaining = size;
    }
    const want = Math.min(this.#remaining, HTTP_READ_CHUNK_BYTES);
    await this.#pay(want);
    const piece = await this.#readData(want);
    // A short read (a slow client) gives back what it did not use: budget follows held bytes.
    if (piece.length < want) {
      this.#budget.release(want - piece.length);
      this.#reserved -= want - piece.length;
    }
    this.#remaining -= piece.length;
    if (this.#remaining === 0) {
      const end = await this.#line(2);
      if (end !== "") {
        throw new HttpError(400, "Invalid chunked body: chunk data longer than its size");
      }
    }
    return piece;
  }

  async #readTrailer(): Promise<void> {
    let total = 0;
    for (let fields = 0;; fields++) {
      const line = await this.#line(HTTP_HEAD_BYTES_MAX);
      if (line === "") return;
      total += line.length + 2;
      if (fields >= HTTP_HEADERS_MAX || total > HTTP_HEAD_BYTES_MAX) {
        throw new HttpError(431, "Chunked body trailer too large");
      }
      // Trailer fields are read and dropped: no route uses them.
      if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+:[\t\x20-\x7e\x80-\xff]*$/.test(line)) {
        throw new HttpError(400, "Invalid chunked body: malformed trailer field");
      }
    }
  }
}

/** A chunk-size line: 1–8 hex digits, optional `;extensions`. */
function parseChunkSize(line: string): number {
  const m = /^([0-9A-Fa-f]{1,8})[ \t]*(?:;[\t\x20-\x7e]*)?$/.exec(line);
  if (m === null) {
    throw new HttpError(
      400,
      `Invalid chunked body: bad chunk size line ${JSON.stringify(line.slice(0, 40))}`,
    );
  }
  return parseInt(m[1]!, 16);
}

/**
 * A fetch `Request` view of `req`, for handlers written against the web API (the Prometheus
 * query API): the body streams from `req.body`, so it is still paid for from the body budget and
 * bounded by the body deadline. `origin` (e.g. `http://localhost`) makes the target absolute;
 * unlike `req.url`, the `Request`'s URL is normalised (dot segments resolved).
 */
export function toFetchRequest(req: IncomingRequest, origin: string): Request {
  const body = req.body;
  const init: RequestInit = { method: req.method, headers: [...req.headers.entries()] };
  if (body !== null && req.method !== "GET" && req.method !== "HEAD") {
    init.body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        const piece = await body.read();
        if (piece === null) controller.close();
        else controller.enqueue(piece);
      },
      cancel: () => body.cancel(),
    }, { highWaterMark: 0 });
    // Required by fetch for a streamed request body.
    (init as { duplex?: string }).duplex = "half";
  }
  return new Request(origin + (req.url.startsWith("/") ? req.url : "/"), init);
}
