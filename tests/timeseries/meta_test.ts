/**
 * The series metadata codec (`src/timeseries/meta.ts`, ARCHITECTURE.md § "Series metadata"):
 * it round-trips, the worked example is reproduced byte for byte, and cut input, another
 * type, an unknown format, bad codes and trailing bytes are a `CorruptionError` saying which.
 */

import { assertEquals, assertThrows } from "@std/assert";
import { CorruptionError } from "../../src/errors.ts";
import {
  decodeSeriesMeta,
  encodeSeriesMeta,
  type SeriesMeta,
  textToBinary,
} from "../../src/timeseries/meta.ts";
import { hexBytes } from "../_helpers/hex.ts";

const EXAMPLE_META: SeriesMeta = {
  version: 7,
  retentionMs: 86_400_000,
  chunkSizeBytes: 4096,
  duplicatePolicy: "last",
  uncompressed: false,
  ignoreMaxTimeDiffMs: 0,
  ignoreMaxValDiff: 0,
  labels: [["room", "a"]],
  sourceVersion: 0,
  rules: [{ destVersion: 8, aggregator: "avg", bucketMs: 60_000, alignMs: 0, startTs: 0 }],
};
const EXAMPLE = hexBytes(
  "01 07 01 80 b8 99 29 80 20 03 00 00 00 00 00 00 00 00 00 00 01 04 72 6f 6f 6d 01 61 00 01 08 01 e0 d4 03 00 00",
);

Deno.test("encodeSeriesMeta() writes the worked example byte for byte (37 bytes)", () => {
  assertEquals(encodeSeriesMeta(EXAMPLE_META), EXAMPLE);
  assertEquals(EXAMPLE.length, 37);
  assertEquals(decodeSeriesMeta(EXAMPLE), EXAMPLE_META);
});

Deno.test("series metadata round-trips every field, binary labels included", () => {
  const meta: SeriesMeta = {
    version: 2 ** 40,
    retentionMs: 0,
    chunkSizeBytes: 128,
    duplicatePolicy: undefined,
    uncompressed: true,
    ignoreMaxTimeDiffMs: 5,
    ignoreMaxValDiff: 0.25,
    labels: [["\x00\xff", textToBinary("zählerstand")], ["", ""]],
    sourceVersion: 3,
    rules: [
      { destVersion: 9, aggregator: "twa", bucketMs: 1, alignMs: 17, startTs: 1700000000000 },
      { destVersion: 10, aggregator: "std.s", bucketMs: 3_600_000, alignMs: 0, startTs: 0 },
    ],
  };
  assertEquals(decodeSeriesMeta(encodeSeriesMeta(meta)), meta);
});

Deno.test("decodeSeriesMeta() rejects every truncation and trailing bytes", () => {
  for (let n = 0; n < EXAMPLE.length; n++) {
    assertThrows(() => decodeSeriesMeta(EXAMPLE.subarray(0, n)), CorruptionError, "Cannot decode");
  }
  assertThrows(
    () => decodeSeriesMeta(new Uint8Array([...EXAMPLE, 0])),
    CorruptionError,
    "Cannot decode time-series metadata: trailing bytes",
  );
});

Deno.test("decodeSeriesMeta() names what is wrong: type, format, policy, aggregator, bucket", () => {
  const at = (i: number, v: number) => {
    const bad = EXAMPLE.slice();
    bad[i] = v;
    return bad;
  };
  const cases: [Uint8Array, string][] = [
    [at(0, 2), "type 2 is not a time series"],
    [at(2, 9), "unknown format 9"],
    [at(9, 7), "bad duplicate policy 7"],
    [at(31, 0), "bad aggregator 0"],
    [at(31, 14), "bad aggregator 14"],
    [
      hexBytes("01 07 01 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 01 08 01 00 00 00"),
      "bucket of 0 ms",
    ],
  ];
  for (const [bytes, message] of cases) {
    assertThrows(
      () => decodeSeriesMeta(bytes),
      CorruptionError,
      `Cannot decode time-series metadata: ${message}`,
    );
  }
});
