/**
 * The steps of `Database.open` that read the WAL back: the replay into memtables, the sync of
 * what was replayed, and what recovery found in the WAL. Private to `src/engine/` (the manifest
 * steps are in `_manifest_open.ts`). ARCHITECTURE.md § "Recovery (`Database.open`)" lists the
 * steps.
 *
 * @module
 */

import type { FileSystem } from "../fs/mod.ts";
import type { ManifestState } from "../manifest/mod.ts";
import { Memtable } from "../memtable/mod.ts";
import { type Entry, KIND_LOG } from "../util/entry.ts";
import type { Logger } from "../util/log.ts";
import { type RecoveredWal, recoverWal, type WalWriter } from "../wal/mod.ts";
import type { PendingLogOp } from "./log_ops.ts";

/** What `replayWal` rebuilt. */
export interface Replayed {
  /** Memtables holding the WAL past `flushedSeq`, newest first (the first is the active one). */
  memtables: Memtable[];
  /** What recovery found. */
  recovered: RecoveredWal;
  /** The newest sequence in the tables or the WAL. */
  lastSeq: number;
  /** Log ops past `flushedSeq`, in order: they never go into a memtable (§ "Log operations"). */
  log: PendingLogOp[];
}

/**
 * Replays the WAL past what the tables hold into memtables (a new one each time one reaches
 * `memtableSizeBytesMax`: they become immutable and are flushed once the database is open).
 * With `onDamage: "stop"` the replay ends at the first damage instead of failing.
 */
export function replayWal(
  fs: FileSystem,
  walDir: string,
  manifest: ManifestState,
  options: { memtableSizeBytesMax: number; logger: Logger; onDamage?: "throw" | "stop" },
): Replayed {
  const memtables: Memtable[] = [new Memtable(options.memtableSizeBytesMax)];
  const log: PendingLogOp[] = [];
  let lastSeq = manifest.flushedSeq;
  for (const t of manifest.tables) lastSeq = Math.max(lastSeq, t.maxSeq);
  const recovered = recoverWal(fs, walDir, {
    afterSeq: manifest.flushedSeq,
    logger: options.logger,
    onDamage: options.onDamage ?? "throw",
    onBatch: (_seq: number, entries: Entry[]) => {
      let current = memtables[0]!;
      for (const entry of entries) {
        if (entry.seq <= manifest.flushedSeq) continue;
        if (entry.kind === KIND_LOG) {
          log.push({ seq: entry.seq, key: entry.key, value: entry.value });
        } else current.apply(entry);
      }
      if (current.sizeBytes >= options.memtableSizeBytesMax) {
        current = new Memtable(options.memtableSizeBytesMax);
        memtables.unshift(current);
      }
    },
  });
  return { memtables, recovered, lastSeq: Math.max(lastSeq, recovered.lastSeq), log };
}

/**
 * fdatasyncs every replayed segment. After a process crash their last records may sit only in
 * the page cache, and the database is about to build on them (read, flushed, followed by new
 * acknowledged writes in a fresh segment): without this, a later power loss could drop them
 * under newer records and leave a sequence gap in the log.
 */
export function syncReplayed(fs: FileSystem, recovered: RecoveredWal): void {
  for (const segment of recovered.segments) {
    if (segment.firstSeq === 0) continue;
    const file = fs.open(segment.path, { write: true });
    try {
      file.syncData();
    } finally {
      file.close();
    }
  }
}

/**
 * After recovery skipped damage (every record it held is in tables), removes the segments
 * before the damaged one, and the damaged one when nothing usable follows the damage: they
 * hold nothing the tables lack, and replication must never read across the damage. A replica
 * that still needed them bootstraps from a snapshot. Only segments whose records are all at or
 * below `retainAfterSeq` go (both manifest copies must be able to replay the WAL).
 */
export function dropSegmentsBeforeSkippedDamage(
  wal: WalWriter,
  recovered: RecoveredWal,
  retainAfterSeq: number,
  log: Logger,
): void {
  const segments = wal.segments();
  let last = -1;
  for (const damage of recovered.skippedDamage) {
    last = Math.max(last, segments.findIndex((s) => s.path === damage.path));
  }
  if (last < 0) return;
  const damaged = segments[last]!;
  const upTo = damaged.firstSeq === 0 ? last : last - 1;
  const removed: number[] = [];
  for (let i = 0; i <= upTo; i++) {
    const s = segments[i]!;
    if (s.id === wal.activeSegmentId || s.lastSeq > retainAfterSeq) continue;
    wal.removeSegment(s.id);
    removed.push(s.id);
  }
  if (removed.length > 0) {
    log("warn", "removed WAL segments up to skipped damage (their records are in tables)", {
      segments: removed.join(","),
      firstAvailableSeq: damaged.firstSeq || undefined,
    });
  }
}
