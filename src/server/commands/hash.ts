/**
 * Hash commands of Redis 7.0: HSET HMSET HSETNX HGET HMGET HDEL HLEN HEXISTS HSTRLEN HINCRBY
 * HINCRBYFLOAT HKEYS HVALS HGETALL HSCAN HRANDFIELD. Each field is its own engine entry
 * (ARCHITECTURE.md § "Member types"): a hash is never loaded whole to change one field, and
 * fields come back in unsigned byte order.
 *
 * @module
 */

import type { WriteOp } from "../../engine/mod.ts";
import { memoGetEntry } from "../../types/entry_memo.ts";
import { SPACE_HASH_FIELD, TYPE_HASH } from "../../keyspace/mod.ts";
import { memberKey, memberOf, members, metaOp, type TypeMeta } from "../../types/layout.ts";
import {
  arityError,
  type CommandContext,
  type CommandSpec,
  intArg,
  isInt64,
  ONE_KEY,
  parseInt64,
  ReplyError,
  specBuilder,
} from "../context.ts";
import {
  addLongDouble,
  formatLongDoubleHuman,
  LONG_DOUBLE_ZERO,
  parseLongDoubleBytes,
} from "../../util/long_double.ts";
import { keyId } from "../txn_overlay.ts";
import {
  distinctPositions,
  metaForWrite,
  parseKeyScan,
  randomCountWithOption,
  randomIndex,
  readMeta,
  readMetaToRead,
  scanReply,
  typeEvent,
} from "./_types.ts";

const encoder = new TextEncoder();

function fieldKey(meta: TypeMeta, field: Uint8Array): Uint8Array {
  return memberKey(SPACE_HASH_FIELD, meta.version, field);
}

function getField(ctx: CommandContext, meta: TypeMeta, field: Uint8Array): Uint8Array | undefined {
  return memoGetEntry(ctx.server.db, fieldKey(meta, field))?.value;
}

/** Every field and value of the hash, in byte order. */
function* fields(ctx: CommandContext, meta: TypeMeta): Generator<[Uint8Array, Uint8Array]> {
  for (const [k, v] of members(ctx.server.db, SPACE_HASH_FIELD, meta.version)) {
    yield [memberOf(k), v];
  }
}

/** Sets `pairs` (field, value) in `key`; returns how many fields are new. */
function setFields(
  ctx: CommandContext,
  key: Uint8Array,
  pairs: [Uint8Array, Uint8Array][],
  onlyNew: boolean,
): number {
  const ops: WriteOp[] = [];
  const meta = metaForWrite(ctx, key, TYPE_HASH, ops);
  const db = ctx.server.db;
  // Fields set earlier in this command (one field, the usual HSET, needs no set).
  const seen = pairs.length > 1 ? new Set<string>() : undefined;
  let added = 0;
  for (const [field, value] of pairs) {
    const fk = fieldKey(meta, field);
    const id = seen === undefined ? "" : keyId(field);
    const fresh = !(seen?.has(id) ?? false) &&
      (meta.size === 0 || memoGetEntry(db, fk) === undefined);
    if (onlyNew && !fresh) return 0;
    if (fresh) {
      seen?.add(id);
      added++;
    }
    ops.push({ type: "put", key: fk, value });
  }
  meta.size += added;
  ops.push(metaOp(key, meta));
  ctx.write(ops);
  typeEvent(ctx, "hash", "hset", key, meta);
  return added;
}

function pairsFrom(ctx: CommandContext, name: string): [Uint8Array, Uint8Array][] {
  const { args } = ctx;
  if (args.length % 2 === 1) throw arityError(name);
  const pairs: [Uint8Array, Uint8Array][] = [];
  for (let i = 2; i < args.length; i += 2) pairs.push([args[i]!, args[i + 1]!]);
  return pairs;
}

/**
 * `setFields` of one field (the usual HSET): no pair arrays, and the batch built whole when
 * the hash exists.
 */
function setField(
  ctx: CommandContext,
  key: Uint8Array,
  field: Uint8Array,
  value: Uint8Array,
): number {
  const created: WriteOp[] = [];
  const meta = metaForWrite(ctx, key, TYPE_HASH, created);
  const fk = fieldKey(meta, field);
  const fresh = meta.size === 0 || memoGetEntry(ctx.server.db, fk) === undefined;
  if (fresh) meta.size++;
  const put: WriteOp = { type: "put", key: fk, value };
  if (created.length === 0) ctx.write([put, metaOp(key, meta)]);
  else {
    created.push(put, metaOp(key, meta));
    ctx.write(created);
  }
  typeEvent(ctx, "hash", "hset", key, meta);
  return fresh ? 1 : 0;
}

function hset(ctx: CommandContext): void {
  const args = ctx.args;
  if (args.length === 4) return ctx.out.integer(setField(ctx, args[1]!, args[2]!, args[3]!));
  ctx.out.integer(setFields(ctx, args[1]!, pairsFrom(ctx, "hset"), false));
}

function hmset(ctx: CommandContext): void {
  setFields(ctx, ctx.args[1]!, pairsFrom(ctx, "hmset"), false);
  ctx.out.ok();
}

function hsetnx(ctx: CommandContext): void {
  ctx.out.integer(setFields(ctx, ctx.args[1]!, [[ctx.args[2]!, ctx.args[3]!]], true));
}

function hget(ctx: CommandContext): void {
  const meta = readMetaToRead(ctx, ctx.args[1]!, TYPE_HASH);
  const v = meta === undefined ? undefined : getField(ctx, meta, ctx.args[2]!);
  if (v === undefined) ctx.out.null();
  else ctx.out.bulk(v);
}

function hmget(ctx: CommandContext): void {
  const meta = readMetaToRead(ctx, ctx.args[1]!, TYPE_HASH);
  ctx.out.array(ctx.args.length - 2);
  for (let i = 2; i < ctx.args.length; i++) {
    const v = meta === undefined ? undefined : getField(ctx, meta, ctx.args[i]!);
    if (v === undefined) ctx.out.null();
    else ctx.out.bulk(v);
  }
}

function hdel(ctx: CommandContext): void {
  const key = ctx.args[1]!;
  const meta = readMeta(ctx, key, TYPE_HASH);
  if (meta === undefined) return ctx.out.integer(0);
  const db = ctx.server.db;
  const ops: WriteOp[] = [];
  const seen = new Set<string>();
  let removed = 0;
  for (let i = 2; i < ctx.args.length; i++) {
    const field = ctx.args[i]!;
    const id = keyId(field);
    if (seen.has(id)) continue;
    seen.add(id);
    const fk = fieldKey(meta, field);
    if (db.getEntry(fk) === undefined) continue;
    ops.push({ type: "delete", key: fk });
    removed++;
  }
  if (removed > 0) {
    meta.size -= removed;
    ops.push(metaOp(key, meta));
    ctx.write(ops);
    typeEvent(ctx, "hash", "hdel", key);
    if (meta.size === 0) typeEvent(ctx, "generic", "del", key);
  }
  ctx.out.integer(removed);
}

function hlen(ctx: CommandContext): void {
  ctx.out.integer(readMetaToRead(ctx, ctx.args[1]!, TYPE_HASH)?.size ?? 0);
}

function hexists(ctx: CommandContext): void {
  const meta = readMetaToRead(ctx, ctx.args[1]!, TYPE_HASH);
  ctx.out.integer(meta !== undefined && getField(ctx, meta, ctx.args[2]!) !== undefined ? 1 : 0);
}

function hstrlen(ctx: CommandContext): void {
  const meta = readMetaToRead(ctx, ctx.args[1]!, TYPE_HASH);
  ctx.out.integer(meta === undefined ? 0 : getField(ctx, meta, ctx.args[2]!)?.length ?? 0);
}

function hincrby(ctx: CommandContext): void {
  const key = ctx.args[1]!;
  const field = ctx.args[2]!;
  const incr = intArg(ctx.args[3]!);
  const ops: WriteOp[] = [];
  const meta = metaForWrite(ctx, key, TYPE_HASH, ops);
  const old = meta.size === 0 ? undefined : getField(ctx, meta, field);
  let current = 0n;
  if (old !== undefined) {
    const v = parseInt64(old);
    if (v === undefined) throw new ReplyError("ERR hash value is not an integer");
    current = v;
  }
  const next = current + incr;
  if (!isInt64(next)) throw new ReplyError("ERR increment or decrement would overflow");
  if (old === undefined) meta.size++;
  ops.push({ type: "put", key: fieldKey(meta, field), value: encoder.encode(next.toString()) });
  ops.push(metaOp(key, meta));
  ctx.write(ops);
  typeEvent(ctx, "hash", "hincrby", key, meta);
  ctx.out.integer(next);
}

function hincrbyfloat(ctx: CommandContext): void {
  const key = ctx.args[1]!;
  const field = ctx.args[2]!;
  // In Redis's long double, parsed and printed as Redis does (src/util/long_double.ts).
  const incr = parseLongDoubleBytes(ctx.args[3]!);
  if (incr === undefined) throw new ReplyError("ERR value is not a valid float");
  if (typeof incr === "number") throw new ReplyError("ERR value is NaN or Infinity");
  const ops: WriteOp[] = [];
  const meta = metaForWrite(ctx, key, TYPE_HASH, ops);
  const old = meta.size === 0 ? undefined : getField(ctx, meta, field);
  const current = old === undefined ? LONG_DOUBLE_ZERO : parseLongDoubleBytes(old);
  if (current === undefined) throw new ReplyError("ERR hash value is not a float");
  const next = typeof current === "number" ? undefined : addLongDouble(current, incr);
  if (next === undefined) throw new ReplyError("ERR increment would produce NaN or Infinity");
  if (old === undefined) meta.size++;
  const text = encoder.encode(formatLongDoubleHuman(next));
  ops.push({ type: "put", key: fieldKey(meta, field), value: text });
  ops.push(metaOp(key, meta));
  ctx.write(ops);
  typeEvent(ctx, "hash", "hincrbyfloat", key, meta);
  ctx.out.bulk(text);
}

function hkeysVals(ctx: CommandContext, which: "keys" | "vals" | "all"): void {
  const meta = readMetaToRead(ctx, ctx.args[1]!, TYPE_HASH);
  if (meta === undefined) return which === "all" ? ctx.out.map(0) : ctx.out.array(0);
  if (which === "all") ctx.out.map(meta.size);
  else ctx.out.array(meta.size);
  for (const [f, v] of fields(ctx, meta)) {
    if (which !== "vals") ctx.out.bulk(f);
    if (which !== "keys") ctx.out.bulk(v);
  }
}

function hscan(ctx: CommandContext): void {
  const parsed = parseKeyScan(ctx, TYPE_HASH);
  if (parsed === undefined) return;
  const { scan, meta } = parsed;
  scanReply(ctx, SPACE_HASH_FIELD, meta, scan, (f, v, found) => found.push(f, v));
}

function hrandfield(ctx: CommandContext): void {
  const { args } = ctx;
  const key = args[1]!;
  if (args.length === 2) {
    const meta = readMetaToRead(ctx, key, TYPE_HASH);
    if (meta === undefined) return ctx.out.null();
    const target = randomIndex(meta.size);
    let i = 0;
    for (const [f] of fields(ctx, meta)) {
      if (i++ === target) return ctx.out.bulk(f);
    }
    return ctx.out.null();
  }
  const { count, withOption: withValues } = randomCountWithOption(args, "withvalues");
  const meta = readMetaToRead(ctx, key, TYPE_HASH);
  if (meta === undefined || count === 0) return ctx.out.array(0);
  const resp3 = ctx.client.protocol === 3;
  const emit = (f: Uint8Array, v: Uint8Array) => {
    if (withValues && resp3) ctx.out.array(2);
    ctx.out.bulk(f);
    if (withValues) ctx.out.bulk(v);
  };
  const width = withValues && !resp3 ? 2 : 1;
  if (count < 0) {
    // Repetitions allowed: every pick independent.
    const n = -count;
    const all = [...fields(ctx, meta)];
    ctx.out.array(n * width);
    for (let i = 0; i < n; i++) {
      const [f, v] = all[randomIndex(all.length)]!;
      emit(f, v);
    }
    return;
  }
  if (count >= meta.size) {
    ctx.out.array(meta.size * width);
    for (const [f, v] of fields(ctx, meta)) emit(f, v);
    return;
  }
  const picks = distinctPositions(meta.size, count);
  ctx.out.array(count * width);
  let i = 0;
  let p = 0;
  for (const [f, v] of fields(ctx, meta)) {
    if (p >= picks.length) break;
    if (i++ === picks[p]) {
      emit(f, v);
      p++;
    }
  }
}

const spec = specBuilder("hash", ONE_KEY);
const W = ["write", "denyoom", "fast"];
const R = ["readonly", "fast"];

/** The hash commands. */
export const HASH_COMMANDS: CommandSpec[] = [
  spec("hset", -4, W, "2.0.0", "Creates or modifies the value of a field in a hash.", hset),
  spec("hmset", -4, W, "2.0.0", "Sets the values of multiple fields.", hmset),
  spec("hsetnx", 4, W, "2.0.0", "Sets the value of a field only when it doesn't exist.", hsetnx),
  spec("hget", 3, R, "2.0.0", "Returns the value of a field in a hash.", hget),
  spec("hmget", -3, R, "2.0.0", "Returns the values of all fields in a hash.", hmget),
  spec("hdel", -3, ["write", "fast"], "2.0.0", "Deletes one or more fields from a hash.", hdel),
  spec("hlen", 2, R, "2.0.0", "Returns the number of fields in a hash.", hlen),
  spec("hexists", 3, R, "2.0.0", "Determines whether a field exists in a hash.", hexists),
  spec("hstrlen", 3, R, "3.2.0", "Returns the length of the value of a field.", hstrlen),
  spec("hincrby", 4, W, "2.0.0", "Increments the integer value of a field by a number.", hincrby),
  spec(
    "hincrbyfloat",
    4,
    W,
    "2.6.0",
    "Increments the floating point value of a field by a number.",
    hincrbyfloat,
  ),
  spec(
    "hkeys",
    2,
    ["readonly"],
    "2.0.0",
    "Returns all fields in a hash.",
    (c) => hkeysVals(c, "keys"),
  ),
  spec(
    "hvals",
    2,
    ["readonly"],
    "2.0.0",
    "Returns all values in a hash.",
    (c) => hkeysVals(c, "vals"),
  ),
  spec(
    "hgetall",
    2,
    ["readonly"],
    "2.0.0",
    "Returns all fields and values in a hash.",
    (c) => hkeysVals(c, "all"),
  ),
  spec("hscan", -3, ["readonly"], "2.8.0", "Iterates over fields and values of a hash.", hscan),
  spec(
    "hrandfield",
    -2,
    ["readonly"],
    "6.2.0",
    "Returns one or more random fields from a hash.",
    hrandfield,
  ),
];
