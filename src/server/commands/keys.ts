/**
 * Keyspace commands: DEL UNLINK EXISTS TYPE RENAME RENAMENX COPY KEYS SCAN DBSIZE.
 *
 * KEYS and SCAN turn a pattern's literal prefix (`user:*`, `a\*b*`) into a range scan of the
 * engine, so only keys that can match are read; keys come back in unsigned byte order.
 *
 * @module
 */

import { compareBytes, prefixEnd } from "../../util/bytes.ts";
import {
  type CommandContext,
  type CommandSpec,
  ERR_DB_INDEX,
  ERR_NO_SUCH_KEY,
  ERR_SYNTAX,
  intArg,
  lower,
  ReplyError,
} from "../context.ts";
import { globMatch, globPrefix } from "../glob.ts";
import { GLOB_PATTERN_BYTES_MAX, KEYS_RESULT_MAX, SCAN_COUNT_MAX } from "../../limits.ts";
import { equalBytes } from "../../util/bytes.ts";
import { typeName, USER_KEYS_END } from "../../keyspace/mod.ts";
import { KIND_META } from "../../util/entry.ts";
import { TsError } from "../../timeseries/errors.ts";
import { NOTIFY, notify, notifyMiss } from "../notifications.ts";
import { copyOps, isMemberType, renameOps } from "../../types/keyspace_ops.ts";
import { signalReady } from "./blocking_registry.ts";

function del(ctx: CommandContext): void {
  const db = ctx.server.db;
  const seen = new Set<string>();
  const keys: Uint8Array[] = [];
  for (let i = 1; i < ctx.args.length; i++) {
    const key = ctx.args[i]!;
    if (db.getEntry(key) === undefined) continue;
    // Duplicates count once, as in Redis (the second delete finds nothing).
    const id = key.join(",");
    if (seen.has(id)) continue;
    seen.add(id);
    keys.push(key);
  }
  if (keys.length > 0) ctx.write(keys.map((key) => ({ type: "delete", key })));
  for (const key of keys) notify(ctx, NOTIFY.generic, "del", key);
  ctx.out.integer(keys.length);
}

function exists(ctx: CommandContext): void {
  const db = ctx.server.db;
  let n = 0;
  for (let i = 1; i < ctx.args.length; i++) {
    if (db.getEntry(ctx.args[i]!) !== undefined) n++;
    else notifyMiss(ctx, ctx.args[i]!);
  }
  ctx.out.integer(n);
}

function type(ctx: CommandContext): void {
  const e = ctx.server.db.getEntry(ctx.args[1]!);
  if (e === undefined) notifyMiss(ctx, ctx.args[1]!);
  ctx.out.simple(e === undefined ? "none" : typeName(e.kind, e.value));
}

/** Runs a time-series layer call for a keyspace command, its refusals as replies. */
function viaTimeseries(ctx: CommandContext, fn: () => void): void {
  // A series' writes carry log ops, whose sequence is known only when written: they cannot be
  // staged by EXEC (ARCHITECTURE.md § "Time-series commands").
  if ("overlay" in ctx) {
    throw new ReplyError("ERR A time series cannot be renamed or copied inside a transaction");
  }
  try {
    fn();
  } catch (err) {
    if (err instanceof TsError) throw new ReplyError(err.reply);
    throw err;
  }
}

function renameGeneric(ctx: CommandContext, nx: boolean): void {
  const src = ctx.args[1]!;
  const dst = ctx.args[2]!;
  const db = ctx.server.db;
  const e = db.getEntry(src);
  if (e === undefined) throw new ReplyError(ERR_NO_SUCH_KEY);
  if (equalBytes(src, dst)) return nx ? ctx.out.integer(0) : ctx.out.ok();
  if (nx && db.getEntry(dst) !== undefined) return ctx.out.integer(0);
  if (e.kind === KIND_META && isMemberType(e.value)) {
    // Hashes, sets, sorted sets, lists: the metadata moves, the members stay under its version.
    ctx.write(renameOps(src, dst, e));
  } else if (e.kind === KIND_META) {
    // Another type: its layer moves the metadata and keeps its data attached.
    viaTimeseries(ctx, () => ctx.server.timeseries.rename(src, dst, (ops) => ctx.write(ops)));
  } else {
    ctx.write([
      { type: "delete", key: src },
      e.expireAtMs === 0
        ? { type: "put", key: dst, value: e.value }
        : { type: "put", key: dst, value: e.value, expireAtMs: e.expireAtMs },
    ]);
  }
  // As Redis, whatever the type: the destination is always added anew, then the rename is
  // announced.
  notify(ctx, NOTIFY.new, "new", dst);
  notify(ctx, NOTIFY.generic, "rename_from", src);
  notify(ctx, NOTIFY.generic, "rename_to", dst);
  // Clients blocked on the destination are served after the command's own events, as in Redis.
  if (e.kind === KIND_META && isMemberType(e.value)) signalReady(ctx, dst);
  if (nx) ctx.out.integer(1);
  else ctx.out.ok();
}

function copy(ctx: CommandContext): void {
  const { args } = ctx;
  let replace = false;
  for (let i = 3; i < args.length; i++) {
    const opt = lower(args[i]!);
    if (opt === "replace") replace = true;
    else if (opt === "db" && i + 1 < args.length) {
      if (intArg(args[++i]!) !== 0n) throw new ReplyError(ERR_DB_INDEX);
    } else throw new ReplyError(ERR_SYNTAX);
  }
  const src = args[1]!;
  const dst = args[2]!;
  if (equalBytes(src, dst)) {
    throw new ReplyError("ERR source and destination objects are the same");
  }
  const db = ctx.server.db;
  const e = db.getEntry(src);
  if (e === undefined) return ctx.out.integer(0);
  if (!replace && db.getEntry(dst) !== undefined) return ctx.out.integer(0);
  if (e.kind === KIND_META && isMemberType(e.value)) {
    ctx.write(copyOps(db, ctx.server.versions, dst, e));
  } else if (e.kind === KIND_META) {
    viaTimeseries(ctx, () => ctx.server.timeseries.copy(src, dst, (ops) => ctx.write(ops)));
  } else {
    ctx.write([
      e.expireAtMs === 0
        ? { type: "put", key: dst, value: e.value }
        : { type: "put", key: dst, value: e.value, expireAtMs: e.expireAtMs },
    ]);
  }
  notify(ctx, NOTIFY.new, "new", dst);
  notify(ctx, NOTIFY.generic, "copy_to", dst);
  if (e.kind === KIND_META && isMemberType(e.value)) signalReady(ctx, dst);
  ctx.out.integer(1);
}

function checkPattern(pattern: Uint8Array): void {
  if (pattern.length > GLOB_PATTERN_BYTES_MAX) {
    throw new ReplyError(`ERR pattern too long (limit ${GLOB_PATTERN_BYTES_MAX} bytes)`);
  }
}

/** The engine range holding every key that can match `pattern`, after `after` if given. */
function patternRange(
  pattern: Uint8Array | undefined,
  after: Uint8Array | null,
): { start?: Uint8Array; end?: Uint8Array; prefixOnly: boolean } {
  const { prefix, prefixOnly } = pattern === undefined
    ? { prefix: new Uint8Array(0), prefixOnly: true }
    : globPrefix(pattern);
  let start: Uint8Array | undefined = prefix.length > 0 ? prefix : undefined;
  // User keys never start with 0xFF (§ "Keyspace"): stop before the internal range.
  let end = prefixEnd(prefix);
  if (end === undefined || compareBytes(end, USER_KEYS_END) > 0) end = USER_KEYS_END;
  if (after !== null) {
    // The smallest key strictly greater than `after` is `after` followed by 0x00.
    const next = new Uint8Array(after.length + 1);
    next.set(after);
    if (start === undefined || compareBytes(next, start) > 0) start = next;
  }
  const range: { start?: Uint8Array; end?: Uint8Array; prefixOnly: boolean } = { prefixOnly };
  if (start !== undefined) range.start = start;
  if (end !== undefined) range.end = end;
  return range;
}

async function keys(ctx: CommandContext): Promise<void> {
  const pattern = ctx.args[1]!;
  checkPattern(pattern);
  const { prefixOnly, ...range } = patternRange(pattern, null);
  const found: Uint8Array[] = [];
  for await (const [key] of ctx.server.db.scan(range)) {
    if (!prefixOnly && !globMatch(pattern, key)) continue;
    if (found.length >= KEYS_RESULT_MAX) {
      throw new ReplyError(`ERR too many keys (limit ${KEYS_RESULT_MAX}): use SCAN`);
    }
    found.push(key);
  }
  ctx.out.array(found.length);
  for (const key of found) ctx.out.bulk(key);
}

async function scan(ctx: CommandContext): Promise<void> {
  const { args } = ctx;
  const cursor = new TextDecoder().decode(args[1]!);
  let pattern: Uint8Array | undefined;
  let count = 10;
  let wantType: string | undefined;
  for (let i = 2; i < args.length; i++) {
    const opt = lower(args[i]!);
    if (i + 1 >= args.length) throw new ReplyError(ERR_SYNTAX);
    if (opt === "count") {
      const n = intArg(args[++i]!);
      if (n < 1n) throw new ReplyError(ERR_SYNTAX);
      count = n > BigInt(SCAN_COUNT_MAX) ? SCAN_COUNT_MAX : Number(n);
    } else if (opt === "match") {
      pattern = args[++i]!;
      checkPattern(pattern);
    } else if (opt === "type") wantType = lower(args[++i]!);
    else throw new ReplyError(ERR_SYNTAX);
  }
  const after = ctx.server.scanCursors.load(cursor);
  if (after === undefined) throw new ReplyError("ERR invalid cursor");
  const matched: Uint8Array[] = [];
  let last: Uint8Array | undefined;
  let more = false;
  const { prefixOnly, ...range } = patternRange(pattern, after);
  let examined = 0;
  for await (const [key] of ctx.server.db.scan(range, { limit: count + 1 })) {
    if (examined === count) {
      more = true;
      break;
    }
    examined++;
    last = key;
    if (pattern !== undefined && !prefixOnly && !globMatch(pattern, key)) continue;
    // TYPE filters after the fact, as Redis does: a call may return fewer keys than COUNT.
    if (wantType !== undefined && typeOfKey(ctx, key).toLowerCase() !== wantType) continue;
    matched.push(key);
  }
  ctx.out.array(2);
  ctx.out.bulk(more && last !== undefined ? ctx.server.scanCursors.save(last) : "0");
  ctx.out.array(matched.length);
  for (const key of matched) ctx.out.bulk(key);
}

/** The TYPE of `key` ("none" when it vanished meanwhile). */
function typeOfKey(ctx: CommandContext, key: Uint8Array): string {
  const e = ctx.server.db.getEntry(key);
  return e === undefined ? "none" : typeName(e.kind, e.value);
}

/** Counts live user keys (a full scan: the engine keeps no exact count). */
export async function countKeys(ctx: CommandContext): Promise<number> {
  let n = 0;
  for await (const _ of ctx.server.db.scan({ end: USER_KEYS_END })) n++;
  return n;
}

function spec(
  s: Omit<CommandSpec, "group" | "firstKey" | "lastKey" | "step"> & {
    firstKey?: number;
    lastKey?: number;
    step?: number;
  },
): CommandSpec {
  return { group: "generic", firstKey: 1, lastKey: 1, step: 1, ...s };
}

/** The keyspace commands. */
export const KEY_COMMANDS: CommandSpec[] = [
  spec({
    name: "del",
    arity: -2,
    flags: ["write"],
    lastKey: -1,
    since: "1.0.0",
    summary: "Deletes one or more keys.",
    handler: del,
  }),
  spec({
    name: "unlink",
    arity: -2,
    flags: ["write", "fast"],
    lastKey: -1,
    since: "4.0.0",
    summary: "Asynchronously deletes one or more keys.",
    handler: del,
  }),
  spec({
    name: "exists",
    arity: -2,
    flags: ["readonly", "fast"],
    lastKey: -1,
    since: "1.0.0",
    summary: "Determines whether one or more keys exist.",
    handler: exists,
  }),
  spec({
    name: "type",
    arity: 2,
    flags: ["readonly", "fast"],
    since: "1.0.0",
    summary: "Determines the type of value stored at a key.",
    handler: type,
  }),
  spec({
    name: "rename",
    arity: 3,
    flags: ["write"],
    lastKey: 2,
    since: "1.0.0",
    summary: "Renames a key and overwrites the destination.",
    handler: (ctx) => renameGeneric(ctx, false),
  }),
  spec({
    name: "renamenx",
    arity: 3,
    flags: ["write", "fast"],
    lastKey: 2,
    since: "1.0.0",
    summary: "Renames a key only when the target key name doesn't exist.",
    handler: (ctx) => renameGeneric(ctx, true),
  }),
  spec({
    name: "copy",
    arity: -3,
    flags: ["write", "denyoom"],
    lastKey: 2,
    since: "6.2.0",
    summary: "Copies the value of a key to a new key.",
    handler: copy,
  }),
  spec({
    name: "keys",
    arity: 2,
    flags: ["readonly"],
    firstKey: 0,
    lastKey: 0,
    step: 0,
    since: "1.0.0",
    summary: "Returns all key names that match a pattern.",
    handler: keys,
  }),
  spec({
    name: "scan",
    arity: -2,
    flags: ["readonly"],
    firstKey: 0,
    lastKey: 0,
    step: 0,
    since: "2.8.0",
    summary: "Iterates over the key names in the database.",
    handler: scan,
  }),
  spec({
    name: "dbsize",
    arity: 1,
    flags: ["readonly", "fast"],
    firstKey: 0,
    lastKey: 0,
    step: 0,
    since: "1.0.0",
    summary: "Returns the number of keys in the database.",
    handler: async (ctx) => ctx.out.integer(await countKeys(ctx)),
  }),
];
