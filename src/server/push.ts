/**
 * Out-of-band output: pub/sub messages and MONITOR lines that reach a client while it is not
 * running a command of its own. ARCHITECTURE.md § "Pub/sub" (delivery and ordering) and
 * § "Pub/sub limits".
 *
 * A message is encoded once per protocol version and the same bytes are queued, by reference, on
 * every receiving client's `PushQueue`; the connection writes a queue out (`connection.ts`) when
 * the client is idle, or folds it into its replies at the next command boundary when it is busy,
 * so a client always sees messages and replies in the order they happened.
 *
 * Invariants:
 * - `PushQueue.bytes` is the sum of the queued chunks' lengths.
 * - Queued chunks are never mutated (they are shared between clients).
 *
 * @module
 */

import type { RespVersion } from "./resp_writer.ts";

const encoder = new TextEncoder();

/** The pushes waiting for one client's socket. */
export class PushQueue {
  #chunks: Uint8Array[] = [];
  /** Index of the oldest chunk still queued (taken ones before it are dropped lazily). */
  #head = 0;
  #bytes = 0;

  /** Bytes queued. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Chunks queued. */
  get length(): number {
    return this.#chunks.length - this.#head;
  }

  /** Queues `bytes` (kept by reference: the caller must not change them). */
  add(bytes: Uint8Array): void {
    this.#chunks.push(bytes);
    this.#bytes += bytes.length;
  }

  /** Everything queued, in order, and empties the queue. */
  take(): Uint8Array[] {
    const chunks = this.#head === 0 ? this.#chunks : this.#chunks.slice(this.#head);
    this.#chunks = [];
    this.#head = 0;
    this.#bytes = 0;
    return chunks;
  }

  /**
   * The oldest chunks, in order, up to about `bytes` (at least one chunk), removed from the
   * queue: a writer copies at most that much into one buffer at a time.
   */
  takeUpTo(bytes: number): Uint8Array[] {
    const taken: Uint8Array[] = [];
    let size = 0;
    const chunks = this.#chunks;
    while (this.#head < chunks.length) {
      const c = chunks[this.#head]!;
      if (taken.length > 0 && size + c.length > bytes) break;
      taken.push(c);
      size += c.length;
      chunks[this.#head++] = EMPTY;
    }
    this.#bytes -= size;
    // Drop the taken slots once they are most of the array (amortised O(1) per chunk).
    if (this.#head === chunks.length) this.take();
    else if (this.#head > 1024 && this.#head * 2 > chunks.length) {
      this.#chunks = chunks.slice(this.#head);
      this.#head = 0;
    }
    return taken;
  }

  /** Drops everything queued (the client is closing). */
  clear(): void {
    this.#chunks = [];
    this.#head = 0;
    this.#bytes = 0;
  }
}

const EMPTY = new Uint8Array(0);

/** Writes the ASCII string `s` at `at`; returns the position after it. */
function ascii(out: Uint8Array, at: number, s: string): number {
  for (let i = 0; i < s.length; i++) out[at++] = s.charCodeAt(i);
  return at;
}

/**
 * A push frame of bulk strings: `*n` (RESP2) or `>n` (RESP3) then each part as `$len\r\n...\r\n`;
 * a trailing integer when `count` is given (subscribe confirmations). One allocation, no
 * encoder: every header is ASCII.
 */
export function pushFrame(
  protocol: RespVersion,
  parts: readonly Uint8Array[],
  count?: number,
): Uint8Array {
  const n = parts.length + (count === undefined ? 0 : 1);
  const head = `${protocol === 3 ? ">" : "*"}${n}\r\n`;
  const tail = count === undefined ? "" : `:${count}\r\n`;
  let total = head.length + tail.length;
  for (const p of parts) total += 1 + String(p.length).length + 2 + p.length + 2;
  const out = new Uint8Array(total);
  let at = ascii(out, 0, head);
  for (const p of parts) {
    at = ascii(out, at, `$${p.length}\r\n`);
    out.set(p, at);
    at += p.length;
    out[at++] = 13;
    out[at++] = 10;
  }
  ascii(out, at, tail);
  return out;
}

/**
 * One published message, encoded lazily once per protocol version and then shared by every
 * receiver of that version.
 */
export class MessageFrames {
  #resp2: Uint8Array | undefined;
  #resp3: Uint8Array | undefined;

  /** A message whose frame is `parts` as bulk strings (`message`, channel, payload ...). */
  constructor(readonly parts: readonly Uint8Array[]) {}

  /** The frame for a client speaking `protocol`. */
  frame(protocol: RespVersion): Uint8Array {
    if (protocol === 3) return this.#resp3 ??= pushFrame(3, this.parts);
    return this.#resp2 ??= pushFrame(2, this.parts);
  }
}

/** Well-known push kinds, pre-encoded. */
export const PUSH_KIND = {
  message: encoder.encode("message"),
  pmessage: encoder.encode("pmessage"),
  smessage: encoder.encode("smessage"),
  subscribe: encoder.encode("subscribe"),
  psubscribe: encoder.encode("psubscribe"),
  ssubscribe: encoder.encode("ssubscribe"),
  unsubscribe: encoder.encode("unsubscribe"),
  punsubscribe: encoder.encode("punsubscribe"),
  sunsubscribe: encoder.encode("sunsubscribe"),
} as const;
