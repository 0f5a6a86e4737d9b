/**
 * Sorted-set storage helpers shared by the Z* command files: member ↔ score entries, the
 * score-ordered walk, writing and removing members, score and lex ranges as byte ranges, and
 * the reply shapes of scores. Private to `src/server/commands/`. ARCHITECTURE.md § "Member types".
 *
 * @module
 */

import type { WriteOp } from "../../engine/mod.ts";
import { memoGetEntry } from "../../types/entry_memo.ts";
import { SPACE_ZSET_MEMBER, SPACE_ZSET_SCORE, TYPE_ZSET } from "../../keyspace/mod.ts";
import {
  decodeScore,
  encodeScore,
  memberKey,
  members,
  metaOp,
  scoreBytes,
  scoreFromBytes,
  type TypeMeta,
  versionEnd,
  versionPrefix,
  writeU64,
} from "../../types/layout.ts";
import { allocBytes, compareBytes, prefixEnd } from "../../util/bytes.ts";
import { type CommandContext, ReplyError } from "../context.ts";
import { strtodWhole } from "./_strtod.ts";
import { replyScore, typeEvent } from "./_types.ts";

/** A member and its score. */
export interface Scored {
  /** Member bytes. */
  member: Uint8Array;
  /** Score. */
  score: number;
}

/** The (empty) value of a score entry, shared: nothing ever writes into it. */
const EMPTY_VALUE = new Uint8Array(0);

/** `ff 14 version score⁺ member`. */
export function scoreKey(version: number, score: number, member: Uint8Array): Uint8Array {
  const key = allocBytes(18 + member.length);
  key[0] = 0xff;
  key[1] = SPACE_ZSET_SCORE;
  writeU64(key, 2, version);
  encodeScore(score, key, 10);
  key.set(member, 18);
  return key;
}

/** `ff 14 version score⁺`: the prefix of every member with `score`. */
function scorePrefix(version: number, score: number): Uint8Array {
  const key = allocBytes(18);
  key[0] = 0xff;
  key[1] = SPACE_ZSET_SCORE;
  writeU64(key, 2, version);
  encodeScore(score, key, 10);
  return key;
}

/** The score of `member`, `undefined` when absent. */
export function scoreOf(
  ctx: CommandContext,
  meta: TypeMeta,
  member: Uint8Array,
): number | undefined {
  const e = memoGetEntry(ctx.server.db, memberKey(SPACE_ZSET_MEMBER, meta.version, member));
  return e === undefined ? undefined : scoreFromBytes(e.value);
}

/** Ops setting `member` to `score` (replacing `old` when it had one). */
export function putMember(
  ops: WriteOp[],
  meta: TypeMeta,
  member: Uint8Array,
  score: number,
  old: number | undefined,
): void {
  if (old !== undefined) ops.push({ type: "delete", key: scoreKey(meta.version, old, member) });
  ops.push({
    type: "put",
    key: memberKey(SPACE_ZSET_MEMBER, meta.version, member),
    // −0 is stored as 0: Redis prints a −0 score as "0".
    value: scoreBytes(score === 0 ? 0 : score),
  });
  ops.push({ type: "put", key: scoreKey(meta.version, score, member), value: EMPTY_VALUE });
}

/** Ops removing `member` (with its `score`). */
export function deleteMember(ops: WriteOp[], meta: TypeMeta, m: Scored): void {
  ops.push({ type: "delete", key: memberKey(SPACE_ZSET_MEMBER, meta.version, m.member) });
  ops.push({ type: "delete", key: scoreKey(meta.version, m.score, m.member) });
}

/** Removes `list` from the sorted set at `key` in one write; fires `event` (and `del`). */
export function removeScored(
  ctx: CommandContext,
  key: Uint8Array,
  meta: TypeMeta,
  list: Scored[],
  event: string,
): void {
  if (list.length === 0) return;
  const ops: WriteOp[] = [];
  for (const m of list) deleteMember(ops, meta, m);
  meta.size -= list.length;
  ops.push(metaOp(key, meta));
  ctx.write(ops);
  typeEvent(ctx, "zset", event, key);
  if (meta.size === 0) typeEvent(ctx, "generic", "del", key);
}

/** Members in score order within the byte range `[start, end)` of the score index. */
export function* byScore(
  ctx: CommandContext,
  meta: TypeMeta,
  reverse = false,
  start?: Uint8Array,
  end?: Uint8Array,
): Generator<Scored> {
  for (
    const [k] of members(ctx.server.db, SPACE_ZSET_SCORE, meta.version, { start, end, reverse })
  ) {
    yield { member: k.subarray(18), score: decodeScore(k, 10) };
  }
}

/** A score bound: `value`, exclusive or not. */
export interface ScoreBound {
  /** The score. */
  value: number;
  /** `(` was given. */
  exclusive: boolean;
}

/**
 * Parses a score bound (`1.5`, `(1.5`, `-inf`, `+inf`) as Redis 7.0's `zslParseRange` does:
 * with plain `strtod`, so `""` and `"("` are 0, leading white space is skipped, `1e400` is
 * infinity and the text ends at a NUL byte (not the strict parse of ZADD's scores).
 */
export function parseScoreBound(bytes: Uint8Array): ScoreBound {
  let exclusive = false;
  let b = bytes;
  if (b.length > 0 && b[0] === 0x28) {
    exclusive = true;
    b = b.subarray(1);
  }
  const v = strtodWhole(b, false);
  if (v === undefined) throw new ReplyError("ERR min or max is not a float");
  return { value: v, exclusive };
}

/** The byte range of the score index between two bounds (`[start, end)`), or empty. */
export function scoreRange(
  meta: TypeMeta,
  min: ScoreBound,
  max: ScoreBound,
): { start: Uint8Array; end: Uint8Array } | undefined {
  if (min.value > max.value || (min.value === max.value && (min.exclusive || max.exclusive))) {
    return undefined;
  }
  const v = meta.version;
  const start = min.exclusive
    ? prefixEnd(scorePrefix(v, min.value))!
    : min.value === -Infinity
    ? versionPrefix(SPACE_ZSET_SCORE, v)
    : scorePrefix(v, min.value);
  const end = max.exclusive
    ? scorePrefix(v, max.value)
    : max.value === Infinity
    ? versionEnd(SPACE_ZSET_SCORE, v)
    : prefixEnd(scorePrefix(v, max.value))!;
  if (compareBytes(start, end) >= 0) return undefined;
  return { start, end };
}

/** A lex bound: `-`, `+`, `[x` or `(x`. */
export type LexBound = { kind: "min" } | { kind: "max" } | {
  kind: "value";
  value: Uint8Array;
  exclusive: boolean;
};

/** Parses a lex bound; Redis's error otherwise. */
export function parseLexBound(bytes: Uint8Array): LexBound {
  if (bytes.length === 1 && bytes[0] === 0x2d) return { kind: "min" };
  if (bytes.length === 1 && bytes[0] === 0x2b) return { kind: "max" };
  if (bytes.length > 0 && (bytes[0] === 0x28 || bytes[0] === 0x5b)) {
    return { kind: "value", value: bytes.subarray(1), exclusive: bytes[0] === 0x28 };
  }
  throw new ReplyError("ERR min or max not valid string range item");
}

/** True when `m` is at or above `min`. */
export function lexAboveMin(m: Uint8Array, min: LexBound): boolean {
  if (min.kind === "min") return true;
  if (min.kind === "max") return false;
  const c = compareBytes(m, min.value);
  return min.exclusive ? c > 0 : c >= 0;
}

/** True when `m` is at or below `max`. */
export function lexBelowMax(m: Uint8Array, max: LexBound): boolean {
  if (max.kind === "max") return true;
  if (max.kind === "min") return false;
  const c = compareBytes(m, max.value);
  return max.exclusive ? c < 0 : c <= 0;
}

/** Looks up a sorted set (a set is NOT accepted): re-exported for the command files. */
export const ZSET = TYPE_ZSET;

/** Writes `items` as a reply: members, with scores when asked (RESP3: pairs). */
export function replyScored(ctx: CommandContext, items: Scored[], withScores: boolean): void {
  const resp3 = ctx.client.protocol === 3;
  if (!withScores) {
    ctx.out.array(items.length);
    for (const it of items) ctx.out.bulk(it.member);
    return;
  }
  ctx.out.array(resp3 ? items.length : items.length * 2);
  for (const it of items) {
    if (resp3) ctx.out.array(2);
    ctx.out.bulk(it.member);
    replyScore(ctx, it.score);
  }
}
