/**
 * String commands that read or replace whole values: GET SET SETNX SETEX PSETEX GETSET GETDEL
 * GETEX MGET MSET MSETNX. The ones that change a value in place (counters, APPEND, ranges) are
 * in string_edits.ts.
 *
 * Read-modify-write commands read with `db.getEntry` and write with `ctx.write` in the same
 * synchronous run, so they are atomic with respect to every other connection.
 *
 * @module
 */

import type { ValueEntry, WriteOp } from "../../mod.ts";
import { ERR_WRONGTYPE } from "../../keyspace/mod.ts";
import { KIND_PUT } from "../../util/entry.ts";
import { BATCH_OPS_MAX, BATCH_SIZE_BYTES_MAX } from "../../limits.ts";
import {
  arityError,
  type CommandContext,
  type CommandSpec,
  ERR_SYNTAX,
  lower,
  ReplyError,
} from "../context.ts";
import { expireAtFromArg, putOp } from "./expiry.ts";
import { existedFor, NOTIFY, notify, notifyMiss, notifyNew } from "../notifications.ts";
import { keyId } from "../txn_overlay.ts";

/** The string at `key`: `WRONGTYPE` when the key holds another type (a time series ...). */
export function stringEntry(ctx: CommandContext, key: Uint8Array): ValueEntry | undefined {
  const e = ctx.server.db.getEntry(key);
  if (e !== undefined && e.kind !== KIND_PUT) throw new ReplyError(ERR_WRONGTYPE);
  return e;
}

function hit(ctx: CommandContext, found: boolean, key: Uint8Array): void {
  if (found) ctx.server.metrics.keyspaceHits++;
  else {
    ctx.server.metrics.keyspaceMisses++;
    notifyMiss(ctx, key);
  }
}

/** `new` if needed, then `set` (and `expire` when the command set a time to live). */
function notifySet(ctx: CommandContext, key: Uint8Array, existed: boolean, expire: boolean) {
  notifyNew(ctx, key, existed);
  notify(ctx, NOTIFY.string, "set", key);
  if (expire) notify(ctx, NOTIFY.generic, "expire", key);
}

function get(ctx: CommandContext): void {
  const e = stringEntry(ctx, ctx.args[1]!);
  hit(ctx, e !== undefined, ctx.args[1]!);
  if (e === undefined) ctx.out.null();
  else ctx.out.bulk(e.value);
}

type Expiry =
  | { kind: "none" }
  | { kind: "keep" }
  | { kind: "persist" }
  | { kind: "at"; arg: Uint8Array; unit: string };

/** Absolute expiry of an EX/PX/EXAT/PXAT option, checked after the syntax as Redis does. */
function expiryMs(expiry: Expiry, name: string, nowMs: number): number {
  return expiry.kind === "at" ? expireAtFromArg(expiry.arg, expiry.unit, name, nowMs) : 0;
}

function set(ctx: CommandContext): void {
  const { args } = ctx;
  let nx = false;
  let xx = false;
  let withGet = false;
  let expiry: Expiry = { kind: "none" };
  for (let i = 3; i < args.length; i++) {
    const opt = lower(args[i]!);
    const hasNext = i + 1 < args.length;
    // As Redis, repeating an option is allowed (`EX 1 EX 2`: the last value wins); only
    // different expiry options, or NX with XX, conflict.
    if (opt === "nx" && !xx) nx = true;
    else if (opt === "xx" && !nx) xx = true;
    else if (opt === "get") withGet = true;
    else if (opt === "keepttl" && (expiry.kind === "none" || expiry.kind === "keep")) {
      expiry = { kind: "keep" };
    } else if (
      (opt === "ex" || opt === "px" || opt === "exat" || opt === "pxat") &&
      (expiry.kind === "none" || (expiry.kind === "at" && expiry.unit === opt)) && hasNext
    ) {
      expiry = { kind: "at", arg: args[++i]!, unit: opt };
    } else throw new ReplyError(ERR_SYNTAX);
  }
  const nowMs = Date.now();
  const newExpireAtMs = expiryMs(expiry, "set", nowMs);
  const key = args[1]!;
  const value = args[2]!;
  const db = ctx.server.db;
  // Only NX, XX, GET and KEEPTTL need the old entry; a plain SET skips the lookup.
  const needsOld = nx || xx || withGet || expiry.kind === "keep";
  const old = needsOld ? (withGet ? stringEntry(ctx, key) : db.getEntry(key)) : undefined;
  if ((nx && old !== undefined) || (xx && old === undefined)) {
    if (withGet) {
      if (old === undefined) ctx.out.null();
      else ctx.out.bulk(old.value);
    } else ctx.out.null();
    return;
  }
  const expireAtMs = expiry.kind === "at"
    ? newExpireAtMs
    : expiry.kind === "keep" && old !== undefined
    ? old.expireAtMs
    : 0;
  const existed = needsOld ? old !== undefined : existedFor(ctx, key);
  ctx.write([putOp(key, value, expireAtMs, expiry.kind === "at" ? nowMs : undefined)]);
  notifySet(ctx, key, existed, expiry.kind === "at");
  if (withGet) {
    if (old === undefined) ctx.out.null();
    else ctx.out.bulk(old.value);
  } else ctx.out.ok();
}

function setnx(ctx: CommandContext): void {
  const db = ctx.server.db;
  if (db.getEntry(ctx.args[1]!) !== undefined) return ctx.out.integer(0);
  ctx.write([{ type: "put", key: ctx.args[1]!, value: ctx.args[2]! }]);
  notifySet(ctx, ctx.args[1]!, false, false);
  ctx.out.integer(1);
}

function setexGeneric(ctx: CommandContext, unit: "ex" | "px", name: string): void {
  const nowMs = Date.now();
  const expireAtMs = expireAtFromArg(ctx.args[2]!, unit, name, nowMs);
  const existed = existedFor(ctx, ctx.args[1]!);
  ctx.write([putOp(ctx.args[1]!, ctx.args[3]!, expireAtMs, nowMs)]);
  notifySet(ctx, ctx.args[1]!, existed, true);
  ctx.out.ok();
}

function getset(ctx: CommandContext): void {
  const old = stringEntry(ctx, ctx.args[1]!);
  ctx.write([{ type: "put", key: ctx.args[1]!, value: ctx.args[2]! }]);
  notifySet(ctx, ctx.args[1]!, old !== undefined, false);
  if (old === undefined) ctx.out.null();
  else ctx.out.bulk(old.value);
}

function getdel(ctx: CommandContext): void {
  const old = stringEntry(ctx, ctx.args[1]!);
  hit(ctx, old !== undefined, ctx.args[1]!);
  if (old === undefined) return ctx.out.null();
  ctx.write([{ type: "delete", key: ctx.args[1]! }]);
  notify(ctx, NOTIFY.generic, "del", ctx.args[1]!);
  ctx.out.bulk(old.value);
}

function getex(ctx: CommandContext): void {
  const { args } = ctx;
  let expiry: Expiry = { kind: "none" };
  for (let i = 2; i < args.length; i++) {
    const opt = lower(args[i]!);
    if (
      (opt === "ex" || opt === "px" || opt === "exat" || opt === "pxat") &&
      (expiry.kind === "none" || (expiry.kind === "at" && expiry.unit === opt)) &&
      i + 1 < args.length
    ) {
      expiry = { kind: "at", arg: args[++i]!, unit: opt };
    } else if (opt === "persist" && (expiry.kind === "none" || expiry.kind === "persist")) {
      expiry = { kind: "persist" };
    } else throw new ReplyError(ERR_SYNTAX);
  }
  // Redis looks the key up before it validates the expire time: a missing key is nil.
  const e = stringEntry(ctx, args[1]!);
  hit(ctx, e !== undefined, args[1]!);
  if (e === undefined) return ctx.out.null();
  const nowMs = Date.now();
  const newExpireAtMs = expiryMs(expiry, "getex", nowMs);
  if (expiry.kind === "at") {
    const op = putOp(args[1]!, e.value, newExpireAtMs, nowMs);
    ctx.write([op]);
    notify(ctx, NOTIFY.generic, op.type === "delete" ? "del" : "expire", args[1]!);
  } else if (expiry.kind === "persist" && e.expireAtMs !== 0) {
    ctx.write([{ type: "put", key: args[1]!, value: e.value }]);
    notify(ctx, NOTIFY.generic, "persist", args[1]!);
  }
  ctx.out.bulk(e.value);
}

function mget(ctx: CommandContext): void {
  const { args, out } = ctx;
  const db = ctx.server.db;
  out.array(args.length - 1);
  for (let i = 1; i < args.length; i++) {
    const e = db.getEntry(args[i]!);
    hit(ctx, e !== undefined, args[i]!);
    if (e === undefined || e.kind !== KIND_PUT) out.null();
    else out.bulk(e.value);
  }
}

/**
 * The puts of an MSET/MSETNX. One command is one engine batch, so that a crash keeps all of it or
 * none (as Redis's AOF does). A batch holds as many keys as the protocol lets one command name;
 * more key and value bytes than a batch holds is an error that writes nothing.
 */
function msetOps(ctx: CommandContext): WriteOp[] {
  const { args } = ctx;
  if (args.length % 2 === 0) throw arityError(lower(args[0]!));
  const name = lower(args[0]!).toUpperCase();
  const keys = (args.length - 1) / 2;
  if (keys > BATCH_OPS_MAX) {
    throw new ReplyError(
      `ERR ${name} of ${keys} keys: at most ${BATCH_OPS_MAX} keys in one command (one atomic ` +
        `batch)`,
    );
  }
  const ops: WriteOp[] = new Array(keys);
  let bytes = 0;
  for (let i = 1, j = 0; i < args.length; i += 2, j++) {
    bytes += args[i]!.length + args[i + 1]!.length;
    ops[j] = { type: "put", key: args[i]!, value: args[i + 1]! };
  }
  if (bytes > BATCH_SIZE_BYTES_MAX) {
    throw new ReplyError(
      `ERR ${name} of ${bytes} key and value bytes: at most ${BATCH_SIZE_BYTES_MAX} in one ` +
        `command (one atomic batch)`,
    );
  }
  return ops;
}

/**
 * `new`/`set` for every key of an MSET, in order; `existed[j]` tells whether the j-th key
 * existed before (none did when undefined), and a repeated key is new only once.
 */
function notifyMset(ctx: CommandContext, existed: boolean[] | undefined): void {
  if (ctx.server.notifier.flags === 0) return;
  const seen = new Set<string>();
  for (let i = 1, j = 0; i < ctx.args.length; i += 2, j++) {
    const id = keyId(ctx.args[i]!);
    notifySet(ctx, ctx.args[i]!, seen.has(id) || (existed?.[j] ?? false), false);
    seen.add(id);
  }
}

function mset(ctx: CommandContext): void {
  const ops = msetOps(ctx);
  let existed: boolean[] | undefined;
  if (ctx.server.notifier.flags !== 0) {
    existed = [];
    for (let i = 1; i < ctx.args.length; i += 2) existed.push(existedFor(ctx, ctx.args[i]!));
  }
  ctx.write(ops, true);
  notifyMset(ctx, existed);
  ctx.out.ok();
}

function msetnx(ctx: CommandContext): void {
  const ops = msetOps(ctx);
  const db = ctx.server.db;
  for (let i = 1; i < ctx.args.length; i += 2) {
    if (db.getEntry(ctx.args[i]!) !== undefined) return ctx.out.integer(0);
  }
  ctx.write(ops, true);
  notifyMset(ctx, undefined);
  ctx.out.integer(1);
}

type Spec = Omit<CommandSpec, "group" | "since"> & { since?: string };

/** A string command's table row (group `string`, since 1.0.0 unless given). */
export function stringSpec(s: Spec): CommandSpec {
  return { group: "string", since: "1.0.0", ...s };
}
const spec = stringSpec;

/** Flags of string writes and of string reads. */
export const W = ["write", "denyoom"];
export const R = ["readonly", "fast"];

/** The string commands. */
export const STRING_COMMANDS: CommandSpec[] = [
  spec({
    name: "get",
    arity: 2,
    flags: R,
    firstKey: 1,
    lastKey: 1,
    step: 1,
    summary: "Returns the string value of a key.",
    handler: get,
  }),
  spec({
    name: "set",
    arity: -3,
    flags: W,
    firstKey: 1,
    lastKey: 1,
    step: 1,
    summary: "Sets the string value of a key, ignoring its type.",
    handler: set,
  }),
  spec({
    name: "setnx",
    arity: 3,
    flags: [...W, "fast"],
    firstKey: 1,
    lastKey: 1,
    step: 1,
    summary: "Set the string value of a key only when the key doesn't exist.",
    handler: setnx,
  }),
  spec({
    name: "setex",
    arity: 4,
    flags: W,
    firstKey: 1,
    lastKey: 1,
    step: 1,
    since: "2.0.0",
    summary: "Sets the string value and expiration time of a key.",
    handler: (ctx) => setexGeneric(ctx, "ex", "setex"),
  }),
  spec({
    name: "psetex",
    arity: 4,
    flags: W,
    firstKey: 1,
    lastKey: 1,
    step: 1,
    since: "2.6.0",
    summary: "Sets both string value and expiration time in milliseconds of a key.",
    handler: (ctx) => setexGeneric(ctx, "px", "psetex"),
  }),
  spec({
    name: "getset",
    arity: 3,
    flags: [...W, "fast"],
    firstKey: 1,
    lastKey: 1,
    step: 1,
    summary: "Returns the previous string value of a key after setting it to a new value.",
    handler: getset,
  }),
  spec({
    name: "getdel",
    arity: 2,
    flags: ["write", "fast"],
    firstKey: 1,
    lastKey: 1,
    step: 1,
    since: "6.2.0",
    summary: "Returns the string value of a key after deleting the key.",
    handler: getdel,
  }),
  spec({
    name: "getex",
    arity: -2,
    flags: ["write", "fast"],
    firstKey: 1,
    lastKey: 1,
    step: 1,
    since: "6.2.0",
    summary: "Returns the string value of a key after setting its expiration time.",
    handler: getex,
  }),
  spec({
    name: "mget",
    arity: -2,
    flags: R,
    firstKey: 1,
    lastKey: -1,
    step: 1,
    summary: "Atomically returns the string values of one or more keys.",
    handler: mget,
  }),
  spec({
    name: "mset",
    arity: -3,
    flags: W,
    firstKey: 1,
    lastKey: -1,
    step: 2,
    since: "1.0.1",
    summary: "Atomically creates or modifies the string values of one or more keys.",
    handler: mset,
  }),
  spec({
    name: "msetnx",
    arity: -3,
    flags: W,
    firstKey: 1,
    lastKey: -1,
    step: 2,
    since: "1.0.1",
    summary:
      "Atomically modifies the string values of one or more keys only when all keys don't exist.",
    handler: msetnx,
  }),
];
