/**
 * The console's replication page data (`GET /v1/replication`) on a fleet: the hub lists each site
 * and the edge its uplink, with the acknowledged position, lag, rate, ETA and last contact the
 * fleet layer measures (the same numbers as INFO sites / INFO uplink).
 */

import { assert, assertEquals } from "@std/assert";
import { freePort } from "../cli/_helpers.ts";
import { removeDir } from "./_helpers.ts";
import { addSiteCli, spawnDaemon } from "./_procs.ts";

interface Uplink {
  name: string;
  state: string;
  position: number;
  lagEntries: number;
  lagSeconds: number;
  etaSeconds: number;
  lastContactMs: number;
  lastError: string;
}

async function uplinks(port: number): Promise<Uplink[]> {
  const res = await fetch(`http://127.0.0.1:${port}/v1/replication`);
  const body = await res.json();
  assertEquals(res.status, 200, JSON.stringify(body));
  return body.uplinks;
}

async function until<T>(what: string, f: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

Deno.test("console status: /v1/replication lists a hub's sites and an edge's uplink with position and lag", async () => {
  const root = await Deno.makeTempDir({ prefix: "cityhall-fleet-console-" });
  const syncPort = freePort();
  const tokenFile = await addSiteCli(`${root}/hub`, "clinic", root);
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
  let edge;
  try {
    // Before the edge ever connects, the hub lists the site as registered and offline.
    const before = await uplinks(hub.httpPort!);
    assertEquals(before.map((u) => [u.name, u.state]), [["site clinic", "offline"]]);
    assertEquals(before[0]!.lastContactMs, 0);
    edge = await spawnDaemon([
      "serve",
      "--data-dir",
      `${root}/edge`,
      "--port",
      "0",
      "--http-port",
      "0",
      "--uplink",
      `127.0.0.1:${syncPort}`,
      "--site",
      "clinic",
      "--uplink-token-file",
      tokenFile,
    ]);
    for (let i = 0; i < 20; i++) {
      const res = await fetch(`http://127.0.0.1:${edge.httpPort}/v1/keys/k${i}`, {
        method: "PUT",
        body: `v${i}`,
      });
      assertEquals(res.status, 204, await res.text());
    }
    const atEdge = await until("the edge's uplink to catch up", async () => {
      const [u] = await uplinks(edge!.httpPort!);
      return u?.state === "connected" && u.lagEntries === 0 && u.position >= 20 ? u : undefined;
    });
    assertEquals(atEdge.name, `uplink to 127.0.0.1:${syncPort}`);
    assertEquals(atEdge.lagSeconds, 0);
    assertEquals(atEdge.lastError, "");
    assert(atEdge.lastContactMs > 0);
    const atHub = await until("the hub's site to catch up", async () => {
      const [u] = await uplinks(hub.httpPort!);
      return u?.state === "online" && u.position === atEdge.position ? u : undefined;
    });
    assertEquals(atHub.name, "site clinic");
    assertEquals(atHub.lagEntries, 0);
    assert(atHub.lastContactMs > 0);
  } finally {
    await edge?.stop();
    await hub.stop();
    await removeDir(root);
  }
});
