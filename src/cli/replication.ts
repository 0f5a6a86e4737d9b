/**
 * `cityhall leader` and `cityhall replica`: the server (`serve`) plus CityHall Sync.
 *
 * - `cityhall leader [serve flags] [--replication-port 7879] [--replication-bind ADDR]
 *   [--replication-retention-max-bytes N]`: `serve` with the replication listener on.
 *   `cityhall leader forget ID [--host H] [--port P]` forgets a replica on a running leader.
 * - `cityhall replica --leader HOST:PORT [serve flags] [--tls-ca F]`: follows the leader and
 *   serves reads (writes answer `-READONLY …`). Its default ports are 7888 (RESP) and 7890
 *   (HTTP), so that it runs beside a leader on the default 7878/7880 of the same machine.
 *   The `--auth-token-file` token is presented to the leader and required from clients.
 * - `cityhall replica status --data-dir DIR [--json]` reads the status file (works with the
 *   replica stopped); with `--host/--port` it asks the running replica's INFO replication.
 *
 * @module
 */

import { REPLICATION_PORT_DEFAULT, REPLICATION_RETENTION_BYTES_MAX_DEFAULT } from "../limits.ts";
import {
  openLeaderDatabase,
  openReplicaDatabase,
  parseHostPort,
  readReplicaStatus,
  startReplica,
  startReplicationLeader,
} from "../replication/mod.ts";
import { RealFs } from "../fs/mod.ts";
import { createLogger } from "../util/log.ts";
import { intFlag, parseFlags, UsageError } from "./_args.ts";
import { formatHostPort, HOST_DEFAULT, readAuthToken, resolveDataDir } from "./_common.ts";
import { dataDirFailure } from "./_fs_errors.ts";
import { printErr, printJson, printOut } from "./_output.ts";
import { checkBind, lockHeld, readFlagFile, readTlsFiles, withoutFlags } from "./_roles.ts";
import { RespClient } from "./resp_client.ts";
import { runDaemon, SERVE_FLAGS, serveSettings } from "./serve.ts";
import { LEADER_ONLY } from "./_role_flags.ts";

/** Default RESP port of a replica (a leader on the same machine has 7878). */
export const REPLICA_PORT_DEFAULT = 7888;
/** Default HTTP port of a replica (a leader on the same machine has 7880). */
export const REPLICA_HTTP_PORT_DEFAULT = 7890;

/** Help of `cityhall leader`. */
export const LEADER_HELP = `Usage: cityhall leader [serve options] [--replication-port N]
       cityhall leader forget REPLICA_ID [--host H] [--port P] [--auth-token-file F]

Run the server (exactly like "cityhall serve") with the CityHall Sync replication listener on.
Replicas connect to it ("cityhall replica --leader HOST:PORT") and pull the WAL.

Options (beside every "serve" option):
  --replication-port N   Replication port (default ${REPLICATION_PORT_DEFAULT}; 0 = any free port)
  --replication-bind A   Address of the replication listener (default: --bind)
  --replication-retention-max-bytes N
                         Most bytes of WAL kept only for replicas that have not acknowledged
                         it; past it the oldest segments go and a replica that needed them
                         bootstraps from a snapshot (default ${REPLICATION_RETENTION_BYTES_MAX_DEFAULT}, 1 GiB)
The --auth-token-file token is also required from replicas; --tls-cert/--tls-key also apply.

"forget" makes a running leader forget a replica that will never return, so it stops keeping
WAL for it (the RESP command REPLICATION FORGET ID).
`;

/** Help of `cityhall replica`. */
export const REPLICA_HELP = `Usage: cityhall replica --leader HOST:PORT [serve options] [--tls-ca F]
       cityhall replica status [--data-dir DIR] [--json] [--host H --port P]

Follow a leader: pull its WAL over CityHall Sync, apply it with the leader's sequence numbers,
and serve reads on this replica's own RESP and HTTP ports. Writes are answered
"-READONLY You can't write against a read only replica.".

Default ports: RESP ${REPLICA_PORT_DEFAULT} and HTTP ${REPLICA_HTTP_PORT_DEFAULT} (a leader on the same machine keeps 7878
and 7880). Every "serve" option applies (--data-dir, --port, --http-port, --bind, …).
  --leader HOST:PORT     The leader's replication address (required)
  --auth-token-file F    Token presented to the leader, and required from this replica's clients
  --tls-ca F             Connect to the leader with TLS, trusting this PEM CA certificate

"status" reads DIR/replication/status.json, so it works with the replica stopped: leader
address and id, last applied sequence, last synced segment, total entries, last contact and
how stale the data may be, and why the leader refuses it, if it does. It checks the data
directory's lock to tell whether the replica still runs (after a kill -9 the file still holds
the last state it wrote). With --host/--port it asks the running replica and adds its live lag.
`;

/** Flags of `leader` (also accepted by `service --role leader`). */
export const LEADER_FLAGS = {
  string: [
    ...SERVE_FLAGS.string,
    "replication-port",
    "replication-bind",
    "replication-retention-max-bytes",
  ],
  boolean: [...SERVE_FLAGS.boolean],
} as const;

/** Flags of `replica` (also accepted by `service --role replica`). */
export const REPLICA_FLAGS = {
  string: [...SERVE_FLAGS.string, "leader", "tls-ca"],
  boolean: [...SERVE_FLAGS.boolean],
} as const;

export { LEADER_ONLY };

/**
 * `cityhall leader …`, also `cityhall serve --replication-port N …` (then `name` is `serve`,
 * for the messages; the role stays leader).
 */
export async function leaderCommand(args: string[], name = "leader"): Promise<number> {
  if (name === "leader" && args[0] === "forget") return await forgetCommand(args.slice(1));
  const parsed = parseFlags(name, args, LEADER_FLAGS);
  if (parsed.booleans.has("help")) {
    printOut(LEADER_HELP);
    return 0;
  }
  const replicationPort = intFlag(name, parsed, "replication-port", { min: 0, max: 65535 }) ??
    REPLICATION_PORT_DEFAULT;
  const retentionMaxBytes = intFlag(name, parsed, "replication-retention-max-bytes", {
    min: 0,
    max: Number.MAX_SAFE_INTEGER,
  });
  const settings = await serveSettings(name, withoutFlags(parsed, LEADER_ONLY));
  const replicationBind = parsed.strings.get("replication-bind") ?? settings.bind;
  checkBind(name, replicationBind, settings);
  const logger = createLogger(settings.logLevel, settings.logFormat);
  const tls = await readTlsFiles(name, settings);
  let registry: Awaited<ReturnType<typeof openLeaderDatabase>>["registry"];
  return await runDaemon(name, settings, tls, logger, {
    role: "leader",
    open: async (s, log) => {
      const opened = await openLeaderDatabase(s.dataDir, {
        ...s.engine,
        logger: log,
        ...(retentionMaxBytes !== undefined ? { retentionMaxBytes } : {}),
      });
      registry = opened.registry;
      return opened.db;
    },
    start: async (db, log) => {
      const leader = await startReplicationLeader(db, {
        hostname: replicationBind,
        port: replicationPort,
        registry,
        logger: log,
        ...(settings.authToken !== undefined ? { authToken: settings.authToken } : {}),
        ...(tls !== undefined ? { tls } : {}),
      });
      return {
        close: () => leader.close(),
        fields: { replication: formatHostPort(leader.addr.hostname, leader.addr.port) },
      };
    },
  });
}

/** `cityhall replica …`. */
export async function replicaCommand(args: string[]): Promise<number> {
  if (args[0] === "status") return await statusCommand(args.slice(1));
  const parsed = parseFlags("replica", args, REPLICA_FLAGS);
  if (parsed.booleans.has("help")) {
    printOut(REPLICA_HELP);
    return 0;
  }
  const leaderAddress = parsed.strings.get("leader");
  if (leaderAddress === undefined) {
    throw new UsageError("replica", "--leader HOST:PORT is required");
  }
  try {
    parseHostPort(leaderAddress);
  } catch (err) {
    throw new UsageError("replica", (err as Error).message);
  }
  const caFile = parsed.strings.get("tls-ca");
  const settings = await serveSettings("replica", withoutFlags(parsed, ["leader", "tls-ca"]));
  // A replica beside its leader: the default ports are the replica's own (see the help).
  if (!parsed.strings.has("port")) settings.port = REPLICA_PORT_DEFAULT;
  if (!parsed.strings.has("http-port") && settings.httpPort !== undefined) {
    settings.httpPort = REPLICA_HTTP_PORT_DEFAULT;
  }
  const logger = createLogger(settings.logLevel, settings.logFormat);
  const tls = await readTlsFiles("replica", settings);
  const ca = caFile === undefined ? undefined : await readFlagFile("replica", caFile, "--tls-ca");
  return await runDaemon("replica", settings, tls, logger, {
    open: (s, log) => openReplicaDatabase(s.dataDir, { ...s.engine, logger: log }),
    start: (db, log) => {
      const replica = startReplica(db, {
        leader: leaderAddress,
        logger: log,
        ...(settings.authToken !== undefined ? { authToken: settings.authToken } : {}),
        ...(ca !== undefined ? { tlsCaCert: ca } : {}),
      });
      return Promise.resolve({
        close: () => replica.close(),
        fields: { leader: leaderAddress, replica_id: replica.replicaId },
        health: () => replica.healthProblems(),
      });
    },
  });
}

function formatTime(ms: number): string {
  return ms === 0 ? "never" : new Date(ms).toISOString();
}

function formatAgo(ms: number, nowMs: number): string {
  if (ms === 0) return "never";
  return `${new Date(ms).toISOString()} (${Math.max(0, Math.round((nowMs - ms) / 1000))} s ago)`;
}

/** `cityhall replica status`. */
async function statusCommand(args: string[]): Promise<number> {
  const parsed = parseFlags("replica", args, {
    string: ["data-dir", "host", "port", "auth-token-file"],
    boolean: ["json"],
  });
  if (parsed.booleans.has("help")) {
    printOut(REPLICA_HELP);
    return 0;
  }
  if (parsed.positionals.length > 0) {
    throw new UsageError("replica", `unexpected argument '${parsed.positionals[0]}'`);
  }
  const dataDir = resolveDataDir("replica", parsed.strings.get("data-dir"));
  let status: ReturnType<typeof readReplicaStatus>;
  try {
    status = readReplicaStatus(new RealFs(), dataDir);
  } catch (err) {
    const message = dataDirFailure(dataDir, err);
    if (message === undefined) throw err;
    printErr(`cityhall replica status: ${message}`);
    return 1;
  }
  const live: Record<string, string> = {};
  if (parsed.strings.has("host") || parsed.strings.has("port")) {
    const hostname = parsed.strings.get("host") ?? HOST_DEFAULT;
    const port = intFlag("replica", parsed, "port", { min: 1, max: 65535 }) ??
      REPLICA_PORT_DEFAULT;
    const token = await readAuthToken("replica", parsed.strings.get("auth-token-file"));
    try {
      const client = await RespClient.connect({ hostname, port, authToken: token });
      try {
        const reply = await client.command(["INFO", "replication"]);
        const text = reply.kind === "bulk" && reply.value !== null
          ? new TextDecoder().decode(reply.value)
          : reply.kind === "simple"
          ? reply.value
          : "";
        for (const line of text.split(/\r?\n/)) {
          const i = line.indexOf(":");
          if (i > 0) live[line.slice(0, i)] = line.slice(i + 1);
        }
      } finally {
        client.close();
      }
    } catch (err) {
      printErr(
        `cityhall replica status: Cannot ask ${formatHostPort(hostname, port)}: ${
          err instanceof Error ? err.message : String(err)
        }`,
      );
      return 1;
    }
  }
  if (status === undefined && Object.keys(live).length === 0) {
    printErr(
      `cityhall replica status: ${dataDir} holds no replica status (has "cityhall replica" run on it?)`,
    );
    return 1;
  }
  const nowMs = Date.now();
  const running = status === undefined ? undefined : lockHeld(dataDir);
  // A state other than "stopped" from a replica that no longer runs (kill -9, power loss) is
  // what it was, not what it is.
  const state = status === undefined
    ? undefined
    : running === false && status.state !== "stopped"
    ? "not running"
    : status.state;
  const caughtUpMs = status?.lastCaughtUpMs ?? 0;
  const current = status !== undefined && state === "connected" &&
    status.lastAppliedSeq >= status.leaderDurableSeq;
  const stalenessSeconds = status === undefined ? undefined : current ? 0 : caughtUpMs === 0
    ? null
    // "Up to": an upper bound, so rounded up; a replica that is not current is never shown as
    // 0 s behind, even when it stopped within the last second.
    : Math.max(1, Math.ceil((nowMs - caughtUpMs) / 1000));
  if (parsed.booleans.has("json")) {
    printJson({
      ...(status ?? {}),
      ...(status !== undefined ? { running: running ?? null, stalenessSeconds } : {}),
      ...(state !== undefined ? { state, recordedState: status!.state } : {}),
      ...(Object.keys(live).length > 0 ? { live } : {}),
    });
    return 0;
  }
  if (status !== undefined) {
    const recorded = state === status.state ? "" : `; the file says ${status.state}`;
    printOut(`data dir:            ${dataDir}`);
    printOut(`replica id:          ${status.replicaId}`);
    printOut(`leader address:      ${status.leaderAddress}`);
    printOut(`leader id:           ${status.leaderId ?? "(not contacted yet)"}`);
    printOut(`link state:          ${state} (as of ${formatTime(status.updatedMs)}${recorded})`);
    printOut(
      `process:             ${
        running === undefined ? "unknown" : running ? "running" : "not running"
      }`,
    );
    printOut(`last applied seq:    ${status.lastAppliedSeq}`);
    printOut(`last synced segment: ${status.lastSyncedSegment}`);
    printOut(`total entries:       ${status.totalEntries}`);
    printOut(`leader durable seq:  ${status.leaderDurableSeq}`);
    printOut(`last contact:        ${formatAgo(status.lastContactMs, nowMs)}`);
    printOut(
      `staleness:           ${
        current
          ? "none (caught up)"
          : stalenessSeconds === null || stalenessSeconds === undefined
          ? "unknown (never caught up)"
          : `up to ${stalenessSeconds} s (last caught up ${formatTime(caughtUpMs)})`
      }`,
    );
    if (status.refusal) printOut(`refused:             ${status.refusal}`);
    if (status.lastError) printOut(`last error:          ${status.lastError}`);
  }
  if (Object.keys(live).length > 0) {
    printOut(`live link:           ${live.cityhall_link_state ?? "?"}`);
    printOut(`live applied seq:    ${live.slave_repl_offset ?? "?"}`);
    printOut(`live lag entries:    ${live.cityhall_lag_entries ?? "?"}`);
    printOut(`live retries:        ${live.cityhall_retries ?? "?"}`);
    printOut(`live staleness s:    ${live.cityhall_staleness_seconds ?? "?"}`);
    if (live.cityhall_refusal) printOut(`live refusal:        ${live.cityhall_refusal}`);
  }
  return 0;
}

/** `cityhall leader forget ID`. */
async function forgetCommand(args: string[]): Promise<number> {
  const parsed = parseFlags("leader", args, {
    string: ["host", "port", "auth-token-file"],
  });
  if (parsed.booleans.has("help")) {
    printOut(LEADER_HELP);
    return 0;
  }
  const id = parsed.positionals[0];
  if (id === undefined || parsed.positionals.length > 1) {
    throw new UsageError("leader", "forget takes exactly one REPLICA_ID");
  }
  const hostname = parsed.strings.get("host") ?? HOST_DEFAULT;
  const port = intFlag("leader", parsed, "port", { min: 1, max: 65535 }) ?? 7878;
  const token = await readAuthToken("leader", parsed.strings.get("auth-token-file"));
  let client: RespClient;
  try {
    client = await RespClient.connect({ hostname, port, authToken: token });
  } catch (err) {
    printErr(
      `cityhall leader forget: Cannot connect to ${formatHostPort(hostname, port)}: ${
        err instanceof Error ? err.message : String(err)
      }`,
    );
    return 1;
  }
  try {
    const reply = await client.command(["REPLICATION", "FORGET", id]);
    if (reply.kind === "error") {
      printErr(`cityhall leader forget: ${reply.value}`);
      return 1;
    }
    if (reply.kind === "integer" && Number(reply.value) === 1) {
      printOut(`forgot replica ${id}: the leader no longer keeps WAL for it`);
      return 0;
    }
    printErr(`cityhall leader forget: no replica ${id} is known to the leader`);
    return 1;
  } finally {
    client.close();
  }
}
