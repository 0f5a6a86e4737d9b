/**
 * Test helpers for comparing with the real thing: a Debian `redis-server` (7.0) on a free
 * port, a raw exchange of inline commands that ends with QUIT, and redis-py runs through
 * `/usr/bin/python3` (the pyenv `python3` on PATH has no redis module).
 *
 * @module
 */

import { freePort } from "../_helpers/net.ts";
import { runChild, spawnChild } from "../_helpers/child.ts";

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** A running `redis-server`. */
export interface RedisServer {
  port: number;
  stop(): Promise<void>;
}

/** Starts `redis-server` with no persistence on a free port and waits until it answers. */
export async function startRedisServer(extra: string[] = []): Promise<RedisServer> {
  const port = freePort();
  const child = spawnChild(
    "redis-server",
    ["--port", String(port), "--save", "", "--appendonly", "no", ...extra],
    { stdout: "null", stderr: "null" },
  );
  const deadline = Date.now() + 60_000;
  while (true) {
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      conn.close();
      break;
    } catch (err) {
      if (Date.now() > deadline) {
        await child.kill("SIGKILL");
        throw new Error(`redis-server did not start on port ${port}: ${err}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return {
    port,
    async stop() {
      await child.kill("SIGKILL");
    },
  };
}

/**
 * Sends `lines` (inline commands) and a final QUIT on a fresh connection and returns every
 * reply byte up to the close, as text.
 */
export async function exchangeLines(port: number, lines: string[]): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const bytes = encoder.encode([...lines, "QUIT"].map((l) => l + "\r\n").join(""));
    let off = 0;
    while (off < bytes.length) off += await conn.write(bytes.subarray(off));
    let text = "";
    const buf = new Uint8Array(65536);
    const timer = setTimeout(() => conn.close(), 10_000);
    try {
      while (true) {
        const n = await conn.read(buf);
        if (n === null) break;
        text += decoder.decode(buf.subarray(0, n));
      }
    } catch {
      // Closed by the timer.
    } finally {
      clearTimeout(timer);
    }
    return text;
  } finally {
    try {
      conn.close();
    } catch {
      // Already closed.
    }
  }
}

/** Runs `script` with redis-py (`/usr/bin/python3`), `args` as sys.argv[1:]; returns stdout. */
export async function runRedisPy(script: string, args: string[]): Promise<string> {
  const out = await runChild("/usr/bin/python3", ["-c", script, ...args]);
  if (out.code !== 0) {
    throw new Error(`redis-py script failed (${out.code}):\n${out.stderr}`);
  }
  return out.stdout;
}
