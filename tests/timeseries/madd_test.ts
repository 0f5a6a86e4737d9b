/**
 * TS.MADD's packed path (the RESP parser keeps its arguments in one buffer, the handler parses
 * them in place) against its ordinary path: the same replies, per-sample errors, reserved keys
 * and arity errors, and MONITOR, SLOWLOG and keyspace events still see every argument and key;
 * its lookup memo (TS.ADD's too) never outlives a change of a key (DEL, SET, RENAME, TS.ALTER, an
 * expiry).
 */

import { assert, assertEquals } from "@std/assert";
import { RawClient } from "../server/_helpers.ts";
import { type Plain, type PlainClient, withServer } from "./_resp.ts";
import { ERR_RESERVED_KEY } from "../../src/keyspace/mod.ts";

/** A command with per-sample refusals of every kind, as RedisTimeSeries 1.8 answers it. */
const MIXED: [(string | number)[], Plain] = [
  [
    "TS.MADD",
    ...["a", 10, 1, "b", 10, 2, "a", 10, 3, "a", 11, "x", "a", "t", 4, "a", -5, 5],
    ...["nope", 1, 1, "a", 12, "1e2", "b", 9, -0.25, "a", 99999999999999999999, 1],
    ...["str", 1, 1, "b", 11, "2.50"],
  ],
  [
    10,
    10,
    "-ERR TSDB: Error at upsert, update is not supported when DUPLICATE_POLICY is set to BLOCK mode",
    "-ERR TSDB: invalid value",
    "-ERR TSDB: invalid timestamp",
    "-ERR TSDB: invalid timestamp, must be a nonnegative integer",
    "-ERR TSDB: the key is not a TSDB key",
    12,
    9,
    "-ERR TSDB: invalid timestamp",
    "-ERR TSDB: the key is not a TSDB key",
    11,
  ],
];

async function setUp(c: PlainClient): Promise<void> {
  assertEquals(await c.send("TS.CREATE", "a"), "+OK");
  assertEquals(await c.send("TS.CREATE", "b", "DUPLICATE_POLICY", "LAST"), "+OK");
  assertEquals(await c.send("SET", "str", "v"), "+OK");
}

Deno.test("TS.MADD answers the same on its packed path and with MONITOR on (the ordinary path)", async () => {
  const replies: Plain[] = [];
  const ranges: Plain[] = [];
  for (const monitored of [false, true]) {
    await withServer(async (c, s) => {
      await setUp(c);
      const monitor = monitored ? await RawClient.connect(s.port) : undefined;
      try {
        if (monitor) {
          await monitor.send("MONITOR\r\n");
          await monitor.readUntil((t) => t.endsWith("+OK\r\n"));
        }
        replies.push(await c.send(...MIXED[0]));
        ranges.push([
          await c.send("TS.RANGE", "a", "-", "+"),
          await c.send("TS.RANGE", "b", "-", "+"),
        ]);
        if (monitor) {
          const seen = await monitor.readUntil((t) => t.includes('"2.50"'));
          assert(seen.includes('"TS.MADD" "a" "10" "1" "b" "10" "2"'), seen);
        }
      } finally {
        monitor?.close();
      }
    });
  }
  assertEquals(replies[0], MIXED[1]);
  assertEquals(replies[1], MIXED[1]);
  assertEquals(ranges[0], [[[10, "+1"], [12, "+100"]], [[9, "+-2.5E-1"], [10, "+2"], [
    11,
    "+2.5",
  ]]]);
  assertEquals(ranges[1], ranges[0]);
});

Deno.test("TS.MADD's packed path: SLOWLOG keeps its arguments; reserved keys, arity and MULTI are refused", async () => {
  await withServer(async (c) => {
    await setUp(c);
    assertEquals(await c.send("CONFIG", "SET", "slowlog-log-slower-than", "0"), "+OK");
    assertEquals(await c.send("SLOWLOG", "RESET"), "+OK");
    assertEquals(await c.send("TS.MADD", "a", 1, 1, "b", 2, 2), [1, 2]);
    const log = await c.send("SLOWLOG", "GET", 1) as Plain[][];
    assertEquals(log[0]![3], ["TS.MADD", "a", "1", "1", "b", "2", "2"]);
    // Past 32 arguments: the first 31 and a count of the others, as Redis keeps them.
    const many = ["TS.MADD"];
    for (let i = 0; i < 20; i++) many.push("a", String(100 + i), "1");
    assertEquals(await c.send(...many), Array.from({ length: 20 }, (_, i) => 100 + i));
    const long = await c.send("SLOWLOG", "GET", 1) as Plain[][];
    assertEquals(long[0]![3], [...many.slice(0, 31), "... (30 more arguments)"]);
    assertEquals(await c.send("CONFIG", "SET", "slowlog-log-slower-than", "-1"), "+OK");

    // Keyspace events of TS.MADD: tests/server/series_keyspace_test.ts.
    assertEquals(await c.send("TS.MADD", "b", 5, 1, "a", 5, 1, "a", 5, 2, "b", 6, "x"), [
      5,
      5,
      "-ERR TSDB: Error at upsert, update is not supported when DUPLICATE_POLICY is set to BLOCK mode",
      "-ERR TSDB: invalid value",
    ]);

    const reserved = new Uint8Array([0xff, 0x61]);
    assertEquals(await c.send("TS.MADD", "a", 20, 1, reserved, 20, 1), `-${ERR_RESERVED_KEY}`);
    const arity = "-ERR wrong number of arguments for 'ts.madd' command";
    assertEquals(await c.send("TS.MADD", "a", 21, 1, "a"), arity);
    assertEquals(await c.send("TS.MADD", "a", 21), arity);
    assertEquals(await c.send("MULTI"), "+OK");
    assertEquals(
      await c.send("TS.MADD", "a", 21, 1),
      "-ERR Command not allowed inside a transaction",
    );
    assertEquals(await c.send("DISCARD"), "+OK");
    assertEquals(await c.send("TS.RANGE", "a", 20, 99), []);
  });
});

Deno.test("TS.MADD without refusals: replies are each sample's timestamp, the newest one for an IGNOREd sample, the clock for *", async () => {
  await withServer(async (c) => {
    assertEquals(
      await c.send("TS.CREATE", "i", "DUPLICATE_POLICY", "LAST", "IGNORE", 10, 1),
      "+OK",
    );
    assertEquals(await c.send("TS.CREATE", "a"), "+OK");
    assertEquals(
      await c.send("TS.MADD", "i", 1000, 5, "a", 9, 1, "i", 1005, 5.5, "i", 2000, 9, "a", 10, 2),
      [1000, 9, 1000, 2000, 10],
    );
    const before = Date.now();
    const got = await c.send("TS.MADD", "a", "*", 1, "i", "*", 2) as number[];
    const after = Date.now();
    assertEquals(got.length, 2);
    for (const t of got) assert(t >= before && t <= after, `${t} in [${before}, ${after}]`);
    assertEquals(await c.send("TS.RANGE", "i", "-", 2000), [[1000, "+5"], [2000, "+9"]]);
    // 999,999,999,999,999 ms and a 1-digit timestamp: replies of every width.
    assertEquals(await c.send("TS.CREATE", "w"), "+OK");
    assertEquals(await c.send("TS.MADD", "w", 7, 1, "w", 999999999999999, 1), [7, 999999999999999]);
  });
});

Deno.test("TS.MADD sees every change of its keys between two commands: DEL, a string in its place, a new series, RENAME, TS.ALTER, an expiry", async () => {
  await withServer(async (c) => {
    const notSeries = "-ERR TSDB: the key is not a TSDB key";
    assertEquals(await c.send("TS.CREATE", "a"), "+OK");
    assertEquals(await c.send("TS.CREATE", "b"), "+OK");
    assertEquals(await c.send("TS.MADD", "a", 1, 1, "b", 1, 1), [1, 1]);
    // Only TS.MADDs in between: the same series answer.
    assertEquals(await c.send("TS.MADD", "a", 2, 2, "b", 2, 2), [2, 2]);
    assertEquals(await c.send("DEL", "a"), 1);
    assertEquals(await c.send("TS.MADD", "a", 3, 3, "b", 3, 3), [notSeries, 3]);
    assertEquals(await c.send("SET", "a", "x"), "+OK");
    assertEquals(await c.send("TS.MADD", "b", 4, 4, "a", 4, 4), [4, notSeries]);
    assertEquals(await c.send("DEL", "a"), 1);
    assertEquals(await c.send("TS.CREATE", "a"), "+OK");
    assertEquals(await c.send("TS.MADD", "a", 5, 5), [5]);
    assertEquals(await c.send("TS.RANGE", "a", "-", "+"), [[5, "+5"]]);
    assertEquals(await c.send("RENAME", "b", "c"), "+OK");
    assertEquals(await c.send("TS.MADD", "b", 6, 6, "c", 6, 6), [notSeries, 6]);
    assertEquals(await c.send("TS.RANGE", "c", 4, "+"), [[4, "+4"], [6, "+6"]]);
    const block =
      "-ERR TSDB: Error at upsert, update is not supported when DUPLICATE_POLICY is set to BLOCK mode";
    assertEquals(await c.send("TS.MADD", "c", 6, 7), [block]);
    assertEquals(await c.send("TS.ALTER", "c", "DUPLICATE_POLICY", "LAST"), "+OK");
    assertEquals(await c.send("TS.MADD", "c", 6, 7), [6]);
    assertEquals(await c.send("TS.GET", "c"), [6, "+7"]);
    // An expiry ends a series without a write: TS.MADDs alone (which write) until it does.
    assertEquals(await c.send("PEXPIRE", "c", 300), 1);
    let t = 100;
    for (;;) {
      const got = await c.send("TS.MADD", "c", t, 1);
      if (Array.isArray(got) && got[0] === notSeries) break;
      assertEquals(got, [t]);
      assert(t < 100 + 1000, "the expired series kept taking samples");
      t++;
      await new Promise((r) => setTimeout(r, 20));
    }
    assertEquals(await c.send("EXISTS", "c"), 0);
  });
});

Deno.test("TS.ADD sees every change of its key between two commands: DEL, a string in its place, RENAME, TS.ALTER, an expiry", async () => {
  // TS.ADD looks its key up through the same memo as TS.MADD.
  await withServer(async (c) => {
    const notSeries = "-ERR TSDB: the key is not a TSDB key";
    assertEquals(await c.send("TS.ADD", "a", 1, 1), 1); // created
    // Only TS.ADDs in between: the same series answers.
    assertEquals(await c.send("TS.ADD", "a", 2, 2), 2);
    assertEquals(await c.send("TS.ADD", "b", 2, 2), 2);
    assertEquals(await c.send("DEL", "a"), 1);
    assertEquals(await c.send("TS.ADD", "a", 3, 3), 3); // a new series
    assertEquals(await c.send("TS.RANGE", "a", "-", "+"), [[3, "+3"]]);
    assertEquals(await c.send("DEL", "a"), 1);
    assertEquals(await c.send("SET", "a", "x"), "+OK");
    assertEquals(await c.send("TS.ADD", "a", 4, 4), notSeries);
    assertEquals(await c.send("GET", "a"), "x");
    assertEquals(await c.send("RENAME", "b", "c"), "+OK");
    assertEquals(await c.send("TS.ADD", "c", 5, 5), 5);
    assertEquals(await c.send("TS.ADD", "b", 6, 6), 6); // a new series again
    assertEquals(await c.send("TS.RANGE", "c", "-", "+"), [[2, "+2"], [5, "+5"]]);
    assertEquals(await c.send("TS.RANGE", "b", "-", "+"), [[6, "+6"]]);
    const block =
      "-ERR TSDB: Error at upsert, update is not supported when DUPLICATE_POLICY is set to BLOCK mode";
    assertEquals(await c.send("TS.ADD", "c", 5, 7), block);
    assertEquals(await c.send("TS.ALTER", "c", "DUPLICATE_POLICY", "LAST"), "+OK");
    assertEquals(await c.send("TS.ADD", "c", 5, 7), 5);
    assertEquals(await c.send("TS.GET", "c"), [5, "+7"]);
    // An expiry ends a series without a write: TS.ADDs alone (which write) until it does,
    // then the next TS.ADD creates a new series holding only its own sample.
    assertEquals(await c.send("PEXPIRE", "c", 300), 1);
    let t = 100;
    for (;;) {
      assertEquals(await c.send("TS.ADD", "c", t, 1), t);
      const range = await c.send("TS.RANGE", "c", "-", "+");
      if (Array.isArray(range) && range.length === 1) {
        assertEquals(range, [[t, "+1"]]);
        break;
      }
      assert(t < 100 + 1000, "the expired series kept taking samples");
      t++;
      await new Promise((r) => setTimeout(r, 20));
    }
    assert(t > 100, "the series expired before its first sample");
  });
});
