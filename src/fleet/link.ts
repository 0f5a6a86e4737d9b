/**
 * Pieces both ends of an uplink use: an ordered frame sender (paced by the edge's rate limit,
 * counting wire bytes), reading a frame held in memory (a cut frame completed by RESUME_DATA),
 * and small helpers.
 *
 * @module
 */

import type { Frame } from "../replication/frame.ts";
import { type FramePolicy, FrameReader } from "../replication/frame_reader.ts";
import type { RateLimiter } from "./pacer.ts";

/** `host:port` of a connection's peer. */
export function addrString(addr: Deno.Addr): string {
  return addr.transport === "tcp" ? `${addr.hostname}:${addr.port}` : addr.transport;
}

/** An error's message. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Writes encoded frames to a connection in order, through a rate limiter when given, a slice
 * at a time. A failed write closes the connection (the reader then ends the session).
 */
export class FrameSender {
  readonly #conn: Deno.Conn;
  readonly #limiter: RateLimiter | undefined;
  readonly #onWritten: ((bytes: number) => void) | undefined;
  #chain: Promise<void> = Promise.resolve();
  #broken = false;
  #queuedBytes = 0;
  /** When the last frame was queued (heartbeats go out after a quiet interval). */
  lastQueuedMs = Date.now();

  constructor(
    conn: Deno.Conn,
    options: { limiter?: RateLimiter; onWritten?: (bytes: number) => void } = {},
  ) {
    this.#conn = conn;
    this.#limiter = options.limiter;
    this.#onWritten = options.onWritten;
  }

  /** Bytes queued and not yet written. */
  get queuedBytes(): number {
    return this.#queuedBytes;
  }

  /** Queues `bytes`; resolves once they are written (or the link broke). */
  send(bytes: Uint8Array): Promise<void> {
    this.lastQueuedMs = Date.now();
    this.#queuedBytes += bytes.length;
    this.#chain = this.#chain.then(async () => {
      try {
        if (this.#broken) return;
        const slice = this.#limiter?.sliceBytes ?? bytes.length;
        let off = 0;
        while (off < bytes.length && !this.#broken) {
          const end = Math.min(bytes.length, off + slice);
          if (this.#limiter !== undefined) await this.#limiter.take(end - off);
          while (off < end) {
            const n = await this.#conn.write(bytes.subarray(off, end));
            off += n;
            this.#onWritten?.(n);
          }
        }
      } finally {
        this.#queuedBytes -= bytes.length;
      }
    }).catch(() => {
      this.#broken = true;
      try {
        this.#conn.close();
      } catch {
        // Already closed.
      }
    });
    return this.#chain;
  }

  /** Resolves when everything queued so far is written. */
  drained(): Promise<void> {
    return this.#chain;
  }

  /** Stops writing (queued frames are dropped). */
  stop(): void {
    this.#broken = true;
  }
}

/** Reads one whole frame from `bytes` under `policy` (every check a socket read makes). */
export async function frameFromBytes(bytes: Uint8Array, policy: FramePolicy): Promise<Frame> {
  let at = 0;
  const conn = {
    read(buf: Uint8Array): Promise<number | null> {
      if (at >= bytes.length) return Promise.resolve(null);
      const n = Math.min(buf.length, bytes.length - at);
      buf.set(bytes.subarray(at, at + n));
      at += n;
      return Promise.resolve(n);
    },
  } as unknown as Deno.Conn;
  const reader = new FrameReader(conn, policy);
  const frame = await reader.next();
  if (frame === undefined || frame.wireBytes !== bytes.length) {
    throw new Error("frame bytes do not hold exactly one frame");
  }
  return frame;
}
