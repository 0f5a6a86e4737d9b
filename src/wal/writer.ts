/**
 * `WalWriter`: appends batches to the WAL with group commit. Format: `format.ts` and
 * ARCHITECTURE.md § "WAL".
 *
 * `append` is synchronous: it secures the record's space, assigns the batch its sequence
 * numbers, encodes the record into the open commit group and schedules a flush with
 * `setImmediate` (~3 µs; `setTimeout(0)` costs ~2 ms). The flush (`_committer.ts`) writes the
 * group with one synchronous `writeAt` and, in sync mode "always", one `fdatasync`, then
 * settles the group's one shared promise. Every append issued before the flush runs is in it;
 * appends issued after it join the next one.
 *
 * Space before visibility: `append` places the record in preallocated space before it returns
 * -- in the active segment, or in the next one, finished synchronously when it is needed. When
 * that space cannot be had (ENOSPC), `append` throws `DiskFullError` and changes nothing, so
 * the engine never applies a batch the WAL cannot hold; the flush then only overwrites blocks
 * that are already allocated, where a `pwrite` does not run out of space.
 *
 * Invariants:
 * - A commit group holds either one record, or records totalling at most
 *   `groupCommitBytesMax` bytes; in "always" mode at most two groups are written and unsynced
 *   (one unless the group commit pipelines, `_committer.ts`).
 * - In "always" mode a group resolves only after an `fdatasync` that started after it was
 *   written completed.
 * - Each record's trailer holds the offset up to which its segment was fdatasync'ed when the
 *   record was written; the flush fills it in, the only place that knows it.
 * - Records go to the active segment in sequence order. A record that does not fit its free
 *   space (a SEAL's room is always kept) goes to the next segment. Before any byte goes to the
 *   next segment the active one is fdatasync'ed, sealed and fdatasync'ed again (in every sync
 *   mode), so only the newest segment holding records can end torn, and every older one ends
 *   in a SEAL.
 * - Placement (`_segment_chain.ts`): the flush writes each record where `append` placed it.
 * - The writer never appends into a segment it did not create: `open` starts a fresh segment,
 *   and the torn tail recovery cut stays in an older, finished file.
 * - Disk full: when the next segment cannot be prepared, every append that needs it throws at
 *   once (a new attempt per write would write and remove up to a segment of zeros each time);
 *   `prepareSpace()` retries and clears the state on success.
 * - A failed write or sync is fatal: the data in the page cache is in an unknown state
 *   (Linux may drop the dirty pages and report the error only once), so the writer never
 *   retries. The failing group, every unsynced and every queued group reject, and every later
 *   `append` throws, with `IoError`.
 *
 * @module
 */

import {
  ClosedError,
  type DiskFullError,
  InvalidArgumentError,
  isNoSpaceError,
} from "../errors.ts";
import type { FileSystem } from "../fs/mod.ts";
import {
  BATCH_OPS_MAX,
  WAL_GROUP_COMMIT_BYTES_MAX,
  WAL_RECORD_HEADER_BYTES,
  WAL_RECORD_PAYLOAD_BYTES_MAX,
  WAL_RECORD_TRAILER_BYTES,
  WAL_SEGMENT_SIZE_BYTES_DEFAULT,
  WAL_SEGMENT_SIZE_BYTES_MAX,
} from "../limits.ts";
import { assert } from "../util/assert.ts";
import type { EntryKind } from "../util/entry.ts";
import type { Logger } from "../util/log.ts";
import type { CommitGroup, CommitQueue } from "./_commit_group.ts";
import { Committer, type SyncMode } from "./_committer.ts";
import { SegmentChain } from "./_segment_chain.ts";
import {
  batchPayloadBytes,
  encodeBatchInto,
  type EncodedOp,
  encodeOneInto,
  onePayloadBytes,
  sealRecord,
  WAL_RECORD_TYPE_BATCH,
  WAL_SEAL_RECORD_BYTES,
  WAL_SEGMENT_HEADER_BYTES,
  type WalOp,
} from "./format.ts";
import { listSegmentIds, removeTempSegments, type SegmentInfo } from "./reader.ts";

/** When `append`'s `durable` promise resolves relative to `fdatasync`. */
export type WalSyncMode = SyncMode;

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
  /**
   * Pipelined group commit in "always" mode: by measurement when undefined (the default),
   * always or never (tests).
   */
  pipelining?: boolean;
  /** Receives warnings (background preallocation failures) and the fatal error. */
  logger?: Logger;
  /** Called when a segment could not be prepared for lack of space (the engine retries). */
  onNoSpace?: (err: DiskFullError) => void;
}

/** What `append` returns. */
export interface WalAppendResult {
  /** Sequence of the batch's first op; op i has `seq + i`. */
  seq: number;
  /** Resolves when the record is durable under the sync mode; rejects with `IoError`. */
  durable: Promise<void>;
}

const SYNC_INTERVAL_MS_DEFAULT = 100;

/** Appends batches to WAL segments with group commit. */
export class WalWriter {
  readonly #dir: string;
  readonly #syncMode: WalSyncMode;
  readonly #logger: Logger | undefined;
  readonly #chain: SegmentChain;
  readonly #committer: Committer;
  readonly #queue: CommitQueue;
  #nextSeq: number;
  #bytesAppended = 0;
  /** `appendOne`'s results (see there). */
  #lastDurable: Promise<void> | undefined;
  readonly #lastEncoded: EncodedOp & { buf: Uint8Array } = {
    buf: new Uint8Array(0),
    keyAt: 0,
    valueAt: 0,
  };

  private constructor(fs: FileSystem, dir: string, options: WalWriterOptions, firstId: number) {
    this.#dir = dir;
    this.#syncMode = options.syncMode ?? "always";
    this.#logger = options.logger;
    this.#chain = new SegmentChain(fs, dir, {
      segmentSizeBytes: options.segmentSizeBytes ?? WAL_SEGMENT_SIZE_BYTES_DEFAULT,
      firstId,
      recoveredSegments: options.recoveredSegments ?? [],
      logger: options.logger,
      onNoSpace: options.onNoSpace,
    });
    this.#committer = new Committer(this.#chain, {
      syncMode: this.#syncMode,
      syncIntervalMs: options.syncIntervalMs ?? SYNC_INTERVAL_MS_DEFAULT,
      groupCommitBytesMax: options.groupCommitBytesMax ?? WAL_GROUP_COMMIT_BYTES_MAX,
      nextSeq: options.nextSeq,
      logger: options.logger,
      pipelining: options.pipelining,
    });
    this.#queue = this.#committer.queue;
    this.#nextSeq = options.nextSeq;
  }

  /**
   * Opens a writer on `dir` after recovery: removes leftover `.wal.tmp` files, creates and
   * activates a fresh segment synchronously, and starts preallocating the next one. When the
   * disk has no room for the fresh segment the writer opens without one: `noSpace` says why,
   * every append throws it, and `prepareSpace()` tries again. Throws `InvalidArgumentError` on
   * bad options.
   */
  static open(fs: FileSystem, dir: string, options: WalWriterOptions): WalWriter {
    checkOptions(options);
    fs.mkdirp(dir);
    removeTempSegments(fs, dir);
    const existing = listSegmentIds(fs, dir);
    const firstId = Math.max(
      options.nextSegmentId ?? 1,
      existing.length > 0 ? existing[existing.length - 1]! + 1 : 1,
    );
    const writer = new WalWriter(fs, dir, options, firstId);
    writer.#chain.openFirst();
    return writer;
  }

  /** Sequence of the last op appended (not necessarily durable yet); 0 before any. */
  get lastSeq(): number {
    return this.#nextSeq - 1;
  }

  /** Record bytes appended since open (write amplification: what the WAL adds). */
  get bytesAppended(): number {
    return this.#bytesAppended;
  }

  /** Commit groups written since open: each one `pwrite` of the records queued together. */
  get groupCommits(): number {
    return this.#committer.groupsWritten;
  }

  /** fdatasyncs of the group commit since open (sync mode "always"; one per group or fewer). */
  get groupSyncs(): number {
    return this.#committer.syncs;
  }

  /** Their total time in ms, each from its start until the writer saw it complete. */
  get groupSyncMs(): number {
    return this.#committer.syncMs;
  }

  /** Sequence of the last op known fdatasync'ed (recovered records count as durable). */
  get durableSeq(): number {
    return this.#committer.durableSeq;
  }

  /**
   * Calls `listener(durableSeq)` synchronously after every sync that makes new records
   * durable (replication's change feed). Returns a function that removes the listener.
   */
  addDurableListener(listener: (durableSeq: number) => void): () => void {
    return this.#committer.addDurableListener(listener);
  }

  /** Id of the segment being written (0 when there is none); retention never deletes it. */
  get activeSegmentId(): number {
    return this.#chain.activeSegmentId;
  }

  /** The sync mode. */
  get syncMode(): WalSyncMode {
    return this.#syncMode;
  }

  /** Size of a preallocated segment: the space a disk-full retry needs. */
  get segmentSizeBytes(): number {
    return this.#chain.segmentSizeBytes;
  }

  /** Why appends that need a new segment are refused (no space for it); undefined when none. */
  get noSpace(): DiskFullError | undefined {
    return this.#chain.noSpace;
  }

  /**
   * Every segment on disk (recovered ones included), oldest first, the active one last.
   * `firstSeq`/`lastSeq` are 0 for a segment without records; `sizeBytes` counts bytes
   * written. The preallocated next segment is not listed until it becomes active.
   */
  segments(): SegmentInfo[] {
    return this.#chain.segments();
  }

  /**
   * Queues `ops` as one record and returns its first sequence at once, plus a promise that
   * settles when the record is durable under the sync mode. Throws `DiskFullError` (nothing
   * queued) when the record's space cannot be preallocated, `IoError` when the writer has
   * failed, `ClosedError` when it is closed, `InvalidArgumentError` for a record over
   * `WAL_RECORD_PAYLOAD_BYTES_MAX`. REQUIRES: 1 <= ops.length <= BATCH_OPS_MAX, ops validated
   * against `src/limits.ts` (the engine does it).
   */
  append(ops: readonly WalOp[]): WalAppendResult {
    this.#committer.beforeAppend();
    this.#checkOpen();
    assert(ops.length >= 1, "empty batch");
    assert(ops.length <= BATCH_OPS_MAX, "batch over BATCH_OPS_MAX");
    const payloadBytes = batchPayloadBytes(ops);
    checkPayloadBytes(payloadBytes);
    const recordBytes = WAL_RECORD_HEADER_BYTES + payloadBytes + WAL_RECORD_TRAILER_BYTES;
    this.#reserve(recordBytes);
    const seq = this.#nextSeq;
    const group = this.#queue.groupFor(recordBytes);
    const at = group.bytes;
    const end = encodeBatchInto(group.buf, at + WAL_RECORD_HEADER_BYTES, ops);
    assert(end + WAL_RECORD_TRAILER_BYTES === at + recordBytes, "record size mismatch");
    sealRecord(group.buf, at, payloadBytes, seq, WAL_RECORD_TYPE_BATCH);
    return this.#queued(group, at + recordBytes, seq, ops.length);
  }

  /**
   * `append` of a batch of one op, without the op objects: the key is `key[0, keyLength)`, the
   * value `value[0, valueLength)` (so callers may pass reused scratch arrays). Returns the op's
   * sequence; `lastDurable` is its promise and
   * `lastEncoded` says where its key and value bytes are in `lastEncoded.buf` until the next
   * append (the engine copies them into the memtable from there). Throws like `append`.
   * REQUIRES: a valid op (the engine checked it against `src/limits.ts`).
   */
  appendOne(
    kind: EntryKind,
    key: Uint8Array,
    keyLength: number,
    value: Uint8Array,
    valueLength: number,
    expireAtMs: number,
  ): number {
    this.#committer.beforeAppend();
    this.#checkOpen();
    const payloadBytes = onePayloadBytes(kind, keyLength, valueLength, expireAtMs);
    checkPayloadBytes(payloadBytes);
    const recordBytes = WAL_RECORD_HEADER_BYTES + payloadBytes + WAL_RECORD_TRAILER_BYTES;
    this.#reserve(recordBytes);
    const seq = this.#nextSeq;
    const group = this.#queue.groupFor(recordBytes);
    const at = group.bytes;
    const encoded = this.#lastEncoded;
    const end = encodeOneInto(
      group.buf,
      at + WAL_RECORD_HEADER_BYTES,
      kind,
      key,
      keyLength,
      value,
      valueLength,
      expireAtMs,
      encoded,
    );
    assert(end + WAL_RECORD_TRAILER_BYTES === at + recordBytes, "record size mismatch");
    encoded.buf = group.buf;
    sealRecord(group.buf, at, payloadBytes, seq, WAL_RECORD_TYPE_BATCH);
    this.#queue.noteRecord(group, at + recordBytes, seq, seq);
    this.#nextSeq = seq + 1;
    this.#lastDurable = group.promise;
    this.#committer.scheduleFlush();
    return seq;
  }

  /** The durable promise of the newest `appendOne` (see there). */
  get lastDurable(): Promise<void> {
    return this.#lastDurable!;
  }

  /** Where the newest `appendOne` put its key and value (see there); reused by every call. */
  get lastEncoded(): Readonly<EncodedOp & { buf: Uint8Array }> {
    return this.#lastEncoded;
  }

  /**
   * Like `append`, for an already encoded batch payload that must keep the sequence `seq`
   * given by another database (replication). The payload is copied into the commit group.
   * REQUIRES: seq === lastSeq + 1 (the engine checks it and reports gaps as errors);
   * `opCount` is the payload's op count and the payload decodes (the engine decoded it).
   */
  appendPayload(seq: number, payload: Uint8Array, opCount: number): WalAppendResult {
    this.#committer.beforeAppend();
    this.#checkOpen();
    assert(seq === this.#nextSeq, `replicated record ${seq} is not next (${this.#nextSeq})`);
    assert(opCount >= 1 && opCount <= BATCH_OPS_MAX, "bad replicated op count");
    checkPayloadBytes(payload.length);
    const recordBytes = WAL_RECORD_HEADER_BYTES + payload.length + WAL_RECORD_TRAILER_BYTES;
    this.#reserve(recordBytes);
    const group = this.#queue.groupFor(recordBytes);
    const at = group.bytes;
    group.buf.set(payload, at + WAL_RECORD_HEADER_BYTES);
    sealRecord(group.buf, at, payload.length, seq, WAL_RECORD_TYPE_BATCH);
    return this.#queued(group, at + recordBytes, seq, opCount);
  }

  #checkOpen(): void {
    const committer = this.#committer;
    if (committer.failed) throw committer.failedError();
    if (committer.closing) throw new ClosedError("Cannot write: WAL is closed");
  }

  /**
   * Places a record in preallocated space before anything is queued: `DiskFullError` when
   * that space cannot be had; other I/O errors are fatal.
   */
  #reserve(recordBytes: number): void {
    for (let attempt = 0; attempt < 2; attempt++) {
      let placed: boolean;
      try {
        placed = this.#chain.reserve(recordBytes);
      } catch (err) {
        if (isNoSpaceError(err)) throw err;
        this.#committer.fail(err, undefined);
        throw this.#committer.failedError();
      }
      if (placed) {
        this.#bytesAppended += recordBytes;
        return;
      }
      // More is queued than the next segment holds (appends far outpacing flushes): write it
      // all out now, which switches to the next segment, then place this record again.
      this.#committer.flushAll();
    }
    assert(false, "a record could not be placed after a flush");
  }

  #queued(group: CommitGroup, end: number, seq: number, opCount: number): WalAppendResult {
    this.#queue.noteRecord(group, end, seq, seq + opCount - 1);
    this.#nextSeq = seq + opCount;
    this.#committer.scheduleFlush();
    return { seq, durable: group.promise };
  }

  /**
   * Continues the sequence at `nextSeq`, past every record written so far (a replica that
   * installed a snapshot at `nextSeq - 1`). When the active segment holds records it is synced,
   * sealed and a fresh segment starts, so that the older segments can all be deleted. With
   * `dropOlder`, every older segment is removed (durably) and `nextSeq` may be lower than
   * `lastSeq + 1`: a replica replacing another history. Throws `DiskFullError` when the fresh
   * segment cannot be prepared. REQUIRES: nothing queued; without `dropOlder`, nextSeq > lastSeq.
   */
  restartAt(nextSeq: number, options: { dropOlder?: boolean } = {}): void {
    assert(Number.isSafeInteger(nextSeq) && nextSeq >= 1, `bad nextSeq ${nextSeq}`);
    assert(options.dropOlder || nextSeq >= this.#nextSeq, `nextSeq ${nextSeq} goes back`);
    assert(this.#queue.length === 0, "restarting a WAL with queued records");
    const committer = this.#committer;
    if (committer.failed) throw committer.failedError();
    if (this.#chain.activeHasRecords) {
      this.#chain.secureNext(WAL_SEGMENT_HEADER_BYTES + WAL_SEAL_RECORD_BYTES);
      this.#chain.roll(() => committer.syncActive());
    }
    if (options.dropOlder) {
      for (const s of this.#chain.segments()) {
        if (s.id !== this.#chain.activeSegmentId) this.#chain.removeSegment(s.id);
      }
    }
    this.#nextSeq = nextSeq;
    committer.restart(nextSeq);
  }

  /** Writes everything queued and fdatasyncs the active segment, whatever the sync mode. */
  sync(): Promise<void> {
    const committer = this.#committer;
    if (committer.failed) return Promise.reject(committer.failedError());
    if (committer.closing) return Promise.reject(new ClosedError("Cannot sync: WAL is closed"));
    try {
      committer.flushAll();
      committer.syncActive();
      return Promise.resolve();
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * Tries again to prepare the segment a disk full prevented (the engine calls it when space
   * may be back). Resolves true when appends may go on (or nothing was missing), false when
   * there is still no space; rejects on other I/O errors.
   */
  prepareSpace(): Promise<boolean> {
    const committer = this.#committer;
    if (committer.failed || committer.closing) return Promise.resolve(false);
    return this.#chain.prepareSpace(() => committer.closing);
  }

  /**
   * Removes segment `id` (file and directory entry, durably). The engine decides which:
   * segments whose `lastSeq` is covered by durable tables. REQUIRES: not the active segment.
   */
  removeSegment(id: number): void {
    if (!this.#chain.removeSegment(id)) {
      throw new InvalidArgumentError(`Cannot remove WAL segment ${id}: no such segment`);
    }
  }

  /**
   * Writes and syncs everything queued, seals the active segment, closes the files and removes
   * the preallocated next segment (never used) and the active segment when it holds no
   * record. The active segment with records stays: the next open replays it. Rejects with the
   * failure when the writer had failed (files are closed all the same).
   */
  async close(): Promise<void> {
    const committer = this.#committer;
    if (committer.closing) return;
    let error: unknown;
    try {
      committer.flushAll();
      committer.syncActive();
      this.#chain.sealActive();
    } catch (err) {
      error = err;
    }
    committer.stop();
    for (const reason of await this.#chain.close(!error && !committer.failed)) {
      this.#logger?.("warn", "cannot remove unused WAL segment", {
        dir: this.#dir,
        error: String(reason),
      });
    }
    if (error) throw error;
    if (committer.failed) throw committer.failedError();
  }
}

function checkPayloadBytes(payloadBytes: number): void {
  if (payloadBytes > WAL_RECORD_PAYLOAD_BYTES_MAX) {
    throw new InvalidArgumentError(
      `Batch too large for the WAL: ${payloadBytes} bytes (limit ${WAL_RECORD_PAYLOAD_BYTES_MAX} bytes)`,
    );
  }
}

function checkOptions(options: WalWriterOptions): void {
  const segmentSizeBytes = options.segmentSizeBytes ?? WAL_SEGMENT_SIZE_BYTES_DEFAULT;
  const minSegment = WAL_SEGMENT_HEADER_BYTES + WAL_RECORD_HEADER_BYTES + 1 +
    WAL_RECORD_TRAILER_BYTES + WAL_SEAL_RECORD_BYTES;
  if (
    !Number.isSafeInteger(segmentSizeBytes) || segmentSizeBytes < minSegment ||
    segmentSizeBytes > WAL_SEGMENT_SIZE_BYTES_MAX
  ) {
    throw new InvalidArgumentError(
      `Invalid WAL segmentSizeBytes: ${segmentSizeBytes} (must be an integer from ${minSegment} to ${WAL_SEGMENT_SIZE_BYTES_MAX})`,
    );
  }
  if (!Number.isSafeInteger(options.nextSeq) || options.nextSeq < 1) {
    throw new InvalidArgumentError(`Invalid WAL nextSeq: ${options.nextSeq} (must be \u2265 1)`);
  }
  const interval = options.syncIntervalMs ?? SYNC_INTERVAL_MS_DEFAULT;
  if (!Number.isSafeInteger(interval) || interval < 1) {
    throw new InvalidArgumentError(`Invalid WAL syncIntervalMs: ${interval} (must be \u2265 1)`);
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
}
