/**
 * One replica connection on the leader: the handshake under its absolute deadline, then the
 * replica's requests (FETCH long-polls, ACKs, snapshot files). ARCHITECTURE.md § "Handshake
 * rules" and § "Who counts as a replica".
 *
 * Phases, each with its frame policy (`frame_reader.ts`):
 * 1. `handshake`: only an uncompressed HELLO of at most `HELLO_BODY_BYTES_MAX` bytes is read,
 *    within `HANDSHAKE_TIMEOUT_MS` of the accept whatever arrives meanwhile; the HELLO is
 *    judged (`handshake.ts`), then admitted by the leader (capacity, one session per id).
 * 2. `unverified`: WELCOME sent; the session pins the WAL at the replica's position in memory
 *    only. The first ACK of a sequence this session sent (records or a snapshot) verifies the
 *    replica: it enters the registry (persisted, pinned, counted by WAIT). Behind the leader
 *    without such an ACK for `REPLICA_VERIFY_TIMEOUT_MS`, the session is closed.
 * 3. `verified`: acknowledgements move the registry's pin and wake WAIT.
 *
 * @module
 */

import type { DatabaseCheckpoint } from "../engine/mod.ts";
import { LateTicks } from "./late_tick.ts";
import { replicationPort } from "../engine/mod.ts";
import { encodeManifest } from "../manifest/mod.ts";
import { fileCrc } from "./snapshot.ts";
import { ProtocolError } from "../errors.ts";
import { WalFeed } from "./feed.ts";
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
  ERROR_BAD_FRAME,
  ERROR_INTERNAL,
  ERROR_POSITION_GONE,
  ERROR_REFUSED,
  type Fetch,
  type Frame,
  FRAME_ACK,
  FRAME_DATA,
  FRAME_ERROR,
  FRAME_FETCH,
  FRAME_FILE_CHUNK,
  FRAME_FILE_FETCH,
  FRAME_HEARTBEAT,
  FRAME_SNAPSHOT_BEGIN,
  FRAME_SNAPSHOT_REQUEST,
  FRAME_WELCOME,
  hexId,
} from "./frame.ts";
import { FrameReader, LEADER_BEFORE_HELLO, LEADER_FROM_REPLICA } from "./frame_reader.ts";
import { judgeHello } from "./handshake.ts";
import { judgeHistory } from "./history.ts";
import type { LeaderCore } from "./leader.ts";
import { FETCH_BYTES_MAX } from "../limits.ts";
import type { KnownReplica } from "./registry.ts";

/** Where a session stands. */
export type SessionPhase = "handshake" | "unverified" | "verified" | "closed";

function addrString(addr: Deno.Addr): string {
  return addr.transport === "tcp" ? `${addr.hostname}:${addr.port}` : addr.transport;
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** One replica connection. */
export class Session {
  readonly addr: string;
  /** When the connection was accepted (the handshake deadline counts from here). */
  readonly startedMs = Date.now();
  /** The id the peer claimed in HELLO ("" before). */
  replicaId = "";
  readonly #leader: LeaderCore;
  readonly #conn: Deno.Conn;
  readonly #feed: WalFeed;
  #phase: SessionPhase = "handshake";
  /** The registry entry, once this session verified the replica. */
  #entry: KnownReplica | undefined;
  /** The replica's position at HELLO (its last applied sequence). */
  #helloSeq = 0;
  /** Newest sequence sent in a DATA frame. */
  #sentSeq = 0;
  /** Sequence of the snapshot sent, 0 when none. */
  #snapshotSeq = 0;
  /** Start of the current "behind without acknowledging" stretch (verify deadline). */
  #unackedSinceMs = Date.now();
  #sendChain: Promise<void> = Promise.resolve();
  #fetch: (Fetch & { deadlineMs: number }) | undefined;
  #pumping = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #refused = false;
  #closed = false;
  #lastReceivedMs = Date.now();
  #lastSentMs = Date.now();
  /** The watchdog's clock: a late tick means this process stalled (`late_tick.ts`). */
  #ticks = new LateTicks(10);
  #checkpoint:
    | { cp: DatabaseCheckpoint; files: Map<number, { path: string; sizeBytes: number }> }
    | undefined;

  constructor(leader: LeaderCore, conn: Deno.Conn) {
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

  /** Where the session stands. */
  get phase(): SessionPhase {
    return this.#closed ? "closed" : this.#phase;
  }

  /**
   * The WAL position this session pins while the replica is not verified in it (the registry
   * pins verified ones): the snapshot's sequence once one was sent, else the HELLO position.
   */
  get pinSeq(): number | undefined {
    if (this.#phase !== "unverified" || this.#closed) return undefined;
    return this.#snapshotSeq > 0 ? this.#snapshotSeq : this.#helloSeq;
  }

  /** Closes the connection at once (no ERROR frame). */
  close(): void {
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
    }).catch(() => this.close());
    return this.#sendChain;
  }

  /** Sends ERROR and closes the session; the reader loop stops at once. */
  refuse(code: number, message: string): void {
    if (this.#refused || this.#closed) return;
    this.#refused = true;
    void this.#send(FRAME_ERROR, encodeError(code, message)).finally(() => this.close());
  }

  /** New records are durable: serve a held FETCH (deferred off the WAL's sync call). */
  wake(): void {
    if (this.#fetch !== undefined && !this.#pumping) queueMicrotask(() => this.#pump());
  }

  /**
   * Deadlines and heartbeats, every few hundred ms. A late tick (this process stalled,
   * `late_tick.ts`) leaves the idle and verify deadlines to the next tick; the handshake
   * deadline is absolute and judged at once.
   */
  #tick(): void {
    const leader = this.#leader;
    const now = Date.now();
    const late = this.#ticks.late(now);
    if (this.#phase === "handshake") {
      if (now - this.startedMs > leader.handshakeTimeoutMs) {
        leader.logPreAuth("replication handshake deadline passed: closing", {
          addr: this.addr,
          ms: leader.handshakeTimeoutMs,
        });
        this.close();
      }
      return;
    }
    // On a late tick the replica's bytes and ACKs of the stall are still unread.
    if (!late && now - this.#lastReceivedMs > leader.idleTimeoutMs) {
      leader.logger("warn", "replica idle timeout: closing link", {
        addr: this.addr,
        replica: this.replicaId,
        idleMs: now - this.#lastReceivedMs,
      });
      this.close();
      return;
    }
    const pin = this.pinSeq;
    if (pin !== undefined) {
      if (pin >= leader.db.durableSeq) this.#unackedSinceMs = now;
      else if (!late && now - this.#unackedSinceMs > leader.verifyTimeoutMs) {
        leader.logger("warn", "replica acknowledged nothing it was sent: closing, WAL unpinned", {
          replica: this.replicaId,
          addr: this.addr,
          position: pin,
          ms: leader.verifyTimeoutMs,
        });
        this.refuse(
          ERROR_REFUSED,
          `No acknowledgement of the data sent within ${leader.verifyTimeoutMs} ms`,
        );
        return;
      }
    }
    if (now - this.#lastSentMs >= leader.heartbeatMs) {
      void this.#send(FRAME_HEARTBEAT, encodeSeq(leader.db.durableSeq, now));
    }
  }

  async run(): Promise<void> {
    const leader = this.#leader;
    const reader = new FrameReader(this.#conn, LEADER_BEFORE_HELLO);
    reader.onBytes = () => this.#lastReceivedMs = Date.now();
    this.#ticks = new LateTicks(
      Math.max(10, Math.min(leader.heartbeatMs, leader.handshakeTimeoutMs, 1000) / 2),
    );
    const ticker = setInterval(() => this.#tick(), this.#ticks.intervalMs);
    try {
      if (!(await this.#handshake(reader))) return;
      reader.policy = LEADER_FROM_REPLICA;
      while (!this.#closed && !this.#refused) {
        const frame = await reader.next();
        if (frame === undefined || this.#refused) break;
        if (!(await this.#onFrame(frame))) break;
      }
    } catch (err) {
      if (!this.#closed && !this.#refused) {
        const fields = { addr: this.addr, replica: this.replicaId, error: errorMessage(err) };
        if (this.#phase === "handshake") leader.logPreAuth("replication handshake failed", fields);
        else leader.logger("warn", "replica link failed", fields);
        if (err instanceof ProtocolError) this.refuse(ERROR_BAD_FRAME, errorMessage(err));
      }
    } finally {
      // The ticker keeps running until the last write settles: a peer that stopped reading
      // would otherwise hold this session (and `close()`) forever.
      await this.#sendChain;
      clearInterval(ticker);
      this.close();
      leader.sessionEnded(this, this.#entry);
    }
  }

  /** One frame from an admitted replica; false ends the session. */
  async #onFrame(frame: Frame): Promise<boolean> {
    const leader = this.#leader;
    if (this.#entry !== undefined) this.#entry.lastSeenMs = Date.now();
    switch (frame.type) {
      case FRAME_SNAPSHOT_REQUEST:
        await this.#beginSnapshot();
        return true;
      case FRAME_FILE_FETCH:
        this.#sendFileChunk(decodeFileFetch(frame.body));
        return true;
      case FRAME_FETCH: {
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
        return true;
      }
      case FRAME_ACK:
        this.#onAck(decodeSeq(frame.body, "ACK"));
        return true;
      case FRAME_HEARTBEAT:
        decodeSeq(frame.body, "HEARTBEAT");
        return true;
      case FRAME_ERROR:
        return false;
      default:
        throw new ProtocolError(`Unexpected frame type ${frame.type} from a replica`);
    }
  }

  /**
   * An ACK: at most what this session sent (records or a snapshot) and what is durable. The
   * first one above the HELLO position verifies the replica.
   */
  #onAck(seq: number): void {
    const leader = this.#leader;
    if (seq > leader.db.durableSeq) {
      throw new ProtocolError(`Replica acknowledged ${seq}, beyond ${leader.db.durableSeq}`);
    }
    const sentMax = Math.max(this.#helloSeq, this.#sentSeq, this.#snapshotSeq);
    if (seq > sentMax) {
      throw new ProtocolError(`Replica acknowledged ${seq}, but was sent only up to ${sentMax}`);
    }
    if (this.#entry === undefined) {
      if (seq <= this.#helloSeq) return;
      this.#entry = leader.verify(this, seq);
      this.#phase = "verified";
    }
    leader.acked(this.#entry, seq);
  }

  /** Reads HELLO, judges it, asks the leader to admit it, sends WELCOME; false = refused. */
  async #handshake(reader: FrameReader): Promise<boolean> {
    const leader = this.#leader;
    const frame = await reader.next();
    if (frame === undefined || this.#closed) {
      this.close();
      return false;
    }
    const hello = decodeHello(frame.body);
    const id = hexId(hello.replicaId);
    this.replicaId = id;
    const facts = leader.facts();
    const history = judgeHistory(
      { historyId: facts.leaderId, ancestors: facts.ancestors },
      hello.expectedLeaderId,
      hello.nextSeq - 1,
    );
    // A replica of a history this one forked from: its position counts up to the fork only.
    const position = history.kind === "forked"
      ? Math.min(hello.nextSeq - 1, history.sharedSeq)
      : hello.nextSeq - 1;
    const refusal = await judgeHello(hello, facts) ?? leader.admit(this, id, position);
    if (this.#closed) return false;
    if (refusal !== undefined) {
      leader.logPreAuth(`refusing replica: ${refusal.reason}`, { addr: this.addr, replica: id });
      this.refuse(refusal.code, refusal.message);
      return false;
    }
    if (history.kind === "forked") {
      leader.logger("warn", "replica follows a history this leader forked from: it re-bootstraps", {
        replica: id,
        history: hexId(hello.expectedLeaderId),
        forkSeq: history.sharedSeq,
        position: hello.nextSeq - 1,
        diverged: history.diverged,
      });
    }
    this.#helloSeq = position;
    this.#phase = "unverified";
    this.#unackedSinceMs = Date.now();
    const db = leader.db;
    const segments = db.walSegments().map((s) => ({
      id: s.id,
      firstSeq: s.firstSeq,
      lastSeq: Math.min(s.lastSeq, db.durableSeq),
      sizeBytes: s.sizeBytes,
    }));
    const firstAvailable = this.#feed.firstAvailableSeq();
    await this.#send(
      FRAME_WELCOME,
      encodeWelcome({
        leaderId: facts.leaderId,
        durableSeq: db.durableSeq,
        firstSeq: firstAvailable,
        heartbeatMs: leader.heartbeatMs,
        idleTimeoutMs: leader.idleTimeoutMs,
        segments,
      }),
    );
    if (hello.nextSeq < firstAvailable) {
      leader.logger("warn", "replica needs writes no longer in the WAL: it needs a snapshot", {
        replica: id,
        fromSeq: hello.nextSeq,
        firstAvailableSeq: firstAvailable,
      });
    }
    leader.logger("info", "replica connected", {
      replica: id,
      addr: this.addr,
      fromSeq: hello.nextSeq,
      leaderSeq: db.durableSeq,
      known: leader.registry.get(id) !== undefined,
    });
    return true;
  }

  /** Takes a checkpoint for this replica and sends its manifest and file list. */
  async #beginSnapshot(): Promise<void> {
    const leader = this.#leader;
    this.#checkpoint?.cp.release();
    this.#checkpoint = undefined;
    const cp = await replicationPort(leader.db).checkpoint();
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
    const fs = replicationPort(leader.db).fileSystem;
    const files = new Map<number, { path: string; sizeBytes: number }>();
    const listed = cp.manifest.tables.map((t, i) => {
      const path = cp.tablePaths[i]!;
      const { crc, sizeBytes } = fileCrc(fs, path);
      files.set(t.fileNumber, { path, sizeBytes });
      return { fileNumber: t.fileNumber, sizeBytes, crc };
    });
    this.#checkpoint = { cp, files };
    this.#snapshotSeq = cp.manifest.flushedSeq;
    this.#unackedSinceMs = Date.now();
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
    const handle = replicationPort(this.#leader.db).fileSystem.open(file.path);
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
    // A snapshot moving forward is progress towards the acknowledgement that verifies it.
    this.#unackedSinceMs = Date.now();
    void this.#send(
      FRAME_FILE_CHUNK,
      encodeFileChunk(range.fileNumber, range.offset, buf.subarray(0, done)),
      true,
    );
  }

  /** Answers the held FETCH if it can: records, POSITION_GONE, or (timed out) empty DATA. */
  #pump(): void {
    const f = this.#fetch;
    if (f === undefined || this.#closed || this.#refused || this.#pumping) return;
    this.#pumping = true;
    try {
      const leader = this.#leader;
      const key = `${f.fromSeq}:${f.maxBytes}`;
      const cached = leader.frameCache.get(key);
      if (cached !== undefined) {
        let adopted = true;
        try {
          this.#feed.adopt(cached.end);
        } catch {
          adopted = false; // The segment went away: read it the slow way (and find out why).
        }
        if (adopted) {
          this.#fetch = undefined;
          this.#sentSeq = Math.max(this.#sentSeq, cached.end.nextSeq - 1);
          void this.#sendEncoded(cached.frame);
          return;
        }
      }
      let result;
      try {
        result = this.#feed.read(f.fromSeq, f.maxBytes);
      } catch (err) {
        const message = errorMessage(err);
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
        if (leader.frameCache.size < 64) leader.frameCache.set(key, { frame, end: result.end });
        this.#sentSeq = Math.max(this.#sentSeq, result.lastSeq);
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
