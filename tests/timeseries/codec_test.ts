import { assert, assertEquals, assertThrows } from "@std/assert";
import { CorruptionError } from "../../src/errors.ts";
import { AssertionError } from "../../src/util/assert.ts";
import { chunkHeader, decimalsOf, decodeChunk, encodeChunk } from "../../src/timeseries/codec.ts";
import { Head, headFromBytes } from "../../src/timeseries/head.ts";
import { ByteWriter } from "../../src/util/buffers.ts";
import { Rng, seedFromEnv } from "../_helpers/random.ts";
import { generateSensors } from "../_helpers/sensors.ts";
import { randomChunkTimestamps } from "./_random_chunks.ts";

function roundTrip(ts: number[], values: number[]): Uint8Array {
  const chunk = encodeChunk(ts, values, ts.length);
  const back = decodeChunk(chunk);
  assertEquals(Array.from(back.ts), ts);
  for (let i = 0; i < values.length; i++) {
    assert(Object.is(back.values[i], values[i]), `value ${i}: ${back.values[i]} != ${values[i]}`);
  }
  const h = chunkHeader(chunk);
  assertEquals(h, { count: ts.length, firstTs: ts[0], lastTs: ts[ts.length - 1] });
  return chunk;
}

Deno.test("decimalsOf() finds the fewest exact decimals, or -1", () => {
  assertEquals(decimalsOf(21), 0);
  assertEquals(decimalsOf(21.37), 2);
  assertEquals(decimalsOf(0.1), 1);
  assertEquals(decimalsOf(1013.25), 2);
  assertEquals(decimalsOf(-0.005), 3);
  assertEquals(decimalsOf(Math.PI), -1);
  assertEquals(decimalsOf(-0), -1);
  assertEquals(decimalsOf(1e300), -1);
});

Deno.test("encodeChunk() round-trips edge cases exactly", () => {
  roundTrip([0], [0]);
  roundTrip([5], [-0]);
  roundTrip([1, 2], [Number.MAX_VALUE, -Number.MIN_VALUE]);
  roundTrip([0, Number.MAX_SAFE_INTEGER], [1e-300, 7]);
  roundTrip([10, 20, 30, 40], [21.5, 21.5, 21.5, 21.5]);
  roundTrip([1000, 2000, 2001, 900_000], [1, 2.5, 2 ** 51, -(2 ** 51)]);
  roundTrip([1, 2, 3], [0.1, 0.2, 0.30000000000000004]);
});

Deno.test("encodeChunk() round-trips random chunks of every shape", () => {
  const seed = seedFromEnv();
  console.log(`seed ${seed}`);
  const rng = new Rng(seed);
  for (let round = 0; round < 200; round++) {
    const ts = randomChunkTimestamps(rng);
    const n = ts.length;
    const values: number[] = [];
    const kind = rng.int(5);
    let x = rng.next() * 1000;
    for (let i = 0; i < n; i++) {
      if (kind === 0) values.push(Math.round(x * 100) / 100);
      else if (kind === 1) values.push(rng.int(2));
      else if (kind === 2) values.push((rng.next() - 0.5) * 10 ** rng.int(30));
      else if (kind === 3) values.push(rng.chance(0.5) ? rng.int(1000) : rng.next());
      else values.push(Math.round(x));
      x += rng.next() - 0.5;
    }
    roundTrip(ts, values);
  }
});

Deno.test("encodeChunk() round-trips long chunks past 2^52 and with tied steps", () => {
  // Past 2^52 every predictor is checked over the whole chunk (a prefix decides below it);
  // a jump late in the chunk makes the grid predictor's residual huge there.
  const n = 3000;
  const high: number[] = [];
  const tied: number[] = [];
  let t = 2 ** 52 + 17;
  let u = 1_000;
  for (let i = 0; i < n; i++) {
    high.push(t);
    tied.push(u);
    t += i === 2500 ? 2 ** 51 : 1000 + (i % 3);
    u += i % 2 === 0 ? 10 : 20; // two deltas equally common: the first to lead wins
  }
  const values = Array.from({ length: n }, (_, i) => (i % 200) / 100);
  roundTrip(high, values);
  roundTrip(tied, values);
});

Deno.test("decodeChunk() refuses any flipped byte with CorruptionError", () => {
  const ts = Array.from({ length: 500 }, (_, i) => 1_700_000_000_000 + i * 1000);
  const values = ts.map((_, i) => Math.round(Math.sin(i / 50) * 1000) / 100);
  const chunk = encodeChunk(ts, values, ts.length);
  for (let i = 0; i < chunk.length; i++) {
    const bad = chunk.slice();
    bad[i]! ^= 0x10;
    assertThrows(() => decodeChunk(bad), CorruptionError);
  }
  assertThrows(() => decodeChunk(chunk.subarray(0, 3)), CorruptionError);
});

Deno.test("encodeChunk() stores realistic sensor data in under 1 byte per sample", () => {
  // CI size: 100 series × 2 h; the benchmark runs a whole day (ARCHITECTURE.md § "Time series").
  const data = generateSensors(42, 100, 2 * 3600);
  let samples = 0;
  let bytes = 0;
  for (const s of data) {
    for (let i = 0; i < s.ts.length; i += 4096) {
      const ts = s.ts.slice(i, i + 4096);
      const chunk = roundTrip(ts, s.values.slice(i, i + 4096));
      bytes += chunk.length;
      samples += ts.length;
    }
  }
  const perSample = bytes / samples;
  console.log(`${perSample.toFixed(3)} bytes/sample over ${samples} samples`);
  assert(perSample <= 1.0, `${perSample} bytes per sample`);
});

Deno.test("Head appends, upserts, deletes and round-trips through its byte format", () => {
  const seed = seedFromEnv();
  console.log(`seed ${seed}`);
  const rng = new Rng(seed);
  for (let round = 0; round < 100; round++) {
    const head = new Head();
    const model = new Map<number, number>();
    for (let op = 0; op < 300; op++) {
      const t = rng.int(500);
      const r = rng.int(10);
      if (r < 7) {
        const v = rng.chance(0.8)
          ? Math.round(rng.next() * 10_000) / 10 ** rng.int(4)
          : rng.chance(0.5)
          ? rng.next()
          : -0;
        head.upsert(t, v);
        model.set(t, v);
      } else if (r < 9) {
        const to = t + rng.int(20);
        let n = 0;
        for (const k of [...model.keys()]) {
          if (k >= t && k <= to) {
            model.delete(k);
            n++;
          }
        }
        assertEquals(head.deleteRange(t, to), n);
      } else {
        const out = new ByteWriter();
        head.serialize(out);
        const back = headFromBytes(out.finish());
        back.verify();
        assertEquals(Array.from(back.decode().ts), Array.from(head.decode().ts));
      }
      const keys = [...model.keys()].sort((a, b) => a - b);
      const d = head.decode();
      assertEquals(Array.from(d.ts), keys);
      keys.forEach((k, i) => assert(Object.is(d.values[i], model.get(k))));
      assertEquals(head.count, keys.length);
      if (keys.length > 0) {
        assertEquals(head.lastTs, keys[keys.length - 1]);
        assert(Object.is(head.lastValue, model.get(keys[keys.length - 1]!)));
      }
    }
  }
});

Deno.test("encodeChunk() refuses timestamps that are negative, fractional, unsafe or not increasing", () => {
  for (
    const ts of [[-1], [0.5], [2 ** 53], [NaN], [1, 1], [5, 4], [1, 2, 2.5], [1, 2, 2], [
      0,
      2 ** 53,
    ]]
  ) {
    assertThrows(
      () => encodeChunk(ts, ts.map(() => 1), ts.length),
      AssertionError,
      undefined,
      `${ts}`,
    );
  }
  assertThrows(() => encodeChunk([], [], 0), AssertionError);
  assertEquals(decodeChunk(encodeChunk([0, 1], [1, 2], 2)).ts, Float64Array.of(0, 1));
});
