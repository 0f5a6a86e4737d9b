/**
 * One replica session: connect, HELLO, judge WELCOME (`handshake.ts`), bootstrap from a
 * snapshot when needed, then FETCH / DATA / ACK until the link ends. The link
 * (`replica.ts`) owns the state, the status and the reconnects; a session reports to it
 * through `SessionOwner`. ARCHITECTURE.md § "Replication (CityHall Sync)".
 *
 * Invariants:
 * - Before the WELCOME of the leader this replica follows, the reader accepts only small,
 *   uncompressed WELCOME and ERROR frames, within `HANDSHAKE_TIMEOUT_MS` of the connect
 *   (absolute); nothing is decompressed before it.
 * - A DATA frame is checked whole (`checkRecords`) before its first record is applied, and
 *   acknowledged only after its records are fdatasync'ed.
 *
 * @module
 */

import type { Database } from "../engine/mod.ts";
import { LateTicks } from "./late_tick.ts";
import { replicationPort } from "../engine/mod.ts";
import { CityHallError, ProtocolError } from "../errors.ts";
import type { Logger } from "../util/log.ts";
import {
  decodeData,
  decodeError,
  decodeSeq,
  decodeWelcome,
  encodeError,
  encodeFetch,
  encodeFrame,
  encodeHello,
  encodeSeq,
  ERROR_AUTH,
  ERROR_BAD_FRAME,
  ERROR_POSITION_GONE,
  ERROR_REFUSED,
  ERROR_REPLICA_AHEAD,
  ERROR_VERSION,
  ERROR_WRONG_LEADER,
  type Frame,
  FRAME_ACK,
  FRAME_DATA,
  FRAME_ERROR,
  FRAME_FETCH,
  FRAME_HEARTBEAT,
  FRAME_HELLO,
  hexId,
  ID_BYTES,
  parseHexId,
  SYNC_PROTOCOL_VERSION,
  type Welcome,
} from "./frame.ts";
import { FrameReader, REPLICA_BEFORE_WELCOME, REPLICA_FROM_LEADER } from "./frame_reader.ts";
import { judgeWelcome } from "./handshake.ts";
import {
  FETCH_BYTES_DEFAULT,
  FETCH_WAIT_MS_DEFAULT,
  HANDSHAKE_TIMEOUT_MS,
  HEARTBEAT_MS_DEFAULT,
  REPLICATION_IDLE_TIMEOUT_MS_DEFAULT,
} from "../limits.ts";
import { bootstrapFromSnapshot } from "./replica_bootstrap.ts";
import { checkRecords } from "./replica_records.ts";
import { type ReplicaIdentity, saveIdentity } from "./state_files.ts";

/** A refusal: the link is not retried quickly, and says why in its status. */
export class RefusedError extends CityHallError {}

/** The session's settings (`ReplicaOptions` without the link's own). */
export interface SessionOptions {
  /** The leader's address (for log lines). */
  leader: string;
  authToken?: string;
  fetchBytes?: number;
  fetchWaitMs?: number;
  heartbeatMs?: number;
  idleTimeoutMs?: number;
  handshakeTimeoutMs?: number;
}

/** What a session reports to, and reads from, its link. */
export interface SessionOwner {
  readonly db: Database;
  readonly options: SessionOptions;
  readonly log: Logger;
  readonly identity: ReplicaIdentity;
  /** The link is connected (heartbeats go out only then). */
  isConnected(): boolean;
  /** Newest sequence acknowledged. */
  ackedSeq(): number;
  /** The link is closing: stop. */
  isClosing(): boolean;
  /** Bytes came from the leader. */
  contact(): void;
  /** WELCOME was accepted and the leader id recorded. */
  welcomed(welcome: Welcome, leaderId: string): void;
  /** The leader reported its durable sequence. */
  noteLeaderSeq(seq: number): void;
  /** `seq` is applied, fdatasync'ed and acknowledged (`segment`: the leader's, if known). */
  acked(seq: number, segment: number | undefined, caughtUp: boolean): void;
  /** Records flowed: reconnect delays start over. */
  healthy(): void;
  /** Applying failed (the database is failing): note why. */
  failed(message: string): void;
  /** Persist the status file now. */
  writeStatus(): void;
}

/** One connection to the leader; `run` resolves true when it was healthy. */
export class LinkSession {
  readonly #owner: SessionOwner;
  readonly #conn: Deno.Conn;
  readonly #reader: FrameReader;
  readonly #startedMs = Date.now();
  #welcomed = false;
  #lastReceivedMs = Date.now();
  #lastSentMs = Date.now();
  #sendChain: Promise<void> = Promise.resolve();
  #broken = false;
  #idleFired = false;
  /** The watchdog's clock: a late tick means this process stalled (`late_tick.ts`). */
  #ticks = new LateTicks(10);
  #deadlineFired = false;
  #pendingDurable: Promise<void> = Promise.resolve();
  /** A snapshot was installed or records were applied in this session. */
  #healthy = false;
  /** WELCOME's `firstSeq`: the oldest sequence the leader's WAL still holds. */
  #welcomeFirstSeq = 0;
  /** The leader forked a new history: this replica's data is replaced by a snapshot. */
  #replaceHistory = false;

  constructor(owner: SessionOwner, conn: Deno.Conn) {
    this.#owner = owner;
    this.#conn = conn;
    this.#reader = new FrameReader(conn, REPLICA_BEFORE_WELCOME);
    this.#reader.onBytes = () => {
      this.#lastReceivedMs = Date.now();
      owner.contact();
    };
  }

  /** Closes the connection; the session ends with an error. */
  abort(): void {
    this.#broken = true;
    try {
      this.#conn.close();
    } catch {
      // Already closed.
    }
  }

  #send(type: number, body: Uint8Array): void {
    const bytes = encodeFrame(type, body);
    this.#lastSentMs = Date.now();
    this.#sendChain = this.#sendChain.then(async () => {
      if (this.#broken) return;
      let off = 0;
      while (off < bytes.length) off += await this.#conn.write(bytes.subarray(off));
    }).catch(() => this.abort());
  }

  /**
   * Deadlines and heartbeats: the absolute WELCOME deadline, then idle and heartbeat. A late
   * tick (this process stalled, `late_tick.ts`) leaves the idle timeout to the next tick.
   */
  #watch(): void {
    const o = this.#owner.options;
    const now = Date.now();
    const late = this.#ticks.late(now);
    if (!this.#welcomed && now - this.#startedMs > (o.handshakeTimeoutMs ?? HANDSHAKE_TIMEOUT_MS)) {
      // Absolute: a leader (or an impostor) trickling bytes cannot hold the link open.
      this.#deadlineFired = true;
      this.abort();
    } else if (
      !late && now - this.#lastReceivedMs > (o.idleTimeoutMs ?? REPLICATION_IDLE_TIMEOUT_MS_DEFAULT)
    ) {
      this.#idleFired = true;
      this.abort();
    } else if (
      now - this.#lastSentMs >= (o.heartbeatMs ?? HEARTBEAT_MS_DEFAULT) &&
      this.#owner.isConnected()
    ) {
      this.#send(FRAME_HEARTBEAT, encodeSeq(this.#owner.ackedSeq(), now));
    }
  }

  /** The deadline that closed the link, if one did. */
  #silent(): string | undefined {
    const o = this.#owner.options;
    if (this.#deadlineFired) {
      return `Leader sent no WELCOME within ${o.handshakeTimeoutMs ?? HANDSHAKE_TIMEOUT_MS} ms`;
    }
    return this.#idleFired ? "Leader silent past the idle timeout" : undefined;
  }

  /** Runs the session; true when it was healthy (handshake done and data flowed). */
  async run(): Promise<boolean> {
    const o = this.#owner.options;
    const tickMs = Math.min(
      o.heartbeatMs ?? HEARTBEAT_MS_DEFAULT,
      o.idleTimeoutMs ?? REPLICATION_IDLE_TIMEOUT_MS_DEFAULT,
      o.handshakeTimeoutMs ?? HANDSHAKE_TIMEOUT_MS,
    );
    this.#ticks = new LateTicks(Math.max(10, tickMs / 2));
    const watchdog = setInterval(() => this.#watch(), this.#ticks.intervalMs);
    try {
      const leaderId = await this.#handshake();
      if (leaderId === undefined) return false;
      await this.#bootstrapIfNeeded(leaderId);
      await this.#stream();
      return this.#healthy;
    } catch (err) {
      if (err instanceof ProtocolError && !this.#broken) {
        this.#owner.log("error", "replication frame refused: nothing from it was applied", {
          leader: this.#owner.options.leader,
          error: err.message,
        });
        this.#send(FRAME_ERROR, encodeError(ERROR_BAD_FRAME, err.message));
      }
      throw err;
    } finally {
      // The watchdog keeps running until the last write settles (a leader that stopped
      // reading cannot hold the session).
      await this.#pendingDurable.catch(() => {});
      await this.#sendChain;
      clearInterval(watchdog);
      this.abort();
      if (this.#healthy) this.#owner.writeStatus();
    }
  }

  /** HELLO, then a WELCOME judged and recorded; the leader id, or undefined when closing. */
  async #handshake(): Promise<string | undefined> {
    const { db, identity } = this.#owner;
    if (identity.leaderId === null && db.lastSeq > 0) {
      // Data written before any leader was recorded is not a prefix of any leader's history:
      // streaming on top of it (or replacing it with a snapshot) would mix two histories.
      throw new RefusedError(
        `Refusing to replicate: ${db.dir} holds ${db.lastSeq} writes from no recorded leader (use an empty data directory)`,
      );
    }
    this.#send(
      FRAME_HELLO,
      encodeHello({
        version: SYNC_PROTOCOL_VERSION,
        replicaId: parseHexId(identity.replicaId)!,
        expectedLeaderId: identity.leaderId === null
          ? new Uint8Array(ID_BYTES)
          : parseHexId(identity.leaderId)!,
        nextSeq: db.lastSeq + 1,
        token: new TextEncoder().encode(this.#owner.options.authToken ?? ""),
      }),
    );
    const first = await this.#nextFrame();
    if (first.type === FRAME_ERROR) throw this.#leaderError(first.body);
    // The reader's policy let only WELCOME and ERROR through.
    const welcome = decodeWelcome(first.body);
    const leaderId = hexId(welcome.leaderId);
    this.#replaceHistory = judgeWelcome(welcome, { recordedLeaderId: identity.leaderId })
      .replaceHistory;
    if (this.#replaceHistory) {
      this.#owner.log("warn", "the leader forked a new history: replacing this replica's data", {
        recordedHistory: identity.leaderId ?? undefined,
        history: leaderId,
        position: db.lastSeq,
      });
    }
    // From here on the leader is the one this replica follows: its data frames (Snappy
    // included, validated before decompression) are accepted.
    this.#welcomed = true;
    this.#reader.policy = REPLICA_FROM_LEADER;
    if (identity.leaderId === null) {
      // Recorded durably before the first record is applied.
      identity.leaderId = leaderId;
      saveIdentity(replicationPort(db).fileSystem, db.dir, identity);
    }
    this.#welcomeFirstSeq = welcome.firstSeq;
    this.#owner.welcomed(welcome, leaderId);
    return leaderId;
  }

  /** A snapshot when the leader's WAL no longer holds the next sequence. */
  async #bootstrapIfNeeded(leaderId: string): Promise<void> {
    const { db, log } = this.#owner;
    const welcomeFirstSeq = this.#welcomeFirstSeq;
    const replaceHistory = this.#replaceHistory;
    if (db.lastSeq + 1 >= welcomeFirstSeq && !replaceHistory) return;
    if (db.lastSeq !== 0 && !replaceHistory) {
      // Same leader (checked), so the local data is an older prefix of its history:
      // replacing it with a newer checkpoint loses nothing.
      log("warn", "position no longer in the leader's WAL: bootstrapping from a snapshot", {
        position: db.lastSeq + 1,
        leaderFirstSeq: welcomeFirstSeq,
      });
    }
    await bootstrapFromSnapshot({
      db,
      log,
      fetchBytes: this.#owner.options.fetchBytes ?? FETCH_BYTES_DEFAULT,
      leaderId,
      replaceHistory,
      send: (type, body) => this.#send(type, body),
      nextWork: () => this.#nextWork(),
    });
    if (replaceHistory) {
      // Recorded only now: a crash before this bootstraps again, never streams on top.
      this.#owner.identity.leaderId = leaderId;
      saveIdentity(replicationPort(db).fileSystem, db.dir, this.#owner.identity);
      this.#replaceHistory = false;
    }
    this.#healthy = true;
    this.#send(FRAME_ACK, encodeSeq(db.lastSeq));
    this.#owner.acked(db.lastSeq, undefined, true);
    this.#owner.writeStatus();
  }

  /** FETCH, DATA, ACK until the link ends. */
  async #stream(): Promise<void> {
    const { db } = this.#owner;
    const o = this.#owner.options;
    const fetch = (fromSeq: number) =>
      this.#send(
        FRAME_FETCH,
        encodeFetch({
          fromSeq,
          maxBytes: o.fetchBytes ?? FETCH_BYTES_DEFAULT,
          waitMs: o.fetchWaitMs ?? FETCH_WAIT_MS_DEFAULT,
        }),
      );
    let next = db.lastSeq + 1;
    fetch(next);
    while (!this.#owner.isClosing()) {
      const frame = await this.#nextFrame();
      if (frame.type === FRAME_DATA) {
        const data = decodeData(frame.body);
        const records = checkRecords(data, next);
        this.#owner.noteLeaderSeq(data.durableSeq);
        // Distinct promises only: records of one group commit share one.
        const applied = new Set<Promise<void>>();
        for (const r of records) applied.add(replicationPort(db).applyReplicated(r.seq, r.payload));
        if (records.length > 0) {
          next = data.lastSeq + 1;
          this.#healthy = true;
          this.#owner.healthy();
          this.#acknowledge(Promise.all(applied), data.lastSeq, data.segmentId, data.durableSeq);
        }
        fetch(next);
      } else if (frame.type === FRAME_HEARTBEAT) {
        this.#owner.noteLeaderSeq(decodeSeq(frame.body, "HEARTBEAT"));
      } else if (frame.type === FRAME_ERROR) {
        throw this.#leaderError(frame.body);
      } else {
        throw new ProtocolError(`Unexpected frame type ${frame.type} from the leader`);
      }
    }
  }

  /** ACKs `lastSeq` once its records are fdatasync'ed (the next FETCH does not wait). */
  #acknowledge(applied: Promise<unknown>, lastSeq: number, segment: number, durable: number): void {
    const db = this.#owner.db;
    this.#pendingDurable = applied.then(async () => {
      // In sync mode "always" the group is fdatasync'ed when it resolves; a database opened
      // otherwise must sync before the ACK ("applied and fdatasync'ed").
      if (db.durableSeq < lastSeq) await db.sync();
      this.#send(FRAME_ACK, encodeSeq(lastSeq));
      this.#owner.acked(lastSeq, segment, lastSeq >= durable);
    });
    // A failed apply is fatal for the database; the session ends on the next frame.
    this.#pendingDurable.catch((err) => {
      this.#owner.failed(String(err));
      this.abort();
    });
  }

  /** The next frame; a deadline that closed the link is named in the error. */
  async #nextFrame(): Promise<Frame> {
    let frame;
    try {
      frame = await this.#reader.next();
    } catch (err) {
      const deadline = this.#silent();
      if (deadline !== undefined) throw new CityHallError(deadline);
      if (err instanceof ProtocolError) throw err;
      throw new CityHallError(`Connection lost: ${err instanceof Error ? err.message : err}`);
    }
    if (frame === undefined) throw new CityHallError(this.#silent() ?? "Leader closed the link");
    return frame;
  }

  /** The next frame that is not a HEARTBEAT (the leader sends them while it works). */
  async #nextWork(): Promise<Frame> {
    for (let i = 0; i < 1_000_000; i++) {
      const frame = await this.#nextFrame();
      if (frame.type === FRAME_HEARTBEAT) {
        this.#owner.noteLeaderSeq(decodeSeq(frame.body, "HEARTBEAT"));
        continue;
      }
      if (frame.type === FRAME_ERROR) throw this.#leaderError(frame.body);
      return frame;
    }
    throw new ProtocolError("Leader sends nothing but heartbeats");
  }

  /** An ERROR from the leader as the error the link acts on (refusal or retry). */
  #leaderError(body: Uint8Array): Error {
    const { code, message } = decodeError(body);
    const refusals = [
      ERROR_AUTH,
      ERROR_VERSION,
      ERROR_WRONG_LEADER,
      ERROR_POSITION_GONE,
      ERROR_REPLICA_AHEAD,
      ERROR_REFUSED,
    ];
    const text = code === ERROR_WRONG_LEADER
      ? `Refusing to replicate: leader id differs from the recorded ${this.#owner.identity.leaderId} (a different or re-initialised leader): ${message}`
      : `Leader refused: ${message} (code ${code})`;
    // An empty replica told its position is gone bootstraps on the next attempt: no refusal.
    const empty = code === ERROR_POSITION_GONE && this.#owner.db.lastSeq === 0;
    return refusals.includes(code) && !empty ? new RefusedError(text) : new CityHallError(text);
  }
}
