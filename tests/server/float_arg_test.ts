/**
 * `parseFloatArg` (scores of ZADD, ZINCRBY, HINCRBYFLOAT…): its plain-integer shortcut answers
 * exactly what the general parse answers, at the edges of the shortcut too.
 */
import { assertEquals } from "@std/assert";
import { parseFloatArg } from "../../src/server/context.ts";
import { Rng, seedFromEnv } from "../_helpers/random.ts";

const enc = new TextEncoder();
const parse = (s: string) => parseFloatArg(enc.encode(s));

Deno.test("parseFloatArg: plain integers as Number reads them, -0 kept, non-numbers refused", () => {
  for (
    const s of [
      "0",
      "+0",
      "007",
      "+5",
      "-5",
      "123456789012345",
      "-123456789012345",
      "1234567890123456",
      "9007199254740993",
      "99999999999999999999",
      "1.5",
      "1e3",
      ".5",
    ]
  ) {
    assertEquals(parse(s), Number(s), s);
  }
  assertEquals(Object.is(parse("-0"), -0), true);
  assertEquals(parse("0x10"), 16);
  assertEquals(parse("inf"), Infinity);
  assertEquals(parse("-inf"), -Infinity);
  for (const s of ["", "-", "+", "+-1", "--1", " 1", "1 ", "1a", "nan"]) {
    assertEquals(parse(s), undefined, JSON.stringify(s));
  }
});

Deno.test("parseFloatArg: random integers of 1 to 20 digits read as Number reads them", () => {
  const seed = seedFromEnv();
  console.log(`seed ${seed}`);
  const rng = new Rng(seed);
  for (let i = 0; i < 5000; i++) {
    let s = rng.chance(0.5) ? "-" : rng.chance(0.5) ? "+" : "";
    const digits = 1 + rng.int(20);
    for (let d = 0; d < digits; d++) s += String(rng.int(10));
    assertEquals(Object.is(parse(s), Number(s)), true, s);
  }
});
