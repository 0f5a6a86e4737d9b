import { assertEquals } from "@std/assert";
import { writeDigits } from "../../src/util/bytes.ts";
import { Rng } from "../_helpers/random.ts";

Deno.test("writeDigits writes the same digits as String(v), at an offset, up to 2^53 - 1", () => {
  const rng = new Rng(20261130);
  const values = [0, 1, 9, 10, 99, 100, 999_999, 1_700_000_000_000, Number.MAX_SAFE_INTEGER];
  for (let i = 0; i < 1000; i++) values.push(Math.floor(rng.next() * 2 ** (1 + rng.int(53))));
  const buf = new Uint8Array(24);
  for (const v of values) {
    buf.fill(0);
    const end = writeDigits(buf, 3, v);
    assertEquals(new TextDecoder().decode(buf.subarray(3, end)), String(v), `${v}`);
    assertEquals(buf[2], 0, "nothing before the offset");
    assertEquals(buf[end], 0, "nothing after the end");
  }
});
