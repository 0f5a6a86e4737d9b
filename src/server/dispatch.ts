/**
 * Command dispatch: lookup > arity > auth > (MULTI: queue) > handler, with Redis's error
 * strings and order of checks. ARCHITECTURE.md § "Commands" and § "Transactions (MULTI/EXEC)".
 *
 * Invariants:
 * - Exactly one reply per command: a failing handler's partial reply is cut off and replaced by
 *   the error (`OutputLimitError` is not a reply: it propagates and the client is closed).
 * - A write's reply range is recorded in `Context.pending`, so the connection can hold it until
 *   the write is durable and replace exactly it if the write fails.
 *
 * @module
 */

import { CityHallError } from "../errors.ts";
import type { WriteOp } from "../mod.ts";
import {
  MULTI_QUEUED_BYTES_MAX,
  MULTI_QUEUED_COMMANDS_MAX,
  SLOWLOG_ENTRY_ARGS_MAX,
  WRITE_CHUNK_OPS,
} from "../limits.ts";
import { AssertionError } from "../util/assert.ts";
import type { Logger } from "../util/log.ts";
import {
  arityError,
  type Client,
  type CommandContext,
  type CommandSpec,
  echoArg,
  ERR_NOAUTH,
  lower,
  ReplyError,
  type ServerState,
} from "./context.ts";
import type { ServerMetrics } from "./metrics.ts";
import type { Operator } from "./operator.ts";
import { ERR_READONLY } from "./commands/replication.ts";
import { OutputLimitError, type RespWriter } from "./resp_writer.ts";
import { TRANSACTION_CONTROL, type TxnContext } from "./transaction.ts";
import { ERR_RESERVED_KEY, INTERNAL_KEY_PREFIX, isInternalKey } from "../keyspace/mod.ts";
import { keyGuardOf } from "./key_guard.ts";
import { PackedArgs } from "./resp_packed.ts";
import type { Database } from "../engine/mod.ts";
import { memoAfterWrite } from "../types/entry_memo.ts";

/** Commands an unauthenticated client may run. */
const NO_AUTH_COMMANDS = new Set(["auth", "hello", "quit", "reset"]);

/** Commands a RESP2 client may run while subscribed (Redis 7.0). */
const SUBSCRIBE_MODE_COMMANDS = new Set([
  "ping",
  "subscribe",
  "ssubscribe",
  "unsubscribe",
  "sunsubscribe",
  "psubscribe",
  "punsubscribe",
  "quit",
  "reset",
]);

/** The reason a command is refused before it runs, beyond lookup, arity and auth. */
function modeError(client: Client, spec: CommandSpec, name: string): string | undefined {
  if (
    client.monitor && (spec.flags.includes("write") || spec.flags.includes("readonly") ||
      spec.name === "publish" || spec.name === "spublish")
  ) {
    // Redis flags a monitor as a replica, and replicas may not touch the keyspace.
    return "ERR Replica can't interact with the keyspace";
  }
  if (
    client.subscriptions !== undefined && client.protocol === 2 &&
    !SUBSCRIBE_MODE_COMMANDS.has(spec.name)
  ) {
    return `ERR Can't execute '${name}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / ` +
      `QUIT / RESET are allowed in this context`;
  }
  return undefined;
}

/** `-ERR unknown command ...` exactly as Redis words it. */
export function unknownCommandError(args: Uint8Array[]): string {
  // Redis: `'%.*s' ` per argument while the list is under 128 bytes, then `'%.128s'`.
  let rest = "";
  for (let i = 1; i < args.length && rest.length < 128; i++) {
    rest += `'${echoArg(args[i]!, 128 - rest.length)}' `;
  }
  return `ERR unknown command '${echoArg(args[0]!, 128)}', with args beginning with: ${rest}`;
}

/**
 * The writes that share one engine promise (one group commit), as the server tracks them: the
 * connection reads `settled` and `error` synchronously and awaits `done` only while unsettled,
 * so a batch of replies costs one await for its group, not one per write.
 */
export interface WriteGroup {
  /** Settles (never rejects) once the group is durable or failed. */
  readonly done: Promise<void>;
  /** True once `done` has settled. */
  settled: boolean;
  /** True when the group failed (`error` says why). */
  failed: boolean;
  /** Why the group failed. */
  error: unknown;
}

/** A write whose reply waits for durability. */
export interface PendingWrite {
  /** The group commit the write joined. */
  group: WriteGroup;
  /** Reply range in the client's output, set when the command finishes. */
  start: number;
  /** End of that range. */
  end: number;
}

/** What the dispatcher needs from the server. */
export interface DispatchHost {
  /** Log sink. */
  readonly logger: Logger;
  /** Counters. */
  readonly metrics: ServerMetrics;
  /**
   * Counts a write in flight (replies of every client wait for the newest one); the group it
   * joined (writes with the same engine promise share one).
   */
  trackWrite(promise: Promise<void>): WriteGroup;
  /** MONITOR feed, slow log, latency monitor, pause. */
  readonly operator: Operator;
}

/** Per-connection command context; fields change for every command. */
export class Context implements CommandContext {
  /** The command being run. */
  args: Uint8Array[] = [];
  /** Writes of this batch whose replies wait for durability. */
  readonly pending: PendingWrite[] = [];

  /** The context of `client`'s connection. */
  constructor(
    readonly out: RespWriter,
    readonly client: Client,
    readonly server: ServerState,
    readonly host: DispatchHost,
  ) {}

  /** Applies `ops` now and holds this command's reply until they are durable. */
  write(ops: WriteOp[], oneBatch = false): void {
    this.server.watches.touch(ops);
    this.server.notifier.observeWrite(ops);
    this.server.changesSinceSave += ops.length;
    // Client-side caching hears the keys from the engine (`Database.onApplied`); it is told
    // whose command wrote them, for NOLOOP. One comparison while no client tracks (tracking.ts).
    const tracking = this.server.tracking;
    let promise: Promise<void>;
    if (tracking.clients > 0) {
      tracking.writer = this.client;
      try {
        promise = this.#apply(ops, oneBatch);
      } finally {
        tracking.writer = undefined;
      }
    } else promise = this.#apply(ops, oneBatch);
    this.pending.push({ group: this.host.trackWrite(promise), start: -1, end: -1 });
  }

  /**
   * Writes `ops` to the engine, in chunks of `WRITE_CHUNK_OPS` unless `oneBatch` (then the
   * engine refuses more than `BATCH_OPS_MAX`); the promise of durability.
   */
  #apply(ops: WriteOp[], oneBatch: boolean): Promise<void> {
    const db = this.server.db;
    let promise: Promise<void>;
    if (oneBatch || ops.length <= WRITE_CHUNK_OPS) {
      const before = db.lastSeq;
      promise = db.write(ops);
      memoAfterWrite(db, ops, before);
    } else {
      // Chunks are applied in the same synchronous run, so other clients see all or nothing.
      // Writers put the record that makes the result visible last (a member type's metadata,
      // after its members under a new version): a crash keeps a prefix that changes nothing
      // visible, and a chunk the engine refuses (nothing applied, `lastSeq` unchanged) stops
      // the later ones, so the visible record never lands without what comes before it.
      const parts: Promise<void>[] = [];
      for (let i = 0; i < ops.length; i += WRITE_CHUNK_OPS) {
        const before = db.lastSeq;
        parts.push(db.write(ops.slice(i, i + WRITE_CHUNK_OPS)));
        if (db.lastSeq === before) break;
      }
      promise = Promise.all(parts).then(() => {});
    }
    return promise;
  }
}

/** Turns parsed commands into replies. */
export class Dispatcher {
  readonly #table: Map<string, CommandSpec>;
  readonly #host: DispatchHost;

  /** A dispatcher over `table`. */
  constructor(table: Map<string, CommandSpec>, host: DispatchHost) {
    this.#table = table;
    this.#host = host;
  }

  /** The bytes of the last command name looked up, and that name in lowercase. */
  #lastNameBytes: Uint8Array | undefined;
  #lastName = "";

  /**
   * `lower(bytes)`, remembering the last answer: clients mostly send the same command again
   * and again, and a name compared byte by byte costs no string building. Argument arrays are
   * never changed once parsed, so keeping a reference is safe.
   */
  #commandName(bytes: Uint8Array): string {
    const last = this.#lastNameBytes;
    if (last === bytes) return this.#lastName;
    if (last !== undefined && last.length === bytes.length) {
      let i = 0;
      while (i < bytes.length && last[i] === bytes[i]) i++;
      if (i === bytes.length) return this.#lastName;
    }
    this.#lastName = lower(bytes);
    this.#lastNameBytes = bytes;
    return this.#lastName;
  }

  /** Runs (or, inside MULTI, queues) one command; a promise only when it is asynchronous. */
  execute(ctx: Context, command: Uint8Array[] | PackedArgs): Promise<void> | undefined {
    let args: Uint8Array[];
    if (command instanceof PackedArgs) {
      const spec = this.#packedSpec(ctx, command);
      if (spec !== undefined) {
        ctx.client.lastCommand = spec.name;
        return this.run(ctx, spec, [command.name], ctx.out.length, command);
      }
      args = command.toArgs();
    } else args = command;
    const { out, client } = ctx;
    const name = this.#commandName(args[0]!);
    const spec = this.#table.get(name);
    if (spec === undefined) {
      this.#reject(ctx, "", unknownCommandError(args));
      return undefined;
    }
    // The first command of a group loaded on first use: load it, then run this command as if
    // it had been there from the start (every check and reply the same).
    // Named before the load: the connection reads `lastCommand` as soon as this returns, to
    // tell a blocking command (BLPOP...), which must not hold the transaction gate while it
    // waits for other clients' writes, from one that does.
    if (spec.load !== undefined) {
      client.lastCommand = fullName(spec, args);
      return spec.load().then(() => this.execute(ctx, args));
    }
    client.lastCommand = fullName(spec, args);
    if ((spec.arity > 0 && args.length !== spec.arity) || args.length < -spec.arity) {
      this.#reject(ctx, name, arityError(name).reply);
      return undefined;
    }
    if (!client.authenticated && !NO_AUTH_COMMANDS.has(name)) {
      this.#reject(ctx, name, ERR_NOAUTH);
      return undefined;
    }
    const refused = modeError(client, spec, client.lastCommand);
    if (refused !== undefined) {
      this.#reject(ctx, name, refused);
      return undefined;
    }
    if (spec.firstKey > 0 && hasReservedKey(spec, args)) {
      this.#reject(ctx, name, ERR_RESERVED_KEY);
      return undefined;
    }
    const guarded = guardedKey(ctx.server.db, spec, args);
    if (guarded !== undefined) {
      this.#reject(ctx, name, guarded);
      return undefined;
    }
    if (client.multi !== undefined && !TRANSACTION_CONTROL.has(name)) {
      this.#queue(ctx, spec, args);
      return undefined;
    }
    return this.run(ctx, spec, args, out.length);
  }

  /** Counts a client held by `pauseFor` until the returned function is called. */
  holdForPause(): () => void {
    const pause = this.#host.operator.pause;
    pause.held++;
    return () => pause.held--;
  }

  /**
   * A promise to await before running `args` when CLIENT PAUSE holds it, else `undefined`
   * (also for a command that will be refused: it is answered at once, as Redis does).
   */
  pauseFor(ctx: Context, command: Uint8Array[] | PackedArgs): Promise<void> | undefined {
    const pause = this.#host.operator.pause;
    if (pause.mode === undefined) return undefined;
    const args = command instanceof PackedArgs ? command.toArgs() : command;
    const { client } = ctx;
    const spec = this.#table.get(lower(args[0]!));
    if (spec === undefined) return undefined;
    if ((spec.arity > 0 && args.length !== spec.arity) || args.length < -spec.arity) {
      return undefined;
    }
    if (!client.authenticated && !NO_AUTH_COMMANDS.has(spec.name)) return undefined;
    if (modeError(client, spec, fullName(spec, args)) !== undefined) return undefined;
    if (spec.firstKey > 0 && hasReservedKey(spec, args)) return undefined;
    const queuedWrite = spec.name === "exec" && client.multi !== undefined &&
      client.multi.queued.some((q) => {
        const s = this.#table.get(lower(q[0]!));
        return s !== undefined && (s.flags.includes("write") || s.name === "publish");
      });
    return pause.waitFor(client, spec, queuedWrite);
  }

  /**
   * The spec whose `packedHandler` may run `packed` as it is: a known command with the right
   * arity, from an authenticated client in no special mode (MULTI, MONITOR, subscribed), on a
   * writable database without a key guard, with no key in the internal range. Anything else
   * (every error among them) goes the ordinary way, so replies stay exactly the same.
   */
  #packedSpec(ctx: Context, packed: PackedArgs): CommandSpec | undefined {
    const spec = this.#table.get(lower(packed.name));
    if (spec?.packedHandler === undefined) return undefined;
    const n = packed.length;
    if ((spec.arity > 0 && n !== spec.arity) || n < -spec.arity) return undefined;
    const client = ctx.client;
    if (
      !client.authenticated || client.multi !== undefined || client.monitor ||
      client.subscriptions !== undefined || this.#host.operator.pause.mode !== undefined
    ) {
      return undefined;
    }
    const db = ctx.server.db;
    if (db.readOnly || keyGuardOf(db) !== undefined) return undefined;
    const last = spec.lastKey < 0 ? n + spec.lastKey : spec.lastKey;
    const step = Math.max(1, spec.step);
    for (let i = spec.firstKey; i <= last && i < n; i += step) {
      const s = packed.start(i);
      if (s < packed.end(i) && packed.bytes[s] === INTERNAL_KEY_PREFIX) return undefined;
    }
    return spec;
  }

  /** Runs one command queued by MULTI, inside EXEC. */
  runQueued(ctx: TxnContext, args: Uint8Array[]): Promise<void> | undefined {
    const spec = this.#table.get(lower(args[0]!))!;
    return this.run(ctx, spec, args, ctx.out.length);
  }

  /** A refused command: the error, and inside MULTI a dirty transaction (Redis's rejectCommand). */
  #reject(ctx: Context, name: string, reply: string): void {
    const client = ctx.client;
    if (client.multi !== undefined) client.multi.dirty = true;
    if (name === "exec") {
      // As Redis: EXEC refused before it runs discards the transaction and says why.
      client.multi = undefined;
      ctx.server.watches.unwatchAll(client);
      reply = `EXECABORT Transaction discarded because of: ${reply.replace(/^ERR /, "")}`;
    }
    ctx.out.error(reply);
    if (name === "") this.#host.metrics.errorReplies++;
    else this.#host.metrics.record(name, 0, true);
  }

  #queue(ctx: Context, spec: CommandSpec, args: Uint8Array[]): void {
    const multi = ctx.client.multi!;
    if (spec.flags.includes("no_multi")) {
      return this.#reject(ctx, spec.name, "ERR Command not allowed inside a transaction");
    }
    const subError = subcommandError(spec, args);
    if (subError !== undefined) return this.#reject(ctx, spec.name, subError);
    if (spec.flags.includes("write") && ctx.server.db.readOnly) {
      return this.#reject(ctx, spec.name, ERR_READONLY);
    }
    let bytes = 0;
    for (const a of args) bytes += a.length;
    if (
      multi.queued.length >= MULTI_QUEUED_COMMANDS_MAX ||
      multi.bytes + bytes > MULTI_QUEUED_BYTES_MAX
    ) {
      return this.#reject(
        ctx,
        spec.name,
        `ERR Transaction too large: at most ${MULTI_QUEUED_COMMANDS_MAX} commands and ` +
          `${MULTI_QUEUED_BYTES_MAX} bytes of arguments may be queued`,
      );
    }
    multi.queued.push(args);
    multi.bytes += bytes;
    ctx.out.simple("QUEUED");
  }

  /** Runs `spec`'s handler (its packed one for `packed`); its reply starts at `start`. */
  run(
    ctx: CommandContext & { args: Uint8Array[] },
    spec: CommandSpec,
    args: Uint8Array[],
    start: number,
    packed?: PackedArgs,
  ): Promise<void> | undefined {
    ctx.args = args;
    const firstPending = ctx instanceof Context ? ctx.pending.length : 0;
    const t0 = performance.now();
    let result: void | Promise<void>;
    try {
      result = packed === undefined ? spec.handler(ctx) : spec.packedHandler!(ctx, packed);
    } catch (err) {
      this.#replyError(ctx.out, start, err, spec.name);
      this.#finish(ctx, spec, args, start, packed, firstPending, t0, true);
      return undefined;
    }
    if (result === undefined) {
      // The common case: a synchronous handler, no closure made for it.
      this.#finish(ctx, spec, args, start, packed, firstPending, t0, false);
      return undefined;
    }
    return result.then(
      () => this.#finish(ctx, spec, args, start, packed, firstPending, t0, false),
      (err) => {
        this.#replyError(ctx.out, start, err, spec.name);
        this.#finish(ctx, spec, args, start, packed, firstPending, t0, true);
      },
    );
  }

  /**
   * After a command: monitors, slow log, latency, counters, and the reply range of its writes
   * (those pending from `firstPending` on) so the connection can hold or replace exactly it.
   */
  #finish(
    ctx: CommandContext,
    spec: CommandSpec,
    args: Uint8Array[],
    start: number,
    packed: PackedArgs | undefined,
    firstPending: number,
    t0: number,
    failed: boolean,
  ): void {
    const durationS = (performance.now() - t0) / 1000;
    const operator = this.#host.operator;
    // MONITOR shows every argument and the slow log the first 32: a packed command's
    // arguments are made for them only when they want them.
    const slowUs = ctx.server.config.slowlogLogSlowerThanUs;
    const logged = packed === undefined
      ? args
      : operator.monitors.size > 0
      ? packed.toArgs()
      : slowUs >= 0 && durationS * 1e6 >= slowUs
      ? packed.headArgs(SLOWLOG_ENTRY_ARGS_MAX)
      : args;
    operator.afterCommand(ctx.client, spec, logged, t0, durationS);
    // Client-side caching: one comparison while the client does not track (tracking.ts).
    if (ctx.client.tracking !== undefined) {
      const hook = ctx.server.tracking.afterCommand!;
      hook(ctx, spec, packed === undefined ? args : packed.toArgs(), this.#table);
    }
    if (ctx instanceof Context) {
      const pending = ctx.pending;
      const end = ctx.out.length;
      for (let i = firstPending; i < pending.length; i++) {
        pending[i]!.start = start;
        pending[i]!.end = end;
      }
    }
    this.#host.metrics.record(
      spec.subcommands === undefined ? spec.name : fullName(spec, args),
      durationS,
      failed,
    );
  }

  #replyError(out: RespWriter, start: number, err: unknown, name: string): void {
    if (err instanceof AssertionError || err instanceof OutputLimitError) throw err;
    out.truncate(start);
    if (err instanceof ReplyError) out.error(err.reply);
    else if (err instanceof CityHallError) {
      // Engine operating errors (InvalidArgumentError, ClosedError, IoError): the message.
      out.error(`ERR ${err.message}`);
    } else {
      this.#host.logger("error", "command failed", { command: name, error: String(err) });
      out.error(`ERR internal error: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
}

/** The name CLIENT LIST shows as `cmd`: `client|info` for a known subcommand, as Redis 7. */
function fullName(spec: CommandSpec, args: Uint8Array[]): string {
  if (spec.subcommands === undefined || args.length < 2) return spec.name;
  const sub = lower(args[1]!);
  return spec.subcommands[sub] === undefined ? spec.name : `${spec.name}|${sub}`;
}

/** Redis's queue-time check of a container command's subcommand, or `undefined` when fine. */
function subcommandError(spec: CommandSpec, args: Uint8Array[]): string | undefined {
  if (spec.subcommands === undefined || args.length < 2) return undefined;
  const sub = lower(args[1]!);
  const arity = spec.subcommands[sub];
  if (arity === undefined) {
    return `ERR unknown subcommand '${
      echoArg(args[1]!, 128)
    }'. Try ${spec.name.toUpperCase()} HELP.`;
  }
  if ((arity > 0 && args.length !== arity) || args.length < -arity) {
    return arityError(`${spec.name}|${sub}`).reply;
  }
  return undefined;
}

/** The refusal of a role's key guard for a time-series write's keys (`key_guard.ts`). */
function guardedKey(db: Database, spec: CommandSpec, args: Uint8Array[]): string | undefined {
  if (spec.firstKey <= 0 || !spec.name.startsWith("ts.") || !spec.flags.includes("write")) {
    return undefined;
  }
  const guard = keyGuardOf(db);
  if (guard === undefined) return undefined;
  const last = spec.lastKey < 0 ? args.length + spec.lastKey : spec.lastKey;
  const step = Math.max(1, spec.step);
  for (let i = spec.firstKey; i <= last && i < args.length; i += step) {
    const refusal = guard(args[i]!);
    if (refusal !== undefined) return refusal;
  }
  return undefined;
}

/** True when a key argument of `spec` (by its key positions) lies in the internal range. */
function hasReservedKey(spec: CommandSpec, args: Uint8Array[]): boolean {
  const last = spec.lastKey < 0 ? args.length + spec.lastKey : spec.lastKey;
  const step = Math.max(1, spec.step);
  for (let i = spec.firstKey; i <= last && i < args.length; i += step) {
    if (isInternalKey(args[i]!)) return true;
  }
  return false;
}
