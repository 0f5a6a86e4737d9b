/**
 * More command families of the differential fuzzer (resp_diff_commands.ts): collections past
 * Redis's small encodings, transaction edges, connection commands and blocking commands.
 *
 * @module
 */

import type { Rng } from "./random.ts";
import type { Maker } from "./resp_diff_commands.ts";
import { flags, int, key, opt, some, value } from "./resp_diff_values.ts";

/** Members of the big collections: more than Redis's listpack limits (128 entries, 64 bytes). */
function bigMember(r: Rng): string {
  const i = r.int(300);
  return r.chance(0.1) ? `m${i}-${"y".repeat(70)}` : `m${i}`;
}

/** Commands building and reading collections past Redis's small encodings. */
const BIG: Maker[] = [
  (r) => ["RPUSH", key(r), ...Array.from({ length: 50 + r.int(200) }, () => bigMember(r))],
  (r) => ["SADD", key(r), ...Array.from({ length: 50 + r.int(200) }, () => bigMember(r))],
  (
    r,
  ) => [
    "SADD",
    key(r),
    ...Array.from({ length: 50 + r.int(600) }, () => String(r.int(1000) - 100)),
  ],
  (
    r,
  ) => [
    "ZADD",
    key(r),
    ...Array.from({ length: 50 + r.int(200) }, () => [String(r.int(50)), bigMember(r)]).flat(),
  ],
  (
    r,
  ) => [
    "HSET",
    key(r),
    ...Array.from({ length: 50 + r.int(200) }, () => [bigMember(r), bigMember(r)]).flat(),
  ],
  (
    r,
  ) => [
    "LPOS",
    key(r),
    bigMember(r),
    ...flags(r, ["RANK", "COUNT", "MAXLEN"], 0.5).flatMap((f) => [f, String(r.int(20) - 5)]),
  ],
  (r) => ["LRANGE", key(r), String(r.int(300) - 150), String(r.int(300) - 150)],
  (r) => ["LINDEX", key(r), String(r.int(300) - 150)],
  (r) => ["LREM", key(r), String(r.int(6) - 3), bigMember(r)],
  (r) => ["LINSERT", key(r), r.pick(["BEFORE", "AFTER"]), bigMember(r), "ins"],
  (r) => ["LTRIM", key(r), String(r.int(100) - 20), String(r.int(300) - 50)],
  (r) => ["LSET", key(r), String(r.int(300) - 150), "set"],
  (
    r,
  ) => [
    "ZRANGE",
    key(r),
    String(r.int(60) - 5),
    String(r.int(60)),
    "BYSCORE",
    ...opt(r, 0.5, "LIMIT", String(r.int(30) - 3), String(r.int(40) - 5)),
    ...opt(r, 0.3, "WITHSCORES"),
  ],
  (
    r,
  ) => [
    "ZRANGE",
    key(r),
    `[m${r.int(300)}`,
    `(m${r.int(300)}`,
    "BYLEX",
    ...opt(r, 0.5, "LIMIT", String(r.int(30)), String(r.int(40) - 5)),
  ],
  (
    r,
  ) => [
    "ZRANGE",
    key(r),
    String(r.int(300) - 150),
    String(r.int(300) - 150),
    ...opt(r, 0.3, "REV"),
    ...opt(r, 0.3, "WITHSCORES"),
  ],
  (r) => [r.pick(["ZRANK", "ZREVRANK", "ZSCORE"]), key(r), bigMember(r)],
  (r) => ["ZCOUNT", key(r), String(r.int(60)), `(${r.int(60)}`],
  (r) => ["ZLEXCOUNT", key(r), `[m${r.int(300)}`, "+"],
  (r) => ["ZREMRANGEBYRANK", key(r), String(r.int(100) - 50), String(r.int(100) - 50)],
  (r) => [r.pick(["ZPOPMIN", "ZPOPMAX"]), key(r), String(r.int(10))],
  (r) => ["SINTERCARD", "2", key(r), key(r), ...opt(r, 0.5, "LIMIT", String(r.int(50)))],
  (r) => ["ZINTERCARD", "2", key(r), key(r), ...opt(r, 0.5, "LIMIT", String(r.int(50)))],
  (r) => ["SMISMEMBER", key(r), ...Array.from({ length: 5 }, () => bigMember(r))],
  (r) => ["HMGET", key(r), ...Array.from({ length: 5 }, () => bigMember(r))],
  (r) => ({ args: [r.pick(["SMEMBERS", "HKEYS", "HVALS"]), key(r)], compare: "unordered" }),
  (r) => ({ args: ["HGETALL", key(r)], compare: "pairs" }),
  (r) => ({ args: [r.pick(["SINTER", "SUNION", "SDIFF"]), key(r), key(r)], compare: "unordered" }),
  (
    r,
  ) => [
    "SORT",
    key(r),
    ...opt(r, 0.6, "ALPHA"),
    ...opt(r, 0.3, "DESC"),
    ...opt(r, 0.5, "LIMIT", String(r.int(30) - 5), String(r.int(40) - 5)),
  ],
  (r) => ({
    args: [r.pick(["SRANDMEMBER", "ZRANDMEMBER", "HRANDFIELD"]), key(r), String(r.int(600) - 300)],
    compare: "shape",
  }),
  (r) => ["TYPE", key(r)],
];

/** Transaction edges: nesting, EXEC/DISCARD outside, WATCH inside. */
const TXN: Maker[] = [
  (_r) => ["EXEC"],
  (_r) => ["DISCARD"],
  (r) => ["WATCH", ...some(r, key)],
  (_r) => ["UNWATCH"],
];

/** Connection and server commands whose replies do not depend on the implementation. */
const CONN: Maker[] = [
  (r) => ["PING", ...some(r, value, 0, 2)],
  (r) => ["ECHO", ...some(r, value, 0, 2)],
  (r) => ["SELECT", r.pick(["0", "16", "-1", "x", ""])],
  (r) => ({
    args: [
      "HELLO",
      ...opt(r, 0.8, r.pick(["2", "3", "4", "1", "x", ""])),
      ...opt(r, 0.2, r.pick(["SETNAME", "AUTH"]), "n"),
    ],
    compare: "shape",
  }),
  (r) => ["CLIENT", "SETNAME", r.pick(["n", "a b", "", "\x01", "x"])],
  (_r) => ["CLIENT", "GETNAME"],
  (r) => ({ args: ["CLIENT", r.pick(["ID", "INFO"])], compare: "shape" }),
  (r) => ["CONFIG", "GET", r.pick(["maxmemory", "maxmemory-policy", "nope", "maxclients"])],
  (r) => ({ args: [r.pick(["TIME", "LASTSAVE"])], compare: "shape" }),
  (r) => ["OBJECT", r.pick(["FREQ", "NOPE"]), ...some(r, key, 0, 2)],
  (r) => [r.pick(["GET", "SET", "DEL", "LPUSH", "ZADD", "HSET", "SADD", "EXPIRE"])],
  (r) => [r.pick(["NOSUCHCMD", "EVALX", "GETT"]), ...some(r, value, 0, 2)],
];

/** A blocking timeout: short (an empty key answers nil soon on both), or refused. */
function timeout(r: Rng): string {
  return r.chance(0.8)
    ? r.pick(["0.01", "0.02", ".01"])
    : r.pick(["-1", "x", "", "-0.5", "1e5000", "nan", "-inf"]);
}

/** Blocking commands: immediate with data, nil after a short timeout without. */
const BLOCKING: Maker[] = [
  (r) => [r.pick(["BLPOP", "BRPOP", "BZPOPMIN", "BZPOPMAX"]), ...some(r, key, 1, 3), timeout(r)],
  (
    r,
  ) => [
    "BLMOVE",
    key(r),
    key(r),
    r.pick(["LEFT", "RIGHT"]),
    r.pick(["LEFT", "RIGHT", "X"]),
    timeout(r),
  ],
  (r) => ["BRPOPLPUSH", key(r), key(r), timeout(r)],
  (
    r,
  ) => [
    "BLMPOP",
    timeout(r),
    String(1 + r.int(2)),
    ...some(r, key, 1, 2),
    r.pick(["LEFT", "RIGHT"]),
    ...opt(r, 0.5, "COUNT", int(r)),
  ],
  (
    r,
  ) => [
    "BZMPOP",
    timeout(r),
    String(1 + r.int(2)),
    ...some(r, key, 1, 2),
    r.pick(["MIN", "MAX"]),
    ...opt(r, 0.5, "COUNT", int(r)),
  ],
];

/** A string of 0-200 bytes from a small alphabet (LCS finds matches, bit commands see bytes). */
function text(r: Rng): string {
  let s = "";
  const n = r.int(200);
  for (let i = 0; i < n; i++) s += r.pick(["a", "b", "c", "\x00", "\xff", "7"]);
  return s;
}

function bitType(r: Rng): string {
  return r.pick([
    "u1",
    "i1",
    "u8",
    "i8",
    "u16",
    "i32",
    "u63",
    "i64",
    "u64",
    "i65",
    "u0",
    "x8",
    "U8",
    "i",
  ]);
}

function bitOffset(r: Rng): string {
  return r.chance(0.8)
    ? String(r.int(300))
    : r.pick(["#0", "#3", "#-1", "-1", "4294967296", "x", "", "#"]);
}

/** String, bit and LCS commands over longer values. */
const TEXT: Maker[] = [
  (r) => ["SET", key(r), text(r)],
  (r) => ["APPEND", key(r), text(r)],
  (r) => ["SETRANGE", key(r), String(r.int(250)), text(r)],
  (r) => ["GETRANGE", key(r), String(r.int(400) - 200), String(r.int(400) - 200)],
  (
    r,
  ) => [
    "LCS",
    key(r),
    key(r),
    ...flags(r, ["LEN", "IDX", "WITHMATCHLEN"], 0.4),
    ...opt(r, 0.4, "MINMATCHLEN", String(r.int(8) - 1)),
  ],
  (
    r,
  ) => [
    "BITCOUNT",
    key(r),
    String(r.int(400) - 200),
    String(r.int(400) - 200),
    ...opt(r, 0.5, r.pick(["BIT", "BYTE"])),
  ],
  (
    r,
  ) => [
    "BITPOS",
    key(r),
    r.pick(["0", "1"]),
    String(r.int(400) - 200),
    ...opt(r, 0.7, String(r.int(400) - 200), ...opt(r, 0.5, r.pick(["BIT", "BYTE"]))),
  ],
  (r) => ["BITOP", r.pick(["AND", "OR", "XOR", "NOT"]), key(r), ...some(r, key, 1, 3)],
  (
    r,
  ) => [
    "BITFIELD",
    key(r),
    ...some(
      r,
      (q) =>
        q.chance(0.4)
          ? ["GET", bitType(q), bitOffset(q)]
          : q.chance(0.5)
          ? ["SET", bitType(q), bitOffset(q), int(q)]
          : q.chance(0.8)
          ? ["INCRBY", bitType(q), bitOffset(q), int(q)]
          : ["OVERFLOW", q.pick(["WRAP", "SAT", "FAIL", "x"])],
      1,
      4,
    ).flat(),
  ],
  (
    r,
  ) => [
    "BITFIELD_RO",
    key(r),
    ...some(
      r,
      (q) => q.chance(0.9) ? ["GET", bitType(q), bitOffset(q)] : ["SET", "u8", "0", "1"],
      1,
      3,
    ).flat(),
  ],
  (r) => ["SETBIT", key(r), String(r.int(2000)), r.pick(["0", "1"])],
  (r) => ["GETBIT", key(r), String(r.int(2000))],
  (r) => ["STRLEN", key(r)],
  (
    r,
  ) => [
    "GETEX",
    key(r),
    ...some(
      r,
      (q) =>
        q.pick([["EX", "100"], ["PX", "100000"], ["PERSIST"], ["EXAT", "4000000000"], ["KEEPTTL"], [
          "EX",
        ]]),
      0,
      2,
    ).flat(),
  ],
];

/** The families, by name. */
export const MORE_FAMILIES: Record<string, Maker[]> = {
  conn: CONN,
  blocking: BLOCKING,
  big: BIG,
  txn: TXN,
  text: TEXT,
};
