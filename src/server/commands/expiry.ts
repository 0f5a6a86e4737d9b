/**
 * Expiry commands: EXPIRE PEXPIRE EXPIREAT PEXPIREAT (NX XX GT LT) TTL PTTL PERSIST EXPIRETIME
 * PEXPIRETIME, and the helpers SET/GETEX/SETEX use to turn options into an absolute time.
 *
 * The engine stores an absolute expiry (Unix ms, 0 = none) with each value, so changing a time
 * to live rewrites the value with the new expiry. A time at or before now deletes the key.
 *
 * @module
 */

import type { WriteOp } from "../../mod.ts";
import { EXPIRE_AT_MS_MAX } from "../../limits.ts";
import { KIND_META } from "../../util/entry.ts";
import {
  type CommandContext,
  type CommandSpec,
  echoArg,
  intArg,
  lower,
  ONE_KEY,
  ReplyError,
  specBuilder,
} from "../context.ts";
import { NOTIFY, notify, notifyMiss } from "../notifications.ts";

const INT64_MAX = 2n ** 63n - 1n;

/** The op type that rewrites an entry of `kind` (a string, or another type's metadata). */
function kindOp(kind: number): "put" | "meta" {
  return kind === KIND_META ? "meta" : "put";
}

function invalidExpire(name: string): ReplyError {
  return new ReplyError(`ERR invalid expire time in '${name}' command`);
}

/**
 * An expiry time Redis accepts (any int64 that did not overflow) as the engine stores it: a
 * time past `EXPIRE_AT_MS_MAX` (year 275760, the end of JavaScript's Date range) is kept as that
 * time. The key expires as late as Redis would let it, in practice never; only PEXPIRETIME
 * tells the two apart.
 */
function clampExpireAt(ms: bigint): number {
  return ms > BigInt(EXPIRE_AT_MS_MAX) ? EXPIRE_AT_MS_MAX : Number(ms);
}

/**
 * The absolute expiry (Unix ms) of a SET-style option: `ex`/`px` relative to `nowMs` (the
 * command's time), `exat`/`pxat` absolute. Non-positive or overflowing times are
 * `ERR invalid expire time in '<name>' command`.
 */
export function expireAtFromArg(
  arg: Uint8Array,
  unit: string,
  name: string,
  nowMs: number,
): number {
  let ms = intArg(arg);
  const seconds = unit === "ex" || unit === "exat";
  if (ms <= 0n || (seconds && ms > INT64_MAX / 1000n)) throw invalidExpire(name);
  if (seconds) ms *= 1000n;
  if (unit === "ex" || unit === "px") ms += BigInt(nowMs);
  if (ms <= 0n || ms > INT64_MAX) throw invalidExpire(name);
  return clampExpireAt(ms);
}

/**
 * A put of `value` expiring at `expireAtMs` (0 = never). With `nowMs`, the command's time, an
 * expiry the command set that is already past at that time becomes a delete, as Redis deletes
 * a key whose new expiry is in the past (`SET ... PXAT` of a past time).
 *
 * The comparison is with the command's time, never with a later clock reading: `SET k v PX 1`
 * computed `now + 1` and must write the key, which then expires and is announced `expired`
 * (a later reading turned it into a silent delete whenever a millisecond passed in between).
 * Without `nowMs` (a key keeping the expiry it had when it was read), the put is written even if
 * that time has passed since: the entry is dead on arrival and expires as any other.
 */
export function putOp(
  key: Uint8Array,
  value: Uint8Array,
  expireAtMs: number,
  nowMs?: number,
): WriteOp {
  if (expireAtMs === 0) return { type: "put", key, value };
  if (nowMs !== undefined && expireAtMs <= nowMs) return { type: "delete", key };
  return { type: "put", key, value, expireAtMs };
}

/**
 * EXPIRE and its forms; `relative` adds the command's time. A time already past at the command's
 * time deletes the key; the command's one clock reading decides both, so `PEXPIRE k 1` always
 * sets an expiry (a second reading would sometimes see it past and delete without `expired`).
 */
function expireGeneric(ctx: CommandContext, name: string, relative: boolean, unitS: boolean) {
  const { args } = ctx;
  const nowMs = Date.now();
  const basetimeMs = relative ? nowMs : 0;
  let nx = false, xx = false, gt = false, lt = false;
  for (let i = 3; i < args.length; i++) {
    const opt = lower(args[i]!);
    if (opt === "nx") nx = true;
    else if (opt === "xx") xx = true;
    else if (opt === "gt") gt = true;
    else if (opt === "lt") lt = true;
    else throw new ReplyError(`ERR Unsupported option ${echoArg(args[i]!)}`);
  }
  if (nx && (xx || gt || lt)) {
    throw new ReplyError("ERR NX and XX, GT or LT options at the same time are not compatible");
  }
  if (gt && lt) throw new ReplyError("ERR GT and LT options at the same time are not compatible");
  // The time after the options, as Redis 7.0 reads them.
  let when = intArg(args[2]!);
  if (unitS) {
    if (when > INT64_MAX / 1000n || when < -INT64_MAX / 1000n) throw invalidExpire(name);
    when *= 1000n;
  }
  if (when > INT64_MAX - BigInt(basetimeMs)) throw invalidExpire(name);
  when += BigInt(basetimeMs);
  const key = args[1]!;
  const e = ctx.server.db.getEntry(key);
  if (e === undefined) return ctx.out.integer(0);
  const whenMs = when <= 0n ? -1 : clampExpireAt(when);
  const current = e.expireAtMs === 0 ? -1 : e.expireAtMs;
  if (nx && current !== -1) return ctx.out.integer(0);
  if (xx && current === -1) return ctx.out.integer(0);
  if (gt && (current === -1 || whenMs <= current)) return ctx.out.integer(0);
  if (lt && current !== -1 && whenMs >= current) return ctx.out.integer(0);
  if (whenMs <= nowMs) {
    ctx.write([{ type: "delete", key }]);
    notify(ctx, NOTIFY.generic, "del", key);
  } else {
    ctx.write([{ type: kindOp(e.kind), key, value: e.value, expireAtMs: whenMs }]);
    notify(ctx, NOTIFY.generic, "expire", key);
  }
  ctx.out.integer(1);
}

function ttlGeneric(ctx: CommandContext, ms: boolean, absolute: boolean): void {
  const e = ctx.server.db.getEntry(ctx.args[1]!);
  if (e === undefined) {
    notifyMiss(ctx, ctx.args[1]!);
    return ctx.out.integer(-2);
  }
  if (e.expireAtMs === 0) return ctx.out.integer(-1);
  let ttl = absolute ? e.expireAtMs : e.expireAtMs - Date.now();
  if (ttl < 0) ttl = 0;
  ctx.out.integer(ms ? ttl : Math.floor((ttl + 500) / 1000));
}

function persist(ctx: CommandContext): void {
  const key = ctx.args[1]!;
  const e = ctx.server.db.getEntry(key);
  if (e === undefined || e.expireAtMs === 0) return ctx.out.integer(0);
  ctx.write([{ type: kindOp(e.kind), key, value: e.value }]);
  notify(ctx, NOTIFY.generic, "persist", key);
  ctx.out.integer(1);
}

const spec = specBuilder("generic", ONE_KEY);

const W = ["write", "fast"];
const R = ["readonly", "fast"];

/** The expiry commands. */
export const EXPIRY_COMMANDS: CommandSpec[] = [
  spec(
    "expire",
    -3,
    W,
    "1.0.0",
    "Sets the expiration time of a key in seconds.",
    (ctx) => expireGeneric(ctx, "expire", true, true),
  ),
  spec(
    "pexpire",
    -3,
    W,
    "2.6.0",
    "Sets the expiration time of a key in milliseconds.",
    (ctx) => expireGeneric(ctx, "pexpire", true, false),
  ),
  spec("expireat", -3, W, "1.2.0", "Sets the expiration time of a key to a Unix timestamp.", (
    ctx,
  ) => expireGeneric(ctx, "expireat", false, true)),
  spec(
    "pexpireat",
    -3,
    W,
    "2.6.0",
    "Sets the expiration time of a key to a Unix milliseconds timestamp.",
    (ctx) => expireGeneric(ctx, "pexpireat", false, false),
  ),
  spec(
    "ttl",
    2,
    R,
    "1.0.0",
    "Returns the expiration time in seconds of a key.",
    (ctx) => ttlGeneric(ctx, false, false),
  ),
  spec(
    "pttl",
    2,
    R,
    "2.6.0",
    "Returns the expiration time in milliseconds of a key.",
    (ctx) => ttlGeneric(ctx, true, false),
  ),
  spec(
    "expiretime",
    2,
    R,
    "7.0.0",
    "Returns the expiration time of a key as a Unix timestamp.",
    (ctx) => ttlGeneric(ctx, false, true),
  ),
  spec(
    "pexpiretime",
    2,
    R,
    "7.0.0",
    "Returns the expiration time of a key as a Unix milliseconds timestamp.",
    (ctx) => ttlGeneric(ctx, true, true),
  ),
  spec("persist", 2, W, "2.2.0", "Removes the expiration time of a key.", persist),
];
