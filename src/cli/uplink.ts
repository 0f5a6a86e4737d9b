/**
 * The edge's commands: `cityhall serve --uplink HOST:PORT --site NAME --uplink-token-file F
 * […]` (serve plus the uplink to a hub, with its bandwidth rules and disk-full policy),
 * `cityhall uplink status --data-dir D` (works with the edge stopped) and `cityhall export
 * --since-ack` (sneakernet). ARCHITECTURE.md § "Fleets: hub and uplink".
 *
 * @module
 */

import { RealFs } from "../fs/mod.ts";
import { type DiskFullMode, DiskPolicy } from "../fleet/disk_policy.ts";
import { readEdgeState, readUplinkStatus, sampledTimeOf } from "../fleet/edge_state.ts";
import { parseByteSize, parseWindows, type SyncWindow } from "../fleet/pacer.ts";
import { exportSinceAck } from "../fleet/sneakernet.ts";
import { formatBehind, formatDuration } from "../fleet/status.ts";
import { openEdgeDatabase, startUplink, type UplinkStatus } from "../fleet/uplink.ts";
import { lastSeqOffline, walSegmentsOffline } from "../fleet/wal_offline.ts";
import { parseHostPort } from "../replication/replica.ts";
import { siteNameProblem } from "../fleet/namespace.ts";
import { attachInfoSection } from "../server/info_sections.ts";
import { DISK_HIGH_WATER_PERCENT_DEFAULT, UPLINK_RATE_LIMIT_BYTES_MIN } from "../limits.ts";
import { createLogger } from "../util/log.ts";
import { parseFlags, UsageError } from "./_args.ts";
import { resolveDataDir } from "./_common.ts";
import { dataDirFailure } from "./_fs_errors.ts";
import { printErr, printJson, printOut, writeOut } from "./_output.ts";
import { lockHeld, readFlagFile, readTiming, readTlsFiles, withoutFlags } from "./_roles.ts";
import { runDaemon, SERVE_FLAGS, serveSettings } from "./serve.ts";
import { UPLINK_ONLY } from "./_role_flags.ts";

export { UPLINK_ONLY };

/** Flags of `serve --uplink`. */
export const UPLINK_SERVE_FLAGS = {
  string: [...SERVE_FLAGS.string, ...UPLINK_ONLY],
  boolean: [...SERVE_FLAGS.boolean],
} as const;

/** Help of `cityhall uplink`, `export` and the uplink flags of `serve`. */
export const UPLINK_HELP =
  `Usage: cityhall serve --uplink HOST:PORT --site NAME --uplink-token-file F [options]
       cityhall uplink status [--data-dir DIR] [--json]
       cityhall export [--since-ack] [--data-dir DIR] [--site NAME] [--output FILE] > site.chsync

"serve --uplink" runs the server (every "serve" option applies) and dials a hub ("cityhall
hub"), so an edge behind NAT or carrier-grade NAT can sync. The hub sets the pace over that
connection; every write is kept here until the hub has acknowledged it (after its fsync).
  --uplink HOST:PORT       The hub's sync address (its --sync-port, default 7881)
  --site NAME              The site this edge sends as (its keys arrive as NAME/key)
  --uplink-token-file F    The site's token ("cityhall hub site add NAME" printed it)
  --uplink-tls-ca F        Dial with TLS, trusting this PEM CA certificate
  --uplink-rate-limit N    Bytes per second on the link after compression (64KiB, 128k,
                           1MB, 65536; at least ${UPLINK_RATE_LIMIT_BYTES_MIN})
  --uplink-window W        Sync only inside these local-time windows, e.g. 01:00-03:00 or
                           01:00-03:00,13:00-13:30 (a link open when a window ends is closed)
  --uplink-ship MODE       raw (default): every key and series; rollups: of the time series,
                           only those a downsampling rule (TS.CREATERULE) feeds; raw samples
                           stay here (for metered links)
  --disk-high-water P%     At P% of the disk in use (default ${DISK_HIGH_WATER_PERCENT_DEFAULT}% when --disk-full is given),
                           first drop what the hub acknowledged, then apply --disk-full
  --disk-full MODE         refuse (default): refuse writes until the hub catches up and space
                           is freed; drop-oldest-raw: release the oldest records the hub has
                           not acknowledged (the edge keeps its data; the hub gets a snapshot
                           instead of that history). Every eviction is counted and logged

"uplink status" reads DIR/uplink/ and DIR/wal/, so it works with the edge stopped: the hub,
the acknowledged position, entries, bytes and time behind, rate, ETA, evictions, last error.

"export" writes what the hub has not acknowledged as a .chsync file (stdout, or --output
FILE), from a running or stopped edge; carry it to the hub and run "cityhall hub import".
--site names the site of an edge that never ran an uplink (then everything in its WAL goes).
`;

/** `cityhall serve --uplink …` (`serve` with any uplink flag). */
export async function uplinkServeCommand(args: string[]): Promise<number> {
  const parsed = parseFlags("serve", args, UPLINK_SERVE_FLAGS);
  if (parsed.booleans.has("help")) {
    printOut(UPLINK_HELP);
    return 0;
  }
  const need = (flag: string) => {
    const v = parsed.strings.get(flag);
    if (v === undefined) throw new UsageError("serve", `--uplink needs --${flag}`);
    return v;
  };
  const hub = parsed.strings.get("uplink");
  if (hub === undefined) {
    throw new UsageError(
      "serve",
      `--${UPLINK_ONLY.find((f) => parsed.strings.has(f))} needs --uplink`,
    );
  }
  try {
    parseHostPort(hub);
  } catch {
    throw new UsageError("serve", `invalid --uplink ${JSON.stringify(hub)}: expected HOST:PORT`);
  }
  const site = need("site");
  const problem = siteNameProblem(site);
  if (problem !== undefined) throw new UsageError("serve", `--site: ${problem}`);
  const token = (await readFlagFile("serve", need("uplink-token-file"), "--uplink-token-file"))
    .trim();
  if (token === "") throw new UsageError("serve", "--uplink-token-file holds no token");
  const caFile = parsed.strings.get("uplink-tls-ca");
  const ca = caFile === undefined
    ? undefined
    : await readFlagFile("serve", caFile, "--uplink-tls-ca");
  const rateLimit = parseRate(parsed.strings.get("uplink-rate-limit"));
  const windows = parseWindowFlag(parsed.strings.get("uplink-window"));
  const ship = parsed.strings.get("uplink-ship") ?? "raw";
  if (ship !== "raw" && ship !== "rollups") {
    throw new UsageError("serve", `invalid --uplink-ship ${ship}: use raw or rollups`);
  }
  const disk = parseDiskFlags(
    parsed.strings.get("disk-high-water"),
    parsed.strings.get("disk-full"),
  );
  const settings = await serveSettings("serve", withoutFlags(parsed, UPLINK_ONLY));
  const logger = createLogger(settings.logLevel, settings.logFormat);
  const tls = await readTlsFiles("serve", settings);
  const { backoff, ...timing } = readTiming("serve");
  let store: Awaited<ReturnType<typeof openEdgeDatabase>>["store"];
  return await runDaemon("serve", settings, tls, logger, {
    role: "edge",
    open: async (s, log) => {
      const opened = await openEdgeDatabase(s.dataDir, site, { ...s.engine, logger: log });
      store = opened.store;
      return opened.db;
    },
    start: (db, log, timeseries) => {
      const policy = disk === undefined
        ? undefined
        : new DiskPolicy(db, store, { ...disk, logger: log });
      const uplink = startUplink(db, store, {
        hub,
        site,
        token,
        logger: log,
        ...timing,
        ...(backoff !== undefined ? { backoff } : {}),
        ...(ca !== undefined ? { tlsCaCert: ca } : {}),
        ...(rateLimit !== undefined ? { rateLimitBytesPerSec: rateLimit } : {}),
        ...(windows !== undefined ? { windows } : {}),
        ship,
        isRollup: (version: number) => {
          const series = timeseries.context.set.byVersion(version);
          return series === undefined ? undefined : series.meta.sourceVersion !== 0;
        },
        ...(policy !== undefined ? { diskStatus: () => policy.status() } : {}),
      });
      policy?.start();
      attachInfoSection(db, "uplink", () => uplink.infoLines());
      return Promise.resolve({
        close: async () => {
          attachInfoSection(db, "uplink", undefined);
          await policy?.stop();
          await uplink.close();
        },
        fields: { uplink: hub, site },
        metrics: () => uplink.metricFamilies(),
      });
    },
  });
}

function parseRate(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  let bytes: number;
  try {
    bytes = parseByteSize(text);
  } catch (err) {
    throw new UsageError("serve", `invalid --uplink-rate-limit: ${(err as Error).message}`);
  }
  if (bytes < UPLINK_RATE_LIMIT_BYTES_MIN || bytes > 2 ** 32 - 1) {
    throw new UsageError(
      "serve",
      `invalid --uplink-rate-limit ${text}: must be from ${UPLINK_RATE_LIMIT_BYTES_MIN} bytes to 4 GiB per second`,
    );
  }
  return bytes;
}

function parseWindowFlag(text: string | undefined): SyncWindow[] | undefined {
  if (text === undefined) return undefined;
  try {
    return parseWindows(text);
  } catch (err) {
    throw new UsageError("serve", `invalid --uplink-window: ${(err as Error).message}`);
  }
}

function parseDiskFlags(
  highWater: string | undefined,
  mode: string | undefined,
): { highWaterPercent: number; mode: DiskFullMode } | undefined {
  if (highWater === undefined && mode === undefined) return undefined;
  let percent = DISK_HIGH_WATER_PERCENT_DEFAULT;
  if (highWater !== undefined) {
    const m = /^(\d{1,2})%?$/.exec(highWater);
    percent = m === null ? NaN : Number(m[1]);
    if (!(percent >= 1 && percent <= 99)) {
      throw new UsageError(
        "serve",
        `invalid --disk-high-water ${JSON.stringify(highWater)}: a percentage from 1% to 99%`,
      );
    }
  }
  if (mode !== undefined && mode !== "refuse" && mode !== "drop-oldest-raw") {
    throw new UsageError(
      "serve",
      `invalid --disk-full ${JSON.stringify(mode)}: use refuse or drop-oldest-raw`,
    );
  }
  return { highWaterPercent: percent, mode: (mode ?? "refuse") as DiskFullMode };
}

/** `cityhall uplink …`. */
export function uplinkCommand(args: string[]): number {
  if (args[0] !== "status") {
    if (args.includes("--help") || args.includes("-h") || args.length === 0) {
      printOut(UPLINK_HELP);
      return args.length === 0 ? 2 : 0;
    }
    throw new UsageError("uplink", `unknown command '${args[0]}' (status)`);
  }
  const parsed = parseFlags("uplink", args.slice(1), { string: ["data-dir"], boolean: ["json"] });
  if (parsed.booleans.has("help")) {
    printOut(UPLINK_HELP);
    return 0;
  }
  if (parsed.positionals.length > 0) {
    throw new UsageError("uplink", `unexpected argument '${parsed.positionals[0]}'`);
  }
  const dataDir = resolveDataDir("uplink", parsed.strings.get("data-dir"));
  const fs = new RealFs();
  let state, status: UplinkStatus | undefined, lastSeq: number, walBytes: number;
  try {
    state = readEdgeState(fs, dataDir);
    status = readUplinkStatus<UplinkStatus>(fs, dataDir);
    lastSeq = lastSeqOffline(fs, dataDir);
    walBytes = 0;
    for (const s of walSegmentsOffline(fs, dataDir)) walBytes += s.firstSeq > 0 ? s.sizeBytes : 0;
  } catch (err) {
    const message = dataDirFailure(dataDir, err);
    if (message === undefined) throw err;
    printErr(`cityhall uplink status: ${message}`);
    return 1;
  }
  if (state === undefined) {
    printErr(
      `cityhall uplink status: ${dataDir} holds no uplink state (has "cityhall serve --uplink" run on it?)`,
    );
    return 1;
  }
  const running = lockHeld(dataDir);
  const now = Date.now();
  // From the disk, exact whether the edge runs or not: what the WAL holds past the hub's ack.
  const last = Math.max(lastSeq, status?.edgeDurableSeq ?? 0);
  const behindEntries = Math.max(0, last - state.ackedSeq);
  const oldest = behindEntries === 0 ? undefined : sampledTimeOf(state.samples, state.ackedSeq + 1);
  const behindSeconds = running && status !== undefined
    ? status.behindSeconds
    : oldest === undefined
    ? behindEntries === 0 ? 0 : -1
    : Math.max(0, Math.round((now - oldest) / 1000));
  const linkState = status === undefined
    ? "never started"
    : running === false && status.state !== "stopped"
    ? `not running (the file says ${status.state})`
    : status.state;
  const out = {
    dataDir,
    site: state.site,
    hub: status?.hub ?? "",
    hubId: state.hubId,
    state: linkState,
    running: running ?? null,
    ackedSeq: state.ackedSeq,
    ackedAtMs: state.ackedAtMs,
    lastSeq: last,
    behindEntries,
    behindBytes: behindEntries === 0 ? 0 : (running ? status?.behindBytes : undefined) ?? walBytes,
    behindSeconds,
    rateBytesPerSec: running ? status?.rateBytesPerSec ?? 0 : 0,
    etaSeconds: running ? status?.etaSeconds ?? -1 : -1,
    window: status?.window ?? "always",
    rateLimitBytesPerSec: status?.rateLimitBytesPerSec ?? 0,
    evictedEntries: state.evictedEntries,
    evictedBytes: state.evictedBytes,
    disk: status?.disk ?? {},
    lastError: status?.lastError ?? "",
    refusal: status?.refusal ?? "",
    updatedMs: status?.updatedMs ?? 0,
  };
  if (parsed.booleans.has("json")) {
    printJson(out);
    return 0;
  }
  const behind = out.behindSeconds < 0 ? "unknown" : formatBehind(out.behindSeconds);
  printOut(`data dir:          ${dataDir}`);
  printOut(`site:              ${out.site}`);
  printOut(
    `hub:               ${out.hub || "(not configured)"} (id ${out.hubId ?? "not contacted yet"})`,
  );
  printOut(`link state:        ${out.state}`);
  printOut(
    `process:           ${running === undefined ? "unknown" : running ? "running" : "not running"}`,
  );
  printOut(
    `acknowledged seq:  ${out.ackedSeq}${
      out.ackedAtMs ? ` (${new Date(out.ackedAtMs).toISOString()})` : ""
    }`,
  );
  printOut(`last seq (WAL):    ${out.lastSeq}`);
  printOut(`behind:            ${out.behindEntries} entries, ${out.behindBytes} bytes, ${behind}`);
  printOut(`rate:              ${running ? `${out.rateBytesPerSec} B/s` : "none (not running)"}`);
  printOut(`eta:               ${out.etaSeconds < 0 ? "unknown" : formatDuration(out.etaSeconds)}`);
  printOut(`window:            ${out.window}; rate limit ${out.rateLimitBytesPerSec || "none"}`);
  printOut(
    `evicted:           ${out.evictedEntries} entries, ${out.evictedBytes} bytes (disk-full policy)`,
  );
  for (const [k, v] of Object.entries(out.disk)) printOut(`disk ${k}: ${v}`);
  if (out.refusal) printOut(`refused:           ${out.refusal}`);
  if (out.lastError) printOut(`last error:        ${out.lastError}`);
  return 0;
}

/** Help of `cityhall export`. */
export const EXPORT_HELP = UPLINK_HELP;

/** `cityhall export --since-ack …`. */
export async function exportCommand(args: string[]): Promise<number> {
  const parsed = parseFlags("export", args, {
    string: ["data-dir", "site", "output"],
    boolean: ["since-ack"],
  });
  if (parsed.booleans.has("help")) {
    printOut(UPLINK_HELP);
    return 0;
  }
  if (parsed.positionals.length > 0) {
    throw new UsageError("export", `unexpected argument '${parsed.positionals[0]}'`);
  }
  const dataDir = resolveDataDir("export", parsed.strings.get("data-dir"));
  const site = parsed.strings.get("site");
  if (site !== undefined && siteNameProblem(site) !== undefined) {
    throw new UsageError("export", `--site: ${siteNameProblem(site)}`);
  }
  const output = parsed.strings.get("output");
  if (output === undefined && Deno.stdout.isTerminal()) {
    throw new UsageError(
      "export",
      "stdout is a terminal: redirect it (> site.chsync) or use --output",
    );
  }
  const fs = new RealFs();
  let file: Deno.FsFile | undefined;
  const tmp = output === undefined ? undefined : `${output}.tmp`;
  try {
    if (tmp !== undefined) {
      file = await Deno.open(tmp, { write: true, createNew: true, mode: 0o600 });
    }
    const write = file === undefined
      ? (bytes: Uint8Array) => Promise.resolve(writeOut(bytes))
      : async (bytes: Uint8Array) => {
        let off = 0;
        while (off < bytes.length) off += await file!.write(bytes.subarray(off));
      };
    const s = await exportSinceAck(fs, dataDir, write, site === undefined ? {} : { site });
    if (file !== undefined) {
      await file.sync();
      file.close();
      file = undefined;
      await Deno.rename(tmp!, output!);
    }
    printErr(
      `exported site ${s.site}: sequences ${s.fromSeq}..${s.lastSeq}, ${s.records} records in ${s.frames} frames` +
        (s.lastSeq < s.fromSeq ? " (nothing the hub lacks)" : ""),
    );
    return 0;
  } catch (err) {
    file?.close();
    if (tmp !== undefined) await Deno.remove(tmp).catch(() => {});
    if (err instanceof Deno.errors.AlreadyExists) {
      printErr(`cityhall export: ${tmp} exists (another export running, or left by a crash?)`);
      return 1;
    }
    const message = dataDirFailure(dataDir, err);
    printErr(`cityhall export: ${message ?? (err instanceof Error ? err.message : String(err))}`);
    return 1;
  }
}
