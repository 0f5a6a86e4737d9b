/**
 * The HTTP/1.1 front that replaced `Deno.serve`: it accepts TCP (or TLS) connections itself so
 * it can cap them, put absolute deadlines on heads, bodies, idle keep-alive and writes, refuse
 * HTTP/2 and odd framing, and charge bodies to a global budget. `Deno.serve` offers none of
 * these (Deno 2.9.6: no header or idle timeout, no connection cap; a slowloris connection stays
 * open forever). ARCHITECTURE.md § "HTTP API" explains the choice and its cost.
 *
 * @module
 */

import { HTTP_RETRY_AFTER_S } from "../limits.ts";
import type { Logger } from "../util/log.ts";
import { acceptLoop } from "../util/net.ts";
import type { BodyBudget } from "./_budget.ts";
import type { IncomingRequest } from "./_h1_body.ts";
import { type AccessEntry, H1Connection, type Phase } from "./_h1_conn.ts";
import { cannedResponse } from "./_h1_write.ts";

/** Options of `serveH1`. */
export interface H1ServerOptions {
  hostname: string;
  port: number;
  tls?: { cert: string; key: string } | undefined;
  headerTimeoutMs: number;
  bodyTimeoutMs: number;
  idleTimeoutMs: number;
  writeTimeoutMs: number;
  connectionsMax: number;
  budget: BodyBudget;
  logger: Logger;
  /** Answers a request; must not throw. */
  handler(req: IncomingRequest): Promise<Response>;
  /** Called once per request after its response was written (or failed). */
  onDone(entry: AccessEntry): void;
}

/** A running front. */
export interface H1Server {
  /** The bound address. */
  readonly addr: Deno.NetAddr;
  /** Resolves once the server stopped and every connection closed. */
  readonly finished: Promise<void>;
  /** Open connections now. */
  connections(): number;
  /** Connections refused because `connectionsMax` were open. */
  refusedConnections(): number;
  /** Connections closed by a deadline, by phase. */
  timeouts(): Record<string, number>;
  /** Stops accepting, closes connections waiting for a client, lets in-flight requests finish. */
  shutdown(): Promise<void>;
}

/** Deadlines are checked this often at most (and at least 5 times per shortest timeout). */
const SWEEP_INTERVAL_MS_MAX = 250;
const SWEEP_INTERVAL_MS_MIN = 10;
/** A refused connection gets this long to take its 503 before it is closed regardless. */
const REFUSE_WRITE_MS = 1000;

/** Listens on `options.hostname:options.port` and serves HTTP/1.1 until `shutdown()`. */
export function serveH1(options: H1ServerOptions): H1Server {
  const listener: Deno.Listener = options.tls === undefined
    ? Deno.listen({ hostname: options.hostname, port: options.port })
    : Deno.listenTls({
      hostname: options.hostname,
      port: options.port,
      cert: options.tls.cert,
      key: options.tls.key,
      alpnProtocols: ["http/1.1"],
    });
  const open = new Set<H1Connection>();
  const running = new Set<Promise<void>>();
  let closing = false;
  let refused = 0;
  const full = cannedResponse(
    503,
    `Server busy: ${options.connectionsMax} HTTP connections open; retry in ${HTTP_RETRY_AFTER_S} s`,
    { "retry-after": String(HTTP_RETRY_AFTER_S) },
  );
  const timeouts: Record<string, number> = {};
  const onTimeout = (phase: Phase, remote: string) => {
    timeouts[phase] = (timeouts[phase] ?? 0) + 1;
    options.logger("debug", "http connection timed out", { phase, remote });
  };
  const ctx = {
    headerTimeoutMs: options.headerTimeoutMs,
    bodyTimeoutMs: options.bodyTimeoutMs,
    idleTimeoutMs: options.idleTimeoutMs,
    writeTimeoutMs: options.writeTimeoutMs,
    budget: options.budget,
    handler: options.handler,
    onDone: options.onDone,
    onTimeout,
    stopping: () => closing,
  };
  const refuse = (conn: Deno.Conn) => {
    refused++;
    const timer = setTimeout(() => closeQuietly(conn), REFUSE_WRITE_MS);
    conn.write(full).catch(() => {}).finally(() => {
      clearTimeout(timer);
      closeQuietly(conn);
    });
  };
  const onConnection = (conn: Deno.Conn) => {
    if (open.size >= options.connectionsMax) return refuse(conn);
    if ("setNoDelay" in conn) (conn as Deno.TcpConn).setNoDelay(true);
    const c = new H1Connection(conn, ctx);
    open.add(c);
    const task = c.run().finally(() => {
      open.delete(c);
      running.delete(task);
    });
    running.add(task);
  };
  const sweepMs = Math.max(
    SWEEP_INTERVAL_MS_MIN,
    Math.min(
      SWEEP_INTERVAL_MS_MAX,
      Math.floor(
        Math.min(options.headerTimeoutMs, options.bodyTimeoutMs, options.idleTimeoutMs) / 5,
      ),
    ),
  );
  const sweep = setInterval(() => {
    const now = Date.now();
    for (const c of open) c.checkDeadline(now);
  }, sweepMs);
  Deno.unrefTimer(sweep);
  const accepting = acceptLoop(listener, {
    isClosing: () => closing,
    logger: options.logger,
    what: "http",
    onConnection,
  });
  let stopped: Promise<void> | undefined;
  let resolveFinished!: () => void;
  const finished = new Promise<void>((resolve) => resolveFinished = resolve);
  return {
    addr: listener.addr as Deno.NetAddr,
    finished,
    connections: () => open.size,
    refusedConnections: () => refused,
    timeouts: () => ({ ...timeouts }),
    shutdown(): Promise<void> {
      stopped ??= (async () => {
        closing = true;
        closeQuietly(listener);
        await accepting;
        for (const c of open) c.closeIfIdle();
        while (running.size > 0) await Promise.allSettled([...running]);
        clearInterval(sweep);
        resolveFinished();
      })();
      return stopped;
    },
  };
}

function closeQuietly(resource: { close(): void }): void {
  try {
    resource.close();
  } catch {
    // Already closed.
  }
}
