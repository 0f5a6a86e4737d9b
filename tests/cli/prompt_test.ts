/**
 * The prompt's `BATCH n` (issue 7.7): the lsm-kv-store seed's benchmark word writes n random
 * records as MULTI/EXEC groups and prints the count and the rate; the lines after it are
 * ordinary commands again (it used to swallow the next n lines).
 */
import { assert, assertEquals, assertMatch } from "@std/assert";
import { runCli, startServe, tempDir } from "./_helpers.ts";
import { closeRedis, connectRedis } from "../server/_helpers.ts";

Deno.test("cityhall client prompt: BATCH n writes n random records in MULTI/EXEC groups", async () => {
  const [dir, cleanup] = await tempDir();
  const serve = await startServe(dir, ["--no-http"]);
  try {
    const r = await runCli(["client", "--port", String(serve.port)], {
      stdin: "BATCH 2500\nSET after 1\nGET after\nBATCH 0\n",
    });
    assertEquals(r.code, 1, r.stderr); // BATCH 0 is a usage error
    const lines = r.stdout.split("\n");
    assertMatch(lines[0]!, /^Wrote 2500 records in \d+\.\d{3} s \(\d+ records\/s\)$/);
    assertEquals(lines.slice(1, 3), ["OK", '"1"']);
    assertMatch(lines[3]!, /^\(error\) ERR usage: BATCH n/);
    const redis = await connectRedis(serve.port, { protocol: 2 });
    try {
      const keys = await redis.keys("batch:*");
      assertEquals(keys.length, 2500);
      assert(keys.every((k) => /^batch:[0-9a-f]{16}$/.test(k)));
      const stats = await redis.info("stats");
      // 1,000 records per group: three transactions.
      assertEquals(/^cityhall_transactions_executed:(\d+)/m.exec(stats)?.[1], "3");
    } finally {
      await closeRedis(redis);
    }
    const json = await runCli(["client", "--json", "--port", String(serve.port)], {
      stdin: "BATCH 10\n",
    });
    assertEquals(json.code, 0, json.stderr);
    const out = JSON.parse(json.stdout);
    assertEquals(out.written, 10);
    assert(typeof out.recordsPerSecond === "number" && typeof out.seconds === "number");
  } finally {
    assertEquals(await serve.stop(), 0);
    await cleanup();
  }
});
