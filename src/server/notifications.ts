/**
 * Keyspace notifications: `notify-keyspace-events` and the events commands publish on
 * `__keyspace@0__:<key>` (message: the event) and `__keyevent@0__:<event>` (message: the key).
 * ARCHITECTURE.md § "Keyspace notifications" lists the events per command.
 *
 * Semantics follow Redis 7.0: an event is published only when its class letter is on AND `K`
 * and/or `E` say where; `A` is `g$lshzxetd` (not `n` or `m`). Commands call `notify` after they
 * wrote (`ctx.write`), so a subscriber never sees an event before the change is applied; the
 * message itself, like every reply, reaches the socket only once the write is durable.
 *
 * Invariants:
 * - With `flags === 0`, or with nobody subscribed to anything, `emit` allocates nothing.
 * - Events of a command inside MULTI are held by its transaction and published after EXEC wrote
 *   its batch (none when EXEC wrote nothing because the batch was refused).
 *
 * @module
 */

import type { WriteOp } from "../mod.ts";
import type { CommandContext } from "./context.ts";
import { ExpiryTracker, type ExpiryTrackerHost } from "./expiry_tracker.ts";
import type { PubSub } from "./pubsub.ts";

/** Event classes and targets (bit flags; the letters are Redis's). */
export const NOTIFY = {
  /** `K`: publish on `__keyspace@0__:<key>`. */
  keyspace: 1 << 0,
  /** `E`: publish on `__keyevent@0__:<event>`. */
  keyevent: 1 << 1,
  /** `g`: generic commands (DEL, EXPIRE, RENAME, COPY ...). */
  generic: 1 << 2,
  /** `$`: string commands. */
  string: 1 << 3,
  /** `l`: list commands. */
  list: 1 << 4,
  /** `s`: set commands. */
  set: 1 << 5,
  /** `h`: hash commands. */
  hash: 1 << 6,
  /** `z`: sorted set commands. */
  zset: 1 << 7,
  /** `x`: a key's time to live ran out. */
  expired: 1 << 8,
  /** `e`: a key was evicted (never: there is no eviction). */
  evicted: 1 << 9,
  /** `t`: stream commands. */
  stream: 1 << 10,
  /** `m`: a read found no key. */
  keyMiss: 1 << 11,
  /** `d`: module key types (time series). */
  module: 1 << 12,
  /** `n`: a key was created. */
  new: 1 << 13,
} as const;

/** `A`: every class except `n` and `m`, as Redis defines NOTIFY_ALL. */
export const NOTIFY_ALL = NOTIFY.generic | NOTIFY.string | NOTIFY.list | NOTIFY.set |
  NOTIFY.hash | NOTIFY.zset | NOTIFY.expired | NOTIFY.evicted | NOTIFY.stream | NOTIFY.module;

const LETTERS: Record<string, number> = {
  A: NOTIFY_ALL,
  g: NOTIFY.generic,
  $: NOTIFY.string,
  l: NOTIFY.list,
  s: NOTIFY.set,
  h: NOTIFY.hash,
  z: NOTIFY.zset,
  x: NOTIFY.expired,
  e: NOTIFY.evicted,
  K: NOTIFY.keyspace,
  E: NOTIFY.keyevent,
  t: NOTIFY.stream,
  m: NOTIFY.keyMiss,
  d: NOTIFY.module,
  n: NOTIFY.new,
};

/** Parses a `notify-keyspace-events` value; `undefined` on an unknown letter. */
export function parseNotifyFlags(value: string): number | undefined {
  let flags = 0;
  for (const c of value) {
    const f = LETTERS[c];
    if (f === undefined) return undefined;
    flags |= f;
  }
  return flags;
}

/** Formats flags as Redis's CONFIG GET prints them (`AKE`, `gxE`, `$dKE`). */
export function formatNotifyFlags(flags: number): string {
  let s = "";
  if ((flags & NOTIFY_ALL) === NOTIFY_ALL) s += "A";
  else {
    const order: [string, number][] = [
      ["g", NOTIFY.generic],
      ["$", NOTIFY.string],
      ["l", NOTIFY.list],
      ["s", NOTIFY.set],
      ["h", NOTIFY.hash],
      ["z", NOTIFY.zset],
      ["x", NOTIFY.expired],
      ["e", NOTIFY.evicted],
      ["t", NOTIFY.stream],
      ["d", NOTIFY.module],
      ["n", NOTIFY.new],
    ];
    for (const [letter, f] of order) if (flags & f) s += letter;
  }
  if (flags & NOTIFY.keyspace) s += "K";
  if (flags & NOTIFY.keyevent) s += "E";
  if (flags & NOTIFY.keyMiss) s += "m";
  return s;
}

/** Redis's error for a bad `notify-keyspace-events` value (after the CONFIG SET prefix). */
export const NOTIFY_FLAGS_ERROR = "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.";

const encoder = new TextEncoder();
const KEYSPACE_PREFIX = encoder.encode("__keyspace@0__:");
const KEYEVENT_PREFIX = encoder.encode("__keyevent@0__:");

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** An event held by a transaction until EXEC has written its batch. */
export interface HeldEvent {
  /** Class bit. */
  type: number;
  /** Event name (`set`, `del` ...). */
  event: string;
  /** The key. */
  key: Uint8Array;
}

/** A command context that holds its events (a transaction's, see `transaction.ts`). */
interface HoldingContext {
  heldEvents?: HeldEvent[];
}

/** Publishes keyspace events and watches expiries for `expired` events. */
export class KeyspaceNotifier {
  /** Classes and targets on (`NOTIFY` bits). */
  #flags = 0;
  readonly #pubsub: PubSub;
  readonly #eventNames = new Map<string, Uint8Array>();
  /** Keys with a time to live, watched while `expired` events are on. */
  readonly tracker: ExpiryTracker;

  /** A notifier publishing through `pubsub`; `host` gives the tracker the database. */
  constructor(pubsub: PubSub, host: ExpiryTrackerHost) {
    this.#pubsub = pubsub;
    this.tracker = new ExpiryTracker(host, (key) => {
      this.#expiryListener?.(key);
      this.emit(undefined, NOTIFY.expired, "expired", key);
    });
  }

  /** The `NOTIFY` bits on. */
  get flags(): number {
    return this.#flags;
  }

  /** Changes the classes (CONFIG SET notify-keyspace-events). */
  set flags(flags: number) {
    this.#flags = flags;
    this.#updateTracker();
  }

  /**
   * Also told of every key found expired while set (client-side caching invalidations,
   * `tracking.ts`); the expiry tracker runs while `expired` events or this listener want it.
   */
  set expiryListener(listener: ((key: Uint8Array) => void) | undefined) {
    this.#expiryListener = listener;
    this.#updateTracker();
  }

  #expiryListener: ((key: Uint8Array) => void) | undefined;

  #updateTracker(): void {
    const flags = this.#flags;
    this.tracker.enabled = this.#expiryListener !== undefined ||
      ((flags & NOTIFY.expired) !== 0 && (flags & (NOTIFY.keyspace | NOTIFY.keyevent)) !== 0);
  }

  /** True when events of class `type` are published (at least one target on). */
  wants(type: number): boolean {
    const f = this.#flags;
    return (f & type) !== 0 && (f & (NOTIFY.keyspace | NOTIFY.keyevent)) !== 0;
  }

  /** Tells the expiry tracker about a batch about to be written through RESP. */
  observeWrite(ops: readonly WriteOp[]): void {
    if (this.tracker.enabled) this.tracker.observe(ops);
  }

  /**
   * Publishes event `event` of class `type` about `key`. `ctx` is the command's context (its
   * client gets its own copy in its replies; a transaction holds the event), or `undefined` for
   * events of the server itself (`expired`).
   */
  emit(ctx: CommandContext | undefined, type: number, event: string, key: Uint8Array): void {
    const f = this.#flags;
    if ((f & type) === 0 || this.#pubsub.idle) return;
    const held = (ctx as HoldingContext | undefined)?.heldEvents;
    if (held !== undefined) {
      held.push({ type, event, key });
      return;
    }
    const from = ctx?.client;
    const eventBytes = this.#eventBytes(event);
    if (f & NOTIFY.keyspace) this.#pubsub.publish(concat(KEYSPACE_PREFIX, key), eventBytes, from);
    if (f & NOTIFY.keyevent) this.#pubsub.publish(concat(KEYEVENT_PREFIX, eventBytes), key, from);
  }

  /** Publishes events a transaction held, once its batch was written. */
  release(ctx: CommandContext, events: readonly HeldEvent[]): void {
    for (const e of events) this.emit(ctx, e.type, e.event, e.key);
  }

  #eventBytes(event: string): Uint8Array {
    let b = this.#eventNames.get(event);
    if (b === undefined) {
      b = encoder.encode(event);
      // Event names are a small fixed set of literals.
      if (this.#eventNames.size < 256) this.#eventNames.set(event, b);
    }
    return b;
  }
}

/** Publishes `event` about `key` from a command (no-op unless its class is on). */
export function notify(ctx: CommandContext, type: number, event: string, key: Uint8Array): void {
  const n = ctx.server.notifier;
  if (n.flags !== 0) n.emit(ctx, type, event, key);
}

/** `keymiss` (class `m`) for a read that found no `key`. */
export function notifyMiss(ctx: CommandContext, key: Uint8Array): void {
  const n = ctx.server.notifier;
  if (n.flags & NOTIFY.keyMiss) n.emit(ctx, NOTIFY.keyMiss, "keymiss", key);
}

/** True when `new` events are on: a command must then look up whether its key exists. */
export function wantsNew(ctx: CommandContext): boolean {
  return ctx.server.notifier.wants(NOTIFY.new);
}

/** Whether `key` exists now; looked up only when `new` events are on (else `true`). */
export function existedFor(ctx: CommandContext, key: Uint8Array): boolean {
  return !wantsNew(ctx) || ctx.server.db.getEntry(key) !== undefined;
}

/** `new` (class `n`) when `key` did not exist before this command wrote it. */
export function notifyNew(ctx: CommandContext, key: Uint8Array, existed: boolean): void {
  if (!existed) notify(ctx, NOTIFY.new, "new", key);
}
