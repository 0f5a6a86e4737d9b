/**
 * A raw RESP2/RESP3 connection for tests that must see every frame as sent, pushes included:
 * `read()` returns the next value, a push as `{ push: [...] }`.
 *
 * @module
 */

import { command } from "./_helpers.ts";

/** A decoded RESP value (bulk and simple strings as text, nulls as `null`). */
export type RespValue =
  | string
  | number
  | null
  | RespValue[]
  | { push: RespValue[] }
  | { error: string }
  | { map: [RespValue, RespValue][] };

const decoder = new TextDecoder();

/** One raw connection. */
export class RespConn {
  readonly #conn: Deno.Conn;
  #buf = new Uint8Array(0);
  #at = 0;

  private constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  /** Connects to `port` on 127.0.0.1. */
  static async connect(port: number): Promise<RespConn> {
    return new RespConn(await Deno.connect({ hostname: "127.0.0.1", port }));
  }

  /** Sends one command. */
  async send(...args: string[]): Promise<void> {
    const bytes = command(...args);
    let off = 0;
    while (off < bytes.length) off += await this.#conn.write(bytes.subarray(off));
  }

  /** Sends one command and reads the next value (its reply, unless a push came first). */
  async call(...args: string[]): Promise<RespValue> {
    await this.send(...args);
    return await this.read();
  }

  /** The next value received. */
  async read(): Promise<RespValue> {
    while (true) {
      const start = this.#at;
      const v = this.#parse();
      if (v !== undefined) return v.value;
      this.#at = start;
      await this.#fill();
    }
  }

  /** Closes the socket. */
  close(): void {
    try {
      this.#conn.close();
    } catch {
      // Closed already.
    }
  }

  async #fill(): Promise<void> {
    const chunk = new Uint8Array(65536);
    const n = await this.#conn.read(chunk);
    if (n === null) throw new Error("connection closed by the server");
    const rest = this.#buf.subarray(this.#at);
    const next = new Uint8Array(rest.length + n);
    next.set(rest);
    next.set(chunk.subarray(0, n), rest.length);
    this.#buf = next;
    this.#at = 0;
  }

  #line(): string | undefined {
    const b = this.#buf;
    for (let i = this.#at; i + 1 < b.length; i++) {
      if (b[i] === 13 && b[i + 1] === 10) {
        const s = decoder.decode(b.subarray(this.#at, i));
        this.#at = i + 2;
        return s;
      }
    }
    return undefined;
  }

  #parse(): { value: RespValue } | undefined {
    const line = this.#line();
    if (line === undefined) return undefined;
    const kind = line[0];
    const rest = line.slice(1);
    switch (kind) {
      case "+":
        return { value: rest };
      case "-":
        return { value: { error: rest } };
      case ":":
        return { value: Number(rest) };
      case "_":
        return { value: null };
      case "$": {
        const n = Number(rest);
        if (n < 0) return { value: null };
        if (this.#buf.length - this.#at < n + 2) return undefined;
        const s = decoder.decode(this.#buf.subarray(this.#at, this.#at + n));
        this.#at += n + 2;
        return { value: s };
      }
      case "*":
      case "~":
      case ">": {
        const n = Number(rest);
        if (n < 0) return { value: null };
        const items: RespValue[] = [];
        for (let i = 0; i < n; i++) {
          const v = this.#parse();
          if (v === undefined) return undefined;
          items.push(v.value);
        }
        return { value: kind === ">" ? { push: items } : items };
      }
      case "%": {
        const n = Number(rest);
        const pairs: [RespValue, RespValue][] = [];
        for (let i = 0; i < n; i++) {
          const k = this.#parse();
          if (k === undefined) return undefined;
          const v = this.#parse();
          if (v === undefined) return undefined;
          pairs.push([k.value, v.value]);
        }
        return { value: { map: pairs } };
      }
      default:
        throw new Error(`unexpected RESP type byte in ${JSON.stringify(line)}`);
    }
  }
}
