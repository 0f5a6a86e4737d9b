/**
 * Transactions with Redis 7 semantics: MULTI, EXEC, DISCARD, WATCH, UNWATCH.
 * ARCHITECTURE.md § "Transactions (MULTI/EXEC)" documents the replies and the guarantees.
 *
 * - MULTI starts queueing: every later command except EXEC, DISCARD, MULTI, WATCH and QUIT is
 *   checked (unknown, arity, NOAUTH, not allowed in MULTI, subcommand) and answered `+QUEUED`;
 *   a refused one marks the transaction dirty and EXEC answers EXECABORT (the dispatcher does
 *   the queueing, see `dispatch.ts`).
 * - EXEC takes the exclusive gate, checks the WATCHed keys, runs the queued commands against a
 *   `TxnOverlay` (errors are per command, the rest still runs), and writes the overlay's
 *   operations as one engine batch. The reply is held until that batch is durable; if it fails,
 *   the whole reply becomes `-ERR <reason>` and nothing was written.
 *
 * Invariants:
 * - A client's `watched` keys are all in `#byKey` and the other way round.
 * - Nothing of another client runs between the commands of one EXEC (the gate).
 *
 * @module
 */

import { BATCH_OPS_MAX, BATCH_SIZE_BYTES_MAX, MULTI_WATCHED_KEYS_MAX } from "../limits.ts";
import type { Database, WriteOp } from "../mod.ts";
import { toBytes } from "../util/bytes.ts";
import {
  type Client,
  type CommandContext,
  type CommandSpec,
  NO_KEYS,
  ReplyError,
  type ServerState,
  specBuilder,
} from "./context.ts";
import type { ExclusiveGate } from "./gate.ts";
import type { HeldEvent } from "./notifications.ts";
import type { RespWriter } from "./resp_writer.ts";
import { keyId, TxnOverlay } from "./txn_overlay.ts";
import { serveReadyKeys } from "./commands/blocking_registry.ts";

/** `-EXECABORT ...` after a refused queued command, exactly as Redis words it. */
export const ERR_EXECABORT = "EXECABORT Transaction discarded because of previous errors.";

/** Keys under WATCH by any client, so that a write can mark its watchers. */
export class WatchRegistry {
  readonly #byKey = new Map<string, Set<Client>>();

  /** Number of distinct keys watched by anyone. */
  get size(): number {
    return this.#byKey.size;
  }

  /** Watches `key` for `client`, remembering the sequence of its live entry in `db`. */
  watch(client: Client, key: Uint8Array, db: Database): void {
    const watched = client.watched ??= new Map();
    const id = keyId(key);
    if (watched.has(id)) return;
    if (watched.size >= MULTI_WATCHED_KEYS_MAX) {
      throw new ReplyError(
        `ERR Too many watched keys: at most ${MULTI_WATCHED_KEYS_MAX} per connection`,
      );
    }
    watched.set(id, { key, seq: db.getEntry(key)?.seq ?? -1 });
    let clients = this.#byKey.get(id);
    if (clients === undefined) this.#byKey.set(id, clients = new Set());
    clients.add(client);
  }

  /** Forgets every key `client` watches (UNWATCH, EXEC, DISCARD, disconnect). */
  unwatchAll(client: Client): void {
    const watched = client.watched;
    client.watchTouched = false;
    if (watched === undefined) return;
    for (const id of watched.keys()) {
      const clients = this.#byKey.get(id);
      if (clients === undefined) continue;
      clients.delete(client);
      if (clients.size === 0) this.#byKey.delete(id);
    }
    client.watched = undefined;
  }

  /** Marks every client watching one of the keys of `ops` (a write is about to apply). */
  touch(ops: readonly WriteOp[]): void {
    if (this.#byKey.size === 0) return;
    for (const op of ops) {
      const clients = this.#byKey.get(keyId(toBytes(op.key)));
      if (clients === undefined) continue;
      for (const c of clients) c.watchTouched = true;
    }
  }

  /**
   * True when a key `client` watches changed since WATCH: written through this server, or its
   * live entry differs now (written over HTTP or replication, deleted, expired, flushed).
   */
  changed(client: Client, db: Database): boolean {
    if (client.watchTouched) return true;
    if (client.watched === undefined) return false;
    for (const w of client.watched.values()) {
      if ((db.getEntry(w.key)?.seq ?? -1) !== w.seq) return true;
    }
    return false;
  }
}

/** What EXEC needs from the server. */
export interface TransactionHost {
  /** The server state commands see. */
  readonly state: ServerState;
  /** The gate that keeps other clients out while the transaction runs. */
  readonly gate: ExclusiveGate;
  /** Runs one queued command in `ctx` (checks already done); a promise when asynchronous. */
  runQueued(ctx: TxnContext, args: Uint8Array[]): Promise<void> | undefined;
}

/** The context a queued command runs in during EXEC: the overlay's database and writes. */
export class TxnContext implements CommandContext {
  /** The command being run. */
  args: Uint8Array[] = [];
  /** The server as the command sees it (its `db` is the overlay's view). */
  readonly server: ServerState;
  /** Keyspace events of the queued commands, published once EXEC wrote its batch. */
  readonly heldEvents: HeldEvent[] = [];
  /** Keys the transaction may have filled for blocked clients: served once its batch is written. */
  readonly readyKeys: Uint8Array[] = [];

  /** A context over `overlay` writing replies to `out`. */
  constructor(
    readonly out: RespWriter,
    readonly client: Client,
    server: ServerState,
    readonly overlay: TxnOverlay,
  ) {
    const db = overlay.view();
    this.server = new Proxy(server, {
      get(target, prop) {
        if (prop === "db") return db;
        // The server's methods use private fields: call them on the server itself.
        const v = Reflect.get(target, prop, target);
        return typeof v === "function" ? v.bind(target) : v;
      },
      set(target, prop, value) {
        return Reflect.set(target, prop, value, target);
      },
    });
  }

  /** Stages `ops` in the overlay (checked now; written by EXEC as one batch). */
  write(ops: WriteOp[]): void {
    this.overlay.stage(ops);
  }
}

function batchBytes(ops: readonly WriteOp[]): number {
  let bytes = 0;
  for (const op of ops) {
    bytes += toBytes(op.key).length;
    if (op.type === "put") bytes += toBytes(op.value).length;
  }
  return bytes;
}

/**
 * EXEC of `ctx.client`'s MULTI (the caller checked that one is in progress). Writes its reply to
 * `ctx.out` and the transaction's batch through `ctx.write` (so the reply waits for it).
 */
export function execTransaction(
  host: TransactionHost,
  ctx: CommandContext,
): void | Promise<void> {
  const { client } = ctx;
  const state = host.state;
  const multi = client.multi!;
  client.multi = undefined;
  if (multi.dirty) {
    state.watches.unwatchAll(client);
    state.metrics.transactionsAborted++;
    throw new ReplyError(ERR_EXECABORT);
  }
  const acquired = host.gate.acquire(client);
  if (acquired !== undefined) {
    return acquired.then(() => runLocked(host, ctx, multi.queued))
      .finally(() => host.gate.release(client));
  }
  let running: Promise<void> | undefined;
  try {
    running = runLocked(host, ctx, multi.queued);
  } finally {
    if (running === undefined) host.gate.release(client);
  }
  return running?.finally(() => host.gate.release(client));
}

/** Runs the transaction while holding the gate; a promise only when a command is async. */
function runLocked(
  host: TransactionHost,
  ctx: CommandContext,
  queued: Uint8Array[][],
): Promise<void> | undefined {
  const { client, out } = ctx;
  const state = host.state;
  // Checked under the gate: nothing can write between this check and the commands.
  const changed = state.watches.changed(client, state.db);
  state.watches.unwatchAll(client);
  if (changed) {
    state.metrics.transactionsAborted++;
    out.nullArray();
    return undefined;
  }
  const overlay = new TxnOverlay(state.db);
  const txCtx = new TxnContext(out, client, state, overlay);
  const start = out.length;
  out.array(queued.length);
  const step = (from: number): Promise<void> | undefined => {
    for (let i = from; i < queued.length; i++) {
      const running = host.runQueued(txCtx, queued[i]!);
      if (running !== undefined) return running.then(() => step(i + 1));
    }
    if (commit(ctx, overlay, start)) {
      state.notifier.release(ctx, txCtx.heldEvents);
      // Blocked clients are served after the transaction, as Redis serves them after EXEC.
      serveReadyKeys(ctx, txCtx.readyKeys);
    }
    state.metrics.transactionsExecuted++;
    return undefined;
  };
  return step(0);
}

/**
 * Writes the overlay as one batch, or replaces the reply when it cannot be one; false when the
 * batch was refused (nothing written).
 */
function commit(ctx: CommandContext, overlay: TxnOverlay, start: number): boolean {
  const ops = overlay.ops();
  if (ops.length === 0) return true;
  const bytes = batchBytes(ops);
  if (ops.length > BATCH_OPS_MAX || bytes > BATCH_SIZE_BYTES_MAX) {
    ctx.out.truncate(start);
    ctx.out.error(
      `EXECABORT Transaction discarded because its writes do not fit one atomic batch: ` +
        `${ops.length} keys, ${bytes} bytes (at most ${BATCH_OPS_MAX} keys and ` +
        `${BATCH_SIZE_BYTES_MAX} bytes); nothing was written`,
    );
    ctx.server.metrics.transactionsAborted++;
    return false;
  }
  ctx.write(ops, true);
  return true;
}

function multi(ctx: CommandContext): void {
  if (ctx.client.multi !== undefined) throw new ReplyError("ERR MULTI calls can not be nested");
  ctx.client.multi = { queued: [], bytes: 0, dirty: false };
  ctx.out.ok();
}

function exec(ctx: CommandContext): void | Promise<void> {
  if (ctx.client.multi === undefined) throw new ReplyError("ERR EXEC without MULTI");
  return ctx.server.execTransaction(ctx);
}

function discard(ctx: CommandContext): void {
  if (ctx.client.multi === undefined) throw new ReplyError("ERR DISCARD without MULTI");
  ctx.client.multi = undefined;
  ctx.server.watches.unwatchAll(ctx.client);
  ctx.out.ok();
}

function watch(ctx: CommandContext): void {
  if (ctx.client.multi !== undefined) {
    throw new ReplyError("ERR WATCH inside MULTI is not allowed");
  }
  for (let i = 1; i < ctx.args.length; i++) {
    ctx.server.watches.watch(ctx.client, ctx.args[i]!, ctx.server.db);
  }
  ctx.out.ok();
}

function unwatch(ctx: CommandContext): void {
  ctx.server.watches.unwatchAll(ctx.client);
  ctx.out.ok();
}

/** Commands a MULTI runs at once instead of queueing (Redis's list). */
export const TRANSACTION_CONTROL: ReadonlySet<string> = new Set([
  "exec",
  "discard",
  "multi",
  "watch",
  "quit",
  "reset",
]);

const spec = specBuilder("transactions", NO_KEYS);
const FLAGS = ["noscript", "loading", "stale", "fast", "allow_busy"];

/** MULTI EXEC DISCARD WATCH UNWATCH. */
export const TRANSACTION_COMMANDS: CommandSpec[] = [
  spec("multi", 1, FLAGS, "1.2.0", "Starts a transaction.", multi),
  spec(
    "exec",
    1,
    ["noscript", "loading", "stale", "skip_slowlog"],
    "1.2.0",
    "Executes all commands in a transaction.",
    exec,
  ),
  spec("discard", 1, FLAGS, "2.0.0", "Discards a transaction.", discard),
  {
    ...spec(
      "watch",
      -2,
      FLAGS,
      "2.2.0",
      "Monitors changes to keys to determine the execution of a transaction.",
      watch,
    ),
    firstKey: 1,
    lastKey: -1,
    step: 1,
  },
  spec(
    "unwatch",
    1,
    FLAGS,
    "2.2.0",
    "Forgets about watched keys of a transaction.",
    unwatch,
  ),
];
