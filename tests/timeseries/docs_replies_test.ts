/**
 * Differences found by replaying RedisTimeSeries's documented examples (its docs/commands pages,
 * 1.8 branch and v1.8.0 tag) against CityHall and checking the edge cases they describe against
 * 1.8's semantics: TS.INFO DEBUG's bytesPerSample, buckets that an ALIGN puts before 0 (in
 * queries, rules, LATEST and BACKFILL), EMPTY's per-aggregator values and BUCKETTIMESTAMP.
 * Expected values are worked out by hand from 1.8's rules (comments give the arithmetic).
 */

import { assertEquals } from "@std/assert";
import { type Plain, type PlainClient, withServer as withClient } from "./_resp.ts";

/** Samples 10:1, 20:2, 50:5, 75:3 in series `key` (created first). */
async function fourSamples(c: PlainClient, key: string): Promise<void> {
  assertEquals(await c.send("TS.CREATE", key), "+OK");
  assertEquals(await c.send("TS.MADD", key, 10, 1, key, 20, 2, key, 50, 5, key, 75, 3), [
    10,
    20,
    50,
    75,
  ]);
}

Deno.test("TS.INFO DEBUG: bytesPerSample is a double (bulk string in RESP2), inf for an empty chunk", async () => {
  await withClient(async (c) => {
    assertEquals(await c.send("TS.CREATE", "empty"), "+OK");
    const empty = await c.send("TS.INFO", "empty", "DEBUG") as Plain[];
    assertEquals(empty.length, 28);
    assertEquals(empty.slice(24, 27), ["+keySelfName", "empty", "+Chunks"]);
    const [chunk] = empty[27] as Plain[][];
    assertEquals(chunk![0], "+startTimestamp");
    assertEquals(chunk![4], "+samples");
    assertEquals(chunk![5], 0);
    assertEquals(chunk!.slice(8), ["+bytesPerSample", "inf"]);

    await fourSamples(c, "full");
    const full = await c.send("TS.INFO", "full", "DEBUG") as Plain[];
    const chunks = full[27] as Plain[][];
    let samples = 0;
    for (const ch of chunks) {
      assertEquals(ch[8], "+bytesPerSample");
      // 1.8 divides as C floats: (float)size / samples.
      assertEquals(ch[9], String(Math.fround((ch[7] as number) / (ch[5] as number))));
      samples += ch[5] as number;
    }
    assertEquals(samples, 4);
  });
});

Deno.test("ALIGN: a bucket that would start before 0 is reported at 0 and ends at its true end", async () => {
  await withClient(async (c) => {
    await fourSamples(c, "s");
    // ALIGN 20 (or end = 70: 70 % 25 = 20), bucket 25: buckets [-5,20) [20,45) [45,70) [70,95).
    const expected = [[0, "+1"], [20, "+2"], [45, "+5"]];
    assertEquals(
      await c.send("TS.RANGE", "s", 0, 70, "ALIGN", "end", "AGGREGATION", "min", 25),
      expected,
    );
    assertEquals(
      await c.send("TS.RANGE", "s", 0, 70, "ALIGN", 20, "AGGREGATION", "min", 25),
      expected,
    );
    assertEquals(
      await c.send("TS.REVRANGE", "s", 0, 100, "ALIGN", 20, "AGGREGATION", "count", 25),
      [[70, "+1"], [45, "+1"], [20, "+1"], [0, "+1"]],
    );
    // ALIGN 14: [-11,14) [14,39) [39,64) [64,89): each holds one sample, none is empty.
    assertEquals(
      await c.send("TS.RANGE", "s", 0, 100, "ALIGN", 14, "AGGREGATION", "count", 25, "EMPTY"),
      [[0, "+1"], [14, "+1"], [39, "+1"], [64, "+1"]],
    );
    // twa over [-5,20): 10→20 is (1+2)/2·10 = 15 over 10 ms = 1.5 (the frame ends at 20, where
    // the next sample is); [20,45): 2 → 4.5 (interpolated toward 50:5) = 81.25/25 = 3.25.
    assertEquals(
      await c.send("TS.RANGE", "s", 0, 100, "ALIGN", 20, "AGGREGATION", "twa", 25),
      [[0, "+1.5"], [20, "+3.25"], [45, "+4.31"], [70, "+3.2"]],
    );
  });
});

Deno.test("ALIGN in rules: the first bucket before 0 closes at its true end (rule, LATEST, BACKFILL, TS.DEL)", async () => {
  await withClient(async (c) => {
    assertEquals(await c.send("TS.CREATE", "src"), "+OK");
    assertEquals(await c.send("TS.CREATE", "dst"), "+OK");
    assertEquals(
      await c.send("TS.CREATERULE", "src", "dst", "AGGREGATION", "count", 25, 20),
      "+OK",
    );
    assertEquals(
      await c.send("TS.MADD", "src", 10, 1, "src", 20, 2, "src", 50, 5, "src", 75, 3),
      [10, 20, 50, 75],
    );
    const closed = [[0, "+1"], [20, "+1"], [45, "+1"]];
    assertEquals(await c.send("TS.RANGE", "dst", "-", "+"), closed);
    assertEquals(await c.send("TS.RANGE", "dst", "-", "+", "LATEST"), [...closed, [70, "+1"]]);
    assertEquals(await c.send("TS.CREATE", "dst2"), "+OK");
    assertEquals(
      await c.send("TS.CREATERULE", "src", "dst2", "AGGREGATION", "count", 25, 20, "BACKFILL"),
      "+OK",
    );
    assertEquals(await c.send("TS.RANGE", "dst2", "-", "+"), closed);
    // Deleting the only sample of [-5,20) empties that bucket and nothing else.
    assertEquals(await c.send("TS.DEL", "src", 10, 10), 1);
    assertEquals(await c.send("TS.RANGE", "dst", "-", "+"), closed.slice(1));
  });
});

Deno.test("EMPTY reports each aggregator's documented value; BUCKETTIMESTAMP takes -, low, +, high, ~, mid", async () => {
  await withClient(async (c) => {
    await fourSamples(c, "s");
    const range = (...rest: (string | number)[]) => c.send("TS.RANGE", "s", 0, 100, ...rest);
    // Buckets of 10: samples in 10, 20, 50, 70; empty 30, 40, 60. Nothing before the first
    // sample's bucket nor after the last one's.
    assertEquals(await range("AGGREGATION", "avg", 10, "EMPTY"), [
      [10, "+1"],
      [20, "+2"],
      [30, "+NaN"],
      [40, "+NaN"],
      [50, "+5"],
      [60, "+NaN"],
      [70, "+3"],
    ]);
    // last: the last value before the bucket.
    assertEquals(
      (await range("AGGREGATION", "last", 10, "EMPTY") as Plain[]).map((p) => (p as Plain[])[1]),
      ["+1", "+2", "+2", "+2", "+5", "+5", "+3"],
    );
    // sum and count: 0.
    assertEquals(
      (await range("AGGREGATION", "count", 10, "EMPTY") as Plain[]).map((p) => (p as Plain[])[1]),
      ["+1", "+1", "+0", "+0", "+1", "+0", "+1"],
    );
    // twa: linear interpolation between the samples around the bucket: 20:2 → 50:5 gives
    // 3 at 30 and 4 at 40 (average 3.5); 50:5 → 75:3 gives 4.2 at 60 and 3.4 at 70 (3.8).
    assertEquals(
      (await range("AGGREGATION", "twa", 10, "EMPTY") as Plain[]).map((p) => (p as Plain[])[1]),
      ["+1.5", "+2.5", "+3.5", "+4.5", "+4.6", "+3.8", "+3.2"],
    );
    for (
      const [bt, shift] of [
        ["-", 0],
        ["low", 0],
        ["start", 0],
        ["+", 25],
        ["high", 25],
        [
          "end",
          25,
        ],
        ["~", 12],
        ["mid", 12],
      ] as const
    ) {
      assertEquals(
        await range("AGGREGATION", "sum", 25, "BUCKETTIMESTAMP", bt, "EMPTY"),
        [[0 + shift, "+3"], [25 + shift, "+0"], [50 + shift, "+5"], [75 + shift, "+3"]],
        bt,
      );
    }
  });
});

Deno.test("avg of values near the largest double does not overflow to infinity (RedisTimeSeries's test_agg_avg)", async () => {
  await withClient(async (c) => {
    assertEquals(await c.send("TS.CREATE", "big"), "+OK");
    const max = 1.7976931348623157e308;
    for (const [t, v] of [[1, max - 10], [2, max - 8], [3, max - 6]]) {
      assertEquals(await c.send("TS.ADD", "big", t!, String(v)), t);
    }
    // Each value rounds to the largest double; their sum overflows a double, their mean does not.
    assertEquals(await c.send("TS.RANGE", "big", 0, 3, "AGGREGATION", "avg", 5), [
      [0, "+1.7976931348623157E308"],
    ]);
  });
});

Deno.test("TS.REVRANGE aggregates newest first: first and last trade places, EMPTY last carries the later sample (RedisTimeSeries's test_empty)", async () => {
  await withClient(async (c) => {
    assertEquals(await c.send("TS.CREATE", "t1"), "+OK");
    for (const [t, v] of [[15, 1], [17, 4], [51, 3], [73, 5], [75, 3]]) {
      assertEquals(await c.send("TS.ADD", "t1", t!, v!), t);
    }
    const agg = (cmd: string, aggregator: string) =>
      c.send(cmd, "t1", 0, 100, "ALIGN", 0, "AGGREGATION", aggregator, 10, "EMPTY");
    const rows = (pairs: [number, number][]) => pairs.map(([t, v]) => [t, `+${v}`]);
    assertEquals(
      await agg("TS.RANGE", "last"),
      rows([[10, 4], [20, 4], [30, 4], [40, 4], [50, 3], [60, 3], [70, 3]]),
    );
    assertEquals(
      await agg("TS.REVRANGE", "last"),
      rows([[70, 5], [60, 5], [50, 3], [40, 3], [30, 3], [20, 3], [10, 1]]),
    );
    // Without EMPTY: first is the newest sample of each bucket, newest first.
    assertEquals(await c.send("TS.REVRANGE", "t1", 0, 100, "AGGREGATION", "first", 10), [
      [70, "+3"],
      [50, "+3"],
      [10, "+4"],
    ]);
    // Symmetric aggregators are unchanged.
    assertEquals(await c.send("TS.REVRANGE", "t1", 0, 100, "AGGREGATION", "sum", 10), [
      [70, "+8"],
      [50, "+3"],
      [10, "+5"],
    ]);
  });
});
