/**
 * List commands of Redis 7.0: LPUSH RPUSH LPUSHX RPUSHX LPOP RPOP LLEN LRANGE LINDEX LSET LREM
 * LTRIM LINSERT LPOS LMOVE RPOPLPUSH LMPOP (the blocking forms are in `blocking.ts`). Items are
 * engine entries at consecutive indexes `head … head + size − 1` (ARCHITECTURE.md § "Member
 * types"): pushes, pops, LINDEX and LSET are point operations, LRANGE one ordered read.
 *
 * @module
 */

import type { WriteOp } from "../../engine/mod.ts";
import { ERR_WRONGTYPE, SPACE_LIST_ITEM, TYPE_LIST } from "../../keyspace/mod.ts";
import { internalIndexKey, lookup, metaOp, readU64, type TypeMeta } from "../../types/layout.ts";
import { listRangeCache } from "../../types/list_cache.ts";
import { TYPES_LIST_CACHE_WINDOW_BYTES_MAX } from "../../limits.ts";
import { encodeBulks } from "../resp_writer.ts";
import { notifyMiss } from "../notifications.ts";
import { equalBytes } from "../../util/bytes.ts";
import {
  arityError,
  type CommandContext,
  type CommandSpec,
  countArg,
  ERR_NO_SUCH_KEY,
  ERR_SYNTAX,
  intArg,
  lower,
  ReplyError,
  specBuilder,
} from "../context.ts";
import { metaForWrite, parseMpop, readMeta, readMetaToRead, typeEvent } from "./_types.ts";
import { keyId } from "../txn_overlay.ts";
import { signalReady } from "./blocking_registry.ts";

/** The key of item `index` (absolute) of a list. */
function itemKey(meta: TypeMeta, index: number): Uint8Array {
  return internalIndexKey(SPACE_LIST_ITEM, meta.version, index);
}

function item(ctx: CommandContext, meta: TypeMeta, pos: number): Uint8Array | undefined {
  return ctx.server.db.getEntry(itemKey(meta, meta.head + pos))?.value;
}

/** Items at positions `[from, to]` (0-based, within the list), in order. */
export function itemRange(
  ctx: CommandContext,
  meta: TypeMeta,
  from: number,
  to: number,
): Uint8Array[] {
  const out: Uint8Array[] = [];
  let start = itemKey(meta, meta.head + from);
  const end = itemKey(meta, meta.head + to + 1);
  while (true) {
    const rows = ctx.server.db.readRange({ start, end }, { limit: 1024 });
    for (const r of rows) out.push(r[1]);
    if (rows.length < 1024) break;
    start = itemKey(meta, readU64(rows[rows.length - 1]![0], 10) + 1);
  }
  return out;
}

/**
 * Pushes `values[from…]` to the left or right end of the list at `key` (created when
 * absent).
 */
export function pushValues(
  ctx: CommandContext,
  key: Uint8Array,
  values: Uint8Array[],
  left: boolean,
  meta?: TypeMeta,
  from = 0,
): number {
  const created: WriteOp[] = [];
  const m = meta ?? metaForWrite(ctx, key, TYPE_LIST, created);
  if (created.length === 0 && values.length - from === 1) {
    // One item onto an existing list (a queue's LPUSH/RPUSH): the batch built whole.
    const item = itemKey(m, left ? m.head - 1 : m.head + m.size);
    if (left) m.head--;
    m.size++;
    ctx.write([{ type: "put", key: item, value: values[from]! }, metaOp(key, m)]);
  } else {
    const ops = created;
    for (let i = from; i < values.length; i++) {
      const v = values[i]!;
      if (left) {
        m.head--;
        ops.push({ type: "put", key: itemKey(m, m.head), value: v });
      } else ops.push({ type: "put", key: itemKey(m, m.head + m.size), value: v });
      m.size++;
    }
    ops.push(metaOp(key, m));
    ctx.write(ops);
  }
  typeEvent(ctx, "list", left ? "lpush" : "rpush", key, m);
  signalReady(ctx, key);
  return m.size;
}

function push(ctx: CommandContext, left: boolean, onlyExisting: boolean): void {
  const key = ctx.args[1]!;
  if (onlyExisting) {
    const meta = readMeta(ctx, key, TYPE_LIST);
    if (meta === undefined) return ctx.out.integer(0);
    return ctx.out.integer(pushValues(ctx, key, ctx.args, left, meta, 2));
  }
  ctx.out.integer(pushValues(ctx, key, ctx.args, left, undefined, 2));
}

/** Pops up to `count` items from one end of a non-empty list, in pop order. */
export function popValues(
  ctx: CommandContext,
  key: Uint8Array,
  meta: TypeMeta,
  count: number,
  left: boolean,
  events = true,
): Uint8Array[] {
  const n = Math.min(count, meta.size);
  // One item (LPOP, RPOP, BLPOP, LMOVE): a point read, cheaper than opening a range, of the
  // key its delete then names.
  const oneKey = n === 1 ? itemKey(meta, left ? meta.head : meta.head + meta.size - 1) : undefined;
  const one = oneKey !== undefined ? ctx.server.db.getEntry(oneKey)?.value : undefined;
  const values = one !== undefined
    ? [one]
    : left
    ? itemRange(ctx, meta, 0, n - 1)
    : itemRange(ctx, meta, meta.size - n, meta.size - 1).reverse();
  if (oneKey !== undefined) {
    // One item (LPOP, RPOP, BLPOP, LMOVE): the batch built whole.
    const item = oneKey;
    if (left) meta.head++;
    meta.size--;
    ctx.write([{ type: "delete", key: item }, metaOp(key, meta)]);
  } else {
    const ops: WriteOp[] = [];
    for (let i = 0; i < n; i++) {
      const index = left ? meta.head + i : meta.head + meta.size - 1 - i;
      ops.push({ type: "delete", key: itemKey(meta, index) });
    }
    if (left) meta.head += n;
    meta.size -= n;
    ops.push(metaOp(key, meta));
    ctx.write(ops);
  }
  if (events) popEvents(ctx, key, meta, left);
  return values;
}

/** The events of a pop from `key` (and `del` when it emptied it). */
function popEvents(ctx: CommandContext, key: Uint8Array, meta: TypeMeta, left: boolean): void {
  typeEvent(ctx, "list", left ? "lpop" : "rpop", key);
  if (meta.size === 0) typeEvent(ctx, "generic", "del", key);
}

function pop(ctx: CommandContext, left: boolean): void {
  const { args } = ctx;
  const key = args[1]!;
  if (args.length > 3) throw arityError(left ? "lpop" : "rpop");
  let count = 1;
  if (args.length === 3) {
    count = countArg(args[2]!);
  }
  const meta = readMeta(ctx, key, TYPE_LIST);
  if (meta === undefined) return args.length === 3 ? ctx.out.nullArray() : ctx.out.null();
  if (args.length === 3 && count === 0) return ctx.out.array(0);
  const values = popValues(ctx, key, meta, count, left);
  if (args.length === 2) return ctx.out.bulk(values[0]!);
  ctx.out.array(values.length);
  for (const v of values) ctx.out.bulk(v);
}

function llen(ctx: CommandContext): void {
  ctx.out.integer(readMetaToRead(ctx, ctx.args[1]!, TYPE_LIST)?.size ?? 0);
}

/** Redis's index normalisation: a negative index counts from the end. */
function position(index: bigint, size: number): bigint {
  return index < 0n ? index + BigInt(size) : index;
}

/**
 * An LRANGE/index argument as a number: the int64 parse (and its error) of `intArg`, without
 * a BigInt for the short ones; beyond ±2^53 it is clamped, which no list size can tell apart.
 */
function indexArg(bytes: Uint8Array): number {
  const n = bytes.length;
  if (n > 0 && n <= 15) {
    let i = bytes[0] === 45 ? 1 : 0;
    let v = 0;
    // Redis's string2ll: no leading zeros, no "-0", no sign alone.
    if (i < n && !(bytes[i] === 48 && (n - i > 1 || i === 1))) {
      for (; i < n; i++) {
        const c = bytes[i]! - 48;
        if (c < 0 || c > 9) break;
        v = v * 10 + c;
      }
      if (i === n) return bytes[0] === 45 ? -v : v;
    }
  }
  const big = intArg(bytes);
  const max = BigInt(Number.MAX_SAFE_INTEGER);
  return big > max ? Number.MAX_SAFE_INTEGER : big < -max ? -Number.MAX_SAFE_INTEGER : Number(big);
}

function lrange(ctx: CommandContext): void {
  const startArg = indexArg(ctx.args[2]!);
  const stopArg = indexArg(ctx.args[3]!);
  const key = ctx.args[1]!;
  const found = lookup(ctx.server.db, key, TYPE_LIST);
  if (found.kind === "wrongtype") throw new ReplyError(ERR_WRONGTYPE);
  if (found.kind === "none") {
    notifyMiss(ctx, key);
    return ctx.out.array(0);
  }
  const { meta, seq } = found;
  let start = startArg < 0 ? startArg + meta.size : startArg;
  let stop = stopArg < 0 ? stopArg + meta.size : stopArg;
  if (start < 0) start = 0;
  if (start > stop || start >= meta.size) return ctx.out.array(0);
  if (stop >= meta.size) stop = meta.size - 1;
  rangeReply(ctx, meta, seq, start, stop);
}

/**
 * The array reply of the items at positions `[from, to]` of a list whose metadata record has
 * sequence `seq`: from the range cache when an unchanged window holds them, else read, encoded
 * once and kept there (ARCHITECTURE.md § "Member types", range cache).
 */
function rangeReply(
  ctx: CommandContext,
  meta: TypeMeta,
  seq: number,
  from: number,
  to: number,
): void {
  const cache = listRangeCache(ctx.server.db);
  const first = meta.head + from;
  const cached = cache.lookup(meta.version, seq, first, meta.head + to);
  ctx.out.array(to - from + 1);
  if (cached !== undefined) return ctx.out.encoded(cached);
  const values = itemRange(ctx, meta, from, to);
  let valueBytes = 0;
  for (const v of values) valueBytes += v.length;
  if (valueBytes > TYPES_LIST_CACHE_WINDOW_BYTES_MAX) {
    // Too big to keep: big values are referenced by the reply, not copied into a window.
    for (const v of values) ctx.out.bulk(v);
    return;
  }
  const { bytes, offsets } = encodeBulks(values);
  cache.store(meta.version, seq, first, bytes, offsets);
  ctx.out.encoded(bytes);
}

function lindex(ctx: CommandContext): void {
  const meta = readMetaToRead(ctx, ctx.args[1]!, TYPE_LIST);
  // A missing key answers nil whatever the index, as Redis 7.0 does.
  if (meta === undefined) return ctx.out.null();
  const index = intArg(ctx.args[2]!);
  const p = position(index, meta.size);
  if (p < 0n || p >= BigInt(meta.size)) return ctx.out.null();
  const v = item(ctx, meta, Number(p));
  if (v === undefined) ctx.out.null();
  else ctx.out.bulk(v);
}

function lset(ctx: CommandContext): void {
  const key = ctx.args[1]!;
  // The key before the index, as Redis 7.0 checks them.
  const meta = readMeta(ctx, key, TYPE_LIST);
  if (meta === undefined) throw new ReplyError(ERR_NO_SUCH_KEY);
  const index = intArg(ctx.args[2]!);
  const p = position(index, meta.size);
  if (p < 0n || p >= BigInt(meta.size)) throw new ReplyError("ERR index out of range");
  ctx.write([
    { type: "put", key: itemKey(meta, meta.head + Number(p)), value: ctx.args[3]! },
    metaOp(key, meta),
  ]);
  typeEvent(ctx, "list", "lset", key);
  ctx.out.ok();
}

/** Replaces the whole list at `key` by `values` (same version, head kept). */
function rewrite(
  ctx: CommandContext,
  key: Uint8Array,
  meta: TypeMeta,
  old: Uint8Array[],
  values: Uint8Array[],
): void {
  const ops: WriteOp[] = [];
  for (let i = 0; i < values.length; i++) {
    if (i < old.length && equalBytes(old[i]!, values[i]!)) continue;
    ops.push({ type: "put", key: itemKey(meta, meta.head + i), value: values[i]! });
  }
  for (let i = values.length; i < old.length; i++) {
    ops.push({ type: "delete", key: itemKey(meta, meta.head + i) });
  }
  meta.size = values.length;
  ops.push(metaOp(key, meta));
  ctx.write(ops);
}

function lrem(ctx: CommandContext): void {
  const key = ctx.args[1]!;
  const count = intArg(ctx.args[2]!);
  const element = ctx.args[3]!;
  const meta = readMeta(ctx, key, TYPE_LIST);
  if (meta === undefined) return ctx.out.integer(0);
  const old = itemRange(ctx, meta, 0, meta.size - 1);
  const fromTail = count < 0n;
  let left = count === 0n ? Infinity : Number(count < 0n ? -count : count);
  const keep = new Array<boolean>(old.length).fill(true);
  let removed = 0;
  for (let k = 0; k < old.length && left > 0; k++) {
    const i = fromTail ? old.length - 1 - k : k;
    if (equalBytes(old[i]!, element)) {
      keep[i] = false;
      removed++;
      left--;
    }
  }
  if (removed > 0) {
    rewrite(ctx, key, meta, old, old.filter((_, i) => keep[i]));
    typeEvent(ctx, "list", "lrem", key);
    if (meta.size === 0) typeEvent(ctx, "generic", "del", key);
  }
  ctx.out.integer(removed);
}

function ltrim(ctx: CommandContext): void {
  const key = ctx.args[1]!;
  const startArg = intArg(ctx.args[2]!);
  const stopArg = intArg(ctx.args[3]!);
  const meta = readMeta(ctx, key, TYPE_LIST);
  if (meta === undefined) return ctx.out.ok();
  const size = BigInt(meta.size);
  let start = position(startArg, meta.size);
  let stop = position(stopArg, meta.size);
  if (start < 0n) start = 0n;
  let keepFrom: number;
  let keepTo: number;
  if (start > stop || start >= size) {
    keepFrom = 0;
    keepTo = -1;
  } else {
    if (stop >= size) stop = size - 1n;
    keepFrom = Number(start);
    keepTo = Number(stop);
  }
  const ops: WriteOp[] = [];
  for (let i = 0; i < meta.size; i++) {
    if (i >= keepFrom && i <= keepTo) continue;
    ops.push({ type: "delete", key: itemKey(meta, meta.head + i) });
  }
  if (ops.length > 0) {
    meta.head += keepTo >= keepFrom ? keepFrom : 0;
    meta.size = keepTo >= keepFrom ? keepTo - keepFrom + 1 : 0;
    ops.push(metaOp(key, meta));
    ctx.write(ops);
  }
  typeEvent(ctx, "list", "ltrim", key);
  if (meta.size === 0) typeEvent(ctx, "generic", "del", key);
  ctx.out.ok();
}

function linsert(ctx: CommandContext): void {
  const key = ctx.args[1]!;
  const where = lower(ctx.args[2]!);
  if (where !== "before" && where !== "after") throw new ReplyError(ERR_SYNTAX);
  const pivot = ctx.args[3]!;
  const value = ctx.args[4]!;
  const meta = readMeta(ctx, key, TYPE_LIST);
  if (meta === undefined) return ctx.out.integer(0);
  const old = itemRange(ctx, meta, 0, meta.size - 1);
  const p = old.findIndex((v) => equalBytes(v, pivot));
  if (p < 0) return ctx.out.integer(-1);
  const at = where === "before" ? p : p + 1;
  const ops: WriteOp[] = [];
  if (at < old.length - at) {
    // Nearer the head: items before the insertion point move one to the left.
    meta.head--;
    for (let i = 0; i < at; i++) {
      ops.push({ type: "put", key: itemKey(meta, meta.head + i), value: old[i]! });
    }
  } else {
    for (let i = old.length - 1; i >= at; i--) {
      ops.push({ type: "put", key: itemKey(meta, meta.head + i + 1), value: old[i]! });
    }
  }
  ops.push({ type: "put", key: itemKey(meta, meta.head + at), value });
  meta.size++;
  ops.push(metaOp(key, meta));
  ctx.write(ops);
  typeEvent(ctx, "list", "linsert", key);
  ctx.out.integer(meta.size);
}

function lpos(ctx: CommandContext): void {
  const { args } = ctx;
  const element = args[2]!;
  let rank = 1;
  let count = -1;
  let maxlen = 0;
  for (let i = 3; i < args.length; i++) {
    const opt = lower(args[i]!);
    if (i + 1 >= args.length) throw new ReplyError(ERR_SYNTAX);
    const arg = args[++i]!;
    if (opt === "rank") {
      const v = intArg(arg);
      if (v === 0n) {
        throw new ReplyError(
          "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... " +
            "or use negative to start from the end of the list",
        );
      }
      // Redis 7.0 negates LLONG_MIN into itself and then stops at the first match from the
      // tail: the same answer as rank -1.
      if (v === -(2n ** 63n)) {
        rank = -1;
        continue;
      }
      rank = Number(v);
    } else if (opt === "count") count = countArg(arg, "ERR COUNT can't be negative");
    else if (opt === "maxlen") maxlen = countArg(arg, "ERR MAXLEN can't be negative");
    else throw new ReplyError(ERR_SYNTAX);
  }
  const meta = readMetaToRead(ctx, args[1]!, TYPE_LIST);
  if (meta === undefined) return count === -1 ? ctx.out.null() : ctx.out.array(0);
  const values = itemRange(ctx, meta, 0, meta.size - 1);
  const found: number[] = [];
  const want = count === -1 ? 1 : count === 0 ? Infinity : count;
  let skip = Math.abs(rank) - 1;
  const fromTail = rank < 0;
  for (let k = 0; k < values.length && found.length < want; k++) {
    if (maxlen > 0 && k >= maxlen) break;
    const i = fromTail ? values.length - 1 - k : k;
    if (!equalBytes(values[i]!, element)) continue;
    if (skip > 0) {
      skip--;
      continue;
    }
    found.push(i);
  }
  if (count === -1) return found.length === 0 ? ctx.out.null() : ctx.out.integer(found[0]!);
  ctx.out.array(found.length);
  for (const i of found) ctx.out.integer(i);
}

/** LMOVE's core: pops from `src` and pushes to `dst`; `undefined` when `src` is empty. */
export function moveValue(
  ctx: CommandContext,
  src: Uint8Array,
  dst: Uint8Array,
  fromLeft: boolean,
  toLeft: boolean,
): Uint8Array | undefined {
  const from = readMeta(ctx, src, TYPE_LIST);
  if (from === undefined) return undefined;
  // The destination's type is checked before anything moves, as in Redis.
  const dstEntry = ctx.server.db.getEntry(dst);
  if (dstEntry !== undefined && readMeta(ctx, dst, TYPE_LIST) === undefined) {
    throw new ReplyError(ERR_WRONGTYPE);
  }
  // Redis's order of events: the push to the destination, then the pop from the source.
  const [value] = popValues(ctx, src, from, 1, fromLeft, false);
  const sameKey = keyId(src) === keyId(dst);
  pushValues(ctx, dst, [value!], toLeft, sameKey ? from : undefined);
  popEvents(ctx, src, from, fromLeft);
  return value;
}

/** Parses a LEFT|RIGHT argument. */
export function side(bytes: Uint8Array): boolean {
  const s = lower(bytes);
  if (s === "left") return true;
  if (s === "right") return false;
  throw new ReplyError(ERR_SYNTAX);
}

function lmove(ctx: CommandContext): void {
  const fromLeft = side(ctx.args[3]!);
  const toLeft = side(ctx.args[4]!);
  const v = moveValue(ctx, ctx.args[1]!, ctx.args[2]!, fromLeft, toLeft);
  if (v === undefined) ctx.out.null();
  else ctx.out.bulk(v);
}

function rpoplpush(ctx: CommandContext): void {
  const v = moveValue(ctx, ctx.args[1]!, ctx.args[2]!, false, true);
  if (v === undefined) ctx.out.null();
  else ctx.out.bulk(v);
}

/** Parses `numkeys key… LEFT|RIGHT [COUNT n]` (`from` = numkeys index). */
export function parseLmpop(
  ctx: CommandContext,
  from: number,
): { keys: Uint8Array[]; left: boolean; count: number } {
  const { keys, which, count } = parseMpop(ctx, from, ["left", "right"]);
  return { keys, left: which === "left", count };
}

/** The reply of LMPOP/BLMPOP: `[key, [values…]]`. */
export function replyLmpop(ctx: CommandContext, key: Uint8Array, values: Uint8Array[]): void {
  ctx.out.array(2);
  ctx.out.bulk(key);
  ctx.out.array(values.length);
  for (const v of values) ctx.out.bulk(v);
}

function lmpop(ctx: CommandContext): void {
  const { keys, left, count } = parseLmpop(ctx, 1);
  for (const key of keys) {
    const meta = readMeta(ctx, key, TYPE_LIST);
    if (meta === undefined) continue;
    return replyLmpop(ctx, key, popValues(ctx, key, meta, count, left));
  }
  ctx.out.nullArray();
}

const one = specBuilder("list", { firstKey: 1, lastKey: 1, step: 1 });
const W = ["write", "denyoom", "fast"];

/** The list commands (not blocking). */
export const LIST_COMMANDS: CommandSpec[] = [
  one(
    "lpush",
    -3,
    W,
    "1.0.0",
    "Prepends one or more elements to a list.",
    (c) => push(c, true, false),
  ),
  one(
    "rpush",
    -3,
    W,
    "1.0.0",
    "Appends one or more elements to a list.",
    (c) => push(c, false, false),
  ),
  one(
    "lpushx",
    -3,
    W,
    "2.2.0",
    "Prepends elements only when the list exists.",
    (c) => push(c, true, true),
  ),
  one(
    "rpushx",
    -3,
    W,
    "2.2.0",
    "Appends elements only when the list exists.",
    (c) => push(c, false, true),
  ),
  one(
    "lpop",
    -2,
    ["write", "fast"],
    "1.0.0",
    "Removes and returns the first elements.",
    (c) => pop(c, true),
  ),
  one(
    "rpop",
    -2,
    ["write", "fast"],
    "1.0.0",
    "Removes and returns the last elements.",
    (c) => pop(c, false),
  ),
  one("llen", 2, ["readonly", "fast"], "1.0.0", "Returns the length of a list.", llen),
  one("lrange", 4, ["readonly"], "1.0.0", "Returns a range of elements.", lrange),
  one("lindex", 3, ["readonly"], "1.0.0", "Returns an element by its index.", lindex),
  one("lset", 4, ["write", "denyoom"], "1.0.0", "Sets the value of an element by index.", lset),
  one("lrem", 4, ["write"], "1.0.0", "Removes elements from a list.", lrem),
  one("ltrim", 4, ["write"], "1.0.0", "Trims a list to a range of indexes.", ltrim),
  one(
    "linsert",
    5,
    ["write", "denyoom"],
    "2.2.0",
    "Inserts an element before or after another.",
    linsert,
  ),
  one("lpos", -3, ["readonly"], "6.0.6", "Returns the index of matching elements.", lpos),
  {
    ...one("lmove", 5, ["write", "denyoom"], "6.2.0", "Moves an element between lists.", lmove),
    lastKey: 2,
  },
  {
    ...one("rpoplpush", 3, ["write", "denyoom"], "1.2.0", "Pops and pushes an element.", rpoplpush),
    lastKey: 2,
  },
  {
    ...one("lmpop", -4, ["write"], "7.0.0", "Pops elements from the first non-empty list.", lmpop),
    firstKey: 0,
    lastKey: 0,
    step: 0,
  },
];
