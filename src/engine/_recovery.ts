/**
 * `Database.open`'s recovery: take the directory lock, load the manifest (or its previous
 * copy), remove what a crash left behind, open the tables, replay the WAL and open the WAL
 * writer. Private to `src/engine/`. ARCHITECTURE.md § "Recovery (`Database.open`)" lists the
 * steps and why each is in its place.
 *
 * @module
 */

import { CorruptionError } from "../errors.ts";
import { type DirLock, joinPath } from "../fs/mod.ts";
import {
  type LoadedManifests,
  loadManifests,
  MANIFEST_FILE_NAME,
  MANIFEST_PREVIOUS_FILE_NAME,
  type ManifestState,
  ManifestStore,
  newManifestState,
  tableFileName,
} from "../manifest/mod.ts";
import type { LiveTable } from "../manifest/version.ts";
import type { Memtable } from "../memtable/mod.ts";
import { assert } from "../util/assert.ts";
import { BlockCache } from "../sstable/block_cache.ts";
import { Table } from "../sstable/table.ts";
import { type RecoveredWal, WalWriter } from "../wal/mod.ts";
import { DiskSpace } from "./disk_space.ts";
import { olderLogOps, type PendingLogOp } from "./log_ops.ts";
import type { ResolvedOptions } from "./options.ts";
import type { forkPastWalDamage } from "./_fork.ts";
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
import { replayWal, syncReplayed } from "./_open.ts";

/** Name of the WAL directory inside the data directory. */
export const WAL_DIR_NAME = "wal";
const LOCK_FILE_NAME = "LOCK";

/** Everything recovery opened; the database takes ownership. */
export interface RecoveredState {
  /** The directory lock, held. */
  lock: DirLock;
  /** The block cache the tables share. */
  cache: BlockCache;
  /** The manifest the database continues from. */
  manifest: ManifestState;
  /** Writes both manifest copies. */
  store: ManifestStore;
  /** The open tables the manifest lists. */
  tables: LiveTable[];
  /** Tables only `MANIFEST.prev` lists (deleted at the next manifest write). */
  retiredFiles: number[];
  /** Memtables rebuilt from the WAL, newest (the active one) first. */
  memtables: Memtable[];
  /** Log ops recovered, in sequence order, waiting for their consumer. */
  pendingLog: PendingLogOp[];
  /** Sequence of the newest write. */
  lastSeq: number;
  /** What WAL recovery found. */
  recovered: RecoveredWal;
  /** The WAL writer, positioned after the last record. */
  wal: WalWriter;
  /** The disk-space watcher the WAL writer reports to (not yet attached). */
  space: DiskSpace;
}

/** `_fork.ts`'s `forkPastWalDamage`, which the opener loads only when it may be needed. */
export type ForkPastWalDamage = typeof forkPastWalDamage;

/**
 * Runs recovery in `dir`. On failure everything opened is closed and the lock released.
 * `pinnedSeqs` are the replication pins a recovery past WAL damage must respect; `fork` is
 * `forkPastWalDamage`, given when `resolved.recoverWalPastDamage` is set.
 */
export function recover(
  dir: string,
  resolved: ResolvedOptions,
  pinnedSeqs: () => readonly number[],
  fork?: ForkPastWalDamage,
): RecoveredState {
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
      assert(fork !== undefined, "recover: recoverWalPastDamage without forkPastWalDamage");
      manifest = fork(fs, dir, walDir, manifest, {
        ...resolved,
        pinnedSeqs: pinnedSeqs(),
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
    return {
      lock,
      cache,
      manifest,
      store,
      tables: opened,
      retiredFiles,
      memtables,
      pendingLog,
      lastSeq,
      recovered,
      wal,
      space,
    };
  } catch (err) {
    for (const t of opened) t.table.close();
    lock.release();
    if (fallback && err instanceof CorruptionError) throw fallbackFailed(loaded!, err);
    throw err;
  }
}
