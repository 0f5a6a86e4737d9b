/**
 * The long double of INCRBYFLOAT/HINCRBYFLOAT against redis-server 7.0.15's own answers:
 * `_long_double_vectors.json` holds [stored value, increment, value after INCRBYFLOAT] triples
 * that a real redis-server computed (random integers, decimals of 1-25 digits, exponents up to
 * ±4900, hex floats). Plus the parsing edges of Redis's string2ld.
 */
import { assertEquals } from "@std/assert";
import {
  addLongDouble,
  formatLongDoubleHuman,
  type LongDouble,
  parseLongDouble,
} from "../../src/util/long_double.ts";
import vectors from "./_long_double_vectors.json" with { type: "json" };

function incr(stored: string, by: string): string {
  const a = parseLongDouble(stored);
  const b = parseLongDouble(by);
  if (a === undefined || b === undefined) return "ERR not a valid float";
  if (typeof a === "number" || typeof b === "number") return "ERR NaN or Infinity";
  const sum = addLongDouble(a, b);
  return sum === undefined ? "ERR NaN or Infinity" : formatLongDoubleHuman(sum);
}

Deno.test("INCRBYFLOAT arithmetic equals redis-server 7.0.15's on recorded vectors", () => {
  for (const [stored, by, want] of vectors as [string, string, string][]) {
    assertEquals(incr(stored, by), want, `${stored} + ${by}`);
  }
});

Deno.test("long double: the sums users see (Redis's documented examples and 0.1 + 0.2)", () => {
  assertEquals(incr("10.50", "0.1"), "10.6");
  assertEquals(incr("5.0e3", "2.0e2"), "5200");
  assertEquals(incr("0.1", "0.2"), "0.3");
  assertEquals(incr("3000", "1.1"), "3001.10000000000000009");
  assertEquals(incr("9223372036854775807", "1e2"), "9223372036854775907");
  assertEquals(incr("0", "-1.5e-17"), "-0.00000000000000002");
  assertEquals(incr("0", "-1e-30"), "0");
  assertEquals(incr("1.5", "-1.5"), "0");
  assertEquals(incr("1e4932", "1e4932"), "ERR NaN or Infinity");
  assertEquals(incr("inf", "1"), "ERR NaN or Infinity");
});

Deno.test("long double parsing follows string2ld: strtold on the whole text, no ERANGE, no NaN", () => {
  const ok = (t: string) => {
    const v = parseLongDouble(t);
    return v === undefined
      ? "invalid"
      : typeof v === "number"
      ? String(v)
      : formatLongDoubleHuman(v);
  };
  assertEquals(ok("0x10"), "16");
  assertEquals(ok("0x1.8p1"), "3");
  assertEquals(ok("-0x.8p-3"), "-0.0625");
  assertEquals(ok("+5."), "5");
  assertEquals(ok(".5"), "0.5");
  assertEquals(ok("Infinity"), "Infinity");
  assertEquals(ok("-inf"), "-Infinity");
  for (
    const bad of [
      "",
      " 1",
      "1 ",
      "nan",
      "1e",
      "e5",
      ".",
      "0x",
      "0x1p",
      "1e5000",
      "1e-5000",
      "abc",
      "1,5",
    ]
  ) {
    assertEquals(ok(bad), "invalid", JSON.stringify(bad));
  }
  assertEquals(ok("x".repeat(5120)), "invalid");
  // The smallest subnormal parses (ERANGE with a nonzero value is accepted); half of it rounds
  // to zero, which is refused.
  const tiny = parseLongDouble("0x1p-16445") as LongDouble;
  assertEquals([tiny.m, tiny.e], [1n, -16445]);
  assertEquals(parseLongDouble("0x1p-16446"), undefined);
  assertEquals(parseLongDouble("0x1.8p-16446") !== undefined, true);
});
