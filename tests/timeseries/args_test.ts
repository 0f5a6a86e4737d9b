/** The RESP argument parsers' fast paths answer exactly what the general parsers answer. */

import { assertEquals } from "@std/assert";
import { parseLong, parseValue } from "../../src/server/commands/_ts_args.ts";
import { Rng, seedFromEnv } from "../_helpers/random.ts";

const enc = new TextEncoder();
const general = {
  long: (s: string) => /^-?(0|[1-9][0-9]{0,18})$/.test(s) ? Number(s) : undefined,
  value: (s: string) =>
    /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(s) && Number.isFinite(Number(s))
      ? Number(s)
      : undefined,
};

Deno.test("parseLong and parseValue: fast paths agree with the general parse", () => {
  const fixed = [
    "0",
    "-0",
    "00",
    "01",
    "-",
    "-1",
    "1700000000000",
    "123456789012345",
    "1234567890123456",
    "-12.5",
    "1.",
    ".5",
    "21.37",
    "0.1",
    "-0.0",
    "1e3",
    "12a",
    "999999999999999.9",
    "1.234567890123456",
    "007.5",
    "-.5",
    "+5",
    "",
  ];
  const rng = new Rng(seedFromEnv());
  const random = Array.from({ length: 20_000 }, () => {
    const d = rng.int(7);
    const int = String(rng.int(10 ** (1 + rng.int(9))));
    const frac = d === 0 ? "" : "." + String(rng.int(10 ** d)).padStart(d, "0");
    return (rng.chance(0.3) ? "-" : "") + int + frac;
  });
  for (const s of [...fixed, ...random]) {
    assertEquals(parseValue(enc.encode(s)), general.value(s), `value ${JSON.stringify(s)}`);
    const l = general.long(s);
    if (l === undefined || Number.isSafeInteger(l)) {
      assertEquals(parseLong(enc.encode(s)), l, `long ${JSON.stringify(s)}`);
    }
  }
});
