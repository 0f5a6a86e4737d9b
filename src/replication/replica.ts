/**
 * The replica side of CityHall Sync: follows a leader over one TCP (or TLS) link, applies
 * whole WAL records through its own WAL with the leader's sequence numbers, acknowledges
 * only after fdatasync, and reconnects with exponential backoff and full jitter.
 *
 * Position: the replica's own `Database.lastSeq` (recovered from its WAL after any crash) is
 * its position, so position and data always agree; re-applying a record is a no-op and a gap
 * is refused by the engine. A DATA frame is checked whole (frame CRC, Snappy length, every
 * record's CRC, contiguity, counts) before its first record is applied.
 *
 * Link states, each change logged once: `connecting` → `connected` → `retrying` (→
 * `connected` …); `refused` when the leader or the replica refuses (wrong leader, token,
 * version, position gone): it keeps retrying at the longest backoff, quietly; `stopped`.
 *
 * @module
 */

import { Database } from "../engine/mod.ts";
import { joinPath } from "../fs/mod.ts";
import { decodeManifest, type ManifestState, tableFileName } from "../manifest/mod.ts";
import { REPLICATION_DIR_NAME } from "./registry.ts";
import { fileCrc, SNAPSHOT_DIR_NAME } from "./snapshot.ts";
import { CityHallError, ProtocolError } from "../errors.ts";
import { WAL_RECORD_HEADER_BYTES } from "../limits.ts";
import { type Logger, silentLogger } from "../util/log.ts";
import { batchOpCount, parseRecordAt } from "../wal/format.ts";
import { Backoff, type BackoffOptions } from "./backoff.ts";
import {
  decodeData,
  decodeError,
  decodeFileChunk,
  decodeSeq,
  decodeSnapshotBegin,
  decodeWelcome,
  encodeError,
  encodeFetch,
  encodeFileFetch,
  encodeFrame,
  encodeHello,
  encodeSeq,
  ERROR_AUTH,
  ERROR_POSITION_GONE,
  ERROR_REPLICA_AHEAD,
  ERROR_VERSION,
  ERROR_WRONG_LEADER,
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
  ID_BYTES,
  parseHexId,
  SYNC_PROTOCOL_VERSION,
} from "./frame.ts";
import { attachReplicationRole, type ReplicationRole } from "./hooks.ts";
import {
  FETCH_BYTES_DEFAULT,
  FETCH_WAIT_MS_DEFAULT,
  HEARTBEAT_MS_DEFAULT,
  REPLICATION_IDLE_TIMEOUT_MS_DEFAULT,
  STATUS_DEBOUNCE_MS,
  STATUS_WRITE_INTERVAL_MS,
} from "../limits.ts";
import {
  loadOrCreateIdentity,
  type ReplicaIdentity,
  type ReplicaStatus,
  saveIdentity,
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
  const db = await Database.open(dir, { ...options, syncMode: "always" });
  db.setReadOnly(true);
  return db;
}

/** Starts following the leader; `db` becomes read-only. */
export function startReplica(db: Database, options: ReplicaOptions): Replica {
  parseHostPort(options.leader);
  db.setReadOnly(true);
  return new ReplicaLink(db, options);
}

/** A refusal: the link is not retried quickly. */
class RefusedError extends CityHallError {}

class ReplicaLink implements Replica, ReplicationRole {
  readonly role = "replica" as const;
  readonly #db: Database;
  readonly #options: ReplicaOptions;
  readonly #log: Logger;
  readonly #backoff: Backoff;
  readonly #identity: ReplicaIdentity;
  #state: LinkState = "connecting";
  #conn: Deno.Conn | undefined;
  #closing = false;
  #run: Promise<void>;
  #wakeSleep: (() => void) | undefined;
  #ackedSeq: number;
  #ackWaiters: { seq: number; resolve: () => void }[] = [];
  #leaderDurableSeq = 0;
  #lastContactMs = 0;
  #lastSegment = 0;
  #lastError: string | undefined;
  #lastStatusMs = 0;
  #totalRetries = 0;
  #connectedAtMs = 0;
  #statusTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(db: Database, options: ReplicaOptions) {
    this.#db = db;
    this.#options = options;
    this.#log = options.logger ?? silentLogger;
    this.#backoff = new Backoff(options.backoff);
    this.#identity = loadOrCreateIdentity(db.fileSystem, db.dir);
    // The position below is announced to the leader (which moves its pin past it).
    this.#ackedSeq = db.lastSeq;
    attachReplicationRole(db, this);
    this.#log("info", "replica starting", {
      replica: this.#identity.replicaId,
      leader: options.leader,
      leaderId: this.#identity.leaderId ?? "unknown",
      lastSeq: db.lastSeq,
    });
    this.#writeStatus();
    this.#run = this.#loop();
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

  status(): ReplicaStatus {
    const status: ReplicaStatus = {
      replicaId: this.#identity.replicaId,
      leaderAddress: this.#options.leader,
      leaderId: this.#identity.leaderId,
      state: this.#state,
      lastAppliedSeq: this.#ackedSeq,
      lastSyncedSegment: this.#lastSegment,
      totalEntries: this.#ackedSeq,
      leaderDurableSeq: this.#leaderDurableSeq,
      lastContactMs: this.#lastContactMs,
      updatedMs: Date.now(),
    };
    if (this.#lastError !== undefined) status.lastError = this.#lastError;
    return status;
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
      saveStatus(this.#db.fileSystem, this.#db.dir, this.status());
    } catch (err) {
      this.#log("warn", "cannot write replica status file", { error: String(err) });
    }
  }

  #acked(seq: number): void {
    this.#ackedSeq = Math.max(this.#ackedSeq, seq);
    for (const w of this.#ackWaiters.filter((w) => w.seq <= this.#ackedSeq)) w.resolve();
    this.#ackWaiters = this.#ackWaiters.filter((w) => w.seq > this.#ackedSeq);
  }

  waitForAck(seq: number): Promise<void> {
    if (this.#ackedSeq >= seq) return Promise.resolve();
    return new Promise((resolve) => this.#ackWaiters.push({ seq, resolve }));
  }

  // ---------------------------------------------------------------- ReplicationRole

  infoLines(): [string, string | number][] {
    const lag = Math.max(0, this.#leaderDurableSeq - this.#ackedSeq);
    const { hostname, port } = parseHostPort(this.#options.leader);
    return [
      ["role", "slave"],
      ["cityhall_role", "replica"],
      ["master_host", hostname],
      ["master_port", port],
      ["master_link_status", this.#state === "connected" ? "up" : "down"],
      ["cityhall_link_state", this.#state],
      [
        "master_last_io_seconds_ago",
        this.#lastContactMs === 0 ? -1 : Math.floor((Date.now() - this.#lastContactMs) / 1000),
      ],
      ["master_sync_in_progress", 0],
      ["slave_repl_offset", this.#ackedSeq],
      ["slave_read_only", 1],
      ["cityhall_replica_id", this.#identity.replicaId],
      ["cityhall_leader_id", this.#identity.leaderId ?? ""],
      ["cityhall_leader_durable_seq", this.#leaderDurableSeq],
      ["cityhall_lag_entries", lag],
      ["cityhall_retries", this.#backoff.failures],
      ["cityhall_total_retries", this.#totalRetries],
      ["cityhall_last_synced_segment", this.#lastSegment],
      ["cityhall_last_error", this.#lastError ?? ""],
      ["connected_slaves", 0],
    ];
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
    try {
      this.#conn?.close();
    } catch {
      // Already closed.
    }
    await this.#run;
    this.#setState("stopped");
    this.#writeStatus();
    attachReplicationRole(this.#db, undefined);
  }

  async #loop(): Promise<void> {
    while (!this.#closing) {
      let healthy = false;
      let refused = false;
      try {
        healthy = await this.#session();
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        this.#lastError = message;
        refused = err instanceof RefusedError;
        if (!this.#closing) {
          if (refused) this.#setState("refused", { error: message });
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

  async #connect(): Promise<Deno.Conn> {
    const { hostname, port } = parseHostPort(this.#options.leader);
    if (this.#options.tlsCaCert !== undefined) {
      return await Deno.connectTls({ hostname, port, caCerts: [this.#options.tlsCaCert] });
    }
    const conn = await Deno.connect({ hostname, port });
    conn.setNoDelay(true);
    return conn;
  }

  /** One session; true when it was healthy (handshake done and data flowed). */
  async #session(): Promise<boolean> {
    const conn = await this.#connect();
    this.#conn = conn;
    if (this.#closing) {
      conn.close();
      return false;
    }
    const db = this.#db;
    if (this.#identity.leaderId === null && db.lastSeq > 0) {
      // Data written before any leader was recorded is not a prefix of any leader's history:
      // streaming on top of it (or replacing it with a snapshot) would mix two histories.
      conn.close();
      throw new RefusedError(
        `Refusing to replicate: ${db.dir} holds ${db.lastSeq} writes from no recorded leader (use an empty data directory)`,
      );
    }
    const options = this.#options;
    const idleTimeoutMs = options.idleTimeoutMs ?? REPLICATION_IDLE_TIMEOUT_MS_DEFAULT;
    const heartbeatMs = options.heartbeatMs ?? HEARTBEAT_MS_DEFAULT;
    const fetchBytes = options.fetchBytes ?? FETCH_BYTES_DEFAULT;
    const fetchWaitMs = options.fetchWaitMs ?? FETCH_WAIT_MS_DEFAULT;
    const reader = new FrameReader(conn);
    let lastReceivedMs = Date.now();
    let lastSentMs = Date.now();
    let sendChain: Promise<void> = Promise.resolve();
    let broken = false;
    let idleFired = false;
    const close = () => {
      broken = true;
      try {
        conn.close();
      } catch {
        // Already closed.
      }
    };
    const send = (type: number, body: Uint8Array) => {
      const bytes = encodeFrame(type, body);
      lastSentMs = Date.now();
      sendChain = sendChain.then(async () => {
        if (broken) return;
        let off = 0;
        while (off < bytes.length) off += await conn.write(bytes.subarray(off));
      }).catch(() => close());
    };
    reader.onBytes = () => {
      lastReceivedMs = Date.now();
      this.#lastContactMs = lastReceivedMs;
    };
    const watchdog = setInterval(() => {
      if (Date.now() - lastReceivedMs > idleTimeoutMs) {
        idleFired = true;
        close();
      } else if (Date.now() - lastSentMs >= heartbeatMs && this.#state === "connected") {
        send(FRAME_HEARTBEAT, encodeSeq(this.#ackedSeq, Date.now()));
      }
    }, Math.max(10, Math.min(heartbeatMs, idleTimeoutMs) / 2));
    let healthy = false;
    let pendingDurable: Promise<void> = Promise.resolve();
    try {
      const token = new TextEncoder().encode(options.authToken ?? "");
      const expected = this.#identity.leaderId === null
        ? new Uint8Array(ID_BYTES)
        : parseHexId(this.#identity.leaderId)!;
      send(
        FRAME_HELLO,
        encodeHello({
          version: SYNC_PROTOCOL_VERSION,
          replicaId: parseHexId(this.#identity.replicaId)!,
          expectedLeaderId: expected,
          nextSeq: db.lastSeq + 1,
          token,
        }),
      );
      const first = await this.#nextFrame(reader, () => idleFired);
      if (first.type === FRAME_ERROR) throw this.#leaderError(first.body);
      if (first.type !== FRAME_WELCOME) {
        throw new ProtocolError(`Expected WELCOME, got frame type ${first.type}`);
      }
      const welcome = decodeWelcome(first.body);
      const leaderId = hexId(welcome.leaderId);
      if (this.#identity.leaderId !== null && this.#identity.leaderId !== leaderId) {
        send(FRAME_ERROR, encodeError(ERROR_WRONG_LEADER, "Replica follows another leader"));
        throw new RefusedError(
          `Refusing to replicate: leader id ${leaderId} differs from the recorded ${this.#identity.leaderId} (a different or re-initialised leader)`,
        );
      }
      if (this.#identity.leaderId === null) {
        // Recorded durably before the first record is applied.
        this.#identity.leaderId = leaderId;
        saveIdentity(db.fileSystem, db.dir, this.#identity);
      }
      this.#leaderDurableSeq = welcome.durableSeq;
      this.#connectedAtMs = Date.now();
      this.#lastError = undefined;
      this.#setState("connected", {
        leaderId,
        fromSeq: db.lastSeq + 1,
        leaderSeq: welcome.durableSeq,
        leaderSegments: welcome.segments.length,
      });
      if (db.lastSeq + 1 < welcome.firstSeq) {
        if (db.lastSeq !== 0) {
          // Same leader (checked above), so the local data is an older prefix of its history:
          // replacing it with a newer checkpoint loses nothing.
          this.#log(
            "warn",
            "position no longer in the leader's WAL: bootstrapping from a snapshot",
            {
              position: db.lastSeq + 1,
              leaderFirstSeq: welcome.firstSeq,
            },
          );
        }
        await this.#bootstrap(reader, send, leaderId, () => idleFired);
        healthy = true;
        send(FRAME_ACK, encodeSeq(db.lastSeq));
        this.#acked(db.lastSeq);
        this.#writeStatus();
      }
      let next = db.lastSeq + 1;
      send(FRAME_FETCH, encodeFetch({ fromSeq: next, maxBytes: fetchBytes, waitMs: fetchWaitMs }));
      while (!this.#closing) {
        const frame = await this.#nextFrame(reader, () => idleFired);
        if (frame.type === FRAME_DATA) {
          const data = decodeData(frame.body);
          const records = checkRecords(data, next);
          this.#leaderDurableSeq = Math.max(this.#leaderDurableSeq, data.durableSeq);
          // Distinct promises only: records of one group commit share one.
          const applied = new Set<Promise<void>>();
          for (const r of records) applied.add(db.applyReplicated(r.seq, r.payload));
          const durable = Promise.all(applied);
          if (records.length > 0) {
            next = data.lastSeq + 1;
            healthy = true;
            this.#backoff.reset();
            const lastSeq = data.lastSeq;
            const segment = data.segmentId;
            const caughtUp = lastSeq >= data.durableSeq;
            pendingDurable = durable.then(async () => {
              // In sync mode "always" the group is fdatasync'ed when it resolves; a database
              // opened otherwise must sync before the ACK ("applied and fdatasync'ed").
              if (db.durableSeq < lastSeq) await db.sync();
              this.#lastSegment = segment;
              send(FRAME_ACK, encodeSeq(lastSeq));
              this.#acked(lastSeq);
              if (Date.now() - this.#lastStatusMs >= STATUS_WRITE_INTERVAL_MS) {
                this.#writeStatus();
              } else if (caughtUp) {
                this.#scheduleStatus();
              }
            });
            // A failed apply is fatal for the database; the session ends on the next frame.
            pendingDurable.catch((err) => {
              this.#lastError = String(err);
              close();
            });
          }
          send(
            FRAME_FETCH,
            encodeFetch({ fromSeq: next, maxBytes: fetchBytes, waitMs: fetchWaitMs }),
          );
        } else if (frame.type === FRAME_HEARTBEAT) {
          this.#leaderDurableSeq = Math.max(
            this.#leaderDurableSeq,
            decodeSeq(frame.body, "HEARTBEAT"),
          );
        } else if (frame.type === FRAME_ERROR) {
          throw this.#leaderError(frame.body);
        } else {
          throw new ProtocolError(`Unexpected frame type ${frame.type} from the leader`);
        }
      }
      return healthy;
    } catch (err) {
      if (err instanceof ProtocolError && !broken) {
        this.#log("error", "replication frame refused: nothing from it was applied", {
          leader: options.leader,
          error: err.message,
        });
        send(FRAME_ERROR, encodeError(5, err.message));
      }
      throw err;
    } finally {
      // The watchdog keeps running until the last write settles (a leader that stopped
      // reading cannot hold the session).
      await pendingDurable.catch(() => {});
      await sendChain;
      clearInterval(watchdog);
      close();
      this.#conn = undefined;
      if (this.#connectedAtMs > 0 && healthy) this.#writeStatus();
    }
  }

  /** Reads the next frame that is not a HEARTBEAT (the leader sends them while it works). */
  async #nextWork(reader: FrameReader, idle: () => boolean) {
    for (let i = 0; i < 1_000_000; i++) {
      const frame = await this.#nextFrame(reader, idle);
      if (frame.type === FRAME_HEARTBEAT) continue;
      if (frame.type === FRAME_ERROR) throw this.#leaderError(frame.body);
      return frame;
    }
    throw new ProtocolError("Leader sends nothing but heartbeats");
  }

  /**
   * Snapshot bootstrap of an empty replica (see `snapshot.ts`): fetches the leader's
   * checkpoint files into the staging directory (resuming `.part` files), checks each file's
   * CRC, moves them into the data directory and installs the checkpoint.
   */
  async #bootstrap(
    reader: FrameReader,
    send: (type: number, body: Uint8Array) => void,
    leaderId: string,
    idle: () => boolean,
  ): Promise<void> {
    const db = this.#db;
    const fs = db.fileSystem;
    const fetchBytes = this.#options.fetchBytes ?? FETCH_BYTES_DEFAULT;
    send(FRAME_SNAPSHOT_REQUEST, new Uint8Array(0));
    const first = await this.#nextWork(reader, idle);
    if (first.type !== FRAME_SNAPSHOT_BEGIN) {
      throw new ProtocolError(`Expected SNAPSHOT_BEGIN, got frame type ${first.type}`);
    }
    const begin = decodeSnapshotBegin(first.body);
    let manifest: ManifestState;
    try {
      manifest = decodeManifest(begin.manifest, "snapshot manifest");
    } catch (err) {
      throw new ProtocolError(`Cannot accept snapshot: ${(err as Error).message}`);
    }
    const listed = new Map(begin.files.map((f) => [f.fileNumber, f]));
    if (
      hexId(manifest.databaseId) !== leaderId || manifest.flushedSeq !== begin.seq ||
      manifest.tables.length !== listed.size ||
      manifest.tables.some((t) => !listed.has(t.fileNumber))
    ) {
      throw new ProtocolError("Cannot accept snapshot: manifest and file list disagree");
    }
    const staging = joinPath(db.dir, REPLICATION_DIR_NAME, SNAPSHOT_DIR_NAME);
    fs.mkdirp(staging);
    for (const name of fs.readDir(staging)) {
      const n = Number(name.split(".")[0]);
      const kept = name.endsWith(".sst.part") || name.endsWith(".sst");
      if (!listed.has(n) || !kept) fs.remove(joinPath(staging, name));
    }
    const totalBytes = begin.files.reduce((sum, f) => sum + f.sizeBytes, 0);
    this.#log("info", "bootstrapping replica from a leader snapshot", {
      seq: begin.seq,
      files: begin.files.length,
      bytes: totalBytes,
    });
    let resumedBytes = 0;
    const staged = new Map<number, string>();
    for (const f of begin.files) {
      const name = tableFileName(f.fileNumber);
      const done = joinPath(staging, name);
      if (fs.stat(done) !== undefined) {
        const have = fileCrc(fs, done);
        if (have.crc === f.crc && have.sizeBytes === f.sizeBytes) {
          staged.set(f.fileNumber, done);
          resumedBytes += f.sizeBytes;
          continue;
        }
        fs.remove(done);
      }
      const part = joinPath(staging, `${name}.part`);
      let offset = fs.stat(part)?.size ?? 0;
      if (offset > f.sizeBytes) {
        fs.remove(part);
        offset = 0;
      }
      resumedBytes += offset;
      const file = fs.open(part, { write: true, create: true });
      try {
        // Bounded: every pass writes at least one byte of the file.
        while (offset < f.sizeBytes) {
          send(
            FRAME_FILE_FETCH,
            encodeFileFetch({ fileNumber: f.fileNumber, offset, maxBytes: fetchBytes }),
          );
          const frame = await this.#nextWork(reader, idle);
          if (frame.type !== FRAME_FILE_CHUNK) {
            throw new ProtocolError(`Expected FILE_CHUNK, got frame type ${frame.type}`);
          }
          const chunk = decodeFileChunk(frame.body);
          if (
            chunk.fileNumber !== f.fileNumber || chunk.offset !== offset ||
            chunk.data.length === 0 || offset + chunk.data.length > f.sizeBytes
          ) {
            throw new ProtocolError(`Cannot accept FILE_CHUNK of ${name} at ${chunk.offset}`);
          }
          file.writeAt(chunk.data, offset);
          offset += chunk.data.length;
        }
        file.sync();
      } finally {
        file.close();
      }
      const got = fileCrc(fs, part);
      if (got.crc !== f.crc || got.sizeBytes !== f.sizeBytes) {
        fs.remove(part);
        throw new ProtocolError(
          `Cannot accept snapshot file ${name}: checksum mismatch (it is fetched again whole)`,
        );
      }
      fs.rename(part, done);
      staged.set(f.fileNumber, done);
    }
    fs.syncDir(staging);
    await db.installSnapshot(manifest, staged);
    this.#log("info", "bootstrapped replica from a leader snapshot", {
      seq: db.lastSeq,
      files: begin.files.length,
      bytes: totalBytes,
      resumedBytes,
    });
  }

  async #nextFrame(reader: FrameReader, idle: () => boolean) {
    let frame;
    try {
      frame = await reader.next();
    } catch (err) {
      if (idle()) throw new CityHallError("Leader silent past the idle timeout");
      if (err instanceof ProtocolError) throw err;
      throw new CityHallError(`Connection lost: ${err instanceof Error ? err.message : err}`);
    }
    if (frame === undefined) {
      throw new CityHallError(
        idle() ? "Leader silent past the idle timeout" : "Leader closed the link",
      );
    }
    return frame;
  }

  #leaderError(body: Uint8Array): Error {
    const { code, message } = decodeError(body);
    const refusal = [
      ERROR_AUTH,
      ERROR_VERSION,
      ERROR_WRONG_LEADER,
      ERROR_POSITION_GONE,
      ERROR_REPLICA_AHEAD,
    ];
    const text = code === ERROR_WRONG_LEADER
      ? `Refusing to replicate: leader id differs from the recorded ${this.#identity.leaderId} (a different or re-initialised leader): ${message}`
      : `Leader refused: ${message} (code ${code})`;
    // An empty replica told its position is gone bootstraps on the next attempt: no refusal.
    const empty = code === ERROR_POSITION_GONE && this.#db.lastSeq === 0;
    return refusal.includes(code) && !empty ? new RefusedError(text) : new CityHallError(text);
  }
}

/**
 * Checks a DATA frame's records whole before any is applied: each parses with a good CRC, they
 * are contiguous, the first holds `expectedSeq`, and the counts and last sequence match the
 * header. Throws `ProtocolError`.
 */
function checkRecords(
  data: ReturnType<typeof decodeData>,
  expectedSeq: number,
): { seq: number; payload: Uint8Array }[] {
  const fail = (reason: string): never => {
    throw new ProtocolError(`Cannot accept DATA frame: ${reason}`);
  };
  const out: { seq: number; payload: Uint8Array }[] = [];
  const buf = data.records;
  let at = 0;
  let next = 0;
  while (at < buf.length) {
    if (buf.length - at < WAL_RECORD_HEADER_BYTES) fail(`truncated record at offset ${at}`);
    const parsed = parseRecordAt(buf, at);
    if (parsed.status !== "record") {
      fail(`${parsed.status === "bad" ? parsed.reason : "zero bytes"} at record offset ${at}`);
    }
    const r = (parsed as { record: { seq: number; payload: Uint8Array; endOffset: number } })
      .record;
    if (out.length === 0) {
      if (r.seq > expectedSeq) fail(`first record ${r.seq} leaves a gap after ${expectedSeq - 1}`);
    } else if (r.seq !== next) {
      fail(`record ${r.seq} where ${next} was expected`);
    }
    let count = 0;
    try {
      count = batchOpCount(r.payload);
    } catch (err) {
      fail((err as Error).message);
    }
    next = r.seq + count;
    out.push({ seq: r.seq, payload: r.payload });
    at = r.endOffset;
  }
  if (out.length !== data.recordCount) {
    fail(`${out.length} records, header says ${data.recordCount}`);
  }
  if (out.length > 0) {
    if (out[0]!.seq !== data.firstSeq) fail("first sequence does not match the header");
    if (next - 1 !== data.lastSeq) fail("last sequence does not match the header");
  }
  return out;
}
