/**
 * The state one database's parts share -- the memtables, the sequence, the live tables, the WAL,
 * the counters -- and the few operations each part needs: stop on a fatal error, refuse writes
 * after it, read through every source, delete the WAL segments retention allows. Private to
 * `src/engine/`: `Database` owns one `EngineCore` and hands it to the write path
 * (`_write_path.ts`), the flush loop (`_flusher.ts`) and checkpoints and snapshot installs
 * (`_snapshot.ts`). ARCHITECTURE.md § "Engine source layout".
 *
 * Invariants:
 * - `memtable` and `immutables` change only in synchronous code: a rotation, a finished flush,
 *   a snapshot install; readers and writers never see them half changed.
 * - `fatal`, once set, stays: writes are refused and background work stops.
 *
 * @module
 */

import { ClosedError, IoError } from "../errors.ts";
import { type DirLock, type FileSystem, joinPath } from "../fs/mod.ts";
import { tableFileName } from "../manifest/mod.ts";
import { type LiveTable, Version } from "../manifest/version.ts";
import { VersionSet } from "../manifest/version_set.ts";
import type { Memtable } from "../memtable/mod.ts";
import type { BlockCache } from "../sstable/block_cache.ts";
import { bloomHash } from "../sstable/bloom.ts";
import { type CachedRow, RowCache } from "../sstable/row_cache.ts";
import { LevelIterator } from "../compaction/level_iterator.ts";
import { MergeIterator } from "../compaction/merge_iterator.ts";
import type { TableWriterContext } from "../compaction/table_writer.ts";
import type { WalWriter } from "../wal/mod.ts";
import type { Entry, EntryIterator } from "../util/entry.ts";
import type { DiskSpace } from "./disk_space.ts";
import { LogOpsRouter } from "./log_ops.ts";
import type { ResolvedOptions } from "./options.ts";
import { deletableSegments } from "./retention.ts";
import type { RecoveredState } from "./_recovery.ts";
import { type EngineCounters, newCounters } from "./stats.ts";
import type { RetentionPins } from "./types.ts";

/** Table iterator options of a scan that leaves the block cache as it is. */
const NO_FILL = { fillCache: false } as const;

/** The row a point read returns for `e` (the row cache's rows have the same shape). */
function rowOf(e: Entry): CachedRow {
  return { kind: e.kind, value: e.value, expireAtMs: e.expireAtMs, seq: e.seq };
}

/** What every part of one open database shares. */
export class EngineCore {
  /** The data directory. */
  readonly dir: string;
  /** The options the database was opened with, resolved. */
  readonly options: ResolvedOptions;
  /** The file system every file goes through. */
  readonly fs: FileSystem;
  /** The directory lock, held until close. */
  readonly lock: DirLock;
  /** The block cache the tables share. */
  readonly cache: BlockCache;
  /** Entries point reads found in the tables (ARCHITECTURE.md § "Row cache"). */
  readonly rowCache: RowCache;
  /** The WAL writer (group commit, segments). */
  readonly wal: WalWriter;
  /** The live tables by level, with their reference counts. */
  readonly version: Version;
  /** The current manifest, its writes, file numbers and retired tables. */
  readonly versions: VersionSet;
  /** The disk-space watcher. */
  readonly space: DiskSpace;
  /** The layer owning log ops, or the log ops waiting for it. */
  readonly log: LogOpsRouter;
  /** Where and how flushes and compactions write tables. */
  readonly writer: TableWriterContext;
  /** Counters since open (`stats()`). */
  readonly counters: EngineCounters = newCounters();
  /** The active memtable. */
  memtable: Memtable;
  /** Immutable memtables waiting to be flushed, newest first. */
  immutables: Memtable[];
  /** Sequence of the newest write applied. */
  lastSeq: number;
  /** Set by `close()`. */
  closed = false;
  /** The error that stopped the database, if any. */
  fatal: Error | undefined;
  /** The replication pins WAL retention respects (read at every decision). */
  retentionPins: (() => RetentionPins) | undefined;
  /** Writers held back until a flush makes room (or the database stops). */
  readonly #stallWaiters: (() => void)[] = [];

  /** Takes ownership of what recovery opened. */
  constructor(
    dir: string,
    options: ResolvedOptions,
    r: RecoveredState,
    retentionPins: (() => RetentionPins) | undefined,
  ) {
    this.dir = dir;
    this.options = options;
    this.fs = options.fs;
    this.lock = r.lock;
    this.cache = r.cache;
    this.rowCache = new RowCache(options.rowCacheSizeBytes);
    this.wal = r.wal;
    this.space = r.space;
    this.lastSeq = r.lastSeq;
    this.memtable = r.memtables[0]!;
    this.immutables = r.memtables.slice(1).filter((m) => !m.isEmpty);
    this.log = new LogOpsRouter(r.pendingLog);
    this.retentionPins = retentionPins;
    this.version = new Version((t) => this.#deleteTable(t));
    this.version.apply(new Set(), r.tables);
    this.versions = new VersionSet(
      this.fs,
      dir,
      r.store,
      r.manifest,
      this.version,
      r.retiredFiles,
      options.logger,
    );
    this.writer = {
      fs: this.fs,
      dir,
      cache: r.cache,
      blockSizeBytes: options.blockSizeBytes,
      compression: options.compression,
      bloomBitsPerKey: options.bloomBitsPerKey,
      tableSizeBytesTarget: options.tableSizeBytesTarget,
      nextFileNumber: () => this.versions.newFileNumber(),
      checkAlive: () => {
        if (this.fatal) throw this.fatal;
      },
    };
  }

  /** True once the database closed or stopped on a fatal error: background work ends. */
  get stopped(): boolean {
    return this.closed || this.fatal !== undefined;
  }

  /** Throws when writes are refused: closed, or stopped by a fatal error. */
  checkWritable(): void {
    if (this.closed) throw new ClosedError("Cannot write: database is closed");
    if (this.fatal) {
      throw new IoError(
        `Cannot write: database stopped accepting writes after a fatal error: ${this.fatal.message}`,
        { cause: this.fatal },
      );
    }
  }

  /** Stops the database on a fatal error: writes are refused from now on. */
  fail(err: unknown): void {
    if (this.fatal) return;
    this.fatal = err instanceof Error ? err : new Error(String(err));
    this.options.logger("error", "fatal I/O error: refusing further writes", {
      dir: this.dir,
      error: this.fatal.message,
    });
    this.wakeStalled();
  }

  /** Resolves at the next `wakeStalled()`. */
  stall(): Promise<void> {
    return new Promise((resolve) => this.#stallWaiters.push(resolve));
  }

  /** Lets every stalled writer go. */
  wakeStalled(): void {
    for (const wake of this.#stallWaiters.splice(0)) wake();
  }

  /**
   * The newest version of `key` in any source (tombstones and expired entries included), as a
   * point read returns it. A row-cache hit is the cached row itself, shared by every reader
   * (no allocation per hit): its fields are read-only.
   */
  find(key: Uint8Array): CachedRow | undefined {
    const e = this.memtable.get(key);
    if (e) return rowOf(e);
    for (const m of this.immutables) {
      const found = m.get(key);
      if (found) return rowOf(found);
    }
    // Below the memtables, which hold every write newer than the tables: the row cache answers
    // for the tables as long as they have not changed since it was filled.
    const version = this.version;
    const rows = this.rowCache;
    if (rows.generation !== version.generation) rows.clear(version.generation);
    const hash = bloomHash(key);
    const cached = rows.get(key, hash);
    if (cached !== undefined) return cached;
    const found = version.find(key, hash);
    if (found === undefined) return undefined;
    return rows.offer(key, hash, found) ?? rowOf(found);
  }

  /**
   * A merged iterator over every source as of now, holding references to its tables.
   * `fillCache: false` keeps the data blocks it reads out of the block cache (a one-time scan).
   */
  snapshotIterator(
    options: { fillCache?: boolean } = {},
  ): { iterator: EntryIterator; release: () => void } {
    const tableOptions = options.fillCache === false ? NO_FILL : undefined;
    const children: EntryIterator[] = [this.memtable.iterator()];
    for (const m of this.immutables) children.push(m.iterator());
    const held = this.version.all();
    this.version.hold(held);
    const levels = this.version.levels;
    for (let l = 0; l < levels.length; l++) {
      const tables = levels[l]!;
      if (tables.length > 1 && this.version.order(l) === "keys") {
        // Disjoint key ranges: one child walks them all, so a seek positions one table of the
        // level and the merge compares against one child per level, not one per table.
        children.push(
          new LevelIterator(tables.map((t) => ({
            smallestKey: t.meta.smallestKey,
            largestKey: t.meta.largestKey,
            iterator: () => t.table.iterator(tableOptions),
          }))),
        );
      } else {
        for (const t of tables) children.push(t.table.iterator(tableOptions));
      }
    }
    let released = false;
    return {
      iterator: new MergeIterator(children),
      release: () => {
        if (released) return;
        released = true;
        this.version.release(held);
      },
    };
  }

  /** Deletes the WAL segments that retention (`retention.ts`) allows to go. */
  deleteObsoleteSegments(): void {
    const segments = this.wal.segments();
    const pins = this.retentionPins?.();
    const logPin = this.log.pin();
    const ids = deletableSegments(segments, {
      // Both manifest copies must be able to replay the WAL from their flushedSeq.
      flushedSeq: this.versions.retainAfterSeq,
      activeSegmentId: this.wal.activeSegmentId,
      ...(logPin !== Infinity ? { logDurableSeq: logPin } : {}),
      ...(pins ? { pinnedSeqs: pins.pinnedSeqs } : {}),
      ...(pins?.retainedBytesMax !== undefined ? { retainedBytesMax: pins.retainedBytesMax } : {}),
    });
    for (const id of ids) this.wal.removeSegment(id);
  }

  /** Closes an obsolete table no one holds and deletes its file (`Version`'s drop). */
  #deleteTable(t: LiveTable): void {
    t.table.close();
    this.cache.evictFile(t.meta.fileNumber);
    try {
      this.fs.remove(joinPath(this.dir, tableFileName(t.meta.fileNumber)));
    } catch (err) {
      this.options.logger("warn", "cannot remove obsolete table", {
        file: tableFileName(t.meta.fileNumber),
        error: String(err),
      });
    }
  }
}
