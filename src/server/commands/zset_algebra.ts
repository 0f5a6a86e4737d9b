/**
 * ZUNION ZINTER ZDIFF, their *STORE forms and ZINTERCARD, as Redis 7.0's
 * zunionInterDiffGenericCommand: sources may be sorted sets or sets (score 1), WEIGHTS and
 * AGGREGATE SUM|MIN|MAX, a NaN from `inf − inf` counts as 0. Intersections walk the smallest
 * source and probe the others by point lookups.
 *
 * @module
 */

import { SPACE_SET_MEMBER, TYPE_SET, TYPE_ZSET } from "../../keyspace/mod.ts";
import { decodeMeta, memberKey, memberOf, members, type TypeMeta } from "../../types/layout.ts";
import { compareBytes } from "../../util/bytes.ts";
import { KIND_META } from "../../util/entry.ts";
import { ERR_WRONGTYPE } from "../../keyspace/mod.ts";
import {
  type CommandContext,
  type CommandSpec,
  ERR_SYNTAX,
  intArg,
  lower,
  parseFloatArg,
  parseInt64,
  ReplyError,
  specBuilder,
} from "../context.ts";
import { keyId } from "../txn_overlay.ts";
import { notifyMiss } from "../notifications.ts";
import { byScore, replyScored, type Scored, scoreOf } from "./_zset.ts";
import { storeScored } from "./zset_range.ts";

type Op = "union" | "inter" | "diff";

interface Source {
  meta: TypeMeta | undefined;
  weight: number;
}

/** A source key's metadata (a missing key is a `keymiss` event, as Redis's lookupKeyRead). */
function sourceMeta(ctx: CommandContext, key: Uint8Array): TypeMeta | undefined {
  const e = ctx.server.db.getEntry(key);
  if (e === undefined) {
    notifyMiss(ctx, key);
    return undefined;
  }
  if (e.kind !== KIND_META || (e.value[0] !== TYPE_ZSET && e.value[0] !== TYPE_SET)) {
    throw new ReplyError(ERR_WRONGTYPE);
  }
  return decodeMeta(e.value, e.expireAtMs);
}

function* entries(ctx: CommandContext, meta: TypeMeta): Generator<Scored> {
  if (meta.type === TYPE_ZSET) yield* byScore(ctx, meta);
  else {
    for (const [k] of members(ctx.server.db, SPACE_SET_MEMBER, meta.version)) {
      yield { member: memberOf(k), score: 1 };
    }
  }
}

function scoreIn(ctx: CommandContext, meta: TypeMeta, member: Uint8Array): number | undefined {
  if (meta.type === TYPE_ZSET) return scoreOf(ctx, meta, member);
  const e = ctx.server.db.getEntry(memberKey(SPACE_SET_MEMBER, meta.version, member));
  return e === undefined ? undefined : 1;
}

function aggregate(acc: number, v: number, how: string): number {
  if (how === "min") return v < acc ? v : acc;
  if (how === "max") return v > acc ? v : acc;
  const s = acc + v;
  return Number.isNaN(s) ? 0 : s;
}

function weighted(score: number, weight: number): number {
  const v = score * weight;
  return Number.isNaN(v) ? 0 : v;
}

/** Parses and computes the operation (`at` = numkeys index); `card` = ZINTERCARD. */
function run(
  ctx: CommandContext,
  op: Op,
  at: number,
  store: boolean,
  card: boolean,
): { items: Scored[]; withScores: boolean; limit: number } {
  const { args } = ctx;
  const numkeys = intArg(args[at]!);
  const name = lower(args[0]!);
  if (numkeys < 1n) {
    throw new ReplyError(`ERR at least 1 input key is needed for '${name}' command`);
  }
  if (numkeys > BigInt(args.length - at - 1)) throw new ReplyError(ERR_SYNTAX);
  const n = Number(numkeys);
  const sources: Source[] = [];
  for (let i = 0; i < n; i++) {
    sources.push({ meta: sourceMeta(ctx, args[at + 1 + i]!), weight: 1 });
  }
  let how = "sum";
  let withScores = false;
  let limit = 0;
  let j = at + 1 + n;
  while (j < args.length) {
    const remaining = args.length - j;
    const opt = lower(args[j]!);
    if (op !== "diff" && !card && remaining >= n + 1 && opt === "weights") {
      j++;
      for (let i = 0; i < n; i++, j++) {
        const w = parseFloatArg(args[j]!);
        if (w === undefined) throw new ReplyError("ERR weight value is not a float");
        sources[i]!.weight = w;
      }
    } else if (op !== "diff" && !card && remaining >= 2 && opt === "aggregate") {
      const a = lower(args[j + 1]!);
      if (a !== "sum" && a !== "min" && a !== "max") throw new ReplyError(ERR_SYNTAX);
      how = a;
      j += 2;
    } else if (!store && !card && opt === "withscores") {
      withScores = true;
      j++;
    } else if (card && remaining >= 2 && opt === "limit") {
      const l = parseInt64(args[j + 1]!);
      if (l === undefined || l < 0n) throw new ReplyError("ERR LIMIT can't be negative");
      limit = l > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(l);
      j += 2;
    } else throw new ReplyError(ERR_SYNTAX);
  }
  return { items: compute(ctx, op, sources, how, card ? limit : 0), withScores, limit };
}

function compute(
  ctx: CommandContext,
  op: Op,
  sources: Source[],
  how: string,
  limit: number,
): Scored[] {
  const out: Scored[] = [];
  if (op === "inter") {
    if (sources.some((s) => s.meta === undefined || s.meta.size === 0)) return out;
    const order = sources.map((s, i) => ({ s, i })).sort((a, b) => a.s.meta!.size - b.s.meta!.size);
    const first = order[0]!;
    for (const it of entries(ctx, first.s.meta!)) {
      let score = weighted(it.score, first.s.weight);
      let ok = true;
      for (let k = 1; k < order.length; k++) {
        const o = order[k]!;
        const v = scoreIn(ctx, o.s.meta!, it.member);
        if (v === undefined) {
          ok = false;
          break;
        }
        score = aggregate(score, weighted(v, o.s.weight), how);
      }
      if (!ok) continue;
      out.push({ member: it.member.slice(), score });
      if (limit > 0 && out.length >= limit) break;
    }
  } else if (op === "diff") {
    const [first, ...rest] = sources;
    if (first?.meta === undefined) return out;
    for (const it of entries(ctx, first.meta)) {
      if (rest.some((o) => o.meta !== undefined && scoreIn(ctx, o.meta, it.member) !== undefined)) {
        continue;
      }
      out.push({ member: it.member.slice(), score: it.score });
    }
  } else {
    const acc = new Map<string, Scored>();
    for (const s of sources) {
      if (s.meta === undefined) continue;
      for (const it of entries(ctx, s.meta)) {
        const v = weighted(it.score, s.weight);
        const id = keyId(it.member);
        const cur = acc.get(id);
        if (cur === undefined) acc.set(id, { member: it.member.slice(), score: v });
        else cur.score = aggregate(cur.score, v, how);
      }
    }
    out.push(...acc.values());
  }
  out.sort((a, b) => a.score - b.score || compareBytes(a.member, b.member));
  return out;
}

function reply(ctx: CommandContext, op: Op): void {
  const r = run(ctx, op, 1, false, false);
  replyScored(ctx, r.items, r.withScores);
}

function storeCmd(ctx: CommandContext, op: Op): void {
  const r = run(ctx, op, 2, true, false);
  ctx.out.integer(storeScored(ctx, ctx.args[1]!, r.items, `z${op}store`));
}

function zintercard(ctx: CommandContext): void {
  ctx.out.integer(run(ctx, "inter", 1, false, true).items.length);
}

const spec = specBuilder("sorted-set", { firstKey: 0, lastKey: 0, step: 0 });

/** ZUNION ZINTER ZDIFF, *STORE and ZINTERCARD. */
export const ZSET_ALGEBRA_COMMANDS: CommandSpec[] = [
  spec(
    "zunion",
    -3,
    ["readonly"],
    "6.2.0",
    "Returns the union of sorted sets.",
    (c) => reply(c, "union"),
  ),
  spec(
    "zinter",
    -3,
    ["readonly"],
    "6.2.0",
    "Returns the intersect of sorted sets.",
    (c) => reply(c, "inter"),
  ),
  spec(
    "zdiff",
    -3,
    ["readonly"],
    "6.2.0",
    "Returns the difference of sorted sets.",
    (c) => reply(c, "diff"),
  ),
  {
    ...spec(
      "zunionstore",
      -4,
      ["write", "denyoom"],
      "2.0.0",
      "Stores the union.",
      (c) => storeCmd(c, "union"),
    ),
    firstKey: 1,
    lastKey: 1,
    step: 1,
  },
  {
    ...spec(
      "zinterstore",
      -4,
      ["write", "denyoom"],
      "2.0.0",
      "Stores the intersect.",
      (c) => storeCmd(c, "inter"),
    ),
    firstKey: 1,
    lastKey: 1,
    step: 1,
  },
  {
    ...spec(
      "zdiffstore",
      -4,
      ["write", "denyoom"],
      "6.2.0",
      "Stores the difference.",
      (c) => storeCmd(c, "diff"),
    ),
    firstKey: 1,
    lastKey: 1,
    step: 1,
  },
  spec("zintercard", -3, ["readonly"], "7.0.0", "Counts the intersect.", zintercard),
];
