/**
 * Recovery past WAL damage, only by an operator's explicit choice (`recoverWalPastDamage`, the
 * `--recover-wal-past-damage` flag). Private to `src/engine/`. ARCHITECTURE.md § "Recovery
 * past WAL damage" says what it keeps, what it loses and why a new history begins.
 *
 * Steps, each durable before the next:
 * 1. Replay the WAL up to the first damage (`recoverWal` with `onDamage: "stop"`): sequences up
 *    to `keptSeq` are kept; the WAL shows sequences up to `highestSeqAfter` beyond the damage.
 * 2. Write the replayed memtables as level-0 tables (fsync each, then the directory).
 * 3. Commit a manifest whose history is new (the old one becomes an ancestor that forked at
 *    `keptSeq`) and whose `flushedSeq` is the highest sequence the old history may have used:
 *    the WAL's, and every replica's acknowledged one. The next write takes the sequence after
 *    it, so no sequence number is ever used for two different writes.
 * 4. Move the damaged segment and every later one to `<data>/wal-damaged/<history id>/`, for
 *    inspection, and remove the older ones (their records are in the tables now).
 *
 * A crash before step 3 leaves the old manifest and the damaged WAL (the next open fails as
 * before; the tables of step 2 are strays removed at open). After step 3 every WAL record and
 * the damage are at or below `flushedSeq`: a plain open skips them.
 *
 * @module
 */

import type { FileSystem } from "../fs/mod.ts";
import { joinPath } from "../fs/mod.ts";
import { HISTORY_ANCESTORS_MAX } from "../limits.ts";
import {
  DATABASE_ID_BYTES,
  type ManifestState,
  tableFileName,
  type TableMeta,
} from "../manifest/mod.ts";
import type { Memtable } from "../memtable/mod.ts";
import { TableBuilder } from "../sstable/mod.ts";
import type { Logger } from "../util/log.ts";
import { listSegmentIds, segmentFileName } from "../wal/mod.ts";
import { replayWal } from "./_open.ts";

/** Where recovery past damage moves the damaged WAL segments (under the data directory). */
export const DAMAGED_WAL_DIR_NAME = "wal-damaged";

/** What the fork needs of the database's options. */
export interface ForkOptions {
  memtableSizeBytesMax: number;
  blockSizeBytes: number;
  compression: boolean;
  bloomBitsPerKey: number;
  tableSizeBytesTarget: number;
  logger: Logger;
  /** Sequences replicas acknowledged (from the leader's registry): the old history reached them. */
  pinnedSeqs: readonly number[];
  /**
   * Durably makes a state the manifest, in both copies (MANIFEST and MANIFEST.prev): the old
   * state cannot serve as a fallback once its WAL is gone.
   */
  save: (state: ManifestState) => void;
}

function hex(id: Uint8Array): string {
  return [...id].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Forks a new history past the first damage in the WAL of `dir` (see the module comment) and
 * returns the new manifest; returns `manifest` unchanged when the WAL has no damage.
 */
export function forkPastWalDamage(
  fs: FileSystem,
  dir: string,
  walDir: string,
  manifest: ManifestState,
  options: ForkOptions,
): ManifestState {
  const log = options.logger;
  const replayed = replayWal(fs, walDir, manifest, { ...options, onDamage: "stop" });
  const damage = replayed.recovered.damage;
  if (damage === undefined) {
    log("info", "no WAL damage found: --recover-wal-past-damage had nothing to do", { dir });
    return manifest;
  }
  const keptSeq = replayed.lastSeq;
  const resumeAfter = Math.max(keptSeq, damage.highestSeqAfter, ...options.pinnedSeqs);
  let nextFileNumber = manifest.nextFileNumber;
  const tables: TableMeta[] = [];
  for (const memtable of replayed.memtables) {
    if (memtable.isEmpty) continue;
    const written = writeMemtable(fs, dir, memtable, nextFileNumber, options);
    nextFileNumber += written.length;
    tables.push(...written.sort((a, b) => b.maxSeq - a.maxSeq));
  }
  fs.syncDir(dir);
  const historyId = crypto.getRandomValues(new Uint8Array(DATABASE_ID_BYTES));
  const state: ManifestState = {
    ...manifest,
    historyId,
    ancestors: [...manifest.ancestors, { historyId: manifest.historyId, forkSeq: keptSeq }]
      .slice(-HISTORY_ANCESTORS_MAX),
    nextFileNumber,
    flushedSeq: resumeAfter,
    tables: [...tables, ...manifest.tables],
  };
  options.save(state);
  const movedTo = moveDamagedSegments(fs, dir, walDir, damage.path, hex(historyId));
  log("error", "recovered past WAL damage: the writes after it are lost, a new history begins", {
    file: damage.path,
    offset: damage.offset,
    damage: damage.message,
    keptThroughSeq: keptSeq,
    lostSeqs: damage.highestSeqAfter > keptSeq ? `${keptSeq + 1}..${damage.highestSeqAfter}` : "",
    nextSeq: resumeAfter + 1,
    history: hex(historyId),
    parentHistory: hex(manifest.historyId),
    damagedSegmentsMovedTo: movedTo,
  });
  return state;
}

/** Writes one memtable as level-0 tables numbered from `firstFileNumber`, each fsynced. */
function writeMemtable(
  fs: FileSystem,
  dir: string,
  memtable: Memtable,
  firstFileNumber: number,
  options: ForkOptions,
): TableMeta[] {
  const out: TableMeta[] = [];
  const it = memtable.iterator();
  it.seekToFirst();
  while (it.valid()) {
    const fileNumber = firstFileNumber + out.length;
    const file = fs.open(joinPath(dir, tableFileName(fileNumber)), {
      write: true,
      createNew: true,
    });
    try {
      const builder = new TableBuilder(file, options);
      while (it.valid() && builder.estimatedSizeBytes < options.tableSizeBytesTarget) {
        builder.add(it.entry());
        it.next();
      }
      const props = builder.finish();
      file.sync();
      out.push({
        fileNumber,
        level: 0,
        sizeBytes: props.sizeBytes,
        entries: props.entries,
        minSeq: props.minSeq,
        maxSeq: props.maxSeq,
        smallestKey: props.smallestKey,
        largestKey: props.largestKey,
      });
    } finally {
      file.close();
    }
  }
  return out;
}

/**
 * Moves the damaged segment and every later one to `<dir>/wal-damaged/<history>/` and removes
 * the older ones (all durably). Returns where they went.
 */
function moveDamagedSegments(
  fs: FileSystem,
  dir: string,
  walDir: string,
  damagedPath: string,
  history: string,
): string {
  const target = joinPath(dir, DAMAGED_WAL_DIR_NAME, history);
  fs.mkdirp(target);
  const damagedId =
    listSegmentIds(fs, walDir).find((id) =>
      joinPath(walDir, segmentFileName(id)) === damagedPath
    ) ?? 0;
  for (const id of listSegmentIds(fs, walDir)) {
    const path = joinPath(walDir, segmentFileName(id));
    if (id >= damagedId) fs.rename(path, joinPath(target, segmentFileName(id)));
    else fs.remove(path);
  }
  fs.syncDir(target);
  fs.syncDir(joinPath(dir, DAMAGED_WAL_DIR_NAME));
  fs.syncDir(walDir);
  return target;
}
