/**
 * Checkpoints and snapshot installs (`ReplicationPort.checkpoint` and `installSnapshot`): a
 * leader pins a flushed checkpoint's tables for a replica to fetch, and a replica moves a
 * leader's tables into its directory and swaps them in for its whole content. Private to
 * `src/engine/`. ARCHITECTURE.md § "Snapshot bootstrap".
 *
 * @module
 */

import { InvalidArgumentError, IoError } from "../errors.ts";
import { type FileSystem, joinPath } from "../fs/mod.ts";
import { type ManifestState, tableFileName } from "../manifest/mod.ts";
import type { LiveTable, Version } from "../manifest/version.ts";
import { Memtable } from "../memtable/mod.ts";
import type { BlockCache } from "../sstable/block_cache.ts";
import { Table } from "../sstable/table.ts";
import { yieldToEventLoop } from "../util/event_loop.ts";
import type { EngineCore } from "./_core.ts";
import type { DatabaseCheckpoint } from "./types.ts";

/**
 * `ReplicationPort.checkpoint`: has the log ops written as puts, flushes (`flush`), then pins
 * the tables of the manifest.
 */
export async function checkpoint(
  core: EngineCore,
  flush: () => Promise<void>,
): Promise<DatabaseCheckpoint> {
  // Log ops are not in tables: their owner writes what they hold as puts first.
  await core.log.consumer?.persistAll?.();
  await flush();
  return await pinCheckpoint(core.dir, core.version, () => core.versions.current);
}

/**
 * `ReplicationPort.installSnapshot`; `idle` waits for background flushes and compactions;
 * `replaced` is told, synchronously with the swap, that the content was replaced.
 */
export async function installSnapshot(
  core: EngineCore,
  idle: () => Promise<void>,
  state: ManifestState,
  staged: ReadonlyMap<number, string>,
  options: { replaceHistory?: boolean } = {},
  replaced: () => void = () => {},
): Promise<void> {
  core.checkWritable();
  await core.wal.sync();
  await idle();
  core.checkWritable();
  let seq = state.flushedSeq;
  for (const t of state.tables) seq = Math.max(seq, t.maxSeq);
  if (seq <= core.lastSeq && !options.replaceHistory) {
    throw new InvalidArgumentError(
      `Cannot install a snapshot at ${seq}: the database is already at ${core.lastSeq}`,
    );
  }
  const { opened, undo } = stageSnapshotTables(
    core.fs,
    core.dir,
    core.cache,
    state,
    staged,
    () => core.versions.newFileNumber(),
  );
  try {
    // The WAL moves to a fresh segment (it may need space) before the manifest commits, so
    // nothing can fail after it. Replacing a history also removes every older segment.
    core.wal.restartAt(seq + 1, { dropOlder: options.replaceHistory ?? false });
  } catch (err) {
    undo();
    throw err;
  }
  // Both copies: the WAL restarts at a new sequence, so the state before the snapshot can no
  // longer serve as a fallback, and its tables may go at once.
  core.versions.replaceBoth({
    ...core.versions.current,
    flushedSeq: seq,
    tables: opened.map((t) => t.meta),
  });
  // From here the new state is durable: swap it in synchronously.
  core.version.retire(core.version.replaceAll(opened));
  core.memtable = new Memtable(core.options.memtableSizeBytesMax);
  core.immutables = [];
  core.lastSeq = seq;
  // Log ops of the old content are meaningless now; the consumer reloads from the tables.
  core.log.reset();
  replaced();
  core.deleteObsoleteSegments();
  core.options.logger("info", "installed snapshot", { dir: core.dir, seq, tables: opened.length });
}

/**
 * Pins the tables `manifest()` lists once every one of them is live in `version` (a manifest
 * change in flight shows in the levels within a few turns of the event loop).
 */
async function pinCheckpoint(
  dir: string,
  version: Version,
  manifest: () => ManifestState,
): Promise<DatabaseCheckpoint> {
  for (let attempt = 0; attempt < 10_000; attempt++) {
    const state = manifest();
    const live = new Map<number, LiveTable>();
    for (const t of version.all()) live.set(t.meta.fileNumber, t);
    const held = state.tables.map((t) => live.get(t.fileNumber));
    if (held.every((t) => t !== undefined && !t.obsolete)) {
      const tables = held as LiveTable[];
      version.hold(tables);
      let released = false;
      return {
        manifest: state,
        tablePaths: tables.map((t) => joinPath(dir, tableFileName(t.meta.fileNumber))),
        release: () => {
          if (released) return;
          released = true;
          version.release(tables);
        },
      };
    }
    await yieldToEventLoop();
  }
  throw new IoError("Cannot take a checkpoint: the table set kept changing");
}

/**
 * Moves each table of `state` from its staged file into `dir` under a fresh file number and
 * opens it; the directory is synced. On failure the moved files are removed again.
 */
function stageSnapshotTables(
  fs: FileSystem,
  dir: string,
  cache: BlockCache,
  state: ManifestState,
  staged: ReadonlyMap<number, string>,
  nextFileNumber: () => number,
): { opened: LiveTable[]; undo: () => void } {
  const opened: LiveTable[] = [];
  const moved: string[] = [];
  const undo = () => {
    for (const t of opened) t.table.close();
    for (const path of moved) {
      try {
        fs.remove(path);
      } catch { /* a stray: removed at the next open */ }
    }
  };
  try {
    for (const meta of state.tables) {
      const from = staged.get(meta.fileNumber);
      if (from === undefined) {
        throw new InvalidArgumentError(
          `Cannot install a snapshot: table ${meta.fileNumber} missing`,
        );
      }
      const fileNumber = nextFileNumber();
      const path = joinPath(dir, tableFileName(fileNumber));
      fs.rename(from, path);
      moved.push(path);
      const table = Table.open(fs, path, { cache, fileNumber });
      opened.push({ meta: { ...meta, fileNumber }, table, refs: 0, obsolete: false });
    }
    fs.syncDir(dir);
  } catch (err) {
    undo();
    throw err;
  }
  return { opened, undo };
}
