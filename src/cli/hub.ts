/**
 * `cityhall hub`: the server (`serve`) plus a sync listener that a fleet's edges dial, and the
 * commands that manage its sites and sneakernet imports. ARCHITECTURE.md § "Fleets: hub and
 * uplink".
 *
 * - `cityhall hub [serve flags] [--sync-port 7881] [--sync-bind ADDR]`
 * - `cityhall hub site add NAME [--data-dir D]`: prints the site's new token, once.
 * - `cityhall hub site list|remove NAME|reset NAME [--data-dir D] [--json]`
 * - `cityhall hub import FILE [--data-dir D]`: a `.chsync` file, into a stopped hub.
 *
 * @module
 */

import { replicationPort } from "../engine/mod.ts";
import { Database } from "../engine/mod.ts";
import { LockedError } from "../errors.ts";
import { joinPath, RealFs } from "../fs/mod.ts";
import { HUB_STATUS_FILE_NAME, type SiteStatus, startHub } from "../fleet/hub.ts";
import type { HubRetention } from "../fleet/hub_series.ts";
import { parseDurationMs } from "./_self_metrics.ts";
import { importChsync } from "../fleet/sneakernet.ts";
import { TimeSeriesStore } from "../timeseries/mod.ts";
import { addSite, HUB_DIR_NAME, loadSites, removeSite, resetSite } from "../fleet/sites.ts";
import { formatBehind, formatDuration } from "../fleet/status.ts";
import { HUB_SYNC_PORT_DEFAULT } from "../limits.ts";
import { attachInfoSection } from "../server/info_sections.ts";
import { createLogger } from "../util/log.ts";
import { intFlag, type ParsedArgs, parseFlags, UsageError } from "./_args.ts";
import { formatHostPort, resolveDataDir } from "./_common.ts";
import { dataDirFailure } from "./_fs_errors.ts";
import { printErr, printJson, printOut } from "./_output.ts";
import { lockHeld, readTiming, readTlsFiles, withoutFlags } from "./_roles.ts";
import { runDaemon, SERVE_FLAGS, serveSettings } from "./serve.ts";

/** Help of `cityhall hub`. */
export const HUB_HELP =
  `Usage: cityhall hub [serve options] [--sync-port N] [--sync-bind ADDR] [--retention D]
       cityhall hub site add NAME [--data-dir DIR]
       cityhall hub site list [--data-dir DIR] [--json]
       cityhall hub site remove NAME [--data-dir DIR]
       cityhall hub site reset NAME [--data-dir DIR]
       cityhall hub import FILE.chsync [--data-dir DIR] [--retention D]

Run the server (exactly like "cityhall serve") with a sync listener that a fleet's edges dial
("cityhall serve --uplink HOST:PORT --site NAME --uplink-token-file F"). A key k written on
the edge of site S is stored here as S/k; keys written at the hub itself stay outside every
site's prefix (a put into S/… is refused).

Options (beside every "serve" option):
  --sync-port N          Port edges dial (default ${HUB_SYNC_PORT_DEFAULT}; 0 = any free port)
  --sync-bind ADDR       Address of the sync listener (default: --bind). Every site has its
                         own token, so a public address is fine; use --tls-cert/--tls-key
                         where tokens cross an untrusted network
  --retention D          How long the series that sites send are kept here (RETENTION,
                         counted back from each series' newest sample): a duration such as
                         30d or 12h, "edge" for each edge series' own RETENTION, or 0 to keep
                         every sample (default). A duration applies to the series already
                         here when the hub starts

Sites (work with the hub running or stopped; a running hub sees changes at once):
  site add NAME          Register a site and print its token, once (only a hash is kept).
                         Names: letters, digits, "_", "." and "-", at most 64 bytes
  site list              Each site's state, acknowledged position, how far behind it is
                         (entries, bytes, time), rate, ETA and last error (--json for JSON)
  site remove NAME       Forget the site: its token stops working (its data stays, as S/…)
  site reset NAME        Accept a new edge for the site (a re-initialised data directory):
                         the site's data here is replaced by what the new edge sends

import FILE              Apply a .chsync file made by "cityhall export" on an edge (the hub
                         must be stopped). Checked whole before anything is applied;
                         importing twice changes nothing; the uplink continues after it.
`;

/** Flags of `hub` (serve's and the sync listener's). */
export const HUB_FLAGS = {
  string: [...SERVE_FLAGS.string, "sync-port", "sync-bind", "retention"],
  boolean: [...SERVE_FLAGS.boolean],
} as const;

/** `cityhall hub …`. */
export async function hubCommand(args: string[]): Promise<number> {
  if (args[0] === "site") return await siteCommand(args.slice(1));
  if (args[0] === "import") return await importCommand(args.slice(1));
  const parsed = parseFlags("hub", args, HUB_FLAGS);
  if (parsed.booleans.has("help")) {
    printOut(HUB_HELP);
    return 0;
  }
  const syncPort = intFlag("hub", parsed, "sync-port", { min: 0, max: 65535 }) ??
    HUB_SYNC_PORT_DEFAULT;
  const seriesRetention = retentionFlag(parsed);
  const settings = await serveSettings(
    "hub",
    withoutFlags(parsed, ["sync-port", "sync-bind", "retention"]),
  );
  const syncBind = parsed.strings.get("sync-bind") ?? settings.bind;
  const logger = createLogger(settings.logLevel, settings.logFormat);
  const tls = await readTlsFiles("hub", settings);
  const timing = readTiming("hub");
  return await runDaemon("hub", settings, tls, logger, {
    role: "hub",
    start: (db, log, timeseries) => {
      let hub;
      try {
        hub = startHub(db, {
          timeseries,
          seriesRetention,
          hostname: syncBind,
          port: syncPort,
          logger: log,
          ...(tls !== undefined ? { tls } : {}),
          ...timing,
        });
      } catch (err) {
        if (err instanceof Deno.errors.AddrInUse) {
          throw new Error(
            `Cannot listen for edges on ${
              formatHostPort(syncBind, syncPort)
            }: port already in use (choose another with --sync-port)`,
          );
        }
        throw err;
      }
      attachInfoSection(db, "sites", () => hub.infoLines());
      return Promise.resolve({
        close: async () => {
          attachInfoSection(db, "sites", undefined);
          await hub.close();
        },
        // Not "sync": the listening line's own field for the sync mode.
        fields: { sync_listen: formatHostPort(hub.addr.hostname, hub.addr.port) },
        metrics: () => hub.metricFamilies(),
      });
    },
  });
}

/** `--retention D|edge|0`: the RETENTION of the series from sites. */
function retentionFlag(parsed: ParsedArgs): HubRetention {
  const raw = parsed.strings.get("retention");
  if (raw === undefined || raw === "0") return 0;
  if (raw === "edge") return "edge";
  const ms = parseDurationMs(raw);
  if (ms === undefined || ms === 0) {
    throw new UsageError(
      "hub",
      `invalid --retention ${
        JSON.stringify(raw)
      }: use a duration such as 30d or 12h (units ms, s, m, h, d), edge, or 0 to keep everything`,
    );
  }
  return ms;
}

function siteName(command: string, parsed: ParsedArgs): string {
  const name = parsed.positionals[0];
  if (name === undefined || parsed.positionals.length > 1) {
    throw new UsageError("hub", `site ${command} takes exactly one NAME`);
  }
  return name;
}

/** `cityhall hub site add|list|remove|reset`. */
async function siteCommand(args: string[]): Promise<number> {
  const action = args[0];
  const parsed = parseFlags("hub", args.slice(1), { string: ["data-dir"], boolean: ["json"] });
  if (parsed.booleans.has("help") || action === undefined) {
    printOut(HUB_HELP);
    return action === undefined ? 2 : 0;
  }
  const dataDir = resolveDataDir("hub", parsed.strings.get("data-dir"));
  const fs = new RealFs();
  try {
    switch (action) {
      case "add": {
        const name = siteName("add", parsed);
        const token = await addSite(fs, dataDir, name);
        printOut(token);
        printErr(
          `added site ${name}: the line above is its token, shown only this once. On the edge:\n` +
            `  cityhall serve --uplink HUB:${HUB_SYNC_PORT_DEFAULT} --site ${name} --uplink-token-file FILE_HOLDING_THE_TOKEN`,
        );
        return 0;
      }
      case "remove": {
        const name = siteName("remove", parsed);
        if (!(await removeSite(fs, dataDir, name))) {
          printErr(`cityhall hub site remove: no site ${name} at ${dataDir}`);
          return 1;
        }
        printOut(`removed site ${name}: its token no longer works (its keys stay, as ${name}/…)`);
        return 0;
      }
      case "reset": {
        const name = siteName("reset", parsed);
        if (!(await resetSite(fs, dataDir, name))) {
          printErr(`cityhall hub site reset: no site ${name} at ${dataDir}`);
          return 1;
        }
        printOut(
          `reset site ${name}: the next edge with its token is accepted, and replaces the site's data`,
        );
        return 0;
      }
      case "list":
        return listSites(dataDir, parsed.booleans.has("json"));
      default:
        throw new UsageError("hub", `unknown site command '${action}' (add, list, remove, reset)`);
    }
  } catch (err) {
    if (err instanceof UsageError) throw err;
    const message = dataDirFailure(dataDir, err);
    if (message !== undefined) {
      printErr(`cityhall hub site ${action}: ${message}`);
      return 1;
    }
    throw err;
  }
}

/** `cityhall hub site list`: the registry, with the status the hub last wrote. */
function listSites(dataDir: string, json: boolean): number {
  const fs = new RealFs();
  const sites = loadSites(fs, dataDir);
  let written: { updatedMs: number; sites: SiteStatus[] } | undefined;
  const statusPath = joinPath(dataDir, HUB_DIR_NAME, HUB_STATUS_FILE_NAME);
  try {
    written = JSON.parse(Deno.readTextFileSync(statusPath));
  } catch {
    written = undefined;
  }
  const running = lockHeld(dataDir);
  const rows = sites.map((site) => {
    const s = written?.sites.find((x) => x.site === site.name);
    // A state the hub wrote before it stopped is what it was, not what it is.
    const state = s === undefined ? "never seen" : running === false ? "hub stopped" : s.state;
    return { ...site, ...(s ?? {}), state, name: site.name, edgeId: site.edgeId };
  });
  if (json) {
    printJson({ hubRunning: running ?? null, updatedMs: written?.updatedMs ?? 0, sites: rows });
    return 0;
  }
  if (rows.length === 0) {
    printOut(`no sites at ${dataDir} (add one with: cityhall hub site add NAME)`);
    return 0;
  }
  printOut(
    `${"SITE".padEnd(16)} ${"STATE".padEnd(11)} ${"ACKED".padStart(10)} ${"BEHIND".padStart(9)} ` +
      `${"BYTES".padStart(10)} ${"TIME BEHIND".padEnd(18)} ${"RATE B/s".padStart(9)} ${
        "ETA".padEnd(10)
      } LAST ERROR`,
  );
  for (const r of rows) {
    const s = r as Partial<SiteStatus> & { name: string; state: string };
    printOut(
      `${s.name.padEnd(16)} ${s.state.padEnd(11)} ${String(s.ackedSeq ?? 0).padStart(10)} ${
        String(s.behindEntries ?? 0).padStart(9)
      } ${String(s.behindBytes ?? 0).padStart(10)} ${
        formatBehind(s.behindSeconds ?? 0).padEnd(18)
      } ${String(s.rateBytesPerSec ?? 0).padStart(9)} ${
        (s.etaSeconds === undefined || s.etaSeconds < 0 ? "unknown" : formatDuration(s.etaSeconds))
          .padEnd(10)
      } ${s.lastError ?? ""}`,
    );
  }
  if (written !== undefined) {
    printOut(
      `(status as of ${new Date(written.updatedMs).toISOString()}; hub ${
        running === undefined ? "state unknown" : running ? "running" : "stopped"
      })`,
    );
  }
  return 0;
}

/** `cityhall hub import FILE`. */
async function importCommand(args: string[]): Promise<number> {
  const parsed = parseFlags("hub", args, { string: ["data-dir", "log-level", "retention"] });
  if (parsed.booleans.has("help")) {
    printOut(HUB_HELP);
    return 0;
  }
  const file = parsed.positionals[0];
  if (file === undefined || parsed.positionals.length > 1) {
    throw new UsageError("hub", "import takes exactly one FILE.chsync");
  }
  const dataDir = resolveDataDir("hub", parsed.strings.get("data-dir"));
  const retention = retentionFlag(parsed);
  const logger = createLogger("warn", "logfmt");
  let db: Database;
  try {
    db = await Database.open(dataDir, { logger });
  } catch (err) {
    if (err instanceof LockedError) {
      printErr(
        `cityhall hub import: the hub is running on ${dataDir}: stop it, import, and start it again`,
      );
      return 1;
    }
    const message = dataDirFailure(dataDir, err);
    if (message === undefined) throw err;
    printErr(`cityhall hub import: ${message}`);
    return 1;
  }
  try {
    const timeseries = TimeSeriesStore.open(db, { logger, maintenanceIntervalMs: 0 });
    let s;
    try {
      s = await importChsync(db, replicationPort(db).fileSystem, file, logger, timeseries, {
        retention,
      });
    } finally {
      await timeseries.close();
    }
    printOut(
      s.applied === 0 && s.skipped > 0
        ? `site ${s.site}: nothing new (all ${s.skipped} operations were already at the hub); position ${s.position}`
        : `site ${s.site}: imported sequences ${s.fromSeq}..${s.lastSeq}: ${s.applied} operations applied, ${s.skipped} already there${
          s.dropped > 0 ? `, ${s.dropped} dropped (key too long for the site prefix)` : ""
        }; position ${s.position}`,
    );
    return 0;
  } catch (err) {
    printErr(`cityhall hub import: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  } finally {
    await db.close();
  }
}
