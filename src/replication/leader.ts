/**
 * The leader side of CityHall Sync: a TCP (or TLS) listener that serves replicas' FETCHes from
 * the WAL, tracks their acknowledgements, pins WAL retention for them and answers INFO
 * replication and WAIT. Protocol: `frame.ts` and ARCHITECTURE.md § "Replication".
 *
 * One session per connection: a reader loop handles HELLO, FETCH, ACK and HEARTBEAT; a FETCH
 * with nothing new is held (long-poll) until a WAL sync makes new records durable (the
 * database's `onDurable` notification: no polling) or its wait runs out (then an empty DATA,
 * which doubles as the leader's heartbeat). A session silent for `idleTimeoutMs` is closed.
 *
 * @module
 */

import { acceptLoop } from "../util/net.ts";
import { timingSafeEqual } from "@std/crypto/timing-safe-equal";
import { Database, type DatabaseCheckpoint } from "../engine/mod.ts";
import { RealFs } from "../fs/mod.ts";
import { encodeManifest } from "../manifest/mod.ts";
import { fileCrc } from "./snapshot.ts";
import { ProtocolError } from "../errors.ts";
import { type Logger, silentLogger } from "../util/log.ts";
import { type FeedPosition, WalFeed } from "./feed.ts";
import {
  decodeFetch,
  decodeFileFetch,
  decodeHello,
  decodeSeq,
  encodeData,
  encodeError,
  encodeFileChunk,
  encodeFrame,
  encodeSeq,
  encodeSnapshotBegin,
  encodeWelcome,
  ERROR_AUTH,
  ERROR_BAD_FRAME,
  ERROR_INTERNAL,
  ERROR_POSITION_GONE,
  ERROR_REFUSED,
  ERROR_REPLICA_AHEAD,
  ERROR_SHUTDOWN,
  ERROR_VERSION,
  ERROR_WRONG_LEADER,
  type Fetch,
  FRAME_ACK,
  FRAME_DATA,
  FRAME_ERROR,
  FRAME_FETCH,
  FRAME_FILE_CHUNK,
  FRAME_FILE_FETCH,
  FRAME_HEARTBEAT,
  FRAME_HELLO,
  FRAME_SNAPSHOT_BEGIN,
  FRAME_SNAPSHOT_REQUEST,
  FRAME_WELCOME,
  FrameReader,
  hexId,
  SYNC_PROTOCOL_VERSION,
} from "./frame.ts";
import { attachReplicationRole, type ReplicationRole } from "./hooks.ts";
import {
  FETCH_BYTES_MAX,
  HANDSHAKE_TIMEOUT_MS,
  HEARTBEAT_MS_DEFAULT,
  LAG_SAMPLES_MAX,
  REPLICAS_MAX,
  REPLICATION_IDLE_TIMEOUT_MS_DEFAULT,
} from "../limits.ts";
import { type KnownReplica, ReplicaRegistry } from "./registry.ts";

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
  /** Log sink. */
  logger?: Logger;
}

/** A running replication listener. */
export interface ReplicationLeader {
  /** The address it listens on. */
  readonly addr: Deno.NetAddr;
  /** Known replicas. */
  readonly registry: ReplicaRegistry;
  /** Replicas connected now. */
  readonly connectedReplicas: number;
  /** Forgets a replica: stops pinning WAL for it and closes its session. */
  forget(id: string): boolean;
  /** Stops listening and closes every session. */
  close(): Promise<void>;
}

async function sha256(bytes: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>));
}

function addrString(addr: Deno.Addr): string {
  return addr.transport === "tcp" ? `${addr.hostname}:${addr.port}` : addr.transport;
}

const encoder = new TextEncoder();

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
    ReplicaRegistry.load(db.fileSystem, db.dir, options.retentionMaxBytes);
  const tokenHash = options.authToken === undefined || options.authToken === ""
    ? undefined
    : await sha256(encoder.encode(options.authToken));
  const listener = options.tls
    ? Deno.listenTls({ hostname, port, cert: options.tls.cert, key: options.tls.key })
    : Deno.listen({ hostname, port });
  const leader = new Leader(db, listener, registry, tokenHash, options);
  leader.logger("info", "replication listener started", {
    addr: addrString(listener.addr),
    tls: options.tls !== undefined,
    auth: tokenHash !== undefined,
    leaderId: hexId(db.databaseId),
    knownReplicas: registry.size,
  });
  return leader;
}

interface Waiter {
  seq: number;
  count: number;
  resolve: (n: number) => void;
}

class Leader implements ReplicationLeader, ReplicationRole {
  readonly role = "leader" as const;
  readonly db: Database;
  readonly registry: ReplicaRegistry;
  readonly logger: Logger;
  readonly addr: Deno.NetAddr;
  readonly heartbeatMs: number;
  readonly idleTimeoutMs: number;
  readonly #listener: Deno.Listener;
  readonly #tokenHash: Uint8Array | undefined;
  readonly #sessions = new Set<Session>();
  readonly #tasks = new Set<Promise<void>>();
  readonly #waiters = new Set<Waiter>();
  /** (seq, time) when each sampled sequence became durable, oldest first: lag in seconds. */
  readonly #samples: { seq: number; timeMs: number }[] = [];
  readonly #offDurable: () => void;
  /**
   * DATA frames already encoded (and compressed) since the last sync, by request: replicas at
   * the same position share one read and one compression. Cleared when new records are
   * durable (every frame carries the durable sequence).
   */
  readonly frameCache = new Map<string, { frame: Uint8Array; end: FeedPosition }>();
  readonly #timer: ReturnType<typeof setInterval>;
  #closing = false;
  #closed: Promise<void> | undefined;
  #registryDirty = false;
  #acceptLoop: Promise<void>;

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
    this.heartbeatMs = options.heartbeatMs ?? HEARTBEAT_MS_DEFAULT;
    this.idleTimeoutMs = options.idleTimeoutMs ?? REPLICATION_IDLE_TIMEOUT_MS_DEFAULT;
    this.addr = listener.addr as Deno.NetAddr;
    this.#listener = listener;
    this.#tokenHash = tokenHash;
    db.setRetentionPins(() => registry.pins());
    attachReplicationRole(db, this);
    this.#offDurable = db.onDurable((seq) => {
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
    this.#acceptLoop = this.#accept();
  }

  get connectedReplicas(): number {
    return this.#sessions.size;
  }

  #tick(): void {
    if (this.#registryDirty) {
      this.#registryDirty = false;
      try {
        this.registry.save();
      } catch (err) {
        this.logger("warn", "cannot save replica registry", { error: String(err) });
      }
    }
    this.db.applyRetention();
  }

  #accept(): Promise<void> {
    return acceptLoop(this.#listener, {
      isClosing: () => this.#closing,
      logger: this.logger,
      what: "replication",
      onConnection: (conn) => this.#startSession(conn),
    });
  }

  #startSession(conn: Deno.Conn): void {
    const session = new Session(this, conn);
    this.#sessions.add(session);
    const task = session.run().catch((err) => {
      this.logger("warn", "replication session failed", {
        addr: session.addr,
        error: err instanceof Error ? err.message : String(err),
      });
    }).finally(() => {
      this.#sessions.delete(session);
      this.#tasks.delete(task);
    });
    this.#tasks.add(task);
  }

  /** Checks the token in constant time (SHA-256 on both sides). */
  async checkToken(token: Uint8Array): Promise<boolean> {
    if (this.#tokenHash === undefined) return true;
    return timingSafeEqual(await sha256(token), this.#tokenHash);
  }

  /** A replica acknowledged `seq`. */
  acked(replica: KnownReplica, seq: number): void {
    if (seq <= replica.ackedSeq) return;
    replica.ackedSeq = seq;
    replica.ackedAtMs = Date.now();
    this.#registryDirty = true;
    for (const w of [...this.#waiters]) {
      if (seq >= w.seq && replica.ackedSeq >= w.seq) {
        w.count = this.#countAcked(w.seq);
      }
    }
    for (const w of [...this.#waiters]) {
      if (w.count >= 0) this.#settleWaiter(w, false);
    }
  }

  #countAcked(seq: number): number {
    let n = 0;
    for (const r of this.registry.list()) if (r.ackedSeq >= seq) n++;
    return n;
  }

  #wanted = new Map<Waiter, number>();

  #settleWaiter(w: Waiter, timedOut: boolean): void {
    const want = this.#wanted.get(w) ?? 0;
    if (timedOut || w.count >= want) {
      this.#waiters.delete(w);
      this.#wanted.delete(w);
      w.resolve(w.count);
    }
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
        resolve: (n) => {
          if (timer !== undefined) clearTimeout(timer);
          resolve(n);
        },
      };
      this.#waiters.add(w);
      this.#wanted.set(w, numReplicas);
      if (timeoutMs > 0) timer = setTimeout(() => this.#settleWaiter(w, true), timeoutMs);
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
    const lines: [string, string | number][] = [
      ["role", "master"],
      ["cityhall_role", "leader"],
      ["cityhall_leader_id", hexId(this.db.databaseId)],
      ["connected_slaves", this.#sessions.size],
      ["known_replicas", this.registry.size],
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
        `last_seen_ms=${r.lastSeenMs}`,
      ]);
    }
    return lines;
  }

  listReplicas(): string[] {
    return this.registry.list().map((r) => {
      const lag = this.lag(r);
      return `${r.id} ${r.address} acked=${r.ackedSeq} lag_entries=${lag.entries} ` +
        `${r.connected ? "online" : "offline"}`;
    });
  }

  forget(id: string): boolean {
    const known = this.registry.forget(id);
    for (const s of this.#sessions) {
      if (s.replicaId === id) s.refuse(ERROR_REFUSED, "Replica was forgotten by the leader");
    }
    if (known) {
      this.logger("warn", "forgot replica: its WAL is no longer kept", { replica: id });
      this.db.applyRetention();
    }
    return known;
  }

  forgetReplica(id: string): Promise<boolean> {
    return Promise.resolve(this.forget(id));
  }

  get closing(): boolean {
    return this.#closing;
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
      for (const s of this.#sessions) s.refuse(ERROR_SHUTDOWN, "Leader is shutting down");
      await Promise.allSettled([...this.#tasks]);
      for (const w of [...this.#waiters]) this.#settleWaiter(w, true);
      try {
        this.registry.save();
      } catch (err) {
        this.logger("warn", "cannot save replica registry", { error: String(err) });
      }
      this.db.setRetentionPins(() => this.registry.pins());
      attachReplicationRole(this.db, undefined);
      this.logger("info", "replication listener closed", { port: this.addr.port });
    })();
    return this.#closed;
  }
}

function splitAddr(address: string): [string, string] {
  const i = address.lastIndexOf(":");
  return i < 0 ? [address, "0"] : [address.slice(0, i), address.slice(i + 1)];
}

/** One replica connection. */
class Session {
  readonly addr: string;
  replicaId = "";
  readonly #leader: Leader;
  readonly #conn: Deno.Conn;
  readonly #feed: WalFeed;
  #replica: KnownReplica | undefined;
  #sendChain: Promise<void> = Promise.resolve();
  #fetch: (Fetch & { deadlineMs: number }) | undefined;
  #pumping = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;
  #lastReceivedMs = Date.now();
  #lastSentMs = Date.now();
  #checkpoint:
    | { cp: DatabaseCheckpoint; files: Map<number, { path: string; sizeBytes: number }> }
    | undefined;

  constructor(leader: Leader, conn: Deno.Conn) {
    this.#leader = leader;
    this.#conn = conn;
    this.addr = addrString(conn.remoteAddr);
    this.#feed = new WalFeed(leader.db);
    try {
      (conn as Deno.TcpConn).setNoDelay?.(true);
    } catch {
      // TLS connections may not expose it.
    }
  }

  #close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#feed.close();
    this.#checkpoint?.cp.release();
    this.#checkpoint = undefined;
    try {
      this.#conn.close();
    } catch {
      // Already closed.
    }
  }

  #send(type: number, body: Uint8Array, compress = false): Promise<void> {
    return this.#sendEncoded(encodeFrame(type, body, compress));
  }

  #sendEncoded(bytes: Uint8Array): Promise<void> {
    this.#lastSentMs = Date.now();
    this.#sendChain = this.#sendChain.then(async () => {
      if (this.#closed) return;
      let off = 0;
      while (off < bytes.length) off += await this.#conn.write(bytes.subarray(off));
    }).catch(() => this.#close());
    return this.#sendChain;
  }

  /** Sends ERROR and closes the session. */
  refuse(code: number, message: string): void {
    void this.#send(FRAME_ERROR, encodeError(code, message)).finally(() => this.#close());
  }

  /** New records are durable: serve a held FETCH (deferred off the WAL's sync call). */
  wake(): void {
    if (this.#fetch !== undefined && !this.#pumping) queueMicrotask(() => this.#pump());
  }

  async run(): Promise<void> {
    const leader = this.#leader;
    const log = leader.logger;
    const reader = new FrameReader(this.#conn);
    reader.onBytes = () => this.#lastReceivedMs = Date.now();
    const idle = setInterval(() => {
      const limit = this.#replica ? leader.idleTimeoutMs : HANDSHAKE_TIMEOUT_MS;
      if (Date.now() - this.#lastReceivedMs > limit) {
        log("warn", "replica idle timeout: closing link", {
          addr: this.addr,
          replica: this.replicaId || undefined,
          idleMs: Date.now() - this.#lastReceivedMs,
        });
        this.#close();
      }
      if (this.#replica && Date.now() - this.#lastSentMs >= leader.heartbeatMs) {
        void this.#send(FRAME_HEARTBEAT, encodeSeq(leader.db.durableSeq, Date.now()));
      }
    }, Math.max(10, Math.min(leader.heartbeatMs, 1000) / 2));
    try {
      await this.#handshake(reader);
      if (this.#closed) return;
      while (!this.#closed) {
        const frame = await reader.next();
        if (frame === undefined) break;
        this.#replica!.lastSeenMs = Date.now();
        if (frame.type === FRAME_SNAPSHOT_REQUEST) {
          await this.#beginSnapshot();
        } else if (frame.type === FRAME_FILE_FETCH) {
          this.#sendFileChunk(decodeFileFetch(frame.body));
        } else if (frame.type === FRAME_FETCH) {
          // Streaming again: a snapshot the replica fetched is installed.
          this.#checkpoint?.cp.release();
          this.#checkpoint = undefined;
          const f = decodeFetch(frame.body);
          const waitMs = Math.min(f.waitMs, leader.heartbeatMs);
          this.#fetch = {
            fromSeq: f.fromSeq,
            maxBytes: Math.max(1, Math.min(f.maxBytes, FETCH_BYTES_MAX)),
            waitMs,
            deadlineMs: Date.now() + waitMs,
          };
          this.#pump();
        } else if (frame.type === FRAME_ACK) {
          const seq = decodeSeq(frame.body, "ACK");
          if (seq > leader.db.durableSeq) {
            throw new ProtocolError(`Replica acknowledged ${seq}, beyond ${leader.db.durableSeq}`);
          }
          leader.acked(this.#replica!, seq);
        } else if (frame.type === FRAME_HEARTBEAT) {
          decodeSeq(frame.body, "HEARTBEAT");
        } else if (frame.type === FRAME_ERROR) {
          break;
        } else {
          throw new ProtocolError(`Unexpected frame type ${frame.type} from a replica`);
        }
      }
    } catch (err) {
      if (!this.#closed) {
        const message = err instanceof Error ? err.message : String(err);
        log("warn", "replica link failed", {
          addr: this.addr,
          replica: this.replicaId,
          error: message,
        });
        if (err instanceof ProtocolError) this.refuse(ERROR_BAD_FRAME, message);
      }
    } finally {
      // The idle check keeps running until the last write settles: a peer that stopped
      // reading would otherwise hold this session (and `close()`) forever.
      await this.#sendChain;
      clearInterval(idle);
      this.#close();
      if (this.#replica) {
        this.#replica.connected = false;
        log("info", "replica disconnected", { replica: this.replicaId, addr: this.addr });
      }
    }
  }

  async #handshake(reader: FrameReader): Promise<void> {
    const leader = this.#leader;
    const log = leader.logger;
    const frame = await reader.next();
    if (frame === undefined) return this.#close();
    if (frame.type !== FRAME_HELLO) {
      throw new ProtocolError(`Expected HELLO, got frame type ${frame.type}`);
    }
    const hello = decodeHello(frame.body);
    const id = hexId(hello.replicaId);
    this.replicaId = id;
    const refuse = (code: number, message: string, reason: string) => {
      log("warn", `refusing replica: ${reason}`, { addr: this.addr, replica: id });
      this.refuse(code, message);
    };
    if (hello.version !== SYNC_PROTOCOL_VERSION) {
      return refuse(
        ERROR_VERSION,
        `Protocol version ${hello.version} not supported (leader speaks ${SYNC_PROTOCOL_VERSION})`,
        `protocol version ${hello.version}`,
      );
    }
    if (!(await leader.checkToken(hello.token))) {
      return refuse(ERROR_AUTH, "Wrong auth token", "wrong auth token");
    }
    const leaderId = hexId(leader.db.databaseId);
    const expected = hexId(hello.expectedLeaderId);
    if (!/^0+$/.test(expected) && expected !== leaderId) {
      return refuse(
        ERROR_WRONG_LEADER,
        `This leader is ${leaderId}; the replica follows ${expected}`,
        `it follows leader ${expected}, this is ${leaderId}`,
      );
    }
    if (hello.nextSeq < 1 || hello.nextSeq - 1 > leader.db.durableSeq) {
      return refuse(
        ERROR_REPLICA_AHEAD,
        `Replica is at ${hello.nextSeq - 1}, beyond the leader's ${leader.db.durableSeq}`,
        "replica is ahead of the leader",
      );
    }
    if (leader.registry.get(id) === undefined && leader.registry.size >= REPLICAS_MAX) {
      return refuse(
        ERROR_REFUSED,
        `Too many replicas (limit ${REPLICAS_MAX})`,
        "too many",
      );
    }
    this.#replica = leader.registry.register(id, this.addr, hello.nextSeq - 1);
    const segments = leader.db.walSegments().map((s) => ({
      id: s.id,
      firstSeq: s.firstSeq,
      lastSeq: Math.min(s.lastSeq, leader.db.durableSeq),
      sizeBytes: s.sizeBytes,
    }));
    await this.#send(
      FRAME_WELCOME,
      encodeWelcome({
        leaderId: leader.db.databaseId,
        durableSeq: leader.db.durableSeq,
        firstSeq: this.#feed.firstAvailableSeq(),
        heartbeatMs: leader.heartbeatMs,
        idleTimeoutMs: leader.idleTimeoutMs,
        segments,
      }),
    );
    const firstAvailable = this.#feed.firstAvailableSeq();
    if (hello.nextSeq < firstAvailable) {
      log("warn", "replica needs writes no longer in the WAL: it needs a snapshot", {
        replica: id,
        fromSeq: hello.nextSeq,
        firstAvailableSeq: firstAvailable,
      });
    }
    log("info", "replica connected", {
      replica: id,
      addr: this.addr,
      fromSeq: hello.nextSeq,
      leaderSeq: leader.db.durableSeq,
    });
  }

  /** Takes a checkpoint for this replica and sends its manifest and file list. */
  async #beginSnapshot(): Promise<void> {
    const leader = this.#leader;
    this.#checkpoint?.cp.release();
    this.#checkpoint = undefined;
    const cp = await leader.db.checkpoint();
    try {
      // The checkpoint's flush may hold writes the WAL has not fdatasync'ed yet (sync mode
      // "interval" or "none"): make them durable so that the replica's ACK of the snapshot's
      // sequence is not above `durableSeq` (a protocol error, then REPLICA_AHEAD).
      if (leader.db.durableSeq < cp.manifest.flushedSeq) await leader.db.sync();
    } catch (err) {
      cp.release();
      throw err;
    }
    if (this.#closed) {
      cp.release();
      return;
    }
    const fs = leader.db.fileSystem;
    const files = new Map<number, { path: string; sizeBytes: number }>();
    const listed = cp.manifest.tables.map((t, i) => {
      const path = cp.tablePaths[i]!;
      const { crc, sizeBytes } = fileCrc(fs, path);
      files.set(t.fileNumber, { path, sizeBytes });
      return { fileNumber: t.fileNumber, sizeBytes, crc };
    });
    this.#checkpoint = { cp, files };
    leader.logger("info", "sending snapshot to replica", {
      replica: this.replicaId,
      seq: cp.manifest.flushedSeq,
      files: listed.length,
      bytes: listed.reduce((sum, f) => sum + f.sizeBytes, 0),
    });
    await this.#send(
      FRAME_SNAPSHOT_BEGIN,
      encodeSnapshotBegin({
        seq: cp.manifest.flushedSeq,
        manifest: encodeManifest(cp.manifest),
        files: listed,
      }),
    );
  }

  /** Sends bytes of a checkpoint file (at most `maxBytes`, capped at `FETCH_BYTES_MAX`). */
  #sendFileChunk(range: { fileNumber: number; offset: number; maxBytes: number }): void {
    const file = this.#checkpoint?.files.get(range.fileNumber);
    if (file === undefined || range.offset > file.sizeBytes) {
      throw new ProtocolError(
        `FILE_FETCH of file ${range.fileNumber} at ${range.offset}: not in the checkpoint`,
      );
    }
    const bytes = Math.min(
      Math.max(1, range.maxBytes),
      FETCH_BYTES_MAX,
      file.sizeBytes - range.offset,
    );
    const buf = new Uint8Array(bytes);
    const handle = this.#leader.db.fileSystem.open(file.path);
    let done = 0;
    try {
      while (done < bytes) {
        const n = handle.readAt(buf.subarray(done), range.offset + done);
        if (n === 0) break;
        done += n;
      }
    } finally {
      handle.close();
    }
    void this.#send(
      FRAME_FILE_CHUNK,
      encodeFileChunk(range.fileNumber, range.offset, buf.subarray(0, done)),
      true,
    );
  }

  /** Answers the held FETCH if it can: records, POSITION_GONE, or (timed out) empty DATA. */
  #pump(): void {
    const f = this.#fetch;
    if (f === undefined || this.#closed || this.#pumping) return;
    this.#pumping = true;
    try {
      const leader = this.#leader;
      const cached = leader.frameCache.get(`${f.fromSeq}:${f.maxBytes}`);
      if (cached !== undefined) {
        let adopted = true;
        try {
          this.#feed.adopt(cached.end);
        } catch {
          adopted = false; // The segment went away: read it the slow way (and find out why).
        }
        if (adopted) {
          this.#fetch = undefined;
          void this.#sendEncoded(cached.frame);
          return;
        }
      }
      let result;
      try {
        result = this.#feed.read(f.fromSeq, f.maxBytes);
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        leader.logger("error", "cannot read WAL for a replica", {
          replica: this.replicaId,
          error: message,
        });
        this.#fetch = undefined;
        this.refuse(ERROR_INTERNAL, message);
        return;
      }
      if (result.status === "gone") {
        this.#fetch = undefined;
        leader.logger("warn", "replica needs writes no longer in the WAL", {
          replica: this.replicaId,
          fromSeq: f.fromSeq,
          firstAvailableSeq: result.firstAvailableSeq,
        });
        this.refuse(
          ERROR_POSITION_GONE,
          `Sequence ${f.fromSeq} is no longer in the leader's WAL (oldest ${result.firstAvailableSeq}): bootstrap the replica again`,
        );
        return;
      }
      if (result.status === "records") {
        this.#fetch = undefined;
        const frame = encodeFrame(
          FRAME_DATA,
          encodeData({
            firstSeq: result.firstSeq,
            lastSeq: result.lastSeq,
            durableSeq: leader.db.durableSeq,
            segmentId: result.segmentId,
            recordCount: result.count,
            records: result.bytes,
          }),
          true,
        );
        if (leader.frameCache.size < 64) {
          leader.frameCache.set(`${f.fromSeq}:${f.maxBytes}`, { frame, end: result.end });
        }
        void this.#sendEncoded(frame);
        return;
      }
      const now = Date.now();
      if (now >= f.deadlineMs) {
        this.#fetch = undefined;
        void this.#send(
          FRAME_DATA,
          encodeData({
            firstSeq: f.fromSeq,
            lastSeq: f.fromSeq - 1,
            durableSeq: leader.db.durableSeq,
            segmentId: 0,
            recordCount: 0,
            records: new Uint8Array(0),
          }),
        );
        return;
      }
      if (this.#timer !== undefined) clearTimeout(this.#timer);
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.#pump();
      }, f.deadlineMs - now);
    } finally {
      this.#pumping = false;
    }
  }
}
