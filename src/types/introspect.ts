/**
 * OBJECT ENCODING and MEMORY USAGE for hashes, sets, sorted sets and lists: the encoding Redis
 * 7.0 would pick with its default thresholds (so tools that branch on it behave), and a size
 * estimate from a few members, as Redis samples (ARCHITECTURE.md § "Member types").
 *
 * @module
 */

import type { Database, ValueEntry } from "../engine/mod.ts";
import {
  SPACE_HASH_FIELD,
  SPACE_LIST_ITEM,
  SPACE_SET_MEMBER,
  SPACE_ZSET_MEMBER,
  TYPE_HASH,
  TYPE_LIST,
  TYPE_SET,
  TYPE_ZSET,
} from "../keyspace/mod.ts";
import { decodeMeta, memberOf, members } from "./layout.ts";

/**
 * The thresholds Redis picks an encoding by (CONFIG SET changes them, as in Redis; here they
 * only change what OBJECT ENCODING answers: the storage is the same for every size).
 */
export interface TypeEncodingConfig {
  /** `hash-max-listpack-entries` (alias `hash-max-ziplist-entries`). */
  hashMaxListpackEntries: number;
  /** `hash-max-listpack-value`: longest field or value of a listpack hash, bytes. */
  hashMaxListpackValue: number;
  /** `zset-max-listpack-entries`. */
  zsetMaxListpackEntries: number;
  /** `zset-max-listpack-value`: longest member of a listpack sorted set, bytes. */
  zsetMaxListpackValue: number;
  /** `set-max-intset-entries`. */
  setMaxIntsetEntries: number;
  /** `list-max-listpack-size` (accepted and shown; lists always answer `quicklist`). */
  listMaxListpackSize: number;
  /** `list-compress-depth` (accepted and shown; items are never compressed one by one). */
  listCompressDepth: number;
}

/** Redis 7.0's defaults. */
export function typeEncodingDefaults(): TypeEncodingConfig {
  return {
    hashMaxListpackEntries: 512,
    hashMaxListpackValue: 64,
    zsetMaxListpackEntries: 128,
    zsetMaxListpackValue: 64,
    setMaxIntsetEntries: 512,
    listMaxListpackSize: -2,
    listCompressDepth: 0,
  };
}

const LONG_MAX = 2n ** 63n - 1n;
const INT_MIN = -(2n ** 31n);
const INT_MAX = 2n ** 31n - 1n;

/** How a CONFIG parameter of the thresholds is set: its field, range and whether units apply. */
export interface TypeEncodingParam {
  /** The field it sets. */
  readonly key: keyof TypeEncodingConfig;
  /** Smallest accepted value. */
  readonly min: bigint;
  /** Largest accepted value (a larger one is kept as 2^53 - 1). */
  readonly max: bigint;
  /** A memory amount: `1kb`, `2mb` ... accepted, as Redis's MEMORY_CONFIG parameters. */
  readonly memory: boolean;
}

function param(key: keyof TypeEncodingConfig, min: bigint, max: bigint, memory = false) {
  return { key, min, max, memory };
}

/**
 * CONFIG names of the thresholds (Redis 7.0's, with the 6.x `ziplist` aliases) -> how they are
 * set, with Redis's ranges (sizes are 0 ... LONG_MAX, the list ones ints).
 */
export const TYPE_ENCODING_PARAMS: Readonly<Record<string, TypeEncodingParam>> = {
  "hash-max-listpack-entries": param("hashMaxListpackEntries", 0n, LONG_MAX),
  "hash-max-ziplist-entries": param("hashMaxListpackEntries", 0n, LONG_MAX),
  "hash-max-listpack-value": param("hashMaxListpackValue", 0n, LONG_MAX, true),
  "hash-max-ziplist-value": param("hashMaxListpackValue", 0n, LONG_MAX, true),
  "zset-max-listpack-entries": param("zsetMaxListpackEntries", 0n, LONG_MAX),
  "zset-max-ziplist-entries": param("zsetMaxListpackEntries", 0n, LONG_MAX),
  "zset-max-listpack-value": param("zsetMaxListpackValue", 0n, LONG_MAX, true),
  "zset-max-ziplist-value": param("zsetMaxListpackValue", 0n, LONG_MAX, true),
  "set-max-intset-entries": param("setMaxIntsetEntries", 0n, LONG_MAX),
  "list-max-listpack-size": param("listMaxListpackSize", INT_MIN, INT_MAX),
  "list-max-ziplist-size": param("listMaxListpackSize", INT_MIN, INT_MAX),
  "list-compress-depth": param("listCompressDepth", 0n, INT_MAX),
};

function spaceOf(type: number): number {
  return type === TYPE_HASH
    ? SPACE_HASH_FIELD
    : type === TYPE_SET
    ? SPACE_SET_MEMBER
    : type === TYPE_ZSET
    ? SPACE_ZSET_MEMBER
    : SPACE_LIST_ITEM;
}

/** True when `b` is an integer Redis's intset would hold (a strict int64). */
function isIntegerMember(b: Uint8Array): boolean {
  if (b.length === 0 || b.length > 20) return false;
  const s = new TextDecoder().decode(b);
  if (!/^-?(0|[1-9]\d*)$/.test(s) || s === "-0") return false;
  const v = BigInt(s);
  return v >= -(2n ** 63n) && v < 2n ** 63n;
}

/** The encoding OBJECT ENCODING answers for a member-type key. */
export function memberEncoding(
  db: Database,
  entry: ValueEntry,
  config: TypeEncodingConfig = typeEncodingDefaults(),
): string {
  const meta = decodeMeta(entry.value, entry.expireAtMs);
  if (meta.type === TYPE_LIST) return "quicklist";
  const space = spaceOf(meta.type);
  if (meta.type === TYPE_SET) {
    if (meta.size > config.setMaxIntsetEntries) return "hashtable";
    for (const [k] of members(db, space, meta.version)) {
      if (!isIntegerMember(memberOf(k))) return "hashtable";
    }
    return "intset";
  }
  const hash = meta.type === TYPE_HASH;
  const big = hash ? "hashtable" : "skiplist";
  const entriesMax = hash ? config.hashMaxListpackEntries : config.zsetMaxListpackEntries;
  const valueMax = hash ? config.hashMaxListpackValue : config.zsetMaxListpackValue;
  if (meta.size > entriesMax) return big;
  for (const [k, v] of members(db, space, meta.version)) {
    if (memberOf(k).length > valueMax) return big;
    if (hash && v.length > valueMax) return big;
  }
  return "listpack";
}

/**
 * MEMORY USAGE of a member-type key: the key, its record, and per member its bytes plus the
 * engine's per-entry overhead, averaged over `samples` members (0 = all) times the size.
 */
export function memberMemoryUsage(
  db: Database,
  key: Uint8Array,
  entry: ValueEntry,
  samples = 5,
): number {
  const meta = decodeMeta(entry.value, entry.expireAtMs);
  const perEntry = 16 + 10;
  let seen = 0;
  let bytes = 0;
  for (const [k, v] of members(db, spaceOf(meta.type), meta.version)) {
    bytes += k.length - 10 + v.length + perEntry;
    if (++seen === samples) break;
  }
  const avg = seen === 0 ? 0 : bytes / seen;
  // Sorted sets keep each member twice (by member and in score order).
  const copies = meta.type === TYPE_ZSET ? 2 : 1;
  return key.length + entry.value.length + 48 + Math.round(avg * meta.size * copies);
}
