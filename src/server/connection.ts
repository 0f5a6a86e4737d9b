/**
 * One client connection: read -> parse -> dispatch -> hold replies until durable -> write.
 * ARCHITECTURE.md § "Pipelining and durability" and § "Output buffers and streaming".
 *
 * Backpressure: the loop runs nothing it read before the replies of what it read earlier were
 * written (the next read is started while they are written, `ConnectionOutput.send`), so a
 * client that does not read its replies stops being read past one read buffer; its pending
 * output is bounded by the hard limit and by the watchdog's drain timeout (see `ServerCore`).
 * The output side (durability waits, the socket lock, writes, pushes) is `_connection_output.ts`.
 *
 * Invariants:
 * - Commands of one connection run one at a time, in arrival order.
 * - Nothing is executed after QUIT, after a protocol error or past an output limit.
 * - `client.requestStartMs` is the arrival time of the first byte of the command still being
 *   received (0 when none), and is not moved by more bytes of that same command.
 *
 * @module
 */

import { ProtocolError } from "../errors.ts";
import { RESP_OUTPUT_FLUSH_BYTES } from "../limits.ts";
import { AssertionError } from "../util/assert.ts";
import type { Logger } from "../util/log.ts";
import type { Client } from "./context.ts";
import type { Context, Dispatcher } from "./dispatch.ts";
import type { ExclusiveGate } from "./gate.ts";
import type { ServerMetrics } from "./metrics.ts";
import { HttpOnRespPortError, RespParser } from "./resp.ts";
import type { PackedArgs } from "./resp_packed.ts";
import { BLOCKING_COMMANDS, registryFor } from "./commands/blocking_registry.ts";
import { OutputLimitError } from "./resp_writer.ts";
import { NO_ARGS, type Resume, silenceReply, sleep } from "./_connection_batch.ts";
import { readOp, ridOf } from "./_socket_ops.ts";
import { ConnectionOutput } from "./_connection_output.ts";

/** What a connection needs from the server. */
export interface ConnectionHost {
  /** Log sink. */
  readonly logger: Logger;
  /** Counters. */
  readonly metrics: ServerMetrics;
  /** The command dispatcher. */
  readonly dispatcher: Dispatcher;
  /** The transaction gate. */
  readonly gate: ExclusiveGate;
  /** Hard output limit in bytes (0 = none), read before every batch. */
  readonly outputHardLimitBytes: number;
  /** True once the server is closing. */
  readonly closing: boolean;
  /** Writes of any client in flight: replies that may show them wait for the newest. */
  readonly writesInFlight: number;
  /** Settles (never rejects) when the newest write of any client is durable or failed. */
  readonly lastWrite: Promise<void>;
  /** Connected clients by id (the blocked-client registry is found through it). */
  readonly clients: Map<number, Client>;
  /** Called when `client` authenticated (it no longer counts as unauthenticated). */
  onAuthenticated(client: Client): void;
  /** Called before each batch of commands (publishes `expired` events that are due). */
  beforeBatch(): void;
}

/** Serves one accepted connection until it closes; resolves with the reason. */
export class Connection {
  readonly #host: ConnectionHost;
  readonly #conn: Deno.Conn;
  readonly #ctx: Context;
  readonly #parser = new RespParser();
  /** The socket's resource id for the read op, -1 to read through `conn.read` (_socket_read.ts). */
  readonly #rid: number;
  /** Replies and pushed messages on their way to the socket. */
  readonly #output: ConnectionOutput;

  /** A connection over `conn` running commands in `ctx`. */
  constructor(host: ConnectionHost, conn: Deno.Conn, ctx: Context) {
    this.#host = host;
    this.#conn = conn;
    this.#rid = ridOf(conn);
    this.#ctx = ctx;
    this.#parser.restricted = !ctx.client.authenticated;
    this.#parser.packTsMadd = true;
    const output = new ConnectionOutput(host, conn, this.#rid, ctx, this.#parser);
    this.#output = output;
    ctx.client.onPush = () => output.schedulePush();
  }

  /** A read started while the client was blocked (BLPOP...), not consumed yet. */
  #sideRead: Promise<Uint8Array | null> | undefined;
  /** Bytes read while blocked, parsed once the batch in progress is done. */
  #stash: Uint8Array[] = [];
  /** The peer closed while blocked. */
  #peerGone = false;

  /** Bytes of buffer memory the connection holds now (parser and reply buffer). */
  get bufferBytes(): number {
    return this.#parser.bufferBytes + this.#ctx.out.bufferBytes;
  }

  /** Reads and runs commands until the client leaves or must be closed. */
  async run(): Promise<string> {
    const host = this.#host;
    const parser = this.#parser;
    const output = this.#output;
    const client = this.#ctx.client;
    let reason = "client closed";
    while (!host.closing) {
      const wasEmpty = parser.bufferedBytes === 0;
      let n: number | null;
      let readFailed = false;
      try {
        if (this.#stash.length > 0 || this.#sideRead !== undefined || this.#peerGone) {
          n = await this.#takeStash();
        } else if (this.#rid >= 0) {
          // The read op answers 0 at the end of the stream, where `conn.read` answers null.
          const got = await readOp!(this.#rid, parser.writable());
          n = got === 0 ? null : got;
        } else n = await this.#conn.read(parser.writable());
      } catch {
        n = null;
        readFailed = true;
      }
      // The last replies may still be on their way out (`ConnectionOutput.send`): nothing more
      // runs, and the reply buffer is not written again, before they are.
      if (output.sending) await output.sent();
      if (output.sendError !== undefined) {
        reason = output.sendError;
        break;
      }
      if (readFailed) {
        reason = "connection reset";
        break;
      }
      if (n === null) break;
      const nowMs = Date.now();
      parser.commit(n);
      host.metrics.netInputBytes += n;
      const parsedBefore = parser.commandsParsed;
      client.busy = true;
      let keepOpen = true;
      try {
        const resume = this.#runSync();
        if (resume !== undefined) keepOpen = await this.#runBatch(resume);
        else {
          // The common case, inline so that a command costs one suspended frame (this one):
          // the replies wait for durability, then go out in one write.
          const wait = output.durableWait();
          if (wait !== undefined) await wait;
          let pendingWait = output.pendingWait();
          while (pendingWait !== undefined) {
            await pendingWait;
            pendingWait = output.pendingWait();
          }
          if (output.hasOutput()) {
            const turn = output.takeSocket();
            if (turn !== undefined) await turn;
            const chunks = output.takeOutput();
            // The batch's arrival time serves as the write's start (one clock read saved per
            // command): earlier by the batch's run and durability wait, milliseconds against
            // a drain timeout of seconds.
            if (chunks.length === 1) {
              // One run of bytes (the common case): written while the next read starts.
              output.beginWrite(chunks, nowMs);
              output.send(chunks[0]!);
            } else {
              try {
                await output.write(chunks, nowMs);
              } finally {
                output.unlockSocket();
              }
            }
          } else this.#ctx.pending.length = 0;
        }
      } catch (err) {
        if (err instanceof AssertionError) throw err;
        if (err instanceof OutputLimitError) {
          // The replies are dropped and the client closed, as Redis does at its hard limit.
          reason = "output buffer hard limit";
          host.metrics.outputLimitDisconnections++;
          host.logger("warn", "closing client: output buffer limit reached", {
            client: client.id,
            addr: client.addr,
            pending_bytes: err.pendingBytes,
            limit_bytes: err.limitBytes,
          });
        } else reason = `write failed: ${err instanceof Error ? err.message : String(err)}`;
        keepOpen = false;
      } finally {
        client.busy = false;
      }
      // Messages queued while the last replies were being written go out now.
      if (client.pushQueue !== undefined && client.pushQueue.length > 0) output.schedulePush();
      if (!keepOpen) {
        if (reason === "client closed") reason = client.closeAfterReply ? "quit" : "protocol error";
        break;
      }
      // The request deadline runs from the first byte of an unfinished command; more bytes of
      // the same command do not move it (a trickle cannot keep a connection forever).
      if (parser.bufferedBytes === 0) client.requestStartMs = 0;
      else if (wasEmpty || parser.commandsParsed !== parsedBefore) client.requestStartMs = nowMs;
      if (parser.commandsParsed !== parsedBefore) client.lastInteractionMs = nowMs;
      // Between reads only the next read's buffer is held: an idle connection costs little.
      parser.release();
      // While replies are on their way out, their buffer is released once they are out.
      if (parser.bufferedBytes === 0 && !output.sending) this.#ctx.out.release();
    }
    if (output.sending) await output.sent();
    if (host.closing && reason === "client closed") reason = "server shutdown";
    return client.closeReason ?? reason;
  }

  /**
   * Waits for a blocking command while reading the socket, so a client that leaves while
   * blocked is noticed (its wait ends and nothing is popped for it); bytes that arrive are kept
   * for after the command, in order.
   */
  async #awaitBlocked(running: Promise<void>): Promise<void> {
    let finished = false;
    const done = running.finally(() => {
      finished = true;
    });
    while (!finished) {
      this.#sideRead ??= this.#readSide();
      const side = this.#sideRead;
      const which = await Promise.race([done.then(() => 0), side.then(() => 1)]);
      if (which === 0) break;
      const got = await side;
      this.#sideRead = undefined;
      if (got === null) {
        this.#peerGone = true;
        registryFor(this.#host.clients)?.dropClient(this.#ctx.client);
        break;
      }
      this.#stash.push(got);
    }
    await done;
  }

  async #readSide(): Promise<Uint8Array | null> {
    const buf = new Uint8Array(16 * 1024);
    try {
      const n = await this.#conn.read(buf);
      return n === null ? null : buf.slice(0, n);
    } catch {
      return null;
    }
  }

  /** Hands bytes read while blocked to the parser (0 bytes of `writable()` to commit). */
  async #takeStash(): Promise<number | null> {
    if (this.#stash.length === 0 && this.#sideRead !== undefined) {
      const got = await this.#sideRead;
      this.#sideRead = undefined;
      if (got === null) this.#peerGone = true;
      else this.#stash.push(got);
    }
    if (this.#stash.length === 0 && this.#peerGone) return null;
    for (const chunk of this.#stash) this.#parser.push(chunk);
    this.#stash = [];
    this.#parser.writable();
    return 0;
  }

  /**
   * Runs the complete commands in the parser for as long as each one runs synchronously (the
   * common case): `undefined` when the batch is done and only its replies remain to be sent,
   * else where the asynchronous loop (`#runBatch`) must take over.
   */
  #runSync(): Resume | undefined {
    const host = this.#host;
    const ctx = this.#ctx;
    const { client, out } = ctx;
    const parser = this.#parser;
    out.limitBytes = host.outputHardLimitBytes > 0 ? host.outputHardLimitBytes : Infinity;
    host.beforeBatch();
    while (true) {
      let args: Uint8Array[] | PackedArgs | undefined;
      try {
        args = parser.take();
      } catch (err) {
        if (!(err instanceof ProtocolError)) throw err;
        return { kind: "protocol", error: err };
      }
      if (args === undefined) return undefined;
      if (
        host.dispatcher.pauseFor(ctx, args) !== undefined || host.gate.waitFor(client) !== undefined
      ) return { kind: "held", args };
      const started = this.#start(args);
      if (started !== undefined) return started;
      const next = this.#afterCommand();
      if (next !== undefined) return next;
    }
  }

  /** The reply offset and authentication of the command being run (see `#start`). */
  #replyStart = 0;
  #wasAuthenticated = false;

  /**
   * Starts `args` (pause and gate already passed): `undefined` when it finished synchronously,
   * else the command still running, for the asynchronous loop to await.
   */
  #start(args: Uint8Array[] | PackedArgs): Resume | undefined {
    const host = this.#host;
    const { client, out } = this.#ctx;
    // Messages that arrived while this batch waited come before the next reply.
    if (client.pushQueue !== undefined && client.pushQueue.length > 0) {
      for (const chunk of client.pushQueue.take()) out.raw(chunk);
    }
    this.#wasAuthenticated = client.authenticated;
    this.#replyStart = out.length;
    const running = host.dispatcher.execute(this.#ctx, args);
    if (running === undefined) return undefined;
    const name = client.lastCommand;
    // WAIT only waits for replicas and EXEC holds the gate itself: neither blocks a
    // transaction from starting. Nor do blocked clients (BLPOP...): they wait for other
    // clients' writes.
    if (name === "wait" || name === "exec") return { kind: "running", running, wait: "plain" };
    if (BLOCKING_COMMANDS.has(name)) return { kind: "running", running, wait: "blocked" };
    host.gate.begin();
    return { kind: "running", running, wait: "gate" };
  }

  /**
   * What follows a finished command: `undefined` to go on with the next one, else what the
   * asynchronous loop must do first (flush a large output, delay a failed AUTH, close).
   */
  #afterCommand(): Resume | undefined {
    const host = this.#host;
    const ctx = this.#ctx;
    const { client, out } = ctx;
    // The command's arguments die here, not when the next command replaces them: a batch
    // of writes waits for its group commit with every connection's last command held.
    ctx.args = NO_ARGS;
    if (client.replyOff || client.replySkip) silenceReply(client, out, this.#replyStart);
    client.replySkip = client.replySkipNext;
    client.replySkipNext = false;
    if (client.authenticated !== this.#wasAuthenticated) {
      this.#parser.restricted = !client.authenticated;
      if (client.authenticated) host.onAuthenticated(client);
    }
    if (client.replyDelayMs > 0) {
      // A failed AUTH: nothing more of this connection runs until the delay has passed.
      const delayMs = client.replyDelayMs;
      client.replyDelayMs = 0;
      return { kind: "delay", delayMs };
    }
    if (client.closeAfterReply) return { kind: "close" };
    if (out.length >= RESP_OUTPUT_FLUSH_BYTES) return { kind: "flush" };
    return undefined;
  }

  /**
   * Goes on with the batch where `#runSync` stopped (`resume`), awaiting what must be awaited;
   * false when the connection must close.
   */
  async #runBatch(resume: Resume): Promise<boolean> {
    const host = this.#host;
    const ctx = this.#ctx;
    const client = ctx.client;
    const parser = this.#parser;
    const output = this.#output;
    let step: Resume | undefined = resume;
    while (true) {
      let args: Uint8Array[] | PackedArgs | undefined;
      if (step !== undefined) {
        switch (step.kind) {
          case "protocol":
            await this.#protocolError(step.error);
            return false;
          case "close":
            await output.flush();
            return false;
          case "delay":
            await sleep(step.delayMs);
            await output.flush();
            // The failure that closes the connection is delayed too.
            if (client.closeAfterReply) return false;
            break;
          case "flush":
            await output.flush();
            break;
          case "running": {
            const { running, wait } = step;
            if (wait === "plain") await running;
            else if (wait === "blocked") await this.#awaitBlocked(running);
            else {
              try {
                await running;
              } finally {
                host.gate.end();
              }
            }
            step = this.#afterCommand();
            continue;
          }
          case "held":
            args = step.args;
            break;
        }
        step = undefined;
      }
      if (args === undefined) {
        try {
          args = parser.take();
        } catch (err) {
          if (!(err instanceof ProtocolError)) throw err;
          step = { kind: "protocol", error: err };
          continue;
        }
      }
      if (args === undefined) break;
      let paused = host.dispatcher.pauseFor(ctx, args);
      while (paused !== undefined) {
        // Replies so far go out first; messages may reach the client while it waits.
        await output.flush();
        // Nothing more is read while held: no request deadline runs against a paused client.
        client.requestStartMs = 0;
        output.paused = true;
        output.schedulePush();
        const release = host.dispatcher.holdForPause();
        try {
          await paused;
        } finally {
          release();
          output.paused = false;
        }
        paused = host.dispatcher.pauseFor(ctx, args);
      }
      let wait = host.gate.waitFor(client);
      while (wait !== undefined) {
        await wait;
        wait = host.gate.waitFor(client);
      }
      step = this.#start(args) ?? this.#afterCommand();
    }
    await output.flush();
    return true;
  }

  async #protocolError(err: ProtocolError): Promise<void> {
    const host = this.#host;
    const client = this.#ctx.client;
    if (err instanceof HttpOnRespPortError) {
      host.logger(
        "warn",
        "Possible SECURITY ATTACK detected: HTTP request on the RESP port, closing connection",
        { client: client.id, addr: client.addr },
      );
      await this.#output.flush();
      return;
    }
    host.metrics.protocolErrors++;
    if (err.message.includes("query buffer limit")) host.metrics.queryLimitDisconnections++;
    host.logger("info", "protocol error, closing connection", {
      client: client.id,
      addr: client.addr,
      error: err.message,
    });
    this.#ctx.out.error(`ERR ${err.message}`);
    await this.#output.flush();
  }
}
