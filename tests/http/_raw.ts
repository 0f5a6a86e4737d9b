/**
 * A raw HTTP/1.1 client over a TCP socket, for requests `fetch` cannot send (bad framing,
 * trickled bytes, pipelining, HTTP/2 prefaces) and for watching when the server closes.
 *
 * @module
 */

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** One parsed response. */
export interface RawResponse {
  status: number;
  /** Header fields by lower-case name. */
  headers: Map<string, string>;
  body: string;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** A client connection. */
export class RawClient {
  readonly conn: Deno.TcpConn;
  #buf: Uint8Array = new Uint8Array(0);
  #eof = false;
  #pending: Promise<boolean> | undefined;

  private constructor(conn: Deno.TcpConn) {
    this.conn = conn;
  }

  /** Connects to 127.0.0.1:port. */
  static async connect(port: number): Promise<RawClient> {
    return new RawClient(await Deno.connect({ hostname: "127.0.0.1", port }));
  }

  /** Sends bytes; false when the server already closed. */
  async send(data: string | Uint8Array): Promise<boolean> {
    const bytes = typeof data === "string" ? encoder.encode(data) : data;
    try {
      let off = 0;
      while (off < bytes.length) off += await this.conn.write(bytes.subarray(off));
      return true;
    } catch {
      return false;
    }
  }

  /** Half-closes: the server sees the end of the request stream. */
  async closeWrite(): Promise<void> {
    await this.conn.closeWrite().catch(() => {});
  }

  /** Reads more; false at end of stream, on error or after `timeoutMs`. */
  async #more(timeoutMs: number): Promise<boolean> {
    if (this.#eof) return false;
    // One read at a time: a read that lost a race is kept for the next call.
    this.#pending ??= (async () => {
      const chunk = new Uint8Array(65536);
      try {
        const n = await this.conn.read(chunk);
        if (n === null) this.#eof = true;
        else this.#buf = concat(this.#buf, chunk.subarray(0, n));
      } catch {
        this.#eof = true;
      }
      this.#pending = undefined;
      return !this.#eof;
    })();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<"timeout">((r) =>
      timer = setTimeout(() => r("timeout"), timeoutMs)
    );
    const result = await Promise.race([this.#pending, timeout]);
    clearTimeout(timer);
    return result === true;
  }

  /**
   * The next response, or undefined when the connection ended (or `timeoutMs` passed) before a
   * whole one arrived. Interim 1xx responses are returned like any other.
   */
  async response(timeoutMs = 60_000): Promise<RawResponse | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const text = decoder.decode(this.#buf);
      const end = text.indexOf("\r\n\r\n");
      if (end >= 0) {
        const lines = text.slice(0, end).split("\r\n");
        const status = Number(lines[0]!.split(" ")[1]);
        const headers = new Map<string, string>();
        for (const line of lines.slice(1)) {
          const colon = line.indexOf(":");
          headers.set(line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim());
        }
        const length = Number(headers.get("content-length") ?? "0");
        const headBytes = encoder.encode(text.slice(0, end + 4)).length;
        if (this.#buf.length >= headBytes + length) {
          const body = decoder.decode(this.#buf.subarray(headBytes, headBytes + length));
          this.#buf = this.#buf.slice(headBytes + length);
          return { status, headers, body };
        }
      }
      const left = deadline - Date.now();
      if (left <= 0 || !(await this.#more(left))) return undefined;
    }
  }

  /** What happens first within `timeoutMs`: a byte of an answer, the close, or nothing. */
  async firstReaction(timeoutMs: number): Promise<"answer" | "close" | "timeout"> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.#buf.length > 0) return "answer";
      if (this.#eof) return "close";
      const left = deadline - Date.now();
      if (left <= 0) return "timeout";
      if (!(await this.#more(left)) && !this.#eof) {
        return this.#buf.length > 0 ? "answer" : "timeout";
      }
    }
  }

  /** Bytes received and not yet returned as a response. */
  get buffered(): Uint8Array {
    return this.#buf;
  }

  /** True when the server closed the connection within `timeoutMs` (anything sent is dropped). */
  async closedWithin(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      if (!(await this.#more(left))) return this.#eof;
    }
  }

  /** Closes the client side. */
  close(): void {
    try {
      this.conn.close();
    } catch {
      // Already closed.
    }
  }
}

/** Sends `request` on a fresh connection and returns the first response (or undefined). */
export async function exchange(
  port: number,
  request: string | Uint8Array,
  timeoutMs = 10_000,
): Promise<RawResponse | undefined> {
  const c = await RawClient.connect(port);
  try {
    await c.send(request);
    return await c.response(timeoutMs);
  } finally {
    c.close();
  }
}
