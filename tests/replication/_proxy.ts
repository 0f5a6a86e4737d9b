/**
 * A TCP proxy for replication tests: forwards 127.0.0.1:<port> to a target and, on demand,
 * cuts a connection after the leader has sent a chosen number of bytes (mid-frame).
 *
 * @module
 */

import type { Rng } from "../_helpers/random.ts";

/** A running proxy. */
export interface CuttingProxy {
  port: number;
  /** Connections accepted so far. */
  readonly connections: number;
  /** Connections the proxy cut. */
  readonly cuts: number;
  /** Stops cutting: later connections pass everything. */
  stopCutting(): void;
  close(): Promise<void>;
}

/** What happens to a connection after its byte budget: cut (closed) or stalled (held open). */
export type Fault = { afterBytes: number; mode: "cut" | "stall" };

/**
 * Which fault a new connection gets: called with the connection's index and the number of
 * cuts (and stalls) that happened so far.
 */
export type FaultPlan = (connection: number, cuts: number) => number | Fault | undefined;

/**
 * A plan of exactly `count` faults at random byte counts in [100, 6100), every fifth a stall.
 * Faults are counted by cuts that happened, not by connections: a connection that ends before
 * its fault (the replica's own idle timeout firing on a loaded machine, a refusal) does not
 * use one up, so `count` cuts always happen while the link keeps reconnecting.
 */
export function cutsAndStalls(count: number, rng: Rng): FaultPlan {
  return (_connection, cuts) =>
    cuts < count
      ? { afterBytes: 100 + rng.int(6000), mode: cuts % 5 === 4 ? "stall" : "cut" }
      : undefined;
}

/**
 * Starts a proxy to `targetPort`; `cutAfter(n, cuts)` gives, for connection n, the
 * leader→replica byte count after which the link is cut (a number, or a `Fault` that may
 * stall it instead: nothing more is forwarded but the sockets stay open), or undefined for
 * never.
 */
export function startCuttingProxy(
  targetPort: number,
  cutAfter: FaultPlan,
): CuttingProxy {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let connections = 0;
  let cuts = 0;
  let cutting = true;
  const open = new Set<Deno.Conn>();
  const pipes = new Set<Promise<void>>();
  const closeBoth = (a: Deno.Conn, b: Deno.Conn) => {
    for (const c of [a, b]) {
      try {
        c.close();
      } catch {
        // Already closed.
      }
      open.delete(c);
    }
  };
  const stalls: (() => void)[] = [];
  const pipe = async (
    from: Deno.Conn,
    to: Deno.Conn,
    fault: Fault | undefined,
    peer: Deno.Conn,
    closed: Promise<void>,
  ) => {
    const limit = fault?.afterBytes;
    const buf = new Uint8Array(16 * 1024);
    let sent = 0;
    try {
      while (true) {
        const n = await from.read(buf);
        if (n === null) break;
        let chunk = buf.subarray(0, n);
        if (limit !== undefined && cutting && sent + n > limit) {
          chunk = chunk.subarray(0, limit - sent);
          let off = 0;
          while (off < chunk.length) off += await to.write(chunk.subarray(off));
          cuts++;
          if (fault!.mode === "stall") {
            // Hold the link open and silent until the replica's idle timeout drops it.
            // (The other direction keeps forwarding; it ends when the replica hangs up.)
            await Promise.race([closed, new Promise<void>((resolve) => stalls.push(resolve))]);
          }
          break;
        }
        let off = 0;
        while (off < chunk.length) off += await to.write(chunk.subarray(off));
        sent += n;
      }
    } catch {
      // Either side went away.
    }
    closeBoth(from, peer);
  };
  const accept = (async () => {
    for await (const conn of listener) {
      const n = connections++;
      let upstream: Deno.Conn;
      try {
        upstream = await Deno.connect({ hostname: "127.0.0.1", port: targetPort });
      } catch {
        conn.close();
        continue;
      }
      open.add(conn);
      open.add(upstream);
      const given = cutAfter(n, cuts);
      const fault: Fault | undefined = typeof given === "number"
        ? { afterBytes: given, mode: "cut" }
        : given;
      let release!: () => void;
      const closed = new Promise<void>((resolve) => release = resolve);
      const a = pipe(upstream, conn, fault, conn, closed);
      const b = pipe(conn, upstream, undefined, upstream, closed).finally(() => release());
      const both = Promise.all([a, b]).then(() => {});
      pipes.add(both);
      both.finally(() => pipes.delete(both));
    }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    get connections() {
      return connections;
    },
    get cuts() {
      return cuts;
    },
    stopCutting() {
      cutting = false;
    },
    async close() {
      listener.close();
      for (const release of stalls.splice(0)) release();
      await accept.catch(() => {});
      for (const c of [...open]) {
        try {
          c.close();
        } catch {
          // Already closed.
        }
      }
      await Promise.allSettled([...pipes]);
    },
  };
}
