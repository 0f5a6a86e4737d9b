/**
 * BITFIELD and BITFIELD_RO: signed and unsigned integers of 1-64 bits (u1–u63, i1–i64) at any
 * bit offset of a string, with GET, SET, INCRBY and OVERFLOW WRAP|SAT|FAIL as Redis 7.0 does
 * them (`#n` offsets count in units of the type's width). ARCHITECTURE.md § "Operator commands".
 *
 * Arithmetic is exact (bigint): overflow is decided on the true sum, WRAP keeps the low `bits`
 * bits (sign-extended for signed types), SAT clamps, FAIL answers nil and writes nothing.
 *
 * @module
 */

import { VALUE_SIZE_BYTES_MAX } from "../../limits.ts";
import {
  type CommandContext,
  ERR_SYNTAX,
  lower,
  parseInt64,
  ReplyError,
  text,
} from "../context.ts";
import { NOTIFY, notify, notifyMiss, notifyNew } from "../notifications.ts";
import { putOp } from "./expiry.ts";
import { stringEntry } from "./strings.ts";

const ERR_TYPE =
  "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.";
const ERR_OFFSET = "ERR bit offset is not an integer or out of range";

type Overflow = "wrap" | "sat" | "fail";

interface Op {
  kind: "get" | "set" | "incrby";
  signed: boolean;
  bits: number;
  offset: number;
  value: bigint;
  overflow: Overflow;
}

/**
 * A type as Redis reads it: `i` or `u` (lower case only) and the width as `string2ll` reads the C
 * string after it (no sign, no leading zero; the text ends at a NUL byte).
 */
function typeArg(bytes: Uint8Array): { signed: boolean; bits: number } {
  const nul = bytes.indexOf(0);
  const s = text(nul === -1 ? bytes : bytes.subarray(0, nul));
  const m = /^([iu])([1-9]\d{0,2})$/.exec(s);
  if (m === null) throw new ReplyError(ERR_TYPE);
  const signed = m[1] === "i";
  const bits = Number(m[2]);
  if (bits < 1 || (signed && bits > 64) || (!signed && bits > 63)) throw new ReplyError(ERR_TYPE);
  return { signed, bits };
}

function offsetArg(bytes: Uint8Array, bits: number): number {
  const hash = bytes.length > 0 && bytes[0] === 35; // '#'
  const v = parseInt64(hash ? bytes.subarray(1) : bytes);
  if (v === undefined) throw new ReplyError(ERR_OFFSET);
  const offset = hash ? v * BigInt(bits) : v;
  if (offset < 0n || offset >> 3n >= BigInt(VALUE_SIZE_BYTES_MAX)) throw new ReplyError(ERR_OFFSET);
  return Number(offset);
}

/**
 * The operations, parsed in Redis's order: every argument first (the first bad one answers), then
 * BITFIELD_RO refuses a SET or INCRBY.
 */
function parseOps(args: Uint8Array[], readOnly: boolean): Op[] {
  const ops: Op[] = [];
  let overflow: Overflow = "wrap";
  for (let j = 2; j < args.length; j++) {
    const sub = lower(args[j]!);
    const left = args.length - 1 - j;
    if (sub === "get" && left >= 2) {
      const t = typeArg(args[j + 1]!);
      ops.push({ kind: "get", ...t, offset: offsetArg(args[j + 2]!, t.bits), value: 0n, overflow });
      j += 2;
    } else if ((sub === "set" || sub === "incrby") && left >= 3) {
      const t = typeArg(args[j + 1]!);
      const offset = offsetArg(args[j + 2]!, t.bits);
      const value = parseInt64(args[j + 3]!);
      if (value === undefined) throw new ReplyError("ERR value is not an integer or out of range");
      ops.push({ kind: sub, ...t, offset, value, overflow });
      j += 3;
    } else if (sub === "overflow" && left >= 1) {
      const o = lower(args[j + 1]!);
      if (o !== "wrap" && o !== "sat" && o !== "fail") {
        throw new ReplyError("ERR Invalid OVERFLOW type specified");
      }
      overflow = o;
      j += 1;
    } else throw new ReplyError(ERR_SYNTAX);
  }
  if (readOnly && ops.some((o) => o.kind !== "get")) {
    throw new ReplyError("ERR BITFIELD_RO only supports the GET subcommand");
  }
  return ops;
}

/** The unsigned value of `bits` bits at bit `offset` (bits past the end read as 0). */
function readBits(buf: Uint8Array, offset: number, bits: number): bigint {
  let v = 0n;
  for (let i = 0; i < bits; i++) {
    const b = offset + i;
    const byte = b >> 3;
    const set = byte < buf.length && (buf[byte]! & (0x80 >> (b & 7))) !== 0;
    v = (v << 1n) | (set ? 1n : 0n);
  }
  return v;
}

/** Writes the low `bits` bits of `v` at bit `offset` (the buffer is large enough). */
function writeBits(buf: Uint8Array, offset: number, bits: number, v: bigint): void {
  for (let i = bits - 1; i >= 0; i--) {
    const b = offset + i;
    const mask = 0x80 >> (b & 7);
    if (v & 1n) buf[b >> 3]! |= mask;
    else buf[b >> 3]! &= ~mask;
    v >>= 1n;
  }
}

function toSigned(v: bigint, bits: number): bigint {
  return v >= 1n << BigInt(bits - 1) ? v - (1n << BigInt(bits)) : v;
}

/** `sum` brought into the type's range: `[value, overflowed]`, value undefined for FAIL. */
function fit(sum: bigint, op: Op): [bigint | undefined, boolean] {
  const size = 1n << BigInt(op.bits);
  const min = op.signed ? -(size >> 1n) : 0n;
  const max = op.signed ? (size >> 1n) - 1n : size - 1n;
  if (sum >= min && sum <= max) return [sum, false];
  if (op.overflow === "fail") return [undefined, true];
  if (op.overflow === "sat") return [sum > max ? max : min, true];
  const wrapped = ((sum % size) + size) % size;
  return [op.signed ? toSigned(wrapped, op.bits) : wrapped, true];
}

/** BITFIELD (read-write) or BITFIELD_RO. */
export function bitfield(ctx: CommandContext, readOnly: boolean): void {
  const key = ctx.args[1]!;
  const ops = parseOps(ctx.args, readOnly);
  const e = stringEntry(ctx, key);
  const writes = ops.some((o) => o.kind !== "get");
  if (e === undefined && !writes) notifyMiss(ctx, key);
  let buf = e?.value ?? new Uint8Array(0);
  // As Redis: a write counts as a change when it created or grew the string, or changed bits; a
  // BITFIELD whose writes change nothing writes nothing (no record, no event, no dirty count).
  let grew = false;
  if (writes) {
    let highest = 0;
    for (const o of ops) if (o.kind !== "get") highest = Math.max(highest, o.offset + o.bits - 1);
    const copy = new Uint8Array(Math.max(buf.length, (highest >> 3) + 1));
    copy.set(buf);
    grew = e === undefined || copy.length > buf.length;
    buf = copy;
  }
  const out = ctx.out;
  out.array(ops.length);
  let changes = 0;
  for (const op of ops) {
    const raw = readBits(buf, op.offset, op.bits);
    const old = op.signed ? toSigned(raw, op.bits) : raw;
    if (op.kind === "get") {
      out.integer(old);
      continue;
    }
    // A SET's value is taken as the type's raw bits would be: u8 -1 is 2^64 - 1, then fitted.
    const target = op.kind === "incrby"
      ? old + op.value
      : op.signed
      ? op.value
      : op.value < 0n
      ? op.value + (1n << 64n)
      : op.value;
    const [next] = fit(target, op);
    if (next === undefined) {
      out.null();
      continue;
    }
    if (grew || next !== old) changes++;
    out.integer(op.kind === "set" ? old : next);
    writeBits(buf, op.offset, op.bits, next);
  }
  if (changes > 0) {
    ctx.write([putOp(key, buf, e?.expireAtMs ?? 0)]);
    notifyNew(ctx, key, e !== undefined);
    notify(ctx, NOTIFY.string, "setbit", key);
  }
}
