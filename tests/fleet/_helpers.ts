/**
 * Fleet test helpers: a hub and edges in this process on loopback with ephemeral ports, site
 * registration, a site's content at the hub as a map, and bounded waits.
 *
 * @module
 */

import type { Database } from "../../src/mod.ts";
import { RealFs } from "../../src/fs/mod.ts";
import { type FleetHub, type HubOptions, startHub } from "../../src/fleet/hub.ts";
import { addSite } from "../../src/fleet/sites.ts";
import {
  openEdgeDatabase,
  startUplink,
  type Uplink,
  type UplinkOptions,
} from "../../src/fleet/uplink.ts";
import type { EdgeStateStore } from "../../src/fleet/edge_state.ts";
import { Database as Db } from "../../src/engine/mod.ts";
import type { Logger } from "../../src/util/log.ts";
import { TimeSeriesStore } from "../../src/timeseries/mod.ts";
import { captureLogger, eventually, removeDir } from "../replication/_helpers.ts";

export { captureLogger, eventually, removeDir };

const decoder = new TextDecoder();

/** A hub in this process. */
export interface TestHub {
  db: Database;
  hub: FleetHub;
  dir: string;
  port: number;
  log: Logger & { lines: string[] };
  /** The hub's time-series store (`withSeries`). */
  timeseries?: TimeSeriesStore;
  close(): Promise<void>;
}

/** Opens a hub database in `dir` (fresh by default) with its sync listener. */
export async function startTestHub(
  options: HubOptions & { dir?: string; withSeries?: boolean } = {},
): Promise<TestHub> {
  const dir = options.dir ?? await Deno.makeTempDir({ prefix: "cityhall-hub-" });
  const log = captureLogger("hub");
  const db = await Db.open(dir, {});
  const { dir: _dir, withSeries, ...rest } = options;
  const timeseries = withSeries
    ? TimeSeriesStore.open(db, { maintenanceIntervalMs: 0 })
    : undefined;
  const hub = startHub(db, {
    hostname: "127.0.0.1",
    port: 0,
    logger: log,
    heartbeatMs: 200,
    idleTimeoutMs: 5000,
    ...(timeseries !== undefined ? { timeseries } : {}),
    ...rest,
  });
  return {
    db,
    hub,
    dir,
    port: hub.addr.port,
    log,
    ...(timeseries !== undefined ? { timeseries } : {}),
    async close() {
      await hub.close();
      await timeseries?.close();
      await db.close();
    },
  };
}

/** Registers `site` in the hub's directory; its token. */
export function addTestSite(hubDir: string, site: string): Promise<string> {
  return addSite(new RealFs(), hubDir, site);
}

/** An edge in this process. */
export interface TestEdge {
  db: Database;
  store: EdgeStateStore;
  uplink: Uplink;
  dir: string;
  log: Logger & { lines: string[] };
  close(): Promise<void>;
}

/** Opens an edge database in `dir` (fresh by default) with its uplink to `127.0.0.1:port`. */
export async function startTestEdge(
  port: number,
  site: string,
  token: string,
  options: Partial<UplinkOptions> & { dir?: string; db?: Parameters<typeof Db.open>[1] } = {},
): Promise<TestEdge> {
  const dir = options.dir ?? await Deno.makeTempDir({ prefix: `cityhall-edge-${site}-` });
  const log = captureLogger(`edge-${site}`);
  const { db, store } = await openEdgeDatabase(dir, site, options.db ?? {});
  const { dir: _d, db: _o, ...rest } = options;
  const uplink = startUplink(db, store, {
    hub: `127.0.0.1:${port}`,
    site,
    token,
    logger: log,
    backoff: { baseMs: 20, maxMs: 200 },
    heartbeatMs: 200,
    idleTimeoutMs: 5000,
    ...rest,
  });
  return {
    db,
    store,
    uplink,
    dir,
    log,
    async close() {
      await uplink.close();
      await db.close();
    },
  };
}

/** Every live key under `prefix` at `db`, with the prefix cut off, as a map of strings. */
export async function contentUnder(db: Database, prefix: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for await (const [k, v] of db.scan({ prefix })) {
    out.set(decoder.decode(k).slice(prefix.length), decoder.decode(v));
  }
  return out;
}

/** Every live key of `db` (below the internal 0xff range) as a map of strings. */
export async function contentOf(db: Database): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for await (const [k, v] of db.scan({ end: new Uint8Array([0xff]) })) {
    out.set(decoder.decode(k), decoder.decode(v));
  }
  return out;
}

/** Waits until the hub holds exactly the edge's keys under `site/`. */
export async function waitForSiteEqual(
  hub: Database,
  edge: Database,
  site: string,
  tries = 3000,
): Promise<void> {
  let last = "";
  await eventually(
    async () => {
      const want = await contentOf(edge);
      const have = await contentUnder(hub, `${site}/`);
      last = `edge ${want.size} keys, hub ${have.size} keys under ${site}/`;
      if (want.size !== have.size) return false;
      for (const [k, v] of want) if (have.get(k) !== v) return false;
      return true;
    },
    `the hub holds site ${site} exactly (${last})`,
    tries,
  );
}
