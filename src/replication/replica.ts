/**
 * The replica side of CityHall Sync: follows a leader over one TCP (or TLS) link, applies
 * whole WAL records through its own WAL with the leader's sequence numbers, acknowledges
 * only after fdatasync, and reconnects with exponential backoff and full jitter.
 *
 * Position: the replica's own `Database.lastSeq` (recovered from its WAL after any crash) is
 * its position, so position and data always agree; re-applying a record is a no-op and a gap
 * is refused by the engine. A DATA frame is checked whole (frame CRC, Snappy stream validated
 * before it is decompressed, every record's CRC, contiguity, counts) before its first record
 * is applied. Before the WELCOME of the leader it follows, the link reads only small
 * uncompressed WELCOME or ERROR frames, within `HANDSHAKE_TIMEOUT_MS` of the connect.
 *
 * Link states, each change logged once: `connecting` → `connected` → `retrying` (→
 * `connected` …); `refused` when the leader or the replica refuses (wrong leader, token,
 * version, position gone, too many replicas, forgotten): it keeps serving reads and retrying
 * at the longest backoff, logs the reason once, and shows it in the status file, INFO
 * replication and `/healthz` (503). `stopped`.
 *
 * @module
 */

import { Database } from "../engine/mod.ts";
import { replicationPort } from "../engine/mod.ts";
import { CityHallError, InvalidArgumentError } from "../errors.ts";
import { type Logger, silentLogger } from "../util/log.ts";
import { Backoff, type BackoffOptions } from "./backoff.ts";
import { attachReplicationRole, type ReplicationRole } from "./hooks.ts";
import { replicaRegistry } from "./metrics.ts";
import { attachRegistry, detachRegistry } from "../metrics/mod.ts";
import { CONNECT_TIMEOUT_MS, STATUS_DEBOUNCE_MS, STATUS_WRITE_INTERVAL_MS } from "../limits.ts";
import { dial } from "../util/net.ts";
import { LinkSession, RefusedError, type SessionOwner } from "./replica_session.ts";
import { healthProblemsOf, infoLinesOf, type LinkFacts, statusOf } from "./replica_status.ts";
import {
  loadOrCreateIdentity,
  type ReplicaIdentity,
  type ReplicaStatus,
  saveStatus,
} from "./state_files.ts";

/** Options of `startReplica`. */
export interface ReplicaOptions {
  /** The leader's replication address, `host:port`. */
  leader: string;
  /** Token the leader expects. */
  authToken?: string;
  /** PEM CA certificate: connect with TLS and trust this CA. */
  tlsCaCert?: string;
  /** Reconnect backoff (default 1 s to 60 s). */
  backoff?: BackoffOptions;
  /** Bytes asked per FETCH (default 1 MiB). */
  fetchBytes?: number;
  /** Long-poll wait asked per FETCH (default 1000 ms). */
  fetchWaitMs?: number;
  /** Heartbeat interval when idle (default 1000 ms). */
  heartbeatMs?: number;
  /** Drop a link silent this long (default 10,000 ms). */
  idleTimeoutMs?: number;
  /** Time from connect to WELCOME, absolute (default `HANDSHAKE_TIMEOUT_MS`). */
  handshakeTimeoutMs?: number;
  /** A connect attempt that completes nothing within this fails (default `CONNECT_TIMEOUT_MS`). */
  connectTimeoutMs?: number;
  /** Log sink. */
  logger?: Logger;
}

/** Link state of a replica. */
export type LinkState = "connecting" | "connected" | "retrying" | "refused" | "stopped";

/** A running replica link. */
export interface Replica {
  /** Current link state. */
  readonly state: LinkState;
  /** The replica's id. */
  readonly replicaId: string;
  /** Reconnect attempts since the last healthy session. */
  readonly retries: number;
  /** Newest sequence acknowledged to the leader (applied and fdatasync'ed). */
  readonly ackedSeq: number;
  /** The status as `status.json` holds it, live. */
  status(): ReplicaStatus;
  /** What `/healthz` reports about the link (empty = healthy; refused = a problem). */
  healthProblems(): string[];
  /** Resolves when `ackedSeq >= seq` (tests, benchmarks). */
  waitForAck(seq: number): Promise<void>;
  /** Stops the link, writes the status file; the database stays open. */
  close(): Promise<void>;
}

/** Parses `host:port` (IPv6 in brackets). */
export function parseHostPort(address: string): { hostname: string; port: number } {
  const m = /^\[?([^\]]*?)\]?:(\d{1,5})$/.exec(address);
  const port = m ? Number(m[2]) : NaN;
  if (!m || m[1] === "" || !(port >= 1 && port <= 65535)) {
    throw new CityHallError(`Invalid leader address: ${address} (expected HOST:PORT)`);
  }
  return { hostname: m[1]!, port };
}

/**
 * Opens `dir` as a replica's database: sync mode "always" (an acknowledgement means
 * fdatasync'ed) and read-only for clients.
 */
export async function openReplicaDatabase(
  dir: string,
  options: Parameters<typeof Database.open>[1] = {},
): Promise<Database> {
  if (options.recoverWalPastDamage) {
    // A replica's sequences are its leader's: forking its own history would skip writes.
    throw new InvalidArgumentError(
      "--recover-wal-past-damage is for a leader or a server: a replica whose WAL is damaged is copied again from its leader (stop it, empty its --data-dir, start it)",
    );
  }
  const db = await Database.open(dir, { ...options, syncMode: "always" });
  replicationPort(db).setReadOnly(true);
  return db;
}

/** Starts following the leader; `db` becomes read-only. */
export function startReplica(db: Database, options: ReplicaOptions): Replica {
  parseHostPort(options.leader);
  replicationPort(db).setReadOnly(true);
  return new ReplicaLink(db, options);
}

class ReplicaLink implements Replica, ReplicationRole {
  readonly role = "replica" as const;
  readonly #db: Database;
  readonly #options: ReplicaOptions;
  readonly #log: Logger;
  readonly #backoff: Backoff;
  readonly #identity: ReplicaIdentity;
  #state: LinkState = "connecting";
  #session: LinkSession | undefined;
  readonly #owner: SessionOwner;
  #closing = false;
  /** Aborted by `close()`: a connect attempt in progress ends at once. */
  readonly #connecting = new AbortController();
  #run: Promise<void>;
  #wakeSleep: (() => void) | undefined;
  #ackedSeq: number;
  #ackWaiters: { seq: number; resolve: () => void }[] = [];
  #leaderDurableSeq = 0;
  #lastContactMs = 0;
  #lastCaughtUpMs = 0;
  #lastSegment = 0;
  #lastError: string | undefined;
  /** Why the link is refused (state `refused`); logged once per distinct reason. */
  #refusal: string | undefined;
  #lastStatusMs = 0;
  /** The stats of `/metrics` and `/v1/stats`, read from the same facts as INFO (`metrics.ts`). */
  readonly #metrics = replicaRegistry(() => this.#facts());
  #totalRetries = 0;
  #statusTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(db: Database, options: ReplicaOptions) {
    this.#db = db;
    this.#options = options;
    this.#log = options.logger ?? silentLogger;
    this.#backoff = new Backoff(options.backoff);
    this.#identity = loadOrCreateIdentity(replicationPort(db).fileSystem, db.dir);
    // The position below is announced to the leader (which moves its pin past it).
    this.#ackedSeq = db.lastSeq;
    attachReplicationRole(db, this);
    attachRegistry(db, "replication", this.#metrics);
    this.#log("info", "replica starting", {
      replica: this.#identity.replicaId,
      leader: options.leader,
      leaderId: this.#identity.leaderId ?? "unknown",
      lastSeq: db.lastSeq,
    });
    this.#owner = this.#sessionOwner();
    this.#writeStatus();
    this.#run = this.#loop();
  }

  /** What a session sees of this link (`replica_session.ts`). */
  #sessionOwner(): SessionOwner {
    return {
      db: this.#db,
      options: this.#options,
      log: this.#log,
      identity: this.#identity,
      isConnected: () => this.#state === "connected",
      ackedSeq: () => this.#ackedSeq,
      isClosing: () => this.#closing,
      contact: () => this.#lastContactMs = Date.now(),
      welcomed: (welcome, leaderId) => {
        this.#leaderDurableSeq = welcome.durableSeq;
        this.#noteLeaderSeq(0);
        this.#lastError = undefined;
        this.#setState("connected", {
          leaderId,
          fromSeq: this.#db.lastSeq + 1,
          leaderSeq: welcome.durableSeq,
          leaderSegments: welcome.segments.length,
        });
      },
      noteLeaderSeq: (seq) => this.#noteLeaderSeq(seq),
      acked: (seq, segment, caughtUp) => {
        if (segment !== undefined) this.#lastSegment = segment;
        this.#acked(seq);
        if (Date.now() - this.#lastStatusMs >= STATUS_WRITE_INTERVAL_MS) this.#writeStatus();
        else if (caughtUp) this.#scheduleStatus();
      },
      healthy: () => this.#backoff.reset(),
      failed: (message) => this.#lastError = message,
      writeStatus: () => this.#writeStatus(),
    };
  }

  get state(): LinkState {
    return this.#state;
  }

  get replicaId(): string {
    return this.#identity.replicaId;
  }

  get retries(): number {
    return this.#backoff.failures;
  }

  get ackedSeq(): number {
    return this.#ackedSeq;
  }

  /** The facts behind the status file, INFO and health (`replica_status.ts`). */
  #facts(): LinkFacts {
    const { hostname, port } = parseHostPort(this.#options.leader);
    return {
      replicaId: this.#identity.replicaId,
      leaderAddress: this.#options.leader,
      leaderHost: hostname,
      leaderPort: port,
      leaderId: this.#identity.leaderId,
      state: this.#state,
      ackedSeq: this.#ackedSeq,
      leaderDurableSeq: this.#leaderDurableSeq,
      lastSegment: this.#lastSegment,
      lastContactMs: this.#lastContactMs,
      lastCaughtUpMs: this.#lastCaughtUpMs,
      retries: this.#backoff.failures,
      totalRetries: this.#totalRetries,
      lastError: this.#lastError,
      refusal: this.#state === "refused" ? this.#refusal : undefined,
    };
  }

  status(): ReplicaStatus {
    return statusOf(this.#facts(), Date.now());
  }

  healthProblems(): string[] {
    return healthProblemsOf(this.#facts());
  }

  /** Writes the status soon (debounced): a caught-up replica's file trails by ≤ 50 ms. */
  #scheduleStatus(): void {
    if (this.#statusTimer !== undefined) return;
    this.#statusTimer = setTimeout(() => {
      this.#statusTimer = undefined;
      this.#writeStatus();
    }, STATUS_DEBOUNCE_MS);
  }

  #writeStatus(): void {
    if (this.#statusTimer !== undefined) clearTimeout(this.#statusTimer);
    this.#statusTimer = undefined;
    this.#lastStatusMs = Date.now();
    try {
      saveStatus(replicationPort(this.#db).fileSystem, this.#db.dir, this.status());
    } catch (err) {
      this.#log("warn", "cannot write replica status file", { error: String(err) });
    }
  }

  #acked(seq: number): void {
    this.#ackedSeq = Math.max(this.#ackedSeq, seq);
    this.#noteLeaderSeq(0);
    for (const w of this.#ackWaiters.filter((w) => w.seq <= this.#ackedSeq)) w.resolve();
    this.#ackWaiters = this.#ackWaiters.filter((w) => w.seq > this.#ackedSeq);
  }

  /** The leader reported `durableSeq`; notes when the replica holds all of it. */
  #noteLeaderSeq(durableSeq: number): void {
    this.#leaderDurableSeq = Math.max(this.#leaderDurableSeq, durableSeq);
    if (this.#ackedSeq >= this.#leaderDurableSeq) this.#lastCaughtUpMs = Date.now();
  }

  waitForAck(seq: number): Promise<void> {
    if (this.#ackedSeq >= seq) return Promise.resolve();
    return new Promise((resolve) => this.#ackWaiters.push({ seq, resolve }));
  }

  // ---------------------------------------------------------------- ReplicationRole

  infoLines(): [string, string | number][] {
    return infoLinesOf(this.#facts(), Date.now());
  }

  waitForAcks(): Promise<number> {
    return Promise.resolve(0);
  }

  listReplicas(): string[] {
    return [];
  }

  forgetReplica(): Promise<boolean> {
    return Promise.resolve(false);
  }

  // ---------------------------------------------------------------- the link

  /** The link is refused: logs the reason once (again only when it changes). */
  #refuse(reason: string): void {
    if (this.#state === "refused" && this.#refusal === reason) return;
    const changed = this.#state === "refused";
    this.#refusal = reason;
    if (changed) {
      this.#log("error", "replication link refused", {
        leader: this.#options.leader,
        error: reason,
      });
      this.#writeStatus();
    } else {
      this.#setState("refused", { error: reason });
    }
  }

  #setState(state: LinkState, fields: Record<string, string | number | undefined> = {}): void {
    if (state === this.#state) return;
    const previous = this.#state;
    this.#state = state;
    const level = state === "refused" ? "error" : state === "retrying" ? "warn" : "info";
    this.#log(level, `replication link ${state}`, {
      from: previous,
      leader: this.#options.leader,
      ...fields,
    });
    this.#writeStatus();
  }

  async close(): Promise<void> {
    if (this.#closing) return await this.#run;
    this.#closing = true;
    this.#wakeSleep?.();
    this.#connecting.abort();
    this.#session?.abort();
    await this.#run;
    this.#setState("stopped");
    this.#writeStatus();
    attachReplicationRole(this.#db, undefined);
    detachRegistry(this.#db, "replication", this.#metrics);
  }

  async #loop(): Promise<void> {
    while (!this.#closing) {
      let healthy = false;
      let refused = false;
      try {
        healthy = await this.#runSession();
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        this.#lastError = message;
        refused = err instanceof RefusedError;
        if (!this.#closing) {
          if (refused) this.#refuse(message);
          this.#log("debug", "replication session ended", { error: message });
        }
      }
      if (this.#closing) break;
      if (healthy) this.#backoff.reset();
      const delay = refused ? this.#backoff.maxMs : this.#backoff.next();
      this.#totalRetries++;
      if (!refused) {
        this.#setState("retrying", {
          error: this.#lastError,
          retryInMs: delay,
        });
      }
      this.#log("debug", "replication reconnect scheduled", {
        delayMs: delay,
        attempt: this.#backoff.failures,
      });
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay);
        this.#wakeSleep = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#wakeSleep = undefined;
    }
  }

  /** Connects and runs one session; true when it was healthy. */
  async #runSession(): Promise<boolean> {
    const conn = await this.#connect();
    if (this.#closing) {
      conn.close();
      return false;
    }
    this.#session = new LinkSession(this.#owner, conn);
    try {
      return await this.#session.run();
    } finally {
      this.#session = undefined;
    }
  }

  async #connect(): Promise<Deno.Conn> {
    const { hostname, port } = parseHostPort(this.#options.leader);
    const timeoutMs = this.#options.connectTimeoutMs ?? CONNECT_TIMEOUT_MS;
    try {
      return await dial({
        hostname,
        port,
        timeoutMs,
        signal: this.#connecting.signal,
        ...(this.#options.tlsCaCert !== undefined ? { tlsCaCert: this.#options.tlsCaCert } : {}),
      });
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      throw new CityHallError(`Cannot connect to the leader ${this.#options.leader}: ${why}`);
    }
  }
}
