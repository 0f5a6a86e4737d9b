/**
 * Sorted-set commands of Redis 7.0 (part 1): ZADD ZINCRBY ZREM ZCARD ZSCORE ZMSCORE ZRANK
 * ZREVRANK ZCOUNT ZLEXCOUNT ZPOPMIN ZPOPMAX ZMPOP ZRANDMEMBER ZSCAN. Ranges are in
 * `zset_range.ts`, ZUNION/ZINTER/ZDIFF in `zset_algebra.ts`, the blocking pops in
 * `blocking.ts`. Storage: ARCHITECTURE.md § "Member types".
 *
 * @module
 */

import type { WriteOp } from "../../engine/mod.ts";
import { SPACE_ZSET_MEMBER, TYPE_ZSET } from "../../keyspace/mod.ts";
import { memberKey, members, metaOp, successor, type TypeMeta } from "../../types/layout.ts";
import {
  type CommandContext,
  type CommandSpec,
  countArg,
  ERR_NOT_FLOAT,
  ERR_SYNTAX,
  lower,
  parseFloatArg,
  ReplyError,
  specBuilder,
} from "../context.ts";
import { keyId } from "../txn_overlay.ts";
import {
  distinctPositions,
  formatG17,
  metaForWrite,
  parseKeyScan,
  parseMpop,
  randomCountWithOption,
  randomIndex,
  readMeta,
  readMetaToRead,
  replyScore,
  SCAN_WHOLE_KEY_MAX,
  typeEvent,
} from "./_types.ts";
import {
  byScore,
  lexAboveMin,
  lexBelowMax,
  parseLexBound,
  parseScoreBound,
  putMember,
  removeScored,
  type Scored,
  scoreKey,
  scoreOf,
  scoreRange,
} from "./_zset.ts";
import { globMatch } from "../glob.ts";
import { signalReady } from "./blocking_registry.ts";

const ERR_NAN = "ERR resulting score is not a number (NaN)";

interface ZaddFlags {
  nx: boolean;
  xx: boolean;
  gt: boolean;
  lt: boolean;
  ch: boolean;
  incr: boolean;
}

/**
 * Applies (score, member) pairs to the sorted set at `key` in one write. Returns added,
 * updated and, for INCR, the new score (`undefined` when the change was refused by a flag).
 */
export function zaddPairs(
  ctx: CommandContext,
  key: Uint8Array,
  pairs: [number, Uint8Array][],
  flags: ZaddFlags,
): { added: number; updated: number; score: number | undefined; meta: TypeMeta | undefined } {
  const existing = readMeta(ctx, key, TYPE_ZSET);
  if (existing === undefined && flags.xx) {
    return { added: 0, updated: 0, score: undefined, meta: undefined };
  }
  const ops: WriteOp[] = [];
  const meta = existing ?? metaForWrite(ctx, key, TYPE_ZSET, ops);
  // Scores set earlier in this command, so a repeated member sees them (one pair, the usual
  // ZADD, needs no map).
  const pending = pairs.length > 1 ? new Map<string, number | undefined>() : undefined;
  let added = 0;
  let updated = 0;
  let last: number | undefined;
  for (const [score, member] of pairs) {
    const id = pending === undefined ? "" : keyId(member);
    const cur = pending?.has(id)
      ? pending.get(id)
      : meta.size === 0
      ? undefined
      : scoreOf(ctx, meta, member);
    last = undefined;
    if (cur !== undefined) {
      if (flags.nx) continue;
      const next = flags.incr ? cur + score : score;
      if (Number.isNaN(next)) throw new ReplyError(ERR_NAN);
      if ((flags.lt && next >= cur) || (flags.gt && next <= cur)) continue;
      last = next;
      if (next !== cur) {
        putMember(ops, meta, member, next, cur);
        pending?.set(id, next);
        updated++;
      }
    } else {
      if (flags.xx) continue;
      putMember(ops, meta, member, score, undefined);
      pending?.set(id, score);
      last = score;
      added++;
    }
  }
  if (added > 0 || updated > 0) {
    meta.size += added;
    ops.push(metaOp(key, meta));
    ctx.write(ops);
  }
  if (added > 0 || updated > 0) typeEvent(ctx, "zset", flags.incr ? "zincr" : "zadd", key, meta);
  if (added > 0) signalReady(ctx, key);
  return { added, updated, score: last, meta };
}

function zadd(ctx: CommandContext): void {
  const { args } = ctx;
  if (args.length === 4) {
    // The usual `ZADD key score member`: when the member already has that score nothing
    // changes (no write, no event, reply 0), found without the flag, pair and result objects
    // of the general steps below, which answer everything else.
    const score = parseFloatArg(args[2]!);
    if (score !== undefined) {
      const meta = readMeta(ctx, args[1]!, TYPE_ZSET);
      if (meta !== undefined && meta.size > 0 && scoreOf(ctx, meta, args[3]!) === score) {
        return ctx.out.integer(0);
      }
    }
  }
  const flags: ZaddFlags = { nx: false, xx: false, gt: false, lt: false, ch: false, incr: false };
  let i = 2;
  for (; i < args.length; i++) {
    // Every option is a word of 2 or 4 letters: a score (the usual argument here) is not
    // lowered into a string to find that out.
    const a = args[i]!;
    const c = a[0]! | 0x20;
    if ((a.length !== 2 && a.length !== 4) || c < 0x61 || c > 0x7a) break;
    const f = lower(a);
    if (f === "nx") flags.nx = true;
    else if (f === "xx") flags.xx = true;
    else if (f === "gt") flags.gt = true;
    else if (f === "lt") flags.lt = true;
    else if (f === "ch") flags.ch = true;
    else if (f === "incr") flags.incr = true;
    else break;
  }
  const elements = args.length - i;
  if (elements % 2 === 1 || elements === 0) throw new ReplyError(ERR_SYNTAX);
  if (flags.nx && flags.xx) {
    throw new ReplyError("ERR XX and NX options at the same time are not compatible");
  }
  if ((flags.gt && flags.nx) || (flags.lt && flags.nx) || (flags.gt && flags.lt)) {
    throw new ReplyError("ERR GT, LT, and/or NX options at the same time are not compatible");
  }
  if (flags.incr && elements > 2) {
    throw new ReplyError("ERR INCR option supports a single increment-element pair");
  }
  const pairs: [number, Uint8Array][] = [];
  for (; i < args.length; i += 2) {
    const score = parseFloatArg(args[i]!);
    if (score === undefined) throw new ReplyError(ERR_NOT_FLOAT);
    pairs.push([score, args[i + 1]!]);
  }
  const r = zaddPairs(ctx, args[1]!, pairs, flags);
  if (flags.incr) {
    if (r.score === undefined) ctx.out.null();
    else replyScore(ctx, r.score);
  } else ctx.out.integer(flags.ch ? r.added + r.updated : r.added);
}

function zincrby(ctx: CommandContext): void {
  const incr = parseFloatArg(ctx.args[2]!);
  if (incr === undefined) throw new ReplyError(ERR_NOT_FLOAT);
  const r = zaddPairs(ctx, ctx.args[1]!, [[incr, ctx.args[3]!]], {
    nx: false,
    xx: false,
    gt: false,
    lt: false,
    ch: false,
    incr: true,
  });
  replyScore(ctx, r.score!);
}

function zrem(ctx: CommandContext): void {
  const key = ctx.args[1]!;
  const meta = readMeta(ctx, key, TYPE_ZSET);
  if (meta === undefined) return ctx.out.integer(0);
  const seen = new Set<string>();
  const gone: Scored[] = [];
  for (let i = 2; i < ctx.args.length; i++) {
    const m = ctx.args[i]!;
    const id = keyId(m);
    if (seen.has(id)) continue;
    seen.add(id);
    const score = scoreOf(ctx, meta, m);
    if (score !== undefined) gone.push({ member: m, score });
  }
  removeScored(ctx, key, meta, gone, "zrem");
  ctx.out.integer(gone.length);
}

function zcard(ctx: CommandContext): void {
  ctx.out.integer(readMetaToRead(ctx, ctx.args[1]!, TYPE_ZSET)?.size ?? 0);
}

function zscore(ctx: CommandContext): void {
  const meta = readMetaToRead(ctx, ctx.args[1]!, TYPE_ZSET);
  const s = meta === undefined ? undefined : scoreOf(ctx, meta, ctx.args[2]!);
  if (s === undefined) ctx.out.null();
  else replyScore(ctx, s);
}

function zmscore(ctx: CommandContext): void {
  const meta = readMetaToRead(ctx, ctx.args[1]!, TYPE_ZSET);
  ctx.out.array(ctx.args.length - 2);
  for (let i = 2; i < ctx.args.length; i++) {
    const s = meta === undefined ? undefined : scoreOf(ctx, meta, ctx.args[i]!);
    if (s === undefined) ctx.out.null();
    else replyScore(ctx, s);
  }
}

/** The 0-based rank of `member` in ascending order, `undefined` when absent. */
export function rankOf(
  ctx: CommandContext,
  meta: TypeMeta,
  member: Uint8Array,
): number | undefined {
  const score = scoreOf(ctx, meta, member);
  if (score === undefined) return undefined;
  const end = scoreKey(meta.version, score, member);
  let rank = 0;
  for (const _ of byScore(ctx, meta, false, undefined, end)) rank++;
  return rank;
}

function zrank(ctx: CommandContext, reverse: boolean): void {
  const meta = readMetaToRead(ctx, ctx.args[1]!, TYPE_ZSET);
  const rank = meta === undefined ? undefined : rankOf(ctx, meta, ctx.args[2]!);
  if (rank === undefined) ctx.out.null();
  else ctx.out.integer(reverse ? meta!.size - 1 - rank : rank);
}

function zcount(ctx: CommandContext): void {
  const min = parseScoreBound(ctx.args[2]!);
  const max = parseScoreBound(ctx.args[3]!);
  const meta = readMetaToRead(ctx, ctx.args[1]!, TYPE_ZSET);
  const range = meta === undefined ? undefined : scoreRange(meta, min, max);
  let n = 0;
  if (range !== undefined) {
    for (const _ of byScore(ctx, meta!, false, range.start, range.end)) {
      n++;
    }
  }
  ctx.out.integer(n);
}

function zlexcount(ctx: CommandContext): void {
  const min = parseLexBound(ctx.args[2]!);
  const max = parseLexBound(ctx.args[3]!);
  const meta = readMetaToRead(ctx, ctx.args[1]!, TYPE_ZSET);
  let n = 0;
  if (meta !== undefined) {
    for (const it of byScore(ctx, meta)) {
      if (!lexAboveMin(it.member, min)) continue;
      if (!lexBelowMax(it.member, max)) break;
      n++;
    }
  }
  ctx.out.integer(n);
}

/** Pops up to `count` members from the low (`max` false) or high end; writes nothing if none. */
export function popScored(
  ctx: CommandContext,
  key: Uint8Array,
  meta: TypeMeta,
  count: number,
  max: boolean,
): Scored[] {
  const out: Scored[] = [];
  for (const it of byScore(ctx, meta, max)) {
    if (out.length >= count) break;
    out.push({ member: it.member.slice(), score: it.score });
  }
  removeScored(ctx, key, meta, out, max ? "zpopmax" : "zpopmin");
  return out;
}

function zpop(ctx: CommandContext, max: boolean): void {
  const { args } = ctx;
  if (args.length > 3) throw new ReplyError(ERR_SYNTAX);
  let count = 1;
  if (args.length === 3) {
    count = countArg(args[2]!);
  }
  const meta = readMeta(ctx, args[1]!, TYPE_ZSET);
  if (meta === undefined || count === 0) return ctx.out.array(0);
  const popped = popScored(ctx, args[1]!, meta, count, max);
  const nested = args.length === 3 && ctx.client.protocol === 3;
  ctx.out.array(nested ? popped.length : popped.length * 2);
  for (const it of popped) {
    if (nested) ctx.out.array(2);
    ctx.out.bulk(it.member);
    replyScore(ctx, it.score);
  }
}

/** The reply of ZMPOP/BZMPOP: `[key, [[member, score], …]]`. */
export function replyMpop(ctx: CommandContext, key: Uint8Array, popped: Scored[]): void {
  ctx.out.array(2);
  ctx.out.bulk(key);
  ctx.out.array(popped.length);
  for (const it of popped) {
    ctx.out.array(2);
    ctx.out.bulk(it.member);
    replyScore(ctx, it.score);
  }
}

function zmpop(ctx: CommandContext): void {
  const { keys, which, count } = parseMpop(ctx, 1, ["min", "max"]);
  for (const key of keys) {
    const meta = readMeta(ctx, key, TYPE_ZSET);
    if (meta === undefined) continue;
    return replyMpop(ctx, key, popScored(ctx, key, meta, count, which === "max"));
  }
  ctx.out.nullArray();
}

function zrandmember(ctx: CommandContext): void {
  const { args } = ctx;
  const key = args[1]!;
  if (args.length === 2) {
    const meta = readMetaToRead(ctx, key, TYPE_ZSET);
    if (meta === undefined) return ctx.out.null();
    const target = randomIndex(meta.size);
    let i = 0;
    for (const it of byScore(ctx, meta)) if (i++ === target) return ctx.out.bulk(it.member);
    return ctx.out.null();
  }
  const { count, withOption: withScores } = randomCountWithOption(args, "withscores");
  const meta = readMetaToRead(ctx, key, TYPE_ZSET);
  if (meta === undefined || count === 0) return ctx.out.array(0);
  const resp3 = ctx.client.protocol === 3;
  const width = withScores && !resp3 ? 2 : 1;
  const emit = (it: Scored) => {
    if (withScores && resp3) ctx.out.array(2);
    ctx.out.bulk(it.member);
    if (withScores) replyScore(ctx, it.score);
  };
  if (count < 0) {
    const all = [...byScore(ctx, meta)];
    ctx.out.array(-count * width);
    for (let i = 0; i < -count; i++) emit(all[randomIndex(all.length)]!);
    return;
  }
  if (count >= meta.size) {
    ctx.out.array(meta.size * width);
    for (const it of byScore(ctx, meta)) emit(it);
    return;
  }
  const picks = distinctPositions(meta.size, count);
  ctx.out.array(count * width);
  let i = 0;
  let p = 0;
  for (const it of byScore(ctx, meta)) {
    if (p >= picks.length) break;
    if (i++ === picks[p]) {
      emit(it);
      p++;
    }
  }
}

const encoder = new TextEncoder();

function zscan(ctx: CommandContext): void {
  const parsed = parseKeyScan(ctx, TYPE_ZSET);
  if (parsed === undefined) return;
  const { scan, meta } = parsed;
  const found: Uint8Array[] = [];
  let next = "0";
  if (meta.size <= SCAN_WHOLE_KEY_MAX) {
    // Small sets come back whole and in score order, as Redis's listpacks do.
    for (const it of byScore(ctx, meta)) {
      if (scan.pattern !== undefined && !globMatch(scan.pattern, it.member)) continue;
      found.push(it.member, encoder.encode(formatG17(it.score)));
    }
  } else {
    const start = scan.after === null
      ? undefined
      : memberKey(SPACE_ZSET_MEMBER, meta.version, successor(scan.after));
    let examined = 0;
    let last: Uint8Array | undefined;
    for (const [k, v] of members(ctx.server.db, SPACE_ZSET_MEMBER, meta.version, { start })) {
      const m = k.subarray(10);
      if (examined === scan.count) {
        next = ctx.server.scanCursors.save(last!.slice());
        break;
      }
      examined++;
      last = m;
      if (scan.pattern !== undefined && !globMatch(scan.pattern, m)) continue;
      const score = new DataView(v.buffer, v.byteOffset, 8).getFloat64(0);
      found.push(m, encoder.encode(formatG17(score)));
    }
  }
  ctx.out.array(2);
  ctx.out.bulk(next);
  ctx.out.array(found.length);
  for (const b of found) ctx.out.bulk(b);
}

const one = specBuilder("sorted-set", { firstKey: 1, lastKey: 1, step: 1 });
const W = ["write", "denyoom", "fast"];
const R = ["readonly", "fast"];

/** Sorted-set commands of part 1. */
export const ZSET_COMMANDS: CommandSpec[] = [
  one("zadd", -4, W, "1.2.0", "Adds members to a sorted set, or updates their scores.", zadd),
  one("zincrby", 4, W, "1.2.0", "Increments the score of a member.", zincrby),
  one("zrem", -3, ["write", "fast"], "1.2.0", "Removes one or more members.", zrem),
  one("zcard", 2, R, "1.2.0", "Returns the number of members in a sorted set.", zcard),
  one("zscore", 3, R, "1.2.0", "Returns the score of a member.", zscore),
  one("zmscore", -3, R, "6.2.0", "Returns the score of one or more members.", zmscore),
  one("zrank", 3, R, "2.0.0", "Returns the index of a member.", (c) => zrank(c, false)),
  one(
    "zrevrank",
    3,
    R,
    "2.0.0",
    "Returns the index of a member, high to low.",
    (c) => zrank(c, true),
  ),
  one("zcount", 4, R, "2.0.0", "Returns the count of members with scores in a range.", zcount),
  one("zlexcount", 4, R, "2.8.9", "Returns the count of members in a lex range.", zlexcount),
  one(
    "zpopmin",
    -2,
    ["write", "fast"],
    "5.0.0",
    "Removes the lowest members.",
    (c) => zpop(c, false),
  ),
  one(
    "zpopmax",
    -2,
    ["write", "fast"],
    "5.0.0",
    "Removes the highest members.",
    (c) => zpop(c, true),
  ),
  {
    ...one("zmpop", -4, ["write"], "7.0.0", "Pops members from the first non-empty set.", zmpop),
    firstKey: 0,
    lastKey: 0,
    step: 0,
  },
  one("zrandmember", -2, ["readonly"], "6.2.0", "Returns random members.", zrandmember),
  one("zscan", -3, ["readonly"], "2.8.0", "Iterates over members and scores.", zscan),
];
