/**
 * DUMP and RESTORE with Redis 7.0's payloads (`../dump_payload.ts`, ARCHITECTURE.md § "DUMP
 * payload"): a key of any Redis type moves between CityHall and Redis, or between two CityHall
 * servers, as migration tools move it. A time series is a RedisTimeSeries module value in Redis:
 * its payload is laid out as that module's (`../dump_series.ts`).
 *
 * @module
 */

import type { WriteOp } from "../../engine/mod.ts";
import {
  SPACE_HASH_FIELD,
  SPACE_LIST_ITEM,
  SPACE_SET_MEMBER,
  SPACE_ZSET_MEMBER,
  TYPE_HASH,
  TYPE_LIST,
  TYPE_SET,
  TYPE_ZSET,
} from "../../keyspace/mod.ts";
import { EXPIRE_AT_MS_MAX, RESP_BULK_SIZE_BYTES_MAX } from "../../limits.ts";
import {
  createMeta,
  decodeMeta,
  internalIndexKey,
  memberKey,
  memberOf,
  members,
  metaOp,
  scoreFromBytes,
  type TypeMeta,
} from "../../types/layout.ts";
import { isMemberType } from "../../types/keyspace_ops.ts";
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
import { decodeDump, DumpPayloadError, type DumpValue, encodeDump } from "../dump_payload.ts";
import type { SeriesDump } from "../dump_series.ts";
import { binaryString, stringBytes } from "../../timeseries/meta.ts";
import { type CreateOptions, TsError } from "../../timeseries/mod.ts";
import { NOTIFY, notify, notifyMiss, notifyNew } from "../notifications.ts";
import { typeEvent, versions } from "./_types.ts";
import { putMember } from "./_zset.ts";
import { signalReady } from "./blocking_registry.ts";
import { itemRange } from "./list.ts";
import { putOp } from "./expiry.ts";

const EMPTY = new Uint8Array(0);

/** The whole value of a member-type key, read member by member. */
function memberValue(ctx: CommandContext, meta: TypeMeta): DumpValue {
  const db = ctx.server.db;
  switch (meta.type) {
    case TYPE_LIST:
      return { type: "list", items: itemRange(ctx, meta, 0, meta.size - 1) };
    case TYPE_SET: {
      const out: Uint8Array[] = [];
      for (const [k] of members(db, SPACE_SET_MEMBER, meta.version)) out.push(memberOf(k));
      return { type: "set", members: out };
    }
    case TYPE_ZSET: {
      const items: { member: Uint8Array; score: number }[] = [];
      for (const [k, v] of members(db, SPACE_ZSET_MEMBER, meta.version)) {
        items.push({ member: memberOf(k), score: scoreFromBytes(v) });
      }
      return { type: "zset", items };
    }
    default: {
      const pairs: [Uint8Array, Uint8Array][] = [];
      for (const [k, v] of members(db, SPACE_HASH_FIELD, meta.version)) {
        pairs.push([memberOf(k), v]);
      }
      return { type: "hash", pairs };
    }
  }
}

function dump(ctx: CommandContext): void {
  const key = ctx.args[1]!;
  const e = ctx.server.db.getEntry(key);
  if (e === undefined) {
    notifyMiss(ctx, key);
    return ctx.out.null();
  }
  let value: DumpValue;
  if (e.kind === KIND_PUT) value = { type: "string", value: e.value };
  else if (e.kind === KIND_META && isMemberType(e.value)) {
    const meta = decodeMeta(e.value, e.expireAtMs);
    // Every member takes at least a byte of payload: a key this big cannot fit, so it is not read.
    if (meta.size > RESP_BULK_SIZE_BYTES_MAX) throw payloadTooBig(meta.size);
    value = memberValue(ctx, meta);
  } else {
    value = seriesValue(ctx, key);
  }
  const payload = encodeDump(value, key);
  if (payload.length > RESP_BULK_SIZE_BYTES_MAX) throw payloadTooBig(payload.length);
  ctx.out.bulk(payload);
}

/** A series' options, labels and samples (within retention), as its payload holds them. */
function seriesValue(ctx: CommandContext, key: Uint8Array): DumpValue {
  const store = ctx.server.timeseries;
  let series;
  try {
    series = store.get(key);
  } catch (err) {
    if (err instanceof TsError) throw new ReplyError(err.reply);
    throw err;
  }
  // 16 bytes a sample at least: a series this big cannot fit, so its samples are not read.
  if (series.totalSamples * 16 > RESP_BULK_SIZE_BYTES_MAX) {
    throw payloadTooBig(series.totalSamples * 16);
  }
  const points = store.range(key, { from: 0, to: Number.MAX_SAFE_INTEGER - 1 });
  const meta = series.meta;
  return {
    type: "series",
    series: {
      retentionMs: meta.retentionMs,
      chunkSizeBytes: meta.chunkSizeBytes,
      uncompressed: meta.uncompressed,
      duplicatePolicy: meta.duplicatePolicy,
      labels: meta.labels.map(([k, v]) => [stringBytes(k), stringBytes(v)]),
      ts: Float64Array.from(points.ts),
      values: Float64Array.from(points.values),
    },
  };
}

function payloadTooBig(bytes: number): ReplyError {
  return new ReplyError(
    `ERR DUMP payload of at least ${bytes} bytes: at most ${RESP_BULK_SIZE_BYTES_MAX} bytes ` +
      "(the largest argument RESTORE can take)",
  );
}

/** RESTORE's options after the payload. */
function parseRestoreOptions(ctx: CommandContext): { replace: boolean; absttl: boolean } {
  const { args } = ctx;
  let replace = false, absttl = false, idle = false, freq = false;
  for (let j = 4; j < args.length; j++) {
    const left = args.length - j - 1;
    const opt = lower(args[j]!);
    if (opt === "replace") replace = true;
    else if (opt === "absttl") absttl = true;
    else if (opt === "idletime" && left >= 1 && !freq) {
      // Access times are not kept (OBJECT IDLETIME is always 0): checked, then ignored.
      if (intArg(args[++j]!) < 0n) throw new ReplyError("ERR Invalid IDLETIME value, must be >= 0");
      idle = true;
    } else if (opt === "freq" && left >= 1 && !idle) {
      const f = intArg(args[++j]!);
      if (f < 0n || f > 255n) {
        throw new ReplyError("ERR Invalid FREQ value, must be >= 0 and <= 255");
      }
      freq = true;
    } else throw new ReplyError(ERR_SYNTAX);
  }
  return { replace, absttl };
}

function restore(ctx: CommandContext): void {
  const { args } = ctx;
  const key = args[1]!;
  const { replace, absttl } = parseRestoreOptions(ctx);
  const db = ctx.server.db;
  const existed = db.getEntry(key) !== undefined;
  if (!replace && existed) throw new ReplyError("BUSYKEY Target key name already exists.");
  let ttl = intArg(args[2]!);
  if (ttl < 0n) throw new ReplyError("ERR Invalid TTL value, must be >= 0");
  let value: DumpValue;
  try {
    value = decodeDump(args[3]!);
  } catch (err) {
    if (!(err instanceof DumpPayloadError)) throw err;
    throw new ReplyError(
      err.kind === "version"
        ? "ERR DUMP payload version or checksum are wrong"
        : err.kind === "limit"
        ? `ERR ${err.message}`
        : "ERR Bad data format",
    );
  }
  const nowMs = Date.now();
  if (ttl > 0n && !absttl) ttl += BigInt(nowMs);
  const expireAtMs = ttl === 0n
    ? 0
    : ttl > BigInt(EXPIRE_AT_MS_MAX)
    ? EXPIRE_AT_MS_MAX
    : Number(ttl);
  if (expireAtMs !== 0 && expireAtMs <= nowMs) {
    // Already expired: nothing is added, and a replaced key is gone.
    if (existed) {
      ctx.write([{ type: "delete", key }]);
      notify(ctx, NOTIFY.generic, "del", key);
    }
    return ctx.out.ok();
  }
  if (value.type === "series") {
    restoreSeries(ctx, key, value.series, expireAtMs);
    // As Redis: a replaced key was deleted first, so the restored one is always new.
    notifyNew(ctx, key, false);
    notify(ctx, NOTIFY.generic, "restore", key);
    return ctx.out.ok();
  }
  if (value.type === "string") {
    ctx.write([putOp(key, value.value, expireAtMs)]);
    notifyNew(ctx, key, false);
    notify(ctx, NOTIFY.generic, "restore", key);
    return ctx.out.ok();
  }
  const type = value.type === "list"
    ? TYPE_LIST
    : value.type === "set"
    ? TYPE_SET
    : value.type === "zset"
    ? TYPE_ZSET
    : TYPE_HASH;
  const ops: WriteOp[] = [];
  const meta = createMeta(versions(ctx), key, type, ops);
  meta.expireAtMs = expireAtMs;
  switch (value.type) {
    case "list":
      for (const v of value.items) {
        ops.push({
          type: "put",
          key: internalIndexKey(SPACE_LIST_ITEM, meta.version, meta.head + meta.size++),
          value: v,
        });
      }
      break;
    case "set":
      for (const m of value.members) {
        ops.push({ type: "put", key: memberKey(SPACE_SET_MEMBER, meta.version, m), value: EMPTY });
        meta.size++;
      }
      break;
    case "zset":
      for (const it of value.items) {
        putMember(ops, meta, it.member, it.score, undefined);
        meta.size++;
      }
      break;
    case "hash":
      for (const [f, v] of value.pairs) {
        ops.push({ type: "put", key: memberKey(SPACE_HASH_FIELD, meta.version, f), value: v });
        meta.size++;
      }
      break;
  }
  // The metadata goes last: a value split over several batches shows nothing until it lands.
  ops.push(metaOp(key, meta));
  ctx.write(ops);
  typeEvent(ctx, "generic", "restore", key, meta);
  if (type === TYPE_LIST || type === TYPE_ZSET) signalReady(ctx, key);
  ctx.out.ok();
}

/** Writes a series payload at `key` through the time-series layer (its refusals as replies). */
function restoreSeries(
  ctx: CommandContext,
  key: Uint8Array,
  series: SeriesDump,
  expireAtMs: number,
): void {
  // A series' writes carry log ops, whose sequence is known only when written: they cannot be
  // staged by EXEC (ARCHITECTURE.md § "Time-series commands").
  if ("overlay" in ctx) {
    throw new ReplyError("ERR A time series cannot be restored inside a transaction");
  }
  const options: CreateOptions = {
    retentionMs: series.retentionMs,
    chunkSizeBytes: series.chunkSizeBytes,
    uncompressed: series.uncompressed,
    labels: series.labels.map(([k, v]) => [binaryString(k), binaryString(v)]),
  };
  if (series.duplicatePolicy !== undefined) options.duplicatePolicy = series.duplicatePolicy;
  try {
    ctx.server.timeseries.restore(
      key,
      { options, ts: series.ts, values: series.values, expireAtMs },
      (ops) => ctx.write(ops),
    );
  } catch (err) {
    if (err instanceof TsError) throw new ReplyError(err.reply);
    throw err;
  }
}

const spec = specBuilder("generic", ONE_KEY);

/** DUMP and RESTORE. */
export const DUMP_COMMANDS: CommandSpec[] = [
  spec(
    "dump",
    2,
    ["readonly"],
    "2.6.0",
    "Returns a serialized representation of the value stored at a key.",
    dump,
  ),
  spec(
    "restore",
    -4,
    ["write", "denyoom"],
    "2.6.0",
    "Creates a key from the serialized representation of a value.",
    restore,
  ),
];
