/**
 * Clients blocked on lists and sorted sets (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP, BZPOPMIN,
 * BZPOPMAX, BZMPOP): who waits on which key, in arrival order.
 *
 * A write that may make a key non-empty (pushes, ZADD, *STORE, RENAME, COPY...) calls
 * `signalReady`; the waiters of that key are then served at once, synchronously, oldest first,
 * each with its own connection's context (its reply waits for its own pop to be durable), until
 * one finds the key empty. Inside MULTI/EXEC the serving waits until EXEC has written its batch,
 * since the staged writes are not in the engine before.
 *
 * Invariants:
 * - A waiter is in the queue of each of its keys until it is served, times out or is
 *   cancelled, and is then removed from all of them; `done` makes every later call a no-op.
 * - Serving never awaits: a pop and its reply happen in one synchronous run.
 *
 * @module
 */

import { TYPES_BLOCKED_CLIENTS_MAX } from "../../limits.ts";
import type { CommandContext } from "../context.ts";
import { keyId } from "../txn_overlay.ts";

/** Names of the blocking commands (the connection does not count them as running). */
export const BLOCKING_COMMANDS: ReadonlySet<string> = new Set([
  "blpop",
  "brpop",
  "blmove",
  "brpoplpush",
  "blmpop",
  "bzpopmin",
  "bzpopmax",
  "bzmpop",
]);

/** One blocked client. */
export interface Waiter {
  /** Ids of the keys it waits on. */
  readonly keys: string[];
  /** Tries to serve it from `key` (synchronously); true when served (it replied). */
  tryServe(key: Uint8Array): boolean;
  /** Ends the wait with the timeout reply (server closing, timeout, CLIENT UNBLOCK). */
  cancel(): void;
  /** Ends the wait with error reply `reply` (CLIENT UNBLOCK ... ERROR). */
  fail(reply: string): void;
  /** Ends the wait with no reply (the client left). */
  drop(): void;
  /** The blocked client. */
  readonly client: object;
  /** Set once served, timed out or cancelled. */
  done: boolean;
}

/** The waiters of one server. */
export class BlockingRegistry {
  readonly #byKey = new Map<string, Waiter[]>();
  #count = 0;
  /** Keys made ready while `serve` runs, served in order by the outermost call. */
  readonly #ready: Uint8Array[] = [];
  #serving = false;

  /** Clients blocked now. */
  get count(): number {
    return this.#count;
  }

  /** Adds `w` at the end of its keys' queues; false when too many clients are blocked. */
  add(w: Waiter): boolean {
    if (this.#count >= TYPES_BLOCKED_CLIENTS_MAX) return false;
    this.#count++;
    blockedClients.add(w.client);
    for (const id of w.keys) {
      let q = this.#byKey.get(id);
      if (q === undefined) this.#byKey.set(id, q = []);
      q.push(w);
    }
    return true;
  }

  /** Removes `w` from every queue (it is done). */
  remove(w: Waiter): void {
    this.#count--;
    blockedClients.delete(w.client);
    for (const id of w.keys) {
      const q = this.#byKey.get(id);
      if (q === undefined) continue;
      const i = q.indexOf(w);
      if (i >= 0) q.splice(i, 1);
      if (q.length === 0) this.#byKey.delete(id);
    }
  }

  /** True when someone waits on `key`. */
  waiting(key: Uint8Array): boolean {
    // Every push asks: with nobody blocked, answer without building the key's id.
    return this.#byKey.size > 0 && this.#byKey.has(keyId(key));
  }

  /**
   * Serves the waiters of `key`, oldest first, while the key has something for them. A key
   * made ready while serving (BLMOVE pushing to a key others wait on) is queued and served
   * after, as Redis's ready-keys list does: two BRPOPLPUSH waiting on each other's keys never
   * recurse.
   */
  serve(key: Uint8Array): void {
    this.#ready.push(key);
    if (this.#serving) return;
    this.#serving = true;
    try {
      for (let next = this.#ready.shift(); next !== undefined; next = this.#ready.shift()) {
        const q = this.#byKey.get(keyId(next));
        if (q === undefined) continue;
        for (const w of [...q]) {
          if (w.done) continue;
          if (!w.tryServe(next)) break;
        }
      }
    } finally {
      this.#serving = false;
      this.#ready.length = 0;
    }
  }

  /** Ends the wait of `client` without a reply: it disconnected (nothing is popped for it). */
  dropClient(client: object): void {
    for (const q of [...this.#byKey.values()]) {
      for (const w of [...q]) if (w.client === client && !w.done) w.drop();
    }
  }

  /**
   * CLIENT UNBLOCK: ends the wait of `client` with the timeout reply, or error `errorReply`;
   * false when it is not blocked.
   */
  unblockClient(client: object, errorReply?: string): boolean {
    for (const q of this.#byKey.values()) {
      const w = q.find((w) => w.client === client && !w.done);
      if (w === undefined) continue;
      if (errorReply === undefined) w.cancel();
      else w.fail(errorReply);
      return true;
    }
    return false;
  }

  /** Ends every wait with the timeout reply (the server is closing). */
  cancelAll(): void {
    for (const q of [...this.#byKey.values()]) {
      for (const w of [...q]) if (!w.done) w.cancel();
    }
  }
}

const registries = new WeakMap<object, BlockingRegistry>();

/** Clients blocked now (a client belongs to one server, so one set serves all of them). */
const blockedClients = new WeakSet<object>();

/** True while `client` waits in a blocking command (CLIENT LIST flag `b`). */
export function isBlockedClient(client: object): boolean {
  return blockedClients.has(client);
}

/**
 * The registry of `ctx`'s server. Keyed by the server's client table, which is the same object
 * whether the command runs directly or inside EXEC (where `ctx.server` is a view).
 */
export function registryOf(ctx: CommandContext): BlockingRegistry {
  const anchor = ctx.server.clients;
  let r = registries.get(anchor);
  if (r === undefined) registries.set(anchor, r = new BlockingRegistry());
  return r;
}

/** The registry of a server by its client table, if one was made. */
export function registryFor(clients: object): BlockingRegistry | undefined {
  return registries.get(clients);
}

/** A transaction's context: keys it filled are served once its batch is written. */
interface HoldingContext {
  readyKeys?: Uint8Array[];
}

/** `key` may have become non-empty: serve who waits on it. */
export function signalReady(ctx: CommandContext, key: Uint8Array): void {
  const r = registries.get(ctx.server.clients);
  if (r === undefined || !r.waiting(key)) return;
  const held = (ctx as HoldingContext).readyKeys;
  // Inside EXEC the staged writes are not in the engine yet: EXEC serves after its commit.
  if (held !== undefined) held.push(key.slice());
  else r.serve(key);
}

/** Serves the waiters of `keys` (EXEC, after its batch was written). */
export function serveReadyKeys(ctx: CommandContext, keys: readonly Uint8Array[]): void {
  const r = registries.get(ctx.server.clients);
  if (r === undefined) return;
  for (const key of keys) r.serve(key);
}
