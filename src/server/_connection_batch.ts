/**
 * Pieces of the connection's batch loop (`connection.ts`): where the synchronous loop stopped,
 * the splice of failed writes' errors into the replies, CLIENT REPLY OFF/SKIP.
 *
 * @module
 */

import type { ProtocolError } from "../errors.ts";
import type { Client } from "./context.ts";
import type { PackedArgs } from "./resp_packed.ts";
import { concatChunks, RespWriter } from "./resp_writer.ts";

/** Waits `ms` without keeping the process alive. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => {
    const id = setTimeout(resolve, ms);
    // A delayed reply never keeps the process alive on its own.
    Deno.unrefTimer(id);
  });
}

/** Where the synchronous batch loop stopped, for the asynchronous one to go on from. */
export type Resume =
  /** A command held by a pause or the transaction gate, not started yet. */
  | { kind: "held"; args: Uint8Array[] | PackedArgs }
  /** A command whose handler returned a promise; `wait` says how it is awaited. */
  | { kind: "running"; running: Promise<void>; wait: "plain" | "blocked" | "gate" }
  /** The output passed `RESP_OUTPUT_FLUSH_BYTES`: write it before going on. */
  | { kind: "flush" }
  /** A failed AUTH: wait, write, go on. */
  | { kind: "delay"; delayMs: number }
  /** QUIT and the like: write, then close. */
  | { kind: "close" }
  /** Bad framing: reply with the error and close. */
  | { kind: "protocol"; error: ProtocolError };

/** Replaces the reply ranges of failed writes with their errors. */
export function spliceFailures(
  bytes: Uint8Array,
  failures: { start: number; end: number; message: string }[],
): Uint8Array {
  const parts: Uint8Array[] = [];
  let at = 0;
  let lastStart = -1;
  for (const f of failures) {
    // Several writes of one command share a range: replace it once.
    if (f.start === lastStart || f.start < at) continue;
    lastStart = f.start;
    parts.push(bytes.subarray(at, f.start));
    const w = new RespWriter();
    w.error(f.message);
    parts.push(w.takeBytes());
    at = f.end;
  }
  parts.push(bytes.subarray(at));
  return concatChunks(parts);
}

/** Commands whose replies are pub/sub confirmations: sent even under CLIENT REPLY OFF/SKIP. */
/** `Context.args` between commands. */
export const NO_ARGS: Uint8Array[] = [];

const PUBSUB_REPLY_COMMANDS: ReadonlySet<string> = new Set([
  "subscribe",
  "unsubscribe",
  "psubscribe",
  "punsubscribe",
  "ssubscribe",
  "sunsubscribe",
]);

/** CLIENT REPLY OFF/SKIP: drops what the command just wrote, as Redis does (not pub/sub). */
export function silenceReply(client: Client, out: RespWriter, replyStart: number): void {
  if (PUBSUB_REPLY_COMMANDS.has(client.lastCommand)) return;
  if (out.length > replyStart) out.truncate(replyStart);
}
