/**
 * The cutting proxy of the replication tests: its fault plan delivers every fault it promises
 * even when connections end before their fault (on a loaded machine a replica's idle timeout
 * can fire on a healthy link).
 */

import { assertEquals } from "@std/assert";
import { Rng } from "../_helpers/random.ts";
import { cutsAndStalls, startCuttingProxy } from "./_proxy.ts";

/** A server that, once a connection sent it a byte, sends bytes to it until it is closed. */
function startFirehose(): { port: number; close(): Promise<void> } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns = new Set<Deno.Conn>();
  const accept = (async () => {
    for await (const conn of listener) {
      conns.add(conn);
      (async () => {
        const chunk = new Uint8Array(512).fill(7);
        try {
          if (await conn.read(new Uint8Array(1)) === null) throw new Error("Hung up");
          while (true) await conn.write(chunk);
        } catch {
          // The proxy hung up.
        }
        conns.delete(conn);
        try {
          conn.close();
        } catch {
          // Already closed.
        }
      })();
    }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    async close() {
      listener.close();
      await accept.catch(() => {});
      for (const c of conns) {
        try {
          c.close();
        } catch {
          // Already closed.
        }
      }
    },
  };
}

/**
 * Reads until the proxy ends the connection, `idleMs` pass without bytes (a stall), or
 * `bytesMax` bytes came (a connection without a fault).
 */
async function drain(conn: Deno.Conn, idleMs: number, bytesMax: number): Promise<void> {
  const buf = new Uint8Array(4096);
  let got = 0;
  try {
    while (got < bytesMax) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const idle = new Promise<"idle">((r) => timer = setTimeout(() => r("idle"), idleMs));
      const n = await Promise.race([conn.read(buf), idle]);
      clearTimeout(timer);
      if (n === null || n === "idle") return;
      got += n;
    }
  } catch {
    // Cut.
  } finally {
    try {
      conn.close();
    } catch {
      // Already closed.
    }
  }
}

Deno.test("Replication proxy: connections that end before their fault do not use up the fault plan", async () => {
  const COUNT = 7;
  const server = startFirehose();
  const proxy = startCuttingProxy(server.port, cutsAndStalls(COUNT, new Rng(1)));
  try {
    // Every other connection hangs up before any byte flows, so its fault never fires (as a
    // replica's connection does when its idle timeout fires on a loaded machine).
    for (let i = 0; i < 4 * COUNT && proxy.cuts < COUNT; i++) {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: proxy.port });
      if (i % 2 === 0) {
        conn.close();
        // Let the proxy notice the hang-up before the next connection is accepted.
        await new Promise((r) => setTimeout(r, 50));
        continue;
      }
      await conn.write(new Uint8Array([1]));
      await drain(conn, 500, 64 * 1024);
    }
    assertEquals(proxy.cuts, COUNT);
  } finally {
    await proxy.close();
    await server.close();
  }
});
