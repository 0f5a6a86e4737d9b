/**
 * Time-series write commands: TS.CREATE, TS.ALTER, TS.ADD, TS.MADD (`timeseries_madd.ts`),
 * TS.INCRBY, TS.DECRBY,
 * TS.DEL (and `TS.DEL from to FILTER …`), TS.CREATERULE (+ BACKFILL), TS.DELETERULE. Thin:
 * parse as RedisTimeSeries 1.8 does, call the store with the connection's `ctx.write` (so the
 * reply waits for durability like any write), format the reply. ARCHITECTURE.md
 * § "Time-series commands".
 *
 * Keyspace events as RedisTimeSeries 1.8 publishes them (class `d`, except `ts.incrby` /
 * `ts.decrby`, which it files under `g`), plus Redis's own `new` for a key a command created;
 * unlike RedisTimeSeries, only for writes that happened (ARCHITECTURE.md § "Keyspace
 * notifications").
 *
 * @module
 */

import type { CommandContext, CommandSpec } from "../context.ts";
import type { DuplicatePolicy } from "../../timeseries/mod.ts";
import {
  argIndex,
  arity,
  asReply,
  parseAggregator,
  parseCreateArgs,
  parseFilterArgs,
  parseLong,
  parsePolicy,
  parseRangeArgs,
  parseTimestamp,
  parseValue,
  tsErr,
  upper,
} from "./_ts_args.ts";
import { madd, maddPacked } from "./timeseries_madd.ts";
import { NOTIFY, notify, notifyNew } from "../notifications.ts";

const STAR = 42;
/** `TimeSeriesStore.addNewest`'s answer for a key that holds nothing (its `ADD_ABSENT`). */
const ADD_ABSENT = -2;

function isStar(arg: Uint8Array): boolean {
  return arg.length === 1 && arg[0] === STAR;
}

function write(ctx: CommandContext) {
  return (ops: Parameters<CommandContext["write"]>[0]) => ctx.write(ops);
}

/** Runs a store call, turning its errors into replies. */
function call<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw asReply(err);
  }
}

/**
 * `ts.add:dest` for each rule destination a closed bucket wrote into, before the source's own
 * event (RedisTimeSeries announces them while it adds). Not for TS.DEL's recomputed buckets
 * nor BACKFILL, which RedisTimeSeries does not announce either (it has no BACKFILL).
 */
function notifyRuleOutputs(ctx: CommandContext, keys: readonly Uint8Array[] | undefined): void {
  for (const key of keys ?? []) notify(ctx, NOTIFY.module, "ts.add:dest", key);
}

function create(ctx: CommandContext): void {
  const options = parseCreateArgs(ctx.args, 2);
  call(() => ctx.server.timeseries.create(ctx.args[1]!, options, write(ctx)));
  notifyNew(ctx, ctx.args[1]!, false);
  notify(ctx, NOTIFY.module, "ts.create", ctx.args[1]!);
  ctx.out.ok();
}

function alter(ctx: CommandContext): void {
  const options = parseCreateArgs(ctx.args, 2);
  call(() => ctx.server.timeseries.alter(ctx.args[1]!, options, write(ctx)));
  notify(ctx, NOTIFY.module, "ts.alter", ctx.args[1]!);
  ctx.out.ok();
}

/**
 * TS.ADD's `ON_DUPLICATE` policy: undefined when there is none, null when there is one it
 * cannot read (an error the general path answers).
 */
function onDuplicateOf(args: Uint8Array[]): DuplicatePolicy | undefined | null {
  if (args.length === 4) return undefined;
  const d = argIndex(args, "ON_DUPLICATE", 4);
  if (d < 0) return undefined;
  return (d + 1 < args.length ? parsePolicy(args[d + 1]!) : undefined) ?? null;
}

function add(ctx: CommandContext): void {
  const { args } = ctx;
  // The common form (an existing series, a timestamp (or `*`) newer than its others, or the
  // newest one again under a policy other than BLOCK): no closures, option or result objects
  // per command. On an existing series only ON_DUPLICATE is read (as RedisTimeSeries does;
  // the creation options are not); one that does not parse is answered below. Anything else,
  // errors included, is parsed and answered again below.
  const onDuplicate = args.length >= 4 ? onDuplicateOf(args) : null;
  let absent = false;
  if (onDuplicate !== null) {
    const star = isStar(args[2]!);
    const t = star ? -1 : parseLong(args[2]!);
    const v = parseValue(args[3]!);
    if (t !== undefined && (star || t >= 0) && v !== undefined) {
      let written: number;
      try {
        written = ctx.server.timeseries.addNewest(args[1]!, t, v, ctx, onDuplicate);
      } catch (err) {
        throw asReply(err);
      }
      if (written >= 0) {
        notify(ctx, NOTIFY.module, "ts.add", args[1]!);
        ctx.out.integer(written);
        return;
      }
      absent = written === ADD_ABSENT;
    }
  }
  const value = parseValue(args[3]!);
  if (value === undefined) throw tsErr("TSDB: invalid value");
  let ts: number | undefined;
  if (!isStar(args[2]!)) {
    const t = parseLong(args[2]!);
    if (t === undefined || Number.isNaN(t)) throw tsErr("TSDB: invalid timestamp");
    if (t < 0) throw tsErr("TSDB: invalid timestamp, must be a nonnegative integer");
    ts = t;
  }
  const store = ctx.server.timeseries;
  // A key the fast path found holding nothing still does (nothing ran since): not looked up again.
  const existing = absent ? undefined : call(() => {
    try {
      return store.findForWrite(args[1]!);
    } catch {
      throw tsErr("TSDB: the key is not a TSDB key");
    }
  });
  const options: Parameters<typeof store.add>[1] = { found: existing ?? null };
  if (existing === undefined) options.create = parseCreateArgs(args, 4);
  else {
    const d = argIndex(args, "ON_DUPLICATE", 4);
    if (d >= 0) {
      if (d + 1 >= args.length) throw tsErr("TSDB: Couldn't parse DUPLICATE_POLICY");
      const p = parsePolicy(args[d + 1]!);
      if (!p) throw tsErr("TSDB: Unknown DUPLICATE_POLICY");
      options.onDuplicate = p;
    }
  }
  const result = call(() => store.add({ key: args[1]!, ts, value }, options, write(ctx)));
  notifyNew(ctx, args[1]!, existing !== undefined);
  notifyRuleOutputs(ctx, result.ruleOutputs);
  notify(ctx, NOTIFY.module, "ts.add", args[1]!);
  ctx.out.integer(result.value);
}

function incrBy(ctx: CommandContext, sign: 1 | -1): void {
  const { args } = ctx;
  const store = ctx.server.timeseries;
  const existing = call(() => store.find(args[1]!));
  const create = existing === undefined ? parseCreateArgs(args, 3) : undefined;
  const delta = parseValue(args[2]!);
  if (delta === undefined) throw tsErr("TSDB: invalid increase/decrease value");
  let ts: number | undefined;
  const at = argIndex(args, "TIMESTAMP", 3);
  if (at >= 0 && at + 1 < args.length && !isStar(args[at + 1]!)) {
    const t = parseTimestamp(args[at + 1]!);
    if (t === undefined) throw tsErr("TSDB: invalid timestamp");
    ts = t;
  }
  const options: Parameters<typeof store.incrBy>[2] = { ts };
  if (create) options.create = create;
  const result = call(() => store.incrBy(args[1]!, sign * delta, options, write(ctx)));
  notifyNew(ctx, args[1]!, existing !== undefined);
  notifyRuleOutputs(ctx, result.ruleOutputs);
  // RedisTimeSeries files these under the generic class.
  notify(ctx, NOTIFY.generic, sign === 1 ? "ts.incrby" : "ts.decrby", args[1]!);
  ctx.out.integer(result.value);
}

function del(ctx: CommandContext): void {
  const { args } = ctx;
  const store = ctx.server.timeseries;
  if (args.length >= 5 && upper(args[3]!) === "FILTER") {
    // CityHall: TS.DEL fromTimestamp toTimestamp FILTER filterExpr… across every series.
    const range = parseRangeArgs(args.slice(0, 3), 1);
    const filters = parseFilterArgs(args, 4, args.length);
    // The series the filter selects now are the ones the delete runs on (same synchronous run).
    const keys = ctx.server.notifier.flags === 0 ? [] : store.select(filters).map((s) => s.key);
    const result = call(() => store.delByFilter(filters, range.from, range.to, write(ctx)));
    for (const key of keys) notify(ctx, NOTIFY.module, "ts.del", key);
    ctx.out.integer(result.value);
    return;
  }
  if (args.length !== 4) throw arity(args);
  const range = parseRangeArgs(args, 2);
  const result = call(() => store.del(args[1]!, range.from, range.to, write(ctx)));
  notify(ctx, NOTIFY.module, "ts.del", args[1]!);
  ctx.out.integer(result.value);
}

function createRule(ctx: CommandContext): void {
  let args = ctx.args;
  const backfill = args.length >= 7 && upper(args[args.length - 1]!) === "BACKFILL";
  if (backfill) args = args.slice(0, -1);
  if (args.length !== 6 && args.length !== 7) throw arity(ctx.args);
  const at = argIndex(args, "AGGREGATION", 3);
  if (at < 0) throw arity(ctx.args);
  if (at + 2 >= args.length) throw tsErr("TSDB: Couldn't parse AGGREGATION");
  const bucket = parseLong(args[at + 2]!);
  if (bucket === undefined || Number.isNaN(bucket)) throw tsErr("TSDB: Couldn't parse AGGREGATION");
  const aggregator = parseAggregator(args[at + 1]!);
  if (!aggregator) throw tsErr("TSDB: Unknown aggregation type");
  if (bucket <= 0) throw tsErr("TSDB: bucketDuration must be greater than zero");
  let alignMs = 0;
  if (args.length === 7) {
    const a = parseLong(args[at + 3]!);
    if (a === undefined || Number.isNaN(a)) throw tsErr("TSDB: Couldn't parse alignTimestamp");
    if (a < 0) throw tsErr("TSDB: alignTimestamp should be greater or equal to 0");
    alignMs = a;
  }
  call(() =>
    ctx.server.timeseries.createRule(
      args[1]!,
      args[2]!,
      { aggregator, bucketMs: bucket, alignMs, backfill },
      write(ctx),
    )
  );
  notify(ctx, NOTIFY.module, "ts.createrule:src", args[1]!);
  notify(ctx, NOTIFY.module, "ts.createrule:dest", args[2]!);
  ctx.out.ok();
}

function deleteRule(ctx: CommandContext): void {
  call(() => ctx.server.timeseries.deleteRule(ctx.args[1]!, ctx.args[2]!, write(ctx)));
  notify(ctx, NOTIFY.module, "ts.deleterule:src", ctx.args[1]!);
  notify(ctx, NOTIFY.module, "ts.deleterule:dest", ctx.args[2]!);
  ctx.out.ok();
}

function spec(
  name: string,
  arity: number,
  keys: { firstKey: number; lastKey: number; step: number },
  summary: string,
  handler: CommandSpec["handler"],
): CommandSpec {
  return {
    name,
    arity,
    flags: ["write", "denyoom", "no_multi"],
    ...keys,
    group: "timeseries",
    since: "1.0.0",
    summary,
    handler,
  };
}

const ONE = { firstKey: 1, lastKey: 1, step: 1 };
const TWO = { firstKey: 1, lastKey: 2, step: 1 };

/** The time-series write commands. */
export const TIMESERIES_WRITE_COMMANDS: CommandSpec[] = [
  spec("ts.create", -2, ONE, "Creates a new time series.", create),
  spec(
    "ts.alter",
    -2,
    ONE,
    "Updates the retention, chunk size, duplicate policy and labels.",
    alter,
  ),
  spec("ts.add", -4, ONE, "Appends a sample to a time series.", add),
  {
    ...spec(
      "ts.madd",
      -4,
      { firstKey: 1, lastKey: -1, step: 3 },
      "Appends samples to one or more time series.",
      madd,
    ),
    packedHandler: maddPacked,
  },
  spec(
    "ts.incrby",
    -3,
    ONE,
    "Increases the newest sample's value, or adds a sample.",
    (ctx) => incrBy(ctx, 1),
  ),
  spec(
    "ts.decrby",
    -3,
    ONE,
    "Decreases the newest sample's value, or adds a sample.",
    (ctx) => incrBy(ctx, -1),
  ),
  spec("ts.del", -4, ONE, "Deletes samples in a time range (of one series, or by FILTER).", del),
  spec(
    "ts.createrule",
    -6,
    TWO,
    "Creates a compaction rule (chains and BACKFILL allowed).",
    createRule,
  ),
  spec("ts.deleterule", 3, TWO, "Deletes a compaction rule.", deleteRule),
];
