/**
 * The point-list encoder of TS.RANGE/TS.MRANGE replies (`_ts_reply.ts`, with its own digit
 * printing for timestamps and three-decimal readings) writes exactly what the generic writer
 * writes point by point.
 */

import { assertEquals } from "@std/assert";
import { writeSample } from "../../src/server/commands/_ts_args.ts";
import { writeSamples } from "../../src/server/commands/_ts_reply.ts";
import { concatChunks, RespWriter } from "../../src/server/resp_writer.ts";
import { Rng, seedFromEnv } from "../_helpers/random.ts";

/** `writeSamples`' bytes and the generic writer's, compared as text. */
function assertSameAsGeneric(ts: number[], values: number[]): void {
  const fast = new RespWriter();
  writeSamples(fast, ts, values, ts.length);
  const slow = new RespWriter();
  slow.array(ts.length);
  for (let i = 0; i < ts.length; i++) writeSample(slow, ts[i]!, values[i]!);
  const a = new TextDecoder().decode(concatChunks(fast.take()));
  const b = new TextDecoder().decode(concatChunks(slow.take()));
  assertEquals(a.length, b.length);
  assertEquals(a, b);
}

Deno.test("writeSamples: the same bytes as writeSample per point", () => {
  const seed = seedFromEnv();
  console.log(`seed ${seed}`);
  const rng = new Rng(seed);
  const special = [
    0,
    -0,
    1,
    -1,
    0.5,
    1.5,
    999_999_999.999,
    1e9,
    1e9 + 0.5,
    123_456.789,
    -123_456.789,
    2 ** 52,
    2 ** 53,
    1e21,
    1e-7,
    NaN,
    Infinity,
    -Infinity,
    21.53,
    21.5300001,
    10.1,
    1.001,
    0.999,
    5e-324,
    Number.MAX_VALUE,
    4503599627370495.5,
    999.9995,
  ];
  const ts: number[] = [];
  const values: number[] = [];
  for (let i = 0; i < 50_000; i++) {
    const r = rng.next();
    ts.push(
      i % 7 === 0
        ? rng.int(1_000_000)
        : i % 11 === 0
        ? Math.floor(r * 2 ** 53)
        : 1_700_000_000_000 + i * 1000 + rng.int(5),
    );
    switch (i % 6) {
      case 0:
        values.push(special[i % special.length]!);
        break;
      case 1:
        values.push(Math.round((r - 0.5) * 1e7) / 1000);
        break;
      case 2:
        values.push((r - 0.5) * 10 ** Math.floor(rng.next() * 40 - 20));
        break;
      case 3:
        values.push(Math.round(r * 1e5) / 100);
        break;
      case 4:
        values.push(Math.round(r * 1e12) / 1e3);
        break;
      default:
        values.push(r * 100);
    }
  }
  assertSameAsGeneric(ts, values);
});

Deno.test("writeSamples: word-stored digits at every width and edge", () => {
  // Every integer part width of the word path (1–4 digits, then 5–9 through the digit loop),
  // every three-decimal fraction (trailing zeros dropped), both signs; timestamps at the edges
  // of the 13-digit path and of its cached top seven digits.
  const ts: number[] = [];
  const values: number[] = [];
  const stamps = [
    0,
    1,
    999_999,
    1_000_000,
    999_999_999_999,
    1_000_000_000_000,
    1_000_000_999_999,
    1_000_001_000_000,
    1_700_000_999_999,
    1_700_001_000_000,
    9_999_999_999_999,
    10_000_000_000_000,
    Number.MAX_SAFE_INTEGER,
  ];
  const ints = [1, 9, 10, 99, 100, 101, 999, 1000, 1001, 9999, 10_000, 99_999, 123_456_789];
  let at = 1_699_999_990_000;
  for (const int of ints) {
    for (let frac = 0; frac < 1000; frac++) {
      for (const sign of [1, -1]) {
        ts.push(at);
        at += 7 + (frac % 13);
        values.push(sign * (int + frac / 1000));
      }
    }
  }
  for (const t of stamps) {
    for (const v of [0, -0, 1, 0.5, 1e21, 5e-324, NaN, 999_999_999.999, 1e9, 21.53]) {
      ts.push(t);
      values.push(v);
    }
  }
  assertSameAsGeneric(ts, values);
});

Deno.test("writeSamples: an empty list is an empty array", () => {
  const out = new RespWriter();
  writeSamples(out, [], [], 0);
  assertEquals(new TextDecoder().decode(concatChunks(out.take())), "*0\r\n");
});
