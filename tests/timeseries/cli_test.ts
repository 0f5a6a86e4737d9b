/**
 * `cityhall ts …` end to end: a real `cityhall serve` process and real CLI processes.
 */

import { assertEquals } from "@std/assert";
import { assertHas, runCli, startServe, tempDir } from "../cli/_helpers.ts";

Deno.test("cityhall ts: add, range (raw and aggregated), info and list print script-friendly output", async () => {
  const [dir, cleanup] = await tempDir();
  const serve = await startServe(dir);
  const ts = (...args: string[]) => runCli(["ts", "--port", String(serve.port), ...args]);
  try {
    let r = await ts("add", "temp:kitchen", "1000", "21.5", "--labels", "room=kitchen,kind=temp");
    assertEquals([r.code, r.stdout, r.stderr], [0, "1000\n", ""]);
    r = await ts("add", "temp:kitchen", "2000", "-3.25");
    assertEquals([r.code, r.stdout], [0, "2000\n"]);
    r = await ts("add", "temp:hall", "1500", "19", "--labels", "room=hall,kind=temp");
    assertEquals(r.code, 0);

    r = await ts("range", "temp:kitchen");
    assertEquals([r.code, r.stdout], [0, "1000\t21.5\n2000\t-3.25\n"]);
    r = await ts("range", "temp:kitchen", "1500", "+");
    assertEquals(r.stdout, "2000\t-3.25\n");
    r = await ts("range", "temp:kitchen", "-", "+", "--aggregation", "max", "--bucket-ms", "10000");
    assertEquals(r.stdout, "0\t21.5\n");
    r = await ts("range", "temp:kitchen", "--json", "--count", "1");
    assertEquals(JSON.parse(r.stdout), { key: "temp:kitchen", samples: [[1000, 21.5]] });

    r = await ts("info", "temp:kitchen", "--json");
    assertEquals(r.code, 0);
    const info = JSON.parse(r.stdout);
    assertEquals([info.totalSamples, info.firstTimestamp, info.lastTimestamp], [2, 1000, 2000]);
    assertEquals(info.labels, { room: "kitchen", kind: "temp" });
    r = await ts("info", "temp:kitchen");
    assertHas(r.stdout, "totalSamples: 2\n");

    r = await ts("list");
    assertEquals(
      r.stdout,
      "temp:hall\troom=hall,kind=temp\t1500 19\ntemp:kitchen\troom=kitchen,kind=temp\t2000 -3.25\n",
    );
    r = await ts("list", "room=kitchen");
    assertEquals(r.stdout, "temp:kitchen\troom=kitchen,kind=temp\t2000 -3.25\n");
    r = await ts("list", "kind=temp", "room=~h.*", "--json");
    assertEquals(JSON.parse(r.stdout), [{
      key: "temp:hall",
      labels: { room: "hall", kind: "temp" },
      last: [1500, 19],
    }]);

    // Errors: the server's reply on stderr, exit 1; usage errors exit 2.
    r = await ts("range", "no:such");
    assertEquals([r.code, r.stdout, r.stderr], [
      1,
      "",
      "cityhall: ERR TSDB: the key does not exist\n",
    ]);
    r = await ts("add", "temp:kitchen", "3000", "warm");
    assertEquals([r.code, r.stderr], [1, "cityhall: ERR TSDB: invalid value\n"]);
    r = await ts("range", "temp:kitchen", "--aggregation", "avg");
    assertEquals(r.code, 2);
    assertHas(r.stderr, "--aggregation and --bucket-ms go together");
    r = await ts("frobnicate");
    assertEquals(r.code, 2);
    r = await ts("add", "k", "1", "2", "--labels", "novalue");
    assertEquals(r.code, 2);
    r = await runCli(["help", "ts"]);
    assertEquals(r.code, 0);
    assertHas(r.stdout, "Usage: cityhall ts <command>");
  } finally {
    assertEquals(await serve.stop(), 0);
    await cleanup();
  }
});
