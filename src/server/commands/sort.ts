/**
 * SORT and SORT_RO, with Redis 7.0's semantics: the elements of a list, set or sorted set, sorted
 * as numbers or (ALPHA) as bytes, by themselves or by the keys a `BY` pattern names (`weight_*`,
 * `obj_*->field` for a hash field, a pattern without `*` for no sorting), a LIMIT window, `GET`
 * patterns (`#` is the element), and STORE into a list.
 *
 * Numeric sorting parses each weight as C's `strtod` does and fails the whole command when one
 * cannot be read (`One or more scores can't be converted into double`); equal weights are ordered
 * by the elements' bytes, so the result is deterministic. A missing BY key weighs 0. Patterns never
 * reach internal keys (`0xFF …`): such a lookup finds nothing.
 *
 * @module
 */

import type { WriteOp } from "../../engine/mod.ts";
import {
  ERR_RESERVED_KEY,
  ERR_WRONGTYPE,
  isInternalKey,
  SPACE_HASH_FIELD,
  SPACE_LIST_ITEM,
  SPACE_SET_MEMBER,
  SPACE_ZSET_MEMBER,
  TYPE_HASH,
  TYPE_LIST,
  TYPE_SET,
  TYPE_ZSET,
} from "../../keyspace/mod.ts";
import { SORT_ELEMENTS_MAX } from "../../limits.ts";
import { strtodWhole } from "./_strtod.ts";
import {
  createMeta,
  decodeMeta,
  internalIndexKey,
  memberKey,
  memberOf,
  members,
  metaOp,
  type TypeMeta,
} from "../../types/layout.ts";
import { isMemberType } from "../../types/keyspace_ops.ts";
import { compareBytes } from "../../util/bytes.ts";
import { KIND_META, KIND_PUT } from "../../util/entry.ts";
import {
  type CommandContext,
  type CommandSpec,
  ERR_SYNTAX,
  intArg,
  lower,
  ONE_KEY,
  ReplyError,
  specBuilder,
} from "../context.ts";
import { notifyMiss } from "../notifications.ts";
import { typeEvent, versions } from "./_types.ts";
import { byScore } from "./_zset.ts";
import { signalReady } from "./blocking_registry.ts";
import { itemRange } from "./list.ts";

const STAR = 0x2a;
const HASH_SIGN = 0x23;

/** The options of one SORT command. */
interface SortOptions {
  desc: boolean;
  alpha: boolean;
  /** The BY pattern, when it has a `*` (one without means no sorting). */
  by: Uint8Array | undefined;
  dontsort: boolean;
  limitStart: bigint;
  limitCount: bigint;
  gets: Uint8Array[];
  store: Uint8Array | undefined;
}

function parseOptions(ctx: CommandContext, readonly: boolean): SortOptions {
  const { args } = ctx;
  const o: SortOptions = {
    desc: false,
    alpha: false,
    by: undefined,
    dontsort: false,
    limitStart: 0n,
    limitCount: -1n,
    gets: [],
    store: undefined,
  };
  for (let j = 2; j < args.length; j++) {
    const left = args.length - j - 1;
    const opt = lower(args[j]!);
    if (opt === "asc") o.desc = false;
    else if (opt === "desc") o.desc = true;
    else if (opt === "alpha") o.alpha = true;
    else if (opt === "limit" && left >= 2) {
      o.limitStart = intArg(args[j + 1]!);
      o.limitCount = intArg(args[j + 2]!);
      j += 2;
    } else if (!readonly && opt === "store" && left >= 1) {
      o.store = args[++j]!;
    } else if (opt === "by" && left >= 1) {
      const pattern = args[++j]!;
      // A constant pattern weighs every element the same: nothing to sort or look up.
      if (pattern.subarray(0, cStringLength(pattern)).includes(STAR)) {
        o.by = pattern;
        o.dontsort = false;
      } else {
        o.by = undefined;
        o.dontsort = true;
      }
    } else if (opt === "get" && left >= 1) {
      o.gets.push(args[++j]!);
    } else throw new ReplyError(ERR_SYNTAX);
  }
  return o;
}

/** Bytes before the first NUL: Redis reads patterns as C strings. */
function cStringLength(b: Uint8Array): number {
  const nul = b.indexOf(0);
  return nul < 0 ? b.length : nul;
}

function indexOfPair(b: Uint8Array, from: number, end: number): number {
  for (let i = from; i + 1 < end; i++) if (b[i] === 0x2d && b[i + 1] === 0x3e) return i;
  return -1;
}

/**
 * The value a BY or GET pattern names for `elem`: `#` is the element itself; otherwise the first
 * `*` is replaced by the element, and `key->field` reads a hash field. A pattern without `*`,
 * a missing key, a key of another type or an internal key finds nothing.
 */
function lookupByPattern(
  ctx: CommandContext,
  pattern: Uint8Array,
  elem: Uint8Array,
): Uint8Array | undefined {
  const clen = cStringLength(pattern);
  if (clen === 1 && pattern[0] === HASH_SIGN) return elem;
  const star = pattern.subarray(0, clen).indexOf(STAR);
  if (star < 0) return undefined;
  const arrow = indexOfPair(pattern, star + 1, clen);
  const hasField = arrow >= 0 && arrow + 2 < clen;
  const field = hasField ? pattern.subarray(arrow + 2) : undefined;
  const postfix = pattern.subarray(star + 1, hasField ? arrow : pattern.length);
  const key = new Uint8Array(star + elem.length + postfix.length);
  key.set(pattern.subarray(0, star), 0);
  key.set(elem, star);
  key.set(postfix, star + elem.length);
  if (isInternalKey(key)) return undefined;
  const db = ctx.server.db;
  const e = db.getEntry(key);
  if (e === undefined) {
    notifyMiss(ctx, key);
    return undefined;
  }
  if (field === undefined) return e.kind === KIND_PUT ? e.value : undefined;
  if (e.kind !== KIND_META || !isMemberType(e.value) || e.value[0] !== TYPE_HASH) return undefined;
  const meta = decodeMeta(e.value, e.expireAtMs);
  return db.getEntry(memberKey(SPACE_HASH_FIELD, meta.version, field))?.value;
}

/** One element being sorted: itself, its numeric weight, or its ALPHA weight from BY. */
interface SortItem {
  obj: Uint8Array;
  score: number;
  cmp: Uint8Array | undefined;
}

/** The sortable key at `key`: its metadata, `undefined` when absent; WRONGTYPE otherwise. */
function sortSource(ctx: CommandContext, key: Uint8Array): TypeMeta | undefined {
  const e = ctx.server.db.getEntry(key);
  if (e === undefined) {
    notifyMiss(ctx, key);
    return undefined;
  }
  const t = e.value[0];
  if (
    e.kind !== KIND_META || !isMemberType(e.value) ||
    (t !== TYPE_LIST && t !== TYPE_SET && t !== TYPE_ZSET)
  ) {
    throw new ReplyError(ERR_WRONGTYPE);
  }
  return decodeMeta(e.value, e.expireAtMs);
}

function tooMany(n: number): ReplyError {
  return new ReplyError(
    `ERR SORT of ${n} elements: at most ${SORT_ELEMENTS_MAX} elements are sorted at once`,
  );
}

/** Elements at positions `[from, to]` in native order, reversed from the end when `desc`. */
function nativeRange(
  ctx: CommandContext,
  meta: TypeMeta,
  from: number,
  to: number,
  desc: boolean,
): Uint8Array[] {
  const n = to - from + 1;
  if (n <= 0) return [];
  if (meta.type === TYPE_LIST) {
    const items = desc
      ? itemRange(ctx, meta, meta.size - 1 - to, meta.size - 1 - from).reverse()
      : itemRange(ctx, meta, from, to);
    return items;
  }
  const out: Uint8Array[] = [];
  let skip = from;
  for (const s of byScore(ctx, meta, desc)) {
    if (skip > 0) {
      skip--;
      continue;
    }
    out.push(s.member);
    if (out.length === n) break;
  }
  return out;
}

/** Every element of the key, in native order for lists, any order for sets and sorted sets. */
function allElements(ctx: CommandContext, meta: TypeMeta): Uint8Array[] {
  if (meta.type === TYPE_LIST) {
    return meta.size === 0 ? [] : itemRange(ctx, meta, 0, meta.size - 1);
  }
  const space = meta.type === TYPE_SET ? SPACE_SET_MEMBER : SPACE_ZSET_MEMBER;
  const out: Uint8Array[] = [];
  for (const [k] of members(ctx.server.db, space, meta.version)) out.push(memberOf(k));
  return out;
}

function clamp(v: bigint, lo: number, hi: number): number {
  return v < BigInt(lo) ? lo : v > BigInt(hi) ? hi : Number(v);
}

function sortGeneric(ctx: CommandContext, readonly: boolean): void {
  const o = parseOptions(ctx, readonly);
  if (o.store !== undefined && isInternalKey(o.store)) throw new ReplyError(ERR_RESERVED_KEY);
  const meta = sortSource(ctx, ctx.args[1]!);
  const type = meta?.type ?? TYPE_LIST;
  const size = meta?.size ?? 0;
  // A set has no order of its own: stored (or replicated) results must not depend on it.
  if (o.dontsort && type === TYPE_SET && o.store !== undefined) {
    o.dontsort = false;
    o.alpha = true;
    o.by = undefined;
  }
  let start = clamp(o.limitStart, 0, size);
  const count = clamp(o.limitCount, -1, size);
  let end = count < 0 ? size - 1 : start + count - 1;
  if (start >= size) {
    start = size - 1;
    end = size - 2;
  }
  if (end >= size) end = size - 1;

  let elems: Uint8Array[];
  if (meta === undefined) elems = [];
  else if (o.dontsort && type !== TYPE_SET) {
    if (end - start + 1 > SORT_ELEMENTS_MAX) throw tooMany(end - start + 1);
    elems = nativeRange(ctx, meta, start, end, o.desc);
    end -= start;
    start = 0;
  } else {
    if (size > SORT_ELEMENTS_MAX) throw tooMany(size);
    elems = allElements(ctx, meta);
  }

  const items: SortItem[] = elems.map((obj) => ({ obj, score: 0, cmp: undefined }));
  let conversionError = false;
  if (!o.dontsort) {
    for (const it of items) {
      const byval = o.by === undefined ? it.obj : lookupByPattern(ctx, o.by, it.obj);
      if (byval === undefined) continue;
      if (o.alpha) {
        if (o.by !== undefined) it.cmp = byval;
      } else {
        const score = strtodWhole(byval, true);
        if (score === undefined) conversionError = true;
        else it.score = score;
      }
    }
    const sign = o.desc ? -1 : 1;
    const byPattern = o.by !== undefined;
    items.sort((a, b) => {
      let c: number;
      if (!o.alpha) {
        c = a.score > b.score ? 1 : a.score < b.score ? -1 : compareBytes(a.obj, b.obj);
      } else if (byPattern) {
        if (a.cmp === undefined || b.cmp === undefined) {
          c = a.cmp === b.cmp ? 0 : a.cmp === undefined ? -1 : 1;
        } else c = compareBytes(a.cmp, b.cmp);
      } else c = compareBytes(a.obj, b.obj);
      return sign * c;
    });
  }
  if (conversionError) {
    throw new ReplyError("ERR One or more scores can't be converted into double");
  }

  const rows = Math.max(0, end - start + 1);
  const outputLen = o.gets.length > 0 ? o.gets.length * rows : rows;
  if (o.store === undefined) {
    ctx.out.array(outputLen);
    for (let j = start; j <= end; j++) {
      const obj = items[j]!.obj;
      if (o.gets.length === 0) ctx.out.bulk(obj);
      for (const pattern of o.gets) {
        const v = lookupByPattern(ctx, pattern, obj);
        if (v === undefined) ctx.out.null();
        else ctx.out.bulk(v);
      }
    }
    return;
  }
  const values: Uint8Array[] = [];
  for (let j = start; j <= end; j++) {
    const obj = items[j]!.obj;
    if (o.gets.length === 0) values.push(obj);
    for (const pattern of o.gets) values.push(lookupByPattern(ctx, pattern, obj) ?? EMPTY);
  }
  storeList(ctx, o.store, values);
  ctx.out.integer(outputLen);
}

const EMPTY = new Uint8Array(0);

/** Replaces whatever `dst` holds with a list of `values` (deletes it when there are none). */
function storeList(ctx: CommandContext, dst: Uint8Array, values: Uint8Array[]): void {
  const existed = ctx.server.db.getEntry(dst) !== undefined;
  if (values.length === 0) {
    if (existed) {
      ctx.write([{ type: "delete", key: dst }]);
      typeEvent(ctx, "generic", "del", dst);
    }
    return;
  }
  const ops: WriteOp[] = [];
  const meta = createMeta(versions(ctx), dst, TYPE_LIST, ops);
  meta.created = !existed;
  for (const v of values) {
    ops.push({
      type: "put",
      key: internalIndexKey(SPACE_LIST_ITEM, meta.version, meta.head + meta.size),
      value: v,
    });
    meta.size++;
  }
  // The metadata goes last: a command split over several batches shows nothing until it lands.
  ops.push(metaOp(dst, meta));
  ctx.write(ops);
  typeEvent(ctx, "list", "sortstore", dst, meta);
  signalReady(ctx, dst);
}

const spec = specBuilder("generic", ONE_KEY);

/** SORT and SORT_RO. */
export const SORT_COMMANDS: CommandSpec[] = [
  spec(
    "sort",
    -2,
    ["write", "denyoom", "movablekeys"],
    "1.0.0",
    "Sorts the elements in a list, a set, or a sorted set, optionally storing the result.",
    (ctx) => sortGeneric(ctx, false),
  ),
  spec(
    "sort_ro",
    -2,
    ["readonly", "movablekeys"],
    "7.0.0",
    "Returns the sorted elements of a list, a set, or a sorted set.",
    (ctx) => sortGeneric(ctx, true),
  ),
];
