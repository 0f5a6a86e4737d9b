/**
 * TS.ADD with options on an existing series, as RedisTimeSeries 1.8 reads them: only
 * ON_DUPLICATE counts (the creation options are read only when the command creates the series),
 * a policy it does not know is an error that writes nothing, and a sample newer than the others
 * is written whatever the policy says (it duplicates nothing).
 */
import { assertEquals } from "@std/assert";
import { FaultFs } from "../../src/fs/fault_fs.ts";
import { type Plain, type PlainClient, withDatabaseIn, withServer } from "./_resp.ts";

const OK = "+OK";

Deno.test("TS.ADD on an existing series reads ON_DUPLICATE alone and ignores creation options", async () => {
  await withServer(async (c) => {
    assertEquals(await c.send("TS.CREATE", "k", "LABELS", "site", "a"), OK);
    // Newer samples, with options: written; the creation options change nothing.
    assertEquals(await c.send("TS.ADD", "k", 10, 1, "ON_DUPLICATE", "LAST"), 10);
    assertEquals(await c.send("TS.ADD", "k", 20, 2, "LABELS", "site", "b", "RETENTION", 5), 20);
    assertEquals(await c.send("TS.ADD", "k", 30, 3, "on_duplicate", "min", "LABELS", "x"), 30);
    assertEquals(await c.send("TS.MGET", "WITHLABELS", "FILTER", "site=a"), [
      ["k", [["site", "a"]], [30, "+3"]],
    ]);
    assertEquals(await c.send("TS.RANGE", "k", "-", "+"), [[10, "+1"], [20, "+2"], [30, "+3"]]);
    // A duplicate follows ON_DUPLICATE, then the series' BLOCK.
    assertEquals(await c.send("TS.ADD", "k", 30, 7, "ON_DUPLICATE", "LAST"), 30);
    assertEquals(await c.send("TS.ADD", "k", 30, 5, "ON_DUPLICATE", "MAX"), 30);
    assertEquals(
      await c.send("TS.ADD", "k", 30, 9),
      "-ERR TSDB: Error at upsert, update is not supported when DUPLICATE_POLICY is set to BLOCK mode",
    );
    assertEquals(await c.send("TS.GET", "k"), [30, "+7"]);
  });
});

Deno.test("TS.ADD with an ON_DUPLICATE it cannot read is an error and writes nothing, newer sample or not", async () => {
  await withServer(async (c) => {
    assertEquals(await c.send("TS.ADD", "k", 10, 1), 10);
    for (const ts of [20, 10, "*"]) {
      assertEquals(
        await c.send("TS.ADD", "k", ts, 2, "ON_DUPLICATE", "NEWEST"),
        "-ERR TSDB: Unknown DUPLICATE_POLICY",
      );
      assertEquals(
        await c.send("TS.ADD", "k", ts, 2, "ON_DUPLICATE"),
        "-ERR TSDB: Couldn't parse DUPLICATE_POLICY",
      );
    }
    for (const policy of ["\0", "", "LAST\0", "l\u00e1st", "BLOCKS"]) {
      assertEquals(
        await c.send("TS.ADD", "k", 20, 2, "ON_DUPLICATE", policy),
        "-ERR TSDB: Unknown DUPLICATE_POLICY",
      );
    }
    assertEquals(await c.send("TS.RANGE", "k", "-", "+"), [[10, "+1"]]);
    // Keywords and policies in any case.
    assertEquals(await c.send("TS.ADD", "k", 10, 5, "oN_dUpLiCaTe", "lAsT"), 10);
    assertEquals(await c.send("TS.RANGE", "k", "-", "+"), [[10, "+5"]]);
  });
});

Deno.test("TS.ADD with options creates a missing series with them", async () => {
  await withServer(async (c) => {
    assertEquals(
      await c.send("TS.ADD", "n", 10, 1, "ON_DUPLICATE", "LAST", "LABELS", "site", "b"),
      10,
    );
    assertEquals(await c.send("TS.QUERYINDEX", "site=b"), ["n"]);
    // ON_DUPLICATE is for the command; the series' own policy is the default, BLOCK.
    assertEquals(
      await c.send("TS.ADD", "n", 10, 4),
      "-ERR TSDB: Error at upsert, update is not supported when DUPLICATE_POLICY is set to BLOCK mode",
    );
  });
});

Deno.test("TS.ADD of the newest timestamp again follows each duplicate policy, and a reopen replays the same values", async () => {
  const fs = new FaultFs();
  const expected: [string, Plain][] = [
    ["first", [[10, "+5"], [20, "+1"]]],
    ["last", [[10, "+7"], [20, "+4"]]],
    ["min", [[10, "+3"], [20, "+1"]]],
    ["max", [[10, "+7"], [20, "+4"]]],
    ["sum", [[10, "+22"], [20, "+5"]]],
    ["o", [[10, "+2"]]],
  ];
  const check = async (c: PlainClient) => {
    for (const [key, samples] of expected) {
      assertEquals(await c.send("TS.RANGE", key, "-", "+"), samples, key);
    }
  };
  await withDatabaseIn(fs, async (c) => {
    for (const [policy] of expected.slice(0, 5)) {
      assertEquals(await c.send("TS.CREATE", policy, "DUPLICATE_POLICY", policy), OK);
      for (const [ts, v] of [[10, 5], [10, 3], [10, 7], [10, 7], [20, 1], [20, 4]]) {
        assertEquals(await c.send("TS.ADD", policy, ts!, v!), ts);
      }
    }
    // ON_DUPLICATE decides over the series' own policy, BLOCK included.
    assertEquals(await c.send("TS.CREATE", "o", "DUPLICATE_POLICY", "LAST"), OK);
    assertEquals(await c.send("TS.ADD", "o", 10, 5), 10);
    assertEquals(await c.send("TS.ADD", "o", 10, 9, "ON_DUPLICATE", "SUM"), 10);
    assertEquals(await c.send("TS.RANGE", "o", "-", "+"), [[10, "+14"]]);
    assertEquals(await c.send("TS.ADD", "o", 10, 1, "ON_DUPLICATE", "FIRST"), 10);
    assertEquals(
      await c.send("TS.ADD", "o", 10, 1, "ON_DUPLICATE", "BLOCK"),
      "-ERR TSDB: Error at upsert, update is not supported when DUPLICATE_POLICY is set to BLOCK mode",
    );
    assertEquals(await c.send("TS.ADD", "o", 10, 2), 10);
    await check(c);
  });
  await withDatabaseIn(fs, check);
});
