/**
 * The command generator of the differential fuzzer (resp_diff.ts): seeded random commands over
 * a handful of keys of every type, with edge arguments (negative, huge and non-integer numbers,
 * inf/nan floats, empty and binary strings), wrong arity and wrong types. Each generated
 * command says how its reply is compared: exactly, as an unordered collection, by shape only
 * (random replies), or with a tolerance (times).
 *
 * @module
 */

import type { Rng } from "./random.ts";
import {
  expiryOpt,
  flags,
  float,
  int,
  key,
  KEYS,
  LEX_BOUNDS,
  member,
  opt,
  pairs,
  SCORE_BOUNDS,
  some,
  ttl,
  value,
  zrangeArgs,
} from "./resp_diff_values.ts";
import { MORE_FAMILIES } from "./resp_diff_families.ts";

export { KEYS };

/** How two replies to a command are compared. */
export type Compare =
  | "exact"
  /** Arrays compared as multisets (HKEYS, SMEMBERS, KEYS …). */
  | "unordered"
  /** Arrays of field/value pairs compared as multisets of pairs (HGETALL). */
  | "pairs"
  /** SCAN-like [cursor, elements]: elements unordered. */
  | "scan"
  /** SCAN-like with pairs (HSCAN, ZSCAN). */
  | "scanpairs"
  /** Type and length only (random replies). */
  | "shape"
  /** Integers within ±2 (TTL, EXPIRETIME) */
  | "ttl"
  /** Integers within ±2000 (PTTL, PEXPIRETIME) */
  | "pttl"
  /**
   * DBSIZE: ours may be lower. Redis 7.0 keeps a key SET with an EXAT in the past (counted by
   * DBSIZE until expired); CityHall never stores it: a known difference.
   */
  | "dbsize";

/** One generated command. */
export interface Gen {
  args: string[];
  compare: Compare;
  /** The command changes state at random (SPOP): the key is deleted on both afterwards. */
  thenDel?: string;
}

/** Makes one command's arguments, or a command with its own comparison rule. */
export type Maker = (rng: Rng) => Gen | string[];

/** Command makers by family; each returns the arguments (command name first). */
const MAKERS: Record<string, Maker[]> = {
  strings: [
    (r) => ["SET", key(r), value(r), ...expiryOpt(r), ...flags(r, ["NX", "XX", "GET"], 0.2)],
    (r) => ["GET", key(r)],
    (r) => ["GETDEL", key(r)],
    (r) => ["GETEX", key(r), ...expiryOpt(r)],
    (r) => ["GETSET", key(r), value(r)],
    (r) => ["SETNX", key(r), value(r)],
    (r) => ["SETEX", key(r), ttl(r), value(r)],
    (r) => ["PSETEX", key(r), ttl(r), value(r)],
    (r) => ["MSET", ...pairs(r, () => [key(r), value(r)])],
    (r) => ["MSETNX", ...pairs(r, () => [key(r), value(r)])],
    (r) => ["MGET", ...some(r, key)],
    (r) => ["STRLEN", key(r)],
    (r) => ["APPEND", key(r), value(r)],
    (r) => ["GETRANGE", key(r), int(r), int(r)],
    (r) => ["SUBSTR", key(r), int(r), int(r)],
    (r) => ["SETRANGE", key(r), r.chance(0.9) ? String(r.int(20)) : int(r), value(r)],
    (r) => ["INCR", key(r)],
    (r) => ["DECR", key(r)],
    (r) => ["INCRBY", key(r), int(r)],
    (r) => ["DECRBY", key(r), int(r)],
    (r) => ["INCRBYFLOAT", key(r), float(r)],
    (r) => ["LCS", key(r), key(r), ...flags(r, ["LEN", "IDX", "WITHMATCHLEN"])],
  ],
  bits: [
    (
      r,
    ) => [
      "SETBIT",
      key(r),
      r.chance(0.9) ? String(r.int(64)) : int(r),
      r.pick(["0", "1", "2", "-1", ""]),
    ],
    (r) => ["GETBIT", key(r), r.chance(0.9) ? String(r.int(64)) : int(r)],
    (
      r,
    ) => [
      "BITCOUNT",
      key(r),
      ...(r.chance(0.6)
        ? [int(r), int(r), ...opt(r, 0.4, r.pick(["BYTE", "BIT", "bit", "X"]))]
        : []),
    ],
    (
      r,
    ) => [
      "BITPOS",
      key(r),
      r.pick(["0", "1", "2"]),
      ...(r.chance(0.6)
        ? [int(r), ...(r.chance(0.6) ? [int(r), ...opt(r, 0.4, r.pick(["BYTE", "BIT"]))] : [])]
        : []),
    ],
    (
      r,
    ) => [
      "BITOP",
      r.pick(["AND", "OR", "XOR", "NOT", "and", "NAND"]),
      key(r),
      ...some(r, key, 1, 3),
    ],
    (
      r,
    ) => [
      "BITFIELD",
      key(r),
      ...pairs(
        r,
        () =>
          r.chance(0.5)
            ? [
              "GET",
              r.pick(["u8", "i8", "u1", "i64", "u63", "u64", "i5"]),
              r.pick(["0", "#1", "3", "-1"]),
            ]
            : r.chance(0.5)
            ? ["SET", r.pick(["u8", "i8", "i16"]), r.pick(["0", "#1", "8"]), int(r)]
            : ["INCRBY", r.pick(["u8", "i8", "u2"]), r.pick(["0", "4"]), int(r)],
        1,
        3,
      ),
      ...opt(r, 0.2, "OVERFLOW", r.pick(["WRAP", "SAT", "FAIL", "bad"])),
    ],
    (r) => ["BITFIELD_RO", key(r), "GET", r.pick(["u8", "i8", "u1"]), r.pick(["0", "#1", "3"])],
  ],
  hashes: [
    (r) => ["HSET", key(r), ...pairs(r, () => [member(r), value(r)])],
    (r) => ["HMSET", key(r), ...pairs(r, () => [member(r), value(r)])],
    (r) => ["HSETNX", key(r), member(r), value(r)],
    (r) => ["HGET", key(r), member(r)],
    (r) => ["HMGET", key(r), ...some(r, member)],
    (r) => ["HDEL", key(r), ...some(r, member)],
    (r) => ["HLEN", key(r)],
    (r) => ["HSTRLEN", key(r), member(r)],
    (r) => ["HEXISTS", key(r), member(r)],
    (r) => ["HINCRBY", key(r), member(r), int(r)],
    (r) => ["HINCRBYFLOAT", key(r), member(r), float(r)],
    (r) => ({ args: ["HKEYS", key(r)], compare: "unordered" }),
    (r) => ({ args: ["HVALS", key(r)], compare: "unordered" }),
    (r) => ({ args: ["HGETALL", key(r)], compare: "pairs" }),
    (r) => ({
      args: [
        "HRANDFIELD",
        key(r),
        ...(r.chance(0.7) ? [int(r), ...opt(r, 0.4, "WITHVALUES")] : []),
      ],
      compare: "shape",
    }),
    (r) => ({
      args: [
        "HSCAN",
        key(r),
        "0",
        ...opt(r, 0.4, "MATCH", r.pick(["*", "a*", "[ab]", "?", "\\*"])),
        "COUNT",
        "1000",
      ],
      compare: "scanpairs",
    }),
  ],
  lists: [
    (r) => ["LPUSH", key(r), ...some(r, value)],
    (r) => ["RPUSH", key(r), ...some(r, value)],
    (r) => ["LPUSHX", key(r), ...some(r, value)],
    (r) => ["RPUSHX", key(r), ...some(r, value)],
    (r) => ["LPOP", key(r), ...opt(r, 0.4, int(r))],
    (r) => ["RPOP", key(r), ...opt(r, 0.4, int(r))],
    (r) => ["LRANGE", key(r), int(r), int(r)],
    (r) => ["LINDEX", key(r), int(r)],
    (r) => ["LSET", key(r), int(r), value(r)],
    (
      r,
    ) => ["LINSERT", key(r), r.pick(["BEFORE", "AFTER", "before", "MIDDLE"]), member(r), value(r)],
    (r) => ["LREM", key(r), int(r), member(r)],
    (r) => ["LTRIM", key(r), int(r), int(r)],
    (r) => ["LLEN", key(r)],
    (
      r,
    ) => [
      "LPOS",
      key(r),
      member(r),
      ...flags(r, ["RANK", "COUNT", "MAXLEN"]).flatMap((f) => [f, int(r)]),
    ],
    (r) => ["LMOVE", key(r), key(r), r.pick(["LEFT", "RIGHT"]), r.pick(["LEFT", "RIGHT", "UP"])],
    (r) => ["RPOPLPUSH", key(r), key(r)],
    (
      r,
    ) => [
      "LMPOP",
      r.chance(0.9) ? String(1 + r.int(3)) : int(r),
      ...some(r, key, 1, 3),
      r.pick(["LEFT", "RIGHT", "left", "UP"]),
      ...opt(r, 0.5, "COUNT", int(r)),
    ],
  ],
  sets: [
    (r) => ["SADD", key(r), ...some(r, member)],
    (r) => ["SREM", key(r), ...some(r, member)],
    (r) => ["SISMEMBER", key(r), member(r)],
    (r) => ["SMISMEMBER", key(r), ...some(r, member)],
    (r) => ["SCARD", key(r)],
    (r) => ({ args: ["SMEMBERS", key(r)], compare: "unordered" }),
    (r) => ({ args: ["SINTER", ...some(r, key)], compare: "unordered" }),
    (r) => ({ args: ["SUNION", ...some(r, key)], compare: "unordered" }),
    (r) => ({ args: ["SDIFF", ...some(r, key)], compare: "unordered" }),
    (r) => [r.pick(["SINTERSTORE", "SUNIONSTORE", "SDIFFSTORE"]), key(r), ...some(r, key)],
    (
      r,
    ) => [
      "SINTERCARD",
      r.chance(0.9) ? String(1 + r.int(3)) : int(r),
      ...some(r, key, 1, 3),
      ...opt(r, 0.4, "LIMIT", int(r)),
    ],
    (r) => ["SMOVE", key(r), key(r), member(r)],
    (r) => {
      const k = key(r);
      return { args: ["SPOP", k, ...opt(r, 0.5, int(r))], compare: "shape", thenDel: k };
    },
    (r) => ({ args: ["SRANDMEMBER", key(r), ...opt(r, 0.7, int(r))], compare: "shape" }),
    (r) => ({
      args: [
        "SSCAN",
        key(r),
        "0",
        ...opt(r, 0.4, "MATCH", r.pick(["*", "a*", "[ab]", "?"])),
        "COUNT",
        "1000",
      ],
      compare: "scan",
    }),
  ],
  zsets: [
    (
      r,
    ) => [
      "ZADD",
      key(r),
      ...flags(r, ["NX", "XX", "GT", "LT", "CH", "INCR"], 0.2),
      ...pairs(r, () => [float(r), member(r)], 1, r.chance(0.8) ? 3 : 1),
    ],
    (r) => ["ZREM", key(r), ...some(r, member)],
    (r) => ["ZSCORE", key(r), member(r)],
    (r) => ["ZMSCORE", key(r), ...some(r, member)],
    (r) => ["ZINCRBY", key(r), float(r), member(r)],
    (r) => ["ZCARD", key(r)],
    (r) => ["ZCOUNT", key(r), r.pick(SCORE_BOUNDS), r.pick(SCORE_BOUNDS)],
    (r) => ["ZLEXCOUNT", key(r), r.pick(LEX_BOUNDS), r.pick(LEX_BOUNDS)],
    (r) => zrangeArgs(r, "ZRANGE"),
    (r) => zrangeArgs(r, "ZRANGESTORE"),
    (
      r,
    ) => [
      r.pick(["ZRANGEBYSCORE", "ZREVRANGEBYSCORE"]),
      key(r),
      r.pick(SCORE_BOUNDS),
      r.pick(SCORE_BOUNDS),
      ...opt(r, 0.4, "WITHSCORES"),
      ...opt(r, 0.3, "LIMIT", int(r), int(r)),
    ],
    (
      r,
    ) => [
      r.pick(["ZRANGEBYLEX", "ZREVRANGEBYLEX"]),
      key(r),
      r.pick(LEX_BOUNDS),
      r.pick(LEX_BOUNDS),
      ...opt(r, 0.3, "LIMIT", int(r), int(r)),
    ],
    (r) => ["ZREVRANGE", key(r), int(r), int(r), ...opt(r, 0.4, "WITHSCORES")],
    (r) => [r.pick(["ZRANK", "ZREVRANK"]), key(r), member(r)],
    (r) => [r.pick(["ZPOPMIN", "ZPOPMAX"]), key(r), ...opt(r, 0.5, int(r))],
    (
      r,
    ) => [
      "ZMPOP",
      r.chance(0.9) ? String(1 + r.int(3)) : int(r),
      ...some(r, key, 1, 3),
      r.pick(["MIN", "MAX", "min", "UP"]),
      ...opt(r, 0.5, "COUNT", int(r)),
    ],
    (r) => ["ZREMRANGEBYSCORE", key(r), r.pick(SCORE_BOUNDS), r.pick(SCORE_BOUNDS)],
    (r) => ["ZREMRANGEBYRANK", key(r), int(r), int(r)],
    (r) => ["ZREMRANGEBYLEX", key(r), r.pick(LEX_BOUNDS), r.pick(LEX_BOUNDS)],
    (r) => {
      const n = r.chance(0.9) ? 1 + r.int(3) : 0;
      const ks = some(r, key, n === 0 ? 1 : n, n === 0 ? 2 : n);
      const name = r.pick([
        "ZUNIONSTORE",
        "ZINTERSTORE",
        "ZDIFFSTORE",
        "ZUNION",
        "ZINTER",
        "ZDIFF",
      ]);
      const store = name.endsWith("STORE");
      const args = [name, ...(store ? [key(r)] : []), n === 0 ? int(r) : String(n), ...ks];
      if (!name.startsWith("ZDIFF")) {
        if (r.chance(0.3)) args.push("WEIGHTS", ...ks.map(() => float(r)));
        if (r.chance(0.3)) args.push("AGGREGATE", r.pick(["SUM", "MIN", "MAX", "AVG"]));
      }
      if (!store && r.chance(0.4)) args.push("WITHSCORES");
      return args;
    },
    (
      r,
    ) => [
      "ZINTERCARD",
      r.chance(0.9) ? String(1 + r.int(3)) : int(r),
      ...some(r, key, 1, 3),
      ...opt(r, 0.4, "LIMIT", int(r)),
    ],
    (r) => ({
      args: [
        "ZRANDMEMBER",
        key(r),
        ...(r.chance(0.7) ? [int(r), ...opt(r, 0.4, "WITHSCORES")] : []),
      ],
      compare: "shape",
    }),
    (r) => ({
      args: [
        "ZSCAN",
        key(r),
        "0",
        ...opt(r, 0.4, "MATCH", r.pick(["*", "a*", "[ab]", "?"])),
        "COUNT",
        "1000",
      ],
      compare: "scanpairs",
    }),
  ],
  keys: [
    (r) => ["DEL", ...some(r, key)],
    (r) => ["UNLINK", ...some(r, key)],
    (r) => ["EXISTS", ...some(r, key)],
    (r) => ["TOUCH", ...some(r, key)],
    (r) => ["RENAME", key(r), key(r)],
    (r) => ["RENAMENX", key(r), key(r)],
    (
      r,
    ) => [
      "COPY",
      key(r),
      key(r),
      ...opt(r, 0.5, "REPLACE"),
      ...opt(r, 0.1, "DB", r.pick(["0", "x"])),
    ],
    (r) => ["TYPE", key(r)],
    (
      r,
    ) => [
      r.pick(["EXPIRE", "PEXPIRE"]),
      key(r),
      ttl(r),
      ...flags(r, ["NX", "XX", "GT", "LT"], 0.15),
    ],
    (
      r,
    ) => [
      r.pick(["EXPIREAT", "PEXPIREAT"]),
      key(r),
      r.chance(0.7) ? String(4_000_000_000 + r.int(1000)) : int(r),
      ...flags(r, ["NX", "XX", "GT", "LT"], 0.15),
    ],
    (r) => ({ args: [r.pick(["TTL", "EXPIRETIME"]), key(r)], compare: "ttl" }),
    (r) => ({ args: [r.pick(["PTTL", "PEXPIRETIME"]), key(r)], compare: "pttl" }),
    (r) => ["PERSIST", key(r)],
    (_r) => ({ args: ["DBSIZE"], compare: "dbsize" }),
    (r) => ({
      args: ["KEYS", r.pick(["*", "k*", "k[0-2]", "?", "*5", "\\{x}*", "[^k]*", ""])],
      compare: "unordered",
    }),
    (r) => ({
      args: [
        "SCAN",
        "0",
        ...flags(r, ["MATCH", "TYPE"], 0.4).flatMap((f) =>
          f === "MATCH"
            ? [f, r.pick(["*", "k*", "k[0-2]", "?*"])]
            : [f, r.pick(["string", "list", "set", "zset", "hash", "stream", "none", "STRING"])]
        ),
        "COUNT",
        "1000",
      ],
      compare: "scan",
    }),
    (_r) => ({ args: ["RANDOMKEY"], compare: "shape" }),
    (r) => ({
      args: ["OBJECT", r.pick(["ENCODING", "REFCOUNT", "IDLETIME", "FREQ"]), key(r)],
      compare: "shape",
    }),
    (
      r,
    ) => [
      "SORT",
      key(r),
      ...opt(r, 0.3, "ALPHA"),
      ...opt(r, 0.3, "DESC"),
      ...opt(r, 0.2, "LIMIT", int(r), int(r)),
    ],
  ],
};

Object.assign(MAKERS, MORE_FAMILIES);

const FAMILIES = Object.keys(MAKERS);

/** One random command. */
export function randomCommand(rng: Rng): Gen {
  const family = rng.pick(FAMILIES);
  const made = rng.pick(MAKERS[family]!)(rng);
  const gen: Gen = Array.isArray(made) ? { args: made, compare: "exact" } : made;
  // Wrong arity sometimes: drop or add an argument.
  if (rng.chance(0.02) && gen.args.length > 1) {
    gen.args = gen.args.slice(0, rng.int(gen.args.length - 1) + 1);
  } else if (rng.chance(0.01)) {
    gen.args = [...gen.args, value(rng)];
  }
  // Lower-case command names sometimes.
  if (rng.chance(0.1)) gen.args[0] = gen.args[0]!.toLowerCase();
  return gen;
}

/** Names of the families (for reports). */
export const FAMILY_NAMES = FAMILIES;
