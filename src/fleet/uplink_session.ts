/**
 * One uplink connection on the edge: dial, UPLINK_HELLO, judge UPLINK_WELCOME, then answer the
 * hub's requests in order (FETCH with RECORDS, RESUME with RESUME_DATA, SNAPSHOT_REQUEST and
 * FILE_FETCH with the replication snapshot frames) until the link ends. The link (`uplink.ts`)
 * owns the state, the status, the windows and the reconnects. ARCHITECTURE.md § "Streaming".
 *
 * Invariants:
 * - The edge sends records only when asked, at most the bytes asked (at least one whole
 *   record), never above its `durableSeq`; under a rate limit a frame is sized to take about
 *   `UPLINK_FRAME_TARGET_MS` on the wire.
 * - Requests are answered in the order they came; the next one is served only once the
 *   previous answer is written (the rate limiter is the back pressure).
 * - An ACK above what this session sent (or the hub's WELCOME position) is a protocol error.
 *
 * @module
 */

import { replicationPort } from "../engine/mod.ts";
import { type ChunkGroup, rollupsOnly, toCatchUp } from "./catchup.ts";
import type { DatabaseCheckpoint } from "../engine/mod.ts";
import { CityHallError, ProtocolError } from "../errors.ts";
import { encodeManifest } from "../manifest/mod.ts";
import {
  CATCHUP_FRAME_BYTES_MIN,
  FETCH_BYTES_MAX,
  HANDSHAKE_TIMEOUT_MS,
  HEARTBEAT_MS_DEFAULT,
  REPLICATION_IDLE_TIMEOUT_MS_DEFAULT,
  UPLINK_ZSTD_LEVEL,
} from "../limits.ts";
import { WalFeed } from "../replication/feed.ts";
import {
  decodeError,
  decodeFetch,
  decodeFileFetch,
  decodeSeq,
  encodeError,
  encodeFileChunk,
  encodeFrame,
  encodeSeq,
  encodeSnapshotBegin,
  ERROR_AUTH,
  ERROR_BAD_FRAME,
  ERROR_POSITION_GONE,
  ERROR_REFUSED,
  ERROR_REPLICA_AHEAD,
  ERROR_SHUTDOWN,
  ERROR_VERSION,
  ERROR_WRONG_LEADER,
  type Fetch,
  type FileRange,
  type Frame,
  FRAME_ACK,
  FRAME_CHUNKS,
  FRAME_ERROR,
  FRAME_FETCH,
  FRAME_FILE_CHUNK,
  FRAME_FILE_FETCH,
  FRAME_HEARTBEAT,
  FRAME_RECORDS,
  FRAME_RESUME,
  FRAME_RESUME_DATA,
  FRAME_SNAPSHOT_BEGIN,
  FRAME_SNAPSHOT_REQUEST,
  FRAME_UPLINK_HELLO,
  ID_BYTES,
  parseHexId,
} from "../replication/frame.ts";
import { FrameReader } from "../replication/frame_reader.ts";
import { fileCrc } from "../replication/snapshot.ts";
import {
  decodeResume,
  decodeUplinkWelcome,
  EDGE_BEFORE_WELCOME,
  EDGE_FROM_HUB,
  encodeRecords,
  encodeResumeData,
  encodeUplinkHello,
  hex,
  RESUME_GONE,
  RESUME_REST,
  SHIP_RAW,
  SHIP_ROLLUPS,
  UPLINK_PROTOCOL_VERSION,
  type UplinkWelcome,
} from "./frames.ts";
import { FrameSender } from "./link.ts";
import { payloadsOf, walBytesAbove } from "./edge_wal.ts";
import type { UplinkOwner } from "./uplink.ts";

/** The hub refused this edge (wrong token, another edge's site, …): retry slowly, log once. */
export class RefusedError extends CityHallError {}

type Job =
  | { kind: "fetch"; fetch: Fetch; deadlineMs: number }
  | { kind: "resume"; crc: number; bodyLength: number; haveBytes: number }
  | { kind: "snapshot" }
  | { kind: "file"; range: FileRange };

/** One connection to the hub; `run` resolves true when it was healthy. */
export class UplinkSession {
  readonly #owner: UplinkOwner;
  readonly #conn: Deno.Conn;
  readonly #reader: FrameReader;
  readonly #sender: FrameSender;
  readonly #feed: WalFeed;
  readonly #startedMs = Date.now();
  #welcomed = false;
  #broken = false;
  #lastReceivedMs = Date.now();
  #jobs: Job[] = [];
  #wake: (() => void) | undefined;
  /** Where a `FETCH(0)` continues: one past the last record sent in this session. */
  #cursor = 0;
  /** Newest sequence this session sent, or the hub held at WELCOME. */
  #sentMax = 0;
  #healthy = false;
  #checkpoint:
    | { cp: DatabaseCheckpoint; files: Map<number, { path: string; sizeBytes: number }> }
    | undefined;
  #offDurable: () => void;
  #endReason: string | undefined;

  constructor(owner: UplinkOwner, conn: Deno.Conn) {
    this.#owner = owner;
    this.#conn = conn;
    this.#reader = new FrameReader(conn, EDGE_BEFORE_WELCOME);
    this.#reader.onBytes = () => {
      this.#lastReceivedMs = Date.now();
      owner.contact();
    };
    this.#sender = new FrameSender(conn, {
      ...(owner.limiter !== undefined ? { limiter: owner.limiter } : {}),
      onWritten: (n) => owner.wrote(n),
    });
    this.#feed = new WalFeed(owner.db);
    this.#offDurable = replicationPort(owner.db).onDurable(() => this.#wake?.());
  }

  /** Closes the connection; the session ends. */
  abort(): void {
    this.#broken = true;
    this.#sender.stop();
    this.#wake?.();
    try {
      this.#conn.close();
    } catch {
      // Already closed.
    }
  }

  /** Ends the session politely (a window closed, the edge stops): ERROR 7, then close. */
  end(reason: string): void {
    if (this.#broken) return;
    this.#endReason = reason;
    void this.#sender.send(encodeFrame(FRAME_ERROR, encodeError(ERROR_SHUTDOWN, reason)))
      .finally(() => this.abort());
  }

  #send(type: number, body: Uint8Array, zstd = false): Promise<void> {
    const level = this.#owner.options.zstdLevel ?? UPLINK_ZSTD_LEVEL;
    return this.#sender.send(encodeFrame(type, body, zstd ? { zstdLevel: level } : false));
  }

  /** Deadlines and heartbeats. */
  #watch(): void {
    const o = this.#owner.options;
    const now = Date.now();
    if (!this.#welcomed && now - this.#startedMs > (o.handshakeTimeoutMs ?? HANDSHAKE_TIMEOUT_MS)) {
      this.#endReason = `Hub sent no UPLINK_WELCOME within ${
        o.handshakeTimeoutMs ?? HANDSHAKE_TIMEOUT_MS
      } ms`;
      this.abort();
    } else if (
      now - this.#lastReceivedMs > (o.idleTimeoutMs ?? REPLICATION_IDLE_TIMEOUT_MS_DEFAULT)
    ) {
      this.#endReason = "Hub silent past the idle timeout";
      this.abort();
    } else if (
      this.#welcomed && now - this.#sender.lastQueuedMs >= (o.heartbeatMs ?? HEARTBEAT_MS_DEFAULT)
    ) {
      void this.#send(FRAME_HEARTBEAT, encodeSeq(this.#owner.db.durableSeq, now));
    }
  }

  /** Runs the session; true when it was healthy (records or a snapshot were acknowledged). */
  async run(): Promise<boolean> {
    const o = this.#owner.options;
    const tickMs = Math.min(
      o.heartbeatMs ?? HEARTBEAT_MS_DEFAULT,
      o.idleTimeoutMs ?? REPLICATION_IDLE_TIMEOUT_MS_DEFAULT,
      o.handshakeTimeoutMs ?? HANDSHAKE_TIMEOUT_MS,
    );
    const watchdog = setInterval(() => this.#watch(), Math.max(10, tickMs / 2));
    let serving: Promise<void> | undefined;
    try {
      await this.#handshake();
      this.#reader.policy = EDGE_FROM_HUB;
      serving = this.#serve();
      serving.catch(() => this.abort());
      await this.#readLoop();
      return this.#healthy;
    } catch (err) {
      if (err instanceof ProtocolError && !this.#broken) {
        this.#owner.log("error", "uplink frame refused", { error: err.message });
        void this.#send(FRAME_ERROR, encodeError(ERROR_BAD_FRAME, err.message));
      }
      if (this.#endReason !== undefined && !(err instanceof RefusedError)) {
        throw new CityHallError(this.#endReason);
      }
      throw err;
    } finally {
      this.#broken = true;
      this.#wake?.();
      await serving?.catch(() => {});
      await this.#sender.drained();
      clearInterval(watchdog);
      this.#offDurable();
      this.#feed.close();
      this.#checkpoint?.cp.release();
      this.abort();
    }
  }

  async #nextFrame(): Promise<Frame> {
    let frame;
    try {
      frame = await this.#reader.next();
    } catch (err) {
      if (this.#endReason !== undefined) throw new CityHallError(this.#endReason);
      if (err instanceof ProtocolError && this.#reader.cutFrame === undefined) throw err;
      throw new CityHallError(`Connection lost: ${err instanceof Error ? err.message : err}`);
    }
    if (frame === undefined) throw new CityHallError(this.#endReason ?? "Hub closed the link");
    return frame;
  }

  /** UPLINK_HELLO, then UPLINK_WELCOME judged and recorded. */
  async #handshake(): Promise<void> {
    const { db, store, options } = this.#owner;
    const hubId = store.state.hubId;
    void this.#send(
      FRAME_UPLINK_HELLO,
      encodeUplinkHello({
        version: UPLINK_PROTOCOL_VERSION,
        site: options.site,
        shipMode: this.#owner.options.ship === "rollups" ? SHIP_ROLLUPS : SHIP_RAW,
        edgeId: db.databaseId,
        expectedHubId: hubId === null ? new Uint8Array(ID_BYTES) : parseHexId(hubId)!,
        edgeDurableSeq: db.durableSeq,
        edgeFirstSeq: this.#feed.firstAvailableSeq(),
        rateLimitBytesPerSec: this.#owner.limiter?.bytesPerSec ?? 0,
        token: new TextEncoder().encode(options.token),
      }),
    );
    const first = await this.#nextFrame();
    if (first.type === FRAME_ERROR) throw this.#hubError(first.body);
    const welcome: UplinkWelcome = decodeUplinkWelcome(first.body);
    if (welcome.position > db.durableSeq) {
      void this.#send(
        FRAME_ERROR,
        encodeError(ERROR_REPLICA_AHEAD, "Hub position is beyond this edge's durable sequence"),
      );
      throw new RefusedError(
        `Refusing to sync: the hub holds this site up to ${welcome.position}, beyond this edge's ${db.durableSeq}`,
      );
    }
    this.#welcomed = true;
    this.#sentMax = welcome.position;
    this.#cursor = welcome.position + 1;
    this.#owner.welcomed(hex(welcome.hubId), welcome.position);
  }

  /** Frames from the hub: requests are queued for `#serve`, ACKs taken at once. */
  async #readLoop(): Promise<void> {
    while (!this.#broken) {
      const frame = await this.#nextFrame();
      switch (frame.type) {
        case FRAME_FETCH: {
          const fetch = decodeFetch(frame.body);
          const waitMs = Math.min(fetch.waitMs, this.#owner.options.heartbeatMs ?? 1000);
          this.#push({ kind: "fetch", fetch, deadlineMs: Date.now() + waitMs });
          break;
        }
        case FRAME_RESUME:
          this.#push({ kind: "resume", ...decodeResume(frame.body) });
          break;
        case FRAME_SNAPSHOT_REQUEST:
          this.#push({ kind: "snapshot" });
          break;
        case FRAME_FILE_FETCH:
          this.#push({ kind: "file", range: decodeFileFetch(frame.body) });
          break;
        case FRAME_ACK:
          this.#onAck(decodeSeq(frame.body, "ACK"));
          break;
        case FRAME_HEARTBEAT:
          decodeSeq(frame.body, "HEARTBEAT");
          break;
        case FRAME_ERROR:
          throw this.#hubError(frame.body);
        default:
          throw new ProtocolError(`Unexpected frame type ${frame.type} from the hub`);
      }
    }
  }

  #push(job: Job): void {
    this.#jobs.push(job);
    this.#wake?.();
  }

  #onAck(seq: number): void {
    const durable = this.#owner.db.durableSeq;
    if (seq > durable || seq > this.#sentMax) {
      throw new ProtocolError(
        `Hub acknowledged ${seq}, but was sent only up to ${Math.min(this.#sentMax, durable)}`,
      );
    }
    this.#healthy = true;
    this.#owner.acked(seq);
  }

  /** Waits for a job, a durable write or `ms`, whichever comes first. */
  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, Math.max(0, ms));
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = () => {
        this.#wake = undefined;
        done();
      };
    });
  }

  /** Answers the hub's requests in order until the session ends. */
  async #serve(): Promise<void> {
    while (!this.#broken) {
      const job = this.#jobs[0];
      if (job === undefined) {
        await this.#sleep(60_000);
        continue;
      }
      if (job.kind === "fetch") {
        const waitMs = await this.#answerFetch(job);
        if (waitMs > 0) {
          await this.#sleep(waitMs);
          continue;
        }
      } else if (job.kind === "resume") await this.#answerResume(job);
      else if (job.kind === "snapshot") await this.#answerSnapshot();
      else await this.#answerFile(job.range);
      this.#jobs.shift();
    }
  }

  /** Record bytes for one frame: what the hub asked, cut to the frame target under a limit. */
  #budget(maxBytes: number): number {
    return this.#owner.tuner.budget(Math.max(1, Math.min(maxBytes, FETCH_BYTES_MAX)));
  }

  /** Answers a FETCH (0 = done), or says how long to wait for new records. */
  async #answerFetch(job: Job & { kind: "fetch" }): Promise<number> {
    const from = job.fetch.fromSeq === 0 ? this.#cursor : job.fetch.fromSeq;
    const result = this.#feed.read(from, this.#budget(job.fetch.maxBytes));
    if (result.status === "gone") {
      this.#owner.log("warn", "the hub needs records no longer in the WAL: it takes a snapshot", {
        fromSeq: from,
        firstAvailableSeq: result.firstAvailableSeq,
      });
      await this.#send(
        FRAME_ERROR,
        encodeError(
          ERROR_POSITION_GONE,
          `Sequence ${from} is no longer in the edge's WAL (oldest ${result.firstAvailableSeq})`,
        ),
      );
      this.abort();
      return 0;
    }
    if (result.status === "wait") {
      const left = job.deadlineMs - Date.now();
      if (left > 0) return left;
      await this.#sendRecords(from, from - 1, []);
      return 0;
    }
    // Catching up when more durable records wait behind this frame, or the frame is a big
    // backlog's last one (live traffic: raw records).
    const catchUp = this.#owner.options.catchUpChunks !== false &&
      (result.lastSeq < this.#owner.db.durableSeq ||
        result.bytes.length >= CATCHUP_FRAME_BYTES_MIN);
    await this.#sendRecords(result.firstSeq, result.lastSeq, payloadsOf(result.bytes), catchUp);
    return 0;
  }

  /** Sends one RECORDS or CHUNKS frame (kept for RESUME); resolves once written. */
  async #sendRecords(
    firstSeq: number,
    lastSeq: number,
    records: Uint8Array[],
    catchUp = false,
  ): Promise<void> {
    const { db, options } = this.#owner;
    let rawBytes = 0;
    for (const p of records) rawBytes += p.length;
    let payloads = records;
    if (options.ship === "rollups" && options.isRollup !== undefined) {
      const isRollup = options.isRollup;
      payloads = payloads.map((p) => rollupsOnly(p, isRollup));
    }
    let groups: ChunkGroup[] | undefined;
    if (catchUp && payloads.length > 0) {
      const converted = toCatchUp(payloads);
      // Nothing to gather (strings, metadata): the records go as they are.
      if (converted.groups.length > 0) ({ payloads, groups } = converted);
    }
    const durable = db.durableSeq;
    const behind = this.#owner.behind(lastSeq);
    const body = encodeRecords({
      firstSeq,
      lastSeq,
      edgeDurableSeq: Math.max(durable, lastSeq),
      behindBytes: walBytesAbove(db, lastSeq),
      behindMs: behind,
      payloads,
      ...(groups !== undefined ? { groups } : {}),
    });
    const tuner = this.#owner.tuner;
    const level = this.#owner.options.zstdLevel ?? tuner.level;
    const started = performance.now();
    const type = groups !== undefined ? FRAME_CHUNKS : FRAME_RECORDS;
    const bytes = encodeFrame(type, body, { zstdLevel: level });
    // Sizes in raw record bytes: the tuner's budget is counted in them.
    tuner.observe(level, rawBytes, bytes.length, performance.now() - started);
    if (payloads.length > 0) {
      this.#owner.cache.add(bytes, lastSeq);
      this.#cursor = lastSeq + 1;
      this.#sentMax = Math.max(this.#sentMax, lastSeq);
    }
    await this.#sender.send(bytes);
  }

  async #answerResume(job: Job & { kind: "resume" }): Promise<void> {
    const kept = this.#owner.cache.find(job.crc, job.bodyLength);
    if (kept === undefined || job.haveBytes < 12 || job.haveBytes >= kept.bytes.length) {
      await this.#send(
        FRAME_RESUME_DATA,
        encodeResumeData(RESUME_GONE, job.crc, 0, new Uint8Array(0)),
      );
      return;
    }
    this.#cursor = kept.lastSeq + 1;
    this.#sentMax = Math.max(this.#sentMax, kept.lastSeq);
    this.#owner.resumed();
    await this.#send(
      FRAME_RESUME_DATA,
      encodeResumeData(RESUME_REST, job.crc, job.haveBytes, kept.bytes.subarray(job.haveBytes)),
    );
  }

  /** A checkpoint of the edge's tables for the hub (the same as a leader's for a replica). */
  async #answerSnapshot(): Promise<void> {
    const { db, log } = this.#owner;
    this.#checkpoint?.cp.release();
    this.#checkpoint = undefined;
    const cp = await replicationPort(db).checkpoint();
    try {
      if (db.durableSeq < cp.manifest.flushedSeq) await db.sync();
    } catch (err) {
      cp.release();
      throw err;
    }
    if (this.#broken) {
      cp.release();
      return;
    }
    const files = new Map<number, { path: string; sizeBytes: number }>();
    const listed = cp.manifest.tables.map((t, i) => {
      const path = cp.tablePaths[i]!;
      const { crc, sizeBytes } = fileCrc(replicationPort(db).fileSystem, path);
      files.set(t.fileNumber, { path, sizeBytes });
      return { fileNumber: t.fileNumber, sizeBytes, crc };
    });
    this.#checkpoint = { cp, files };
    this.#sentMax = Math.max(this.#sentMax, cp.manifest.flushedSeq);
    this.#cursor = cp.manifest.flushedSeq + 1;
    this.#owner.snapshotSent();
    log("info", "sending a snapshot to the hub", {
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

  async #answerFile(range: FileRange): Promise<void> {
    const file = this.#checkpoint?.files.get(range.fileNumber);
    if (file === undefined || range.offset > file.sizeBytes) {
      throw new ProtocolError(
        `FILE_FETCH of file ${range.fileNumber} at ${range.offset}: not in the checkpoint`,
      );
    }
    const bytes = Math.min(this.#budget(range.maxBytes), file.sizeBytes - range.offset);
    const buf = new Uint8Array(bytes);
    const handle = replicationPort(this.#owner.db).fileSystem.open(file.path);
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
    await this.#send(
      FRAME_FILE_CHUNK,
      encodeFileChunk(range.fileNumber, range.offset, buf.subarray(0, done)),
      true,
    );
  }

  /** An ERROR from the hub as the error the link acts on (refusal or retry). */
  #hubError(body: Uint8Array): Error {
    const { code, message } = decodeError(body);
    const refusals = [ERROR_AUTH, ERROR_VERSION, ERROR_WRONG_LEADER, ERROR_REPLICA_AHEAD];
    const text = `Hub refused: ${message} (code ${code})`;
    // REFUSED covers a removed or changed site (lasting) and a replaced session (transient).
    const lasting = refusals.includes(code) ||
      (code === ERROR_REFUSED && /removed|changed|ship mode|Too many/.test(message));
    return lasting ? new RefusedError(text) : new CityHallError(text);
  }
}
