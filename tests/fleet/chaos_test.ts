/**
 * The fleet under a hostile network: three edges and a hub as real processes, each edge's link
 * through a proxy that cuts or stalls it (mid-frame, either way) at least 100 times in all;
 * edges and the hub killed with SIGKILL and restarted while clients write. At the end the hub
 * holds exactly the union of the edges' data, namespaced: nothing missing, nothing extra, each
 * site's position at its edge's last sequence, and every write an edge acknowledged present.
 * Part of the writes are TS.ADD to a few series: at the end each site's series at the hub
 * (`S/K`) holds exactly the edge's samples.
 *
 * CITYHALL_FLEET_FAULTS (default 100) and CITYHALL_FLEET_WRITES (per edge, default 600) scale
 * it; CITYHALL_SEED replays a run.
 *
 * @module
 */

import { assert, assertEquals } from "@std/assert";
import { Database } from "../../src/engine/mod.ts";
import { TimeSeriesStore } from "../../src/timeseries/mod.ts";
import { KIND_META } from "../../src/util/entry.ts";
import { decodePosition, positionKey } from "../../src/fleet/namespace.ts";
import { RespClient } from "../../src/cli/resp_client.ts";
import { freePort } from "../cli/_helpers.ts";
import { intFromEnv, Rng, seedFromEnv } from "../_helpers/random.ts";
import { contentOf, contentUnder, removeDir } from "./_helpers.ts";
import { type LinkFault, startLinkProxy } from "./_link_proxy.ts";
import { addSiteCli, type FleetProcess, spawnEdge, spawnHub } from "./_procs.ts";

const SITES = ["north", "south", "west"];

/** What a writer knows: acknowledged values (undefined = deleted) and keys in doubt. */
interface Model {
  acked: Map<string, string | undefined>;
  uncertain: Set<string>;
}

async function writer(
  rng: Rng,
  edge: () => FleetProcess | undefined,
  model: Model,
  writes: number,
  site: string,
  more: () => boolean,
): Promise<void> {
  let client: RespClient | undefined;
  // At least `writes` writes, and on while faults are still to strike (they need traffic).
  for (let i = 0; i < writes || (more() && i < 20 * writes);) {
    const proc = edge();
    if (proc === undefined) {
      await new Promise((r) => setTimeout(r, 20));
      continue;
    }
    const key = `k${rng.int(writes)}`;
    const del = rng.chance(0.1);
    const sample = rng.chance(0.3);
    const series = `m${rng.int(3)}`;
    const sampleArgs = ["TS.ADD", series, String(1_000 * (i + 1)), String(rng.int(1000))];
    // Values of 50 B to 4 KiB, mostly random bytes as hex: frames big enough to cut inside.
    const value = `${site}:${i}:` +
      [...rng.bytes(25 + rng.int(2000))].map((b) => b.toString(16)).join("");
    try {
      client ??= await RespClient.connect({ hostname: "127.0.0.1", port: proc.port });
      const reply = await client.command(
        sample ? sampleArgs : del ? ["DEL", key] : ["SET", key, value],
      );
      if (reply.kind === "error") throw new Error(reply.value);
      if (!sample) {
        model.acked.set(key, del ? undefined : value);
        model.uncertain.delete(key);
      }
      i++;
    } catch {
      // The edge was killed mid-command: the write may or may not have happened.
      model.uncertain.add(key);
      client?.close();
      client = undefined;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  client?.close();
}

Deno.test("fleet chaos: 3 edges and a hub, 100+ cuts and stalls mid-frame, SIGKILLs; the hub ends with exactly the union", async () => {
  const seed = seedFromEnv();
  console.log(`seed ${seed}`);
  const rng = new Rng(seed);
  const faultsWanted = intFromEnv("CITYHALL_FLEET_FAULTS", 100);
  const writes = intFromEnv("CITYHALL_FLEET_WRITES", 600);
  const root = await Deno.makeTempDir({ prefix: "cityhall-chaos-" });
  const hubDir = `${root}/hub`;
  const syncPort = freePort();
  let hub: FleetProcess | undefined = await spawnHub(hubDir, syncPort);
  const tokens = await Promise.all(SITES.map((s) => addSiteCli(hubDir, s, root)));
  const proxies = SITES.map(() => startLinkProxy(syncPort));
  const faultRng = new Rng(seed ^ 0x5eed);
  // Faults that struck inside a frame (a link that ends before its budget does not count).
  const struck = () => proxies.reduce((n, p) => n + p.cuts + p.stalls, 0);
  const nextFault = (): LinkFault | undefined => {
    if (struck() >= faultsWanted) return undefined;
    const direction = faultRng.chance(0.75) ? "up" : "down";
    const afterBytes = direction === "up" ? 20 + faultRng.int(30_000) : 20 + faultRng.int(400);
    return faultRng.chance(0.8)
      ? { direction, afterBytes, mode: "cut" }
      : { direction, afterBytes, mode: "stall", stallMs: faultRng.chance(0.2) ? 2500 : 300 };
  };
  for (const p of proxies) p.setFaults(() => nextFault());
  const edges: (FleetProcess | undefined)[] = [];
  for (let i = 0; i < SITES.length; i++) {
    edges.push(await spawnEdge(`${root}/${SITES[i]}`, proxies[i]!.port, SITES[i]!, tokens[i]!));
  }
  const models: Model[] = SITES.map(() => ({ acked: new Map(), uncertain: new Set() }));
  const progress = Deno.env.get("CITYHALL_TEST_LOG") === undefined ? undefined : setInterval(() => {
    console.log(
      `struck ${struck()}, connections ${proxies.map((p) => p.connections)}, acked ${
        models.map((m) => m.acked.size)
      }`,
    );
  }, 2000);
  try {
    const writing = Promise.all(
      SITES.map((site, i) =>
        writer(
          new Rng(seed + i),
          () => edges[i],
          models[i]!,
          writes,
          site,
          () => struck() < faultsWanted,
        )
      ),
    );
    // Kills while the clients write: an edge, the hub, another edge, the hub again.
    const killer = (async () => {
      for (let round = 0; round < 4; round++) {
        await new Promise((r) => setTimeout(r, 800 + rng.int(800)));
        if (round % 2 === 1) {
          await hub!.stop("SIGKILL");
          hub = undefined;
          await new Promise((r) => setTimeout(r, 300));
          hub = await spawnHub(hubDir, syncPort);
        } else {
          const i = rng.int(SITES.length);
          const victim = edges[i]!;
          edges[i] = undefined;
          await victim.stop("SIGKILL");
          edges[i] = await spawnEdge(
            `${root}/${SITES[i]}`,
            proxies[i]!.port,
            SITES[i]!,
            tokens[i]!,
          );
        }
      }
    })();
    await Promise.all([writing, killer]);
    // The faults still to come strike the reconnects (heartbeats and records keep flowing).
    const deadline = Date.now() + 60_000;
    while (struck() < faultsWanted && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
    }
    assert(struck() >= faultsWanted, `only ${struck()} faults struck inside a frame`);
    for (const p of proxies) p.setFaults(() => undefined);
    console.log(
      `cuts ${proxies.reduce((n, p) => n + p.cuts, 0)}, stalls ${
        proxies.reduce((n, p) => n + p.stalls, 0)
      }, all inside frames; connections ${proxies.reduce((n, p) => n + p.connections, 0)}`,
    );
    // Stop everything gracefully once caught up, then compare the files themselves.
    await waitCaughtUp(hub!, SITES.length);
    // The hub's view lags the edges' last writes by up to a heartbeat; each edge knows exactly.
    for (const e of edges) await waitEdgeAcked(e!);
    for (let i = 0; i < SITES.length; i++) await edges[i]!.stop();
    await hub!.stop();
    hub = undefined;
    const hubDb = await Database.open(hubDir);
    const hubSeries = await seriesOf(hubDb);
    try {
      const all = stringsOnly(hubDb, await contentOf(hubDb));
      let union = 0;
      let seriesCount = 0;
      for (let i = 0; i < SITES.length; i++) {
        const site = SITES[i]!;
        const edgeDb = await Database.open(`${root}/${site}`);
        const edgeSeries = await seriesOf(edgeDb);
        try {
          assert(edgeSeries.size > 0, `site ${site} wrote series`);
          for (const [k, samples] of edgeSeries) {
            assertEquals(hubSeries.get(`${site}/${k}`), samples, `site ${site} series ${k}`);
          }
          const want = stringsOnly(edgeDb, await contentOf(edgeDb));
          const have = stringsOnly(hubDb, await contentUnder(hubDb, `${site}/`), `${site}/`);
          assertEquals(have.size, want.size, `site ${site}: key count`);
          for (const [k, v] of want) assertEquals(have.get(k), v, `site ${site} key ${k}`);
          const position = decodePosition(hubDb.getEntry(positionKey(site))!.value)!;
          assertEquals(position.seq, edgeDb.lastSeq, `site ${site}: position`);
          // Every write the edge acknowledged is there (keys in doubt may go either way).
          for (const [k, v] of models[i]!.acked) {
            if (!models[i]!.uncertain.has(k)) assertEquals(want.get(k), v, `${site} acked ${k}`);
          }
          union += want.size;
          seriesCount += edgeSeries.size;
        } finally {
          await edgeDb.close();
        }
      }
      assertEquals(all.size, union, "nothing outside the site prefixes");
      assertEquals(hubSeries.size, seriesCount, "no series outside the sites'");
    } finally {
      await hubDb.close();
    }
  } finally {
    clearInterval(progress);
    for (const e of edges) await e?.stop("SIGKILL");
    await hub?.stop("SIGKILL");
    for (const p of proxies) await p.close();
    await removeDir(root);
  }
});

/** The string keys of `content` (a series' metadata is compared as samples instead). */
function stringsOnly(db: Database, content: Map<string, string>, prefix = ""): Map<string, string> {
  for (const k of [...content.keys()]) {
    if (db.getEntry(prefix + k)?.kind === KIND_META) content.delete(k);
  }
  return content;
}

/** Every live series of `db` (opened just now) as key → its samples, JSON. */
async function seriesOf(db: Database): Promise<Map<string, string>> {
  const store = TimeSeriesStore.open(db, { maintenanceIntervalMs: 0 });
  const out = new Map<string, string>();
  try {
    for (const s of store.all()) {
      if (store.find(s.key) !== s) continue;
      const p = store.range(s.key, { from: 0, to: Number.MAX_SAFE_INTEGER });
      out.set(new TextDecoder().decode(s.key), JSON.stringify([p.ts, p.values]));
    }
  } finally {
    await store.close();
  }
  return out;
}

/** Waits until the edge's INFO uplink shows every durable write acknowledged by the hub. */
async function waitEdgeAcked(edge: FleetProcess): Promise<void> {
  const deadline = Date.now() + 90_000;
  let last = "";
  while (Date.now() < deadline) {
    const client = await RespClient.connect({ hostname: "127.0.0.1", port: edge.port });
    try {
      const reply = await client.command(["INFO", "uplink"]);
      last = reply.kind === "bulk" && reply.value ? new TextDecoder().decode(reply.value) : "";
    } finally {
      client.close();
    }
    if (/\buplink_behind_entries:0\r\n/.test(last)) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`the edge never saw its writes acknowledged:\n${last}`);
}

/** Waits until the hub's INFO sites shows every site online with nothing behind. */
async function waitCaughtUp(hub: FleetProcess, sites: number): Promise<void> {
  const deadline = Date.now() + 90_000;
  let last = "";
  while (Date.now() < deadline) {
    try {
      const client = await RespClient.connect({ hostname: "127.0.0.1", port: hub.port });
      try {
        const reply = await client.command(["INFO", "sites"]);
        last = reply.kind === "bulk" && reply.value ? new TextDecoder().decode(reply.value) : "";
      } finally {
        client.close();
      }
      const lines = last.split("\r\n").filter((l) => l.startsWith("site"));
      const caughtUp = lines.filter((l) =>
        l.includes("state=online") && l.includes("behind_entries=0,")
      );
      if (lines.length >= sites && caughtUp.length === sites) return;
    } catch {
      // The hub may be restarting.
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`sites never caught up:\n${last}`);
}
