/**
 * What the hash, set, sorted-set and list commands share: looking a key up with WRONGTYPE,
 * creating one, the double formats of Redis 7.0, the *SCAN argument parsing and the keyspace
 * events. Private to `src/server/commands/`.
 *
 * @module
 */

import type { WriteOp } from "../../engine/mod.ts";
import { ERR_WRONGTYPE, type VersionAllocator } from "../../keyspace/mod.ts";
import {
  createMeta,
  decodeMeta,
  memberKey,
  memberOf,
  members,
  successor,
  type TypeMeta,
} from "../../types/layout.ts";
import { KIND_META } from "../../util/entry.ts";
import { memoGetEntry } from "../../types/entry_memo.ts";
import { globMatch } from "../glob.ts";
import { NOTIFY, notify, notifyMiss } from "../notifications.ts";
import { SCAN_COUNT_MAX } from "../../limits.ts";
import {
  type CommandContext,
  ERR_SYNTAX,
  intArg,
  lower,
  parseInt64,
  ReplyError,
} from "../context.ts";

/** The key's metadata, `undefined` when absent; WRONGTYPE when it holds another type. */
export function readMeta(ctx: CommandContext, key: Uint8Array, type: number): TypeMeta | undefined {
  // `lookup` without its result object: this runs once per command of every member type.
  const e = memoGetEntry(ctx.server.db, key);
  if (e === undefined) return undefined;
  if (e.kind !== KIND_META || e.value[0] !== type) throw new ReplyError(ERR_WRONGTYPE);
  return decodeMeta(e.value, e.expireAtMs);
}

/**
 * `readMeta` for a command that reads `key` (Redis's `lookupKeyRead`): a missing key publishes
 * a `keymiss` event (`notify-keyspace-events m`), as Redis 7.0 does; a wrong type throws first.
 */
export function readMetaToRead(
  ctx: CommandContext,
  key: Uint8Array,
  type: number,
): TypeMeta | undefined {
  const meta = readMeta(ctx, key, type);
  if (meta === undefined) notifyMiss(ctx, key);
  return meta;
}

/** The database's one version allocator. */
export function versions(ctx: CommandContext): VersionAllocator {
  return ctx.server.versions;
}

/** The key's metadata, created (its version ops appended to `ops`) when absent. */
export function metaForWrite(
  ctx: CommandContext,
  key: Uint8Array,
  type: number,
  ops: WriteOp[],
): TypeMeta {
  return readMeta(ctx, key, type) ?? createMeta(versions(ctx), key, type, ops);
}

/** Event classes of the member types (the `notify-keyspace-events` letters). */
export type EventClass = "generic" | "hash" | "set" | "zset" | "list";

/**
 * Publishes keyspace event `event` about `key` (Redis 7.0's names), after the command wrote;
 * when `meta` was created by this command, `new` goes first, as Redis's dbAdd sends it.
 */
export function typeEvent(
  ctx: CommandContext,
  cls: EventClass,
  event: string,
  key: Uint8Array,
  meta?: TypeMeta,
): void {
  if (meta?.created === true) {
    meta.created = false;
    publishEvent(ctx, "new", "new", key);
  }
  publishEvent(ctx, cls, event, key);
}

const EVENT_CLASSES: Record<EventClass | "new", number> = {
  generic: NOTIFY.generic,
  hash: NOTIFY.hash,
  set: NOTIFY.set,
  zset: NOTIFY.zset,
  list: NOTIFY.list,
  new: NOTIFY.new,
};

/** Publishes one keyspace notification (ARCHITECTURE.md § "Keyspace notifications"). */
function publishEvent(
  ctx: CommandContext,
  cls: EventClass | "new",
  event: string,
  key: Uint8Array,
): void {
  notify(ctx, EVENT_CLASSES[cls], event, key);
}

const encoder = new TextEncoder();

/** A double as C's `%.17g` prints it (Redis 7.0's replies for scores). */
export function formatG17(x: number): string {
  if (x === Infinity) return "inf";
  if (x === -Infinity) return "-inf";
  if (Number.isNaN(x)) return "nan";
  if (x === 0) return Object.is(x, -0) ? "-0" : "0";
  const [mant, expText] = x.toExponential(16).split("e") as [string, string];
  const exp = Number(expText);
  if (exp < -4 || exp >= 17) {
    const m = mant.includes(".") ? mant.replace(/0+$/, "").replace(/\.$/, "") : mant;
    return `${m}e${exp < 0 ? "-" : "+"}${String(Math.abs(exp)).padStart(2, "0")}`;
  }
  let s = x.toFixed(16 - exp);
  if (s.includes(".")) s = s.replace(/0+$/, "").replace(/\.$/, "");
  return s;
}

/** A score reply: a bulk string in RESP2, a double in RESP3 (both `%.17g`). */
export function replyScore(ctx: CommandContext, x: number): void {
  const s = formatG17(x);
  if (ctx.client.protocol === 3) ctx.out.raw(encoder.encode(`,${s}\r\n`));
  else ctx.out.bulk(s);
}

/** Options of HSCAN, SSCAN and ZSCAN. */
export interface ScanArgs {
  /** Where to go on: `null` from the start. */
  after: Uint8Array | null;
  /** MATCH pattern. */
  pattern: Uint8Array | undefined;
  /** COUNT. */
  count: number;
}

/**
 * Parses `<cursor> [MATCH p] [COUNT n]` from argument 2 on and looks the key (argument 1) up, in
 * Redis 7.0's order: the cursor, then the key (WRONGTYPE; an absent key answers an empty scan
 * whatever the options say), then the options. `undefined` when the reply is already written.
 */
export function parseKeyScan(
  ctx: CommandContext,
  type: number,
): { scan: ScanArgs; meta: TypeMeta } | undefined {
  const { args } = ctx;
  const after = ctx.server.scanCursors.load(new TextDecoder().decode(args[2]!));
  if (after === undefined) throw new ReplyError("ERR invalid cursor");
  const meta = readMetaToRead(ctx, args[1]!, type);
  if (meta === undefined) {
    ctx.out.array(2);
    ctx.out.bulk("0");
    ctx.out.array(0);
    return undefined;
  }
  let pattern: Uint8Array | undefined;
  let count = 10;
  for (let i = 3; i < args.length; i++) {
    const opt = lower(args[i]!);
    if (i + 1 >= args.length) throw new ReplyError(ERR_SYNTAX);
    if (opt === "count") {
      const n = intArg(args[++i]!);
      if (n < 1n) throw new ReplyError(ERR_SYNTAX);
      count = n > BigInt(SCAN_COUNT_MAX) ? SCAN_COUNT_MAX : Number(n);
    } else if (opt === "match") pattern = args[++i]!;
    else throw new ReplyError(ERR_SYNTAX);
  }
  return { scan: { after, pattern, count }, meta };
}

/** Members of a key up to this many are returned by one *SCAN call, as Redis's listpacks. */
export const SCAN_WHOLE_KEY_MAX = 128;

/** A uniform random integer in `[0, n)`. */
export function randomIndex(n: number): number {
  return Math.floor(Math.random() * n);
}

/** Parses a RANDFIELD/RANDMEMBER count: `-LONG_MAX … LONG_MAX` as Redis checks it. */
export function randomCountArg(bytes: Uint8Array): number {
  const n = intArg(bytes);
  if (n < -(2n ** 63n - 1n)) {
    throw new ReplyError(
      "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
    );
  }
  if (n > BigInt(Number.MAX_SAFE_INTEGER)) return Number.MAX_SAFE_INTEGER;
  if (n < -BigInt(Number.MAX_SAFE_INTEGER)) return -Number.MAX_SAFE_INTEGER;
  return Number(n);
}

/**
 * Parses HRANDFIELD/ZRANDMEMBER's `count [WITHVALUES|WITHSCORES]` in Redis's order: the count's
 * range first, then the option word, then (with the option) a count whose doubled reply
 * length would overflow a long is refused.
 */
export function randomCountWithOption(
  args: Uint8Array[],
  option: string,
): { count: number; withOption: boolean } {
  const raw = intArg(args[2]!);
  const count = randomCountArg(args[2]!);
  if (args.length > 4 || (args.length === 4 && lower(args[3]!) !== option)) {
    throw new ReplyError(ERR_SYNTAX);
  }
  const withOption = args.length === 4;
  const half = (2n ** 63n - 1n) / 2n;
  if (withOption && (raw < -half || raw > half)) {
    throw new ReplyError("ERR value is out of range");
  }
  return { count, withOption };
}

/** `count` distinct positions out of `size`, ascending (Floyd's sampling). */
export function distinctPositions(size: number, count: number): number[] {
  const chosen = new Set<number>();
  for (let j = size - count; j < size; j++) {
    const t = randomIndex(j + 1);
    chosen.add(chosen.has(t) ? j : t);
  }
  return [...chosen].sort((a, b) => a - b);
}

/**
 * The reply of HSCAN/SSCAN/ZSCAN over `space` of a key: a key of at most
 * `SCAN_WHOLE_KEY_MAX` members comes back whole with cursor 0 (as Redis answers for its small
 * encodings); a bigger one `count` members at a time, the cursor naming the last member seen.
 */
export function scanReply(
  ctx: CommandContext,
  space: number,
  meta: TypeMeta,
  scan: ScanArgs,
  emit: (member: Uint8Array, value: Uint8Array, found: Uint8Array[]) => void,
): void {
  const found: Uint8Array[] = [];
  let next = "0";
  const whole = meta.size <= SCAN_WHOLE_KEY_MAX;
  const start = scan.after === null || whole
    ? undefined
    : memberKey(space, meta.version, successor(scan.after));
  let examined = 0;
  let last: Uint8Array | undefined;
  for (const [k, v] of members(ctx.server.db, space, meta.version, { start })) {
    const m = memberOf(k);
    if (!whole && examined === scan.count) {
      next = ctx.server.scanCursors.save(last!.slice());
      break;
    }
    examined++;
    last = m;
    if (scan.pattern !== undefined && !globMatch(scan.pattern, m)) continue;
    emit(m, v, found);
  }
  ctx.out.array(2);
  ctx.out.bulk(next);
  ctx.out.array(found.length);
  for (const b of found) ctx.out.bulk(b);
}

/**
 * Parses `numkeys key… SIDE [COUNT n]` of LMPOP/ZMPOP and their blocking forms (`from` =
 * numkeys index; `sides` the two words SIDE may be, e.g. `["min", "max"]`).
 */
export function parseMpop(
  ctx: CommandContext,
  from: number,
  sides: [string, string],
): { keys: Uint8Array[]; which: string; count: number } {
  const { args } = ctx;
  const numkeys = parseInt64(args[from]!);
  if (numkeys === undefined || numkeys <= 0n) {
    throw new ReplyError("ERR numkeys should be greater than 0");
  }
  if (numkeys > BigInt(args.length - from - 1)) throw new ReplyError(ERR_SYNTAX);
  const n = Number(numkeys);
  const keys = args.slice(from + 1, from + 1 + n);
  let i = from + 1 + n;
  if (i >= args.length) throw new ReplyError(ERR_SYNTAX);
  const which = lower(args[i++]!);
  if (which !== sides[0] && which !== sides[1]) throw new ReplyError(ERR_SYNTAX);
  let count = -1;
  for (; i < args.length; i++) {
    if (count === -1 && lower(args[i]!) === "count" && i + 1 < args.length) {
      const c = parseInt64(args[++i]!);
      if (c === undefined || c <= 0n) throw new ReplyError("ERR count should be greater than 0");
      count = c > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(c);
    } else throw new ReplyError(ERR_SYNTAX);
  }
  return { keys, which, count: count === -1 ? 1 : count };
}
