/**
 * The manifest steps of `Database.open` (ARCHITECTURE.md § "Manifest", "Opening from the
 * previous copy"): which copy to open from, which files on disk are strays, and the checks
 * that make opening from `MANIFEST.prev` safe.
 *
 * Opening from the previous copy is safe when (1) every table it lists is present with its
 * recorded size and opens (footer, index, filter and properties checksummed), (2) the WAL
 * holds every record above its `flushedSeq` (WAL recovery checks that the first record starts
 * at or below `flushedSeq + 1` and that sequences are contiguous), and (3) no table on disk
 * that it does not list holds a sequence above what the database recovered: such a table
 * could only come from the lost `MANIFEST` and hold writes nothing else has.
 *
 * @module
 */

import { CorruptionError } from "../errors.ts";
import { type FileSystem, joinPath } from "../fs/mod.ts";
import {
  type LoadedManifests,
  MANIFEST_DAMAGED_FILE_NAME,
  MANIFEST_FILE_NAME,
  MANIFEST_PREVIOUS_FILE_NAME,
  type ManifestState,
  tableFileName,
} from "../manifest/mod.ts";
import { BlockCache } from "../sstable/block_cache.ts";
import { Table } from "../sstable/table.ts";
import { listSegmentIds } from "../wal/mod.ts";
import type { Logger } from "../util/log.ts";

const TABLE_NAME = /^(\d{6,})\.sst$/;

/** File numbers of the `.sst` files in `dir`. */
export function tableFilesOnDisk(fs: FileSystem, dir: string): number[] {
  const out: number[] = [];
  for (const name of fs.readDir(dir)) {
    const m = TABLE_NAME.exec(name);
    if (m) out.push(Number(m[1]));
  }
  return out;
}

/**
 * Without any manifest copy the directory must be new: tables or WAL segments without a
 * manifest mean the manifest was lost, and creating a fresh one would delete them.
 */
export function refuseWithoutManifest(fs: FileSystem, dir: string, walDir: string): void {
  const tables = tableFilesOnDisk(fs, dir).length;
  const segments = listSegmentIds(fs, walDir).length;
  if (tables === 0 && segments === 0) return;
  throw new CorruptionError(
    `Cannot open database: ${MANIFEST_FILE_NAME} and ${MANIFEST_PREVIOUS_FILE_NAME} are missing but ${dir} holds ${tables} tables and ${segments} WAL segments (run "cityhall salvage" to export what they hold)`,
  );
}

/** Names of the tables the copies list; strays are the other `.sst` files. */
export function listedTableNames(loaded: LoadedManifests): Set<string> {
  const tables = [...loaded.state.tables, ...(loaded.previous?.tables ?? [])];
  return new Set(tables.map((t) => tableFileName(t.fileNumber)));
}

/** File numbers of the tables `previous` lists and `current` does not. */
export function tablesOnlyIn(
  previous: ManifestState | undefined,
  current: ManifestState,
): number[] {
  const live = new Set(current.tables.map((t) => t.fileNumber));
  return (previous?.tables ?? []).map((t) => t.fileNumber).filter((n) => !live.has(n));
}

/** Removes `path`; a file already gone is fine (a crash may have removed it). */
export function removeIfPresent(fs: FileSystem, path: string): void {
  try {
    fs.remove(path);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
}

/** Every table `state` lists must exist with its recorded size; `CorruptionError` otherwise. */
export function checkListedTablesPresent(
  fs: FileSystem,
  dir: string,
  state: ManifestState,
  source: string,
): void {
  for (const t of state.tables) {
    const path = joinPath(dir, tableFileName(t.fileNumber));
    const info = fs.stat(path);
    if (!info) {
      throw new CorruptionError(`Cannot open table: ${path} listed in ${source} is missing`);
    }
    if (info.size !== t.sizeBytes) {
      throw new CorruptionError(
        `Cannot open table: ${path} has ${info.size} bytes, ${source} records ${t.sizeBytes}`,
      );
    }
  }
}

/**
 * Check (3) of the module comment, for an open from the previous copy: returns the file
 * numbers of the strays (to delete once the open is sure), throws `CorruptionError` when one
 * holds writes newer than `lastSeq`. A stray that does not open is the unfinished output of a
 * crashed flush or compaction, which no manifest ever listed.
 */
export function checkStraysNotNewer(
  fs: FileSystem,
  dir: string,
  state: ManifestState,
  lastSeq: number,
  log: Logger,
): number[] {
  const listed = new Set(state.tables.map((t) => t.fileNumber));
  const strays = tableFilesOnDisk(fs, dir).filter((n) => !listed.has(n));
  const cache = new BlockCache(0);
  for (const fileNumber of strays) {
    const path = joinPath(dir, tableFileName(fileNumber));
    let table: Table;
    try {
      table = Table.open(fs, path, { cache, fileNumber });
    } catch (err) {
      if (!(err instanceof CorruptionError)) throw err;
      log("warn", "unlisted table does not open; treating it as unfinished", {
        file: path,
        error: err.message,
      });
      continue;
    }
    const maxSeq = table.properties.maxSeq;
    table.close();
    if (maxSeq > lastSeq) {
      throw new CorruptionError(
        `Cannot open from ${MANIFEST_PREVIOUS_FILE_NAME}: ${path}, which it does not list, holds writes up to sequence ${maxSeq}, newer than the ${lastSeq} it and the WAL hold`,
      );
    }
  }
  return strays;
}

/**
 * After a successful open from the previous copy: keeps the damaged `MANIFEST` bytes as
 * `MANIFEST.damaged` (for a post-mortem; nothing reads it) and returns the state to save into
 * both copies, its `nextFileNumber` raised past every table file on disk.
 */
export function prepareRepair(
  fs: FileSystem,
  dir: string,
  loaded: LoadedManifests,
  strayNumbers: readonly number[],
): ManifestState {
  if (loaded.currentBytes) {
    const file = fs.open(joinPath(dir, MANIFEST_DAMAGED_FILE_NAME), {
      write: true,
      create: true,
      truncate: true,
    });
    try {
      file.writeAt(loaded.currentBytes, 0);
      file.sync();
    } finally {
      file.close();
    }
  }
  let next = loaded.state.nextFileNumber;
  for (const n of strayNumbers) next = Math.max(next, n + 1);
  return { ...loaded.state, nextFileNumber: next };
}

/** The message of an open from the previous copy that failed a check. */
export function fallbackFailed(loaded: LoadedManifests, err: CorruptionError): CorruptionError {
  return new CorruptionError(
    `Cannot open database: ${MANIFEST_FILE_NAME} is unusable (${loaded.currentProblem}) and ${MANIFEST_PREVIOUS_FILE_NAME} cannot replace it: ${err.message}`,
    { cause: err },
  );
}
