/**
 * TS.INCRBY and TS.DECRBY as counters: each adds the increment to the newest value, at a newer
 * timestamp or the newest one again (which it replaces), on a plain series, one with a rule and
 * one with IGNORE thresholds, and the values survive a reopen.
 */
import { assertEquals } from "@std/assert";
import { FaultFs } from "../../src/fs/fault_fs.ts";
import { type Plain, type PlainClient, withDatabaseIn } from "./_resp.ts";

const OK = "+OK";

Deno.test("TS.INCRBY and TS.DECRBY count on plain series, series with rules or IGNORE, and across a reopen", async () => {
  const fs = new FaultFs();
  const expected: [string, Plain][] = [
    ["plain", [[1000, "+7"], [2000, "+4"], [3000, "+5"]]],
    ["ruled", [[1000, "+7"], [2000, "+4"], [3000, "+5"]]],
    ["ignoring", [[1000, "+7"], [2000, "+4"], [3000, "+5"]]],
    ["new", [[1000, "+7"], [2000, "+4"], [3000, "+5"]]],
    ["rollup", [[0, "+7"]]], // the bucket of 2000 is still open
  ];
  const check = async (c: PlainClient) => {
    for (const [key, samples] of expected) {
      assertEquals(await c.send("TS.RANGE", key, "-", "+"), samples, key);
    }
  };
  await withDatabaseIn(fs, async (c) => {
    assertEquals(await c.send("TS.CREATE", "plain"), OK);
    assertEquals(await c.send("TS.CREATE", "ruled"), OK);
    assertEquals(await c.send("TS.CREATE", "rollup"), OK);
    assertEquals(await c.send("TS.CREATERULE", "ruled", "rollup", "AGGREGATION", "max", 2000), OK);
    assertEquals(
      await c.send("TS.CREATE", "ignoring", "DUPLICATE_POLICY", "LAST", "IGNORE", 1, 0.5),
      OK,
    );
    for (const key of ["plain", "ruled", "ignoring", "new"]) {
      assertEquals(await c.send("TS.INCRBY", key, 5, "TIMESTAMP", 1000), 1000);
      assertEquals(await c.send("TS.INCRBY", key, 2, "TIMESTAMP", 1000), 1000);
      assertEquals(await c.send("TS.DECRBY", key, 3, "TIMESTAMP", 2000), 2000);
      assertEquals(
        await c.send("TS.INCRBY", key, 1, "TIMESTAMP", 1500),
        "-TSDB: for incrby/decrby, timestamp should be newer than the lastest one",
      );
      assertEquals(await c.send("TS.INCRBY", key, 1, "TIMESTAMP", 3000), 3000);
    }
    await check(c);
    // `*` is the server's clock: newer than every sample above.
    const before = Date.now();
    const now = await c.send("TS.INCRBY", "plain", 10) as number;
    assertEquals(now >= before && now <= Date.now(), true);
    assertEquals(await c.send("TS.GET", "plain"), [now, "+15"]);
    assertEquals(await c.send("TS.DEL", "plain", now, now), 1);
  });
  await withDatabaseIn(fs, check);
});
