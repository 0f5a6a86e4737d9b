/**
 * `cityhall serve`'s command line: its help, its flags and the settings they make (shared by
 * `leader`, `replica`, `hub`, `serve --uplink` and `service`); `serve.ts` runs the daemon.
 *
 * @module
 */

import type { DatabaseOptions } from "../engine/mod.ts";
import { InvalidArgumentError } from "../errors.ts";
import { checkAuthToken, checkBindSecurity, isLoopback } from "../server/mod.ts";
import { CLIENTS_MAX_DEFAULT, CLIENTS_MAX_LIMIT, REPLICATION_PORT_DEFAULT } from "../limits.ts";
import {
  HTTP_BODY_TIMEOUT_MS_DEFAULT,
  HTTP_CONNECTIONS_MAX_DEFAULT,
  HTTP_CONNECTIONS_MAX_LIMIT,
  HTTP_HEADER_TIMEOUT_MS_DEFAULT,
  HTTP_IDLE_TIMEOUT_MS_DEFAULT,
} from "../limits.ts";
import { isLogFormat, isLogLevel, type LogFormat, type LogLevel } from "../util/log.ts";
import { intFlag, type ParsedArgs, UsageError } from "./_args.ts";
import {
  AUTH_TOKEN_ENV,
  HOST_DEFAULT,
  HTTP_PORT_DEFAULT,
  readAuthToken,
  resolveDataDir,
  RESP_PORT_DEFAULT,
} from "./_common.ts";
import {
  REMOTE_WRITE_BOOLEAN_FLAGS,
  REMOTE_WRITE_FLAGS,
  REMOTE_WRITE_HELP,
  type RemoteWriteSettings,
  remoteWriteSettings,
} from "./_remote_write.ts";
import { SELF_METRICS_FLAGS, SELF_METRICS_HELP, selfMetricsSettings } from "./_self_metrics.ts";
import type { SelfMetricsSettings } from "../agent/mod.ts";

/** Largest `--memtable-mb`, `--cache-mb` and `--row-cache-mb` (64 GiB). */
const SIZE_MB_MAX = 64 * 1024;
const MiB = 1024 * 1024;

/** Help of `cityhall serve`. */
export const SERVE_HELP = `Usage: cityhall serve [options]

Run the CityHall server: the Redis protocol (RESP) on --port and the HTTP API on --http-port.
Logs go to stderr, one logfmt line per event; the line msg="listening" resp=\u2026 http=\u2026 gives the
addresses.
SIGINT/SIGTERM shut down gracefully (a second signal exits at once, losing nothing
acknowledged).

Options:
  --data-dir DIR         Data directory (default ~/.cityhall/data)
  --bind ADDR            Address to listen on (default ${HOST_DEFAULT}). A non-loopback address
                         needs an auth token, or --insecure-no-auth
  --port N               RESP port (default ${RESP_PORT_DEFAULT}; 0 = any free port)
  --http-port N          HTTP port (default ${HTTP_PORT_DEFAULT}; 0 = any free port)
  --no-http              Do not serve HTTP
  --http-max-connections N   Most HTTP connections at once (default ${HTTP_CONNECTIONS_MAX_DEFAULT})
  --http-header-timeout-s N  Seconds an HTTP request head may take from connect (or from its
                             first byte); trickled bytes do not extend it (default ${
  HTTP_HEADER_TIMEOUT_MS_DEFAULT / 1000
})
  --http-body-timeout-s N    Seconds a request body may take after its head (default ${
  HTTP_BODY_TIMEOUT_MS_DEFAULT / 1000
})
  --http-idle-timeout-s N    Seconds a keep-alive HTTP connection may wait for its next
                             request (default ${HTTP_IDLE_TIMEOUT_MS_DEFAULT / 1000})
  --auth-token-file F    Require the token in F (trimmed) from clients: AUTH on RESP,
                         "Authorization: Bearer" on HTTP (default: env CITYHALL_AUTH_TOKEN)
  --tls-cert F --tls-key F  Serve TLS on both ports with this PEM certificate chain and key
  --sync MODE            always (default): a write is acknowledged after fdatasync;
                         interval:MS: synced every MS milliseconds (a power loss can lose
                         that window); none: never synced by writes (bulk loads)
  --memtable-mb N        Memtable size before a flush to disk (default 64)
  --cache-mb N           Block cache size (default 32; 0 disables it)
  --row-cache-mb N       Row cache size: whole entries that reads found in the tables, so a
                         repeated read of a key costs one lookup (default 4; 0 disables it)
  --compaction-style S   leveled (default) or tiered: how tables are merged (the
                         write, read and space trade-off in ARCHITECTURE.md)
  --wal-segment-mb N     Largest preallocated WAL segment (default 32); segments start at
                         1 MiB and grow with the write rate up to it
  --max-clients N        Most RESP clients at once (default ${CLIENTS_MAX_DEFAULT})
  --idle-timeout-s N     Close RESP clients with no complete command this long (default
                         300; 0 = never)
  --log-level LEVEL      debug, info (default), warn or error
  --log-format FORMAT    logfmt (default: time=\u2026 level=\u2026 msg="\u2026" key=value) or json (one
                         object per line); both parse in journald, Loki and Vector
  --insecure-no-auth     Allow a non-loopback --bind without a token (anyone who can reach
                         the address can read and change every key)
  --recover-wal-past-damage
                         For one start, by hand, when the server refuses to start because
                         its WAL is damaged: keep every write before the damage, LOSE every
                         write after it (the log line names the sequences), and begin a new
                         history (replicas re-copy everything from a snapshot). Damaged WAL
                         files are moved to DIR/wal-damaged/. Remove the flag afterwards
${SELF_METRICS_HELP}${REMOTE_WRITE_HELP}  -h, --help             Show this help

Replication: with any of these, serve is "cityhall leader" (see cityhall leader --help):
  --replication-port N   Accept replicas on port N (${REPLICATION_PORT_DEFAULT} is the leader's default; 0 = any
                         free port)
  --replication-bind A   Address of the replication listener (default: --bind)
  --replication-retention-max-bytes N
                         Most WAL bytes kept only for replicas that have not acknowledged
                         them (default 1073741824, 1 GiB)

RESP client limits (on by default; CONFIG SET changes them at run time, see ARCHITECTURE.md
"Client deadlines and caps"): a client not authenticated within 10 s (when a token is set),
whose command does not arrive complete within 60 s of its first byte, or whose replies stay
unread for 60 s is closed; pending replies past 64 MiB (or past 32 MiB for 30 s) close it too
(client-output-buffer-limit); at most 1,000 unauthenticated clients, the oldest closed first.
A token for a non-loopback --bind needs 16+ random characters; tokens over 4 KiB are refused.
Failed AUTHs are delayed (100 ms doubling to 2 s) and close the connection after 10.

Exit codes: 0 after a graceful shutdown, 1 cannot start (port in use, data directory locked
or unreadable), 2 usage error or refused insecure bind, 130 second signal.
`;

/** Flags of `serve` (also accepted by `service` to build the unit's command line). */
export const SERVE_FLAGS = {
  string: [
    "data-dir",
    "bind",
    "port",
    "http-port",
    "auth-token-file",
    "tls-cert",
    "tls-key",
    "sync",
    "memtable-mb",
    "cache-mb",
    "row-cache-mb",
    "compaction-style",
    "wal-segment-mb",
    "max-clients",
    "idle-timeout-s",
    "http-max-connections",
    "http-header-timeout-s",
    "http-body-timeout-s",
    "http-idle-timeout-s",
    "log-level",
    "log-format",
    ...SELF_METRICS_FLAGS,
    ...REMOTE_WRITE_FLAGS,
  ],
  boolean: [
    "no-http",
    "insecure-no-auth",
    "recover-wal-past-damage",
    ...REMOTE_WRITE_BOOLEAN_FLAGS,
  ],
} as const;

/** Everything `serve` needs, checked. */
export interface ServeSettings {
  /** Absolute data directory. */
  dataDir: string;
  /** Address to bind. */
  bind: string;
  /** RESP port (0 = ephemeral). */
  port: number;
  /** HTTP port, or `undefined` with `--no-http`. */
  httpPort: number | undefined;
  /** Token clients must give. */
  authToken: string | undefined;
  /** Token file path as given (for `service`). */
  authTokenFile: string | undefined;
  /** TLS certificate and key paths. */
  tls: { certFile: string; keyFile: string } | undefined;
  /**
   * Engine options from --sync, --memtable-mb, --cache-mb, --row-cache-mb, --compaction-style,
   * --wal-segment-mb.
   */
  engine: Pick<
    DatabaseOptions,
    | "syncMode"
    | "syncIntervalMs"
    | "memtableSizeBytesMax"
    | "blockCacheSizeBytes"
    | "rowCacheSizeBytes"
    | "recoverWalPastDamage"
    | "compactionStyle"
    | "walSegmentSizeBytes"
  >;
  /** Most RESP clients. */
  maxClients: number | undefined;
  /** RESP idle timeout in seconds. */
  idleTimeoutS: number | undefined;
  /** HTTP connection cap and deadlines from the --http-... flags (absent = defaults). */
  httpLimits: {
    connectionsMax?: number;
    headerTimeoutMs?: number;
    bodyTimeoutMs?: number;
    idleTimeoutMs?: number;
  };
  /** Log level. */
  logLevel: LogLevel;
  /** Log line format. */
  logFormat: LogFormat;
  /** `--insecure-no-auth` was given. */
  insecureNoAuth: boolean;
  /** The loud warning to log when `--insecure-no-auth` lets a non-loopback bind through. */
  bindWarning: string | undefined;
  /** `--self-metrics` and its retentions; undefined when the agent is off. */
  selfMetrics: SelfMetricsSettings | undefined;
  /** `--remote-write` targets (ARCHITECTURE.md § "Remote-write export"); undefined when none. */
  remoteWrite?: RemoteWriteSettings | undefined;
}

function parseSync(value: string | undefined): ServeSettings["engine"] {
  if (value === undefined || value === "always") return { syncMode: "always" };
  if (value === "none") return { syncMode: "none" };
  const m = /^interval(?::(\d+))?$/.exec(value);
  if (m !== null) {
    const ms = m[1] === undefined ? 100 : Number(m[1]);
    if (ms < 1 || ms > 60_000) {
      throw new UsageError("serve", `invalid --sync ${value}: MS must be from 1 to 60000`);
    }
    return { syncMode: "interval", syncIntervalMs: ms };
  }
  throw new UsageError(
    "serve",
    `invalid --sync ${JSON.stringify(value)}: use always, interval:MS or none`,
  );
}

/**
 * Checks the flags of `serve` (shared with `service`) and the bind security rule; throws
 * `UsageError`. With `readToken: false` (`service`) the token file is only named, not read:
 * the service may run as a user who alone can read it, and the environment's token does not
 * reach the unit.
 */
export async function serveSettings(
  command: string,
  parsed: ParsedArgs,
  options: { readToken: boolean } = { readToken: true },
): Promise<ServeSettings> {
  if (parsed.positionals.length > 0) {
    throw new UsageError(command, `unexpected argument '${parsed.positionals[0]}'`);
  }
  const logLevel = parsed.strings.get("log-level") ?? "info";
  if (!isLogLevel(logLevel)) {
    throw new UsageError(
      command,
      `invalid --log-level ${JSON.stringify(logLevel)}: use debug, info, warn or error`,
    );
  }
  const logFormat = parsed.strings.get("log-format") ?? "logfmt";
  if (!isLogFormat(logFormat)) {
    throw new UsageError(
      command,
      `invalid --log-format ${JSON.stringify(logFormat)}: use logfmt or json`,
    );
  }
  const certFile = parsed.strings.get("tls-cert");
  const keyFile = parsed.strings.get("tls-key");
  if ((certFile === undefined) !== (keyFile === undefined)) {
    throw new UsageError(command, "--tls-cert and --tls-key go together");
  }
  const noHttp = parsed.booleans.has("no-http");
  if (noHttp && parsed.strings.has("http-port")) {
    throw new UsageError(command, "--no-http and --http-port exclude each other");
  }
  const engine = parseSync(parsed.strings.get("sync"));
  const memtableMb = intFlag(command, parsed, "memtable-mb", { min: 1, max: SIZE_MB_MAX });
  if (memtableMb !== undefined) engine.memtableSizeBytesMax = memtableMb * MiB;
  const cacheMb = intFlag(command, parsed, "cache-mb", { min: 0, max: SIZE_MB_MAX });
  if (cacheMb !== undefined) engine.blockCacheSizeBytes = cacheMb * MiB;
  const rowCacheMb = intFlag(command, parsed, "row-cache-mb", { min: 0, max: SIZE_MB_MAX });
  if (rowCacheMb !== undefined) engine.rowCacheSizeBytes = rowCacheMb * MiB;
  if (parsed.booleans.has("recover-wal-past-damage")) engine.recoverWalPastDamage = true;
  const style = parsed.strings.get("compaction-style");
  if (style !== undefined) {
    if (style !== "tiered" && style !== "leveled") {
      throw new UsageError(
        command,
        `invalid --compaction-style ${JSON.stringify(style)}: use tiered or leveled`,
      );
    }
    engine.compactionStyle = style;
  }
  const walSegmentMb = intFlag(command, parsed, "wal-segment-mb", { min: 1, max: 1024 });
  if (walSegmentMb !== undefined) engine.walSegmentSizeBytes = walSegmentMb * MiB;
  const authTokenFile = parsed.strings.get("auth-token-file");
  const authToken = options.readToken ? await readAuthToken(command, authTokenFile) : undefined;
  const bind = parsed.strings.get("bind") ?? HOST_DEFAULT;
  const insecureNoAuth = parsed.booleans.has("insecure-no-auth");
  let bindWarning: string | undefined;
  try {
    if (authToken !== undefined) {
      checkAuthToken(authToken, {
        publicBind: !isLoopback(bind),
        source: authTokenFile !== undefined ? `--auth-token-file ${authTokenFile}` : AUTH_TOKEN_ENV,
      });
    }
    bindWarning = checkBindSecurity(bind, {
      authToken: options.readToken ? authToken : authTokenFile,
      insecureNoAuth,
    });
  } catch (err) {
    if (err instanceof InvalidArgumentError) throw new UsageError(command, err.message);
    throw err;
  }
  return {
    dataDir: resolveDataDir(command, parsed.strings.get("data-dir")),
    bind,
    port: intFlag(command, parsed, "port", { min: 0, max: 65535 }) ?? RESP_PORT_DEFAULT,
    httpPort: noHttp
      ? undefined
      : intFlag(command, parsed, "http-port", { min: 0, max: 65535 }) ?? HTTP_PORT_DEFAULT,
    authToken,
    authTokenFile,
    tls: certFile !== undefined && keyFile !== undefined ? { certFile, keyFile } : undefined,
    engine,
    maxClients: intFlag(command, parsed, "max-clients", { min: 1, max: CLIENTS_MAX_LIMIT }),
    idleTimeoutS: intFlag(command, parsed, "idle-timeout-s", { min: 0, max: 365 * 86400 }),
    httpLimits: httpLimits(command, parsed),
    logLevel,
    logFormat,
    insecureNoAuth,
    bindWarning,
    selfMetrics: selfMetricsSettings(command, parsed),
    remoteWrite: await remoteWriteSettings(command, parsed),
  };
}

/** The --http-... connection cap and deadlines; absent flags stay absent (server defaults). */
function httpLimits(command: string, parsed: ParsedArgs): ServeSettings["httpLimits"] {
  const out: ServeSettings["httpLimits"] = {};
  const max = intFlag(command, parsed, "http-max-connections", {
    min: 1,
    max: HTTP_CONNECTIONS_MAX_LIMIT,
  });
  if (max !== undefined) out.connectionsMax = max;
  for (
    const [flag, key] of [
      ["http-header-timeout-s", "headerTimeoutMs"],
      ["http-body-timeout-s", "bodyTimeoutMs"],
      ["http-idle-timeout-s", "idleTimeoutMs"],
    ] as const
  ) {
    const s = intFlag(command, parsed, flag, { min: 1, max: 86400 });
    if (s !== undefined) out[key] = s * 1000;
  }
  return out;
}
