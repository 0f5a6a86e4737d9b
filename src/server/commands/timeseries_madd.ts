/**
 * TS.MADD, the ingest command: its arguments are parsed in place from the bytes the RESP
 * parser kept packed (`resp_packed.ts`: no object per argument), keys are numbered by their
 * bytes (`KeyIds`: a series is looked up once per command, not per sample), timestamps and
 * values are parsed from the bytes, and the store writes each series' run of samples as one
 * log entry (`writeMadd`). Replies and errors are RedisTimeSeries 1.8's, sample by sample.
 * ARCHITECTURE.md § "Time-series commands".
 *
 * @module
 */

import type { CommandContext } from "../context.ts";
import { KeyIds, type MaddColumns, type TsError } from "../../timeseries/mod.ts";
import { TsError as TsErrorClass } from "../../timeseries/mod.ts";
import {
  arity,
  asReply,
  timestampInto,
  TS_INVALID,
  TS_NEGATIVE,
  tsErr,
  valueInto,
} from "./_ts_args.ts";
import { TS_SAMPLES_PER_WRITE_MAX } from "../../limits.ts";
import { NOTIFY, notify } from "../notifications.ts";
import { PackedArgs } from "../resp_packed.ts";
import { writeDigits } from "../../util/bytes.ts";

const STAR = 42;
const COLON = 58;
const CR = 13;
const LF = 10;

/** Samples the reused argument columns hold at most; larger commands get their own. */
const COLS_SCRATCH_SAMPLES_MAX = 4096;

function newCols(n: number) {
  return { keyOf: new Int32Array(n), ts: new Float64Array(n), values: new Float64Array(n) };
}

let colsScratch = newCols(0);
const keyIds = new KeyIds();

/** Reply bytes are built here (kept between commands up to this size). */
const REPLY_SCRATCH_BYTES_MAX = 64 * 1024;
let replyScratch = new Uint8Array(0);

/**
 * The reply of a TS.MADD none of whose samples was refused, built in one buffer: an array of
 * integers, each the sample's timestamp, copied from its argument when the reply is the
 * timestamp sent (a valid timestamp argument is the canonical decimal: no sign, no leading
 * zero), else written as digits (`*`, IGNORE).
 */
function replyOf(p: PackedArgs, ts: Float64Array, replies: Float64Array, n: number): Uint8Array {
  const need = 24 + 19 * n;
  let buf = replyScratch;
  if (buf.length < need) {
    buf = new Uint8Array(need);
    if (need <= REPLY_SCRATCH_BYTES_MAX) replyScratch = buf;
  }
  const { bytes, bounds } = p;
  buf[0] = STAR;
  let len = writeDigits(buf, 1, n);
  buf[len++] = CR;
  buf[len++] = LF;
  for (let i = 0, b = 2; i < n; i++, b += 6) {
    buf[len++] = COLON;
    const r = replies[i]!;
    if (r === ts[i]) {
      for (let j = bounds[b]!, end = bounds[b + 1]!; j < end; j++) buf[len++] = bytes[j]!;
    } else len = writeDigits(buf, len, r);
    buf[len++] = CR;
    buf[len++] = LF;
  }
  return buf.subarray(0, len);
}

/** TS.MADD from an ordinary argument list (MULTI-less fallbacks: MONITOR, pause, guards). */
export function madd(ctx: CommandContext): void {
  const args = ctx.args;
  let bytes = 0;
  for (let i = 1; i < args.length; i++) bytes += args[i]!.length;
  const packed = new Uint8Array(bytes);
  const bounds = new Int32Array(2 * (args.length - 1));
  let at = 0;
  for (let i = 1; i < args.length; i++) {
    packed.set(args[i]!, at);
    bounds[2 * i - 2] = at;
    at += args[i]!.length;
    bounds[2 * i - 1] = at;
  }
  maddPacked(ctx, new PackedArgs(args[0]!, packed, bounds, args.length));
}

/** TS.MADD key timestamp value [key timestamp value …] from packed arguments. */
export function maddPacked(ctx: CommandContext, p: PackedArgs): void {
  if (p.length < 4 || (p.length - 1) % 3 !== 0) throw arity(p.toArgs());
  const n = (p.length - 1) / 3;
  if (n > TS_SAMPLES_PER_WRITE_MAX) {
    throw tsErr(`TSDB: too many samples: ${n} (limit ${TS_SAMPLES_PER_WRITE_MAX})`);
  }
  const { bytes, bounds } = p;
  // Reused: everything below that reads its keys runs before this returns.
  const ids = keyIds;
  ids.reset();
  // Reused between commands (read before this returns): the store copies what it keeps.
  if (colsScratch.keyOf.length < n) {
    const size = Math.min(Math.max(n, 512), COLS_SCRATCH_SAMPLES_MAX);
    if (size >= n) colsScratch = newCols(size);
  }
  const { keyOf, ts, values } = colsScratch.keyOf.length >= n ? colsScratch : newCols(n);
  let errors: (TsError | undefined)[] | undefined;
  for (let i = 0, b = 0; i < n; i++, b += 6) {
    keyOf[i] = ids.id(bytes, bounds[b]!, bounds[b + 1]!);
    if (!valueInto(bytes, bounds[b + 4]!, bounds[b + 5]!, values, i)) {
      (errors ??= [])[i] = new TsErrorClass("ERR TSDB: invalid value");
      continue;
    }
    const status = timestampInto(bytes, bounds[b + 2]!, bounds[b + 3]!, ts, i);
    if (status === TS_INVALID) {
      (errors ??= [])[i] = new TsErrorClass("ERR TSDB: invalid timestamp");
    } else if (status === TS_NEGATIVE) {
      (errors ??= [])[i] = new TsErrorClass(
        "ERR TSDB: invalid timestamp, must be a nonnegative integer",
      );
    }
  }
  const cols: MaddColumns = { n, keys: ids.keys, keyOf, ts, values, errors };
  let result;
  try {
    result = ctx.server.timeseries.maddColumns(cols, (ops) => ctx.write(ops));
  } catch (err) {
    throw asReply(err);
  }
  for (const key of result.ruleOutputs ?? []) notify(ctx, NOTIFY.module, "ts.add:dest", key);
  const { replies, errors: refused } = result.value;
  if (ctx.server.notifier.flags !== 0) {
    // TS.MADD creates no series (as RedisTimeSeries): `ts.add` per sample written, in order.
    for (let i = 0; i < n; i++) {
      if (refused?.[i] === undefined) notify(ctx, NOTIFY.module, "ts.add", ids.keys[keyOf[i]!]!);
    }
  }
  const out = ctx.out;
  if (refused === undefined) {
    out.raw(replyOf(p, ts, replies, n));
    return;
  }
  out.array(n);
  for (let i = 0; i < n; i++) {
    const err = refused?.[i];
    if (err === undefined) out.integer(replies[i]!);
    else out.error(err.reply);
  }
}
