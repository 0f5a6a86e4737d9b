/**
 * `WalWriter`: appends batches to the WAL with group commit. Format: `format.ts` and
 * ARCHITECTURE.md § "WAL".
 *
 * `append` is synchronous: it assigns the batch its sequence numbers, encodes the record into
 * the open commit group and schedules a flush with `setImmediate` (~3 µs; `setTimeout(0)` costs
 * ~2 ms). The flush writes the group with one synchronous `writeAt` and, in sync mode
 * "always", one synchronous `fdatasync` (~140 µs here, against ~230 µs through the async
 * pool), then settles the group's one shared promise. Every append issued before the flush
 * runs is in it; appends issued after it join the next one.
 *
 * Invariants:
 * - A commit group holds either one record, or records totalling at most
 *   `groupCommitBytesMax` bytes; in "always" mode it is synced before the next group is
 *   written, so at most that many bytes (or one record) are ever unsynced. The segment header
 *   records the bound (`unsyncedBytesMax`) for recovery.
 * - Records go to the active segment in sequence order; a record that does not fit the free
 *   space goes to the next segment; the active segment is fdatasync'ed before any byte goes to
 *   the next one (in every sync mode), so only the newest segment holding records can end torn.
 * - The writer never appends into a segment it did not create: `open` starts a fresh segment,
 *   and the torn tail recovery cut stays in an older, finished file.
 * - A failed write or sync is fatal: the data in the page cache is in an unknown state
 *   (Linux may drop the dirty pages and report the error only once), so the writer never
 *   retries. The failing group and every queued group reject, and every later `append` throws,
 *   with `IoError`.
 *
 * @module
 */

import { setImmediate } from "node:timers";
import { ClosedError, InvalidArgumentError, IoError } from "../errors.ts";
import type { File, FileSystem } from "../fs/mod.ts";
import {
  BATCH_OPS_MAX,
  WAL_GROUP_COMMIT_BYTES_MAX,
  WAL_RECORD_HEADER_BYTES,
  WAL_RECORD_PAYLOAD_BYTES_MAX,
  WAL_SEGMENT_SIZE_BYTES_DEFAULT,
  WAL_SEGMENT_SIZE_BYTES_MAX,
} from "../limits.ts";
import { assert } from "../util/assert.ts";
import type { Logger } from "../util/log.ts";
import { SegmentPreparer } from "./_segment_file.ts";
import {
  batchPayloadBytes,
  encodeBatchInto,
  sealRecord,
  WAL_RECORD_TYPE_BATCH,
  WAL_SEGMENT_HEADER_BYTES,
  type WalOp,
} from "./format.ts";
import { listSegmentIds, removeTempSegments, type SegmentInfo } from "./reader.ts";

/** When `append`'s `durable` promise resolves relative to `fdatasync`. */
export type WalSyncMode = "always" | "interval" | "none";

/** Options of `WalWriter.open`. */
export interface WalWriterOptions {
  /** Size of each preallocated segment (default `WAL_SEGMENT_SIZE_BYTES_DEFAULT`). */
  segmentSizeBytes?: number;
  /**
   * "always" (default): `durable` resolves after the record is fdatasync'ed. "interval": after
   * the write reaches the OS; a timer syncs `syncIntervalMs` after the first unsynced write.
   * "none": after the write; synced only at a segment switch, `sync()` and `close()`.
   */
  syncMode?: WalSyncMode;
  /** Sync delay in "interval" mode (default 100 ms). */
  syncIntervalMs?: number;
  /** Sequence of the first op appended (recovery's `lastSeq + 1`, at least 1). */
  nextSeq: number;
  /** Lowest id for the first new segment (recovery's `nextSegmentId`); default: after every existing one. */
  nextSegmentId?: number;
  /** Segments found by recovery, reported by `segments()` until removed. */
  recoveredSegments?: readonly SegmentInfo[];
  /** Most bytes in one commit group (default `WAL_GROUP_COMMIT_BYTES_MAX`); for tests. */
  groupCommitBytesMax?: number;
  /** Receives warnings (background preallocation failures) and the fatal error. */
  logger?: Logger;
}

/** What `append` returns. */
export interface WalAppendResult {
  /** Sequence of the batch's first op; op i has `seq + i`. */
  seq: number;
  /** Resolves when the record is durable under the sync mode; rejects with `IoError`. */
  durable: Promise<void>;
}

interface CommitGroup {
  buf: Uint8Array;
  bytes: number;
  /** End offset (in `buf`) of each record. */
  recordEnds: number[];
  /** Sequence of each record's first op. */
  recordSeqs: number[];
  /** Sequence of the group's last op. */
  lastSeq: number;
  promise: Promise<void>;
  resolve: () => void;
  reject: (err: Error) => void;
}

interface ActiveSegment {
  info: SegmentInfo;
  file: File;
  /** Full preallocated size. */
  capacityBytes: number;
  /** Bytes written but not yet fdatasync'ed. */
  dirty: boolean;
}

const GROUP_BUFFER_BYTES_MIN = 16 * 1024;
const SYNC_INTERVAL_MS_DEFAULT = 100;

/** Appends batches to WAL segments with group commit. */
export class WalWriter {
  readonly #fs: FileSystem;
  readonly #dir: string;
  readonly #segmentSizeBytes: number;
  readonly #syncMode: WalSyncMode;
  readonly #syncIntervalMs: number;
  readonly #groupBytesMax: number;
  readonly #logger: Logger | undefined;
  /** Every segment on disk, oldest first; the last is the active one. */
  #segments: SegmentInfo[];
  #active!: ActiveSegment;
  #next: SegmentPreparer | undefined;
  #nextSeq: number;
  /** Groups waiting to be written, oldest first; the last may still take records. */
  #queue: CommitGroup[] = [];
  #flushScheduled = false;
  #immediate: ReturnType<typeof setImmediate> | undefined;
  #syncTimer: ReturnType<typeof setTimeout> | undefined;
  #failed: IoError | undefined;
  #closing = false;
  #spareBuffer: Uint8Array | undefined;
  /** Sequence of the last op written to a segment file (not necessarily synced). */
  #writtenSeq: number;
  /** Sequence of the last op fdatasync'ed; replication ships nothing above it. */
  #durableSeq: number;
  /** Called with the new `durableSeq` after each sync that made records durable. */
  #durableListeners = new Set<(durableSeq: number) => void>();

  private constructor(fs: FileSystem, dir: string, options: WalWriterOptions) {
    this.#fs = fs;
    this.#dir = dir;
    this.#segmentSizeBytes = options.segmentSizeBytes ?? WAL_SEGMENT_SIZE_BYTES_DEFAULT;
    this.#syncMode = options.syncMode ?? "always";
    this.#syncIntervalMs = options.syncIntervalMs ?? SYNC_INTERVAL_MS_DEFAULT;
    this.#groupBytesMax = options.groupCommitBytesMax ?? WAL_GROUP_COMMIT_BYTES_MAX;
    this.#logger = options.logger;
    this.#nextSeq = options.nextSeq;
    // Recovered records were read back from the files: treated as durable.
    this.#writtenSeq = options.nextSeq - 1;
    this.#durableSeq = options.nextSeq - 1;
    this.#segments = (options.recoveredSegments ?? []).map((s) => ({ ...s }));
  }

  /**
   * Opens a writer on `dir` after recovery: removes leftover `.wal.tmp` files, creates and
   * activates a fresh segment synchronously, and starts preallocating the next one.
   * Throws `InvalidArgumentError` on bad options.
   */
  static open(fs: FileSystem, dir: string, options: WalWriterOptions): WalWriter {
    const segmentSizeBytes = options.segmentSizeBytes ?? WAL_SEGMENT_SIZE_BYTES_DEFAULT;
    const minSegment = WAL_SEGMENT_HEADER_BYTES + WAL_RECORD_HEADER_BYTES + 1;
    if (
      !Number.isSafeInteger(segmentSizeBytes) || segmentSizeBytes < minSegment ||
      segmentSizeBytes > WAL_SEGMENT_SIZE_BYTES_MAX
    ) {
      throw new InvalidArgumentError(
        `Invalid WAL segmentSizeBytes: ${segmentSizeBytes} (must be an integer from ${minSegment} to ${WAL_SEGMENT_SIZE_BYTES_MAX})`,
      );
    }
    if (!Number.isSafeInteger(options.nextSeq) || options.nextSeq < 1) {
      throw new InvalidArgumentError(`Invalid WAL nextSeq: ${options.nextSeq} (must be ≥ 1)`);
    }
    const interval = options.syncIntervalMs ?? SYNC_INTERVAL_MS_DEFAULT;
    if (!Number.isSafeInteger(interval) || interval < 1) {
      throw new InvalidArgumentError(`Invalid WAL syncIntervalMs: ${interval} (must be ≥ 1)`);
    }
    const group = options.groupCommitBytesMax ?? WAL_GROUP_COMMIT_BYTES_MAX;
    if (!Number.isSafeInteger(group) || group < 1 || group > 0xffff_ffff) {
      throw new InvalidArgumentError(`Invalid WAL groupCommitBytesMax: ${group}`);
    }
    const mode = options.syncMode ?? "always";
    if (mode !== "always" && mode !== "interval" && mode !== "none") {
      throw new InvalidArgumentError(
        `Invalid WAL syncMode: ${mode} (must be always, interval or none)`,
      );
    }
    fs.mkdirp(dir);
    removeTempSegments(fs, dir);
    const existing = listSegmentIds(fs, dir);
    const firstId = Math.max(
      options.nextSegmentId ?? 1,
      existing.length > 0 ? existing[existing.length - 1]! + 1 : 1,
    );
    const writer = new WalWriter(fs, dir, options);
    const first = writer.#newPreparer(firstId, segmentSizeBytes);
    first.finishSync();
    writer.#activate(first);
    return writer;
  }

  /** Sequence of the last op appended (not necessarily durable yet); 0 before any. */
  get lastSeq(): number {
    return this.#nextSeq - 1;
  }

  /** Sequence of the last op known fdatasync'ed (recovered records count as durable). */
  get durableSeq(): number {
    return this.#durableSeq;
  }

  /**
   * Calls `listener(durableSeq)` synchronously after every sync that makes new records
   * durable (replication's change feed). Returns a function that removes the listener.
   */
  addDurableListener(listener: (durableSeq: number) => void): () => void {
    this.#durableListeners.add(listener);
    return () => this.#durableListeners.delete(listener);
  }

  /** Id of the segment being written; retention never deletes it. */
  get activeSegmentId(): number {
    return this.#active.info.id;
  }

  /** The sync mode. */
  get syncMode(): WalSyncMode {
    return this.#syncMode;
  }

  /**
   * Every segment on disk (recovered ones included), oldest first, the active one last.
   * `firstSeq`/`lastSeq` are 0 for a segment without records; `sizeBytes` counts bytes
   * written. The preallocated next segment is not listed until it becomes active.
   */
  segments(): SegmentInfo[] {
    return this.#segments.map((s) => ({ ...s }));
  }

  /**
   * Queues `ops` as one record and returns its first sequence at once, plus a promise that
   * settles when the record is durable under the sync mode. Throws `IoError` when the writer
   * has failed, `ClosedError` when it is closed, `InvalidArgumentError` for a record over
   * `WAL_RECORD_PAYLOAD_BYTES_MAX`. REQUIRES: 1 ≤ ops.length ≤ BATCH_OPS_MAX, ops validated
   * against `src/limits.ts` (the engine does it).
   */
  append(ops: readonly WalOp[]): WalAppendResult {
    if (this.#failed) throw this.#failedError();
    if (this.#closing) throw new ClosedError("Cannot write: WAL is closed");
    assert(ops.length >= 1, "empty batch");
    assert(ops.length <= BATCH_OPS_MAX, "batch over BATCH_OPS_MAX");
    const payloadBytes = batchPayloadBytes(ops);
    if (payloadBytes > WAL_RECORD_PAYLOAD_BYTES_MAX) {
      throw new InvalidArgumentError(
        `Batch too large for the WAL: ${payloadBytes} bytes (limit ${WAL_RECORD_PAYLOAD_BYTES_MAX} bytes)`,
      );
    }
    const recordBytes = WAL_RECORD_HEADER_BYTES + payloadBytes;
    const seq = this.#nextSeq;
    const group = this.#groupFor(recordBytes);
    const at = group.bytes;
    const end = encodeBatchInto(group.buf, at + WAL_RECORD_HEADER_BYTES, ops);
    assert(end === at + recordBytes, "record size mismatch");
    sealRecord(group.buf, at, payloadBytes, seq, WAL_RECORD_TYPE_BATCH);
    group.bytes = end;
    group.recordEnds.push(end);
    group.recordSeqs.push(seq);
    group.lastSeq = seq + ops.length - 1;
    this.#nextSeq = seq + ops.length;
    this.#scheduleFlush();
    return { seq, durable: group.promise };
  }

  /**
   * Like `append`, for an already encoded batch payload that must keep the sequence `seq`
   * given by another database (replication). The payload is copied into the commit group.
   * REQUIRES: seq === lastSeq + 1 (the engine checks it and reports gaps as errors);
   * `opCount` is the payload's op count and the payload decodes (the engine decoded it).
   */
  appendPayload(seq: number, payload: Uint8Array, opCount: number): WalAppendResult {
    if (this.#failed) throw this.#failedError();
    if (this.#closing) throw new ClosedError("Cannot write: WAL is closed");
    assert(seq === this.#nextSeq, `replicated record ${seq} is not next (${this.#nextSeq})`);
    assert(opCount >= 1 && opCount <= BATCH_OPS_MAX, "bad replicated op count");
    if (payload.length > WAL_RECORD_PAYLOAD_BYTES_MAX) {
      throw new InvalidArgumentError(
        `Batch too large for the WAL: ${payload.length} bytes (limit ${WAL_RECORD_PAYLOAD_BYTES_MAX} bytes)`,
      );
    }
    const recordBytes = WAL_RECORD_HEADER_BYTES + payload.length;
    const group = this.#groupFor(recordBytes);
    const at = group.bytes;
    group.buf.set(payload, at + WAL_RECORD_HEADER_BYTES);
    sealRecord(group.buf, at, payload.length, seq, WAL_RECORD_TYPE_BATCH);
    group.bytes = at + recordBytes;
    group.recordEnds.push(group.bytes);
    group.recordSeqs.push(seq);
    group.lastSeq = seq + opCount - 1;
    this.#nextSeq = seq + opCount;
    this.#scheduleFlush();
    return { seq, durable: group.promise };
  }

  /**
   * Continues the sequence at `nextSeq`, past every record written so far (a replica that
   * installed a snapshot at `nextSeq - 1`). When the active segment holds records it is synced
   * and a fresh segment starts, so that the older segments can all be deleted.
   * REQUIRES: nothing queued; nextSeq > lastSeq.
   */
  restartAt(nextSeq: number): void {
    assert(Number.isSafeInteger(nextSeq) && nextSeq >= this.#nextSeq, `bad nextSeq ${nextSeq}`);
    assert(this.#queue.length === 0, "restarting a WAL with queued records");
    if (this.#failed) throw this.#failedError();
    if (this.#active.info.lastSeq !== 0) this.#roll(0);
    this.#nextSeq = nextSeq;
    this.#writtenSeq = nextSeq - 1;
    this.#durableSeq = nextSeq - 1;
  }

  /** Writes everything queued and fdatasyncs the active segment, whatever the sync mode. */
  sync(): Promise<void> {
    if (this.#failed) return Promise.reject(this.#failedError());
    if (this.#closing) return Promise.reject(new ClosedError("Cannot sync: WAL is closed"));
    try {
      this.#flushAll();
      this.#syncActive();
      return Promise.resolve();
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * Removes segment `id` (file and directory entry, durably). The engine decides which:
   * segments whose `lastSeq` is covered by durable tables. REQUIRES: not the active segment.
   */
  removeSegment(id: number): void {
    assert(id !== this.#active.info.id, "removing the active WAL segment");
    const index = this.#segments.findIndex((s) => s.id === id);
    if (index < 0) {
      throw new InvalidArgumentError(`Cannot remove WAL segment ${id}: no such segment`);
    }
    const segment = this.#segments[index]!;
    try {
      this.#fs.remove(segment.path);
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
    this.#fs.syncDir(this.#dir);
    this.#segments.splice(index, 1);
  }

  /**
   * Writes and syncs everything queued, closes the files and removes the preallocated next
   * segment (never used) and the active segment when it holds no record. The active segment
   * with records stays: the next open replays it. Rejects with the failure when the writer had
   * failed (files are closed all the same).
   */
  async close(): Promise<void> {
    if (this.#closing) return;
    let error: unknown;
    try {
      this.#flushAll();
      this.#syncActive();
    } catch (err) {
      error = err;
    }
    this.#closing = true;
    if (this.#immediate !== undefined) clearImmediate(this.#immediate);
    if (this.#syncTimer !== undefined) clearTimeout(this.#syncTimer);
    this.#immediate = undefined;
    this.#syncTimer = undefined;
    const active = this.#active;
    try {
      active.file.close();
    } catch {
      // Nothing left to do with a handle that cannot close.
    }
    const leftovers: Promise<void>[] = [];
    if (this.#next) leftovers.push(this.#next.abandon());
    this.#next = undefined;
    if (!error && !this.#failed && active.info.lastSeq === 0) {
      leftovers.push(Promise.resolve().then(() => this.#removeEmptyActive(active)));
    }
    for (const result of await Promise.allSettled(leftovers)) {
      if (result.status === "rejected") {
        this.#logger?.("warn", "cannot remove unused WAL segment", {
          dir: this.#dir,
          error: String(result.reason),
        });
      }
    }
    if (error) throw error;
    if (this.#failed) throw this.#failedError();
  }

  #removeEmptyActive(active: ActiveSegment): void {
    this.#fs.remove(active.info.path);
    this.#fs.syncDir(this.#dir);
    this.#segments = this.#segments.filter((s) => s !== active.info);
  }

  // ---------------------------------------------------------------- internals

  #failedError(): IoError {
    const failed = this.#failed!;
    return new IoError(failed.message, { cause: failed.cause });
  }

  #newPreparer(id: number, sizeBytes: number): SegmentPreparer {
    const unsyncedBytesMax = this.#syncMode === "always" ? this.#groupBytesMax : 0;
    return new SegmentPreparer(this.#fs, this.#dir, id, sizeBytes, unsyncedBytesMax);
  }

  /** Opens a finished segment as the active one and sets up (not starts) its successor. */
  #activate(prepared: SegmentPreparer): void {
    const file = this.#fs.open(prepared.path, { write: true });
    const info: SegmentInfo = {
      id: prepared.id,
      path: prepared.path,
      firstSeq: 0,
      lastSeq: 0,
      sizeBytes: WAL_SEGMENT_HEADER_BYTES,
    };
    this.#segments.push(info);
    this.#active = { info, file, capacityBytes: prepared.sizeBytes, dirty: false };
    // Preallocation starts when this segment is half full (`#writeGroup`): writing and
    // fsyncing a whole segment of zeros competes with the group commit's fdatasync for the
    // disk, so it is better kept away from open and from the previous switch.
    this.#next = this.#newPreparer(prepared.id + 1, this.#segmentSizeBytes);
  }

  /**
   * Syncs and closes the active segment, then activates the next one, grown to hold at least
   * `recordBytes` after its header.
   */
  #roll(recordBytes: number): void {
    const old = this.#active;
    this.#syncActive();
    old.file.close();
    const next = this.#next!;
    this.#next = undefined;
    next.finishSync(WAL_SEGMENT_HEADER_BYTES + recordBytes);
    this.#activate(next);
    this.#logger?.("debug", "switched WAL segment", { from: old.info.id, to: next.id });
  }

  #groupFor(recordBytes: number): CommitGroup {
    const last = this.#queue[this.#queue.length - 1];
    if (last && last.bytes + recordBytes <= this.#groupBytesMax) {
      if (last.bytes + recordBytes > last.buf.length) {
        const grown = new Uint8Array(
          Math.min(this.#groupBytesMax, Math.max(last.buf.length * 2, last.bytes + recordBytes)),
        );
        grown.set(last.buf.subarray(0, last.bytes));
        last.buf = grown;
      }
      return last;
    }
    let buf = this.#spareBuffer;
    this.#spareBuffer = undefined;
    if (!buf || buf.length < recordBytes) {
      buf = new Uint8Array(Math.max(GROUP_BUFFER_BYTES_MIN, recordBytes));
    }
    let resolve!: () => void;
    let reject!: (err: Error) => void;
    const promise = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    // The group's promise is shared by its appends; callers handle rejections on their
    // derived promises, so an ignored `durable` must not crash the process.
    promise.catch(() => {});
    const group: CommitGroup = {
      buf,
      bytes: 0,
      recordEnds: [],
      recordSeqs: [],
      lastSeq: 0,
      promise,
      resolve,
      reject,
    };
    this.#queue.push(group);
    return group;
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    this.#immediate = setImmediate(() => {
      this.#flushScheduled = false;
      this.#immediate = undefined;
      if (this.#failed || this.#closing) return;
      // One group per turn of the event loop; later groups get their own turn.
      const group = this.#queue.shift();
      if (group) this.#flushGroup(group);
      if (this.#queue.length > 0) this.#scheduleFlush();
    });
  }

  #flushAll(): void {
    while (this.#queue.length > 0 && !this.#failed) this.#flushGroup(this.#queue.shift()!);
    if (this.#failed) throw this.#failedError();
  }

  /** Writes one group (rolling segments as needed), syncs per the mode, settles it. */
  #flushGroup(group: CommitGroup): void {
    try {
      this.#writeGroup(group);
      // fdatasync runs synchronously, as Redis's appendfsync always does: measured here, an
      // async fdatasync on the thread pool made the server slower (SET at 50 clients: 33k/s
      // against 44k/s) because its extra ~90 µs sits on every group's latency.
      if (this.#syncMode === "always") this.#syncActive();
      else if (this.#syncMode === "interval") this.#armSyncTimer();
    } catch (err) {
      this.#fail(err, group);
      return;
    }
    if (group.buf.length <= WAL_GROUP_COMMIT_BYTES_MAX) this.#spareBuffer = group.buf;
    group.resolve();
  }

  #markDurable(seq: number): void {
    if (seq > this.#durableSeq) {
      this.#durableSeq = seq;
      for (const listener of this.#durableListeners) listener(this.#durableSeq);
    }
  }

  #writeGroup(group: CommitGroup): void {
    const ends = group.recordEnds;
    let start = 0;
    let k = 0;
    while (k < ends.length) {
      const active = this.#active;
      const free = active.capacityBytes - active.info.sizeBytes;
      let j = k;
      while (j < ends.length && ends[j]! - start <= free) j++;
      if (j === k) {
        this.#roll(ends[k]! - start);
        continue;
      }
      const end = ends[j - 1]!;
      const info = active.info;
      active.dirty = true;
      active.file.writeAt(group.buf.subarray(start, end), info.sizeBytes);
      info.sizeBytes += end - start;
      if (info.firstSeq === 0) info.firstSeq = group.recordSeqs[k]!;
      info.lastSeq = j < ends.length ? group.recordSeqs[j]! - 1 : group.lastSeq;
      this.#writtenSeq = info.lastSeq;
      start = end;
      k = j;
      if (info.sizeBytes * 2 >= active.capacityBytes && !this.#next!.started) {
        this.#next!.startInBackground(this.#logger);
      }
    }
  }

  #syncActive(): void {
    const active = this.#active;
    if (!active.dirty) return;
    active.file.syncData();
    active.dirty = false;
    this.#markDurable(this.#writtenSeq);
  }

  #armSyncTimer(): void {
    if (this.#syncTimer !== undefined) return;
    this.#syncTimer = setTimeout(() => {
      this.#syncTimer = undefined;
      if (this.#failed || this.#closing) return;
      try {
        this.#syncActive();
      } catch (err) {
        this.#fail(err, undefined);
      }
    }, this.#syncIntervalMs);
  }

  /** Enters the failed state: rejects `group` and every queued group. Never retries. */
  #fail(err: unknown, group: CommitGroup | undefined): void {
    const active = this.#active;
    const message = err instanceof Error ? err.message : String(err);
    this.#failed = new IoError(
      `Cannot write: WAL is failed after an earlier sync error: ${message} (segment ${active.info.path}, offset ${active.info.sizeBytes})`,
      { cause: err },
    );
    this.#logger?.("error", "WAL write or sync failed; refusing further writes", {
      file: active.info.path,
      offset: active.info.sizeBytes,
      error: message,
    });
    const failed = [...(group ? [group] : []), ...this.#queue.splice(0)];
    for (const g of failed) g.reject(this.#failedError());
  }
}
