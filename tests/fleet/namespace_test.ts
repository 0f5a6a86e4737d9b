/**
 * A site's position value at a fleet hub (`src/fleet/namespace.ts`, ARCHITECTURE.md § "Applying
 * at the hub"): `format u8 = 1 | edgeId 16 | seq u64 LE`, 25 bytes, under the internal key
 * `ff 10 S`. It round-trips; a cut, longer, other-format or out-of-range value is not a
 * position (`undefined`: the hub never wrote it), never a wrong one.
 */

import { assertEquals } from "@std/assert";
import {
  decodePosition,
  encodePosition,
  POSITION_VALUE_BYTES,
  positionFor,
  positionKey,
} from "../../src/fleet/namespace.ts";

const EDGE = new Uint8Array(16).fill(0xee);

Deno.test("a site position is format 1, the edge id, then the sequence u64 little-endian", () => {
  const bytes = encodePosition({ edgeId: EDGE, seq: 0x0102030405 });
  assertEquals(bytes.length, POSITION_VALUE_BYTES);
  assertEquals(bytes[0], 1);
  assertEquals(bytes.subarray(1, 17), EDGE);
  assertEquals([...bytes.subarray(17)], [0x05, 0x04, 0x03, 0x02, 0x01, 0, 0, 0]);
  assertEquals(positionKey("s1"), new Uint8Array([0xff, 0x10, 0x73, 0x31]));
});

Deno.test("a site position round-trips; positionFor() answers 0 for another edge", () => {
  for (const seq of [0, 1, 2 ** 32, Number.MAX_SAFE_INTEGER]) {
    const decoded = decodePosition(encodePosition({ edgeId: EDGE, seq }));
    assertEquals(decoded, { edgeId: EDGE, seq });
    assertEquals(positionFor(decoded, EDGE), seq);
    assertEquals(positionFor(decoded, new Uint8Array(16)), 0);
  }
  assertEquals(positionFor(undefined, EDGE), 0);
});

Deno.test("decodePosition() refuses cut, longer, other-format and out-of-range values", () => {
  const bytes = encodePosition({ edgeId: EDGE, seq: 42 });
  for (let n = 0; n < bytes.length; n++) {
    assertEquals(decodePosition(bytes.subarray(0, n)), undefined);
  }
  assertEquals(decodePosition(new Uint8Array([...bytes, 0])), undefined);
  const format = bytes.slice();
  format[0] = 2;
  assertEquals(decodePosition(format), undefined);
  const huge = bytes.slice();
  huge.fill(0xff, 17);
  assertEquals(decodePosition(huge), undefined);
});
