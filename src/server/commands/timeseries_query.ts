/**
 * Time-series read commands: TS.GET, TS.MGET, TS.RANGE, TS.REVRANGE, TS.MRANGE,
 * TS.MREVRANGE, TS.INFO, TS.QUERYINDEX, with RedisTimeSeries 1.8's parsing, replies and
 * error strings. ARCHITECTURE.md § "Time-series commands" and § "Queries and aggregation".
 *
 * @module
 */

import type { CommandContext, CommandSpec } from "../context.ts";
import type { SeriesResult } from "../../timeseries/mod.ts";
import {
  argIndex,
  arity,
  asReply,
  parseAggregator,
  parseFilterArgs,
  parseLabelQuery,
  parseRangeArgs,
  tsErr,
  upper,
  writeLabels,
  writeSample,
} from "./_ts_args.ts";
import { writeSamples } from "./_ts_reply.ts";

function call<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw asReply(err);
  }
}

function get(ctx: CommandContext): void {
  const { args } = ctx;
  if (args.length > 3) throw arity(args);
  const store = ctx.server.timeseries;
  const series = call(() => store.get(args[1]!));
  if (args.length === 3 && upper(args[2]!) !== "LATEST") throw tsErr("TSDB: wrong 3rd argument");
  const last = call(() => store.lastOf(series, args.length === 3));
  if (last === undefined) ctx.out.array(0);
  else writeSample(ctx.out, last.ts, last.value);
}

function mget(ctx: CommandContext): void {
  const { args } = ctx;
  const filterAt = argIndex(args, "FILTER");
  if (filterAt < 0) throw arity(args);
  const labels = parseLabelQuery(args);
  const filters = parseFilterArgs(args, filterAt + 1, args.length);
  const latest = argIndex(args, "LATEST", 1, filterAt) > 0;
  const store = ctx.server.timeseries;
  const selected = call(() => store.select(filters));
  ctx.out.array(selected.length);
  for (const s of selected) {
    ctx.out.array(3);
    ctx.out.bulk(s.key);
    writeLabels(ctx.out, s.meta.labels, labels);
    const last = call(() => store.lastOf(s, latest));
    if (last === undefined) ctx.out.array(0);
    else writeSample(ctx.out, last.ts, last.value);
  }
}

function range(ctx: CommandContext, reverse: boolean): void {
  const { args } = ctx;
  const store = ctx.server.timeseries;
  call(() => store.get(args[1]!));
  const rangeArgs = parseRangeArgs(args, 2);
  rangeArgs.reverse = reverse;
  const points = call(() => store.range(args[1]!, rangeArgs));
  writeSamples(ctx.out, points.ts, points.values, points.ts.length);
}

function writeResult(
  ctx: CommandContext,
  r: SeriesResult,
  labels: { withLabels: boolean; selected?: string[] },
): void {
  ctx.out.array(3);
  ctx.out.bulk(r.key);
  writeLabels(ctx.out, r.labels, labels);
  writeSamples(ctx.out, r.points.ts, r.points.values, r.points.ts.length);
}

function mrange(ctx: CommandContext, reverse: boolean): void {
  const { args } = ctx;
  const rangeArgs = parseRangeArgs(args, 1);
  rangeArgs.reverse = reverse;
  const filterAt = argIndex(args, "FILTER");
  if (filterAt < 0) throw tsErr("TSDB: missing FILTER argument");
  const labels = parseLabelQuery(args);
  const groupAt = argIndex(args, "GROUPBY");
  if (groupAt > 0 && groupAt < filterAt) {
    throw tsErr("TSDB: GROUPBY should always come after filter");
  }
  const lastFilter = groupAt > 0 ? groupAt : args.length;
  if (lastFilter - filterAt - 1 === 0) throw tsErr("TSDB: missing labels for filter argument");
  const filters = parseFilterArgs(args, filterAt + 1, lastFilter);
  let groupBy:
    | { label: string; reducer: NonNullable<ReturnType<typeof parseAggregator>> }
    | undefined;
  if (groupAt > 0) {
    if (groupAt + 1 >= args.length) throw arity(args);
    const reduceAt = argIndex(args, "REDUCE");
    if (reduceAt < 0 || args.length - groupAt !== 4) throw arity(args);
    const reducer = parseAggregator(args[reduceAt + 1]!);
    if (!reducer || reducer === "first" || reducer === "last" || reducer === "twa") {
      throw tsErr("TSDB: Invalid reducer type");
    }
    groupBy = {
      label: Array.from(args[groupAt + 1]!, (c) => String.fromCharCode(c)).join(""),
      reducer,
    };
  }
  // Scratch results: encoded right here, before this connection or another runs a command.
  const results = call(() =>
    ctx.server.timeseries.mrange(filters, rangeArgs, groupBy, { scratch: true })
  );
  ctx.out.array(results.length);
  for (const r of results) writeResult(ctx, r, labels);
}

function info(ctx: CommandContext): void {
  const { args } = ctx;
  if (args.length > 3) throw arity(args);
  const debug = args.length === 3 && upper(args[2]!) === "DEBUG";
  const i = call(() => ctx.server.timeseries.info(args[1]!, debug));
  const out = ctx.out;
  out.array(debug ? 28 : 24);
  out.simple("totalSamples");
  out.integer(i.totalSamples);
  out.simple("memoryUsage");
  out.integer(i.memoryUsage);
  out.simple("firstTimestamp");
  out.integer(i.firstTimestamp);
  out.simple("lastTimestamp");
  out.integer(i.lastTimestamp);
  out.simple("retentionTime");
  out.integer(i.retentionTime);
  out.simple("chunkCount");
  out.integer(i.chunkCount);
  out.simple("chunkSize");
  out.integer(i.chunkSize);
  out.simple("chunkType");
  out.simple(i.chunkType);
  out.simple("duplicatePolicy");
  if (i.duplicatePolicy === undefined) out.null();
  else out.simple(i.duplicatePolicy);
  out.simple("labels");
  writeLabels(out, i.labels, { withLabels: true });
  out.simple("sourceKey");
  if (i.sourceKey === undefined) out.null();
  else out.bulk(i.sourceKey);
  out.simple("rules");
  out.array(i.rules.length);
  for (const r of i.rules) {
    out.array(4);
    out.bulk(r.key);
    out.integer(r.bucketMs);
    out.simple(r.aggregator.toUpperCase());
    out.integer(r.alignMs);
  }
  if (debug) {
    out.simple("keySelfName");
    out.bulk(args[1]!);
    out.simple("Chunks");
    out.array(i.chunks!.length);
    for (const c of i.chunks!) {
      out.array(10);
      out.simple("startTimestamp");
      out.integer(c.startTimestamp);
      out.simple("endTimestamp");
      out.integer(c.endTimestamp);
      out.simple("samples");
      out.integer(c.samples);
      out.simple("size");
      out.integer(c.size);
      out.simple("bytesPerSample");
      // RedisModule_ReplyWithDouble of a float: a bulk string in RESP2, a double in RESP3;
      // "inf" for an empty chunk, as RedisTimeSeries documents it (and 1.8.0 answers).
      out.double(c.samples === 0 ? Infinity : Math.fround(c.size / c.samples));
    }
  }
}

function queryIndex(ctx: CommandContext): void {
  const filters = parseFilterArgs(ctx.args, 1, ctx.args.length);
  const selected = call(() => ctx.server.timeseries.select(filters));
  ctx.out.array(selected.length);
  for (const s of selected) ctx.out.bulk(s.key);
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
    flags: ["readonly"],
    ...keys,
    group: "timeseries",
    since: "1.0.0",
    summary,
    handler,
  };
}

const ONE = { firstKey: 1, lastKey: 1, step: 1 };
const NONE = { firstKey: 0, lastKey: 0, step: 0 };

/** The time-series read commands. */
export const TIMESERIES_READ_COMMANDS: CommandSpec[] = [
  spec("ts.get", -2, ONE, "Gets the newest sample.", get),
  spec("ts.mget", -3, NONE, "Gets the newest sample of every series matching a filter.", mget),
  spec("ts.range", -4, ONE, "Queries a range in forward direction.", (ctx) => range(ctx, false)),
  spec("ts.revrange", -4, ONE, "Queries a range in reverse direction.", (ctx) => range(ctx, true)),
  spec(
    "ts.mrange",
    -4,
    NONE,
    "Queries a range across series by filters.",
    (ctx) => mrange(ctx, false),
  ),
  spec(
    "ts.mrevrange",
    -4,
    NONE,
    "Queries a range across series by filters, reversed.",
    (ctx) => mrange(ctx, true),
  ),
  spec("ts.info", -2, ONE, "Returns information and statistics of a time series.", info),
  spec("ts.queryindex", -2, NONE, "Returns the keys of the series matching a filter.", queryIndex),
];
