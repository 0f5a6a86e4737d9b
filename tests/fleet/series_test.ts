/**
 * Time series across a fleet, with real processes: two edges' series arrive at the hub as
 * `S/K` with `site=S` (an edge label `site` kept as `exported_site`), one TS.MRANGE …
 * GROUPBY site REDUCE sum answers across the sites, deletes, late samples and renames follow,
 * what an edge wrote while the hub was down arrives, and hub clients cannot write a site's
 * series.
 *
 * @module
 */

import { assert, assertEquals } from "@std/assert";
import { tempDir } from "../cli/_helpers.ts";
import { PlainClient } from "../timeseries/_resp.ts";
import { addSiteCli, type FleetProcess, spawnDaemon, spawnEdge, spawnHub } from "./_procs.ts";
import { eventually, removeDir } from "./_helpers.ts";
import { freePort } from "../cli/_helpers.ts";

async function until(c: PlainClient, args: (string | number)[], want: unknown, what: string) {
  let last: unknown;
  try {
    await eventually(
      async () => {
        try {
          last = await c.send(...args);
        } catch (err) {
          last = String(err);
        }
        return JSON.stringify(last) === JSON.stringify(want);
      },
      what,
      3000,
    );
  } catch {
    assertEquals(last, want, what);
  }
}

Deno.test("hub series: S/K with site=S; MRANGE GROUPBY site REDUCE sum across sites; deletes, late samples, renames", async () => {
  const [root] = await tempDir("cityhall-fleet-ts-");
  const hubDir = `${root}/hub`;
  const procs: FleetProcess[] = [];
  const clients: PlainClient[] = [];
  try {
    const syncPort = freePort();
    const tok1 = await addSiteCli(hubDir, "s1", root);
    const tok2 = await addSiteCli(hubDir, "s2", root);
    const hub = await spawnDaemon([
      "hub",
      "--data-dir",
      hubDir,
      "--port",
      "0",
      "--http-port",
      "0",
      "--sync-port",
      String(syncPort),
    ]);
    procs.push(hub);
    const e1 = await spawnEdge(`${root}/e1`, syncPort, "s1", tok1);
    procs.push(e1);
    const e2 = await spawnEdge(`${root}/e2`, syncPort, "s2", tok2);
    procs.push(e2);
    const [h, c1, c2] = await Promise.all(
      [hub, e1, e2].map((p) => PlainClient.connect(p.port)),
    );
    clients.push(h!, c1!, c2!);

    await c1!.send("TS.CREATE", "temp", "LABELS", "room", "a", "site", "plant-7");
    await c1!.send("TS.MADD", "temp", 1000, 1, "temp", 2000, 2, "temp", 3000, 3);
    await c2!.send("TS.ADD", "temp", 1000, 10, "LABELS", "room", "b");
    await c2!.send("TS.MADD", "temp", 2000, 20, "temp", 3000, 30);
    await h!.send("TS.ADD", "local", 1000, 5, "LABELS", "room", "hq");

    const mrange = [
      "TS.MRANGE",
      "-",
      "+",
      "FILTER",
      "site=(s1,s2)",
      "GROUPBY",
      "site",
      "REDUCE",
      "sum",
    ];
    await until(h!, mrange, [
      ["site=s1", [], [[1000, "+1"], [2000, "+2"], [3000, "+3"]]],
      ["site=s2", [], [[1000, "+10"], [2000, "+20"], [3000, "+30"]]],
    ], "both sites' series at the hub");
    const info = await h!.send("TS.INFO", "s1/temp") as unknown[];
    const labels = info[info.indexOf("+labels") + 1];
    assertEquals(labels, [["room", "a"], ["exported_site", "plant-7"], ["site", "s1"]]);
    assertEquals(await h!.send("TS.QUERYINDEX", "room=hq"), ["local"]);

    // Deletes, a sample overwritten, one sample late, then a rename on s2.
    await c1!.send("TS.DEL", "temp", 2000, 2000);
    await c1!.send("TS.ADD", "temp", 3000, 33, "ON_DUPLICATE", "LAST");
    await c1!.send("TS.ADD", "temp", 500, 7);
    await c2!.send("RENAME", "temp", "temperature");
    await c2!.send("TS.ADD", "temperature", 4000, 40);
    await until(
      h!,
      ["TS.RANGE", "s1/temp", "-", "+"],
      [[500, "+7"], [1000, "+1"], [3000, "+33"]],
      "s1's delete and updates",
    );
    await until(
      h!,
      ["TS.RANGE", "s2/temperature", "-", "+"],
      [[1000, "+10"], [2000, "+20"], [3000, "+30"], [4000, "+40"]],
      "s2's renamed series",
    );
    assertEquals(await h!.send("EXISTS", "s2/temp"), 0);
    await c2!.send("EXPIRE", "temperature", 3600);
    await eventually(
      async () => {
        const ttl = await h!.send("TTL", "s2/temperature");
        return typeof ttl === "number" && ttl > 3000 && ttl <= 3600;
      },
      "the series' expiry at the hub",
      3000,
    );

    // A hub client cannot write into a site's namespace, series included.
    // Refused before the time-series layer runs: nothing changes, in memory either.
    const refusal = "-ERR Key is in site s1's namespace (s1/…): only its uplink writes there";
    assertEquals(await h!.send("TS.ADD", "s1/temp", 9000, 9), refusal);
    assertEquals(await h!.send("TS.MADD", "local", 2000, 1, "s1/temp", 9000, 9), refusal);
    assertEquals(await h!.send("TS.RANGE", "s1/temp", 9000, 9000), []);
    const created = await h!.send("TS.CREATE", "s2/new");
    assert(
      typeof created === "string" && created.startsWith("-ERR Key is in site s2"),
      String(created),
    );
    assertEquals(await h!.send("EXISTS", "s2/new"), 0);
    const http = await fetch(`http://127.0.0.1:${hub.httpPort}/v1/series/s1%2Ftemp/samples`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ samples: [[9000, 9]] }),
    });
    assertEquals(http.status, 403);
    assert((await http.text()).includes("namespace"));
    assertEquals(await h!.send("TS.RANGE", "s1/temp", 9000, 9000), []);

    // The hub down: the edge keeps writing; on return everything arrives, deletes included.
    await hub.stop("SIGKILL");
    procs.splice(procs.indexOf(hub), 1);
    clients.shift()!.close();
    for (let t = 5000; t < 5100; t++) await c1!.send("TS.ADD", "temp", t, t % 7);
    await c1!.send("DEL", "temp");
    await c1!.send("TS.ADD", "fresh", 1, 1, "LABELS", "k", "v");
    const hub2 = await spawnHub(hubDir, syncPort);
    procs.push(hub2);
    const h2 = await PlainClient.connect(hub2.port);
    clients.push(h2);
    await until(h2, ["TS.QUERYINDEX", "site=s1"], ["s1/fresh"], "s1's series after the outage");
    assertEquals(await h2.send("EXISTS", "s1/temp"), 0);
    assert(hub2.log().includes("listening"));
  } catch (err) {
    for (const p of procs) console.error(p.log().slice(-3000));
    throw err;
  } finally {
    for (const c of clients) c.close();
    for (const p of procs) await p.stop("SIGKILL").catch(() => {});
    await removeDir(root);
  }
});
