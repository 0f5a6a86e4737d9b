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

/** Redis 7.0's defaults: hash/zset-max-listpack-entries, -value; set-max-intset-entries. */
const LISTPACK_ENTRIES_MAX = 128;
const LISTPACK_VALUE_BYTES_MAX = 64;
const INTSET_ENTRIES_MAX = 512;

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
export function memberEncoding(db: Database, entry: ValueEntry): string {
  const meta = decodeMeta(entry.value, entry.expireAtMs);
  if (meta.type === TYPE_LIST) return "quicklist";
  const space = spaceOf(meta.type);
  if (meta.type === TYPE_SET) {
    if (meta.size > INTSET_ENTRIES_MAX) return "hashtable";
    for (const [k] of members(db, space, meta.version)) {
      if (!isIntegerMember(memberOf(k))) return "hashtable";
    }
    return "intset";
  }
  const big = meta.type === TYPE_HASH ? "hashtable" : "skiplist";
  if (meta.size > LISTPACK_ENTRIES_MAX) return big;
  for (const [k, v] of members(db, space, meta.version)) {
    if (memberOf(k).length > LISTPACK_VALUE_BYTES_MAX) return big;
    if (meta.type === TYPE_HASH && v.length > LISTPACK_VALUE_BYTES_MAX) return big;
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
