/**
 * What `Database.stats()` reports: counters since open and sizes now.
 *
 * @module
 */

import type { EngineCore } from "./_core.ts";

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
  /** WAL record bytes appended since open. */
  walBytesWritten: number;
  /** WAL commit groups written since open (records written together with one `pwrite`). */
  walGroupCommits: number;
  /** fdatasyncs of the WAL's group commit since open (sync mode "always"). */
  walSyncs: number;
  /** Their total time in seconds, each from its start until the writer saw it complete. */
  walSyncSeconds: number;
  /** Bytes of SSTables written by flushes since open. */
  flushBytesWritten: number;
  /** The compaction style in use. */
  compactionStyle: "leveled" | "tiered";
  /** Bytes of the tables in each level. */
  bytesPerLevel: number[];
  /** Compactions since open (trivial moves included). */
  compactions: number;
  /** Compactions since open that only moved tables to the next level. */
  compactionTrivialMoves: number;
  /** Compactions since open that failed because a compaction filter threw. */
  compactionFilterErrors: number;
  /** Bytes read by compactions since open. */
  compactionBytesRead: number;
  /** Bytes written by compactions since open. */
  compactionBytesWritten: number;
  /** Block cache hits and misses since open. */
  blockCacheHits: number;
  /** Block cache misses since open. */
  blockCacheMisses: number;
  /** Point reads of the tables the row cache answered since open. */
  rowCacheHits: number;
  /** Point reads of the tables the row cache could not answer since open. */
  rowCacheMisses: number;
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

/** The counters `Database` keeps since open (the part of `DatabaseStats` it counts itself). */
export interface EngineCounters {
  /** Memtable flushes. */
  flushes: number;
  /** Bytes of SSTables written by flushes. */
  flushBytesWritten: number;
  /** Compactions (trivial moves included). */
  compactions: number;
  /** Compactions that only moved tables to the next level. */
  compactionTrivialMoves: number;
  /** Bytes read by compactions. */
  compactionBytesRead: number;
  /** Bytes written by compactions. */
  compactionBytesWritten: number;
  /** Compactions that failed because a compaction filter threw (their inputs stayed). */
  compactionFilterErrors: number;
  /** Key and value bytes accepted by writes. */
  bytesWritten: number;
  /** Puts. */
  puts: number;
  /** Deletes. */
  deletes: number;
  /** Point reads. */
  gets: number;
}

/** Fresh counters. */
export function newCounters(): EngineCounters {
  return {
    flushes: 0,
    flushBytesWritten: 0,
    compactions: 0,
    compactionTrivialMoves: 0,
    compactionBytesRead: 0,
    compactionBytesWritten: 0,
    compactionFilterErrors: 0,
    bytesWritten: 0,
    puts: 0,
    deletes: 0,
    gets: 0,
  };
}

/** What `Database.stats()` returns for `core`, compacting in `compactionStyle`. */
export function engineStats(
  core: EngineCore,
  compactionStyle: "leveled" | "tiered",
): DatabaseStats {
  const segments = core.wal.segments();
  const levels = core.version.levels;
  const manifest = core.versions.current;
  const stats: DatabaseStats = {
    lastSeq: core.lastSeq,
    flushedSeq: manifest.flushedSeq,
    memtableSizeBytes: core.memtable.sizeBytes,
    memtableEntries: core.memtable.count,
    immutableMemtables: core.immutables.length,
    walSegments: segments.length,
    walSizeBytes: segments.reduce((s, x) => s + x.sizeBytes, 0),
    walBytesWritten: core.wal.bytesAppended,
    walGroupCommits: core.wal.groupCommits,
    walSyncs: core.wal.groupSyncs,
    walSyncSeconds: core.wal.groupSyncMs / 1000,
    tablesPerLevel: levels.map((l) => l.length),
    bytesPerLevel: levels.map((_, i) => core.version.levelBytes(i)),
    compactionStyle,
    sstableSizeBytes: manifest.tables.reduce((s, t) => s + t.sizeBytes, 0),
    sstableEntries: manifest.tables.reduce((s, t) => s + t.entries, 0),
    ...core.counters,
    blockCacheHits: core.cache.hits,
    blockCacheMisses: core.cache.misses,
    rowCacheHits: core.rowCache.hits,
    rowCacheMisses: core.rowCache.misses,
  };
  if (core.fatal) stats.fatalError = core.fatal.message;
  if (core.space.full) stats.diskFull = core.space.full.message;
  return stats;
}
