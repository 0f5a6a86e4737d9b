/**
 * `Database`: the public API of the LSM engine and the coordination of its parts. Each part
 * has its own file (ARCHITECTURE.md § "Engine source layout"): recovery in `_recovery.ts`, the
 * state the parts share in `_core.ts`, the write path (validation, WAL append, memtable apply,
 * group commit) in `_write_path.ts`, the flush loop in `_flusher.ts`, checkpoints and snapshot
 * installs in `_snapshot.ts`, the scan iterator in `_scan_iterator.ts`, compaction in
 * `src/compaction/`, and the replication-only operations behind `replicationPort(db)`.
 * ARCHITECTURE.md § "Engine" describes the write and read paths and the durability contract.
 *
 * Read path: memtable -> immutable memtables (newest first) -> level 0 -> level 1 -> ...; the first
 * version found wins (`Version.find`).
 *
 * Invariants:
 * - A table file is deleted only after a manifest without it is durable and no open scan
 *   holds it.
 * - One compaction runs at a time; flushes run beside it and only add level-0 tables.
 *
 * @module
 */

import {
  ClosedError,
  CorruptionError,
  diskFullError,
  InvalidArgumentError,
  isNoSpaceError,
} from "../errors.ts";
import { BATCH_OPS_MAX, BATCH_SIZE_BYTES_MAX } from "../limits.ts";
import type { HistoryAncestor } from "../manifest/mod.ts";
import type { CompactionFilter } from "../compaction/filter.ts";
import type { CompactionPlan } from "../compaction/picker.ts";
import { Compactor } from "../compaction/compactor.ts";
import { TieredPicker } from "../compaction/tiered.ts";
import { LeveledPicker } from "../compaction/leveled.ts";
import type { SegmentInfo } from "../wal/mod.ts";
import { compareBytes, toBytes } from "../util/bytes.ts";
import { type EntryKind, KIND_DELETE, KIND_PUT } from "../util/entry.ts";
import type { LogConsumer } from "./log_ops.ts";
import { type DatabaseOptions, type ResolvedOptions, resolveOptions } from "./options.ts";
import { dropSegmentsBeforeSkippedDamage } from "./_open.ts";
import { type ForkPastWalDamage, recover, type RecoveredState } from "./_recovery.ts";
import { collectRange, positionForRange, resolveRange, ScanIterator } from "./_scan_iterator.ts";
import { checkpoint, installSnapshot } from "./_snapshot.ts";
import { checkKey } from "./_validate.ts";
import { EngineCore } from "./_core.ts";
import { Flusher } from "./_flusher.ts";
import { WritePath } from "./_write_path.ts";
import { type DatabaseStats, engineStats } from "./stats.ts";
import type { ReplicationPort } from "./replication_port.ts";
import type {
  AppliedListener,
  BytesLike,
  OpenHooks,
  PutOptions,
  ScanOptions,
  ScanRange,
  ValueEntry,
  WriteOp,
} from "./types.ts";

/** The value `delete` passes to the write path, which ignores it. */
const EMPTY_VALUE = new Uint8Array(0);

export { ReadOnlyError } from "../errors.ts";
export type * from "./types.ts";
export type { DatabaseStats } from "./stats.ts";
export type { ReplicationPort } from "./replication_port.ts";

let portOf: (db: Database) => ReplicationPort;

/** The embeddable CityHall storage engine. */
export class Database {
  readonly dir: string;
  /** The state the engine's parts share. */
  readonly #core: EngineCore;
  readonly #writes: WritePath;
  readonly #flusher: Flusher;
  readonly #compactor: Compactor;
  #port: ReplicationPort | undefined;

  static {
    portOf = (db) => db.#port ??= db.#makePort();
  }

  private constructor(dir: string, options: ResolvedOptions, r: RecoveredState, hooks: OpenHooks) {
    this.dir = dir;
    const core = new EngineCore(dir, options, r, hooks.retentionPins);
    this.#core = core;
    const picker = options.compactionStyle === "leveled"
      ? new LeveledPicker(
        options.levelTablesMax,
        options.levelTablesMax * options.memtableSizeBytesMax,
      )
      : new TieredPicker(options.levelTablesMax);
    this.#compactor = new Compactor(
      {
        dir,
        fs: core.fs,
        logger: options.logger,
        nowMs: options.nowMs,
        version: core.version,
        writer: core.writer,
        commitManifest: (change, retiring) => core.versions.commit(change, retiring),
        stopped: () => core.stopped,
        fail: (err) => core.fail(err),
      },
      picker,
      core.counters,
    );
    this.#flusher = new Flusher(core, this.#compactor);
    this.#writes = new WritePath(core, this.#flusher);
  }

  /**
   * Opens (or creates) the database in `dir`: takes the directory lock, loads the manifest,
   * removes files a crash left behind, opens the tables and replays the WAL.
   */
  static async open(dir: string, options: DatabaseOptions & OpenHooks = {}): Promise<Database> {
    const resolved = resolveOptions(options);
    // Only a recovery past WAL damage forks, and only it needs the fork's table writing: loaded
    // for it alone, not by every open (ARCHITECTURE.md § "Memory").
    const fork = resolved.recoverWalPastDamage
      ? (await import("./_fork.ts")).forkPastWalDamage
      : undefined;
    return Database.#open(dir, resolved, options, fork);
  }

  static #open(
    dir: string,
    resolved: ResolvedOptions,
    options: DatabaseOptions & OpenHooks,
    fork: ForkPastWalDamage | undefined,
  ): Promise<Database> {
    try {
      const r = recover(dir, resolved, () => options.retentionPins?.().pinnedSeqs ?? [], fork);
      const db = new Database(dir, resolved, r, options);
      const flusher = db.#flusher;
      r.space.attach({
        retry: () => flusher.retrySpace(),
        neededBytes: () => flusher.spaceNeeded(),
      });
      dropSegmentsBeforeSkippedDamage(r.wal, r.recovered, r.store.retainAfterSeq, resolved.logger);
      db.#core.deleteObsoleteSegments();
      // Started on a full disk: reads are served, writes refused until space exists.
      if (r.wal.noSpace) r.space.enterFull(r.wal.noSpace, "open");
      if (db.#core.immutables.length > 0) flusher.schedule();
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
  put(key: BytesLike, value: BytesLike, options?: PutOptions): Promise<void> {
    return this.#writes.writeOne(KIND_PUT, key, value, options?.expireAtMs);
  }

  /** Deletes `key` (a tombstone). Resolves when durable under the sync mode. */
  delete(key: BytesLike): Promise<void> {
    return this.#writes.writeOne(KIND_DELETE, key, EMPTY_VALUE, undefined);
  }

  /**
   * Applies `ops` atomically. Validation failures reject with `InvalidArgumentError` and write
   * nothing. Otherwise the batch is applied to the in-memory state before this method returns
   * (visible to reads at once; no other JavaScript runs in between), and the promise resolves
   * when the batch is durable under the sync mode. Later ops on the same key win.
   */
  write(ops: readonly WriteOp[]): Promise<void> {
    return this.#writes.write(ops);
  }

  /** True when user writes are refused with `ReadOnlyError` (a replica). */
  get readOnly(): boolean {
    return this.#writes.readOnly;
  }

  /**
   * Installs a check every `write` runs before validation (`undefined` removes it): it throws
   * to refuse the batch, and nothing is written. A fleet hub refuses puts into its sites'
   * namespaces with it, an edge's disk-full policy refuses writes (ARCHITECTURE.md § "Fleets:
   * hub and uplink").
   */
  setWriteGuard(guard: ((ops: readonly WriteOp[]) => void) | undefined): void {
    this.#writes.writeGuard = guard;
  }

  /** Listeners of `onApplied`. */
  readonly #appliedListeners = new Set<AppliedListener>();

  /**
   * Calls `listener` with the ops of every batch once it is applied and readable: writes of any
   * caller (RESP, HTTP, the time-series layer, a fleet hub) and records replicated from a
   * leader, log ops included, synchronously inside the write. Returns the function that
   * removes it. While any listener is attached, every write takes the batch path; without one,
   * a write pays one comparison. A listener must not write; its errors are logged, never
   * thrown into the write, which has happened. Client-side caching hears writes here
   * (ARCHITECTURE.md § "Client-side caching (CLIENT TRACKING)").
   */
  onApplied(listener: AppliedListener): () => void {
    const listeners = this.#appliedListeners;
    listeners.add(listener);
    this.#writes.applied = (ops) => {
      for (const l of listeners) {
        try {
          l(ops);
        } catch (err) {
          this.#core.options.logger("warn", "write listener failed", { error: String(err) });
        }
      }
    };
    return () => {
      listeners.delete(listener);
      if (listeners.size === 0) this.#writes.applied = undefined;
    };
  }

  /** Listeners of `onReplaced`. */
  readonly #replacedListeners = new Set<() => void>();

  /**
   * Calls `listener` whenever the whole content is replaced at once (a replica installing its
   * leader's snapshot), synchronously with the swap: no `onApplied` call tells of that change.
   * Returns the function that removes it. Client-side caching sends a flush's null then.
   */
  onReplaced(listener: () => void): () => void {
    this.#replacedListeners.add(listener);
    return () => void this.#replacedListeners.delete(listener);
  }

  #replaced(): void {
    for (const l of this.#replacedListeners) {
      try {
        l();
      } catch (err) {
        this.#core.options.logger("warn", "content listener failed", { error: String(err) });
      }
    }
  }

  /** Sequence of the newest write fdatasync'ed in the WAL: what a leader may ship. */
  get durableSeq(): number {
    return this.#core.wal.durableSeq;
  }

  /** The WAL segments on disk, oldest first, the active one last. */
  walSegments(): SegmentInfo[] {
    return this.#core.wal.segments();
  }

  /** The replication-only operations (`replicationPort(db)`). */
  #makePort(): ReplicationPort {
    const core = this.#core;
    return {
      applyReplicated: (seq, payload) => this.#writes.applyReplicated(seq, payload),
      setReadOnly: (readOnly) => {
        this.#writes.readOnly = readOnly;
      },
      onDurable: (listener) => core.wal.addDurableListener(listener),
      setRetentionPins: (pins) => {
        core.retentionPins = pins;
      },
      applyRetention: () => {
        if (!core.stopped) core.deleteObsoleteSegments();
      },
      checkpoint: () => checkpoint(core, () => this.flush()),
      installSnapshot: (state, staged, options) =>
        installSnapshot(core, () => this.idle(), state, staged, options, () => this.#replaced()),
      fileSystem: core.fs,
    };
  }

  // ---------------------------------------------------------------- log ops

  /**
   * Wires in the layer that owns log ops (ARCHITECTURE.md § "Log operations"): hands it every
   * log op recovered at open that is still waiting, in sequence order, then every log op a
   * replicated record carries, and from now on asks it for the log retention pin. One
   * consumer per database; `undefined` detaches it (its pin goes with it).
   */
  attachLogConsumer(consumer: LogConsumer | undefined): void {
    this.#core.log.attach(consumer);
  }

  /** Log ops recovered at open (or replicated) that no consumer has taken yet. */
  get pendingLogOps(): number {
    return this.#core.log.pendingCount;
  }

  /**
   * The live entries in a prefix or `[start, end)`, read synchronously (so no write can land
   * between two of them), at most `limit` (required: this builds an array). Each item is
   * `[key, value, kind, seq]`. `fillCache: false` leaves the block cache as it is (a one-time
   * scan, such as loading every state record at open, would fill it with blocks nobody reads
   * again).
   */
  readRange(
    range: ScanRange,
    options: { limit: number; reverse?: boolean; fillCache?: boolean },
  ): [Uint8Array, Uint8Array, EntryKind, number][] {
    if (this.#core.closed) throw new ClosedError("Cannot read: database is closed");
    const { start, end } = resolveRange(range);
    const limit = options.limit;
    if (!(limit >= 0)) throw new InvalidArgumentError(`Invalid read limit: ${limit}`);
    const reverse = options.reverse ?? false;
    const { iterator, release } = this.#core.snapshotIterator(
      options.fillCache === false ? { fillCache: false } : undefined,
    );
    try {
      return collectRange(iterator, start, end, {
        limit,
        reverse,
        nowMs: this.#core.options.nowMs(),
      });
    } finally {
      release();
    }
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
    if (this.#core.closed) throw new ClosedError("Cannot read: database is closed");
    const k = toBytes(key);
    checkKey(k);
    this.#core.counters.gets++;
    const entry = this.#core.find(k);
    if (entry === undefined || entry.kind === KIND_DELETE) return undefined;
    // The clock is read only for an entry with an expiry (isDeadAt's rule).
    if (entry.expireAtMs !== 0 && entry.expireAtMs <= this.#core.options.nowMs()) return undefined;
    return entry;
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
    if (this.#core.closed) throw new ClosedError("Cannot scan: database is closed");
    const { start, end } = resolveRange(range);
    const limit = options.limit ?? Infinity;
    if (!(limit >= 0)) throw new InvalidArgumentError(`Invalid scan limit: ${options.limit}`);
    const reverse = options.reverse ?? false;
    const { iterator, release } = this.#core.snapshotIterator();
    positionForRange(iterator, start, end, reverse);
    return new ScanIterator(iterator, release, {
      bound: reverse ? start : end,
      reverse,
      limit,
      nowMs: this.#core.options.nowMs,
      isClosed: () => this.#core.closed,
    });
  }

  // ---------------------------------------------------------------- flush & compaction

  /** Turns the memtable into an SSTable and waits until every memtable is flushed. */
  flush(): Promise<void> {
    return this.#flusher.flushAll();
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

  /**
   * One more manifest write, of the same state, so that MANIFEST.prev lists the same tables
   * and the retired ones can go: an explicit `compact()` gives its space back at once.
   */
  async #settleManifest(): Promise<void> {
    const core = this.#core;
    if (!core.versions.hasRetired || core.closed) return;
    await core.versions.commit((m) => ({ ...m }));
  }

  async #runManual(plan: () => CompactionPlan | undefined): Promise<void> {
    await this.#compactor.runManual(
      () => {
        // close() may have run while this waited: a compaction started now would not be
        // awaited by it and would rewrite the manifest and delete tables after the lock is
        // released.
        this.#core.checkWritable();
        return plan();
      },
      () => this.#settleManifest(),
      this.#core.options.autoCompaction,
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
    return this.#core.version.all().map((t) => ({ ...t.meta }));
  }

  /** Waits for background flushes and compactions to finish (tests, benchmarks). */
  async idle(): Promise<void> {
    while (this.#flusher.running || this.#compactor.running) {
      const flushing = this.#flusher.running;
      if (flushing) await flushing;
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
    return this.#core.lastSeq;
  }

  /** The database's random id, fixed at creation. */
  get databaseId(): Uint8Array {
    return this.#core.versions.current.databaseId;
  }

  /**
   * The history the sequence numbers belong to (replication's leader id): the database id
   * until a recovery past WAL damage forks a new one. `ancestors` are the older histories,
   * oldest first, each with the last sequence it shares with the next.
   */
  get history(): { historyId: Uint8Array; ancestors: readonly HistoryAncestor[] } {
    const current = this.#core.versions.current;
    return { historyId: current.historyId, ancestors: current.ancestors };
  }

  /** Counters and sizes. */
  stats(): DatabaseStats {
    return engineStats(this.#core, this.#compactor.style);
  }

  /** Syncs the WAL now (whatever the sync mode). */
  async sync(): Promise<void> {
    this.#core.checkWritable();
    await this.#core.wal.sync();
  }

  /**
   * Stops accepting writes, waits for background work, syncs and closes the WAL and every
   * table, and releases the directory lock. The memtable is not flushed: the WAL holds it.
   */
  async close(): Promise<void> {
    const core = this.#core;
    if (core.closed) return;
    core.closed = true;
    core.space.close();
    try {
      await core.space.idle();
      await this.idle().catch(() => {});
      await core.wal.close().catch((err) => {
        if (!core.fatal) throw err;
      });
    } finally {
      core.version.closeAll();
      core.versions.closeRetired();
      core.wakeStalled();
      core.lock.release();
    }
  }
}

export { CorruptionError };

/**
 * The replication-only operations of `db` (ARCHITECTURE.md § "Replication"): for
 * `src/replication/` and tests of it, nothing else.
 */
export function replicationPort(db: Database): ReplicationPort {
  return portOf(db);
}
