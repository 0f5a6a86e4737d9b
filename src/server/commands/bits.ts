/**
 * Bit commands on strings: SETBIT GETBIT BITCOUNT BITPOS BITOP BITFIELD BITFIELD_RO, with Redis
 * 7.0's replies, errors and keyspace events (`setbit`, `set`/`del` for BITOP's destination).
 * ARCHITECTURE.md § "Operator commands".
 *
 * Bit 0 is the most significant bit of byte 0, as in Redis. A write beyond the end grows the
 * string with zero bytes, up to `VALUE_SIZE_BYTES_MAX` (Redis's proto-max-bulk-len check). Every
 * write is a read-modify-write of the whole value in one synchronous run (atomic).
 *
 * @module
 */

import { VALUE_SIZE_BYTES_MAX } from "../../limits.ts";
import {
  type CommandContext,
  type CommandSpec,
  ERR_SYNTAX,
  intArg,
  lower,
  ONE_KEY,
  parseInt64,
  ReplyError,
  specBuilder,
} from "../context.ts";
import { NOTIFY, notify, notifyMiss, notifyNew } from "../notifications.ts";
import { putOp } from "./expiry.ts";
import { stringEntry } from "./strings.ts";
import { bitfield } from "./bitfield.ts";

const ERR_BIT_OFFSET = "ERR bit offset is not an integer or out of range";
const EMPTY = new Uint8Array(0);

/** Bits set in each byte value. */
const POPCOUNT = new Uint8Array(256);
for (let i = 1; i < 256; i++) POPCOUNT[i] = (i & 1) + POPCOUNT[i >> 1]!;

/** A bit offset argument (0 … VALUE_SIZE_BYTES_MAX × 8 − 1), or Redis's error. */
export function bitOffsetArg(bytes: Uint8Array): number {
  const v = parseInt64(bytes);
  if (v === undefined || v < 0n || v >> 3n >= BigInt(VALUE_SIZE_BYTES_MAX)) {
    throw new ReplyError(ERR_BIT_OFFSET);
  }
  return Number(v);
}

/** The string at `key` for a read (empty when missing; a miss is notified; WRONGTYPE). */
function readValue(ctx: CommandContext, key: Uint8Array): Uint8Array | undefined {
  const e = stringEntry(ctx, key);
  if (e === undefined) notifyMiss(ctx, key);
  return e?.value;
}

function setbit(ctx: CommandContext): void {
  const key = ctx.args[1]!;
  const offset = bitOffsetArg(ctx.args[2]!);
  const bit = parseInt64(ctx.args[3]!);
  if (bit !== 0n && bit !== 1n) throw new ReplyError("ERR bit is not an integer or out of range");
  const e = stringEntry(ctx, key);
  const old = e?.value ?? EMPTY;
  const byte = offset >> 3;
  const mask = 0x80 >> (offset & 7);
  const was = byte < old.length && (old[byte]! & mask) !== 0 ? 1 : 0;
  const grows = byte >= old.length;
  if (e === undefined || grows || was !== Number(bit)) {
    const value = new Uint8Array(Math.max(old.length, byte + 1));
    value.set(old);
    if (bit === 1n) value[byte]! |= mask;
    else value[byte]! &= ~mask;
    ctx.write([putOp(key, value, e?.expireAtMs ?? 0)]);
    notifyNew(ctx, key, e !== undefined);
    notify(ctx, NOTIFY.string, "setbit", key);
  }
  ctx.out.integer(was);
}

function getbit(ctx: CommandContext): void {
  const offset = bitOffsetArg(ctx.args[2]!);
  const value = readValue(ctx, ctx.args[1]!) ?? EMPTY;
  const byte = offset >> 3;
  ctx.out.integer(byte < value.length && (value[byte]! & (0x80 >> (offset & 7))) !== 0 ? 1 : 0);
}

/** A `[start, end]` range argument pair resolved Redis style against `total` units. */
function resolveRange(start: bigint, end: bigint, total: number): [number, number] | undefined {
  const n = BigInt(total);
  if (start < 0n) start += n;
  if (end < 0n) end += n;
  if (start < 0n) start = 0n;
  if (end < 0n) end = 0n;
  if (end >= n) end = n - 1n;
  if (start > end) return undefined;
  return [Number(start), Number(end)];
}

/** Set bits in bit positions `[from, to]` (inclusive) of `value`. */
function countBits(value: Uint8Array, from: number, to: number): number {
  let n = 0;
  let bit = from;
  while (bit <= to && (bit & 7) !== 0) {
    if (value[bit >> 3]! & (0x80 >> (bit & 7))) n++;
    bit++;
  }
  while (bit + 7 <= to) {
    n += POPCOUNT[value[bit >> 3]!]!;
    bit += 8;
  }
  while (bit <= to) {
    if (value[bit >> 3]! & (0x80 >> (bit & 7))) n++;
    bit++;
  }
  return n;
}

/** `BYTE`/`BIT` unit argument: true for BIT. */
function unitArg(bytes: Uint8Array): boolean {
  const u = lower(bytes);
  if (u === "bit") return true;
  if (u === "byte") return false;
  throw new ReplyError(ERR_SYNTAX);
}

function bitcount(ctx: CommandContext): void {
  const { args } = ctx;
  // Redis 7.0's order: the key first (a missing key counts 0 whatever the arguments), then
  // the range, then the unit.
  const value = readValue(ctx, args[1]!);
  if (value === undefined) return ctx.out.integer(0);
  let range: [bigint, bigint] | undefined;
  let isBit = false;
  if (args.length === 4 || args.length === 5) {
    range = [intArg(args[2]!), intArg(args[3]!)];
    // Both ends from the end with start after end is an empty range, before any clamping
    // (both would clamp to 0 and count the first byte).
    if (range[0] < 0n && range[1] < 0n && range[0] > range[1]) return ctx.out.integer(0);
    if (args.length === 5) isBit = unitArg(args[4]!);
  } else if (args.length !== 2) throw new ReplyError(ERR_SYNTAX);
  const total = isBit ? value.length * 8 : value.length;
  const r = range === undefined
    ? resolveRange(0n, -1n, total)
    : resolveRange(range[0], range[1], total);
  if (r === undefined || total === 0) return ctx.out.integer(0);
  const from = isBit ? r[0] : r[0] * 8;
  const to = isBit ? r[1] : r[1] * 8 + 7;
  ctx.out.integer(countBits(value, from, to));
}

/** First bit equal to `bit` in bit positions `[from, to]`, or -1. */
function findBit(value: Uint8Array, bit: number, from: number, to: number): number {
  const skip = bit === 1 ? 0x00 : 0xff;
  let b = from;
  while (b <= to) {
    if ((b & 7) === 0 && b + 7 <= to && value[b >> 3] === skip) {
      b += 8;
      continue;
    }
    const set = (value[b >> 3]! & (0x80 >> (b & 7))) !== 0;
    if (set === (bit === 1)) return b;
    b++;
  }
  return -1;
}

function bitpos(ctx: CommandContext): void {
  const { args } = ctx;
  const want = parseInt64(args[2]!);
  if (want === undefined) throw new ReplyError("ERR value is not an integer or out of range");
  if (want !== 0n && want !== 1n) throw new ReplyError("ERR The bit argument must be 1 or 0.");
  const value = readValue(ctx, args[1]!);
  // A missing key is an infinite run of zero bits (whatever the range: Redis 7.0's order).
  if (value === undefined) return ctx.out.integer(want === 1n ? -1 : 0);
  if (args.length > 6) throw new ReplyError(ERR_SYNTAX);
  let isBit = false;
  let start = 0n;
  let end: bigint | undefined;
  if (args.length >= 4) start = intArg(args[3]!);
  if (args.length === 6) isBit = unitArg(args[5]!);
  if (args.length >= 5) end = intArg(args[4]!);
  const total = isBit ? value.length * 8 : value.length;
  const r = resolveRange(start, end ?? BigInt(total - 1), total);
  if (r === undefined || total === 0) return ctx.out.integer(-1);
  const from = isBit ? r[0] : r[0] * 8;
  const to = isBit ? r[1] : r[1] * 8 + 7;
  const pos = findBit(value, Number(want), from, to);
  if (pos >= 0) return ctx.out.integer(pos);
  // Looking for a clear bit with no end given: the string is taken as padded with zeros.
  if (want === 0n && end === undefined) return ctx.out.integer(isBit ? to + 1 : (r[1] + 1) * 8);
  ctx.out.integer(-1);
}

function bitop(ctx: CommandContext): void {
  const { args } = ctx;
  const op = lower(args[1]!);
  if (op !== "and" && op !== "or" && op !== "xor" && op !== "not") {
    throw new ReplyError(ERR_SYNTAX);
  }
  if (op === "not" && args.length !== 4) {
    throw new ReplyError("ERR BITOP NOT must be called with a single source key.");
  }
  const dest = args[2]!;
  const sources: Uint8Array[] = [];
  let maxLength = 0;
  for (let i = 3; i < args.length; i++) {
    const v = readValue(ctx, args[i]!) ?? EMPTY;
    sources.push(v);
    maxLength = Math.max(maxLength, v.length);
  }
  const out = new Uint8Array(maxLength);
  if (op === "not") {
    const src = sources[0]!;
    for (let i = 0; i < maxLength; i++) out[i] = ~src[i]! & 0xff;
  } else {
    out.set(sources[0]!);
    for (let s = 1; s < sources.length; s++) {
      const src = sources[s]!;
      for (let i = 0; i < maxLength; i++) {
        const b = i < src.length ? src[i]! : 0;
        if (op === "and") out[i]! &= b;
        else if (op === "or") out[i]! |= b;
        else out[i]! ^= b;
      }
    }
  }
  const db = ctx.server.db;
  const existed = db.getEntry(dest) !== undefined;
  if (maxLength === 0) {
    // An empty result deletes the destination, as Redis does.
    if (existed) {
      ctx.write([{ type: "delete", key: dest }]);
      notify(ctx, NOTIFY.generic, "del", dest);
    }
  } else {
    ctx.write([{ type: "put", key: dest, value: out }]);
    notifyNew(ctx, dest, existed);
    notify(ctx, NOTIFY.string, "set", dest);
  }
  ctx.out.integer(maxLength);
}

const spec = specBuilder("bitmap", ONE_KEY);

/** The bit commands. */
export const BIT_COMMANDS: CommandSpec[] = [
  spec(
    "setbit",
    4,
    ["write", "denyoom"],
    "2.2.0",
    "Sets or clears the bit at offset of the string value. Creates the key if it doesn't exist.",
    setbit,
  ),
  spec("getbit", 3, ["readonly", "fast"], "2.2.0", "Returns a bit value by offset.", getbit),
  spec(
    "bitcount",
    -2,
    ["readonly"],
    "2.6.0",
    "Counts the number of set bits (population counting) in a string.",
    bitcount,
  ),
  spec(
    "bitpos",
    -3,
    ["readonly"],
    "2.8.7",
    "Finds the first set (1) or clear (0) bit in a string.",
    bitpos,
  ),
  {
    ...spec(
      "bitop",
      -4,
      ["write", "denyoom"],
      "2.6.0",
      "Performs bitwise operations on multiple strings, and stores the result.",
      bitop,
    ),
    firstKey: 2,
    lastKey: -1,
  },
  spec(
    "bitfield",
    -2,
    ["write", "denyoom"],
    "3.2.0",
    "Performs arbitrary bitfield integer operations on strings.",
    (ctx) => bitfield(ctx, false),
  ),
  spec(
    "bitfield_ro",
    -2,
    ["readonly", "fast"],
    "6.0.0",
    "Performs arbitrary read-only bitfield integer operations on strings.",
    (ctx) => bitfield(ctx, true),
  ),
];
