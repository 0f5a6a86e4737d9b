/**
 * `Database`: the public API of the LSM engine and the coordination of its parts — the WAL,
 * memtables, the `Version` of live tables, flushes and compactions. ARCHITECTURE.md § "Engine"
 * describes the write and read paths and the durability contract. Recovery is in
 * `_recovery.ts`, compaction in `src/compaction/`, the replication-only operations behind
 * `replicationPort(db)`.
 *
 * Write path: validate → append the batch to the WAL queue (sequence assigned) → apply it to
 * the memtable in the same tick (visible to reads at once, atomic with respect to other
 * JavaScript) → the promise resolves when the group commit has fdatasync'ed it (sync mode
 * "always"). A full memtable turns immutable at once and a background task flushes it.
 *
 * Read path: memtable → immutable memtables (newest first) → level 0 → level 1 → …; the first
 * version found wins (`Version.find`).
 *
 * Invariants:
 * - Memtable applies happen in sequence order (one JavaScript thread, sequence assigned and
 *   applied in the same synchronous call).
 * - `manifest.flushedSeq` only grows and covers exactly the flushed memtables, flushed oldest
 *   first.
 * - A table file is deleted only after a manifest without it is durable and no open scan
 *   holds it.
 * - One compaction runs at a time; flushes run beside it and only add level-0 tables.
 *
 * @module
 */

import {
  ClosedError,
  CorruptionError,
  type DiskFullError,
  diskFullError,
  InvalidArgumentError,
  IoError,
  isNoSpaceError,
  ReadOnlyError,
} from "../errors.ts";
import { type DirLock, type FileSystem, joinPath } from "../fs/mod.ts";
import {
  BATCH_OPS_MAX,
  BATCH_SIZE_BYTES_MAX,
  IMMUTABLE_MEMTABLES_MAX,
  WAL_RETAINED_BYTES_FLUSH,
} from "../limits.ts";
import { type HistoryAncestor, type ManifestState, tableFileName } from "../manifest/mod.ts";
import { type LiveTable, Version } from "../manifest/version.ts";
import { VersionSet } from "../manifest/version_set.ts";
import { Memtable } from "../memtable/mod.ts";
import type { BlockCache } from "../sstable/mod.ts";
import { MergeIterator } from "../compaction/merge_iterator.ts";
import type { CompactionFilter } from "../compaction/filter.ts";
import type { CompactionPlan } from "../compaction/picker.ts";
import { Compactor } from "../compaction/compactor.ts";
import { TieredPicker } from "../compaction/tiered.ts";
import { LeveledPicker } from "../compaction/leveled.ts";
import { type TableWriterContext, writeTables } from "../compaction/table_writer.ts";
import type { SegmentInfo, WalOp, WalWriter } from "../wal/mod.ts";
import { assert } from "../util/assert.ts";
import { compareBytes, toBytes } from "../util/bytes.ts";
import {
  type Entry,
  type EntryIterator,
  type EntryKind,
  isDeadAt,
  KIND_LOG,
} from "../util/entry.ts";
import { type LogConsumer, logOpsOf, LogOpsRouter } from "./log_ops.ts";
import { type DatabaseOptions, type ResolvedOptions, resolveOptions } from "./options.ts";
import { deletableSegments } from "./retention.ts";
import type { DiskSpace } from "./disk_space.ts";
import { dropSegmentsBeforeSkippedDamage } from "./_open.ts";
import { recover, type RecoveredState } from "./_recovery.ts";
import { collectRange, positionForRange, resolveRange, ScanIterator } from "./_scan_iterator.ts";
import { pinCheckpoint, stageSnapshotTables } from "./_snapshot.ts";
import { checkKey, validateBatch } from "./_validate.ts";
import { planReplicated, type ReplicatedPlan } from "./_replicated.ts";
import { type DatabaseStats, type EngineCounters, newCounters } from "./stats.ts";
import type { ReplicationPort } from "./replication_port.ts";
import type {
  BytesLike,
  DatabaseCheckpoint,
  OpenHooks,
  PutOptions,
  RetentionPins,
  ScanOptions,
  ScanRange,
  ValueEntry,
  WriteOp,
} from "./types.ts";

export { ReadOnlyError } from "../errors.ts";
export type * from "./types.ts";
export type { DatabaseStats } from "./stats.ts";
export type { ReplicationPort } from "./replication_port.ts";

let portOf: (db: Database) => ReplicationPort;

/** The embeddable CityHall storage engine. */
export class Database {
  readonly dir: string;
  readonly #options: ResolvedOptions;
  readonly #fs: FileSystem;
  readonly #lock: DirLock;
  readonly #cache: BlockCache;
  /** The current manifest, its writes, file numbers and retired tables. */
  readonly #versions: VersionSet;
  readonly #wal: WalWriter;
  #memtable: Memtable;
  /** Newest first. */
  #immutables: Memtable[];
  readonly #version: Version;
  readonly #compactor: Compactor;
  readonly #writer: TableWriterContext;
  #lastSeq: number;
  #closed = false;
  #fatal: Error | undefined;
  #flushing: Promise<void> | undefined;
  #stallWaiters: (() => void)[] = [];
  #readOnly = false;
  readonly #space: DiskSpace;
  /** Set while memtable flushes stop for lack of disk space (retried by `#space`). */
  #flushBlocked: DiskFullError | undefined;
  #writeGuard: ((ops: readonly WriteOp[]) => void) | undefined;
  #retentionPins: (() => RetentionPins) | undefined;
  /** The layer owning log ops, or the log ops waiting for it. */
  readonly #log: LogOpsRouter;
  /** Active WAL segment at the last look: a change triggers the WAL-size check. */
  #walSegmentSeen: number;
  #lastGroup: Promise<void> | undefined;
  #lastGroupWrapped: Promise<void> | undefined;
  #counters: EngineCounters = newCounters();
  #port: ReplicationPort | undefined;

  static {
    portOf = (db) => db.#port ??= db.#makePort();
  }

  private constructor(dir: string, options: ResolvedOptions, r: RecoveredState, hooks: OpenHooks) {
    this.dir = dir;
    this.#options = options;
    this.#fs = options.fs;
    this.#lock = r.lock;
    this.#cache = r.cache;
    this.#wal = r.wal;
    this.#lastSeq = r.lastSeq;
    this.#space = r.space;
    this.#memtable = r.memtables[0]!;
    this.#immutables = r.memtables.slice(1).filter((m) => !m.isEmpty);
    this.#log = new LogOpsRouter(r.pendingLog);
    this.#retentionPins = hooks.retentionPins;
    this.#walSegmentSeen = r.wal.activeSegmentId;
    this.#version = new Version((t) => this.#deleteTable(t));
    this.#version.apply(new Set(), r.tables);
    this.#versions = new VersionSet(
      this.#fs,
      dir,
      r.store,
      r.manifest,
      this.#version,
      r.retiredFiles,
      options.logger,
    );
    const picker = options.compactionStyle === "leveled"
      ? new LeveledPicker(
        options.levelTablesMax,
        options.levelTablesMax * options.memtableSizeBytesMax,
      )
      : new TieredPicker(options.levelTablesMax);
    this.#writer = {
      fs: this.#fs,
      dir,
      cache: r.cache,
      blockSizeBytes: options.blockSizeBytes,
      compression: options.compression,
      bloomBitsPerKey: options.bloomBitsPerKey,
      tableSizeBytesTarget: options.tableSizeBytesTarget,
      nextFileNumber: () => this.#versions.newFileNumber(),
      checkAlive: () => {
        if (this.#fatal) throw this.#fatal;
      },
    };
    this.#compactor = new Compactor(
      {
        dir,
        fs: this.#fs,
        logger: options.logger,
        nowMs: options.nowMs,
        version: this.#version,
        writer: this.#writer,
        commitManifest: (change, retiring) => this.#versions.commit(change, retiring),
        stopped: () => this.#closed || this.#fatal !== undefined,
        fail: (err) => this.#fail(err),
      },
      picker,
      this.#counters,
    );
  }

  /**
   * Opens (or creates) the database in `dir`: takes the directory lock, loads the manifest,
   * removes files a crash left behind, opens the tables and replays the WAL.
   */
  static open(dir: string, options: DatabaseOptions & OpenHooks = {}): Promise<Database> {
    try {
      const resolved = resolveOptions(options);
      const r = recover(dir, resolved, () => options.retentionPins?.().pinnedSeqs ?? []);
      const db = new Database(dir, resolved, r, options);
      r.space.attach({ retry: () => db.#retrySpace(), neededBytes: () => db.#spaceNeeded() });
      dropSegmentsBeforeSkippedDamage(r.wal, r.recovered, r.store.retainAfterSeq, resolved.logger);
      db.#deleteObsoleteSegments();
      // Started on a full disk: reads are served, writes refused until space exists.
      if (r.wal.noSpace) r.space.enterFull(r.wal.noSpace, "open");
      if (db.#immutables.length > 0) db.#scheduleFlush();
      resolved.logger("info", "opened database", {
        dir,
        lastSeq: r.lastSeq,
        flushedSeq: r.manifest.flushedSeq,
        tables: r.manifest.tables.length,
        compactionStyle: resolved.compactionStyle,
      });
      return Promise.resolve(db);
    } catch (err) {
      return Promise.reject(err);
    }
  }
  // ---------------------------------------------------------------- writes

  /** Stores `value` under `key`. Resolves when durable under the sync mode. */
  put(key: BytesLike, value: BytesLike, options: PutOptions = {}): Promise<void> {
    const op: WriteOp = options.expireAtMs === undefined
      ? { type: "put", key, value }
      : { type: "put", key, value, expireAtMs: options.expireAtMs };
    return this.write([op]);
  }

  /** Deletes `key` (a tombstone). Resolves when durable under the sync mode. */
  delete(key: BytesLike): Promise<void> {
    return this.write([{ type: "delete", key }]);
  }

  /**
   * Applies `ops` atomically. Validation failures reject with `InvalidArgumentError` and write
   * nothing. Otherwise the batch is applied to the in-memory state before this method returns
   * (visible to reads at once; no other JavaScript runs in between), and the promise resolves
   * when the batch is durable under the sync mode. Later ops on the same key win.
   */
  write(ops: readonly WriteOp[]): Promise<void> {
    let walOps: WalOp[];
    try {
      this.#checkWritable();
      if (this.#readOnly) {
        throw new ReadOnlyError("Cannot write: this database is a read-only replica");
      }
      // Before validation, which counts the write in the stats.
      this.#checkSpace();
      this.#writeGuard?.(ops);
      const batch = validateBatch(ops);
      walOps = batch.ops;
      this.#counters.bytesWritten += batch.bytes;
      this.#counters.puts += batch.puts;
      this.#counters.deletes += batch.ops.length - batch.puts;
    } catch (err) {
      return Promise.reject(err);
    }
    if (walOps.length === 0) return Promise.resolve();
    let appended: { seq: number; durable: Promise<void> };
    try {
      appended = this.#wal.append(walOps);
    } catch (err) {
      return Promise.reject(this.#appendFailed(err));
    }
    const memtable = this.#memtable;
    let seq = appended.seq;
    for (const op of walOps) {
      if (op.kind !== KIND_LOG) {
        memtable.apply({
          key: op.key,
          seq,
          kind: op.kind,
          expireAtMs: op.expireAtMs ?? 0,
          value: op.value ?? EMPTY,
        });
      } else if (this.#log.consumer === undefined) {
        // Written with nobody to own it: held (and pinned) like a replayed one.
        this.#log.deliver([{ seq, key: op.key, value: op.value ?? EMPTY }]);
      }
      seq++;
    }
    this.#lastSeq = seq - 1;
    return this.#afterApply(appended.durable);
  }

  /**
   * What every write does once its batch is in the memtable: the promise of its group commit
   * (wrapped once per group, not once per write, so that a failure stops the database), a
   * memtable switch when it is full, and backpressure when flushing has fallen behind (the
   * write is applied but its caller waits).
   */
  #afterApply(groupDurable: Promise<void>): Promise<void> {
    if (groupDurable !== this.#lastGroup) {
      this.#lastGroup = groupDurable;
      this.#lastGroupWrapped = groupDurable.catch((err) => {
        this.#fail(err);
        throw err;
      });
    }
    const durable = this.#lastGroupWrapped!;
    if (this.#memtable.sizeBytes >= this.#options.memtableSizeBytesMax) this.#rotateMemtable();
    if (this.#wal.activeSegmentId !== this.#walSegmentSeen) this.#onWalSegmentSwitch();
    if (this.#immutables.length > IMMUTABLE_MEMTABLES_MAX) {
      return durable.then(() => this.#waitForFlushRoom());
    }
    return durable;
  }

  // ---------------------------------------------------------------- replication

  /** `ReplicationPort.applyReplicated`. */
  #applyReplicated(seq: number, payload: Uint8Array): Promise<void> {
    let plan: ReplicatedPlan;
    try {
      this.#checkWritable();
      plan = planReplicated(seq, payload, this.#lastSeq);
      // Already applied: durable once the newest group is.
      if (plan.kind === "applied") return this.#lastGroupWrapped ?? Promise.resolve();
    } catch (err) {
      return Promise.reject(err);
    }
    const entries = plan.entries;
    let appended: { seq: number; durable: Promise<void> };
    try {
      this.#checkSpace();
      appended = plan.kind === "tail"
        ? this.#wal.append(plan.ops)
        : this.#wal.appendPayload(seq, payload, entries.length);
    } catch (err) {
      return Promise.reject(this.#appendFailed(err));
    }
    assert(appended.seq === entries[0]!.seq, "replicated sequence mismatch");
    const memtable = this.#memtable;
    let logOps = false;
    for (const entry of entries) {
      if (entry.kind === KIND_LOG) logOps = true;
      else memtable.apply(entry);
    }
    this.#lastSeq = entries[entries.length - 1]!.seq;
    // The consumer sees the batch's log ops after its other ops are readable.
    if (logOps) this.#log.deliver(logOpsOf(entries));
    return this.#afterApply(appended.durable);
  }

  /** True when user writes are refused with `ReadOnlyError` (a replica). */
  get readOnly(): boolean {
    return this.#readOnly;
  }

  /**
   * Installs a check every `write` runs before validation (`undefined` removes it): it throws
   * to refuse the batch, and nothing is written. A fleet hub refuses puts into its sites'
   * namespaces with it, an edge's disk-full policy refuses writes (ARCHITECTURE.md § "Fleets:
   * hub and uplink").
   */
  setWriteGuard(guard: ((ops: readonly WriteOp[]) => void) | undefined): void {
    this.#writeGuard = guard;
  }

  /** Sequence of the newest write fdatasync'ed in the WAL: what a leader may ship. */
  get durableSeq(): number {
    return this.#wal.durableSeq;
  }

  /** The WAL segments on disk, oldest first, the active one last. */
  walSegments(): SegmentInfo[] {
    return this.#wal.segments();
  }

  #makePort(): ReplicationPort {
    return {
      applyReplicated: (seq, payload) => this.#applyReplicated(seq, payload),
      setReadOnly: (readOnly) => {
        this.#readOnly = readOnly;
      },
      onDurable: (listener) => this.#wal.addDurableListener(listener),
      setRetentionPins: (pins) => {
        this.#retentionPins = pins;
      },
      applyRetention: () => {
        if (this.#closed || this.#fatal) return;
        this.#deleteObsoleteSegments();
      },
      checkpoint: () => this.#checkpoint(),
      installSnapshot: (state, staged, options) => this.#installSnapshot(state, staged, options),
      fileSystem: this.#fs,
    };
  }

  /** `ReplicationPort.checkpoint`. */
  async #checkpoint(): Promise<DatabaseCheckpoint> {
    // Log ops are not in tables: their owner writes what they hold as puts first.
    await this.#log.consumer?.persistAll?.();
    await this.flush();
    return await pinCheckpoint(this.dir, this.#version, () => this.#versions.current);
  }

  /** `ReplicationPort.installSnapshot`. */
  async #installSnapshot(
    state: ManifestState,
    staged: ReadonlyMap<number, string>,
    options: { replaceHistory?: boolean } = {},
  ): Promise<void> {
    this.#checkWritable();
    await this.#wal.sync();
    await this.idle();
    this.#checkWritable();
    let seq = state.flushedSeq;
    for (const t of state.tables) seq = Math.max(seq, t.maxSeq);
    if (seq <= this.#lastSeq && !options.replaceHistory) {
      throw new InvalidArgumentError(
        `Cannot install a snapshot at ${seq}: the database is already at ${this.#lastSeq}`,
      );
    }
    const { opened, undo } = stageSnapshotTables(
      this.#fs,
      this.dir,
      this.#cache,
      state,
      staged,
      () => this.#versions.newFileNumber(),
    );
    try {
      // The WAL moves to a fresh segment (it may need space) before the manifest commits, so
      // nothing can fail after it. Replacing a history also removes every older segment.
      this.#wal.restartAt(seq + 1, { dropOlder: options.replaceHistory ?? false });
    } catch (err) {
      undo();
      throw err;
    }
    // Both copies: the WAL restarts at a new sequence, so the state before the snapshot can no
    // longer serve as a fallback, and its tables may go at once.
    this.#versions.replaceBoth({
      ...this.#versions.current,
      flushedSeq: seq,
      tables: opened.map((t) => t.meta),
    });
    // From here the new state is durable: swap it in synchronously.
    this.#version.retire(this.#version.replaceAll(opened));
    this.#memtable = new Memtable();
    this.#immutables = [];
    this.#lastSeq = seq;
    // Log ops of the old content are meaningless now; the consumer reloads from the tables.
    this.#log.reset();
    this.#deleteObsoleteSegments();
    this.#options.logger("info", "installed snapshot", {
      dir: this.dir,
      seq,
      tables: opened.length,
    });
  }

  // ---------------------------------------------------------------- log ops

  /**
   * Wires in the layer that owns log ops (ARCHITECTURE.md § "Log operations"): hands it every
   * log op recovered at open that is still waiting, in sequence order, then every log op a
   * replicated record carries, and from now on asks it for the log retention pin. One
   * consumer per database; `undefined` detaches it (its pin goes with it).
   */
  attachLogConsumer(consumer: LogConsumer | undefined): void {
    this.#log.attach(consumer);
  }

  /** Log ops recovered at open (or replicated) that no consumer has taken yet. */
  get pendingLogOps(): number {
    return this.#log.pendingCount;
  }

  /**
   * A WAL segment filled up. When the closed segments hold more than
   * `WAL_RETAINED_BYTES_FLUSH` only because the memtable is not flushed yet (a workload of
   * mostly log ops fills the WAL far faster than the memtable), flush it so that retention
   * can delete them; an empty memtable just moves `flushedSeq` forward.
   */
  #onWalSegmentSwitch(): void {
    this.#walSegmentSeen = this.#wal.activeSegmentId;
    if (this.#closed || this.#fatal) return;
    let retained = 0;
    for (const s of this.#wal.segments()) {
      if (s.id !== this.#wal.activeSegmentId && s.lastSeq > this.#versions.current.flushedSeq) {
        retained += s.sizeBytes;
      }
    }
    if (retained < WAL_RETAINED_BYTES_FLUSH) return;
    if (!this.#memtable.isEmpty) this.#rotateMemtable();
    else if (this.#immutables.length === 0) {
      this.#advanceFlushedSeq().catch((err) => this.#fail(err));
    }
  }

  /**
   * Nothing is waiting to be flushed (every write since the last flush was a log op): records
   * in the manifest that the tables cover everything up to now, then applies retention.
   */
  async #advanceFlushedSeq(): Promise<void> {
    // Only as far as the WAL is durable: a manifest promising more would, after a power loss,
    // sit above the end of the log and leave a sequence gap under the next writes.
    const seq = Math.min(this.#lastSeq, this.#wal.durableSeq);
    if (seq <= this.#versions.current.flushedSeq) return;
    await this.#versions.commit((m) => ({ ...m, flushedSeq: Math.max(m.flushedSeq, seq) }));
    this.#deleteObsoleteSegments();
  }

  /**
   * The live entries in a prefix or `[start, end)`, read synchronously (so no write can land
   * between two of them), at most `limit` (required: this builds an array). Each item is
   * `[key, value, kind, seq]`.
   */
  readRange(
    range: ScanRange,
    options: { limit: number; reverse?: boolean },
  ): [Uint8Array, Uint8Array, EntryKind, number][] {
    if (this.#closed) throw new ClosedError("Cannot read: database is closed");
    const { start, end } = resolveRange(range);
    const limit = options.limit;
    if (!(limit >= 0)) throw new InvalidArgumentError(`Invalid read limit: ${limit}`);
    const reverse = options.reverse ?? false;
    const { iterator, release } = this.#snapshotIterator();
    try {
      return collectRange(iterator, start, end, { limit, reverse, nowMs: this.#options.nowMs() });
    } finally {
      release();
    }
  }

  #checkWritable(): void {
    if (this.#closed) throw new ClosedError("Cannot write: database is closed");
    if (this.#fatal) {
      throw new IoError(
        `Cannot write: database stopped accepting writes after a fatal error: ${this.#fatal.message}`,
        { cause: this.#fatal },
      );
    }
  }

  /** Refuses a write while the disk is full (before anything is applied). */
  #checkSpace(): void {
    if (this.#space.full) throw this.#space.refusal();
  }

  /**
   * A WAL append threw before anything was applied: lack of space refuses writes until it
   * returns; any other error is fatal. Returns the error to reject with.
   */
  #appendFailed(err: unknown): unknown {
    if (isNoSpaceError(err)) {
      this.#space.enterFull(diskFullError("cannot write the WAL", err), "WAL append");
      return err;
    }
    this.#fail(err);
    return err;
  }

  #fail(err: unknown): void {
    if (this.#fatal) return;
    this.#fatal = err instanceof Error ? err : new Error(String(err));
    this.#options.logger("error", "fatal I/O error: refusing further writes", {
      dir: this.dir,
      error: this.#fatal.message,
    });
    for (const wake of this.#stallWaiters.splice(0)) wake();
  }

  #rotateMemtable(): void {
    if (this.#memtable.isEmpty) return;
    this.#immutables.unshift(this.#memtable);
    this.#memtable = new Memtable();
    this.#scheduleFlush();
  }

  #waitForFlushRoom(): Promise<void> {
    // A flush stopped by a full disk frees writers too: their writes are durable in the WAL.
    if (
      this.#immutables.length <= IMMUTABLE_MEMTABLES_MAX || this.#fatal || this.#closed ||
      this.#flushBlocked
    ) {
      return Promise.resolve();
    }
    return new Promise((resolve) => this.#stallWaiters.push(resolve));
  }

  // ---------------------------------------------------------------- reads

  /** The value of `key`, or `undefined` when it is missing, deleted or expired. */
  get(key: BytesLike): Promise<Uint8Array | undefined> {
    try {
      return Promise.resolve(this.getEntry(key)?.value);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * Synchronous read of the current state, with the entry's expiry: what the server's
   * read-modify-write commands use between a read and a `write` with no await in between.
   */
  getEntry(key: BytesLike): ValueEntry | undefined {
    if (this.#closed) throw new ClosedError("Cannot read: database is closed");
    const k = toBytes(key);
    checkKey(k);
    this.#counters.gets++;
    const entry = this.#find(k);
    if (entry === undefined || isDeadAt(entry, this.#options.nowMs())) return undefined;
    return { kind: entry.kind, value: entry.value, expireAtMs: entry.expireAtMs, seq: entry.seq };
  }

  #find(key: Uint8Array): Entry | undefined {
    const e = this.#memtable.get(key);
    if (e) return e;
    for (const m of this.#immutables) {
      const found = m.get(key);
      if (found) return found;
    }
    return this.#version.find(key);
  }

  /**
   * Live key/value pairs in a prefix or `[start, end)`, ascending by unsigned bytes (or
   * descending with `reverse`). The scan sees writes made while it runs for keys it has not
   * passed yet; it never returns a key twice or skips a key that exists throughout.
   */
  scan(
    range: ScanRange = {},
    options: ScanOptions = {},
  ): AsyncIterableIterator<[Uint8Array, Uint8Array]> {
    if (this.#closed) throw new ClosedError("Cannot scan: database is closed");
    const { start, end } = resolveRange(range);
    const limit = options.limit ?? Infinity;
    if (!(limit >= 0)) throw new InvalidArgumentError(`Invalid scan limit: ${options.limit}`);
    const reverse = options.reverse ?? false;
    const { iterator, release } = this.#snapshotIterator();
    positionForRange(iterator, start, end, reverse);
    return new ScanIterator(iterator, release, {
      bound: reverse ? start : end,
      reverse,
      limit,
      nowMs: this.#options.nowMs,
      isClosed: () => this.#closed,
    });
  }

  /** A merged iterator over every source as of now, holding references to its tables. */
  #snapshotIterator(): { iterator: EntryIterator; release: () => void } {
    const children: EntryIterator[] = [this.#memtable.iterator()];
    for (const m of this.#immutables) children.push(m.iterator());
    const held = this.#version.all();
    this.#version.hold(held);
    for (const t of held) children.push(t.table.iterator());
    let released = false;
    return {
      iterator: new MergeIterator(children),
      release: () => {
        if (released) return;
        released = true;
        this.#version.release(held);
      },
    };
  }

  // ---------------------------------------------------------------- flush & compaction

  #scheduleFlush(): void {
    if (this.#flushing) return;
    this.#flushing = this.#flushLoop().finally(() => {
      this.#flushing = undefined;
    });
  }

  async #flushLoop(): Promise<void> {
    while (this.#immutables.length > 0 && !this.#fatal && !this.#closed) {
      const imm = this.#immutables[this.#immutables.length - 1]!;
      try {
        await this.#flushMemtable(imm);
      } catch (err) {
        if (!isNoSpaceError(err)) {
          this.#fail(err);
          return;
        }
        // The memtable stays (its writes are in the WAL); the flush is retried with space.
        this.#flushBlocked = diskFullError("cannot flush the memtable to an SSTable", err);
        this.#space.enterFull(this.#flushBlocked, "flush");
        for (const wake of this.#stallWaiters.splice(0)) wake();
        return;
      }
      this.#flushBlocked = undefined;
      this.#immutables.pop();
      if (this.#immutables.length <= IMMUTABLE_MEMTABLES_MAX) {
        for (const wake of this.#stallWaiters.splice(0)) wake();
      }
      if (this.#options.autoCompaction) this.#compactor.schedule(true);
    }
  }

  async #flushMemtable(imm: Memtable): Promise<void> {
    const it = imm.iterator();
    it.seekToFirst();
    const tables = await writeTables(this.#writer, it, 0);
    // The manifest may only cover what the WAL holds durably: a flushedSeq above the log's
    // durable end (its group commit failed, or is still pending) would, after a restart, leave
    // a hole between the old segment and the next one. Normally already true; a failed WAL
    // rejects here and the flush fails.
    if (this.#wal.durableSeq < imm.maxSeq) await this.#wal.sync();
    const state = await this.#versions.commitTables(tables, (m) => ({
      ...m,
      flushedSeq: Math.max(m.flushedSeq, imm.maxSeq),
      tables: [...tables.map((t) => t.meta), ...m.tables],
    }));
    this.#version.apply(new Set(), tables);
    this.#counters.flushes++;
    for (const t of tables) this.#counters.flushBytesWritten += t.meta.sizeBytes;
    this.#options.logger("debug", "flushed memtable", {
      entries: imm.count,
      tables: tables.length,
      flushedSeq: state.flushedSeq,
    });
    this.#deleteObsoleteSegments();
  }

  /**
   * One more manifest write, of the same state, so that MANIFEST.prev lists the same tables
   * and the retired ones can go: an explicit `compact()` gives its space back at once.
   */
  async #settleManifest(): Promise<void> {
    if (!this.#versions.hasRetired || this.#closed) return;
    await this.#versions.commit((m) => ({ ...m }));
  }

  /** The disk-space retry: WAL space first, then the flushes that stopped. */
  async #retrySpace(): Promise<boolean> {
    if (this.#closed || this.#fatal) return false;
    if (!(await this.#wal.prepareSpace())) return false;
    if (this.#immutables.length > 0) {
      this.#scheduleFlush();
      while (this.#flushing) await this.#flushing;
      if (this.#flushBlocked) return false;
    }
    if (this.#options.autoCompaction) this.#compactor.schedule();
    return !this.#closed && !this.#fatal;
  }

  /** Bytes the disk-space retry needs free before it tries. */
  #spaceNeeded(): number {
    let bytes = this.#wal.noSpace ? this.#wal.segmentSizeBytes : 0;
    if (this.#flushBlocked) { for (const m of this.#immutables) bytes += m.sizeBytes; }
    return bytes;
  }

  /** Closes an obsolete table no one holds and deletes its file (`Version`'s drop). */
  #deleteTable(t: LiveTable): void {
    t.table.close();
    this.#cache.evictFile(t.meta.fileNumber);
    try {
      this.#fs.remove(joinPath(this.dir, tableFileName(t.meta.fileNumber)));
    } catch (err) {
      this.#options.logger("warn", "cannot remove obsolete table", {
        file: tableFileName(t.meta.fileNumber),
        error: String(err),
      });
    }
  }

  #deleteObsoleteSegments(): void {
    const segments = this.#wal.segments();
    const pins = this.#retentionPins?.();
    const logPin = this.#log.pin();
    const ids = deletableSegments(segments, {
      // Both manifest copies must be able to replay the WAL from their flushedSeq.
      flushedSeq: this.#versions.retainAfterSeq,
      activeSegmentId: this.#wal.activeSegmentId,
      ...(logPin !== Infinity ? { logDurableSeq: logPin } : {}),
      ...(pins ? { pinnedSeqs: pins.pinnedSeqs } : {}),
      ...(pins?.retainedBytesMax !== undefined ? { retainedBytesMax: pins.retainedBytesMax } : {}),
    });
    for (const id of ids) this.#wal.removeSegment(id);
  }

  /** Turns the memtable into an SSTable and waits until every memtable is flushed. */
  async flush(): Promise<void> {
    this.#checkWritable();
    this.#rotateMemtable();
    while (this.#flushing) await this.#flushing;
    if (this.#fatal) this.#checkWritable();
    if (this.#flushBlocked) throw this.#space.refusal();
    if (this.#memtable.isEmpty && this.#immutables.length === 0) await this.#advanceFlushedSeq();
  }

  /**
   * Flushes, then merges every table into one sorted run at the bottom level, dropping every
   * tombstone, expired entry, overwritten version and whatever the compaction filters drop.
   */
  async compact(): Promise<void> {
    await this.flush();
    await this.#runManual(() => this.#compactor.fullPlan());
  }

  /**
   * Flushes, then compacts every table holding keys in `[start, end)` (an omitted bound is
   * open), with every table whose keys overlap theirs, into the deepest level among them
   * (level 1 at least in the leveled style): what TTL and the compaction filters drop there
   * is gone afterwards, and so are the tombstones nothing older may hold.
   */
  async compactRange(start?: BytesLike, end?: BytesLike): Promise<void> {
    const s = start === undefined ? undefined : toBytes(start);
    const e = end === undefined ? undefined : toBytes(end);
    if (s !== undefined && e !== undefined && compareBytes(s, e) > 0) {
      throw new InvalidArgumentError("Invalid compaction range: start is after end");
    }
    await this.flush();
    await this.#runManual(() => this.#compactor.rangePlan(s, e));
  }

  async #runManual(plan: () => CompactionPlan | undefined): Promise<void> {
    await this.#compactor.runManual(
      () => {
        // close() may have run while this waited: a compaction started now would not be
        // awaited by it and would rewrite the manifest and delete tables after the lock is
        // released.
        this.#checkWritable();
        return plan();
      },
      () => this.#settleManifest(),
      this.#options.autoCompaction,
    ).catch((err) => {
      throw isNoSpaceError(err) ? diskFullError("cannot compact the tables", err) : err;
    });
  }

  /**
   * Registers a compaction filter (ARCHITECTURE.md § "Compaction filters"): from the next
   * compaction on it sees every live entry compacted and keeps, drops or rewrites it. Returns
   * a function that removes it. Throws when a filter of that name is registered already.
   */
  registerCompactionFilter(filter: CompactionFilter): () => void {
    return this.#compactor.registerFilter(filter);
  }

  /** The live tables, by level (what the manifest lists); for tools and tests. */
  tables(): {
    level: number;
    fileNumber: number;
    sizeBytes: number;
    entries: number;
    smallestKey: Uint8Array;
    largestKey: Uint8Array;
    minSeq: number;
    maxSeq: number;
  }[] {
    return this.#version.all().map((t) => ({ ...t.meta }));
  }

  /** Waits for background flushes and compactions to finish (tests, benchmarks). */
  async idle(): Promise<void> {
    while (this.#flushing || this.#compactor.running) {
      if (this.#flushing) await this.#flushing;
      const compacting = this.#compactor.running;
      if (compacting) await compacting;
    }
  }

  /** Deletes every key, durably (FLUSHDB). */
  async clear(): Promise<void> {
    let batch: WriteOp[] = [];
    let batchBytes = 0;
    const pending: Promise<void>[] = [];
    for await (const [key] of this.scan({})) {
      // A delete counts its key bytes against BATCH_SIZE_BYTES_MAX: long keys fill a batch
      // before BATCH_OPS_MAX does.
      if (batch.length > 0 && batchBytes + key.length > BATCH_SIZE_BYTES_MAX) {
        pending.push(this.write(batch));
        batch = [];
        batchBytes = 0;
      }
      batch.push({ type: "delete", key });
      batchBytes += key.length;
      if (batch.length >= BATCH_OPS_MAX) {
        pending.push(this.write(batch));
        batch = [];
        batchBytes = 0;
      }
    }
    if (batch.length > 0) pending.push(this.write(batch));
    await Promise.all(pending);
  }

  // ---------------------------------------------------------------- misc

  /** Sequence number of the newest write. */
  get lastSeq(): number {
    return this.#lastSeq;
  }

  /** The database's random id, fixed at creation. */
  get databaseId(): Uint8Array {
    return this.#versions.current.databaseId;
  }

  /**
   * The history the sequence numbers belong to (replication's leader id): the database id
   * until a recovery past WAL damage forks a new one. `ancestors` are the older histories,
   * oldest first, each with the last sequence it shares with the next.
   */
  get history(): { historyId: Uint8Array; ancestors: readonly HistoryAncestor[] } {
    return {
      historyId: this.#versions.current.historyId,
      ancestors: this.#versions.current.ancestors,
    };
  }

  /** Counters and sizes. */
  stats(): DatabaseStats {
    const segments = this.#wal.segments();
    const levels = this.#version.levels;
    const stats: DatabaseStats = {
      lastSeq: this.#lastSeq,
      flushedSeq: this.#versions.current.flushedSeq,
      memtableSizeBytes: this.#memtable.sizeBytes,
      memtableEntries: this.#memtable.count,
      immutableMemtables: this.#immutables.length,
      walSegments: segments.length,
      walSizeBytes: segments.reduce((s, x) => s + x.sizeBytes, 0),
      walBytesWritten: this.#wal.bytesAppended,
      tablesPerLevel: levels.map((l) => l.length),
      bytesPerLevel: levels.map((_, i) => this.#version.levelBytes(i)),
      compactionStyle: this.#compactor.style,
      sstableSizeBytes: this.#versions.current.tables.reduce((s, t) => s + t.sizeBytes, 0),
      sstableEntries: this.#versions.current.tables.reduce((s, t) => s + t.entries, 0),
      ...this.#counters,
      blockCacheHits: this.#cache.hits,
      blockCacheMisses: this.#cache.misses,
    };
    if (this.#fatal) stats.fatalError = this.#fatal.message;
    if (this.#space.full) stats.diskFull = this.#space.full.message;
    return stats;
  }

  /** Syncs the WAL now (whatever the sync mode). */
  async sync(): Promise<void> {
    this.#checkWritable();
    await this.#wal.sync();
  }

  /**
   * Stops accepting writes, waits for background work, syncs and closes the WAL and every
   * table, and releases the directory lock. The memtable is not flushed: the WAL holds it.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#space.close();
    try {
      await this.#space.idle();
      await this.idle().catch(() => {});
      await this.#wal.close().catch((err) => {
        if (!this.#fatal) throw err;
      });
    } finally {
      this.#version.closeAll();
      this.#versions.closeRetired();
      for (const wake of this.#stallWaiters.splice(0)) wake();
      this.#lock.release();
    }
  }
}

const EMPTY = new Uint8Array(0);

export { CorruptionError };

/**
 * The replication-only operations of `db` (ARCHITECTURE.md § "Replication"): for
 * `src/replication/` and tests of it, nothing else.
 */
export function replicationPort(db: Database): ReplicationPort {
  return portOf(db);
}
