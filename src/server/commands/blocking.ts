/**
 * The blocking pops of Redis 7.0: BLPOP BRPOP BLMOVE BRPOPLPUSH BLMPOP BZPOPMIN BZPOPMAX BZMPOP.
 * Each first tries at once (keys in the order given); when every key is empty the client waits
 * (`blocking_registry.ts`) until a write serves it, oldest waiter first, or its timeout ends
 * the wait with a null array. Inside MULTI they never wait, as in Redis.
 *
 * @module
 */

import { TYPE_LIST, TYPE_ZSET } from "../../keyspace/mod.ts";
import { TIMER_DELAY_MS_MAX, TYPES_BLOCKED_CLIENTS_MAX } from "../../limits.ts";
import {
  type CommandContext,
  type CommandSpec,
  parseFloatArg,
  ReplyError,
  specBuilder,
} from "../context.ts";
import { keyId } from "../txn_overlay.ts";
import { lookup, type TypeMeta } from "../../types/layout.ts";
import { readMeta, replyScore } from "./_types.ts";
import { registryOf, type Waiter } from "./blocking_registry.ts";
import { moveValue, parseLmpop, popValues, replyLmpop, side } from "./list.ts";
import { popScored, replyMpop } from "./zset.ts";
import { parseMpop } from "./_types.ts";

/** LLONG_MAX as Redis compares a long double with it (2^63 once converted). */
const LLONG_MAX_MS = 2 ** 63;
/** A decimal spelling that overflows or underflows a double (`1e400`, `1e-400`). */
const OUT_OF_DOUBLE = /^[+-]?(\d+\.?\d*|\.\d+)[eE][+-]?\d+$/;
/** Decimal exponents a long double (x87, 80 bits) reaches: about 1.19e4932 down to 3.6e-4951. */
const LONG_DOUBLE_EXP_MAX = 4932;
const LONG_DOUBLE_EXP_MIN = -4950;

/**
 * Parses a timeout in seconds as Redis 7.2 does (`getTimeoutFromObjectOrReply`); 0 = forever.
 * Redis reads a long double, so `1e400` and `inf` are numbers; their milliseconds past
 * LLONG_MAX, or past it once added to the clock, are "timeout is out of range"; milliseconds
 * round up (`ceill`: 0.0001 s waits 1 ms), and below 0 are "timeout is negative".
 */
function timeoutMs(bytes: Uint8Array): number {
  let s = parseFloatArg(bytes);
  if (s === undefined) s = longDoubleOnly(bytes);
  if (s === undefined || Number.isNaN(s)) {
    throw new ReplyError("ERR timeout is not a float or out of range");
  }
  const ms = s * 1000;
  if (ms > LLONG_MAX_MS - 1) throw new ReplyError("ERR timeout is out of range");
  const rounded = Math.ceil(ms);
  if (rounded < 0) throw new ReplyError("ERR timeout is negative");
  if (rounded > LLONG_MAX_MS - Date.now()) throw new ReplyError("ERR timeout is out of range");
  return rounded === 0 ? 0 : rounded; // ceil(-0.1) is -0: no timeout, as Redis's cast gives 0
}

/**
 * A number a long double holds and a double does not: ±Infinity for an overflow of the double
 * (its long double is far past any timeout), the least double of its sign for an underflow (it
 * rounds up to 1 ms, or to 0 when negative); `undefined` otherwise.
 */
function longDoubleOnly(bytes: Uint8Array): number | undefined {
  const text = String.fromCharCode(...bytes.subarray(0, 400));
  if (bytes.length > 400 || !OUT_OF_DOUBLE.test(text)) return undefined;
  const [mantissa, exp] = text.toLowerCase().split("e") as [string, string];
  const digits = mantissa.replace(/^[+-]/, "");
  const [int, frac = ""] = digits.split(".") as [string, string?];
  const lead = int.replace(/^0+/, "");
  const firstFrac = frac.search(/[1-9]/);
  if (lead === "" && firstFrac === -1) return undefined; // Zero: a double holds it.
  const magnitude = Number(exp) + (lead !== "" ? lead.length - 1 : -(firstFrac + 1));
  if (magnitude > LONG_DOUBLE_EXP_MAX || magnitude < LONG_DOUBLE_EXP_MIN) return undefined;
  const sign = mantissa.startsWith("-") ? -1 : 1;
  return magnitude > 0 ? sign * Infinity : sign * Number.MIN_VALUE;
}

/**
 * Blocks the client on `keys` until `serveFrom(key)` succeeds for a key a write made ready, or
 * `ms` passes (0 = never): the reply is written by `serveFrom`, or a null array at the timeout.
 */
function block(
  ctx: CommandContext,
  keys: Uint8Array[],
  ms: number,
  serveFrom: (key: Uint8Array) => boolean,
): Promise<void> {
  const registry = registryOf(ctx);
  return new Promise((resolve) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const finish = () => {
      w.done = true;
      registry.remove(w);
      if (timer !== undefined) clearTimeout(timer);
      resolve();
    };
    const w: Waiter = {
      keys: [...new Set(keys.map(keyId))],
      done: false,
      tryServe(key) {
        if (w.done) return true;
        try {
          if (!serveFrom(key)) return false;
        } catch (err) {
          if (!(err instanceof ReplyError)) throw err;
          ctx.out.error(err.reply);
        }
        finish();
        return true;
      },
      cancel() {
        if (w.done) return;
        ctx.out.nullArray();
        finish();
      },
      fail(reply) {
        if (w.done) return;
        ctx.out.error(reply);
        finish();
      },
      drop() {
        if (!w.done) finish();
      },
      client: ctx.client,
    };
    if (!registry.add(w)) {
      ctx.out.error(
        `ERR too many blocked clients (limit ${TYPES_BLOCKED_CLIENTS_MAX}): try again later`,
      );
      resolve();
      return;
    }
    if (ms > 0) {
      // A timer waits at most TIMER_DELAY_MS_MAX (a longer delay fires at once): re-armed until due.
      const due = Date.now() + ms;
      const arm = () => {
        const left = due - Date.now();
        timer = left > 0 ? setTimeout(arm, Math.min(left, TIMER_DELAY_MS_MAX)) : undefined;
        if (left <= 0) w.cancel();
      };
      arm();
    }
  });
}

/**
 * The metadata of a key a pop reads from: on the first try a key of another type is WRONGTYPE;
 * once waiting (`waiting`), Redis 7.0 leaves the client blocked on such a key (a later write
 * may make it a list again), so it counts as empty.
 */
function sourceMeta(
  ctx: CommandContext,
  key: Uint8Array,
  type: number,
  waiting: boolean,
): TypeMeta | undefined {
  if (waiting && lookup(ctx.server.db, key, type).kind === "wrongtype") return undefined;
  return readMeta(ctx, key, type);
}

function inTransaction(ctx: CommandContext): boolean {
  return "overlay" in ctx;
}

function bpop(ctx: CommandContext, left: boolean): void | Promise<void> {
  const { args } = ctx;
  const ms = timeoutMs(args[args.length - 1]!);
  const keys = args.slice(1, -1);
  const tryKey = (key: Uint8Array, waiting = false): boolean => {
    const meta = sourceMeta(ctx, key, TYPE_LIST, waiting);
    if (meta === undefined) return false;
    const [v] = popValues(ctx, key, meta, 1, left);
    ctx.out.array(2);
    ctx.out.bulk(key);
    ctx.out.bulk(v!);
    return true;
  };
  for (const key of keys) if (tryKey(key)) return;
  if (inTransaction(ctx)) return ctx.out.nullArray();
  return block(ctx, keys, ms, (key) => tryKey(key, true));
}

function blmoveGeneric(
  ctx: CommandContext,
  fromLeft: boolean,
  toLeft: boolean,
  timeoutArg: Uint8Array,
): void | Promise<void> {
  const ms = timeoutMs(timeoutArg);
  const src = ctx.args[1]!;
  const dst = ctx.args[2]!;
  const tryKey = (waiting = false): boolean => {
    if (sourceMeta(ctx, src, TYPE_LIST, waiting) === undefined) return false;
    const v = moveValue(ctx, src, dst, fromLeft, toLeft);
    if (v === undefined) return false;
    ctx.out.bulk(v);
    return true;
  };
  if (tryKey()) return;
  if (inTransaction(ctx)) return ctx.out.null();
  return block(ctx, [src], ms, () => tryKey(true));
}

function blmpop(ctx: CommandContext): void | Promise<void> {
  // Redis 7.0 reads the timeout after the other arguments.
  const { keys, left, count } = parseLmpop(ctx, 2);
  const ms = timeoutMs(ctx.args[1]!);
  const tryKey = (key: Uint8Array, waiting = false): boolean => {
    const meta = sourceMeta(ctx, key, TYPE_LIST, waiting);
    if (meta === undefined) return false;
    replyLmpop(ctx, key, popValues(ctx, key, meta, count, left));
    return true;
  };
  for (const key of keys) if (tryKey(key)) return;
  if (inTransaction(ctx)) return ctx.out.nullArray();
  return block(ctx, keys, ms, (key) => tryKey(key, true));
}

function bzpop(ctx: CommandContext, max: boolean): void | Promise<void> {
  const { args } = ctx;
  const ms = timeoutMs(args[args.length - 1]!);
  const keys = args.slice(1, -1);
  const tryKey = (key: Uint8Array, waiting = false): boolean => {
    const meta = sourceMeta(ctx, key, TYPE_ZSET, waiting);
    if (meta === undefined) return false;
    const [it] = popScored(ctx, key, meta, 1, max);
    ctx.out.array(3);
    ctx.out.bulk(key);
    ctx.out.bulk(it!.member);
    replyScore(ctx, it!.score);
    return true;
  };
  for (const key of keys) if (tryKey(key)) return;
  if (inTransaction(ctx)) return ctx.out.nullArray();
  return block(ctx, keys, ms, (key) => tryKey(key, true));
}

function bzmpop(ctx: CommandContext): void | Promise<void> {
  const { keys, which, count } = parseMpop(ctx, 2, ["min", "max"]);
  const ms = timeoutMs(ctx.args[1]!);
  const tryKey = (key: Uint8Array, waiting = false): boolean => {
    const meta = sourceMeta(ctx, key, TYPE_ZSET, waiting);
    if (meta === undefined) return false;
    replyMpop(ctx, key, popScored(ctx, key, meta, count, which === "max"));
    return true;
  };
  for (const key of keys) if (tryKey(key)) return;
  if (inTransaction(ctx)) return ctx.out.nullArray();
  return block(ctx, keys, ms, (key) => tryKey(key, true));
}

const keysToLast = specBuilder("list", { firstKey: 1, lastKey: -2, step: 1 });
const noKeys = specBuilder("list", { firstKey: 0, lastKey: 0, step: 0 });
const twoKeys = specBuilder("list", { firstKey: 1, lastKey: 2, step: 1 });
const F = ["write", "blocking"];

/** The blocking commands. */
export const BLOCKING_COMMAND_SPECS: CommandSpec[] = [
  keysToLast(
    "blpop",
    -3,
    F,
    "2.0.0",
    "Removes and returns the first element, or blocks.",
    (c) => bpop(c, true),
  ),
  keysToLast(
    "brpop",
    -3,
    F,
    "2.0.0",
    "Removes and returns the last element, or blocks.",
    (c) => bpop(c, false),
  ),
  twoKeys(
    "blmove",
    6,
    F,
    "6.2.0",
    "Moves an element between lists, or blocks.",
    (c) => blmoveGeneric(c, side(c.args[3]!), side(c.args[4]!), c.args[5]!),
  ),
  twoKeys(
    "brpoplpush",
    4,
    F,
    "2.2.0",
    "Pops and pushes an element, or blocks.",
    (c) => blmoveGeneric(c, false, true, c.args[3]!),
  ),
  noKeys(
    "blmpop",
    -5,
    F,
    "7.0.0",
    "Pops elements from the first non-empty list, or blocks.",
    blmpop,
  ),
  {
    ...keysToLast(
      "bzpopmin",
      -3,
      F,
      "5.0.0",
      "Removes the lowest member, or blocks.",
      (c) => bzpop(c, false),
    ),
    group: "sorted-set",
  },
  {
    ...keysToLast(
      "bzpopmax",
      -3,
      F,
      "5.0.0",
      "Removes the highest member, or blocks.",
      (c) => bzpop(c, true),
    ),
    group: "sorted-set",
  },
  { ...noKeys("bzmpop", -5, F, "7.0.0", "Pops members, or blocks.", bzmpop), group: "sorted-set" },
];
