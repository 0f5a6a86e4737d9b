/**
 * String commands that change a value in place: INCR INCRBY DECR DECRBY INCRBYFLOAT APPEND
 * STRLEN GETRANGE SUBSTR SETRANGE. Each reads with `db.getEntry` and writes with `ctx.write` in
 * the same synchronous run, so it is atomic with respect to every other connection, and keeps
 * the key's time to live, as Redis does.
 *
 * @module
 */

import { VALUE_SIZE_BYTES_MAX } from "../../limits.ts";
import {
  type CommandContext,
  type CommandSpec,
  ERR_NOT_FLOAT,
  ERR_NOT_INTEGER,
  intArg,
  isInt64,
  parseInt64,
  ReplyError,
} from "../context.ts";
import { putOp } from "./expiry.ts";
import {
  addLongDouble,
  formatLongDoubleHuman,
  LONG_DOUBLE_ZERO,
  parseLongDoubleBytes,
} from "../../util/long_double.ts";
import { NOTIFY, notify, notifyMiss, notifyNew } from "../notifications.ts";
import { R, stringEntry, stringSpec, W } from "./strings.ts";

const encoder = new TextEncoder();

/** The stored value as an int64, or the not-an-integer error. */
function storedInt(value: Uint8Array): bigint {
  const v = parseInt64(value);
  if (v === undefined) throw new ReplyError(ERR_NOT_INTEGER);
  return v;
}

function incrByGeneric(ctx: CommandContext, delta: bigint): void {
  const key = ctx.args[1]!;
  const e = stringEntry(ctx, key);
  const current = e === undefined ? 0n : storedInt(e.value);
  const next = current + delta;
  if (!isInt64(next)) throw new ReplyError("ERR increment or decrement would overflow");
  // INCR keeps the key's time to live, as in Redis.
  ctx.write([putOp(key, encoder.encode(next.toString()), e?.expireAtMs ?? 0)]);
  notifyNew(ctx, key, e !== undefined);
  notify(ctx, NOTIFY.string, "incrby", key);
  ctx.out.integer(next);
}

function incrbyfloat(ctx: CommandContext): void {
  const key = ctx.args[1]!;
  // Redis 7.0's order: the key's type, then its value, then the increment.
  const e = stringEntry(ctx, key);
  // In Redis's long double, parsed and printed as Redis does (src/util/long_double.ts).
  const current = e === undefined ? LONG_DOUBLE_ZERO : parseLongDoubleBytes(e.value);
  if (current === undefined) throw new ReplyError(ERR_NOT_FLOAT);
  const delta = parseLongDoubleBytes(ctx.args[2]!);
  if (delta === undefined) throw new ReplyError(ERR_NOT_FLOAT);
  const next = typeof current === "number" || typeof delta === "number"
    ? undefined
    : addLongDouble(current, delta);
  if (next === undefined) throw new ReplyError("ERR increment would produce NaN or Infinity");
  const s = encoder.encode(formatLongDoubleHuman(next));
  ctx.write([putOp(key, s, e?.expireAtMs ?? 0)]);
  notifyNew(ctx, key, e !== undefined);
  notify(ctx, NOTIFY.string, "incrbyfloat", key);
  ctx.out.bulk(s);
}

function append(ctx: CommandContext): void {
  const key = ctx.args[1]!;
  const add = ctx.args[2]!;
  const e = stringEntry(ctx, key);
  const oldLength = e?.value.length ?? 0;
  if (oldLength + add.length > VALUE_SIZE_BYTES_MAX) {
    throw new ReplyError("ERR string exceeds maximum allowed size (proto-max-bulk-len)");
  }
  const value = new Uint8Array(oldLength + add.length);
  if (e !== undefined) value.set(e.value);
  value.set(add, oldLength);
  ctx.write([putOp(key, value, e?.expireAtMs ?? 0)]);
  notifyNew(ctx, key, e !== undefined);
  notify(ctx, NOTIFY.string, "append", key);
  ctx.out.integer(value.length);
}

function strlen(ctx: CommandContext): void {
  const e = stringEntry(ctx, ctx.args[1]!);
  if (e === undefined) notifyMiss(ctx, ctx.args[1]!);
  ctx.out.integer(e?.value.length ?? 0);
}

function getrange(ctx: CommandContext): void {
  let start = intArg(ctx.args[2]!);
  let end = intArg(ctx.args[3]!);
  const e = stringEntry(ctx, ctx.args[1]!);
  if (e === undefined) notifyMiss(ctx, ctx.args[1]!);
  const value = e?.value ?? new Uint8Array(0);
  const n = BigInt(value.length);
  if (start < 0n && end < 0n && start > end) return ctx.out.bulk("");
  if (start < 0n) start += n;
  if (end < 0n) end += n;
  if (start < 0n) start = 0n;
  if (end < 0n) end = 0n;
  if (end >= n) end = n - 1n;
  if (start > end || n === 0n) return ctx.out.bulk("");
  ctx.out.bulk(value.subarray(Number(start), Number(end) + 1));
}

function setrange(ctx: CommandContext): void {
  const key = ctx.args[1]!;
  const offset = intArg(ctx.args[2]!);
  const patch = ctx.args[3]!;
  if (offset < 0n) throw new ReplyError("ERR offset is out of range");
  const e = stringEntry(ctx, key);
  if (patch.length === 0) return ctx.out.integer(e?.value.length ?? 0);
  if (offset + BigInt(patch.length) > BigInt(VALUE_SIZE_BYTES_MAX)) {
    throw new ReplyError("ERR string exceeds maximum allowed size (proto-max-bulk-len)");
  }
  const off = Number(offset);
  const oldLength = e?.value.length ?? 0;
  const value = new Uint8Array(Math.max(oldLength, off + patch.length));
  if (e !== undefined) value.set(e.value);
  value.set(patch, off);
  ctx.write([putOp(key, value, e?.expireAtMs ?? 0)]);
  notifyNew(ctx, key, e !== undefined);
  notify(ctx, NOTIFY.string, "setrange", key);
  ctx.out.integer(value.length);
}

const spec = stringSpec;

/** The string commands that change a value in place. */
export const STRING_EDIT_COMMANDS: CommandSpec[] = [
  spec({
    name: "incr",
    arity: 2,
    flags: [...W, "fast"],
    firstKey: 1,
    lastKey: 1,
    step: 1,
    summary: "Increments the integer value of a key by one.",
    handler: (ctx) => incrByGeneric(ctx, 1n),
  }),
  spec({
    name: "decr",
    arity: 2,
    flags: [...W, "fast"],
    firstKey: 1,
    lastKey: 1,
    step: 1,
    summary: "Decrements the integer value of a key by one.",
    handler: (ctx) => incrByGeneric(ctx, -1n),
  }),
  spec({
    name: "incrby",
    arity: 3,
    flags: [...W, "fast"],
    firstKey: 1,
    lastKey: 1,
    step: 1,
    summary: "Increments the integer value of a key by a number.",
    handler: (ctx) => incrByGeneric(ctx, intArg(ctx.args[2]!)),
  }),
  spec({
    name: "decrby",
    arity: 3,
    flags: [...W, "fast"],
    firstKey: 1,
    lastKey: 1,
    step: 1,
    summary: "Decrements a number from the integer value of a key.",
    handler: (ctx) => {
      const by = intArg(ctx.args[2]!);
      if (by === -(2n ** 63n)) throw new ReplyError("ERR decrement would overflow");
      incrByGeneric(ctx, -by);
    },
  }),
  spec({
    name: "incrbyfloat",
    arity: 3,
    flags: [...W, "fast"],
    firstKey: 1,
    lastKey: 1,
    step: 1,
    since: "2.6.0",
    summary: "Increment the floating point value of a key by a number.",
    handler: incrbyfloat,
  }),
  spec({
    name: "append",
    arity: 3,
    flags: W,
    firstKey: 1,
    lastKey: 1,
    step: 1,
    since: "2.0.0",
    summary: "Appends a string to the value of a key.",
    handler: append,
  }),
  spec({
    name: "strlen",
    arity: 2,
    flags: R,
    firstKey: 1,
    lastKey: 1,
    step: 1,
    since: "2.2.0",
    summary: "Returns the length of a string value.",
    handler: strlen,
  }),
  spec({
    name: "getrange",
    arity: 4,
    flags: ["readonly"],
    firstKey: 1,
    lastKey: 1,
    step: 1,
    since: "2.4.0",
    summary: "Returns a substring of the string stored at a key.",
    handler: getrange,
  }),
  // Redis 1.0's name for GETRANGE, deprecated since 2.0 and still served by Redis 7.0.
  spec({
    name: "substr",
    arity: 4,
    flags: ["readonly"],
    firstKey: 1,
    lastKey: 1,
    step: 1,
    since: "1.0.0",
    summary: "Returns a substring from a string value.",
    handler: getrange,
  }),
  spec({
    name: "setrange",
    arity: 4,
    flags: W,
    firstKey: 1,
    lastKey: 1,
    step: 1,
    since: "2.2.0",
    summary: "Overwrites a part of a string value with another by an offset.",
    handler: setrange,
  }),
];
