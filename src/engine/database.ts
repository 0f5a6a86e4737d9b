/**
 * `Database`: the LSM engine that ties the WAL, memtables, SSTables, the manifest and
 * compaction together. ARCHITECTURE.md § "Engine" describes the write and read paths and the
 * durability contract.
 *
 * Write path: validate → append the batch to the WAL queue (sequence assigned) → apply it to
 * the memtable in the same tick (visible to reads at once, atomic with respect to other
 * JavaScript) → the promise resolves when the group commit has fdatasync'ed it (sync mode
 * "always"). A full memtable turns immutable at once and a background task flushes it.
 *
 * Read path: memtable → immutable memtables (newest first) → level 0 tables (newest first) →
 * level 1 → …; the first version found wins. Tiered levels keep this order exact: every table
 * of level i is newer than every table of level i + 1 (a compaction merges all of level i into
 * one new, newest, run of level i + 1, and compactions run one at a time).
 *
 * Invariants:
 * - Memtable applies happen in sequence order (one JavaScript thread, sequence assigned and
 *   applied in the same synchronous call).
 * - `manifest.flushedSeq` only grows and covers exactly the flushed memtables, flushed oldest
 *   first.
 * - A table file is deleted only after a manifest without it is durable and no open scan
 *   holds it.
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
import {
  type HistoryAncestor,
  type LoadedManifests,
  loadManifests,
  MANIFEST_FILE_NAME,
  MANIFEST_PREVIOUS_FILE_NAME,
  type ManifestState,
  ManifestStore,
  newManifestState,
  tableFileName,
  type TableMeta,
} from "../manifest/mod.ts";
import { Memtable } from "../memtable/mod.ts";
import { BlockCache, Table, TableBuilder } from "../sstable/mod.ts";
import { MergeIterator } from "../compaction/merge_iterator.ts";
import { type SegmentInfo, type WalOp, WalWriter } from "../wal/mod.ts";
import { batchOpCount, decodeBatch } from "../wal/format.ts";
import { assert } from "../util/assert.ts";
import { compareBytes, prefixEnd, toBytes } from "../util/bytes.ts";
import {
  type Entry,
  type EntryIterator,
  type EntryKind,
  isDeadAt,
  KIND_DELETE,
  KIND_LOG,
} from "../util/entry.ts";
import { type LogConsumer, logOpsOf, olderLogOps, type PendingLogOp } from "./log_ops.ts";
import { type DatabaseOptions, type ResolvedOptions, resolveOptions } from "./options.ts";
import { deletableSegments } from "./retention.ts";
import {
  checkListedTablesPresent,
  checkStraysNotNewer,
  fallbackFailed,
  listedTableNames,
  prepareRepair,
  refuseWithoutManifest,
  removeIfPresent,
  tablesOnlyIn,
} from "./_manifest_open.ts";
import { DiskSpace } from "./disk_space.ts";
import { forkPastWalDamage } from "./_fork.ts";
import { dropSegmentsBeforeSkippedDamage, replayWal, syncReplayed } from "./_open.ts";
import { ScanIterator } from "./_scan_iterator.ts";
import { checkKey, validateBatch } from "./_validate.ts";
import { setImmediate } from "node:timers";

export { ReadOnlyError } from "../errors.ts";

/** What replication asks WAL retention to keep (see `Database.setRetentionPins`). */
export interface RetentionPins {
  /** Highest sequence each known replica has acknowledged: it still needs everything above. */
  pinnedSeqs: readonly number[];
  /** Past this many bytes of WAL kept only for pins, the oldest segments go anyway. */
  retainedBytesMax?: number;
}

/** A checkpoint pinned for a snapshot (see `Database.checkpoint`). */
export interface DatabaseCheckpoint {
  /** The durable manifest of the checkpoint: its tables and `flushedSeq`. */
  manifest: ManifestState;
  /** Paths of the tables' files, in `manifest.tables` order. */
  tablePaths: string[];
  /** Unpins the tables (compaction may delete their files again). */
  release(): void;
}

/** Hooks `Database.open` installs before its first retention decision (replication). */
export interface OpenHooks {
  /** Pins for WAL retention from the start (a leader's known replicas); see `setRetentionPins`. */
  retentionPins?: () => RetentionPins;
}

/** Bytes or a string (UTF-8 encoded). */
export type BytesLike = Uint8Array | string;

/**
 * One operation of an atomic batch. `meta` stores the metadata record of a non-string key
 * (`KIND_META`, ARCHITECTURE.md § "Keyspace"); `log` is a log-only op (`KIND_LOG`, § "Log
 * operations"): in the WAL and on replicas, never in the memtable.
 */
export type WriteOp =
  | { type: "put"; key: BytesLike; value: BytesLike; expireAtMs?: number }
  | { type: "meta"; key: BytesLike; value: BytesLike; expireAtMs?: number }
  | { type: "log"; key: BytesLike; value: BytesLike }
  | { type: "delete"; key: BytesLike };

/** Options of `put`. */
export interface PutOptions {
  /** Unix time in milliseconds after which the entry is invisible; omitted = never. */
  expireAtMs?: number;
}

/** What to scan: every key with a prefix, or the keys in `[start, end)`. */
export type ScanRange = { prefix: BytesLike } | { start?: BytesLike; end?: BytesLike };

/** Options of `scan`. */
export interface ScanOptions {
  /** Most keys to return. */
  limit?: number;
  /** Return keys in descending order. */
  reverse?: boolean;
}

/** A live value with its expiry. */
export interface ValueEntry {
  /** `KIND_PUT` (a string) or `KIND_META` (the metadata record of another type). */
  kind: EntryKind;
  /** The value. */
  value: Uint8Array;
  /** Expiry as Unix milliseconds; 0 = never. */
  expireAtMs: number;
  /** Sequence number of the write that produced it. */
  seq: number;
}

/** Counters and sizes reported by `stats()`. */
export interface DatabaseStats {
  /** Sequence number of the newest write. */
  lastSeq: number;
  /** Every write with a sequence at or below this is in SSTables. */
  flushedSeq: number;
  /** Bytes in the active memtable. */
  memtableSizeBytes: number;
  /** Entries in the active memtable. */
  memtableEntries: number;
  /** Immutable memtables waiting to be flushed. */
  immutableMemtables: number;
  /** WAL segments on disk. */
  walSegments: number;
  /** Bytes used in WAL segments. */
  walSizeBytes: number;
  /** Tables in each level. */
  tablesPerLevel: number[];
  /** Bytes in all live SSTables. */
  sstableSizeBytes: number;
  /** Entries in all live SSTables (tombstones and shadowed versions included). */
  sstableEntries: number;
  /** Memtable flushes since open. */
  flushes: number;
  /** Compactions since open. */
  compactions: number;
  /** Bytes read by compactions since open. */
  compactionBytesRead: number;
  /** Bytes written by compactions since open. */
  compactionBytesWritten: number;
  /** Block cache hits and misses since open. */
  blockCacheHits: number;
  /** Block cache misses since open. */
  blockCacheMisses: number;
  /** Key and value bytes accepted by writes since open. */
  bytesWritten: number;
  /** Puts since open. */
  puts: number;
  /** Deletes since open. */
  deletes: number;
  /** Point reads since open. */
  gets: number;
  /** The error that stopped writes, if any. */
  fatalError?: string;
  /** Why writes are refused for lack of disk space, while they are. */
  diskFull?: string;
}

interface LiveTable {
  meta: TableMeta;
  table: Table;
  /** Open scans holding this table. */
  refs: number;
  /** Removed from the manifest: close and delete when `refs` reaches 0. */
  obsolete: boolean;
}

const WAL_DIR_NAME = "wal";
const LOCK_FILE_NAME = "LOCK";
/** Entries between two clock checks in flushes and compactions. */
const SLICE_CHECK_ENTRIES = 64;
/** Longest stretch a flush or compaction runs before it yields to the event loop. */
const SLICE_DURATION_MS_MAX = 1;

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** The embeddable CityHall storage engine. */
export class Database {
  readonly dir: string;
  readonly #options: ResolvedOptions;
  readonly #fs: FileSystem;
  readonly #lock: DirLock;
  readonly #cache: BlockCache;
  #manifest: ManifestState;
  /** Writes both manifest copies and knows what `MANIFEST.prev` still needs. */
  #manifestStore!: ManifestStore;
  /**
   * Tables the latest manifest write dropped. `MANIFEST.prev` still lists them, so their files
   * stay until the next manifest write (then they become obsolete and are deleted).
   */
  #retired: LiveTable[] = [];
  /** Like `#retired`, for tables only `MANIFEST.prev` listed at open (no open handle). */
  #retiredFiles: number[] = [];
  #wal: WalWriter;
  #memtable = new Memtable();
  /** Newest first. */
  #immutables: Memtable[] = [];
  /** `levels[i]` holds level i's tables, newest first. */
  #levels: LiveTable[][] = [];
  #lastSeq: number;
  #closed = false;
  #fatal: Error | undefined;
  #flushing: Promise<void> | undefined;
  #compacting: Promise<void> | undefined;
  #stallWaiters: (() => void)[] = [];
  #readOnly = false;
  readonly #space: DiskSpace;
  /** Set while memtable flushes stop for lack of disk space (retried by `#space`). */
  #flushBlocked: DiskFullError | undefined;
  /** Free bytes a compaction that ran out of space waits for before it runs again. */
  #compactionNeedsBytes = 0;
  #retentionPins: (() => RetentionPins) | undefined;
  /** The layer owning log ops; until it attaches, replayed log ops wait in `#pendingLog`. */
  #logConsumer: LogConsumer | undefined;
  #pendingLog: PendingLogOp[] = [];
  /** Active WAL segment at the last look: a change triggers the WAL-size check. */
  #walSegmentSeen = 0;
  #lastGroup: Promise<void> | undefined;
  #manifestQueue: Promise<void> = Promise.resolve();
  #nextFileNumber: number;
  #lastGroupWrapped: Promise<void> | undefined;
  #counters = {
    flushes: 0,
    compactions: 0,
    compactionBytesRead: 0,
    compactionBytesWritten: 0,
    bytesWritten: 0,
    puts: 0,
    deletes: 0,
    gets: 0,
  };

  private constructor(
    dir: string,
    options: ResolvedOptions,
    lock: DirLock,
    cache: BlockCache,
    manifest: ManifestState,
    wal: WalWriter,
    lastSeq: number,
    space: DiskSpace,
  ) {
    this.dir = dir;
    this.#space = space;
    this.#options = options;
    this.#fs = options.fs;
    this.#lock = lock;
    this.#cache = cache;
    this.#manifest = manifest;
    this.#nextFileNumber = manifest.nextFileNumber;
    this.#wal = wal;
    this.#lastSeq = lastSeq;
  }

  /**
   * Opens (or creates) the database in `dir`: takes the directory lock, loads the manifest,
   * removes files a crash left behind, opens the tables and replays the WAL.
   */
  static open(
    dir: string,
    options: DatabaseOptions & OpenHooks = {},
  ): Promise<Database> {
    try {
      return Promise.resolve(Database.#openSync(dir, options));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  static #openSync(dir: string, options: DatabaseOptions & OpenHooks): Database {
    const resolved = resolveOptions(options);
    const fs = resolved.fs;
    const log = resolved.logger;
    fs.mkdirp(dir);
    const walDir = joinPath(dir, WAL_DIR_NAME);
    fs.mkdirp(walDir);
    const lock = fs.lock(joinPath(dir, LOCK_FILE_NAME));
    const cache = new BlockCache(resolved.blockCacheSizeBytes);
    const opened: LiveTable[] = [];
    let loaded: LoadedManifests | undefined;
    let fallback = false;
    try {
      loaded = loadManifests(fs, dir);
      fallback = loaded?.source === "previous";
      let manifest: ManifestState;
      let store: ManifestStore;
      if (!loaded) {
        refuseWithoutManifest(fs, dir, walDir);
        manifest = newManifestState();
        store = new ManifestStore(fs, dir);
        store.save(manifest);
        log("info", "created database", { dir });
      } else {
        manifest = loaded.state;
        store = new ManifestStore(fs, dir, manifest, loaded.previous);
        if (fallback) {
          log("warn", `${MANIFEST_FILE_NAME} is unusable: opening from the previous copy`, {
            dir,
            file: MANIFEST_PREVIOUS_FILE_NAME,
            problem: loaded.currentProblem,
          });
        }
      }
      // Files a crash left behind: tables never recorded, half-written temp files. Tables only
      // MANIFEST.prev lists stay until the next manifest write. An open from the previous copy
      // removes nothing before its checks pass.
      if (!fallback) {
        const live = loaded ? listedTableNames(loaded) : new Set<string>();
        let removed = 0;
        for (const name of fs.readDir(dir)) {
          if ((name.endsWith(".sst") && !live.has(name)) || name.endsWith(".tmp")) {
            fs.remove(joinPath(dir, name));
            removed++;
          }
        }
        if (removed > 0) log("info", "removed files left by a crash", { dir, files: removed });
      }
      // The manifest just read may have been renamed into place by a process that died before
      // syncing the directory: make it (and the removals) durable before building on it, or a
      // later power loss could bring back an older manifest under newer WAL segments.
      fs.syncDir(dir);
      if (resolved.recoverWalPastDamage) {
        if (fallback) {
          // The fork rewrites both copies; the damaged MANIFEST must be repaired first.
          throw new CorruptionError(
            `Cannot recover past WAL damage while ${MANIFEST_FILE_NAME} is damaged too: copy ${MANIFEST_PREVIOUS_FILE_NAME} over it first, then open with the flag again (${dir})`,
          );
        }
        const pinnedSeqs = options.retentionPins?.().pinnedSeqs ?? [];
        manifest = forkPastWalDamage(fs, dir, walDir, manifest, {
          ...resolved,
          pinnedSeqs,
          // Both copies: the old state's WAL is gone, it can no longer serve as a fallback.
          save: (state) => store.save(state, { resetPrevious: true }),
        });
      }
      checkListedTablesPresent(
        fs,
        dir,
        manifest,
        fallback ? MANIFEST_PREVIOUS_FILE_NAME : MANIFEST_FILE_NAME,
      );
      for (const meta of manifest.tables) {
        const table = Table.open(fs, joinPath(dir, tableFileName(meta.fileNumber)), {
          cache,
          fileNumber: meta.fileNumber,
        });
        opened.push({ meta, table, refs: 0, obsolete: false });
      }
      const replayed = replayWal(fs, walDir, manifest, resolved);
      const { memtables, recovered } = replayed;
      const lastSeq = replayed.lastSeq;
      // Log ops are never in tables: those of records the tables cover were kept in the WAL
      // by the log pin and are collected here, before the newer ones.
      const pendingLog = [
        ...olderLogOps(fs, recovered.segments, manifest.flushedSeq, (path, err) => {
          log("warn", "log ops past WAL damage are lost (the damage is below the tables)", {
            path,
            error: err.message,
          });
        }),
        ...replayed.log,
      ];
      let retiredFiles: number[] = [];
      if (fallback) {
        // Every check passed: the previous copy replaces MANIFEST in both files.
        const strays = checkStraysNotNewer(fs, dir, manifest, lastSeq, log);
        manifest = prepareRepair(fs, dir, loaded!, strays);
        for (const n of strays) fs.remove(joinPath(dir, tableFileName(n)));
        store.save(manifest, { resetPrevious: true });
        log("warn", `rewrote ${MANIFEST_FILE_NAME} from the previous copy`, {
          dir,
          damagedCopy: loaded!.currentBytes ? "MANIFEST.damaged" : undefined,
          removedTables: strays.length,
        });
      } else if (loaded) {
        retiredFiles = tablesOnlyIn(loaded.previous, manifest);
        // MANIFEST.prev must stay a usable fallback. It is rewritten now when it is damaged or
        // missing, or when the WAL ends below the tables (a power loss took records that a
        // flush already holds): the writer continues past that gap, so the WAL could not
        // replay from the previous copy's flushedSeq.
        const gap = recovered.lastSeq > 0 && recovered.lastSeq < lastSeq;
        if (!loaded.previous || gap) {
          log("warn", `rewriting ${MANIFEST_PREVIOUS_FILE_NAME}`, {
            dir,
            problem: loaded.previousProblem ??
              `the WAL ends at ${recovered.lastSeq}, below ${lastSeq}`,
          });
          store.save(manifest, { resetPrevious: true });
          for (const n of retiredFiles.splice(0)) {
            removeIfPresent(fs, joinPath(dir, tableFileName(n)));
          }
        }
      }
      syncReplayed(fs, recovered);
      const space = new DiskSpace(fs, dir, log, resolved.diskFullRetryMs);
      const wal = WalWriter.open(fs, walDir, {
        segmentSizeBytes: resolved.walSegmentSizeBytes,
        syncMode: resolved.syncMode,
        syncIntervalMs: resolved.syncIntervalMs,
        nextSeq: lastSeq + 1,
        nextSegmentId: recovered.nextSegmentId,
        recoveredSegments: recovered.segments,
        logger: log,
        onNoSpace: () => space.noteLow(),
      });
      const db = new Database(dir, resolved, lock, cache, manifest, wal, lastSeq, space);
      space.attach({ retry: () => db.#retrySpace(), neededBytes: () => db.#spaceNeeded() });
      db.#manifestStore = store;
      db.#retiredFiles = retiredFiles;
      for (const t of opened) db.#levelOf(t.meta.level).push(t);
      for (const level of db.#levels) level.sort((a, b) => b.meta.maxSeq - a.meta.maxSeq);
      db.#memtable = memtables[0]!;
      db.#immutables = memtables.slice(1).filter((m) => !m.isEmpty);
      db.#retentionPins = options.retentionPins;
      dropSegmentsBeforeSkippedDamage(wal, recovered, store.retainAfterSeq, log);
      db.#pendingLog = pendingLog;
      db.#walSegmentSeen = wal.activeSegmentId;
      db.#deleteObsoleteSegments();
      // Started on a full disk: reads are served, writes refused until space exists.
      if (wal.noSpace) space.enterFull(wal.noSpace, "open");
      if (db.#immutables.length > 0) db.#scheduleFlush();
      log("info", "opened database", {
        dir,
        lastSeq,
        flushedSeq: manifest.flushedSeq,
        tables: manifest.tables.length,
      });
      return db;
    } catch (err) {
      for (const t of opened) t.table.close();
      lock.release();
      if (fallback && err instanceof CorruptionError) throw fallbackFailed(loaded!, err);
      throw err;
    }
  }

  #levelOf(level: number): LiveTable[] {
    while (this.#levels.length <= level) this.#levels.push([]);
    return this.#levels[level]!;
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
      } else if (this.#logConsumer === undefined) {
        // Written with nobody to own it: held (and pinned) like a replayed one.
        this.#pendingLog.push({ seq, key: op.key, value: op.value ?? EMPTY });
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

  // ---------------------------------------------------------------- replication hooks

  /**
   * Applies one WAL record received from a leader, keeping the leader's sequence `seq`
   * (replication). The batch goes through this database's own WAL and memtable like a write;
   * the promise resolves when it is durable. A record wholly at or below `lastSeq` is a
   * harmless no-op (a re-send after a crash or reconnect); a record straddling `lastSeq`
   * applies only its newer ops; a record starting above `lastSeq + 1` would leave a gap and
   * rejects with `CorruptionError` without writing. Allowed in read-only mode.
   */
  applyReplicated(seq: number, payload: Uint8Array): Promise<void> {
    let entries: Entry[];
    try {
      this.#checkWritable();
      if (!Number.isSafeInteger(seq) || seq < 1 || seq > this.#lastSeq + 1) {
        throw new CorruptionError(
          `Cannot apply replicated record: sequence ${seq} would leave a gap after ${this.#lastSeq}`,
        );
      }
      const opCount = batchOpCount(payload);
      if (opCount < 1) {
        throw new CorruptionError(
          `Cannot apply replicated record: ${opCount} operations at ${seq}`,
        );
      }
      if (seq + opCount - 1 <= this.#lastSeq) {
        // Already applied: durable once the newest group is.
        return this.#lastGroupWrapped ?? Promise.resolve();
      }
      entries = decodeBatch(payload, seq);
    } catch (err) {
      return Promise.reject(err);
    }
    let appended: { seq: number; durable: Promise<void> };
    try {
      this.#checkSpace();
      if (seq <= this.#lastSeq) {
        // Straddles lastSeq: the newer ops become one record right after it.
        entries = entries.slice(this.#lastSeq - seq + 1);
        appended = this.#wal.append(
          entries.map((e): WalOp =>
            e.kind === KIND_DELETE
              ? { kind: KIND_DELETE, key: e.key }
              : { kind: e.kind, key: e.key, value: e.value, expireAtMs: e.expireAtMs }
          ),
        );
      } else {
        appended = this.#wal.appendPayload(seq, payload, entries.length);
      }
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
    if (logOps) this.#deliverLog(logOpsOf(entries));
    return this.#afterApply(appended.durable);
  }

  /** True when user writes are refused with `ReadOnlyError` (a replica). */
  get readOnly(): boolean {
    return this.#readOnly;
  }

  /** Turns read-only mode on or off (replication turns it on for a replica). */
  setReadOnly(readOnly: boolean): void {
    this.#readOnly = readOnly;
  }

  /** Sequence of the newest write fdatasync'ed in the WAL: what a leader may ship. */
  get durableSeq(): number {
    return this.#wal.durableSeq;
  }

  /**
   * Calls `listener(durableSeq)` synchronously each time a WAL sync makes new writes durable
   * (replication's change feed). Returns a function that removes it.
   */
  onDurable(listener: (durableSeq: number) => void): () => void {
    return this.#wal.addDurableListener(listener);
  }

  /** The WAL segments on disk, oldest first, the active one last (replication reads them). */
  walSegments(): SegmentInfo[] {
    return this.#wal.segments();
  }

  /** The file system the database uses. */
  get fileSystem(): FileSystem {
    return this.#fs;
  }

  /**
   * Installs the pins WAL retention must respect (replication: one per replica), or removes
   * them with `undefined`. Read at every retention decision.
   */
  setRetentionPins(pins: (() => RetentionPins) | undefined): void {
    this.#retentionPins = pins;
  }

  /**
   * A consistent checkpoint for a replica's snapshot bootstrap: flushes, then pins the tables
   * the manifest lists so that compaction cannot delete their files until `release()`. Every
   * write with a sequence ≤ `manifest.flushedSeq` is in those tables, and none above.
   */
  async checkpoint(): Promise<DatabaseCheckpoint> {
    // Log ops are not in tables: their owner writes what they hold as puts first.
    await this.#logConsumer?.persistAll?.();
    await this.flush();
    // Bounded: a manifest change in flight is seen in the levels within a few turns.
    for (let attempt = 0; attempt < 10_000; attempt++) {
      const manifest = this.#manifest;
      const live = new Map<number, LiveTable>();
      for (const level of this.#levels) for (const t of level) live.set(t.meta.fileNumber, t);
      const held = manifest.tables.map((t) => live.get(t.fileNumber));
      if (held.every((t) => t !== undefined && !t.obsolete)) {
        const tables = held as LiveTable[];
        for (const t of tables) t.refs++;
        let released = false;
        return {
          manifest,
          tablePaths: tables.map((t) => joinPath(this.dir, tableFileName(t.meta.fileNumber))),
          release: () => {
            if (released) return;
            released = true;
            for (const t of tables) {
              t.refs--;
              this.#maybeDropTable(t);
            }
          },
        };
      }
      await yieldToEventLoop();
    }
    throw new IoError("Cannot take a checkpoint: the table set kept changing");
  }

  /**
   * Replaces this database's content with a leader's checkpoint (replication's snapshot
   * bootstrap, for a new replica or one whose position left the leader's WAL). `staged` maps
   * each table of `state` (by the leader's file number) to a durable file holding it; the
   * files are moved into this directory under fresh file numbers. Then the manifest (keeping
   * this database's own id) is written, the old tables, memtables and WAL segments are
   * dropped, and the sequence continues at `state.flushedSeq + 1`.
   * Crash-safe: before the manifest is durable the moved files are strays removed at open;
   * after it, every old WAL record is at or below `flushedSeq` and retention deletes it.
   * With `replaceHistory` (the leader forked a new history past WAL damage, and this replica's
   * writes may not be in it) the checkpoint may be older than `lastSeq`: every WAL segment is
   * removed, durably, before the manifest is written, so that no write of the old history is
   * ever replayed on top of it.
   * REQUIRES: nothing else writes meanwhile (a replica applies nothing while it installs).
   * Throws `InvalidArgumentError` when the checkpoint is not newer than `lastSeq` (without
   * `replaceHistory`), `CorruptionError` on a bad table.
   */
  async installSnapshot(
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
    const opened: LiveTable[] = [];
    const moved: string[] = [];
    try {
      for (const meta of state.tables) {
        const from = staged.get(meta.fileNumber);
        if (from === undefined) {
          throw new InvalidArgumentError(
            `Cannot install a snapshot: table ${meta.fileNumber} missing`,
          );
        }
        const fileNumber = this.#nextFileNumber++;
        const path = joinPath(this.dir, tableFileName(fileNumber));
        this.#fs.rename(from, path);
        moved.push(path);
        const table = Table.open(this.#fs, path, { cache: this.#cache, fileNumber });
        opened.push({ meta: { ...meta, fileNumber }, table, refs: 0, obsolete: false });
      }
      this.#fs.syncDir(this.dir);
      // The WAL moves to a fresh segment (it may need space) before the manifest commits, so
      // nothing can fail after it. Replacing a history also removes every older segment.
      this.#wal.restartAt(seq + 1, { dropOlder: options.replaceHistory ?? false });
    } catch (err) {
      for (const t of opened) t.table.close();
      for (const path of moved) {
        try {
          this.#fs.remove(path);
        } catch { /* a stray: removed at the next open */ }
      }
      throw err;
    }
    const manifest: ManifestState = {
      ...this.#manifest,
      nextFileNumber: Math.max(this.#nextFileNumber, this.#manifest.nextFileNumber),
      flushedSeq: seq,
      tables: opened.map((t) => t.meta),
    };
    // Both copies: the WAL restarts at a new sequence, so the state before the snapshot can no
    // longer serve as a fallback, and its tables may go at once.
    this.#manifestStore.save(manifest, { resetPrevious: true });
    // From here the new state is durable: swap it in synchronously.
    this.#manifest = manifest;
    this.#dropRetired();
    const old = this.#levels.flat();
    this.#levels = [];
    for (const t of opened) this.#levelOf(t.meta.level).push(t);
    for (const level of this.#levels) level.sort((a, b) => b.meta.maxSeq - a.meta.maxSeq);
    for (const t of old) {
      t.obsolete = true;
      this.#maybeDropTable(t);
    }
    this.#memtable = new Memtable();
    this.#immutables = [];
    this.#lastSeq = seq;
    // Log ops of the old content are meaningless now; the consumer reloads from the tables.
    this.#pendingLog = [];
    this.#logConsumer?.reset?.();
    this.#deleteObsoleteSegments();
    this.#options.logger("info", "installed snapshot", {
      dir: this.dir,
      seq,
      tables: opened.length,
    });
  }

  /** Runs the retention decision now (after replicas acknowledged) and deletes what it allows. */
  applyRetention(): void {
    if (this.#closed || this.#fatal) return;
    this.#deleteObsoleteSegments();
  }

  // ---------------------------------------------------------------- log ops

  /**
   * Wires in the layer that owns log ops (ARCHITECTURE.md § "Log operations"): hands it every
   * log op recovered at open that is still waiting, in sequence order, then every log op a
   * replicated record carries, and from now on asks it for the log retention pin. One
   * consumer per database; `undefined` detaches it (its pin goes with it).
   */
  attachLogConsumer(consumer: LogConsumer | undefined): void {
    this.#logConsumer = consumer;
    if (consumer === undefined) return;
    const pending = this.#pendingLog;
    this.#pendingLog = [];
    for (const op of pending) consumer.applyLog(op.seq, op.key, op.value);
  }

  /** Log ops recovered at open (or replicated) that no consumer has taken yet. */
  get pendingLogOps(): number {
    return this.#pendingLog.length;
  }

  #deliverLog(ops: PendingLogOp[]): void {
    const consumer = this.#logConsumer;
    if (consumer === undefined) {
      for (const op of ops) this.#pendingLog.push(op);
      return;
    }
    for (const op of ops) consumer.applyLog(op.seq, op.key, op.value);
  }

  /** Highest sequence whose log ops are all durable elsewhere (`Infinity`: none pinned). */
  #logPin(): number {
    if (this.#logConsumer !== undefined) return this.#logConsumer.logDurableThroughSeq();
    const first = this.#pendingLog[0];
    return first === undefined ? Infinity : first.seq - 1;
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
      if (s.id !== this.#wal.activeSegmentId && s.lastSeq > this.#manifest.flushedSeq) {
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
    if (seq <= this.#manifest.flushedSeq) return;
    await this.#commitManifest((m) => ({ ...m, flushedSeq: Math.max(m.flushedSeq, seq) }));
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
    const out: [Uint8Array, Uint8Array, EntryKind, number][] = [];
    try {
      if (reverse) {
        if (end === undefined) iterator.seekToLast();
        else {
          iterator.seekForPrev(end);
          if (iterator.valid() && compareBytes(iterator.entry().key, end) >= 0) iterator.prev();
        }
      } else if (start === undefined) iterator.seekToFirst();
      else iterator.seek(start);
      const now = this.#options.nowMs();
      while (out.length < limit && iterator.valid()) {
        const e = iterator.entry();
        if (
          reverse
            ? start !== undefined && compareBytes(e.key, start) < 0
            : end !== undefined && compareBytes(e.key, end) >= 0
        ) break;
        if (!isDeadAt(e, now)) out.push([e.key, e.value, e.kind, e.seq]);
        if (reverse) iterator.prev();
        else iterator.next();
      }
    } finally {
      release();
    }
    return out;
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
    let e = this.#memtable.get(key);
    if (e) return e;
    for (const m of this.#immutables) {
      e = m.get(key);
      if (e) return e;
    }
    for (const level of this.#levels) {
      for (const t of level) {
        if (compareBytes(key, t.meta.smallestKey) < 0) continue;
        if (compareBytes(key, t.meta.largestKey) > 0) continue;
        e = t.table.get(key);
        if (e) return e;
      }
    }
    return undefined;
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
    if (reverse) {
      if (end === undefined) iterator.seekToLast();
      else {
        iterator.seekForPrev(end);
        if (iterator.valid() && compareBytes(iterator.entry().key, end) >= 0) iterator.prev();
      }
    } else if (start === undefined) iterator.seekToFirst();
    else iterator.seek(start);
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
    const held: LiveTable[] = [];
    for (const level of this.#levels) {
      for (const t of level) {
        t.refs++;
        held.push(t);
        children.push(t.table.iterator());
      }
    }
    let released = false;
    return {
      iterator: new MergeIterator(children),
      release: () => {
        if (released) return;
        released = true;
        for (const t of held) {
          t.refs--;
          this.#maybeDropTable(t);
        }
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
      if (this.#options.autoCompaction) this.#scheduleCompaction();
    }
  }

  async #flushMemtable(imm: Memtable): Promise<void> {
    const it = imm.iterator();
    it.seekToFirst();
    const metas = await this.#writeTables(it, 0, () => undefined);
    // The manifest may only cover what the WAL holds durably: a flushedSeq above the log's
    // durable end (its group commit failed, or is still pending) would, after a restart, leave
    // a hole between the old segment and the next one. Normally already true; a failed WAL
    // rejects here and the flush fails.
    if (this.#wal.durableSeq < imm.maxSeq) await this.#wal.sync();
    const state = await this.#commitTables(metas, (m) => ({
      ...m,
      flushedSeq: Math.max(m.flushedSeq, imm.maxSeq),
      tables: [...metas.map((t) => t.meta), ...m.tables],
    }));
    this.#levelOf(0).unshift(...metas);
    this.#counters.flushes++;
    this.#options.logger("debug", "flushed memtable", {
      entries: imm.count,
      tables: metas.length,
      flushedSeq: state.flushedSeq,
    });
    this.#deleteObsoleteSegments();
  }

  /**
   * One more manifest write, of the same state, so that MANIFEST.prev lists the same tables
   * and the retired ones can go: an explicit `compact()` gives its space back at once.
   */
  async #settleManifest(): Promise<void> {
    if (this.#retired.length === 0 || this.#closed) return;
    await this.#commitManifest((m) => ({ ...m }));
  }

  /** Deletes the tables no manifest copy lists any more (once no scan holds them). */
  #dropRetired(): void {
    for (const t of this.#retired.splice(0)) {
      t.obsolete = true;
      this.#maybeDropTable(t);
    }
    for (const fileNumber of this.#retiredFiles.splice(0)) {
      try {
        removeIfPresent(this.#fs, joinPath(this.dir, tableFileName(fileNumber)));
      } catch (err) {
        this.#options.logger("warn", "cannot remove obsolete table", {
          file: tableFileName(fileNumber),
          error: String(err),
        });
      }
    }
  }

  /**
   * Commits a manifest listing new tables; when that fails (a full disk), the tables are closed
   * and their files removed, so that a retry does not leave them behind.
   */
  async #commitTables(
    tables: LiveTable[],
    change: (current: ManifestState) => ManifestState,
    retiring: readonly LiveTable[] = [],
  ): Promise<ManifestState> {
    try {
      return await this.#commitManifest(change, retiring);
    } catch (err) {
      for (const t of tables) {
        t.table.close();
        try {
          this.#fs.remove(joinPath(this.dir, tableFileName(t.meta.fileNumber)));
        } catch { /* a stray: removed at the next open */ }
      }
      throw err;
    }
  }

  /**
   * Durably replaces the manifest with `change(current)`. Changes are serialized (a flush and
   * a compaction may both finish at once) and computed when their turn comes, so none is lost;
   * the fsyncs run off the event loop. `nextFileNumber` is raised past every number handed out
   * so far.
   */
  #commitManifest(
    change: (current: ManifestState) => ManifestState,
    retiring: readonly LiveTable[] = [],
  ): Promise<ManifestState> {
    const run = this.#manifestQueue.then(async () => {
      const state = change(this.#manifest);
      state.nextFileNumber = Math.max(state.nextFileNumber, this.#nextFileNumber);
      await this.#manifestStore.saveAsync(state);
      this.#manifest = state;
      // MANIFEST.prev now holds the state before this one: what the write before dropped is
      // listed by neither copy any more, and what this write drops is still listed there.
      this.#dropRetired();
      this.#retired = [...retiring];
      return state;
    });
    this.#manifestQueue = run.then(() => {}, () => {});
    return run;
  }

  /**
   * Writes the entries of `it` (positioned at the first) into new tables at `level`, split at
   * `tableSizeBytesTarget`, skipping entries `drop` rejects. Each table is fsynced and its
   * directory entry made durable before this returns; the caller records them in the
   * manifest. Yields to the event loop at least every `SLICE_DURATION_MS_MAX`.
   */
  async #writeTables(
    it: EntryIterator,
    level: number,
    drop: (e: Entry) => Entry | false | undefined | true,
  ): Promise<LiveTable[]> {
    const out: LiveTable[] = [];
    const created: string[] = [];
    try {
      while (it.valid()) {
        const fileNumber = this.#nextFileNumber++;
        const path = joinPath(this.dir, tableFileName(fileNumber));
        const file = this.#fs.open(path, { write: true, createNew: true });
        created.push(path);
        const builder = new TableBuilder(file, {
          blockSizeBytes: this.#options.blockSizeBytes,
          compression: this.#options.compression,
          bloomBitsPerKey: this.#options.bloomBitsPerKey,
        });
        let n = 0;
        let added = 0;
        let sliceStart = performance.now();
        try {
          while (it.valid()) {
            const e = it.entry();
            const verdict = drop(e);
            if (verdict !== true) {
              builder.add(verdict ? verdict : e);
              added++;
            }
            it.next();
            if (
              ++n % SLICE_CHECK_ENTRIES === 0 &&
              performance.now() - sliceStart >= SLICE_DURATION_MS_MAX
            ) {
              await yieldToEventLoop();
              sliceStart = performance.now();
              if (this.#fatal) throw this.#fatal;
            }
            if (builder.estimatedSizeBytes >= this.#options.tableSizeBytesTarget) break;
          }
          if (added === 0) {
            builder.abandon();
            file.close();
            this.#fs.remove(path);
            created.pop();
            continue;
          }
          const props = builder.finish();
          await file.syncAsync();
          file.close();
          const meta: TableMeta = {
            fileNumber,
            level,
            sizeBytes: props.sizeBytes,
            entries: props.entries,
            minSeq: props.minSeq,
            maxSeq: props.maxSeq,
            smallestKey: props.smallestKey,
            largestKey: props.largestKey,
          };
          const table = Table.open(this.#fs, path, { cache: this.#cache, fileNumber });
          out.push({ meta, table, refs: 0, obsolete: false });
        } catch (err) {
          try {
            file.close();
          } catch { /* already closed */ }
          throw err;
        }
      }
      await this.#fs.syncDirAsync(this.dir);
      // Newest first within the level: a table with higher sequences shadows the others.
      out.sort((a, b) => b.meta.maxSeq - a.meta.maxSeq);
      return out;
    } catch (err) {
      for (const t of out) t.table.close();
      for (const path of created) {
        try {
          this.#fs.remove(path);
        } catch { /* cleaned up at next open */ }
      }
      throw err;
    }
  }

  #scheduleCompaction(): void {
    if (this.#compacting || this.#closed) return;
    const level = this.#levels.findIndex((l) => l.length >= this.#options.levelTablesMax);
    if (level < 0) return;
    if (this.#compactionNeedsBytes > 0) {
      // It ran out of space before: wait until the file system reports room for it.
      const free = this.#fs.availableBytes?.(this.dir);
      if (free !== undefined && free < this.#compactionNeedsBytes) return;
    }
    this.#compacting = this.#compactLevels(level, level + 1)
      .then(() => {
        this.#compactionNeedsBytes = 0;
      })
      .catch((err) => this.#compactionFailed(err, level))
      .finally(() => {
        this.#compacting = undefined;
        if (!this.#fatal && !this.#closed) this.#scheduleCompaction();
      });
  }

  /**
   * Merges every table of levels `from..to-1` (and level `to` itself when `includeTarget`) into
   * new tables at level `to`. Drops shadowed versions; drops tombstones and expired entries
   * when no older table may hold the key, and otherwise keeps them as tombstones.
   */
  async #compactLevels(from: number, to: number, includeTarget = false): Promise<void> {
    const inputs: LiveTable[] = [];
    for (let l = from; l < to; l++) inputs.push(...this.#levelOf(l));
    if (includeTarget) inputs.push(...this.#levelOf(to));
    if (inputs.length === 0) return;
    const older: LiveTable[] = [];
    for (let l = includeTarget ? to + 1 : to; l < this.#levels.length; l++) {
      older.push(...this.#levels[l]!);
    }
    for (const t of inputs) t.refs++;
    try {
      // One pass over the inputs must not push the readers' hot blocks out of the cache.
      const merged = new MergeIterator(inputs.map((t) => t.table.iterator({ fillCache: false })));
      merged.seekToFirst();
      const now = this.#options.nowMs();
      const mayBeShadowed = (key: Uint8Array) =>
        older.some((t) =>
          compareBytes(key, t.meta.smallestKey) >= 0 &&
          compareBytes(key, t.meta.largestKey) <= 0 && t.table.mayContain(key)
        );
      const outputs = await this.#writeTables(merged, to, (e) => {
        if (!isDeadAt(e, now)) return undefined;
        if (!mayBeShadowed(e.key)) return true;
        if (e.kind === KIND_DELETE) return undefined;
        return { key: e.key, seq: e.seq, kind: KIND_DELETE, expireAtMs: 0, value: EMPTY };
      });
      const inputNumbers = new Set(inputs.map((t) => t.meta.fileNumber));
      // The inputs are retired, not deleted: MANIFEST.prev lists them until the next write.
      await this.#commitTables(outputs, (m) => ({
        ...m,
        tables: [
          ...m.tables.filter((t) => !inputNumbers.has(t.fileNumber)),
          ...outputs.map((t) => t.meta),
        ],
      }), inputs);
      for (let l = from; l <= to; l++) {
        this.#levels[l] = this.#levelOf(l).filter((t) => !inputNumbers.has(t.meta.fileNumber));
      }
      // Newest first. When the target is level 0 (`compact()` on a tree of one level), a flush
      // that finished meanwhile added newer tables there: the outputs go behind them, not on
      // top. Runs never overlap in sequence, so the order by maxSeq is the age order.
      const target = this.#levelOf(to);
      target.unshift(...outputs);
      target.sort((a, b) => b.meta.maxSeq - a.meta.maxSeq);
      let read = 0;
      for (const t of inputs) read += t.meta.sizeBytes;
      this.#counters.compactions++;
      this.#counters.compactionBytesRead += read;
      this.#counters.compactionBytesWritten += outputs.reduce((s, t) => s + t.meta.sizeBytes, 0);
      this.#options.logger("debug", "compacted", {
        from,
        to,
        inputs: inputs.length,
        outputs: outputs.length,
      });
    } finally {
      for (const t of inputs) {
        t.refs--;
        this.#maybeDropTable(t);
      }
    }
  }

  /**
   * A compaction failed. For lack of space it is not fatal and refuses no write (it is
   * housekeeping: writes need WAL and flush space, which have their own checks): its outputs
   * are gone, and it waits for as many free bytes as its inputs hold. Anything else is fatal.
   */
  #compactionFailed(err: unknown, level: number): void {
    if (!isNoSpaceError(err)) {
      this.#fail(err);
      return;
    }
    const inputs = this.#levels.slice(level).flat().reduce((n, t) => n + t.meta.sizeBytes, 0);
    this.#compactionNeedsBytes = Math.max(1, inputs);
    this.#options.logger("warn", "compaction deferred: disk full", {
      dir: this.dir,
      fromLevel: level,
      neededBytes: inputs,
      error: err instanceof Error ? err.message : String(err),
    });
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
    if (this.#options.autoCompaction) this.#scheduleCompaction();
    return !this.#closed && !this.#fatal;
  }

  /** Bytes the disk-space retry needs free before it tries. */
  #spaceNeeded(): number {
    let bytes = this.#wal.noSpace ? this.#wal.segmentSizeBytes : 0;
    if (this.#flushBlocked) { for (const m of this.#immutables) bytes += m.sizeBytes; }
    return bytes;
  }

  #maybeDropTable(t: LiveTable): void {
    if (!t.obsolete || t.refs > 0) return;
    t.obsolete = false; // drop once
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
    const logPin = this.#logPin();
    const ids = deletableSegments(segments, {
      // Both manifest copies must be able to replay the WAL from their flushedSeq.
      flushedSeq: this.#manifestStore.retainAfterSeq,
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
   * Flushes, then merges every table into one run at the bottom level, dropping every
   * tombstone, expired entry and overwritten version.
   */
  async compact(): Promise<void> {
    await this.flush();
    while (this.#compacting) await this.#compacting;
    // close() may have run while this waited: a compaction started now would not be awaited
    // by it and would rewrite the manifest and delete tables after the lock is released.
    this.#checkWritable();
    const bottom = Math.max(0, this.#levels.length - 1);
    const run = this.#compactLevels(0, bottom, true).then(() => this.#settleManifest());
    this.#compacting = run.catch((err) => this.#compactionFailed(err, 0)).finally(() => {
      this.#compacting = undefined;
      // Flushes during the merge may have filled level 0 again.
      if (!this.#fatal && !this.#closed && this.#options.autoCompaction) {
        this.#scheduleCompaction();
      }
    });
    await run.catch((err) => {
      throw isNoSpaceError(err) ? diskFullError("cannot compact the tables", err) : err;
    });
  }

  /** Waits for background flushes and compactions to finish (tests, benchmarks). */
  async idle(): Promise<void> {
    while (this.#flushing || this.#compacting) {
      if (this.#flushing) await this.#flushing;
      if (this.#compacting) await this.#compacting;
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
    return this.#manifest.databaseId;
  }

  /**
   * The history the sequence numbers belong to (replication's leader id): the database id
   * until a recovery past WAL damage forks a new one. `ancestors` are the older histories,
   * oldest first, each with the last sequence it shares with the next.
   */
  get history(): { historyId: Uint8Array; ancestors: readonly HistoryAncestor[] } {
    return { historyId: this.#manifest.historyId, ancestors: this.#manifest.ancestors };
  }

  /** Counters and sizes. */
  stats(): DatabaseStats {
    const segments = this.#wal.segments();
    const stats: DatabaseStats = {
      lastSeq: this.#lastSeq,
      flushedSeq: this.#manifest.flushedSeq,
      memtableSizeBytes: this.#memtable.sizeBytes,
      memtableEntries: this.#memtable.count,
      immutableMemtables: this.#immutables.length,
      walSegments: segments.length,
      walSizeBytes: segments.reduce((s, x) => s + x.sizeBytes, 0),
      tablesPerLevel: this.#levels.map((l) => l.length),
      sstableSizeBytes: this.#manifest.tables.reduce((s, t) => s + t.sizeBytes, 0),
      sstableEntries: this.#manifest.tables.reduce((s, t) => s + t.entries, 0),
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
      for (const level of this.#levels) for (const t of level) t.table.close();
      for (const t of this.#retired) t.table.close();
      this.#levels = [];
      this.#retired = [];
      for (const wake of this.#stallWaiters.splice(0)) wake();
      this.#lock.release();
    }
  }
}

const EMPTY = new Uint8Array(0);

/** The bounds of a scan range as bytes. */
function resolveRange(range: ScanRange): { start?: Uint8Array; end?: Uint8Array } {
  if ("prefix" in range) {
    const p = toBytes(range.prefix);
    const end = prefixEnd(p);
    return { ...(p.length > 0 ? { start: p } : {}), ...(end !== undefined ? { end } : {}) };
  }
  return {
    ...(range.start !== undefined ? { start: toBytes(range.start) } : {}),
    ...(range.end !== undefined ? { end: toBytes(range.end) } : {}),
  };
}

export { CorruptionError };
assert(SLICE_CHECK_ENTRIES > 0, "slice size");
