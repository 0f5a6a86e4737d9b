/**
 * Replication test helpers: a leader and replicas in this process on loopback with ephemeral
 * ports, full-content digests, a log capture, and bounded waits.
 *
 * @module
 */

import type { Database } from "../../src/mod.ts";
import {
  openLeaderDatabase,
  openReplicaDatabase,
  type Replica,
  type ReplicaOptions,
  type ReplicationLeader,
  startReplica,
  startReplicationLeader,
} from "../../src/replication/mod.ts";
import type { LeaderOptions } from "../../src/replication/mod.ts";
import { formatLogLine, type Logger } from "../../src/util/log.ts";

/** A logger that keeps its lines (and prints them when CITYHALL_TEST_LOG is set). */
export function captureLogger(prefix: string): Logger & { lines: string[] } {
  const lines: string[] = [];
  const verbose = Deno.env.get("CITYHALL_TEST_LOG") !== undefined;
  const logger = ((level, message, fields) => {
    const line = `${prefix} ${formatLogLine(level, message, fields)}`;
    lines.push(line);
    if (verbose) console.error(line);
  }) as Logger & { lines: string[] };
  logger.lines = lines;
  return logger;
}

/** SHA-256 over every live key and value in order, and the key count. */
export async function digest(db: Database): Promise<{ keys: number; sha256: string }> {
  const chunks: Uint8Array[] = [];
  let keys = 0;
  let size = 0;
  for await (const [k, v] of db.scan({})) {
    const head = new Uint8Array(8);
    const view = new DataView(head.buffer);
    view.setUint32(0, k.length, true);
    view.setUint32(4, v.length, true);
    chunks.push(head, k, v);
    size += 8 + k.length + v.length;
    keys++;
  }
  const all = new Uint8Array(size);
  let off = 0;
  for (const c of chunks) {
    all.set(c, off);
    off += c.length;
  }
  const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", all));
  return { keys, sha256: [...hash].map((b) => b.toString(16).padStart(2, "0")).join("") };
}

/** A leader in this process. */
export interface TestLeader {
  db: Database;
  leader: ReplicationLeader;
  dir: string;
  port: number;
  log: Logger & { lines: string[] };
  close(): Promise<void>;
}

/** Opens a leader database in `dir` (a fresh temp dir by default) with its listener. */
export async function startTestLeader(
  options: LeaderOptions & { dir?: string; db?: Parameters<typeof Database.open>[1] } = {},
): Promise<TestLeader> {
  const dir = options.dir ?? await Deno.makeTempDir({ prefix: "cityhall-leader-" });
  const log = captureLogger("leader");
  const { db, registry } = await openLeaderDatabase(dir, {
    ...(options.db ?? {}),
    ...(options.retentionMaxBytes !== undefined
      ? { retentionMaxBytes: options.retentionMaxBytes }
      : {}),
  });
  const leader = await startReplicationLeader(db, {
    hostname: "127.0.0.1",
    port: 0,
    registry,
    logger: log,
    heartbeatMs: 200,
    idleTimeoutMs: 5000,
    ...options,
  });
  return {
    db,
    leader,
    dir,
    port: leader.addr.port,
    log,
    async close() {
      await leader.close();
      await db.close();
    },
  };
}

/** A replica in this process. */
export interface TestReplica {
  db: Database;
  replica: Replica;
  dir: string;
  log: Logger & { lines: string[] };
  close(): Promise<void>;
}

/** Opens a replica database in `dir` (fresh by default) following `127.0.0.1:port`. */
export async function startTestReplica(
  port: number,
  options: Partial<ReplicaOptions> & { dir?: string } = {},
): Promise<TestReplica> {
  const dir = options.dir ?? await Deno.makeTempDir({ prefix: "cityhall-replica-" });
  const log = captureLogger("replica");
  const db = await openReplicaDatabase(dir);
  const replica = startReplica(db, {
    leader: `127.0.0.1:${port}`,
    logger: log,
    backoff: { baseMs: 20, maxMs: 200 },
    fetchWaitMs: 200,
    heartbeatMs: 200,
    idleTimeoutMs: 5000,
    ...options,
  });
  return {
    db,
    replica,
    dir,
    log,
    async close() {
      await replica.close();
      await db.close();
    },
  };
}

/** Polls `check` every 10 ms, at most `tries` times; throws `message` when it never holds. */
export async function eventually(
  check: () => boolean | Promise<boolean>,
  message: string,
  tries = 3000,
): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`Condition never held: ${message}`);
}

/** Writes `n` sensor-like keys `prefix + i` in batches of `batch` concurrent puts. */
export async function writeSensors(
  db: Database,
  n: number,
  prefix = "sensor.temp.line_",
  batch = 500,
): Promise<void> {
  for (let i = 0; i < n; i += batch) {
    const pending: Promise<void>[] = [];
    for (let j = i; j < Math.min(n, i + batch); j++) {
      pending.push(db.put(`${prefix}${j}`, `${20 + (j % 100) / 10}`));
    }
    await Promise.all(pending);
  }
}

/** Removes a temp dir, ignoring errors. */
export async function removeDir(dir: string): Promise<void> {
  await Deno.remove(dir, { recursive: true }).catch(() => {});
}
