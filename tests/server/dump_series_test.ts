/**
 * DUMP and RESTORE of a time series: the payload is RedisTimeSeries 1.8's module value (checked
 * byte by byte, and against payloads RedisTimeSeries itself wrote), a series comes back with its
 * options, labels, samples and TTL, and without its compaction rules, as RedisTimeSeries does.
 */
import { assertEquals, assertRejects } from "@std/assert";
import { closeRedis, connectRedis, startTestServer } from "./_helpers.ts";
import { crc64, decodeDump, DumpPayloadError, encodeDump } from "../../src/server/dump_payload.ts";
import { RdbOut } from "../../src/server/_rdb_io.ts";
import { TS_RESTORE_SAMPLES_MAX } from "../../src/limits.ts";

const hex = (s: string) => Uint8Array.from(s.match(/../g)!.map((h) => parseInt(h, 16)));
const toHex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, "0")).join("");

/** `body` with RDB version 10 and its CRC-64 appended: a payload RESTORE checks. */
function withFooter(body: Uint8Array): Uint8Array {
  const crc = crc64(body);
  const out = new Uint8Array(body.length + 8);
  out.set(body);
  for (let i = 0; i < 8; i++) out[body.length + i] = Number((crc >> BigInt(8 * i)) & 0xffn);
  return out;
}

// What RedisTimeSeries 1.8 (encoding version 4) answered to DUMP in its own test suite
// (tests/flow/test_lazy_del.py): an empty series "ts2{a}" whose source was "ts1{a}", with one
// empty Gorilla chunk (its 4,096-byte buffer LZF-compressed); and "ts1{a}" with an avg rule.
const RTS_DEST =
  "07814d20c1f9360f100405067473327b617d02000250000202020004000000000000000002000200020105067473317b617d02000200020102500002000200020002000200020002000220022005c3365000010000e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e07b00010000000900b74a074717e4eccc";
const RTS_SOURCE =
  "07814d20c1f9360f100405067473317b617d0200025000020202000400000000000000000200020002000200020105067473327b617d02800000ea6002040281ffffffffffffffff0400000000000000000400000000000000000200020102500002000200020002000200020002000220022005c3365000010000e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e07b000100000009006a85e45ab6b9c338";

Deno.test("time-series payload: RedisTimeSeries 1.8's module value, byte by byte", () => {
  const enc = new TextEncoder();
  const series = {
    retentionMs: 0,
    chunkSizeBytes: 48,
    uncompressed: false,
    duplicatePolicy: "last" as const,
    labels: [[enc.encode("a"), enc.encode("b")]] as [Uint8Array, Uint8Array][],
    ts: Float64Array.of(1000, 2000),
    values: Float64Array.of(1.5, -2),
  };
  const payload = encodeDump({ type: "series", series }, enc.encode("k"));
  const body = toHex(payload.subarray(0, payload.length - 8));
  assertEquals(
    body,
    [
      "07", // RDB_TYPE_MODULE_2
      "814d20c1f9360f1007", // module id: "TSDB-TYPE", encoding version 7
      "05016b", // key "k"
      "0200", // retention 0
      "0230", // chunk size 48
      "0201", // options: uncompressed chunks
      "0247d0", // last timestamp 2000
      "04" + "00000000000000c0", // last value −2
      "0202", // total samples
      "0202", // duplicate policy LAST
      "0200", // no source key
      "0201" + "050161" + "050162", // one label a=b
      "0200", // no rules
      "0201", // one chunk
      "0243e8", // its base timestamp 1000
      "0202", // two samples
      "0220", // buffer of 32 bytes (2 samples of 16)
      "0520" + "e803000000000000" + "000000000000f83f" + "d007000000000000" +
      "00000000000000c0",
      "00", // EOF
      "0a00", // RDB version 10
    ].join(""),
  );
  // Back as it went, apart from the flag: the chunks are uncompressed.
  assertEquals(decodeDump(payload), { type: "series", series: { ...series, uncompressed: true } });
});

Deno.test("time-series payload: RedisTimeSeries's own old payloads restore, rules skipped", () => {
  for (const payload of [hex(RTS_DEST), hex(RTS_SOURCE)]) {
    const v = decodeDump(payload);
    if (v.type !== "series") throw new Error(v.type);
    assertEquals(v.series.chunkSizeBytes, 4096);
    assertEquals(v.series.uncompressed, false);
    assertEquals(v.series.ts.length, 0);
  }
  // The destination's payload with its empty chunk's sample count set to 2: the second
  // sample's bits are not there (the chunk says it used none).
  const body = hex(RTS_DEST).slice(0, -10);
  const at = toHex(body).indexOf("02500002000200") / 2; // size 4096, count 0, bits used 0
  body[at + 4] = 2;
  refused(withFooter(new Uint8Array([...body, 0x0a, 0x00])), "compressed chunk past its bits");
});

// A compressed (Gorilla) chunk RedisTimeSeries 1.4 wrote: monthly mean temperatures of one city
// from its test data (tests/flow/rdbs/1.4.9.rdb), cut to the first 12 samples (1,029 bits),
// as an encoding-version-2 payload of a series "t". Decoding the whole file gives exactly the
// samples its uncompressed 1.0 twin (1.0.1.rdb) holds: 200 series, 104,814 samples.
const RTS_GORILLA =
  "07814d20c1f9360f100205017402000240880202028100000006b80c08000478e92631088c3d40020c0200020002000201024088020c0244050281403b46a7ef9db22d0200028100000006b80c080002000200020002000540883f0049e927000000c0d13d29f3f9d4647f00ec8cf03b384be2455a34ee074031f710235d3a81ebf10f80345b3f0681aa4d9d371f00974941e0fb51ed2c2a3e00d26cfd1f7c6aba6a6ae6ff03e0322988f584434fa29d5bbcc49db5290cfd07409aad9fa892128540151f009749c10f7e3f315d2506ff019066eb67b368931683eb03e03229b8c9650009007f28143040fc5ede";
const RTS_GORILLA_SAMPLES: [number, number][] = [
  [0, 27.276],
  [2678400000, 27.165],
  [5097600000, 25.787000000000006],
  [7776000000, 26.274],
  [10368000000, 26.595],
  [13046400000, 26.796999999999997],
  [15638400000, 27.197],
  [18316800000, 27.873],
  [20995200000, 28.496],
  [23587200000, 28.831999999999997],
  [26265600000, 29.204],
  [28857600000, 29.546999999999997],
];

/** Asserts `payload` is refused as `Bad data format: <why>`. */
function refused(payload: Uint8Array, why: string): void {
  try {
    decodeDump(payload);
  } catch (err) {
    if (!(err instanceof DumpPayloadError)) throw err;
    assertEquals(err.message, `Bad data format: ${why}`);
    return;
  }
  throw new Error("accepted");
}

Deno.test("time-series payload: RedisTimeSeries's compressed chunks decode to its samples", () => {
  const v = decodeDump(hex(RTS_GORILLA));
  if (v.type !== "series") throw new Error(v.type);
  assertEquals([...v.series.ts].map((t, i) => [t, v.series.values[i]]), RTS_GORILLA_SAMPLES);
  // A bit index that does not match what the samples used is refused, as is one past the data.
  const body = hex(RTS_GORILLA).slice(0, -10);
  const at = toHex(body).indexOf("020c02440502") / 2; // 12 samples, 1,029 bits used (0x405)
  for (
    const [bits, why] of [[0x04, "compressed chunk past its bits"], [
      0x0f,
      "compressed chunk bit index",
    ]] as const
  ) {
    const b = Uint8Array.from(body);
    b[at + 4] = bits; // 0x404: one bit short of the samples; 0xf05: past the 136 bytes
    refused(withFooter(new Uint8Array([...b, 0x09, 0x00])), why);
  }
});

/**
 * An encoding-version-2 payload of one compressed chunk: `count` samples at 0, 1, 2 … ms, all
 * of value 0 (after the first, two zero bits each: the same delta, the same value).
 */
function constantChunkPayload(count: number): Uint8Array {
  const out = new RdbOut();
  const uint = (n: number | bigint) => {
    out.len(2);
    out.u64(BigInt(n));
  };
  // The second sample takes 8 bits: "1" (the delta changes), "0" (5 bits follow), +1 in 5
  // bits least significant first, "0" (the same value). Then 2 zero bits a sample.
  const bitsUsed = 8 + 2 * (count - 2);
  const data = new Uint8Array(Math.ceil(bitsUsed / 64) * 8);
  data[0] = 0b00000101;
  out.byte(7);
  out.u64(0x4d20c1f9360f1002n); // TSDB-TYPE, encoding version 2
  out.len(5);
  out.string(new TextEncoder().encode("t"));
  for (const v of [0, data.length, 2, count - 1]) uint(v); // retention, size, options, last ts
  out.len(4);
  out.doubleLE(0); // last value
  for (const v of [count, 0, 0, 0, 1]) uint(v); // total, no source, labels, rules, one chunk
  for (const v of [data.length, count, bitsUsed, 0, 0, count - 1, 1, 0, 32, 32]) uint(v);
  out.len(5);
  out.string(data);
  out.len(0);
  return withFooter(new Uint8Array([...out.done(), 0x09, 0x00]));
}

Deno.test("time-series payload: RESTORE decodes at most TS_RESTORE_SAMPLES_MAX samples", () => {
  const v = decodeDump(constantChunkPayload(1000));
  if (v.type !== "series") throw new Error(v.type);
  assertEquals(v.series.ts.length, 1000);
  assertEquals([v.series.ts[0], v.series.ts[999], v.series.values[999]], [0, 999, 0]);
  assertEquals(decodeDump(constantChunkPayload(TS_RESTORE_SAMPLES_MAX)).type, "series");
  try {
    decodeDump(constantChunkPayload(TS_RESTORE_SAMPLES_MAX + 1));
    throw new Error("accepted");
  } catch (err) {
    if (!(err instanceof DumpPayloadError)) throw err;
    assertEquals(err.kind, "limit");
    assertEquals(
      err.message,
      `RESTORE of a time series takes at most ${TS_RESTORE_SAMPLES_MAX} samples`,
    );
  }
});

Deno.test("DUMP/RESTORE of a time series: options, labels, samples and TTL come back; rules do not", async () => {
  const t = await startTestServer();
  const r = await connectRedis(t.port);
  const info = async (key: string) => {
    const a = await r.call("TS.INFO", key) as unknown[];
    const o: Record<string, unknown> = {};
    for (let i = 0; i < a.length; i += 2) o[String(a[i])] = a[i + 1];
    return o;
  };
  try {
    await r.call(
      "TS.CREATE",
      "src",
      "RETENTION",
      100_000,
      "CHUNK_SIZE",
      64,
      "DUPLICATE_POLICY",
      "MAX",
      "LABELS",
      "room",
      "kitchen",
      "kind",
      "temp",
    );
    await r.call("TS.CREATE", "avg");
    await r.call("TS.CREATERULE", "src", "avg", "AGGREGATION", "avg", 1000);
    const samples: (string | number)[] = [];
    for (let i = 0; i < 500; i++) samples.push("src", 1_000_000 + i * 10, (i * 0.25).toFixed(2));
    await r.call("TS.MADD", ...samples);
    await r.call("TS.ADD", "avg", 1, 1); // its own sample, besides the rule's
    const range = await r.call("TS.RANGE", "src", "-", "+");
    const payload = (await r.dumpBuffer("src"))!;
    const before = await info("src");
    assertEquals(await r.restore("copy", 0, payload), "OK");
    assertEquals(await r.call("TS.RANGE", "copy", "-", "+"), range);
    const after = await info("copy");
    for (const k of ["totalSamples", "firstTimestamp", "lastTimestamp", "retentionTime"]) {
      assertEquals(after[k], before[k], k);
    }
    assertEquals(after.chunkSize, 64);
    assertEquals(after.duplicatePolicy, "max");
    assertEquals(after.labels, [["room", "kitchen"], ["kind", "temp"]]);
    assertEquals(after.rules, []);
    assertEquals(after.sourceKey, null);
    assertEquals(await r.call("TS.QUERYINDEX", "room=kitchen"), ["copy", "src"]);
    // The restored series takes writes under its own options.
    assertEquals(await r.call("TS.ADD", "copy", 1_000_000, 99), 1_000_000);
    assertEquals((await r.call("TS.GET", "copy")) as unknown[], [1_004_990, "124.75"]);
    // REPLACE over a series (its data goes) and over a string; BUSYKEY without it; a TTL.
    await assertRejects(() => r.restore("copy", 0, payload), Error, "BUSYKEY");
    assertEquals(await r.restore("avg", 0, payload, "REPLACE"), "OK");
    assertEquals(await r.call("TS.RANGE", "avg", "-", "+"), range);
    assertEquals((await info("src")).rules, []); // the rule ended with its destination
    await r.set("str", "v");
    assertEquals(await r.restore("str", 60_000, payload, "REPLACE"), "OK");
    assertEquals(await r.type("str"), "TSDB-TYPE");
    const ttl = await r.pttl("str");
    assertEquals(ttl > 0 && ttl <= 60_000, true, String(ttl));
    // An empty series round-trips too.
    await r.call("TS.CREATE", "empty");
    assertEquals(await r.restore("empty2", 0, (await r.dumpBuffer("empty"))!), "OK");
    assertEquals(await r.call("TS.RANGE", "empty2", "-", "+"), []);
    // What RedisTimeSeries dumped, compressed chunks and all.
    assertEquals(await r.restore("rts", 0, Buffer.from(hex(RTS_GORILLA))), "OK");
    assertEquals(
      await r.call("TS.RANGE", "rts", "-", "+", "COUNT", 2),
      [[0, "27.276"], [2678400000, "27.165"]],
    );
    assertEquals((await info("rts")).totalSamples, 12);
    // A payload whose checksum does not match changes nothing.
    const broken = Uint8Array.from(payload);
    broken[20] = broken[20]! ^ 1;
    await assertRejects(
      () => r.restore("nope", 0, Buffer.from(broken)),
      Error,
      "DUMP payload version or checksum are wrong",
    );
    assertEquals(await r.exists("nope"), 0);
  } finally {
    await closeRedis(r);
    await t.close();
  }
});
