/**
 * LCS key1 key2 [LEN] [IDX] [MINMATCHLEN n] [WITHMATCHLEN]: the longest common subsequence of
 * two strings, with Redis 7.0's replies (the match ranges listed from the end of the strings,
 * ties broken the same way, so the answers are identical). ARCHITECTURE.md § "Operator commands".
 *
 * The dynamic-programming table has (len1 + 1) × (len2 + 1) cells of 4 bytes; past
 * `LCS_TABLE_BYTES_MAX` the command is refused before anything is allocated.
 *
 * @module
 */

import { LCS_TABLE_BYTES_MAX } from "../../limits.ts";
import {
  type CommandContext,
  type CommandSpec,
  ERR_SYNTAX,
  intArg,
  lower,
  ReplyError,
} from "../context.ts";
import { notifyMiss } from "../notifications.ts";
import { KIND_PUT } from "../../util/entry.ts";

function lcs(ctx: CommandContext): void {
  const { args, out } = ctx;
  const db = ctx.server.db;
  const ea = db.getEntry(args[1]!);
  if (ea === undefined) notifyMiss(ctx, args[1]!);
  const eb = db.getEntry(args[2]!);
  if (eb === undefined) notifyMiss(ctx, args[2]!);
  if ((ea !== undefined && ea.kind !== KIND_PUT) || (eb !== undefined && eb.kind !== KIND_PUT)) {
    // Redis 7.0's words for a key of another type (a time series here), not WRONGTYPE.
    throw new ReplyError("ERR The specified keys must contain string values");
  }
  let getLen = false;
  let getIdx = false;
  let withMatchLen = false;
  let minMatchLen = 0n;
  for (let j = 3; j < args.length; j++) {
    const opt = lower(args[j]!);
    if (opt === "idx") getIdx = true;
    else if (opt === "len") getLen = true;
    else if (opt === "withmatchlen") withMatchLen = true;
    else if (opt === "minmatchlen" && j + 1 < args.length) {
      minMatchLen = intArg(args[++j]!);
      if (minMatchLen < 0n) minMatchLen = 0n;
    } else throw new ReplyError(ERR_SYNTAX);
  }
  if (getIdx && getLen) {
    throw new ReplyError("ERR If you want both the length and indexes, please just use IDX.");
  }
  const a = ea?.value ?? new Uint8Array(0);
  const b = eb?.value ?? new Uint8Array(0);
  const cells = (a.length + 1) * (b.length + 1);
  if (cells * 4 > LCS_TABLE_BYTES_MAX) {
    throw new ReplyError(
      `ERR Insufficient memory: LCS of ${a.length} and ${b.length} bytes needs ${cells * 4} ` +
        `bytes of working memory (limit ${LCS_TABLE_BYTES_MAX})`,
    );
  }
  const w = b.length + 1;
  const table = new Uint32Array(cells);
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      table[i * w + j] = a[i - 1] === b[j - 1]
        ? table[(i - 1) * w + j - 1]! + 1
        : Math.max(table[(i - 1) * w + j]!, table[i * w + j - 1]!);
    }
  }
  const length = table[a.length * w + b.length]!;
  if (getLen) return out.integer(length);
  const result = new Uint8Array(length);
  const matches: number[][] = [];
  // Walk back from the end, collecting the contiguous ranges of matched bytes.
  let i = a.length;
  let j = b.length;
  let k = length;
  let aStart = -1, aEnd = 0, bStart = 0, bEnd = 0;
  while (i > 0 && j > 0) {
    let emit = false;
    if (a[i - 1] === b[j - 1]) {
      result[--k] = a[i - 1]!;
      if (aStart < 0) {
        aStart = aEnd = i - 1;
        bStart = bEnd = j - 1;
      } else if (aStart === i && bStart === j) {
        aStart--;
        bStart--;
      } else emit = true;
      if (aStart === 0 || bStart === 0) emit = true;
      i--;
      j--;
    } else {
      if (table[(i - 1) * w + j]! > table[i * w + j - 1]!) i--;
      else j--;
      if (aStart >= 0) emit = true;
    }
    if (emit && aStart >= 0) {
      const matchLen = aEnd - aStart + 1;
      if (minMatchLen === 0n || BigInt(matchLen) >= minMatchLen) {
        matches.push([aStart, aEnd, bStart, bEnd, matchLen]);
      }
      aStart = -1;
    }
  }
  if (!getIdx) return out.bulk(result);
  out.map(2);
  out.bulk("matches");
  out.array(matches.length);
  for (const [as, ae, bs, be, ml] of matches) {
    out.array(withMatchLen ? 3 : 2);
    out.array(2);
    out.integer(as!);
    out.integer(ae!);
    out.array(2);
    out.integer(bs!);
    out.integer(be!);
    if (withMatchLen) out.integer(ml!);
  }
  out.bulk("len");
  out.integer(length);
}

/** LCS. */
export const LCS_COMMANDS: CommandSpec[] = [{
  name: "lcs",
  arity: -3,
  flags: ["readonly"],
  firstKey: 1,
  lastKey: 2,
  step: 1,
  group: "string",
  since: "7.0.0",
  summary: "Finds the longest common substring.",
  handler: lcs,
}];
