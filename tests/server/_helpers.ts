export type { Redis } from "ioredis";
/**
 * Test helpers: a real server on an ephemeral port over a real `Database` in a temp dir, an
 * ioredis client factory, and raw-socket helpers for malformed input.
 *
 * @module
 */

import { Redis } from "ioredis";
import { Database } from "../../src/mod.ts";
import { type Server, type ServerOptions, startServer } from "../../src/server/mod.ts";

/** A running test server and its database. */
export interface TestServer {
  server: Server;
  db: Database;
  port: number;
  dir: string;
  close(): Promise<void>;
}

/** Starts a server on 127.0.0.1 and a free port over a fresh database. */
export async function startTestServer(options: ServerOptions = {}): Promise<TestServer> {
  const dir = await Deno.makeTempDir({ prefix: "cityhall-server-test-" });
  const db = await Database.open(dir, { syncMode: "always" });
  const server = await startServer(db, { hostname: "127.0.0.1", port: 0, ...options });
  return {
    server,
    db,
    dir,
    port: server.addr.port,
    async close() {
      await server.close();
      await db.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** An ioredis client (RESP3 by default in ioredis 6) connected to `port`. */
export async function connectRedis(
  port: number,
  options: Record<string, unknown> = {},
): Promise<Redis> {
  const client = new Redis({
    port,
    host: "127.0.0.1",
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    ...options,
  });
  await client.connect();
  return client;
}

/** Quits an ioredis client and waits until its socket is closed. */
export async function closeRedis(client: Redis): Promise<void> {
  const ended = new Promise<void>((resolve) => {
    if (client.status === "end") resolve();
    else client.once("end", () => resolve());
  });
  try {
    await client.quit();
  } catch {
    client.disconnect();
  }
  await ended;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Sends `input` on a fresh raw connection and reads until the server closes it (or
 * `timeoutMs` passes). Returns what was read and whether the server closed the connection.
 */
export async function rawExchange(
  port: number,
  input: string | Uint8Array,
  timeoutMs = 60_000,
): Promise<{ reply: string; closed: boolean }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const bytes = typeof input === "string" ? encoder.encode(input) : input;
  try {
    let off = 0;
    while (off < bytes.length) off += await conn.write(bytes.subarray(off));
  } catch {
    // The server may close before everything is sent (a limit hit early).
  }
  const chunks: Uint8Array[] = [];
  let closed = false;
  const timer = setTimeout(() => {
    try {
      conn.close();
    } catch { /* closed */ }
  }, timeoutMs);
  try {
    const buf = new Uint8Array(65536);
    while (true) {
      const n = await conn.read(buf);
      if (n === null) {
        closed = true;
        break;
      }
      chunks.push(buf.slice(0, n));
    }
  } catch {
    // Closed by the timer (not by the server) or reset.
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch { /* already closed */ }
  }
  let total = 0;
  for (const c of chunks) total += c.length;
  const all = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.length;
  }
  return { reply: decoder.decode(all), closed };
}

/** A raw connection that sends and reads replies by exact byte counts or patterns. */
export class RawClient {
  #conn: Deno.Conn;
  #buf = "";

  private constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  /** Connects to `port`. */
  static async connect(port: number): Promise<RawClient> {
    return new RawClient(await Deno.connect({ hostname: "127.0.0.1", port }));
  }

  /** Sends bytes or text. */
  async send(input: string | Uint8Array): Promise<void> {
    const bytes = typeof input === "string" ? encoder.encode(input) : input;
    let off = 0;
    while (off < bytes.length) off += await this.#conn.write(bytes.subarray(off));
  }

  /** Reads until the received text ends with `suffix` (or `count` bytes arrived). */
  async readUntil(done: (text: string) => boolean): Promise<string> {
    const buf = new Uint8Array(65536);
    while (!done(this.#buf)) {
      const n = await this.#conn.read(buf);
      if (n === null) break;
      this.#buf += decoder.decode(buf.subarray(0, n));
    }
    const out = this.#buf;
    this.#buf = "";
    return out;
  }

  /** Closes the connection. */
  close(): void {
    try {
      this.#conn.close();
    } catch { /* closed */ }
  }
}

/** A RESP multibulk encoding of `args`. */
export function command(...args: (string | Uint8Array)[]): Uint8Array {
  const parts: Uint8Array[] = [encoder.encode(`*${args.length}\r\n`)];
  for (const a of args) {
    const b = typeof a === "string" ? encoder.encode(a) : a;
    parts.push(encoder.encode(`$${b.length}\r\n`), b, encoder.encode("\r\n"));
  }
  let total = 0;
  for (const p of parts) total += p.length;
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Sleeps `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
