/**
 * A hash, set, sorted set or list as JSON (HTTP `GET /v1/keys/{key}`, ARCHITECTURE.md
 * § "`GET /v1/keys/{key}`"): the first `HTTP_TYPED_MEMBERS_MAX` members, in the order the type
 * keeps them, with `truncated` when the key holds more.
 *
 * @module
 */

import type { Database, ValueEntry } from "../engine/mod.ts";
import {
  SPACE_HASH_FIELD,
  SPACE_LIST_ITEM,
  SPACE_SET_MEMBER,
  SPACE_ZSET_SCORE,
  TYPE_HASH,
  TYPE_LIST,
  TYPE_NAMES,
  TYPE_SET,
  TYPE_ZSET,
} from "../keyspace/mod.ts";
import { HTTP_TYPED_MEMBERS_MAX } from "../limits.ts";
import { decodeMeta, decodeScore, memberOf, members } from "./layout.ts";

/** The JSON body for a member-type key; `encode` turns bytes into a JSON string. */
export function typedValueJson(
  db: Database,
  entry: ValueEntry,
  encode: (bytes: Uint8Array) => string,
): Record<string, unknown> {
  const meta = decodeMeta(entry.value, entry.expireAtMs);
  const space = meta.type === TYPE_HASH
    ? SPACE_HASH_FIELD
    : meta.type === TYPE_SET
    ? SPACE_SET_MEMBER
    : meta.type === TYPE_ZSET
    ? SPACE_ZSET_SCORE
    : SPACE_LIST_ITEM;
  const hash: Record<string, string> = {};
  const list: unknown[] = [];
  let n = 0;
  for (const [k, v] of members(db, space, meta.version)) {
    if (n++ >= HTTP_TYPED_MEMBERS_MAX) break;
    if (meta.type === TYPE_HASH) hash[encode(memberOf(k))] = encode(v);
    else if (meta.type === TYPE_SET) list.push(encode(memberOf(k)));
    else if (meta.type === TYPE_ZSET) {
      const score = decodeScore(k, 10);
      // JSON has no infinities: they are written as Redis prints them.
      list.push({
        member: encode(k.subarray(18)),
        score: Number.isFinite(score) ? score : score > 0 ? "inf" : "-inf",
      });
    } else if (meta.type === TYPE_LIST) list.push(encode(v));
  }
  const body: Record<string, unknown> = {
    type: TYPE_NAMES.get(meta.type),
    size: meta.size,
    value: meta.type === TYPE_HASH ? hash : list,
    truncated: meta.size > HTTP_TYPED_MEMBERS_MAX,
  };
  if (entry.expireAtMs > 0) body.expire_at_ms = entry.expireAtMs;
  return body;
}
