/** The RESP argument parsers' and the number printer's fast paths agree with their general paths. */

import { assertEquals } from "@std/assert";
import {
  formatValue,
  parseLong,
  parseLongAt,
  parseValue,
  parseValueAt,
  timestampInto,
  TS_INVALID,
  TS_NEGATIVE,
  TS_OK,
  valueInto,
} from "../../src/server/commands/_ts_args.ts";
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
    // In place, between other bytes (TS.MADD parses its packed arguments so): the same.
    const framed = enc.encode(`7${s}-`);
    const end = framed.length - 1;
    assertEquals(parseValueAt(framed, 1, end), general.value(s), `value at ${JSON.stringify(s)}`);
    const l = general.long(s);
    if (l === undefined || Number.isSafeInteger(l)) {
      assertEquals(parseLong(enc.encode(s)), l, `long ${JSON.stringify(s)}`);
      assertEquals(parseLongAt(framed, 1, end), l, `long at ${JSON.stringify(s)}`);
    }
    // TS.MADD's in-place parsers, with a digit on both sides (the next argument's bytes follow
    // an argument in the packed form: an empty one must not read them).
    const packed = enc.encode(`7${s}5`);
    const out = new Float64Array(2);
    const v = general.value(s);
    assertEquals(valueInto(packed, 1, packed.length - 1, out, 1), v !== undefined, `into ${s}`);
    if (v !== undefined) assertEquals(out[1], v, `value into ${JSON.stringify(s)}`);
    if (l === undefined || Number.isSafeInteger(l)) {
      assertEquals(parseLongAt(packed, 1, packed.length - 1), l, `long in ${JSON.stringify(s)}`);
    }
    const status = timestampInto(packed, 1, packed.length - 1, out, 0);
    if (l === undefined) assertEquals(status, TS_INVALID, `timestamp into ${JSON.stringify(s)}`);
    else if (Number.isSafeInteger(l)) {
      assertEquals(status, l < 0 ? TS_NEGATIVE : TS_OK, `timestamp into ${JSON.stringify(s)}`);
      if (l >= 0) assertEquals(out[0], l, `timestamp into ${JSON.stringify(s)}`);
    }
  }
  const star = enc.encode("5*5");
  const out = new Float64Array(1);
  assertEquals(timestampInto(star, 1, 2, out, 0), TS_OK);
  assertEquals(out[0], -1);
});

Deno.test("formatValue: the String() fast path prints what the general rules print", () => {
  // RedisTimeSeries 1.8's rules, spelled out digit by digit (formatValue's general path).
  const general = (v: number): string => {
    const abs = Math.abs(v);
    if (Number.isInteger(v) && abs < 2 ** 52) return String(v);
    const [mant, exp] = abs.toExponential().split("e") as [string, string];
    const digits = mant.replace(".", "");
    const e10 = Number(exp);
    const exponent = e10 - (digits.length - 1);
    const sign = v < 0 ? "-" : "";
    if (exponent <= 0 && exponent >= -16 && digits.length + exponent > 0) {
      const point = digits.length + exponent;
      return sign + digits.slice(0, point) +
        (point < digits.length ? "." + digits.slice(point) : "");
    }
    return `${sign}${digits[0]}${digits.length > 1 ? "." + digits.slice(1) : ""}E${e10}`;
  };
  const rng = new Rng(seedFromEnv());
  const bits = new Float64Array(1);
  const words = new Uint32Array(bits.buffer);
  const values = [1, 1.5, 21.37, -3.25, 2 ** 52 - 0.5, 2 ** 52, 2 ** 53 + 2, 0.5, 1e21, 123456.789];
  for (let i = 0; i < 30_000; i++) {
    words[0] = rng.int(2 ** 32);
    words[1] = rng.int(2 ** 32);
    if (Number.isFinite(bits[0]!) && bits[0] !== 0) values.push(bits[0]!);
    values.push((rng.next() - 0.5) * 10 ** (rng.next() * 40 - 20));
    values.push(Math.round((rng.next() - 0.5) * 10 ** (rng.int(12))) / 10 ** rng.int(5));
  }
  for (const v of values) {
    if (v === 0) continue;
    assertEquals(formatValue(v), general(v), String(v));
  }
});
