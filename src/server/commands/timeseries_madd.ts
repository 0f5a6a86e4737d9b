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
import { arity, asReply, parseLongAt, parseValueAt, tsErr } from "./_ts_args.ts";
import { TS_SAMPLES_PER_WRITE_MAX } from "../../limits.ts";
import { NOTIFY, notify } from "../notifications.ts";
import { PackedArgs } from "../resp_packed.ts";

const STAR = 42;

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
  const ids = new KeyIds();
  const keyOf = new Int32Array(n);
  const ts = new Float64Array(n);
  const values = new Float64Array(n);
  let errors: (TsError | undefined)[] | undefined;
  for (let i = 0, b = 0; i < n; i++, b += 6) {
    keyOf[i] = ids.id(bytes, bounds[b]!, bounds[b + 1]!);
    const value = parseValueAt(bytes, bounds[b + 4]!, bounds[b + 5]!);
    if (value === undefined) {
      (errors ??= [])[i] = new TsErrorClass("ERR TSDB: invalid value");
      continue;
    }
    values[i] = value;
    const tFrom = bounds[b + 2]!;
    const tTo = bounds[b + 3]!;
    if (tTo - tFrom === 1 && bytes[tFrom] === STAR) {
      ts[i] = -1;
      continue;
    }
    const t = parseLongAt(bytes, tFrom, tTo);
    if (t === undefined || Number.isNaN(t)) {
      (errors ??= [])[i] = new TsErrorClass("ERR TSDB: invalid timestamp");
      continue;
    }
    if (t < 0) {
      (errors ??= [])[i] = new TsErrorClass(
        "ERR TSDB: invalid timestamp, must be a nonnegative integer",
      );
      continue;
    }
    ts[i] = t;
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
  out.array(n);
  for (let i = 0; i < n; i++) {
    const err = refused?.[i];
    if (err === undefined) out.integer(replies[i]!);
    else out.error(err.reply);
  }
}
