/**
 * Golden bytes of the sealed-chunk encoder (`src/timeseries/codec.ts`, ARCHITECTURE.md § "Chunk
 * format"): chunks already on disk were written by this encoder, and a faster encoder must write
 * the very same bytes for the same samples (a different choice of predictor or table would still
 * decode, but chunks rewritten by a replica or a compaction would then differ from the leader's).
 * Each group hashes every chunk it encodes from fixed seeds; the digests were taken with the
 * encoder as it was before its speed work (commit "encodeChunk golden digests").
 */

import { assertEquals } from "@std/assert";
import { encodeChunk } from "../../src/timeseries/codec.ts";
import { Rng } from "../_helpers/random.ts";
import { generateSensors } from "../_helpers/sensors.ts";
import { randomChunkTimestamps } from "./_random_chunks.ts";

/** SHA-256 (hex) of every chunk, each preceded by its length, and their total bytes. */
async function digestOf(chunks: Uint8Array[]): Promise<string> {
  let total = 0;
  for (const c of chunks) total += 4 + c.length;
  const all = new Uint8Array(total);
  const view = new DataView(all.buffer);
  let at = 0;
  for (const c of chunks) {
    view.setUint32(at, c.length, true);
    all.set(c, at + 4);
    at += 4 + c.length;
  }
  const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", all));
  return `${total} ${[...hash].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
}

function encode(ts: ArrayLike<number>, values: ArrayLike<number>): Uint8Array {
  return encodeChunk(ts, values, ts.length);
}

Deno.test("encodeChunk() writes the golden bytes for seeded sensor data in 4,096-sample chunks", async () => {
  const chunks: Uint8Array[] = [];
  for (const s of generateSensors(7, 40, 3 * 3600)) {
    for (let i = 0; i < s.ts.length; i += 4096) {
      chunks.push(encode(s.ts.slice(i, i + 4096), s.values.slice(i, i + 4096)));
    }
  }
  assertEquals(
    await digestOf(chunks),
    "348617 912b672441991c68ed0d54b71b99460f56cd7d440e4524cf4f7690118f792e9e",
  );
});

Deno.test("encodeChunk() writes the golden bytes for seeded chunks of every shape", async () => {
  const rng = new Rng(20_261_201);
  const chunks: Uint8Array[] = [];
  for (let round = 0; round < 150; round++) {
    const ts = randomChunkTimestamps(rng);
    const n = ts.length;
    const values: number[] = [];
    const kind = rng.int(6);
    let x = rng.next() * 1000;
    for (let i = 0; i < n; i++) {
      if (kind === 0) values.push(Math.round(x * 100) / 100);
      else if (kind === 1) values.push(rng.int(2));
      else if (kind === 2) values.push((rng.next() - 0.5) * 10 ** rng.int(30));
      else if (kind === 3) values.push(rng.chance(0.5) ? rng.int(1000) : rng.next());
      else if (kind === 4) values.push(Math.round(x));
      else values.push(rng.chance(0.01) ? NaN : rng.chance(0.01) ? -Infinity : x);
      x += rng.next() - 0.5;
    }
    chunks.push(encode(ts, values));
  }
  assertEquals(
    await digestOf(chunks),
    "1033519 a9827e5d8901ee7c3cd48ca2c3cd1efb8ba79c43faf5b8af82d4242cfb3179ca",
  );
});

Deno.test("encodeChunk() writes the golden bytes for edge chunks (past 2^52, long, constant)", async () => {
  const chunks: Uint8Array[] = [];
  chunks.push(encode([0], [0]), encode([5], [-0]), encode([1, 2], [Number.MAX_VALUE, -5e-324]));
  chunks.push(encode([0, Number.MAX_SAFE_INTEGER], [1e-300, 7]));
  chunks.push(encode([10, 20, 30, 40], [21.5, 21.5, 21.5, 21.5]));
  chunks.push(encode([1000, 2000, 2001, 900_000], [1, 2.5, 2 ** 51, -(2 ** 51)]));
  const n = 3000;
  const high: number[] = [];
  const tied: number[] = [];
  let t = 2 ** 52 + 17;
  let u = 1_000;
  for (let i = 0; i < n; i++) {
    high.push(t);
    tied.push(u);
    t += i === 2500 ? 2 ** 51 : 1000 + (i % 3);
    u += i % 2 === 0 ? 10 : 20;
  }
  const steps = Array.from({ length: n }, (_, i) => (i % 200) / 100);
  chunks.push(encode(high, steps), encode(tied, steps));
  // Constant timestamps' step and constant values (single-symbol streams); an on/off state.
  const regular = Array.from({ length: 4096 }, (_, i) => 1_700_000_000_000 + 1000 * i);
  chunks.push(encode(regular, regular.map(() => 3)));
  chunks.push(encode(regular, regular.map((_, i) => (i >> 9) & 1)));
  // Past the encoder's shared scratch (32,768 samples): its own arrays.
  const long = generateSensors(11, 1, 40_000)[0]!;
  chunks.push(encode(long.ts, long.values));
  // Float64Array input, as sealing passes it.
  const s = generateSensors(12, 20, 4096);
  for (const x of s) chunks.push(encode(Float64Array.from(x.ts), Float64Array.from(x.values)));
  assertEquals(
    await digestOf(chunks),
    "91487 f4e3903cca5e94931e33775c0c3e825434508c52472ad0ea93eff91c52da8f22",
  );
});

Deno.test("encodeChunk() writes the golden bytes when the decimal count grows late or overflows", async () => {
  const ts = Array.from({ length: 2000 }, (_, i) => 1_000_000 + 1000 * i);
  const late = ts.map((_, i) => (i < 1500 ? i % 7 : i === 1500 ? 0.25 : (i % 9) / 10));
  const big = ts.map((_, i) => (i % 5 === 0 ? 3e14 + i : i));
  const chunks = [
    encode(ts, late),
    // 3e14 holds at 0 decimals, not at 1 (past 2^51): a late 0.5 turns the chunk to floats,
    // whether it comes after the big values or before them.
    encode(ts, big.map((v, i) => (i === 1999 ? 0.5 : v))),
    encode(ts, big.map((v, i) => (i === 1 ? 0.5 : v))),
    encode(ts, ts.map((_, i) => (i === 700 ? -0 : i / 100))),
    encode(ts, ts.map((_, i) => (i === 700 ? 1e-9 : i / 100))),
  ];
  assertEquals(
    await digestOf(chunks),
    "31617 01de326f14605922624470e199141f55649b72b60be72309f355cec9a5318d04",
  );
});

Deno.test("encodeChunk() writes the golden bytes for steps of seconds to hours and tied steps", async () => {
  const rng = new Rng(77);
  const chunks: Uint8Array[] = [];
  const run = (n: number, delta: () => number) => {
    const ts: number[] = [];
    let t = 1_700_000_000_000 + rng.int(100_000);
    for (let i = 0; i < n; i++) ts.push(t += delta());
    chunks.push(encode(ts, ts.map((_, i) => (i % 13) / 4)));
  };
  for (const step of [1000, 4095, 4096, 60_000, 3_600_000]) {
    for (let k = 0; k < 3; k++) run(1000 + rng.int(3000), () => step - 3 + rng.int(7));
  }
  // Equally common steps on either side of 4,096 ms (the first to reach the count wins).
  run(
    2000,
    (() => {
      let i = 0;
      return () => (i++ % 2 === 0 ? 3000 : 5000);
    })(),
  );
  run(
    2000,
    (() => {
      let i = 0;
      return () => (i++ % 2 === 0 ? 5000 : 3000);
    })(),
  );
  run(3000, () => (rng.chance(0.5) ? 1000 + rng.int(3) : 10_000 + rng.int(3)));
  assertEquals(
    await digestOf(chunks),
    "29639 cdd4545de6a5031501f70798ba7efe2b98d607917e1d171bdcd5f2a7443262f1",
  );
});
