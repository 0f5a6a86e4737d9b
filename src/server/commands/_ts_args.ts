/**
 * Argument parsing and reply formatting shared by the TS.* commands, following
 * RedisTimeSeries 1.8's parsers (keywords found anywhere, case-insensitive, and its exact
 * error strings); the numbers themselves are parsed in `_ts_numbers.ts`.
 * ARCHITECTURE.md § "Time-series commands".
 *
 * @module
 */

import type { RespWriter } from "../resp.ts";
import { ReplyError } from "../context.ts";
import {
  type AggregationSpec,
  type Aggregator,
  AGGREGATORS,
  binaryString,
  type CreateOptions,
  DUPLICATE_POLICIES,
  type DuplicatePolicy,
  FilterError,
  type LabelFilter,
  parseFilters,
  type RangeArgs,
  TsError,
} from "../../timeseries/mod.ts";
import {
  TS_CHUNK_SIZE_BYTES_MAX,
  TS_CHUNK_SIZE_BYTES_MIN,
  TS_FILTER_BY_TS_MAX,
  TS_SELECTED_LABELS_MAX,
} from "../../limits.ts";

const latin1 = new TextDecoder("latin1");

/** An argument as an upper-case ASCII string (keywords). */
export function upper(arg: Uint8Array): string {
  return arg.length > 32 ? "" : latin1.decode(arg).toUpperCase();
}

/** `ERR <msg>` as a reply error. */
export function tsErr(msg: string): ReplyError {
  return new ReplyError(`ERR ${msg}`);
}

/** Turns a `TsError` or `FilterError` into the reply error it stands for. */
export function asReply(err: unknown): unknown {
  if (err instanceof TsError) return new ReplyError(err.reply);
  if (err instanceof FilterError) return new ReplyError(`ERR ${err.message}`);
  return err;
}

/** Index of the first argument at or after `from` equal to `keyword` (any case), or −1. */
export function argIndex(args: Uint8Array[], keyword: string, from = 1, to = args.length): number {
  for (let i = from; i < to; i++) if (isWord(args[i]!, keyword)) return i;
  return -1;
}

/**
 * True when `arg` is `word` (upper-case ASCII) in any case: `upper(arg) === word` compared byte
 * by byte, without decoding a string (TS.ADD's ON_DUPLICATE is read on its common path).
 */
export function isWord(arg: Uint8Array, word: string): boolean {
  const n = arg.length;
  if (n !== word.length) return false;
  for (let i = 0; i < n; i++) {
    let c = arg[i]!;
    if (c >= 0x61 && c <= 0x7a) c -= 0x20;
    if (c !== word.charCodeAt(i)) return false;
  }
  return true;
}

export {
  parseDouble,
  parseLong,
  parseLongAt,
  parseTimestamp,
  parseValue,
  parseValueAt,
  timestampInto,
  TS_INVALID,
  TS_NEGATIVE,
  TS_OK,
  valueInto,
} from "./_ts_numbers.ts";
import { parseDouble, parseLong, parseTimestamp } from "./_ts_numbers.ts";

/** A duplicate policy name, or undefined. */
export function parsePolicy(arg: Uint8Array): DuplicatePolicy | undefined {
  // From 1: the empty name at 0 (no policy) is not one to give.
  for (let i = 1; i < POLICY_WORDS.length; i++) {
    if (isWord(arg, POLICY_WORDS[i]!)) return DUPLICATE_POLICIES[i] as DuplicatePolicy;
  }
  return undefined;
}

/** `DUPLICATE_POLICIES` in upper case, for `isWord`. */
const POLICY_WORDS: readonly string[] = DUPLICATE_POLICIES.map((p) => p.toUpperCase());

/** An aggregator name (as given, any case), or undefined. */
export function parseAggregator(arg: Uint8Array): Aggregator | undefined {
  const a = latin1.decode(arg).toLowerCase();
  return (AGGREGATORS as readonly string[]).includes(a) && a !== "" ? a as Aggregator : undefined;
}

/**
 * RedisTimeSeries's `parseCreateArgs`: LABELS (every argument after it, in pairs), RETENTION,
 * CHUNK_SIZE, ENCODING, `policyKeyword` (DUPLICATE_POLICY), and IGNORE (RedisTimeSeries 1.12).
 * Only keywords given are set. Unknown arguments are ignored, as RedisTimeSeries does.
 *
 * An option written after LABELS is also read as that option (and stays part of the labels),
 * as RedisTimeSeries finds its keywords anywhere: `LABELS a b RETENTION x` is an error, not a
 * label named RETENTION that silently drops the retention asked for. Before LABELS, the first
 * occurrence wins.
 */
export function parseCreateArgs(
  args: Uint8Array[],
  from: number,
  policyKeyword = "DUPLICATE_POLICY",
): CreateOptions {
  const out: CreateOptions = {};
  const labelsAt = argIndex(args, "LABELS", from);
  const end = labelsAt < 0 ? args.length : labelsAt;
  const find = (keyword: string): number => {
    const at = argIndex(args, keyword, from, end);
    return at >= 0 || labelsAt < 0 ? at : argIndex(args, keyword, labelsAt + 1);
  };
  if (labelsAt >= 0) {
    const labels: [string, string][] = [];
    const count = Math.floor((args.length - labelsAt - 1) / 2);
    for (let i = 0; i < count; i++) {
      const name = args[labelsAt + 1 + 2 * i]!;
      const value = args[labelsAt + 2 + 2 * i]!;
      if (
        name.length === 0 || value.length === 0 ||
        value.some((c) => c === 40 || c === 41 || c === 44)
      ) {
        throw tsErr("TSDB: Couldn't parse LABELS");
      }
      labels.push([binaryString(name), binaryString(value)]);
    }
    out.labels = labels;
  }
  const r = find("RETENTION");
  if (r >= 0) {
    const v = r + 1 < args.length ? parseLong(args[r + 1]!) : undefined;
    if (v === undefined || Number.isNaN(v) || v < 0) throw tsErr("TSDB: Couldn't parse RETENTION");
    out.retentionMs = v;
  }
  const c = find("CHUNK_SIZE");
  if (c >= 0) {
    const v = c + 1 < args.length ? parseLong(args[c + 1]!) : undefined;
    if (v === undefined || Number.isNaN(v)) throw tsErr("TSDB: Couldn't parse CHUNK_SIZE");
    if (v < TS_CHUNK_SIZE_BYTES_MIN || v > TS_CHUNK_SIZE_BYTES_MAX || v % 8 !== 0) {
      throw tsErr(
        `TSDB: CHUNK_SIZE value must be a multiple of 8 in the range [${TS_CHUNK_SIZE_BYTES_MIN} .. ${TS_CHUNK_SIZE_BYTES_MAX}]`,
      );
    }
    out.chunkSizeBytes = v;
  }
  const e = find("ENCODING");
  if (e >= 0) {
    if (e + 1 >= args.length) {
      throw new ReplyError(`ERR wrong number of arguments for '${commandName(args)}' command`);
    }
    const enc = upper(args[e + 1]!);
    if (enc === "UNCOMPRESSED") out.uncompressed = true;
    else if (enc !== "COMPRESSED") throw tsErr("TSDB: unknown ENCODING parameter");
  } else if (find("UNCOMPRESSED") >= 0) out.uncompressed = true;
  const d = find(policyKeyword);
  if (d >= 0) {
    if (d + 1 >= args.length) throw tsErr("TSDB: Couldn't parse DUPLICATE_POLICY");
    const p = parsePolicy(args[d + 1]!);
    if (!p) throw tsErr("TSDB: Unknown DUPLICATE_POLICY");
    out.duplicatePolicy = p;
  }
  const g = find("IGNORE");
  if (g >= 0) {
    const t = g + 2 < args.length ? parseLong(args[g + 1]!) : undefined;
    const v = g + 2 < args.length ? parseDouble(args[g + 2]!) : undefined;
    if (
      t === undefined || Number.isNaN(t) || t < 0 || v === undefined || !(v >= 0) ||
      !Number.isFinite(v)
    ) {
      throw tsErr("TSDB: Couldn't parse IGNORE");
    }
    out.ignoreMaxTimeDiffMs = t;
    out.ignoreMaxValDiff = v;
  }
  return out;
}

/** The command name as sent, lower-case (for arity errors). */
export function commandName(args: Uint8Array[]): string {
  return latin1.decode(args[0]!).toLowerCase();
}

/** Wrong-arity error of the running command. */
export function arity(args: Uint8Array[]): ReplyError {
  return new ReplyError(`ERR wrong number of arguments for '${commandName(args)}' command`);
}

/**
 * RedisTimeSeries's `parseRangeArguments` from `start` (fromTimestamp, toTimestamp, then the
 * options anywhere after): LATEST, COUNT, AGGREGATION (EMPTY, BUCKETTIMESTAMP), ALIGN,
 * FILTER_BY_VALUE, FILTER_BY_TS.
 */
export function parseRangeArgs(args: Uint8Array[], start: number): RangeArgs {
  const MAX = Number.MAX_SAFE_INTEGER - 1;
  const fromArg = args[start]!;
  const toArg = args[start + 1]!;
  const fromMin = fromArg.length === 1 && fromArg[0] === 45;
  const toMax = toArg.length === 1 && toArg[0] === 43;
  const from = fromMin ? 0 : parseTimestamp(fromArg);
  if (from === undefined) throw tsErr("TSDB: wrong fromTimestamp");
  const to = toMax ? MAX : parseTimestamp(toArg);
  if (to === undefined) throw tsErr("TSDB: wrong toTimestamp");
  const out: RangeArgs = { from, to: Math.min(to, MAX) };
  if (argIndex(args, "LATEST", start) > 0) out.latest = true;
  const count = parseCount(args);
  if (count !== undefined) out.count = count;
  const aggAt = argIndex(args, "AGGREGATION", start);
  let agg: AggregationSpec | undefined;
  if (aggAt > 0) {
    if (aggAt + 2 >= args.length) throw tsErr("TSDB: Couldn't parse AGGREGATION");
    const bucket = parseLong(args[aggAt + 2]!);
    if (bucket === undefined || Number.isNaN(bucket)) {
      throw tsErr("TSDB: Couldn't parse AGGREGATION");
    }
    const aggregator = parseAggregator(args[aggAt + 1]!);
    if (!aggregator) throw tsErr("TSDB: Unknown aggregation type");
    if (bucket <= 0) throw tsErr("TSDB: bucketDuration must be greater than zero");
    const emptyAt = argIndex(args, "EMPTY", start);
    if (emptyAt > 0 && emptyAt !== aggAt + 3 && emptyAt !== aggAt + 5) {
      throw tsErr("TSDB: EMPTY flag should be the 3rd or 5th flag after AGGREGATION flag");
    }
    let bucketTimestamp: AggregationSpec["bucketTimestamp"] = "start";
    const btAt = argIndex(args, "BUCKETTIMESTAMP", start);
    if (btAt > 0) {
      if (btAt !== aggAt + 3 && btAt !== aggAt + 4) {
        throw tsErr(
          "TSDB: BUCKETTIMESTAMP flag should be the 3rd or 4th flag after AGGREGATION flag",
        );
      }
      if (btAt + 1 >= args.length) throw arity(args);
      const bt = upper(args[btAt + 1]!);
      if (bt === "START" || bt === "-" || bt === "LOW") bucketTimestamp = "start";
      else if (bt === "END" || bt === "+" || bt === "HIGH") bucketTimestamp = "end";
      else if (bt === "MID" || bt === "~") bucketTimestamp = "mid";
      else throw tsErr("TSDB: unknown BUCKETTIMESTAMP parameter");
    }
    agg = { aggregator, bucketMs: bucket, alignMs: 0, empty: emptyAt > 0, bucketTimestamp };
  }
  const alignAt = argIndex(args, "ALIGN", start);
  if (alignAt > 0) {
    if (alignAt + 1 >= args.length) throw arity(args);
    const a = args[alignAt + 1]!;
    const word = upper(a);
    let align: number;
    if (word === "START" || word === "-") {
      if (!agg) throw tsErr("TSDB: ALIGN parameter can only be used with AGGREGATION");
      if (fromMin) {
        throw tsErr("TSDB: start alignment can only be used with explicit start timestamp");
      }
      align = from;
    } else if (word === "END" || word === "+") {
      if (!agg) throw tsErr("TSDB: ALIGN parameter can only be used with AGGREGATION");
      if (toMax) throw tsErr("TSDB: end alignment can only be used with explicit end timestamp");
      align = out.to;
    } else {
      const t = parseTimestamp(a);
      if (t === undefined) throw tsErr("TSDB: unknown ALIGN parameter");
      if (!agg) throw tsErr("TSDB: ALIGN parameter can only be used with AGGREGATION");
      align = t;
    }
    agg!.alignMs = align;
  }
  if (agg) out.aggregation = agg;
  const fvAt = argIndex(args, "FILTER_BY_VALUE", start);
  if (fvAt > 0) {
    if (fvAt + 2 >= args.length) {
      throw tsErr("TSDB: FILTER_BY_VALUE one or more arguments are missing");
    }
    const min = parseDouble(args[fvAt + 1]!);
    if (min === undefined) throw tsErr("TSDB: Couldn't parse MIN");
    const max = parseDouble(args[fvAt + 2]!);
    if (max === undefined) throw tsErr("TSDB: Couldn't parse MAX");
    out.filterByValue = { min, max };
  }
  const ftAt = argIndex(args, "FILTER_BY_TS", start);
  if (ftAt > 0) {
    const values: number[] = [];
    for (let i = ftAt + 1; i < args.length && values.length < TS_FILTER_BY_TS_MAX; i++) {
      const t = parseTimestamp(args[i]!);
      if (t === undefined) break;
      values.push(t);
    }
    if (values.length === 0) throw tsErr("TSDB: FILTER_BY_TS one or more arguments are missing");
    out.filterByTs = [...new Set(values)].sort((a, b) => a - b);
  }
  return out;
}

/** RedisTimeSeries's COUNT parsing (a COUNT right after AGGREGATION/REDUCE is their value). */
function parseCount(args: Uint8Array[]): number | undefined {
  let at = argIndex(args, "COUNT");
  if (at < 0) return undefined;
  const aggAt = argIndex(args, "AGGREGATION");
  if (aggAt > 0 && at === aggAt + 1) {
    at = argIndex(args, "COUNT", aggAt + 2);
    if (at < 0) return undefined;
  }
  const reduceAt = argIndex(args, "REDUCE");
  if (reduceAt > 0 && at === reduceAt + 1) {
    at = argIndex(args, "COUNT", reduceAt + 2);
    if (at < 0) return undefined;
  }
  if (at + 1 >= args.length) throw tsErr("TSDB: COUNT argument is missing");
  const n = parseLong(args[at + 1]!);
  if (n === undefined || Number.isNaN(n)) throw tsErr("TSDB: Couldn't parse COUNT");
  if (n < 1) throw tsErr("TSDB: Invalid COUNT value");
  return n;
}

/** WITHLABELS / SELECTED_LABELS (RedisTimeSeries's `parseLabelQuery`). */
export function parseLabelQuery(args: Uint8Array[]): { withLabels: boolean; selected?: string[] } {
  const withLabels = argIndex(args, "WITHLABELS") > 0;
  const at = argIndex(args, "SELECTED_LABELS");
  if (at > 0 && withLabels) {
    throw tsErr("TSDB: cannot accept WITHLABELS and SELECT_LABELS together");
  }
  if (at < 0) return { withLabels };
  const stop = new Set([
    "WITHLABELS",
    "AGGREGATION",
    "LIMIT",
    "GROUPBY",
    "REDUCE",
    "FILTER",
    "FILTER_BY_VALUE",
    "FILTER_BY_TS",
    "COUNT",
  ]);
  const selected: string[] = [];
  for (let i = at + 1; i < args.length; i++) {
    if (stop.has(upper(args[i]!))) break;
    if (selected.length >= TS_SELECTED_LABELS_MAX) {
      throw tsErr("TSDB: reached max size for SELECT_LABELS");
    }
    selected.push(binaryString(args[i]!));
  }
  if (selected.length === 0) throw tsErr("TSDB: SELECT_LABELS should have at least 1 parameter");
  return { withLabels, selected };
}

/** Parses filter expressions `args[from … to)`. */
export function parseFilterArgs(args: Uint8Array[], from: number, to: number): LabelFilter[] {
  try {
    return parseFilters(args.slice(from, to).map(binaryString));
  } catch (err) {
    throw asReply(err);
  }
}

/**
 * A number as RedisTimeSeries 1.8 replies it (its dragonbox printer): shortest round-trip
 * digits; integers below 2^52 plain; otherwise plain when the decimal exponent is −16…0 and the
 * number is ≥ 1 in magnitude, else `d.dddE±x`; `NaN`, `Infinity`.
 */
export function formatValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (!Number.isFinite(v)) return v > 0 ? "Infinity" : "-Infinity";
  if (v === 0) return Object.is(v, -0) ? "-0" : "0";
  const abs = Math.abs(v);
  // From 1 to 2^52 the rules below print what String() prints (shortest digits, plain): the
  // common case, without building digit strings.
  if (abs >= 1 && abs < 2 ** 52) return String(v);
  if (Number.isInteger(v) && abs < 2 ** 52) return String(v);
  const sign = v < 0 ? "-" : "";
  const [mant, expPart] = abs.toExponential().split("e") as [string, string];
  const digits = mant.replace(".", "");
  const e10 = Number(expPart); // v = d.ddd × 10^e10
  const n = digits.length;
  const exponent = e10 - (n - 1); // v = digits × 10^exponent
  if (exponent <= 0 && exponent >= -16 && n + exponent > 0) {
    const point = n + exponent;
    return sign + digits.slice(0, point) + (point < n ? "." + digits.slice(point) : "");
  }
  return `${sign}${digits[0]}${n > 1 ? "." + digits.slice(1) : ""}E${e10}`;
}

/** Writes `[ts, "value"]`. */
export function writeSample(out: RespWriter, ts: number, value: number): void {
  out.array(2);
  out.integer(ts);
  out.simple(formatValue(value));
}

/** Writes label pairs; `selected` shows those labels (nil value when missing). */
export function writeLabels(
  out: RespWriter,
  labels: readonly [string, string][],
  mode: { withLabels: boolean; selected?: string[] | undefined },
): void {
  const bytes = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0) & 0xff);
  if (mode.withLabels) {
    out.array(labels.length);
    for (const [k, v] of labels) {
      out.array(2);
      out.bulk(bytes(k));
      out.bulk(bytes(v));
    }
    return;
  }
  if (mode.selected) {
    out.array(mode.selected.length);
    for (const name of mode.selected) {
      const found = labels.find(([k]) => k.toLowerCase() === name.toLowerCase());
      out.array(2);
      if (found) {
        out.bulk(bytes(found[0]));
        out.bulk(bytes(found[1]));
      } else {
        out.bulk(bytes(name));
        out.null();
      }
    }
    return;
  }
  out.array(0);
}
