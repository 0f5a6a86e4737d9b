/**
 * DUMP and RESTORE against a real redis-server 7.0: every type moves from Redis to CityHall in
 * Redis's own compact encodings (integer and LZF strings, intsets, listpacks, quicklists) and in
 * its plain ones, and back from CityHall to Redis, with equal contents on both sides; TTL,
 * REPLACE, ABSTTL, BUSYKEY and the payload checks answer as Redis does.
 */
import { assertEquals, assertRejects } from "@std/assert";
import { RESP_BULK_SIZE_BYTES_MAX } from "../../src/limits.ts";
import { closeRedis, connectRedis, type Redis, startTestServer } from "./_helpers.ts";
import { startRedisServer } from "./_redis.ts";
import { compareScenario } from "./_compare.ts";
import {
  crc64,
  decodeDump,
  DumpPayloadError,
  encodeDump,
  lzfDecompress,
} from "../../src/server/dump_payload.ts";
import { Rng, seedFromEnv } from "../_helpers/random.ts";
import { fuzzCases } from "../_helpers/fuzz.ts";

/** Keys of every type, small (compact encodings) and large (plain ones), on `r`. */
async function fill(r: Redis): Promise<string[]> {
  const rng = new Rng(7);
  await r.set("s:int", "12345");
  await r.set("s:neg", "-7");
  await r.set("s:raw", "hello world");
  await r.set("s:lzf", "abcabcabc".repeat(400) + "xyz");
  await r.set("s:bin", Buffer.from([0, 255, 1, 254, 13, 10]));
  await r.rpush("l:small", "a", "1", "-5", "300", "70000", "-9000000000", "x".repeat(100));
  await r.rpush("l:big", ...Array.from({ length: 3000 }, (_, i) => `item-${i}-${rng.int(1e6)}`));
  await r.sadd("set:int", "1", "2", "-3", "40000", "5000000000");
  await r.sadd("set:str", "a", "b", "c");
  await r.sadd("set:big", ...Array.from({ length: 700 }, (_, i) => `m${i}`));
  await r.zadd("z:small", 1, "a", 2.5, "b", -3, "c", "inf", "d", "-inf", "e");
  await r.zadd("z:big", ...Array.from({ length: 300 }, (_, i) => [i * 1.25, `m${i}`]).flat());
  await r.hset("h:small", "f1", "v1", "f2", "22", "f3", "-1");
  await r.hset("h:big", ...Array.from({ length: 600 }, (_, i) => [`f${i}`, `v${i}`]).flat());
  await r.hset("h:long", "f", "y".repeat(200));
  await r.set("ttl:k", "v", "PX", 500_000);
  return [
    "s:int",
    "s:neg",
    "s:raw",
    "s:lzf",
    "s:bin",
    "l:small",
    "l:big",
    "set:int",
    "set:str",
    "set:big",
    "z:small",
    "z:big",
    "h:small",
    "h:big",
    "h:long",
  ];
}

/** A key's type and whole content, in an order that does not depend on the server. */
async function content(r: Redis, key: string): Promise<unknown> {
  const type = await r.type(key);
  switch (type) {
    case "string":
      return [type, (await r.getBuffer(key))!.toString("hex")];
    case "list":
      return [type, await r.lrange(key, 0, -1)];
    case "set":
      return [type, (await r.smembers(key)).sort()];
    case "zset":
      return [type, await r.zrange(key, "0", "-1", "WITHSCORES")];
    case "hash":
      return [type, Object.entries(await r.hgetall(key)).sort()];
    default:
      return [type];
  }
}

Deno.test("DUMP/RESTORE: every type moves from Redis 7.0 to CityHall and back unchanged", async () => {
  const redis = await startRedisServer();
  const t = await startTestServer();
  const a = await connectRedis(redis.port);
  const b = await connectRedis(t.port);
  try {
    const keys = await fill(a);
    for (const key of keys) {
      const payload = (await a.dumpBuffer(key))!;
      assertEquals(await b.restore(key, 0, payload), "OK", key);
      assertEquals(await content(b, key), await content(a, key), key);
      // And back: CityHall's payload restores in Redis under another name.
      const ours = (await b.dumpBuffer(key))!;
      assertEquals(await a.restore(`back:${key}`, 0, ours), "OK", key);
      assertEquals(await content(a, `back:${key}`), await content(a, key), key);
    }
    // A TTL travels as RESTORE's argument, relative or absolute.
    const payload = (await a.dumpBuffer("ttl:k"))!;
    await b.restore("ttl:k", 100_000, payload);
    const pttl = await b.pttl("ttl:k");
    assertEquals(pttl > 90_000 && pttl <= 100_000, true, String(pttl));
    const at = Date.now() + 200_000;
    await b.restore("ttl:abs", at, payload, "ABSTTL");
    assertEquals(await b.pexpiretime("ttl:abs"), at);
    // A time already past adds nothing, and REPLACE removed the old key.
    await b.restore("ttl:abs", 1, payload, "REPLACE", "ABSTTL");
    assertEquals(await b.exists("ttl:abs"), 0);
    assertEquals(await b.call("dump", "nope"), null);
  } finally {
    await closeRedis(a);
    await closeRedis(b);
    await t.close();
    await redis.stop();
  }
});

Deno.test("RESTORE errors and events as Redis answers them", async () => {
  const good = encodeDump({ type: "string", value: new TextEncoder().encode("v") });
  const hex = [...good].map((x) => `\\x${x.toString(16).padStart(2, "0")}`).join("");
  const flipped = [...good].map((x, i) =>
    `\\x${(i === 1 ? x ^ 1 : x).toString(16).padStart(2, "0")}`
  ).join("");
  await compareScenario(
    "restore",
    `
    Z: config set notify-keyspace-events KEA
    S: psubscribe __keyevent@0__:*
    Z: restore k 0 "${hex}"
    Z: get k
    Z: restore k 0 "${hex}"
    Z: restore k 0 "${hex}" replace
    Z: restore k2 -1 "${hex}"
    Z: restore k2 x "${hex}"
    Z: restore k2 0 garbage
    Z: restore k2 0 "${flipped}"
    Z: restore k2 0 "${hex}" bogus
    Z: restore k2 0 "${hex}" idletime -1
    Z: restore k2 0 "${hex}" freq 256
    Z: restore k2 0 "${hex}" idletime 5 freq 5
    Z: restore k2 0 "${hex}" idletime 5
    Z: restore k3 0 "${hex}" freq 5
    Z: restore k 1 "${hex}" replace absttl
    Z: exists k
    Z: dump missing
    Z: restore
    Z: dump
    `,
  );
});

Deno.test("DUMP payload codec: CRC-64, LZF, refusals", () => {
  const enc = new TextEncoder();
  // Redis's crc64 test vector.
  assertEquals(crc64(enc.encode("123456789")), 0xe9c6d914c4b8d9can);
  // "aaaaaaaaa": one literal, then a back reference of 8 at distance 1.
  assertEquals(
    new TextDecoder().decode(lzfDecompress(new Uint8Array([0x00, 0x61, 0xc0, 0x00]), 9)),
    "aaaaaaaaa",
  );
  const value = {
    type: "zset" as const,
    items: [{ member: enc.encode("a"), score: 1.5 }, { member: enc.encode("b"), score: -Infinity }],
  };
  assertEquals(decodeDump(encodeDump(value)), value);
  const payload = encodeDump(value);
  // Truncated, trailing bytes, a wrong version: each refused, never half-read.
  for (const bad of [payload.subarray(0, 5), new Uint8Array([...payload, 0])]) {
    let threw = false;
    try {
      decodeDump(bad);
    } catch {
      threw = true;
    }
    assertEquals(threw, true);
  }
});

Deno.test("fuzz: mutated DUMP payloads with a valid checksum decode or are refused, never crash", () => {
  const seed = seedFromEnv();
  console.log(`fuzz seed ${seed}`);
  const rng = new Rng(seed);
  const enc = new TextEncoder();
  const samples = [
    encodeDump({ type: "string", value: enc.encode("x".repeat(70)) }),
    encodeDump({ type: "list", items: [enc.encode("a"), enc.encode("bb")] }),
    encodeDump({ type: "hash", pairs: [[enc.encode("f"), enc.encode("v")]] }),
    encodeDump({ type: "zset", items: [{ member: enc.encode("m"), score: 2 }] }),
    encodeDump(
      {
        type: "series",
        series: {
          retentionMs: 5000,
          chunkSizeBytes: 64,
          uncompressed: false,
          duplicatePolicy: "max",
          labels: [[enc.encode("a"), enc.encode("b")]],
          ts: Float64Array.of(1, 2, 3, 5, 8, 13),
          values: Float64Array.of(0.5, 1, -1, 2, 3, 4),
        },
      },
      enc.encode("s"),
    ),
    // What redis-server 7.0 answers to DUMP of HSET h f1 v1: a listpack.
    new Uint8Array([
      0x10,
      0x0f,
      0x0f,
      0x00,
      0x00,
      0x00,
      0x02,
      0x00,
      0x82,
      0x66,
      0x31,
      0x03,
      0x82,
      0x76,
      0x31,
      0x03,
      0xff,
      0x0a,
      0x00,
      0x5e,
      0x99,
      0x22,
      0xca,
      0x42,
      0x31,
      0x4c,
      0x99,
    ]),
  ];
  for (let i = 0; i < fuzzCases(3000); i++) {
    const base = samples[rng.int(samples.length)]!;
    const body = base.slice(0, base.length - 8);
    const edits = 1 + rng.int(4);
    for (let e = 0; e < edits; e++) body[rng.int(body.length - 2)] = rng.int(256);
    const cut = rng.chance(0.2) ? body.subarray(0, 2 + rng.int(body.length - 2)) : body;
    const crc = crc64(cut);
    const payload = new Uint8Array(cut.length + 8);
    payload.set(cut);
    for (let b = 0; b < 8; b++) payload[cut.length + b] = Number((crc >> BigInt(8 * b)) & 0xffn);
    try {
      decodeDump(payload);
    } catch (err) {
      if (!(err instanceof DumpPayloadError)) throw err;
    }
  }
});

Deno.test("DUMP refuses a payload past the largest RESTORE argument, RESP_BULK_SIZE_BYTES_MAX", async () => {
  const t = await startTestServer();
  const r = await connectRedis(t.port);
  try {
    // A largest value: its payload adds a type byte, a length, the version and the CRC.
    await r.set("big", Buffer.alloc(RESP_BULK_SIZE_BYTES_MAX, 0x61));
    await assertRejects(
      () => r.dumpBuffer("big"),
      Error,
      `at most ${RESP_BULK_SIZE_BYTES_MAX} bytes (the largest argument RESTORE can take)`,
    );
    await r.set("fits", Buffer.alloc(RESP_BULK_SIZE_BYTES_MAX - 20, 0x61));
    const payload = (await r.dumpBuffer("fits"))!;
    assertEquals(payload.length <= RESP_BULK_SIZE_BYTES_MAX, true);
    assertEquals(await r.restore("fits2", 0, payload), "OK");
    assertEquals(await r.strlen("fits2"), RESP_BULK_SIZE_BYTES_MAX - 20);
  } finally {
    await closeRedis(r);
    await t.close();
  }
});
