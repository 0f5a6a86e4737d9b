/**
 * HQ's query across sites with PromQL (issue 12, "Namespaces at the hub"): two edges' series
 * reach the hub with `site=S` added (an edge label `site` kept as `exported_site`), and
 * `sum by (site) (…)` on the hub's Prometheus API (`/api/v1/query`) answers one sum per site.
 * Real hub and edge processes.
 */

import { assertEquals } from "@std/assert";
import { RespClient } from "../../src/cli/resp_client.ts";
import { freePort } from "../cli/_helpers.ts";
import { eventually, removeDir } from "./_helpers.ts";
import { addSiteCli, type FleetProcess, spawnDaemon, spawnEdge } from "./_procs.ts";

const T = 1_700_000_000;

async function redis(port: number, commands: string[][]): Promise<void> {
  const client = await RespClient.connect({ hostname: "127.0.0.1", port });
  try {
    for (const reply of await client.pipeline(commands)) {
      if (reply.kind === "error") throw new Error(reply.value);
    }
  } finally {
    client.close();
  }
}

interface Vector {
  status: string;
  data: {
    resultType: string;
    result: { metric: Record<string, string>; value: [number, string] }[];
  };
}

async function query(hub: FleetProcess, q: string): Promise<Vector> {
  const url = new URL(`http://127.0.0.1:${hub.httpPort}/api/v1/query`);
  url.searchParams.set("query", q);
  url.searchParams.set("time", String(T + 30));
  const r = await fetch(url);
  const body = await r.json();
  if (r.status !== 200) throw new Error(`${r.status} ${JSON.stringify(body)}`);
  return body as Vector;
}

Deno.test("fleet: PromQL sum by (site) over the hub's /api/v1/query sums each site's series", async () => {
  const root = await Deno.makeTempDir({ prefix: "cityhall-fleet-promql-" });
  const syncPort = freePort();
  const north = await addSiteCli(`${root}/hub`, "north", root);
  const south = await addSiteCli(`${root}/hub`, "south", root);
  const hub = await spawnDaemon([
    "hub",
    "--data-dir",
    `${root}/hub`,
    "--port",
    "0",
    "--http-port",
    "0",
    "--sync-port",
    String(syncPort),
  ]);
  const edges = [
    await spawnEdge(`${root}/north`, syncPort, "north", north),
    await spawnEdge(`${root}/south`, syncPort, "south", south),
  ];
  try {
    const at = String(T * 1000);
    await redis(edges[0]!.port, [
      ["TS.CREATE", "temp:1", "LABELS", "__name__", "temp", "room", "a"],
      ["TS.CREATE", "temp:2", "LABELS", "__name__", "temp", "room", "b"],
      ["TS.CREATE", "hum:1", "LABELS", "__name__", "hum", "room", "a"],
      ["TS.ADD", "temp:1", at, "10"],
      ["TS.ADD", "temp:2", at, "20.5"],
      ["TS.ADD", "hum:1", at, "55"],
    ]);
    await redis(edges[1]!.port, [
      ["TS.CREATE", "temp:1", "LABELS", "__name__", "temp", "room", "a"],
      // An edge label named site: the hub keeps it as exported_site and adds its own.
      ["TS.CREATE", "temp:cellar", "LABELS", "__name__", "temp", "site", "cellar"],
      ["TS.ADD", "temp:1", at, "1"],
      ["TS.ADD", "temp:cellar", at, "2.25"],
    ]);
    let last: Vector | undefined;
    await eventually(async () => {
      last = await query(hub, "sum by (site) (temp)");
      return last.data.result.length === 2 &&
        last.data.result.every((r) =>
          r.metric.site === "north" ? r.value[1] === "30.5" : r.value[1] === "3.25"
        );
    }, `per-site sums at the hub (${JSON.stringify(last)})`);
    const sums = Object.fromEntries(last!.data.result.map((r) => [r.metric.site, r.value[1]]));
    assertEquals(sums, { north: "30.5", south: "3.25" });
    assertEquals(last!.data.resultType, "vector");
    for (const r of last!.data.result) assertEquals(Object.keys(r.metric), ["site"]);

    const cellar = await query(hub, 'temp{exported_site="cellar"}');
    assertEquals(cellar.data.result.map((r) => [r.metric.site, r.value[1]]), [["south", "2.25"]]);
    const one = await query(hub, 'sum by (site) (temp{site="north"})');
    assertEquals(one.data.result.map((r) => [r.metric.site, r.value[1]]), [["north", "30.5"]]);
  } finally {
    for (const e of edges) await e.stop();
    await hub.stop();
    await removeDir(root);
  }
});
