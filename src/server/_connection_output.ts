/**
 * The output side of a client connection (`connection.ts`): when replies may go out (after the
 * writes they show are durable), the socket taken by one writer at a time (replies and pushed
 * messages never interleave), the writes and their pending-output accounting, and pushed
 * messages written while the client is idle. Private to `src/server/`.
 * ARCHITECTURE.md § "Pipelining and durability" and § "Output buffers and streaming".
 *
 * Invariants:
 * - One writer holds the socket at a time; others wait in the order they asked.
 * - A batch's replies handed to `send` are written before the read loop runs anything it read
 *   after them (`sending`/`sent`), and the reply buffer they view is not written again or
 *   given back to the pool before they are out.
 *
 * @module
 */

import { RESP_OUTPUT_FLUSH_BYTES } from "../limits.ts";
import type { ConnectionHost } from "./connection.ts";
import type { Context } from "./dispatch.ts";
import type { RespParser } from "./resp.ts";
import { concatChunks } from "./resp_writer.ts";
import { spliceFailures } from "./_connection_batch.ts";
import { writeOp } from "./_socket_ops.ts";

const EMPTY = new Uint8Array(0);

/** Writes one connection's replies and pushed messages. */
export class ConnectionOutput {
  readonly #host: ConnectionHost;
  readonly #conn: Deno.Conn;
  /** The socket's resource id for the write op, -1 to write through `conn.write`. */
  readonly #rid: number;
  readonly #ctx: Context;
  readonly #parser: RespParser;
  /** True while a writer holds the socket (replies and pushes take turns). */
  #socketBusy = false;
  #pushScheduled = false;
  /** True while the batch waits for a pause to end (pushes may be written meanwhile). */
  paused = false;

  /** The output of the connection over `conn` (resource id `rid`) running commands in `ctx`. */
  constructor(
    host: ConnectionHost,
    conn: Deno.Conn,
    rid: number,
    ctx: Context,
    parser: RespParser,
  ) {
    this.#host = host;
    this.#conn = conn;
    this.#rid = rid;
    this.#ctx = ctx;
    this.#parser = parser;
  }

  /** The replies being written by `send`, and how far. */
  #sendBytes: Uint8Array = EMPTY;
  #sendOff = 0;
  /** True from `send` until its bytes are written or the write failed. */
  sending = false;
  /** Why the last `send` failed (the connection closes), `undefined` when it did not. */
  sendError: string | undefined;
  /** Resolves the read loop's wait for `send` to finish. */
  #sentWaiter: (() => void) | undefined;

  /**
   * Writes `bytes` (one batch's replies, the socket held, `beginWrite` done) without the read
   * loop awaiting it: the loop starts its next read at once, and the write finishes in
   * callbacks, which give the socket and the reply buffer back. Awaiting each write in the loop
   * cost a second suspension of the loop per command and let the next read start only a turn
   * of the event loop later. The loop runs nothing more before the write is done (`sent`), so
   * replies are still written before anything read after them runs, and the reply buffer they
   * view is not reused meanwhile.
   */
  send(bytes: Uint8Array): void {
    this.#sendBytes = bytes;
    this.#sendOff = 0;
    this.sending = true;
    this.#writeSome(bytes);
  }

  #writeSome(bytes: Uint8Array): void {
    const wrote = this.#rid >= 0 ? writeOp!(this.#rid, bytes) : this.#conn.write(bytes);
    wrote.then(this.#onSent, this.#onSendFailed);
  }

  readonly #onSent = (n: number): void => {
    this.#sendOff += n;
    this.#ctx.client.outputPendingBytes -= n;
    this.#host.metrics.netOutputBytes += n;
    if (this.#sendOff < this.#sendBytes.length) {
      // A partial write (the socket's buffer is full): the rest goes next, in order.
      this.#writeSome(this.#sendBytes.subarray(this.#sendOff));
      return;
    }
    this.#sendDone();
  };

  readonly #onSendFailed = (err: unknown): void => {
    this.sendError = `write failed: ${err instanceof Error ? err.message : String(err)}`;
    this.#sendDone();
  };

  #sendDone(): void {
    this.#sendBytes = EMPTY;
    this.sending = false;
    this.endWrite();
    this.unlockSocket();
    // The read loop leaves this to the write while it is in flight (REQUIRES of `release`).
    if (!this.#ctx.client.busy && this.#parser.bufferedBytes === 0) this.#ctx.out.release();
    const waiter = this.#sentWaiter;
    if (waiter !== undefined) {
      this.#sentWaiter = undefined;
      waiter();
    }
  }

  /** Settles once the write `send` started is done or failed. REQUIRES: `sending`. */
  sent(): Promise<void> {
    return new Promise((resolve) => {
      this.#sentWaiter = resolve;
    });
  }

  /**
   * What to await before the replies so far may be sent, `undefined` when nothing: the newest
   * write of any client when one is in flight (a reply may show it), and nothing when there is
   * nothing to send.
   */
  durableWait(): Promise<void> | undefined {
    if (this.#host.writesInFlight === 0 || !this.hasOutput()) return undefined;
    return this.#host.lastWrite;
  }

  /** A group commit of this batch's writes not settled yet (await it, then ask again). */
  pendingWait(): Promise<void> | undefined {
    // Indexed loops here and below: an array iterator per command is garbage to collect.
    const pending = this.#ctx.pending;
    for (let i = 0; i < pending.length; i++) {
      const group = pending[i]!.group;
      if (!group.settled) return group.done;
    }
    return undefined;
  }

  /** True when replies or messages wait to be written. */
  hasOutput(): boolean {
    const { out, client } = this.#ctx;
    return out.length > 0 || (client.pushQueue?.length ?? 0) > 0;
  }

  /**
   * The output to write now (every write of the batch settled): the replies, those of failed
   * writes replaced by their errors, then the messages that arrived meanwhile.
   */
  takeOutput(): Uint8Array[] {
    const { out, pending, client } = this.#ctx;
    let failures: { start: number; end: number; message: string }[] | undefined;
    for (let i = 0; i < pending.length; i++) {
      const p = pending[i]!;
      const group = p.group;
      if (group.failed) {
        const error = group.error;
        (failures ??= []).push({
          start: p.start,
          end: p.end,
          message: `ERR ${error instanceof Error ? error.message : String(error)}`,
        });
      }
    }
    pending.length = 0;
    if (failures === undefined && (client.pushQueue?.length ?? 0) === 0) {
      // The common case: the replies are one run of the reply buffer, written as one view
      // from a reused one-element array (no array or view made per command).
      const one = out.takeOne();
      if (one !== undefined) {
        this.#one[0] = one;
        return this.#one;
      }
    }
    let chunks = out.take();
    if (failures !== undefined) chunks = [spliceFailures(concatChunks(chunks), failures)];
    // Messages that arrived during the wait for durability follow the replies, copied into
    // one buffer per 256 KiB at most.
    while (client.pushQueue !== undefined && client.pushQueue.length > 0) {
      chunks.push(concatChunks(client.pushQueue.takeUpTo(RESP_OUTPUT_FLUSH_BYTES)));
    }
    return chunks;
  }

  /** `takeOutput`'s reused answer for one chunk; emptied once written. */
  readonly #one: Uint8Array[] = [EMPTY];

  /** Waits until every reply in the output may be sent, then writes the output. */
  async flush(): Promise<void> {
    const wait = this.durableWait();
    if (wait !== undefined) await wait;
    let pendingWait = this.pendingWait();
    while (pendingWait !== undefined) {
      await pendingWait;
      pendingWait = this.pendingWait();
    }
    if (!this.hasOutput()) {
      this.#ctx.pending.length = 0;
      return;
    }
    const turn = this.takeSocket();
    if (turn !== undefined) await turn;
    try {
      await this.write(this.takeOutput());
    } finally {
      this.unlockSocket();
    }
  }

  /**
   * Takes the socket for one writer (pushes and replies never interleave): at once when it is
   * free (`undefined`, nothing allocated: the common case), else a promise that resolves once
   * this writer holds it (writers get it in the order they asked).
   */
  takeSocket(): Promise<void> | undefined {
    if (!this.#socketBusy) {
      this.#socketBusy = true;
      return undefined;
    }
    return new Promise((resolve) => this.#socketWaiters.push(resolve));
  }

  /** Writers waiting for the socket, oldest first. */
  readonly #socketWaiters: (() => void)[] = [];

  /** Gives the socket to the oldest waiting writer (it stays busy), or frees it. */
  unlockSocket(): void {
    const next = this.#socketWaiters.shift();
    if (next !== undefined) next();
    else this.#socketBusy = false;
  }

  /** Writes `chunks` to the socket, keeping the client's pending-output accounting. */
  async write(chunks: Uint8Array[], nowMs = Date.now()): Promise<void> {
    const client = this.#ctx.client;
    try {
      this.beginWrite(chunks, nowMs);
      for (let c = 0; c < chunks.length; c++) {
        const chunk = chunks[c]!;
        let off = 0;
        while (off < chunk.length) {
          const n = await this.#conn.write(off === 0 ? chunk : chunk.subarray(off));
          off += n;
          client.outputPendingBytes -= n;
          this.#host.metrics.netOutputBytes += n;
        }
      }
    } finally {
      this.endWrite();
    }
  }

  /** Starts the pending-output accounting of a write of `chunks` at `nowMs`; their bytes. */
  beginWrite(chunks: Uint8Array[], nowMs: number): number {
    const client = this.#ctx.client;
    let total = 0;
    for (let i = 0; i < chunks.length; i++) total += chunks[i]!.length;
    client.outputPendingBytes = total;
    client.outputPendingSinceMs = nowMs;
    return total;
  }

  /** Ends the pending-output accounting of a write. */
  endWrite(): void {
    this.#one[0] = EMPTY;
    const client = this.#ctx.client;
    client.outputPendingBytes = 0;
    client.outputPendingSinceMs = 0;
    if ((client.pushQueue?.bytes ?? 0) === 0) client.softLimitSinceMs = 0;
  }

  /** Something was queued for this client: write it out soon unless a batch will. */
  schedulePush(): void {
    if (this.#pushScheduled) return;
    this.#pushScheduled = true;
    // A microtask: every message published by the current run of commands goes in one write.
    queueMicrotask(() => {
      this.#pushScheduled = false;
      const client = this.#ctx.client;
      if ((client.busy && !this.paused) || client.closed) return;
      this.#pushLoop().catch((err) => {
        client.kill(`write failed: ${err instanceof Error ? err.message : String(err)}`);
      });
    });
  }

  /** Writes queued pushes while the client is idle (or paused). */
  async #pushLoop(): Promise<void> {
    const client = this.#ctx.client;
    const turn = this.takeSocket();
    if (turn !== undefined) await turn;
    try {
      while (
        client.pushQueue !== undefined && client.pushQueue.length > 0 && !client.closed &&
        (!client.busy || this.paused)
      ) {
        if (this.#host.writesInFlight > 0) {
          // A message may tell of a write that is not durable yet: wait, as replies do.
          await this.#host.lastWrite;
        }
        // A bounded slice at a time: the copy made for one write stays small.
        const chunks = client.pushQueue.takeUpTo(RESP_OUTPUT_FLUSH_BYTES);
        if (chunks.length === 0) break;
        await this.write([concatChunks(chunks)]);
      }
    } finally {
      this.unlockSocket();
    }
  }
}
