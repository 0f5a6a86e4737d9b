/**
 * The remote-write exporter's position file codec (`src/export/position.ts`, ARCHITECTURE.md
 * § "Remote-write position file"): it round-trips, the worked example is byte for byte the
 * documented one, and a cut, flipped or foreign file is a `CorruptionError` saying why.
 */

import { assertEquals, assertThrows } from "@std/assert";
import { CorruptionError } from "../../src/errors.ts";
import { decodePosition, encodePosition, type Position } from "../../src/export/position.ts";
import { hexBytes } from "../_helpers/hex.ts";

const EXAMPLE = hexBytes(`
  43 48 52 57 01 00 00 00  00 68 e5 cf 8b 01 00 00  01 00 00 00
  07 00 00 00 00 00 00 00  60 52 e6 cf 8b 01 00 00  24 e2 19 af
`);

Deno.test("encodePosition() writes the worked example byte for byte", () => {
  const p: Position = { startMs: 1700000000000, shipped: new Map([[7, 1700000060000]]) };
  assertEquals(encodePosition(p), EXAMPLE);
  assertEquals(decodePosition(EXAMPLE), p);
});

Deno.test("position round-trips no series and many, large numbers included", () => {
  const empty: Position = { startMs: 0, shipped: new Map() };
  assertEquals(encodePosition(empty).length, 24);
  assertEquals(decodePosition(encodePosition(empty)), empty);
  const many: Position = { startMs: Number.MAX_SAFE_INTEGER, shipped: new Map() };
  for (let v = 1; v <= 500; v++) many.shipped.set(v * 2 ** 33, 1700000000000 + v);
  assertEquals(decodePosition(encodePosition(many)), many);
});

Deno.test("decodePosition() rejects every truncation, extension and flipped byte", () => {
  for (let n = 0; n < EXAMPLE.length; n++) {
    assertThrows(
      () => decodePosition(EXAMPLE.subarray(0, n)),
      CorruptionError,
      "Cannot read remote-write position: ",
    );
  }
  assertThrows(
    () => decodePosition(new Uint8Array([...EXAMPLE, 0])),
    CorruptionError,
    "length 41 does not match 1 entries",
  );
  for (let at = 0; at < EXAMPLE.length; at++) {
    const bad = EXAMPLE.slice();
    bad[at]! ^= 0x40;
    assertThrows(() => decodePosition(bad), CorruptionError, "Cannot read remote-write position: ");
  }
});

Deno.test("decodePosition() names the reason: magic, version, length, checksum", () => {
  const magic = EXAMPLE.slice();
  magic[0] = 0x58;
  assertThrows(() => decodePosition(magic), CorruptionError, "bad magic");
  const version = EXAMPLE.slice();
  version[4] = 2;
  assertThrows(() => decodePosition(version), CorruptionError, "unknown format version 2");
  const count = EXAMPLE.slice();
  count[16] = 2;
  assertThrows(() => decodePosition(count), CorruptionError, "length 40 does not match 2 entries");
  const body = EXAMPLE.slice();
  body[30] = 0x61;
  assertThrows(() => decodePosition(body), CorruptionError, "checksum mismatch");
  assertThrows(() => decodePosition(new Uint8Array(3)), CorruptionError, "too short (3 bytes)");
});
