/**
 * `cityhall serve`: opens the data directory and runs the RESP server and the HTTP API until
 * SIGINT or SIGTERM (or a RESP SHUTDOWN).
 *
 * Life cycle: check the flags and the bind security rule (exit 2 on a bad command line), open
 * the engine (its lock keeps a second process out), listen on both ports, log one line
 * `... info listening resp=HOST:PORT http=HOST:PORT ...`, then wait. The first signal stops
 * accepting, lets in-flight commands finish and answer, closes HTTP and the engine, and exits
 * 0; a second signal exits 130 at once, which loses nothing acknowledged because every
 * acknowledged write is in the WAL. Started by npm (`npx ... task start`), the daemon also
 * shuts down gracefully when npm exits, since npm does not pass SIGTERM on (`_launcher.ts`).
 *
 * @module
 */

import type { TimeSeriesStore } from "../timeseries/mod.ts";
import { Database } from "../engine/mod.ts";
import type { ExtraMetricFamily } from "../http/mod.ts";
import { type Server, startServer } from "../server/mod.ts";
import { createLogger, type Logger } from "../util/log.ts";
import { shrinkHeapOnce, startMemoryTrimmer } from "../util/memory_trim.ts";
import { VERSION } from "../version.ts";
import { parseFlags, UsageError } from "./_args.ts";
import { formatHostPort } from "./_common.ts";
import { dataDirFailure } from "./_fs_errors.ts";
import { watchLauncher } from "./_launcher.ts";
import { printErr, printOut } from "./_output.ts";
import { SERVE_FLAGS, SERVE_HELP, type ServeSettings, serveSettings } from "./_serve_settings.ts";

export { SERVE_FLAGS, SERVE_HELP, type ServeSettings, serveSettings };

/** Exit code after a second signal: the conventional 128 + SIGINT. */
export const EXIT_SECOND_SIGNAL = 130;
async function readPem(path: string, flag: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (err) {
    const reason = err instanceof Deno.errors.NotFound
      ? "no such file"
      : err instanceof Error
      ? err.message
      : String(err);
    throw new UsageError("serve", `cannot read ${flag} ${path}: ${reason}`);
  }
}

function portInUse(hostname: string, port: number, flag: string): string {
  return `Cannot listen on ${formatHostPort(hostname, port)}: port ${port} is already in use ` +
    `(stop the other process or choose another port with ${flag})`;
}

function listenFailure(err: unknown, hostname: string, port: number, flag: string): string {
  if (err instanceof Deno.errors.AddrInUse) return portInUse(hostname, port, flag);
  if (err instanceof Deno.errors.PermissionDenied) {
    return `Cannot listen on ${formatHostPort(hostname, port)}: permission denied ` +
      `(ports below 1024 need privileges; choose another with ${flag})`;
  }
  if (err instanceof Deno.errors.AddrNotAvailable) {
    return `Cannot listen on ${formatHostPort(hostname, port)}: address not available ` +
      `on this machine (check --bind)`;
  }
  const reason = err instanceof Error ? err.message : String(err);
  return `Cannot listen on ${formatHostPort(hostname, port)}: ${reason}`;
}

/** `cityhall serve ...`; resolves with the exit code once the server has shut down. */
export async function serveCommand(args: string[]): Promise<number> {
  const parsed = parseFlags("serve", args, SERVE_FLAGS);
  if (parsed.booleans.has("help")) {
    printOut(SERVE_HELP);
    return 0;
  }
  const settings = await serveSettings("serve", parsed);
  const logger = createLogger(settings.logLevel, settings.logFormat);
  if (settings.bindWarning !== undefined) {
    logger("warn", `WARNING: ${settings.bindWarning}`, { bind: settings.bind });
  }
  const tls = settings.tls === undefined ? undefined : {
    cert: await readPem(settings.tls.certFile, "--tls-cert"),
    key: await readPem(settings.tls.keyFile, "--tls-key"),
  };
  return await runDaemon("serve", settings, tls, logger);
}

/** What the role adds to the server's life cycle. */
export interface RoleHooks {
  /** The role named in the "listening" line (default: the command). */
  role: string;
  open(settings: ServeSettings, logger: Logger): Promise<Database>;
  /** Starts replication; returns its closer and the fields of the "listening" line. */
  start(db: Database, logger: Logger, timeseries: TimeSeriesStore): Promise<{
    close(): Promise<void>;
    fields: Record<string, string | number>;
    /** Problems `/healthz` reports (a refused replica); none = healthy. */
    health?: () => string[];
    /** Metric families `/metrics` adds (a fleet hub's sites, an edge's uplink). */
    metrics?: () => ExtraMetricFamily[];
  }>;
}

/**
 * The server life cycle shared by `serve`, `leader` and `replica`: open the database (the
 * role's way, when it has one), start RESP, HTTP and the role, log one "listening" line, and
 * shut down in reverse order on the first SIGINT/SIGTERM or SHUTDOWN (exit 130 on a second
 * signal).
 */
export async function runDaemon(
  command: string,
  settings: ServeSettings,
  tls: { cert: string; key: string } | undefined,
  logger: Logger,
  hooks: Partial<RoleHooks> = {},
): Promise<number> {
  if (settings.bindWarning !== undefined) {
    logger("warn", `WARNING: ${settings.bindWarning}`, { bind: settings.bind });
  }
  // What opening the data leaves behind (a long log replayed) counts as growth for the trimmer.
  const rssBeforeOpen = Deno.memoryUsage().rss;
  let db: Database;
  try {
    db = hooks.open
      ? await hooks.open(settings, logger)
      : await Database.open(settings.dataDir, { ...settings.engine, logger });
  } catch (err) {
    const message = dataDirFailure(settings.dataDir, err);
    if (message === undefined) throw err;
    printErr(`cityhall ${command}: ${message}`);
    return 1;
  }
  // The time-series layer takes the log ops the engine recovered (ARCHITECTURE.md § "Time series").
  // Opened here when a part started below shares it (HTTP, a role, remote write, the agent);
  // else the RESP server opens it, at start when the data holds series, otherwise on the first
  // command that needs it (ARCHITECTURE.md § "Memory"). A static specifier: compile and bundle
  // include it.
  const shared = settings.httpPort !== undefined || hooks.start !== undefined ||
    settings.remoteWrite !== undefined || settings.selfMetrics !== undefined;
  const timeseries = shared
    ? (await import("../timeseries/mod.ts")).TimeSeriesStore.open(db, { logger })
    : undefined;
  let resp: Server | undefined;
  let http: { shutdown(): Promise<void>; addr: Deno.NetAddr } | undefined;
  let role: Awaited<ReturnType<RoleHooks["start"]>> | undefined;
  let agent: { stop(): Promise<void> } | undefined;
  let exporters: { stop(): Promise<void> } | undefined;
  let shuttingDown: Promise<number> | undefined;
  let resolveExit!: (code: number) => void;
  const exited = new Promise<number>((resolve) => resolveExit = resolve);
  const shutdown = (reason: string): Promise<number> => {
    shuttingDown ??= (async () => {
      logger("info", "shutting down", { reason });
      let code = 0;
      await agent?.stop();
      await exporters?.stop();
      const results = await Promise.allSettled([role?.close(), resp?.close(), http?.shutdown()]);
      await timeseries?.close();
      for (const r of results) {
        if (r.status === "rejected") {
          code = 1;
          logger("error", "closing a listener failed", { error: String(r.reason) });
        }
      }
      try {
        await db.close();
      } catch (err) {
        code = 1;
        logger("error", "closing the database failed", { error: String(err) });
      }
      logger("info", "stopped", { code });
      resolveExit(code);
      return code;
    })();
    return shuttingDown;
  };
  const fail = async (message: string): Promise<number> => {
    await Promise.allSettled([role?.close(), resp?.close(), http?.shutdown()]);
    await timeseries?.close();
    await db.close().catch(() => {});
    printErr(`cityhall ${command}: ${message}`);
    return 1;
  };
  try {
    resp = await startServer(db, {
      hostname: settings.bind,
      port: settings.port,
      ...(settings.authToken !== undefined ? { authToken: settings.authToken } : {}),
      ...(settings.maxClients !== undefined ? { maxClients: settings.maxClients } : {}),
      ...(settings.idleTimeoutS !== undefined ? { idleTimeoutS: settings.idleTimeoutS } : {}),
      ...(tls !== undefined ? { tls } : {}),
      logger,
      ...(timeseries !== undefined ? { timeseries } : {}),
      syncMode: settings.engine.syncMode ?? "always",
      onShutdown: () => {
        void shutdown("SHUTDOWN command");
      },
    });
  } catch (err) {
    return await fail(listenFailure(err, settings.bind, settings.port, "--port"));
  }
  if (settings.httpPort !== undefined) {
    try {
      // Loaded only when HTTP is on (as the remote write and the self-metrics agent below): the
      // HTTP API brings PromQL, ingest and the console, which a RESP-only server need not
      // keep in memory. Static specifiers, so compile and bundle still include them.
      const { combineHealth, engineHealth, startHttpServer } = await import("../http/mod.ts");
      http = await startHttpServer(db, {
        hostname: settings.bind,
        port: settings.httpPort,
        logger,
        // The RESP server's stats come through the registry it attached to `db`.
        families: () => role?.metrics?.() ?? [],
        // /healthz: the engine's state, and the role's (started below) once it runs.
        health: combineHealth(engineHealth(db), () => role?.health?.() ?? []),
        ...settings.httpLimits,
        timeseries: timeseries!,
        ...(settings.authToken !== undefined ? { authToken: settings.authToken } : {}),
        ...(tls !== undefined ? { tls } : {}),
      });
    } catch (err) {
      return await fail(listenFailure(err, settings.bind, settings.httpPort, "--http-port"));
    }
  }
  try {
    role = hooks.start ? await hooks.start(db, logger, timeseries!) : undefined;
  } catch (err) {
    return await fail(
      err instanceof Deno.errors.AddrInUse
        ? "Cannot listen for replication: port already in use (choose another with --replication-port)"
        : `Cannot start replication: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  if (settings.remoteWrite !== undefined) {
    try {
      const { startRemoteWrite } = await import("./_remote_write_start.ts");
      exporters = await startRemoteWrite(
        settings.remoteWrite,
        timeseries!,
        settings.dataDir,
        logger,
      );
    } catch (err) {
      return await fail(`Cannot start --remote-write: ${err instanceof Error ? err.message : err}`);
    }
  }
  if (settings.selfMetrics !== undefined) {
    const { startAgentFor } = await import("./_self_metrics_start.ts");
    agent = startAgentFor(
      command,
      db,
      settings.selfMetrics,
      timeseries!,
      await resp?.loadRegistry(),
      logger,
    );
  }
  const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
  const onSignal = (signal: Deno.Signal) => () => {
    if (shuttingDown !== undefined) {
      logger("warn", "second signal: exiting now (the WAL keeps every acknowledged write)", {
        signal,
      });
      Deno.exit(EXIT_SECOND_SIGNAL);
    }
    void shutdown(signal);
  };
  const handlers = signals.map((s) => [s, onSignal(s)] as const);
  for (const [s, h] of handlers) Deno.addSignalListener(s, h);
  // Started by npm (npx ... task start), which exits on SIGTERM without passing it on.
  const launcher = watchLauncher((pid) => {
    logger("info", "npm exited without passing its signal on", { npm_pid: pid });
    void shutdown("npm exited");
  });
  // What loading the modules left behind in V8's heap goes back before the server idles.
  shrinkHeapOnce();
  // Freed buffers go back to the OS instead of holding the RSS at its peak (§ "Memory"); what
  // opening the data freed goes at once, before the "listening" line.
  const trimmer = startMemoryTrimmer({ logger, startRss: rssBeforeOpen });
  logger("info", "listening", {
    resp: formatHostPort(resp.addr.hostname, resp.addr.port),
    http: http === undefined ? "off" : formatHostPort(http.addr.hostname, http.addr.port),
    role: hooks.role ?? command,
    ...role?.fields,
    sync: settings.engine.syncMode ?? "always",
    data_dir: settings.dataDir,
    tls: tls !== undefined,
    auth: settings.authToken !== undefined,
    version: VERSION,
    pid: Deno.pid,
  });
  const code = await exited;
  trimmer.stop();
  launcher?.stop();
  for (const [s, h] of handlers) Deno.removeSignalListener(s, h);
  return code;
}
