/**
 * Options of `Database.open`, their defaults and validation.
 *
 * @module
 */

import { InvalidArgumentError } from "../errors.ts";
import { type FileSystem, RealFs } from "../fs/mod.ts";
import {
  BLOCK_CACHE_SIZE_BYTES_DEFAULT,
  BLOCK_SIZE_BYTES_DEFAULT,
  BLOOM_BITS_PER_KEY_DEFAULT,
  DISK_FULL_RETRY_MS,
  MEMTABLE_SIZE_BYTES_DEFAULT,
  ROW_CACHE_SIZE_BYTES_DEFAULT,
  SSTABLE_SIZE_BYTES_TARGET,
  WAL_SEGMENT_SIZE_BYTES_DEFAULT,
  WAL_SEGMENT_SIZE_BYTES_MAX,
} from "../limits.ts";
import { type Logger, silentLogger } from "../util/log.ts";
import type { CompactionStyle } from "../compaction/picker.ts";

export type { CompactionStyle } from "../compaction/picker.ts";

/**
 * The compaction style of a database opened without choosing one: leveled writes less on
 * time-ordered data and needs less space (ARCHITECTURE.md § "Compaction styles" has the
 * measurements).
 */
export const COMPACTION_STYLE_DEFAULT: CompactionStyle = "leveled";

/** When a write's promise resolves relative to `fdatasync`. */
export type SyncMode = "always" | "interval" | "none";

/** Options of `Database.open`. Every field has a default. */
export interface DatabaseOptions {
  /** File system to use; `RealFs` by default, `FaultFs` in tests. */
  fs?: FileSystem;
  /** Memtable size at which it turns immutable and is flushed (default 64 MiB). */
  memtableSizeBytesMax?: number;
  /** Byte budget of the SSTable block cache (default 32 MiB). */
  blockCacheSizeBytes?: number;
  /**
   * Byte budget of the row cache, whole entries that point reads found in SSTables (default
   * 4 MiB; 0 disables it). ARCHITECTURE.md § "Row cache".
   */
  rowCacheSizeBytes?: number;
  /**
   * `"always"` (default): a write resolves after its WAL bytes are fdatasync'ed (group commit).
   * `"interval"`: resolves after the write reaches the OS; a timer syncs every
   * `syncIntervalMs`, so a power loss can lose that window. `"none"`: never synced by writes
   * (bulk loads); a power loss can lose everything since the last flush.
   */
  syncMode?: SyncMode;
  /** Sync period for `syncMode: "interval"` (default 100 ms). */
  syncIntervalMs?: number;
  /** Target uncompressed size of SSTable data blocks (default 4 KiB). */
  blockSizeBytes?: number;
  /** Snappy-compress blocks where that saves >= 12.5% (default true). */
  compression?: boolean;
  /** Bloom filter bits per key; 0 disables filters (default 10). */
  bloomBitsPerKey?: number;
  /** Size of each preallocated WAL segment (default 32 MiB). */
  walSegmentSizeBytes?: number;
  /**
   * How tables are compacted (ARCHITECTURE.md § "Compaction styles"): `"leveled"` (default)
   * keeps every level >= 1 one sorted run ten times the size of the one above; `"tiered"` merges
   * a level's runs into the next level once it holds `levelTablesMax` of them.
   */
  compactionStyle?: CompactionStyle;
  /**
   * Tiered: tables a level holds before they are merged into the next level. Leveled: level-0
   * tables that start a level-0 compaction (level 1's target size is this many memtables).
   * Default 4.
   */
  levelTablesMax?: number;
  /** Target size of one SSTable written by compaction (default 64 MiB). */
  tableSizeBytesTarget?: number;
  /** Run flushes' follow-up compactions automatically (default true). */
  autoCompaction?: boolean;
  /** Where log lines go (default: nowhere). */
  logger?: Logger;
  /** Clock for expiry (default `Date.now`); tests move time by hand. */
  nowMs?: () => number;
  /**
   * Open past damage in the WAL instead of failing: keep every write before it, lose the writes
   * after it, and begin a new history (default false). Only by an operator's explicit choice:
   * ARCHITECTURE.md § "Recovery past WAL damage".
   */
  recoverWalPastDamage?: boolean;
  /** Time between two attempts to find disk space again after ENOSPC (default 1000 ms). */
  diskFullRetryMs?: number;
}

/** Options with every default filled in. */
export type ResolvedOptions = Required<DatabaseOptions>;

function positiveInt(name: string, value: number, min = 1, max = Number.MAX_SAFE_INTEGER) {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new InvalidArgumentError(
      `Invalid option ${name}: ${value} (must be an integer from ${min} to ${max})`,
    );
  }
}

/** Fills defaults and validates ranges; throws `InvalidArgumentError`. */
export function resolveOptions(options: DatabaseOptions = {}): ResolvedOptions {
  const resolved: ResolvedOptions = {
    fs: options.fs ?? new RealFs(),
    memtableSizeBytesMax: options.memtableSizeBytesMax ?? MEMTABLE_SIZE_BYTES_DEFAULT,
    blockCacheSizeBytes: options.blockCacheSizeBytes ?? BLOCK_CACHE_SIZE_BYTES_DEFAULT,
    rowCacheSizeBytes: options.rowCacheSizeBytes ?? ROW_CACHE_SIZE_BYTES_DEFAULT,
    syncMode: options.syncMode ?? "always",
    syncIntervalMs: options.syncIntervalMs ?? 100,
    blockSizeBytes: options.blockSizeBytes ?? BLOCK_SIZE_BYTES_DEFAULT,
    compression: options.compression ?? true,
    bloomBitsPerKey: options.bloomBitsPerKey ?? BLOOM_BITS_PER_KEY_DEFAULT,
    walSegmentSizeBytes: options.walSegmentSizeBytes ?? WAL_SEGMENT_SIZE_BYTES_DEFAULT,
    compactionStyle: options.compactionStyle ?? COMPACTION_STYLE_DEFAULT,
    levelTablesMax: options.levelTablesMax ?? 4,
    tableSizeBytesTarget: options.tableSizeBytesTarget ?? SSTABLE_SIZE_BYTES_TARGET,
    autoCompaction: options.autoCompaction ?? true,
    logger: options.logger ?? silentLogger,
    nowMs: options.nowMs ?? Date.now,
    recoverWalPastDamage: options.recoverWalPastDamage ?? false,
    diskFullRetryMs: options.diskFullRetryMs ?? DISK_FULL_RETRY_MS,
  };
  if (!["always", "interval", "none"].includes(resolved.syncMode)) {
    throw new InvalidArgumentError(
      `Invalid option syncMode: ${resolved.syncMode} (must be always, interval or none)`,
    );
  }
  if (resolved.compactionStyle !== "leveled" && resolved.compactionStyle !== "tiered") {
    throw new InvalidArgumentError(
      `Invalid option compactionStyle: ${resolved.compactionStyle} (must be leveled or tiered)`,
    );
  }
  positiveInt("memtableSizeBytesMax", resolved.memtableSizeBytesMax, 1024);
  positiveInt("blockCacheSizeBytes", resolved.blockCacheSizeBytes, 0);
  positiveInt("rowCacheSizeBytes", resolved.rowCacheSizeBytes, 0);
  positiveInt("syncIntervalMs", resolved.syncIntervalMs, 1, 60_000);
  positiveInt("blockSizeBytes", resolved.blockSizeBytes, 64, 1024 * 1024);
  positiveInt("bloomBitsPerKey", resolved.bloomBitsPerKey, 0, 64);
  positiveInt(
    "walSegmentSizeBytes",
    resolved.walSegmentSizeBytes,
    4096,
    WAL_SEGMENT_SIZE_BYTES_MAX,
  );
  positiveInt("levelTablesMax", resolved.levelTablesMax, 2, 64);
  positiveInt("tableSizeBytesTarget", resolved.tableSizeBytesTarget, 4096);
  positiveInt("diskFullRetryMs", resolved.diskFullRetryMs, 1, 3_600_000);
  return resolved;
}
