/**
 * A minimal RESP2/RESP3 client for differential tools: one command out, one decoded reply in,
 * every reply kept with its type byte so two servers' answers compare by type and value.
 *
 * @module
 */

import { encodeCommand as encodeArgs } from "../../src/cli/resp_client.ts";

/** A decoded reply: its RESP type byte and value (bulk strings as latin-1 text). */
export type Reply =
  | { t: "+" | "-" | "$" | "(" | "," | "=" | "!"; v: string }
  | { t: ":"; v: bigint }
  | { t: "null" }
  | { t: "#"; v: boolean }
  | { t: "*" | "~" | ">" | "%"; v: Reply[] };

const latin1 = new TextDecoder("latin1");

/**
 * The RESP multibulk encoding of `args`, strings one byte per character (`latin1Bytes`) so a
 * tool's binary arguments go out as written (the project's `encodeCommand` sends UTF-8).
 */
export function encodeCommand(args: readonly (string | Uint8Array)[]): Uint8Array {
  return encodeArgs(args.map((a) => typeof a === "string" ? latin1Bytes(a) : a));
}

/** One byte per character (characters above 0xff are cut to their low byte). */
export function latin1Bytes(s: string): Uint8Array {
  return Uint8Array.from(s, (ch) => ch.charCodeAt(0) & 0xff);
}

/** One connection that sends commands and reads replies in order. */
export class RespClient {
  readonly #conn: Deno.Conn;
  #buf = new Uint8Array(0);
  #at = 0;
  #closed = false;

  private constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  /** Connects to 127.0.0.1:`port`. */
  static async connect(port: number): Promise<RespClient> {
    return new RespClient(await Deno.connect({ hostname: "127.0.0.1", port }));
  }

  /** Whether the server closed the connection. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Sends raw bytes. */
  async write(bytes: Uint8Array): Promise<void> {
    let off = 0;
    while (off < bytes.length) off += await this.#conn.write(bytes.subarray(off));
  }

  /** Sends one command and reads its reply. */
  async call(args: readonly (string | Uint8Array)[]): Promise<Reply> {
    await this.write(encodeCommand(args));
    return await this.read();
  }

  /** The next reply; throws when the server closes the connection first. */
  async read(): Promise<Reply> {
    while (true) {
      const start = this.#at;
      const v = this.#parse();
      if (v !== undefined) return v;
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
    if (n === null) {
      this.#closed = true;
      throw new Error("connection closed by the server");
    }
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
        const s = latin1.decode(b.subarray(this.#at, i));
        this.#at = i + 2;
        return s;
      }
    }
    return undefined;
  }

  #parse(): Reply | undefined {
    const line = this.#line();
    if (line === undefined) return undefined;
    const kind = line[0];
    const rest = line.slice(1);
    switch (kind) {
      case "+":
      case "-":
      case "(":
      case ",":
        return { t: kind, v: rest };
      case ":":
        return { t: ":", v: BigInt(rest) };
      case "_":
        return { t: "null" };
      case "#":
        return { t: "#", v: rest === "t" };
      case "$":
      case "=":
      case "!": {
        const n = Number(rest);
        if (n < 0) return { t: "null" };
        if (this.#buf.length - this.#at < n + 2) return undefined;
        const s = latin1.decode(this.#buf.subarray(this.#at, this.#at + n));
        this.#at += n + 2;
        return { t: kind === "!" ? "!" : kind === "=" ? "=" : "$", v: s };
      }
      case "*":
      case "~":
      case ">":
      case "%": {
        const n = Number(rest);
        if (n < 0) return { t: "null" };
        const items: Reply[] = [];
        const count = kind === "%" ? 2 * n : n;
        for (let i = 0; i < count; i++) {
          const v = this.#parse();
          if (v === undefined) return undefined;
          items.push(v);
        }
        return { t: kind, v: items };
      }
      default:
        throw new Error(`unexpected RESP type byte in ${JSON.stringify(line)}`);
    }
  }
}

/** A short readable form of a reply (for reports). */
export function showReply(r: Reply): string {
  switch (r.t) {
    case "null":
      return "(nil)";
    case ":":
      return `:${r.v}`;
    case "#":
      return `#${r.v}`;
    case "*":
    case "~":
    case ">":
    case "%":
      return `${r.t}[${r.v.map(showReply).join(", ")}]`;
    default:
      return `${r.t}${JSON.stringify(r.v)}`;
  }
}
