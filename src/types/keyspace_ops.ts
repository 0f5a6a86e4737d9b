/**
 * RENAME and COPY of member-type keys (ARCHITECTURE.md § "Member types"): RENAME moves the
 * metadata record and points the registry at the new name (the members stay under their
 * version: O(1)); COPY takes a new version and copies every member (O(n), as in Redis).
 *
 * @module
 */

import type { Database, ValueEntry, WriteOp } from "../engine/mod.ts";
import {
  SPACE_HASH_FIELD,
  SPACE_LIST_ITEM,
  SPACE_SET_MEMBER,
  SPACE_ZSET_MEMBER,
  SPACE_ZSET_SCORE,
  TYPE_HASH,
  TYPE_LIST,
  TYPE_SET,
  TYPE_ZSET,
  type VersionAllocator,
} from "../keyspace/mod.ts";
import { decodeMeta, encodeMeta, members, registryKey, writeU64 } from "./layout.ts";

/** The internal spaces holding the members of each member type. */
export const TYPE_SPACES: ReadonlyMap<number, readonly number[]> = new Map([
  [TYPE_HASH, [SPACE_HASH_FIELD]],
  [TYPE_SET, [SPACE_SET_MEMBER]],
  [TYPE_ZSET, [SPACE_ZSET_MEMBER, SPACE_ZSET_SCORE]],
  [TYPE_LIST, [SPACE_LIST_ITEM]],
]);

/** True when a `KIND_META` value belongs to a member type (hash, set, sorted set, list). */
export function isMemberType(metaValue: Uint8Array): boolean {
  return metaValue.length > 0 && TYPE_SPACES.has(metaValue[0]!);
}

function metaWrite(key: Uint8Array, value: Uint8Array, expireAtMs: number): WriteOp {
  return expireAtMs === 0 ? { type: "meta", key, value } : { type: "meta", key, value, expireAtMs };
}

/** The ops of RENAME `src` (holding `e`) to `dst`. */
export function renameOps(src: Uint8Array, dst: Uint8Array, e: ValueEntry): WriteOp[] {
  const meta = decodeMeta(e.value, e.expireAtMs);
  return [
    { type: "delete", key: src },
    metaWrite(dst, e.value, e.expireAtMs),
    { type: "put", key: registryKey(meta.version), value: dst },
  ];
}

/** The ops of COPY `src` (holding `e`) to `dst`: a new version with a copy of every member. */
export function copyOps(
  db: Database,
  versions: VersionAllocator,
  dst: Uint8Array,
  e: ValueEntry,
): WriteOp[] {
  const meta = decodeMeta(e.value, e.expireAtMs);
  const { version, op } = versions.allocate();
  const ops: WriteOp[] = [op, { type: "put", key: registryKey(version), value: dst }];
  for (const space of TYPE_SPACES.get(meta.type) ?? []) {
    for (const [k, v] of members(db, space, meta.version)) {
      const key = k.slice();
      writeU64(key, 2, version);
      ops.push({ type: "put", key, value: v });
    }
  }
  ops.push(metaWrite(dst, encodeMeta({ ...meta, version }), e.expireAtMs));
  return ops;
}
