/**
 * The accept loop shared by the RESP server and the replication leader, and the bounded
 * connect shared by the replica and the fleet uplink.
 *
 * @module
 */

import type { Logger } from "./log.ts";

/** Pause after a failed `accept` (e.g. out of file descriptors) before trying again. */
const ACCEPT_RETRY_DELAY_MS = 100;

/**
 * Accepts connections until `isClosing()` turns true or the listener closes, handing each to
 * `onConnection`. A failed `accept` is logged and retried after a short pause; a connection
 * accepted while closing is closed at once.
 */
export async function acceptLoop<C extends Deno.Conn>(
  listener: Deno.Listener<C>,
  options: {
    isClosing: () => boolean;
    logger: Logger;
    what: string;
    onConnection: (conn: C) => void;
  },
): Promise<void> {
  while (!options.isClosing()) {
    let conn: C;
    try {
      conn = await listener.accept();
    } catch (err) {
      if (options.isClosing()) break;
      options.logger("error", `${options.what} accept failed`, { error: String(err) });
      await new Promise((r) => setTimeout(r, ACCEPT_RETRY_DELAY_MS));
      continue;
    }
    if (options.isClosing()) {
      conn.close();
      break;
    }
    options.onConnection(conn);
  }
}

/** Where and how `dial` connects. */
export interface DialOptions {
  hostname: string;
  port: number;
  /** PEM CA certificate: connect with TLS and trust this CA. */
  tlsCaCert?: string;
  /** The attempt fails after this long (TCP handshake, and TLS handshake when TLS is used). */
  timeoutMs: number;
  /** Aborting it ends the attempt at once (the caller is closing). */
  signal?: AbortSignal;
}

/**
 * Connects within `timeoutMs`, with Nagle off. The operating system's own connect timeout is
 * about two minutes, and a peer behind a dropped route answers nothing at all: a link that
 * must retry on a bad network, or a process that must close promptly, cannot wait that long.
 * A connection that completes after the deadline is closed. Throws the connect error, or an
 * `Error` saying the deadline passed or the attempt was aborted.
 */
export async function dial(options: DialOptions): Promise<Deno.Conn> {
  const { hostname, port, timeoutMs } = options;
  const controller = new AbortController();
  const abort = () => controller.abort();
  options.signal?.addEventListener("abort", abort, { once: true });
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    controller.signal.addEventListener(
      "abort",
      () => reject(new Error("connection attempt aborted")),
      { once: true },
    );
  });
  deadline.catch(() => {});
  const attempt: Promise<Deno.Conn> = options.tlsCaCert !== undefined
    ? Deno.connectTls({ hostname, port, caCerts: [options.tlsCaCert] })
    : Deno.connect({ hostname, port, signal: controller.signal });
  try {
    if (options.signal?.aborted) abort();
    const conn = await Promise.race([attempt, deadline]);
    if ("setNoDelay" in conn) {
      try {
        (conn as Deno.TcpConn).setNoDelay(true);
      } catch {
        // Not every platform supports it; it only affects latency.
      }
    }
    return conn;
  } catch (err) {
    abort();
    attempt.then((c) => c.close(), () => {});
    throw err;
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener("abort", abort);
  }
}
