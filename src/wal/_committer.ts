/**
 * The group commit of `WalWriter`: writes the queued commit groups and syncs them per the sync
 * mode, settles their promises, and keeps what is written and durable. Private to `src/wal/`.
 * ARCHITECTURE.md § "Writer and group commit".
 *
 * A flush runs in the turn of the event loop after the appends (`setImmediate`). In "always"
 * mode it writes the group with one synchronous `pwrite` and, while few writers wait, syncs it
 * with one synchronous `fdatasync` (~140 µs here, against ~230 µs through the async pool). When
 * many writers each wait for their own append and their CPU time per cycle exceeds a sync
 * (`_sync_pacer.ts`), it pipelines: the waiting writers are split in two groups, and each
 * group's `fdatasync` runs on the thread pool while the other group's writers run, at most two
 * groups in flight.
 *
 * Invariants:
 * - In "always" mode a group resolves only after an `fdatasync` that started after the group
 *   was written completed: its own off-thread one, a later one (it covers every byte written
 *   before it started) or a synchronous one (a switch, `sync()`, `close()`).
 * - At most `PIPELINE_DEPTH` groups are written and unsynced ("always" mode).
 * - `durableSeq` only grows to what such an fdatasync covered; each record's trailer gets the
 *   offset its segment was synced through when it was written (`_segment_chain.ts`).
 * - A failed write or sync is fatal: the data in the page cache is in an unknown state (Linux
 *   may drop the dirty pages and report the error only once), so the committer never retries.
 *   The failing group, every unsynced and every queued group reject with `IoError`, and so
 *   does a failure of an off-thread sync that a synchronous one overtook.
 *
 * @module
 */

// setImmediate: Deno's global, not node:timers (which loads the Node layer at start: idle RSS).
import { IoError } from "../errors.ts";
import { WAL_GROUP_COMMIT_BYTES_MAX } from "../limits.ts";
import type { Logger } from "../util/log.ts";
import { type CommitGroup, CommitQueue } from "./_commit_group.ts";
import type { AsyncSyncTicket, SegmentChain } from "./_segment_chain.ts";
import { SyncPacer } from "./_sync_pacer.ts";

/** When a record is durable relative to `fdatasync` (`WalWriterOptions.syncMode`). */
export type SyncMode = "always" | "interval" | "none";

/** Most groups written whose off-thread fdatasync has not completed ("always" mode). */
const PIPELINE_DEPTH = 2;
/** A group of at least this many records may have its fdatasync run off the event loop. */
const PIPELINE_RECORDS_MIN = 8;

/** Options of a `Committer`. */
export interface CommitterOptions {
  syncMode: SyncMode;
  syncIntervalMs: number;
  groupCommitBytesMax: number;
  /** Sequence of the first op to be appended. */
  nextSeq: number;
  logger: Logger | undefined;
  /** `WalWriterOptions.pipelining`. */
  pipelining: boolean | undefined;
}

/** Writes, syncs and settles the commit groups of one `WalWriter`. */
export class Committer {
  /** The groups waiting to be written; `WalWriter` appends to the last. */
  readonly queue: CommitQueue;
  /** Set by `WalWriter.close`: nothing more is flushed. */
  closing = false;
  readonly #chain: SegmentChain;
  readonly #syncMode: SyncMode;
  readonly #syncIntervalMs: number;
  readonly #logger: Logger | undefined;
  #flushScheduled = false;
  #immediate: ReturnType<typeof setImmediate> | undefined;
  #syncTimer: ReturnType<typeof setTimeout> | undefined;
  #failed: IoError | undefined;
  /** Sequence of the last op written to a segment file (not necessarily synced). */
  #writtenSeq: number;
  /** Sequence of the last op fdatasync'ed; replication ships nothing above it. */
  #durableSeq: number;
  /** Called with the new `durableSeq` after each sync that made records durable. */
  #durableListeners = new Set<(durableSeq: number) => void>();
  /** Groups written whose off-thread fdatasync has not completed, oldest first. */
  #unsynced: CommitGroup[] = [];
  /** Groups written so far: numbers them in write order. */
  #groupsWritten = 0;
  /** Off-thread fdatasyncs running. */
  #syncsInFlight = 0;
  /** Bumped by `restart`: a sync started before it reports nothing but errors. */
  #epoch = 0;
  /** When > 0: the open group is written once it holds this many records (a split). */
  #splitAt = 0;
  readonly #pacer: SyncPacer;
  /** Groups written since open (`WalWriter.groupCommits`). */
  /** The group commit's fdatasyncs ("always" mode) since open, and their total time. */
  #syncs = 0;
  #syncMs = 0;

  /** The committer of the segments of `chain`. */
  constructor(chain: SegmentChain, options: CommitterOptions) {
    this.#chain = chain;
    this.#syncMode = options.syncMode;
    this.#syncIntervalMs = options.syncIntervalMs;
    this.#logger = options.logger;
    this.queue = new CommitQueue(options.groupCommitBytesMax);
    this.#pacer = new SyncPacer(options.pipelining);
    // Recovered records were read back from the files: treated as durable.
    this.#writtenSeq = options.nextSeq - 1;
    this.#durableSeq = options.nextSeq - 1;
  }

  /** The fatal error, once a write or sync failed. */
  get failed(): IoError | undefined {
    return this.#failed;
  }

  /** Groups written since open (each one `pwrite`, and in "always" mode one fdatasync). */
  get groupsWritten(): number {
    return this.#groupsWritten;
  }

  /** fdatasyncs the group commit ran ("always" mode) since open. */
  get syncs(): number {
    return this.#syncs;
  }

  /** Their total time in ms, each from its start to the writer seeing it done. */
  get syncMs(): number {
    return this.#syncMs;
  }

  /** A fresh copy of the fatal error (each caller gets its own stack). */
  failedError(): IoError {
    const failed = this.#failed!;
    return new IoError(failed.message, { cause: failed.cause });
  }

  /** Sequence of the last op known fdatasync'ed. */
  get durableSeq(): number {
    return this.#durableSeq;
  }

  /** `WalWriter.addDurableListener`. */
  addDurableListener(listener: (durableSeq: number) => void): () => void {
    this.#durableListeners.add(listener);
    return () => this.#durableListeners.delete(listener);
  }

  /** Called before each append: writes the open group when it reached a split. */
  beforeAppend(): void {
    if (this.#splitAt > 0) this.#split();
  }

  /** Everything written so far counts as written and durable at `nextSeq - 1` (`restartAt`). */
  restart(nextSeq: number): void {
    this.#writtenSeq = nextSeq - 1;
    this.#durableSeq = nextSeq - 1;
    this.#epoch++;
  }

  /** Stops the timers (`close`, after its last flush). */
  stop(): void {
    this.closing = true;
    if (this.#immediate !== undefined) clearImmediate(this.#immediate);
    if (this.#syncTimer !== undefined) clearTimeout(this.#syncTimer);
    this.#immediate = undefined;
    this.#syncTimer = undefined;
  }

  /** Schedules a flush of the queue in the next turn of the event loop. */
  scheduleFlush(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    this.#immediate = setImmediate(() => {
      this.#flushScheduled = false;
      this.#immediate = undefined;
      if (this.#failed || this.closing) return;
      // The pipeline is full (or off, and a sync is still in flight): the next completion
      // writes the oldest group.
      if (this.#syncsInFlight >= (this.#pacer.pipelining ? PIPELINE_DEPTH : 1)) return;
      // One group per turn of the event loop; later groups get their own turn.
      const group = this.queue.shift();
      if (group) {
        this.#noteBurst(group);
        this.#flushGroup(group);
      }
      if (this.queue.length > 0) this.scheduleFlush();
    });
  }

  /** Writes and syncs every queued group synchronously (settling every unsynced one too). */
  flushAll(): void {
    while (this.queue.length > 0 && !this.#failed) {
      this.#flushGroup(this.queue.shift()!, false);
    }
    if (this.#failed) throw this.failedError();
  }

  /**
   * Writes one group (rolling segments as needed) and syncs per the mode. In "always" mode a
   * group of many records (or one written while another sync runs) has its fdatasync started
   * off the event loop, unless `mayPipeline` is false, and settles when it completes;
   * otherwise it settles here.
   */
  #flushGroup(group: CommitGroup, mayPipeline = true): void {
    let ticket: AsyncSyncTicket | undefined;
    try {
      this.#chain.writeGroup(group, {
        sync: () => this.syncActive(),
        written: (seq) => this.#writtenSeq = seq,
      });
      group.writtenNo = ++this.#groupsWritten;
      if (this.#syncMode === "always") {
        // A lone writer's fdatasync runs synchronously, as Redis's appendfsync always does:
        // the thread pool adds ~90 µs to its latency (SET at 50 clients: 33k/s against 44k/s
        // when every group went there).
        if (
          mayPipeline && this.#pacer.pipelining &&
          (group.recordEnds.length >= PIPELINE_RECORDS_MIN || this.#syncsInFlight > 0)
        ) {
          ticket = this.#chain.syncActiveAsync();
        }
        if (ticket === undefined) {
          const t0 = performance.now();
          this.syncActive();
          this.#noteSync(performance.now() - t0);
        }
      } else if (this.#syncMode === "interval") this.#armSyncTimer();
    } catch (err) {
      this.fail(err, group);
      return;
    }
    if (ticket === undefined) {
      this.#settle(group);
      this.#settled(group.recordEnds.length);
      return;
    }
    this.#unsynced.push(group);
    this.#syncsInFlight++;
    const seq = this.#writtenSeq;
    const epoch = this.#epoch;
    const writtenNo = group.writtenNo;
    const startedAtMs = performance.now();
    ticket.done.then(
      () => {
        this.#noteSync(performance.now() - startedAtMs);
        this.#syncedAsync(ticket, seq, writtenNo, epoch);
      },
      (err) => {
        this.#syncsInFlight--;
        this.fail(err, undefined);
      },
    );
  }

  /**
   * The off-thread fdatasync that started after group `writtenNo` was written (and every older
   * one) completed: they are durable through `seq`. The oldest queued group is written and its
   * sync started before the settled groups' writers run again, so that their CPU time overlaps
   * that sync.
   */
  #syncedAsync(ticket: AsyncSyncTicket, seq: number, writtenNo: number, epoch: number): void {
    this.#syncsInFlight--;
    if (this.#failed) return;
    if (epoch === this.#epoch) {
      this.#chain.syncedAsync(ticket);
      this.#advanceDurable(seq);
    }
    const unsynced = this.#unsynced;
    let k = 0;
    while (k < unsynced.length && unsynced[k]!.writtenNo <= writtenNo) k++;
    const settled = unsynced.splice(0, k);
    // Pipelined, the oldest waiting group is written (its sync started) before the settled
    // groups' writers run again; otherwise they run first and their appends join it.
    if (
      this.#pacer.pipelining && !this.closing && this.queue.length > 0 &&
      this.#syncsInFlight < PIPELINE_DEPTH
    ) {
      this.#flushGroup(this.queue.shift()!);
      if (this.#failed) return;
    }
    let records = 0;
    for (const group of settled) {
      records += group.recordEnds.length;
      this.#settle(group);
    }
    if (records > 0) this.#settled(records);
    if (this.queue.length > 0 && !this.closing) this.scheduleFlush();
  }

  /**
   * Groups of `records` records settled: decides again whether to pipeline. When it does and
   * every writer was waiting on them, their next appends are split in two groups, the first
   * written (and its sync started) while the second half still runs.
   */
  #settled(records: number): void {
    let waiting = records;
    for (const group of this.#unsynced) waiting += group.recordEnds.length;
    if (!this.#pacer.decide(waiting)) return;
    if (
      this.#syncsInFlight === 0 && this.queue.length === 0 &&
      records >= 2 * PIPELINE_RECORDS_MIN
    ) {
      this.#splitAt = Math.ceil(records / 2);
    }
  }

  /** A group's fdatasync (either kind) took `ms`: the pacer's sample, and the stats. */
  #noteSync(ms: number): void {
    this.#syncs++;
    this.#syncMs += ms;
    this.#pacer.noteSync(ms);
  }

  /** A group is flushed right after its appends: their CPU time per record. */
  #noteBurst(group: CommitGroup): void {
    const records = group.recordEnds.length;
    if (records >= PIPELINE_RECORDS_MIN) {
      this.#pacer.noteBurst(performance.now() - group.openedAtMs, records);
    }
  }

  /** The open group reached the split point: writes it now (see `#syncedAsync`). */
  #split(): void {
    const open = this.queue.last;
    if (this.queue.length !== 1 || open!.recordEnds.length < this.#splitAt) return;
    this.#splitAt = 0;
    if (this.#failed || this.closing || this.#syncsInFlight >= PIPELINE_DEPTH) return;
    const group = this.queue.shift()!;
    this.#noteBurst(group);
    this.#flushGroup(group);
  }

  #settle(group: CommitGroup): void {
    this.queue.recycle(group, WAL_GROUP_COMMIT_BYTES_MAX);
    group.resolve();
  }

  /** Synchronous fdatasync: every group written so far is durable, off-thread ones too. */
  syncActive(): void {
    if (!this.#chain.syncActive()) return;
    this.#advanceDurable(this.#writtenSeq);
    if (this.#unsynced.length > 0) {
      for (const group of this.#unsynced.splice(0)) this.#settle(group);
    }
  }

  #advanceDurable(seq: number): void {
    if (seq > this.#durableSeq) {
      this.#durableSeq = seq;
      for (const listener of this.#durableListeners) listener(seq);
    }
  }

  #armSyncTimer(): void {
    if (this.#syncTimer !== undefined) return;
    this.#syncTimer = setTimeout(() => {
      this.#syncTimer = undefined;
      if (this.#failed || this.closing) return;
      try {
        this.syncActive();
      } catch (err) {
        this.fail(err, undefined);
      }
    }, this.#syncIntervalMs);
  }

  /**
   * Enters the failed state: rejects `group`, every group waiting for an off-thread sync and
   * every queued group. Never retries.
   */
  fail(err: unknown, group: CommitGroup | undefined): void {
    if (this.#failed) return;
    const { path, offset } = this.#chain.position;
    const message = err instanceof Error ? err.message : String(err);
    const where = offset === undefined ? path : `segment ${path}, offset ${offset}`;
    this.#failed = new IoError(
      `Cannot write: WAL is failed after an earlier sync error: ${message} (${where})`,
      { cause: err },
    );
    this.#logger?.("error", "WAL write or sync failed; refusing further writes", {
      file: path,
      offset,
      error: message,
    });
    const failed = [
      ...this.#unsynced.splice(0),
      ...(group ? [group] : []),
      ...this.queue.takeAll(),
    ];
    for (const g of failed) g.reject(this.failedError());
  }
}
