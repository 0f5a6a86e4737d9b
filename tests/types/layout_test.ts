/**
 * The member types' storage codec (`src/types/layout.ts`, ARCHITECTURE.md § "Member types"):
 * metadata and scores round-trip, the worked example (`HSET h f v` on a new database, version
 * 7) and the documented score bytes are reproduced byte for byte, scores sort numerically as
 * unsigned bytes, and cut or version-0 metadata is a `CorruptionError`.
 */

import { assertEquals, assertThrows } from "@std/assert";
import { CorruptionError } from "../../src/errors.ts";
import {
  SPACE_HASH_FIELD,
  SPACE_LIST_ITEM,
  TYPE_HASH,
  TYPE_LIST,
  TYPE_SET,
  TYPE_ZSET,
} from "../../src/keyspace/mod.ts";
import {
  decodeMeta,
  decodeScore,
  encodeMeta,
  encodeScore,
  internalIndexKey,
  LIST_HEAD_INITIAL,
  memberKey,
  memberOf,
  registryKey,
  type TypeMeta,
  versionOf,
} from "../../src/types/layout.ts";
import { compareBytes } from "../../src/util/bytes.ts";
import { Rng } from "../_helpers/random.ts";
import { hexBytes } from "../_helpers/hex.ts";

Deno.test("the worked example: HSET h f v at version 7 writes the documented bytes", () => {
  const meta: TypeMeta = { type: TYPE_HASH, version: 7, size: 1, head: 0, expireAtMs: 0 };
  assertEquals(encodeMeta(meta), hexBytes("02 07 01"));
  assertEquals(decodeMeta(hexBytes("02 07 01"), 0), meta);
  assertEquals(registryKey(7), hexBytes("ff 20 00 00 00 00 00 00 00 07"));
  const field = memberKey(SPACE_HASH_FIELD, 7, new TextEncoder().encode("f"));
  assertEquals(field, hexBytes("ff 21 00 00 00 00 00 00 00 07 66"));
  assertEquals([versionOf(field), memberOf(field)], [7, hexBytes("66")]);
});

Deno.test("metadata round-trips for every type; a list keeps its head", () => {
  for (const type of [TYPE_HASH, TYPE_SET, TYPE_ZSET]) {
    const meta: TypeMeta = { type, version: 2 ** 40, size: 123_456, head: 0, expireAtMs: 99 };
    assertEquals(decodeMeta(encodeMeta(meta), 99), meta);
  }
  const list: TypeMeta = {
    type: TYPE_LIST,
    version: 1,
    size: 3,
    head: LIST_HEAD_INITIAL - 5,
    expireAtMs: 0,
  };
  assertEquals(decodeMeta(encodeMeta(list), 0), list);
  const item = internalIndexKey(SPACE_LIST_ITEM, 1, LIST_HEAD_INITIAL);
  assertEquals(item, hexBytes("ff 25 00 00 00 00 00 00 00 01 00 10 00 00 00 00 00 00"));
});

Deno.test("decodeMeta() rejects cut metadata and version 0 with a CorruptionError", () => {
  const list = encodeMeta({
    type: TYPE_LIST,
    version: 300,
    size: 2,
    head: LIST_HEAD_INITIAL,
    expireAtMs: 0,
  });
  for (let n = 0; n < list.length; n++) {
    assertThrows(() => decodeMeta(list.subarray(0, n), 0), CorruptionError, "Cannot decode");
  }
  assertThrows(
    () => decodeMeta(hexBytes("02 00 01"), 0),
    CorruptionError,
    "Cannot decode key metadata: version 0",
  );
  // A varint that never ends is cut input, not a huge number.
  assertThrows(() => decodeMeta(hexBytes("02 ff ff ff"), 0), CorruptionError, "Cannot decode");
});

Deno.test("encodeScore() writes the documented bytes and decodeScore() reads them back", () => {
  const cases: [number, string][] = [
    [-Infinity, "00 0f ff ff ff ff ff ff"],
    [-1, "40 0f ff ff ff ff ff ff"],
    [0, "80 00 00 00 00 00 00 00"],
    [-0, "80 00 00 00 00 00 00 00"],
    [1.5, "bf f8 00 00 00 00 00 00"],
    [Infinity, "ff f0 00 00 00 00 00 00"],
  ];
  for (const [score, bytes] of cases) {
    const out = new Uint8Array(10);
    encodeScore(score, out, 2);
    assertEquals(out.subarray(2), hexBytes(bytes), String(score));
    assertEquals(decodeScore(out, 2), score === 0 ? 0 : score);
  }
});

Deno.test("encoded scores sort as the numbers do (unsigned byte order)", () => {
  const rng = new Rng(20261130);
  const scores = [-Infinity, Infinity, 0, -1e308, 1e308, -5e-324, 5e-324];
  for (let i = 0; i < 500; i++) scores.push((rng.next() - 0.5) * 10 ** rng.int(30));
  const encoded = scores.map((s) => {
    const out = new Uint8Array(8);
    encodeScore(s, out, 0);
    return { s, out };
  });
  encoded.sort((a, b) => compareBytes(a.out, b.out));
  for (let i = 1; i < encoded.length; i++) {
    assertEquals(encoded[i - 1]!.s <= encoded[i]!.s, true, `${encoded[i - 1]!.s} ${encoded[i]!.s}`);
  }
  for (const { s, out } of encoded) assertEquals(decodeScore(out, 0), s);
});
