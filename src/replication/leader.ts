/**
 * The leader side of CityHall Sync: a TCP (or TLS) listener that admits replicas, serves their
 * FETCHes from the WAL (`leader_session.ts`), tracks their acknowledgements, pins WAL
 * retention for them and answers INFO replication and WAIT. Protocol: `frame.ts`, the
 * handshake rules `handshake.ts`, and ARCHITECTURE.md § "Replication (CityHall Sync)".
 *
 * Admission, with the named limits of ARCHITECTURE.md § "Replication limits":
 * - At most `REPLICATION_HANDSHAKES_MAX` connections in the handshake at once; a new one past
 *   it closes the oldest. Each has `HANDSHAKE_TIMEOUT_MS` from its accept.
 * - At most `REPLICATION_SESSIONS_MAX` admitted sessions, one per replica id (a reconnect
 *   replaces the old session); a verified replica may take the place of an unverified one.
 * - At most `REPLICAS_MAX` known (verified) replicas.
 *
 * @module
 */

import { acceptLoop } from "../util/net.ts";
import { Database } from "../engine/mod.ts";
import { replicationPort } from "../engine/mod.ts";
import { RealFs } from "../fs/mod.ts";
import {
  type LogFields,
  type Logger,
  type LogLevel,
  silentLogger,
  ThrottledLog,
} from "../util/log.ts";
import type { FeedPosition } from "./feed.ts";
import { ERROR_REFUSED, ERROR_SHUTDOWN, hexId } from "./frame.ts";
import { hashToken, type LeaderFacts, type Refusal } from "./handshake.ts";
import { attachReplicationRole, type ReplicationRole } from "./hooks.ts";
import {
  HANDSHAKE_TIMEOUT_MS,
  HEARTBEAT_MS_DEFAULT,
  LAG_SAMPLES_MAX,
  REPLICA_VERIFY_TIMEOUT_MS,
  REPLICAS_MAX,
  REPLICATION_HANDSHAKES_MAX,
  REPLICATION_IDLE_TIMEOUT_MS_DEFAULT,
  REPLICATION_SESSIONS_MAX,
} from "../limits.ts";
import { type KnownReplica, ReplicaRegistry } from "./registry.ts";
import { leaderRegistry } from "./metrics.ts";
import { attachRegistry, detachRegistry } from "../metrics/mod.ts";
import { Session } from "./leader_session.ts";

/** Options of `startReplicationLeader`. */
export interface LeaderOptions {
  /** Address to bind (default 127.0.0.1). */
  hostname?: string;
  /** Port (default 7879; 0 picks a free one, see `addr`). */
  port?: number;
  /** Token replicas must present; none = no check. */
  authToken?: string;
  /** Serve TLS with this PEM certificate chain and key. */
  tls?: { cert: string; key: string };
  /** The registry (from `openLeaderDatabase`); default: loaded from the data directory. */
  registry?: ReplicaRegistry;
  /** Disk cap on WAL kept for replicas, when the registry is loaded here. */
  retentionMaxBytes?: number;
  /** Heartbeat interval told to replicas and longest long-poll (default 1000 ms). */
  heartbeatMs?: number;
  /** Close a session silent this long (default 10,000 ms). */
  idleTimeoutMs?: number;
  /** Time from accept to a complete HELLO (default `HANDSHAKE_TIMEOUT_MS`; tests shorten it). */
  handshakeTimeoutMs?: number;
  /** Time an unverified replica may stay behind without an ACK (default 60,000 ms). */
  verifyTimeoutMs?: number;
  /** Log sink. */
  logger?: Logger;
}

/** A running replication listener. */
export interface ReplicationLeader {
  /** The address it listens on. */
  readonly addr: Deno.NetAddr;
  /** Known replicas. */
  readonly registry: ReplicaRegistry;
  /** Replicas connected now (admitted sessions, verified or not). */
  readonly connectedReplicas: number;
  /** Connections still in the handshake now. */
  readonly handshakes: number;
  /** Forgets a replica: stops pinning WAL for it and closes its session. */
  forget(id: string): boolean;
  /** Stops listening and closes every session. */
  close(): Promise<void>;
}

/** What a session needs from its leader (`leader_session.ts`). */
export interface LeaderCore {
  readonly db: Database;
  readonly registry: ReplicaRegistry;
  readonly logger: Logger;
  readonly heartbeatMs: number;
  readonly idleTimeoutMs: number;
  readonly handshakeTimeoutMs: number;
  readonly verifyTimeoutMs: number;
  /** Encoded DATA frames shared by sessions at the same position (cleared on each sync). */
  readonly frameCache: Map<string, { frame: Uint8Array; end: FeedPosition }>;
  /** What HELLO is judged against. */
  facts(): LeaderFacts;
  /** Capacity and one-session-per-id; `undefined` = admitted. */
  admit(session: Session, id: string, position: number): Refusal | undefined;
  /** The replica of `session` acknowledged `seq`, data it was sent: it is known from now on. */
  verify(session: Session, seq: number): KnownReplica;
  /** A known replica acknowledged `seq`. */
  acked(replica: KnownReplica, seq: number): void;
  /** Log lines about unauthenticated peers, rate-limited (a flood must not flood the log). */
  logPreAuth(message: string, fields: LogFields): void;
  /** The session has ended. */
  sessionEnded(session: Session, entry: KnownReplica | undefined): void;
}

function addrString(addr: Deno.Addr): string {
  return addr.transport === "tcp" ? `${addr.hostname}:${addr.port}` : addr.transport;
}

/**
 * Opens `dir` as a leader's database: loads the replica registry first so that the open-time
 * WAL retention already keeps what offline replicas need.
 */
export async function openLeaderDatabase(
  dir: string,
  options: Parameters<typeof Database.open>[1] & { retentionMaxBytes?: number } = {},
): Promise<{ db: Database; registry: ReplicaRegistry }> {
  const fs = options.fs ?? new RealFs();
  const registry = ReplicaRegistry.load(fs, dir, options.retentionMaxBytes);
  const { retentionMaxBytes: _cap, ...rest } = options;
  const db = await Database.open(dir, { ...rest, fs, retentionPins: () => registry.pins() });
  return { db, registry };
}

/** Starts the replication listener of leader `db`. */
export async function startReplicationLeader(
  db: Database,
  options: LeaderOptions = {},
): Promise<ReplicationLeader> {
  const hostname = options.hostname ?? "127.0.0.1";
  const port = options.port ?? 7879;
  const registry = options.registry ??
    ReplicaRegistry.load(replicationPort(db).fileSystem, db.dir, options.retentionMaxBytes);
  const tokenHash = options.authToken === undefined || options.authToken === ""
    ? undefined
    : await hashToken(options.authToken);
  const listener = options.tls
    ? Deno.listenTls({ hostname, port, cert: options.tls.cert, key: options.tls.key })
    : Deno.listen({ hostname, port });
  const leader = new Leader(db, listener, registry, tokenHash, options);
  leader.logger("info", "replication listener started", {
    addr: addrString(listener.addr),
    tls: options.tls !== undefined,
    auth: tokenHash !== undefined,
    leaderId: hexId(db.history.historyId),
    knownReplicas: registry.size,
    retentionMaxBytes: registry.retainedBytesMax,
  });
  return leader;
}

interface Waiter {
  seq: number;
  count: number;
  want: number;
  resolve: (n: number) => void;
}

/** Least time between two rate-limited log lines about unauthenticated peers. */
const PRE_AUTH_LOG_INTERVAL_MS = 10_000;

class Leader implements ReplicationLeader, ReplicationRole, LeaderCore {
  readonly role = "leader" as const;
  readonly db: Database;
  readonly registry: ReplicaRegistry;
  /** The stats of `/metrics` and `/v1/stats` (`metrics.ts`). */
  readonly #metrics = leaderRegistry({
    replicas: () => this.registry.list(),
    lag: (r) => this.lag(r),
    durableSeq: () => this.db.durableSeq,
  });
  readonly logger: Logger;
  readonly addr: Deno.NetAddr;
  readonly heartbeatMs: number;
  readonly idleTimeoutMs: number;
  readonly handshakeTimeoutMs: number;
  readonly verifyTimeoutMs: number;
  readonly frameCache = new Map<string, { frame: Uint8Array; end: FeedPosition }>();
  readonly #listener: Deno.Listener;
  readonly #tokenHash: Uint8Array | undefined;
  /** Every live session; insertion order = age. */
  readonly #sessions = new Set<Session>();
  /** Sessions still in the handshake, oldest first. */
  readonly #handshaking = new Set<Session>();
  /** Admitted sessions by replica id. */
  readonly #admitted = new Map<string, Session>();
  readonly #tasks = new Set<Promise<void>>();
  readonly #waiters = new Set<Waiter>();
  /** (seq, time) when each sampled sequence became durable, oldest first: lag in seconds. */
  readonly #samples: { seq: number; timeMs: number }[] = [];
  readonly #offDurable: () => void;
  readonly #timer: ReturnType<typeof setInterval>;
  #closing = false;
  #closed: Promise<void> | undefined;
  #registryDirty = false;
  #acceptLoop: Promise<void>;
  readonly #preAuthLog: ThrottledLog;

  constructor(
    db: Database,
    listener: Deno.Listener,
    registry: ReplicaRegistry,
    tokenHash: Uint8Array | undefined,
    options: LeaderOptions,
  ) {
    this.db = db;
    this.registry = registry;
    this.logger = options.logger ?? silentLogger;
    this.#preAuthLog = new ThrottledLog(this.logger, PRE_AUTH_LOG_INTERVAL_MS);
    this.heartbeatMs = options.heartbeatMs ?? HEARTBEAT_MS_DEFAULT;
    this.idleTimeoutMs = options.idleTimeoutMs ?? REPLICATION_IDLE_TIMEOUT_MS_DEFAULT;
    this.handshakeTimeoutMs = options.handshakeTimeoutMs ?? HANDSHAKE_TIMEOUT_MS;
    this.verifyTimeoutMs = options.verifyTimeoutMs ?? REPLICA_VERIFY_TIMEOUT_MS;
    this.addr = listener.addr as Deno.NetAddr;
    this.#listener = listener;
    this.#tokenHash = tokenHash;
    replicationPort(db).setRetentionPins(() => registry.pins(this.#sessionPins()));
    attachReplicationRole(db, this);
    attachRegistry(db, "replication", this.#metrics);
    this.#offDurable = replicationPort(db).onDurable((seq) => {
      this.frameCache.clear();
      const samples = this.#samples;
      const last = samples[samples.length - 1];
      if (last === undefined || Date.now() - last.timeMs >= 1) {
        samples.push({ seq, timeMs: Date.now() });
        if (samples.length > LAG_SAMPLES_MAX) samples.splice(0, samples.length - LAG_SAMPLES_MAX);
      }
      for (const s of this.#sessions) s.wake();
    });
    // Persists acknowledgements and applies retention once a second; never keeps the
    // process alive on its own.
    this.#timer = setInterval(() => this.#tick(), 1000);
    this.#timer.unref();
    this.#acceptLoop = acceptLoop(this.#listener, {
      isClosing: () => this.#closing,
      logger: this.logger,
      what: "replication",
      onConnection: (conn) => this.#startSession(conn),
    });
  }

  get connectedReplicas(): number {
    return this.#admitted.size;
  }

  get handshakes(): number {
    return this.#handshaking.size;
  }

  #sessionPins(): number[] {
    const pins: number[] = [];
    for (const s of this.#admitted.values()) {
      const pin = s.pinSeq;
      if (pin !== undefined) pins.push(pin);
    }
    return pins;
  }

  #tick(): void {
    for (const id of this.registry.expireUnverified(Date.now())) {
      this.logger("warn", "dropped a replica that never acknowledged: its WAL is released", {
        replica: id,
      });
    }
    if (this.#registryDirty) {
      this.#registryDirty = false;
      try {
        this.registry.save();
      } catch (err) {
        this.logger("warn", "cannot save replica registry", { error: String(err) });
      }
    }
    replicationPort(this.db).applyRetention();
  }

  #startSession(conn: Deno.Conn): void {
    if (this.#handshaking.size >= REPLICATION_HANDSHAKES_MAX) {
      const oldest = this.#handshaking.values().next().value!;
      this.#handshaking.delete(oldest);
      this.logPreAuth("too many replication handshakes in progress: closed the oldest", {
        addr: oldest.addr,
        limit: REPLICATION_HANDSHAKES_MAX,
      });
      oldest.close();
    }
    const session = new Session(this, conn);
    this.#sessions.add(session);
    this.#handshaking.add(session);
    const task = session.run().catch((err) => {
      this.logger("warn", "replication session failed", {
        addr: session.addr,
        error: err instanceof Error ? err.message : String(err),
      });
    }).finally(() => {
      this.#tasks.delete(task);
    });
    this.#tasks.add(task);
  }

  logPreAuth(message: string, fields: LogFields, level: LogLevel = "warn"): void {
    this.#preAuthLog.log(level, message, fields);
  }

  facts(): LeaderFacts {
    const history = this.db.history;
    return {
      leaderId: history.historyId,
      ancestors: history.ancestors,
      durableSeq: this.db.durableSeq,
      tokenHash: this.#tokenHash,
    };
  }

  admit(session: Session, id: string, position: number): Refusal | undefined {
    if (this.#closing) {
      return { code: ERROR_SHUTDOWN, message: "Leader is shutting down", reason: "shutting down" };
    }
    const known = this.registry.get(id);
    if (known === undefined && this.registry.size >= REPLICAS_MAX) {
      return {
        code: ERROR_REFUSED,
        message: `Too many replicas (limit ${REPLICAS_MAX}): forget one on the leader`,
        reason: "too many known replicas",
      };
    }
    const previous = this.#admitted.get(id);
    if (previous !== undefined) {
      this.#admitted.delete(id);
      previous.refuse(ERROR_REFUSED, "Replaced by a newer connection of the same replica");
    }
    if (this.#admitted.size >= REPLICATION_SESSIONS_MAX) {
      const victim = known?.verified
        ? [...this.#admitted.values()].find((s) => s.phase === "unverified")
        : undefined;
      if (victim === undefined) {
        return {
          code: ERROR_REFUSED,
          message: `Too many replication sessions (limit ${REPLICATION_SESSIONS_MAX})`,
          reason: "too many sessions",
        };
      }
      this.#admitted.delete(victim.replicaId);
      victim.refuse(ERROR_REFUSED, "Session closed to admit a verified replica");
    }
    this.#handshaking.delete(session);
    this.#admitted.set(id, session);
    if (known !== undefined) {
      known.connected = true;
      known.address = session.addr;
      known.lastSeenMs = Date.now();
    }
    this.logger("debug", "replica admitted", { replica: id, position });
    return undefined;
  }

  verify(session: Session, seq: number): KnownReplica {
    const entry = this.registry.verify(session.replicaId, session.addr, seq);
    this.logger("info", "replica verified: it now pins WAL and counts for WAIT", {
      replica: session.replicaId,
      addr: session.addr,
      ackedSeq: seq,
    });
    return entry;
  }

  sessionEnded(session: Session, entry: KnownReplica | undefined): void {
    this.#sessions.delete(session);
    this.#handshaking.delete(session);
    if (this.#admitted.get(session.replicaId) !== session) return;
    this.#admitted.delete(session.replicaId);
    const known = entry ?? this.registry.get(session.replicaId);
    if (known !== undefined) known.connected = false;
    this.logger("info", "replica disconnected", { replica: session.replicaId, addr: session.addr });
  }

  /** A replica acknowledged `seq`. */
  acked(replica: KnownReplica, seq: number): void {
    if (seq > replica.ackedSeq) {
      replica.ackedSeq = seq;
      replica.ackedAtMs = Date.now();
      this.#registryDirty = true;
    }
    this.#settleWaiters();
  }

  #settleWaiters(): void {
    for (const w of [...this.#waiters]) {
      w.count = this.#countAcked(w.seq);
      if (w.count >= w.want) this.#settleWaiter(w);
    }
  }

  /** Verified replicas whose acknowledged sequence covers `seq` (WAIT's answer). */
  #countAcked(seq: number): number {
    let n = 0;
    for (const r of this.registry.list()) if (r.verified && r.ackedSeq >= seq) n++;
    return n;
  }

  #settleWaiter(w: Waiter): void {
    this.#waiters.delete(w);
    w.resolve(w.count);
  }

  waitForAcks(numReplicas: number, timeoutMs: number): Promise<number> {
    const seq = this.db.lastSeq;
    const count = this.#countAcked(seq);
    if (count >= numReplicas || this.#closing) return Promise.resolve(count);
    return new Promise((resolve) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const w: Waiter = {
        seq,
        count,
        want: numReplicas,
        resolve: (n) => {
          if (timer !== undefined) clearTimeout(timer);
          resolve(n);
        },
      };
      this.#waiters.add(w);
      if (timeoutMs > 0) timer = setTimeout(() => this.#settleWaiter(w), timeoutMs);
    });
  }

  /** Lag of `replica` in entries, bytes (estimated from segment sizes) and seconds. */
  lag(replica: KnownReplica): { entries: number; bytes: number; seconds: number } {
    const durable = this.db.durableSeq;
    const entries = Math.max(0, durable - replica.ackedSeq);
    let bytes = 0;
    for (const s of this.db.walSegments()) {
      if (s.firstSeq === 0 || s.lastSeq <= replica.ackedSeq) continue;
      const count = s.lastSeq - s.firstSeq + 1;
      const behind = s.lastSeq - Math.max(replica.ackedSeq, s.firstSeq - 1);
      bytes += Math.round((s.sizeBytes - 32) * behind / count);
    }
    let seconds = 0;
    if (entries > 0) {
      const first = this.#samples.find((x) => x.seq > replica.ackedSeq);
      if (first) seconds = (Date.now() - first.timeMs) / 1000;
    }
    return { entries, bytes, seconds };
  }

  infoLines(): [string, string | number][] {
    const verifiedOnline = this.registry.list().filter((r) => r.verified && r.connected).length;
    const lines: [string, string | number][] = [
      ["role", "master"],
      ["cityhall_role", "leader"],
      ["cityhall_leader_id", hexId(this.db.history.historyId)],
      ["connected_slaves", verifiedOnline],
      ["known_replicas", this.registry.size],
      ["cityhall_unverified_sessions", this.#sessionPins().length],
      ["cityhall_replication_handshakes", this.#handshaking.size],
      ["cityhall_retention_max_bytes", this.registry.retainedBytesMax],
      ["master_repl_offset", this.db.durableSeq],
      ["replication_port", this.addr.port],
    ];
    let i = 0;
    for (const r of this.registry.list()) {
      const lag = this.lag(r);
      const [ip, port] = splitAddr(r.address);
      lines.push([
        `slave${i++}`,
        `id=${r.id},ip=${ip},port=${port},state=${r.connected ? "online" : "offline"},` +
        `offset=${r.ackedSeq},lag=${Math.round(lag.seconds)},lag_entries=${lag.entries},` +
        `lag_bytes=${lag.bytes},lag_seconds=${lag.seconds.toFixed(3)},` +
        `last_seen_ms=${r.lastSeenMs},verified=${r.verified ? 1 : 0}`,
      ]);
    }
    return lines;
  }

  listReplicas(): string[] {
    return this.registry.list().map((r) => {
      const lag = this.lag(r);
      return `${r.id} ${r.address} acked=${r.ackedSeq} lag_entries=${lag.entries} ` +
        `${r.connected ? "online" : "offline"}${r.verified ? "" : " unverified"}`;
    });
  }

  forget(id: string): boolean {
    const known = this.registry.forget(id);
    const session = this.#admitted.get(id);
    if (session !== undefined) {
      this.#admitted.delete(id);
      session.refuse(ERROR_REFUSED, "Replica was forgotten by the leader");
    }
    if (known) {
      this.logger("warn", "forgot replica: its WAL is no longer kept", { replica: id });
      replicationPort(this.db).applyRetention();
    }
    return known;
  }

  healthProblems(): string[] {
    return [];
  }

  forgetReplica(id: string): Promise<boolean> {
    return Promise.resolve(this.forget(id));
  }

  close(): Promise<void> {
    if (this.#closed) return this.#closed;
    this.#closing = true;
    this.#closed = (async () => {
      clearInterval(this.#timer);
      this.#offDurable();
      try {
        this.#listener.close();
      } catch {
        // Already closed.
      }
      await this.#acceptLoop;
      for (const s of this.#sessions) {
        if (s.phase === "handshake") s.close();
        else s.refuse(ERROR_SHUTDOWN, "Leader is shutting down");
      }
      await Promise.allSettled([...this.#tasks]);
      for (const w of [...this.#waiters]) this.#settleWaiter(w);
      try {
        this.registry.save();
      } catch (err) {
        this.logger("warn", "cannot save replica registry", { error: String(err) });
      }
      replicationPort(this.db).setRetentionPins(() => this.registry.pins());
      attachReplicationRole(this.db, undefined);
      detachRegistry(this.db, "replication", this.#metrics);
      this.logger("info", "replication listener closed", { port: this.addr.port });
    })();
    return this.#closed;
  }
}

function splitAddr(address: string): [string, string] {
  const i = address.lastIndexOf(":");
  return i < 0 ? [address, "0"] : [address.slice(0, i), address.slice(i + 1)];
}
