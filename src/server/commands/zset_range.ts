/**
 * Sorted-set ranges of Redis 7.0: ZRANGE (BYSCORE, BYLEX, REV, LIMIT, WITHSCORES), ZRANGESTORE,
 * ZRANGEBYSCORE, ZREVRANGEBYSCORE, ZRANGEBYLEX, ZREVRANGEBYLEX, ZREVRANGE and
 * ZREMRANGEBYRANK/SCORE/LEX, with Redis's argument order and checks. Ranges are ordered reads of
 * the score index (ARCHITECTURE.md § "Member types"): a rank range skips `start` entries, a
 * score range seeks straight to its first score.
 *
 * @module
 */

import type { WriteOp } from "../../engine/mod.ts";
import { TYPE_ZSET } from "../../keyspace/mod.ts";
import { createMeta, metaOp, type TypeMeta } from "../../types/layout.ts";
import {
  type CommandContext,
  type CommandSpec,
  ERR_SYNTAX,
  intArg,
  lower,
  ReplyError,
  specBuilder,
} from "../context.ts";
import { readMeta, readMetaToRead, typeEvent, versions } from "./_types.ts";
import { signalReady } from "./blocking_registry.ts";
import {
  byScore,
  lexAboveMin,
  lexBelowMax,
  type LexBound,
  parseLexBound,
  parseScoreBound,
  putMember,
  removeScored,
  replyScored,
  type ScoreBound,
  type Scored,
  scoreRange,
} from "./_zset.ts";

type RangeType = "rank" | "score" | "lex";

/** A parsed range request. */
interface RangeRequest {
  type: RangeType;
  reverse: boolean;
  withScores: boolean;
  offset: number;
  limit: number;
  start: bigint;
  stop: bigint;
  min: ScoreBound | undefined;
  max: ScoreBound | undefined;
  lexMin: LexBound | undefined;
  lexMax: LexBound | undefined;
}

function clampLong(v: bigint): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) return Number.MAX_SAFE_INTEGER;
  if (v < BigInt(Number.MIN_SAFE_INTEGER)) return Number.MIN_SAFE_INTEGER;
  return Number(v);
}

/** Redis's zrangeGenericCommand argument parsing (`at` = index of the source key). */
function parseRange(
  ctx: CommandContext,
  at: number,
  store: boolean,
  fixedType: RangeType | undefined,
  fixedReverse: boolean | undefined,
): RangeRequest {
  const { args } = ctx;
  let type = fixedType;
  let reverse = fixedReverse;
  let withScores = false;
  let offset = 0;
  let limit = -1;
  for (let j = at + 3; j < args.length; j++) {
    const opt = lower(args[j]!);
    const left = args.length - j - 1;
    if (!store && opt === "withscores") withScores = true;
    else if (opt === "limit" && left >= 2) {
      offset = clampLong(intArg(args[j + 1]!));
      limit = clampLong(intArg(args[j + 2]!));
      j += 2;
    } else if (fixedReverse === undefined && reverse === undefined && opt === "rev") reverse = true;
    else if (fixedType === undefined && type === undefined && opt === "bylex") type = "lex";
    else if (fixedType === undefined && type === undefined && opt === "byscore") type = "score";
    else throw new ReplyError(ERR_SYNTAX);
  }
  reverse ??= false;
  type ??= "rank";
  if (limit !== -1 && type === "rank") {
    throw new ReplyError(
      "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
    );
  }
  if (withScores && type === "lex") {
    throw new ReplyError("ERR syntax error, WITHSCORES not supported in combination with BYLEX");
  }
  let minArg = args[at + 1]!;
  let maxArg = args[at + 2]!;
  if (reverse && type !== "rank") [minArg, maxArg] = [maxArg, minArg];
  const req: RangeRequest = {
    type,
    reverse,
    withScores,
    offset,
    limit,
    start: 0n,
    stop: 0n,
    min: undefined,
    max: undefined,
    lexMin: undefined,
    lexMax: undefined,
  };
  if (type === "rank") {
    req.start = intArg(minArg);
    req.stop = intArg(maxArg);
  } else if (type === "score") {
    req.min = parseScoreBound(minArg);
    req.max = parseScoreBound(maxArg);
  } else {
    try {
      req.lexMin = parseLexBound(minArg);
      req.lexMax = parseLexBound(maxArg);
    } catch {
      throw new ReplyError("ERR min or max not valid string range item");
    }
  }
  return req;
}

/** The members a range request selects, in reply order. */
function selectRange(ctx: CommandContext, meta: TypeMeta, req: RangeRequest): Scored[] {
  const out: Scored[] = [];
  if (req.type === "rank") {
    const size = BigInt(meta.size);
    let start = req.start < 0n ? req.start + size : req.start;
    let stop = req.stop < 0n ? req.stop + size : req.stop;
    if (start < 0n) start = 0n;
    if (start > stop || start >= size) return out;
    if (stop >= size) stop = size - 1n;
    const from = Number(start);
    const to = Number(stop);
    let i = 0;
    for (const it of byScore(ctx, meta, req.reverse)) {
      if (i > to) break;
      if (i++ >= from) out.push(it);
    }
    return out;
  }
  if (req.offset < 0 || req.limit === 0) return out;
  let skip = req.offset;
  const limit = req.limit < 0 ? Infinity : req.limit;
  if (req.type === "score") {
    const range = scoreRange(meta, req.min!, req.max!);
    if (range === undefined) return out;
    for (const it of byScore(ctx, meta, req.reverse, range.start, range.end)) {
      if (skip > 0) {
        skip--;
        continue;
      }
      out.push(it);
      if (out.length >= limit) break;
    }
    return out;
  }
  const min = req.lexMin!;
  const max = req.lexMax!;
  for (const it of byScore(ctx, meta, req.reverse)) {
    if (req.reverse) {
      if (!lexBelowMax(it.member, max)) continue;
      if (!lexAboveMin(it.member, min)) break;
    } else {
      if (!lexAboveMin(it.member, min)) continue;
      if (!lexBelowMax(it.member, max)) break;
    }
    if (skip > 0) {
      skip--;
      continue;
    }
    out.push(it);
    if (out.length >= limit) break;
  }
  return out;
}

function zrangeGeneric(
  ctx: CommandContext,
  fixedType: RangeType | undefined,
  fixedReverse: boolean | undefined,
): void {
  const req = parseRange(ctx, 1, false, fixedType, fixedReverse);
  const meta = readMetaToRead(ctx, ctx.args[1]!, TYPE_ZSET);
  if (meta === undefined) return ctx.out.array(0);
  replyScored(ctx, selectRange(ctx, meta, req), req.withScores);
}

/** Stores `items` as a new sorted set at `dst` (deleting it when empty); returns the count. */
export function storeScored(
  ctx: CommandContext,
  dst: Uint8Array,
  items: Scored[],
  event: string,
): number {
  const existed = ctx.server.db.getEntry(dst) !== undefined;
  if (items.length === 0) {
    if (existed) {
      ctx.write([{ type: "delete", key: dst }]);
      typeEvent(ctx, "generic", "del", dst);
    }
    return 0;
  }
  const ops: WriteOp[] = [];
  const meta = createMeta(versions(ctx), dst, TYPE_ZSET, ops);
  meta.created = !existed;
  for (const it of items) putMember(ops, meta, it.member, it.score, undefined);
  meta.size = items.length;
  ops.push(metaOp(dst, meta));
  ctx.write(ops);
  typeEvent(ctx, "zset", event, dst, meta);
  signalReady(ctx, dst);
  return items.length;
}

function zrangestore(ctx: CommandContext): void {
  const req = parseRange(ctx, 2, true, undefined, undefined);
  const meta = readMetaToRead(ctx, ctx.args[2]!, TYPE_ZSET);
  const items = meta === undefined ? [] : selectRange(ctx, meta, req);
  ctx.out.integer(storeScored(
    ctx,
    ctx.args[1]!,
    items.map((it) => ({
      member: it.member.slice(),
      score: it.score,
    })),
    "zrangestore",
  ));
}

function zremrange(ctx: CommandContext, type: RangeType): void {
  const key = ctx.args[1]!;
  const req: RangeRequest = {
    type,
    reverse: false,
    withScores: false,
    offset: 0,
    limit: -1,
    start: 0n,
    stop: 0n,
    min: undefined,
    max: undefined,
    lexMin: undefined,
    lexMax: undefined,
  };
  if (type === "rank") {
    req.start = intArg(ctx.args[2]!);
    req.stop = intArg(ctx.args[3]!);
  } else if (type === "score") {
    req.min = parseScoreBound(ctx.args[2]!);
    req.max = parseScoreBound(ctx.args[3]!);
  } else {
    req.lexMin = parseLexBound(ctx.args[2]!);
    req.lexMax = parseLexBound(ctx.args[3]!);
  }
  const meta = readMeta(ctx, key, TYPE_ZSET);
  if (meta === undefined) return ctx.out.integer(0);
  const gone = selectRange(ctx, meta, req);
  removeScored(ctx, key, meta, gone, `zremrangeby${type}`);
  ctx.out.integer(gone.length);
}

const one = specBuilder("sorted-set", { firstKey: 1, lastKey: 1, step: 1 });
const R = ["readonly"];

/** The range commands. */
export const ZSET_RANGE_COMMANDS: CommandSpec[] = [
  one(
    "zrange",
    -4,
    R,
    "1.2.0",
    "Returns members in a range.",
    (c) => zrangeGeneric(c, undefined, undefined),
  ),
  one(
    "zrevrange",
    -4,
    R,
    "1.2.0",
    "Returns members in a range of indexes, high to low.",
    (c) => zrangeGeneric(c, "rank", true),
  ),
  one(
    "zrangebyscore",
    -4,
    R,
    "1.0.5",
    "Returns members in a range of scores.",
    (c) => zrangeGeneric(c, "score", false),
  ),
  one("zrevrangebyscore", -4, R, "2.2.0", "Returns members in a range of scores, high to low.", (
    c,
  ) => zrangeGeneric(c, "score", true)),
  one(
    "zrangebylex",
    -4,
    R,
    "2.8.9",
    "Returns members in a lexicographical range.",
    (c) => zrangeGeneric(c, "lex", false),
  ),
  one(
    "zrevrangebylex",
    -4,
    R,
    "2.8.9",
    "Returns members in a lex range, high to low.",
    (c) => zrangeGeneric(c, "lex", true),
  ),
  {
    ...one("zrangestore", -5, ["write", "denyoom"], "6.2.0", "Stores a range.", zrangestore),
    lastKey: 2,
  },
  one(
    "zremrangebyrank",
    4,
    ["write"],
    "2.0.0",
    "Removes members in a range of indexes.",
    (c) => zremrange(c, "rank"),
  ),
  one(
    "zremrangebyscore",
    4,
    ["write"],
    "1.2.0",
    "Removes members in a range of scores.",
    (c) => zremrange(c, "score"),
  ),
  one(
    "zremrangebylex",
    4,
    ["write"],
    "2.8.9",
    "Removes members in a lex range.",
    (c) => zremrange(c, "lex"),
  ),
];
