/**
 * The SSTable footer and properties codec (`src/sstable/format.ts`, ARCHITECTURE.md § "Worked
 * example: a whole table"): both round-trip, the footer of the worked example is byte for byte
 * the documented one, and a cut, flipped or out-of-range footer or properties block is a
 * `CorruptionError` naming what is wrong and where.
 */

import { assertEquals, assertThrows } from "@std/assert";
import { CorruptionError } from "../../src/errors.ts";
import { crc32c, maskCrc } from "../../src/util/crc32c.ts";
import {
  decodeFooter,
  decodeProperties,
  encodeFooter,
  encodeProperties,
  FOOTER_SIZE_BYTES,
  TABLE_FORMAT_VERSION,
  type TableProperties,
  type TableStats,
} from "../../src/sstable/format.ts";
import { hexBytes } from "../_helpers/hex.ts";

/** The worked example's footer: bytes 152–215 of the 216-byte table. */
const EXAMPLE_FOOTER = hexBytes(`
  15 00 00 00 00 00 00 00  09 00 00 00 00 00 00 00
  23 00 00 00 00 00 00 00  5a 00 00 00 00 00 00 00
  82 00 00 00 00 00 00 00  11 00 00 00 00 00 00 00
  01 00 00 00  7e e8 e7 40  43 49 54 59 48 53 53 54
`);

const EXAMPLE_HANDLES = {
  filter: { offset: 21, sizeBytes: 9 },
  properties: { offset: 35, sizeBytes: 90 },
  index: { offset: 130, sizeBytes: 17 },
  formatVersion: TABLE_FORMAT_VERSION,
};

const a = new TextEncoder().encode("a");
const EXAMPLE_PROPS: TableProperties = {
  sizeBytes: 216,
  entries: 1,
  smallestKey: a,
  largestKey: a,
  minSeq: 1,
  maxSeq: 1,
  tombstones: 0,
};
const EXAMPLE_STATS: TableStats = {
  dataBlocks: 1,
  rawKeyBytes: 1,
  rawValueBytes: 1,
  dataBytes: 21,
};

Deno.test("encodeFooter() writes the worked example's footer byte for byte", () => {
  assertEquals(encodeFooter(EXAMPLE_HANDLES), EXAMPLE_FOOTER);
  assertEquals(decodeFooter(EXAMPLE_FOOTER, "t.sst", 152), EXAMPLE_HANDLES);
});

Deno.test("footer round-trips large handles", () => {
  const footer = {
    filter: { offset: 0, sizeBytes: 0 },
    properties: { offset: 2 ** 40 + 3, sizeBytes: 88 },
    index: { offset: Number.MAX_SAFE_INTEGER - 100, sizeBytes: 100 },
    formatVersion: TABLE_FORMAT_VERSION,
  };
  const bytes = encodeFooter(footer);
  assertEquals(bytes.length, FOOTER_SIZE_BYTES);
  assertEquals(decodeFooter(bytes, "t.sst", 0), footer);
});

Deno.test("decodeFooter() rejects a bad magic, a flipped bit, another version, with the offset", () => {
  const magic = EXAMPLE_FOOTER.slice();
  magic[63]! ^= 1;
  assertThrows(
    () => decodeFooter(magic, "t.sst", 152),
    CorruptionError,
    "Cannot open table: bad magic number at offset 208 in t.sst",
  );
  // A zero-extended or cut file ends in zeros where the magic belongs.
  assertThrows(
    () => decodeFooter(new Uint8Array(FOOTER_SIZE_BYTES), "t.sst", 0),
    CorruptionError,
    "bad magic number",
  );
  for (const at of [0, 20, 47, 52]) {
    const flipped = EXAMPLE_FOOTER.slice();
    flipped[at]! ^= 0x10;
    assertThrows(
      () => decodeFooter(flipped, "t.sst", 152),
      CorruptionError,
      "Cannot open table: footer checksum mismatch at offset 152 in t.sst",
    );
  }
  const v2 = encodeFooter({ ...EXAMPLE_HANDLES, formatVersion: 2 });
  assertThrows(
    () => decodeFooter(v2, "t.sst", 152),
    CorruptionError,
    "unsupported format version 2 at offset 200 in t.sst",
  );
});

Deno.test("decodeFooter() rejects a handle beyond 2^53 as out of range, not as a wrong number", () => {
  const bytes = encodeFooter(EXAMPLE_HANDLES);
  bytes.fill(0xff, 32, 40);
  // Re-seal the CRC so that only the range check can catch it.
  const resealed = encodeFooter(EXAMPLE_HANDLES);
  resealed.set(bytes.subarray(0, 48));
  const view = new DataView(resealed.buffer);
  view.setUint32(52, maskCrc(crc32c(resealed, 0, 52)), true);
  assertThrows(
    () => decodeFooter(resealed, "t.sst", 0),
    CorruptionError,
    "footer handle out of range at offset 0 in t.sst",
  );
});

Deno.test("properties round-trip; the worked example's block is 90 bytes", () => {
  const bytes = encodeProperties(EXAMPLE_PROPS, EXAMPLE_STATS);
  assertEquals(bytes.length, 90);
  assertEquals(bytes.subarray(80), hexBytes("01 00 00 00 61 01 00 00 00 61"));
  assertEquals(decodeProperties(bytes, 216, "in t.sst"), {
    properties: EXAMPLE_PROPS,
    stats: EXAMPLE_STATS,
  });
  const empty: TableProperties = {
    sizeBytes: 100,
    entries: 0,
    smallestKey: new Uint8Array(0),
    largestKey: new Uint8Array(0),
    minSeq: 0,
    maxSeq: 0,
    tombstones: 0,
  };
  const noData: TableStats = { dataBlocks: 0, rawKeyBytes: 0, rawValueBytes: 0, dataBytes: 0 };
  assertEquals(
    decodeProperties(encodeProperties(empty, noData), 100, "in e.sst").properties,
    empty,
  );
});

Deno.test("decodeProperties() rejects every truncation and inconsistent counts", () => {
  const bytes = encodeProperties(EXAMPLE_PROPS, EXAMPLE_STATS);
  for (let n = 0; n < bytes.length; n++) {
    assertThrows(
      () => decodeProperties(bytes.subarray(0, n), 216, "in t.sst"),
      CorruptionError,
      "Cannot read properties: ",
    );
  }
  const cases: [number, number, string][] = [
    [8, 2, "more tombstones than entries"], // tombstones 2 > entries 1
    [16, 9, "minSeq above maxSeq"],
    [32, 0, "entry and block counts disagree"],
  ];
  for (const [at, value, message] of cases) {
    const bad = bytes.slice();
    new DataView(bad.buffer).setUint32(at, value, true);
    assertThrows(() => decodeProperties(bad, 216, "in t.sst"), CorruptionError, message);
  }
  const huge = bytes.slice();
  huge.fill(0xff, 0, 8);
  assertThrows(
    () => decodeProperties(huge, 216, "in t.sst"),
    CorruptionError,
    "field out of range",
  );
});
