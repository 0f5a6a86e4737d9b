/**
 * Set commands of Redis 7.0: SADD SREM SCARD SISMEMBER SMISMEMBER SMEMBERS SPOP SRANDMEMBER
 * SMOVE SINTER SINTERCARD SUNION SDIFF SINTERSTORE SUNIONSTORE SDIFFSTORE SSCAN. One engine
 * entry per member (ARCHITECTURE.md § "Member types"); members come back in byte order.
 *
 * @module
 */

import type { WriteOp } from "../../engine/mod.ts";
import { memoGetEntry } from "../../types/entry_memo.ts";
import { SPACE_SET_MEMBER, TYPE_SET } from "../../keyspace/mod.ts";
import {
  createMeta,
  memberKey,
  memberOf,
  members,
  metaOp,
  type TypeMeta,
} from "../../types/layout.ts";
import { compareBytes } from "../../util/bytes.ts";
import {
  type CommandContext,
  type CommandSpec,
  countArg,
  ERR_SYNTAX,
  lower,
  parseInt64,
  ReplyError,
  specBuilder,
} from "../context.ts";
import { keyId } from "../txn_overlay.ts";
import {
  distinctPositions,
  metaForWrite,
  parseKeyScan,
  randomCountArg,
  randomIndex,
  readMeta,
  readMetaToRead,
  scanReply,
  typeEvent,
  versions,
} from "./_types.ts";

const EMPTY = new Uint8Array(0);

function has(ctx: CommandContext, meta: TypeMeta, member: Uint8Array): boolean {
  return memoGetEntry(ctx.server.db, memberKey(SPACE_SET_MEMBER, meta.version, member)) !==
    undefined;
}

/** Every member of the set, in byte order (copies: safe to keep). */
function* all(ctx: CommandContext, meta: TypeMeta): Generator<Uint8Array> {
  for (const [k] of members(ctx.server.db, SPACE_SET_MEMBER, meta.version)) yield memberOf(k);
}

function sadd(ctx: CommandContext): void {
  const key = ctx.args[1]!;
  const ops: WriteOp[] = [];
  const meta = metaForWrite(ctx, key, TYPE_SET, ops);
  // Members seen earlier in this command (one member, the usual SADD, needs no set).
  const seen = ctx.args.length > 3 ? new Set<string>() : undefined;
  let added = 0;
  for (let i = 2; i < ctx.args.length; i++) {
    const m = ctx.args[i]!;
    if (seen !== undefined) {
      const id = keyId(m);
      if (seen.has(id)) continue;
      seen.add(id);
    }
    if (meta.size > 0 && has(ctx, meta, m)) continue;
    ops.push({ type: "put", key: memberKey(SPACE_SET_MEMBER, meta.version, m), value: EMPTY });
    added++;
  }
  if (added > 0) {
    meta.size += added;
    ops.push(metaOp(key, meta));
    ctx.write(ops);
    typeEvent(ctx, "set", "sadd", key, meta);
  }
  ctx.out.integer(added);
}

/** Removes `list` from the set at `key`; returns how many were there. */
function removeMembers(
  ctx: CommandContext,
  key: Uint8Array,
  meta: TypeMeta,
  list: Uint8Array[],
  event: string,
): number {
  const ops: WriteOp[] = [];
  const seen = new Set<string>();
  let removed = 0;
  for (const m of list) {
    const id = keyId(m);
    if (seen.has(id)) continue;
    seen.add(id);
    if (!has(ctx, meta, m)) continue;
    ops.push({ type: "delete", key: memberKey(SPACE_SET_MEMBER, meta.version, m) });
    removed++;
  }
  if (removed > 0) {
    meta.size -= removed;
    ops.push(metaOp(key, meta));
    ctx.write(ops);
    typeEvent(ctx, "set", event, key);
    if (meta.size === 0) typeEvent(ctx, "generic", "del", key);
  }
  return removed;
}

function srem(ctx: CommandContext): void {
  const key = ctx.args[1]!;
  const meta = readMeta(ctx, key, TYPE_SET);
  if (meta === undefined) return ctx.out.integer(0);
  ctx.out.integer(removeMembers(ctx, key, meta, ctx.args.slice(2), "srem"));
}

function scard(ctx: CommandContext): void {
  ctx.out.integer(readMetaToRead(ctx, ctx.args[1]!, TYPE_SET)?.size ?? 0);
}

function sismember(ctx: CommandContext): void {
  const meta = readMetaToRead(ctx, ctx.args[1]!, TYPE_SET);
  ctx.out.integer(meta !== undefined && has(ctx, meta, ctx.args[2]!) ? 1 : 0);
}

function smismember(ctx: CommandContext): void {
  const meta = readMetaToRead(ctx, ctx.args[1]!, TYPE_SET);
  ctx.out.array(ctx.args.length - 2);
  for (let i = 2; i < ctx.args.length; i++) {
    ctx.out.integer(meta !== undefined && has(ctx, meta, ctx.args[i]!) ? 1 : 0);
  }
}

function smembers(ctx: CommandContext): void {
  const meta = readMetaToRead(ctx, ctx.args[1]!, TYPE_SET);
  if (meta === undefined) return ctx.out.set(0);
  ctx.out.set(meta.size);
  for (const m of all(ctx, meta)) ctx.out.bulk(m);
}

/** `count` distinct random members (all when `count` ≥ size), in byte order. */
function pick(ctx: CommandContext, meta: TypeMeta, count: number): Uint8Array[] {
  if (count >= meta.size) return [...all(ctx, meta)];
  const positions = distinctPositions(meta.size, count);
  const out: Uint8Array[] = [];
  let i = 0;
  let p = 0;
  for (const m of all(ctx, meta)) {
    if (p >= positions.length) break;
    if (i++ === positions[p]) {
      out.push(m);
      p++;
    }
  }
  return out;
}

function spop(ctx: CommandContext): void {
  const { args } = ctx;
  const key = args[1]!;
  if (args.length > 3) throw new ReplyError(ERR_SYNTAX);
  let count = 1;
  if (args.length === 3) {
    count = countArg(args[2]!);
  }
  const meta = readMeta(ctx, key, TYPE_SET);
  if (meta === undefined) return args.length === 3 ? ctx.out.set(0) : ctx.out.null();
  if (args.length === 3 && count === 0) return ctx.out.set(0);
  const popped = pick(ctx, meta, count);
  const ops: WriteOp[] = popped.map((m) => ({
    type: "delete",
    key: memberKey(SPACE_SET_MEMBER, meta.version, m),
  }));
  meta.size -= popped.length;
  ops.push(metaOp(key, meta));
  ctx.write(ops);
  typeEvent(ctx, "set", "spop", key);
  if (meta.size === 0) typeEvent(ctx, "generic", "del", key);
  if (args.length === 2) return ctx.out.bulk(popped[0]!);
  ctx.out.set(popped.length);
  for (const m of popped) ctx.out.bulk(m);
}

function srandmember(ctx: CommandContext): void {
  const { args } = ctx;
  const key = args[1]!;
  if (args.length > 3) throw new ReplyError(ERR_SYNTAX);
  if (args.length === 2) {
    const meta = readMetaToRead(ctx, key, TYPE_SET);
    if (meta === undefined) return ctx.out.null();
    return ctx.out.bulk(pick(ctx, meta, 1)[0]!);
  }
  const count = randomCountArg(args[2]!);
  const meta = readMetaToRead(ctx, key, TYPE_SET);
  if (meta === undefined || count === 0) return ctx.out.array(0);
  if (count < 0) {
    const everything = [...all(ctx, meta)];
    ctx.out.array(-count);
    for (let i = 0; i < -count; i++) ctx.out.bulk(everything[randomIndex(everything.length)]!);
    return;
  }
  const picked = pick(ctx, meta, count);
  ctx.out.array(picked.length);
  for (const m of picked) ctx.out.bulk(m);
}

function smove(ctx: CommandContext): void {
  const [, src, dst, member] = ctx.args as [Uint8Array, Uint8Array, Uint8Array, Uint8Array];
  // Redis's order: a missing source answers 0 before the destination's type is checked.
  if (ctx.server.db.getEntry(src) === undefined) return ctx.out.integer(0);
  const from = readMeta(ctx, src, TYPE_SET)!;
  const toExisting = readMeta(ctx, dst, TYPE_SET);
  if (keyId(src) === keyId(dst)) return ctx.out.integer(has(ctx, from, member) ? 1 : 0);
  if (!has(ctx, from, member)) return ctx.out.integer(0);
  const ops: WriteOp[] = [{
    type: "delete",
    key: memberKey(SPACE_SET_MEMBER, from.version, member),
  }];
  from.size--;
  ops.push(metaOp(src, from));
  const to = toExisting ?? createMeta(versions(ctx), dst, TYPE_SET, ops);
  const added = to.size === 0 || !has(ctx, to, member);
  if (added) {
    ops.push({ type: "put", key: memberKey(SPACE_SET_MEMBER, to.version, member), value: EMPTY });
    to.size++;
    ops.push(metaOp(dst, to));
  }
  ctx.write(ops);
  typeEvent(ctx, "set", "srem", src);
  if (from.size === 0) typeEvent(ctx, "generic", "del", src);
  if (added) typeEvent(ctx, "set", "sadd", dst, to);
  ctx.out.integer(1);
}

type SetOp = "inter" | "union" | "diff";

/** The result of an operation over the sets at `keys` (missing = empty), in byte order. */
function compute(ctx: CommandContext, op: SetOp, keys: Uint8Array[], limit = 0): Uint8Array[] {
  const metas = keys.map((k) => readMetaToRead(ctx, k, TYPE_SET));
  if (op === "inter") {
    if (metas.some((m) => m === undefined)) return [];
    const sorted = (metas as TypeMeta[]).slice().sort((a, b) => a.size - b.size);
    const [first, ...rest] = sorted as [TypeMeta, ...TypeMeta[]];
    const out: Uint8Array[] = [];
    for (const m of all(ctx, first)) {
      if (rest.every((o) => o.version === first.version || has(ctx, o, m))) {
        out.push(m);
        if (limit > 0 && out.length >= limit) break;
      }
    }
    return out;
  }
  if (op === "diff") {
    const [first, ...rest] = metas;
    if (first === undefined) return [];
    const out: Uint8Array[] = [];
    for (const m of all(ctx, first)) {
      if (!rest.some((o) => o !== undefined && has(ctx, o, m))) out.push(m);
    }
    return out;
  }
  const byId = new Map<string, Uint8Array>();
  for (const meta of metas) {
    if (meta === undefined) continue;
    for (const m of all(ctx, meta)) byId.set(keyId(m), m);
  }
  return [...byId.values()].sort(compareBytes);
}

function setOpReply(ctx: CommandContext, op: SetOp): void {
  const result = compute(ctx, op, ctx.args.slice(1));
  ctx.out.set(result.length);
  for (const m of result) ctx.out.bulk(m);
}

function setOpStore(ctx: CommandContext, op: SetOp, event: string): void {
  const dst = ctx.args[1]!;
  const result = compute(ctx, op, ctx.args.slice(2));
  const existed = ctx.server.db.getEntry(dst) !== undefined;
  const ops: WriteOp[] = [];
  if (result.length === 0) {
    if (existed) {
      ctx.write([{ type: "delete", key: dst }]);
      typeEvent(ctx, "generic", "del", dst);
    }
    return ctx.out.integer(0);
  }
  const meta = createMeta(versions(ctx), dst, TYPE_SET, ops);
  meta.created = !existed;
  for (const m of result) {
    ops.push({ type: "put", key: memberKey(SPACE_SET_MEMBER, meta.version, m), value: EMPTY });
  }
  meta.size = result.length;
  ops.push(metaOp(dst, meta));
  ctx.write(ops);
  typeEvent(ctx, "set", event, dst, meta);
  ctx.out.integer(result.length);
}

function sintercard(ctx: CommandContext): void {
  const { args } = ctx;
  const numkeys = parseInt64(args[1]!) ?? 0n;
  if (numkeys <= 0n) throw new ReplyError("ERR numkeys should be greater than 0");
  if (numkeys > BigInt(args.length - 2)) {
    throw new ReplyError("ERR Number of keys can't be greater than number of args");
  }
  const n = Number(numkeys);
  let limit = 0;
  for (let i = 2 + n; i < args.length; i++) {
    if (lower(args[i]!) === "limit" && i + 1 < args.length) {
      // Redis answers a non-integer LIMIT with the same error as a negative one.
      const l = parseInt64(args[++i]!);
      if (l === undefined || l < 0n) throw new ReplyError("ERR LIMIT can't be negative");
      limit = l > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(l);
    } else throw new ReplyError(ERR_SYNTAX);
  }
  ctx.out.integer(compute(ctx, "inter", args.slice(2, 2 + n), limit).length);
}

function sscan(ctx: CommandContext): void {
  const parsed = parseKeyScan(ctx, TYPE_SET);
  if (parsed === undefined) return;
  const { scan, meta } = parsed;
  scanReply(ctx, SPACE_SET_MEMBER, meta, scan, (m, _v, found) => found.push(m));
}

const one = specBuilder("set", { firstKey: 1, lastKey: 1, step: 1 });
const many = specBuilder("set", { firstKey: 1, lastKey: -1, step: 1 });
const W = ["write", "denyoom", "fast"];
const R = ["readonly", "fast"];

/** The set commands. */
export const SET_COMMANDS: CommandSpec[] = [
  one("sadd", -3, W, "1.0.0", "Adds one or more members to a set.", sadd),
  one("srem", -3, ["write", "fast"], "1.0.0", "Removes one or more members from a set.", srem),
  one("scard", 2, R, "1.0.0", "Returns the number of members in a set.", scard),
  one("sismember", 3, R, "1.0.0", "Determines whether a member belongs to a set.", sismember),
  one("smismember", -3, R, "6.2.0", "Determines whether multiple members belong.", smismember),
  one("smembers", 2, ["readonly"], "1.0.0", "Returns all members of a set.", smembers),
  one("spop", -2, ["write", "fast"], "1.0.0", "Removes and returns random members.", spop),
  one("srandmember", -2, ["readonly"], "1.0.0", "Returns random members.", srandmember),
  {
    ...one("smove", 4, ["write", "fast"], "1.0.0", "Moves a member between sets.", smove),
    lastKey: 2,
  },
  many(
    "sinter",
    -2,
    ["readonly"],
    "1.0.0",
    "Returns the intersect of sets.",
    (c) => setOpReply(c, "inter"),
  ),
  {
    ...many("sintercard", -3, ["readonly"], "7.0.0", "Counts the intersect.", sintercard),
    firstKey: 2,
    lastKey: 2,
  },
  many(
    "sunion",
    -2,
    ["readonly"],
    "1.0.0",
    "Returns the union of sets.",
    (c) => setOpReply(c, "union"),
  ),
  many(
    "sdiff",
    -2,
    ["readonly"],
    "1.0.0",
    "Returns the difference of sets.",
    (c) => setOpReply(c, "diff"),
  ),
  many(
    "sinterstore",
    -3,
    ["write", "denyoom"],
    "1.0.0",
    "Stores the intersect.",
    (c) => setOpStore(c, "inter", "sinterstore"),
  ),
  many(
    "sunionstore",
    -3,
    ["write", "denyoom"],
    "1.0.0",
    "Stores the union.",
    (c) => setOpStore(c, "union", "sunionstore"),
  ),
  many(
    "sdiffstore",
    -3,
    ["write", "denyoom"],
    "1.0.0",
    "Stores the difference.",
    (c) => setOpStore(c, "diff", "sdiffstore"),
  ),
  one("sscan", -3, ["readonly"], "2.6.0", "Iterates over members of a set.", sscan),
];
