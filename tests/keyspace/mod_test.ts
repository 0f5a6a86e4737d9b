/**
 * The keyspace codec (`src/keyspace/mod.ts`, ARCHITECTURE.md § "Keyspace"): the `KIND_META`
 * header (type byte, varint version) and internal keys (`0xFF`, space, big-endian u64 parts)
 * round-trip, internal keys sort after every user key and by number, and a cut header or
 * version 0 is a `CorruptionError`.
 */

import { assertEquals, assertThrows } from "@std/assert";
import { CorruptionError } from "../../src/errors.ts";
import {
  decodeMetaHeader,
  encodeMetaHeader,
  internalKey,
  internalKeyNumber,
  isInternalKey,
  metaType,
  SPACE_TS_CHUNK,
  TYPE_TIMESERIES,
  TYPE_ZSET,
  USER_KEYS_END,
} from "../../src/keyspace/mod.ts";
import { ByteReader, ByteWriter } from "../../src/util/buffers.ts";
import { compareBytes } from "../../src/util/bytes.ts";

function header(type: number, version: number): Uint8Array {
  const out = new ByteWriter(16);
  encodeMetaHeader(out, { type, version });
  return out.finish();
}

Deno.test("meta header: type byte then varint version, round-trip", () => {
  assertEquals(header(TYPE_ZSET, 7), new Uint8Array([0x04, 0x07]));
  assertEquals(header(TYPE_TIMESERIES, 300), new Uint8Array([0x01, 0xac, 0x02]));
  for (const version of [1, 127, 128, 2 ** 31, Number.MAX_SAFE_INTEGER]) {
    const bytes = header(TYPE_TIMESERIES, version);
    assertEquals(metaType(bytes), TYPE_TIMESERIES);
    assertEquals(decodeMetaHeader(new ByteReader(bytes)), { type: TYPE_TIMESERIES, version });
  }
});

Deno.test("decodeMetaHeader() rejects a cut header and version 0", () => {
  const bytes = header(TYPE_ZSET, 300);
  for (let n = 0; n < bytes.length; n++) {
    assertThrows(
      () => decodeMetaHeader(new ByteReader(bytes.subarray(0, n))),
      CorruptionError,
      "Cannot decode",
    );
  }
  assertThrows(
    () => decodeMetaHeader(new ByteReader(new Uint8Array([TYPE_ZSET, 0]))),
    CorruptionError,
    "Cannot decode key metadata: version 0",
  );
  assertEquals(metaType(new Uint8Array(0)), 0);
});

Deno.test("internal keys: 0xFF, space, big-endian numbers; after every user key", () => {
  const key = internalKey(SPACE_TS_CHUNK, 7, 2 ** 40 + 1);
  assertEquals(
    key,
    new Uint8Array([0xff, 0x03, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 1, 0, 0, 0, 0, 1]),
  );
  assertEquals([internalKeyNumber(key, 2), internalKeyNumber(key, 10)], [7, 2 ** 40 + 1]);
  assertEquals(isInternalKey(key), true);
  assertEquals(isInternalKey(new Uint8Array([0xfe, 0xff])), false);
  assertEquals(compareBytes(new Uint8Array([0xfe, 0xff, 0xff]), USER_KEYS_END) < 0, true);
  assertEquals(compareBytes(key, USER_KEYS_END) > 0, true);
  const a = internalKey(SPACE_TS_CHUNK, 255);
  const b = internalKey(SPACE_TS_CHUNK, 256);
  assertEquals(compareBytes(a, b) < 0, true);
});
