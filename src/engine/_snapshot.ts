/**
 * The table side of snapshots: pinning a checkpoint's tables for a leader, and moving a
 * leader's tables into a replica's directory. Private to `src/engine/`; `Database` does the
 * WAL and manifest steps around them. ARCHITECTURE.md § "Snapshot bootstrap".
 *
 * @module
 */

import { InvalidArgumentError, IoError } from "../errors.ts";
import { type FileSystem, joinPath } from "../fs/mod.ts";
import { type ManifestState, tableFileName } from "../manifest/mod.ts";
import type { LiveTable, Version } from "../manifest/version.ts";
import { type BlockCache, Table } from "../sstable/mod.ts";
import { yieldToEventLoop } from "../compaction/table_writer.ts";
import type { DatabaseCheckpoint } from "./types.ts";

/**
 * Pins the tables `manifest()` lists once every one of them is live in `version` (a manifest
 * change in flight shows in the levels within a few turns of the event loop).
 */
export async function pinCheckpoint(
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
export function stageSnapshotTables(
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
