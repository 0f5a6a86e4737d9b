/**
 * Writes a sorted stream of entries into new SSTables: what a memtable flush and a compaction
 * both do. Each table is fsynced and its directory entry made durable before this returns;
 * the caller records the tables in the manifest (ARCHITECTURE.md § "Engine").
 *
 * @module
 */

import { type FileSystem, joinPath } from "../fs/mod.ts";
import { tableFileName, type TableMeta } from "../manifest/mod.ts";
import type { LiveTable } from "../manifest/version.ts";
import { type BlockCache, Table, TableBuilder } from "../sstable/mod.ts";
import type { Entry, EntryIterator } from "../util/entry.ts";
import { compareBytes } from "../util/bytes.ts";
import { yieldToEventLoop } from "../util/event_loop.ts";

/** Entries between two clock checks while writing tables. */
const SLICE_CHECK_ENTRIES = 64;
/** Longest stretch a flush or compaction runs before it yields to the event loop. */
export const SLICE_DURATION_MS_MAX = 1;

/** Entries of one source in a row that make a run worth ending a table at (`alignRuns`). */
export const RUN_CUT_ENTRIES = 64;
/** A table cut at a run's end holds at least this share of `tableSizeBytesTarget`. */
const RUN_CUT_SIZE_DIVISOR = 16;

/** What an entry becomes in the output: itself, another entry, or nothing (`DROP`). */
export type EntryVerdict = Entry | typeof DROP | undefined;
/** Verdict: leave the entry out of the output. */
export const DROP: unique symbol = Symbol("drop");

/** Where and how tables are written. */
export interface TableWriterContext {
  /** The file system. */
  fs: FileSystem;
  /** The database directory. */
  dir: string;
  /** The block cache the new tables' readers share. */
  cache: BlockCache;
  /** Uncompressed data block size. */
  blockSizeBytes: number;
  /** Snappy-compress blocks. */
  compression: boolean;
  /** Bloom filter bits per key. */
  bloomBitsPerKey: number;
  /** A new table is started once the current one reaches this size. */
  tableSizeBytesTarget: number;
  /** Hands out the next file number. */
  nextFileNumber(): number;
  /** Throws when the database stopped (checked at every yield). */
  checkAlive(): void;
}

/**
 * Writes the entries of `it` (positioned at the first) into new tables at `level`, split at
 * `tableSizeBytesTarget` and before the first key past each of `fences` (ascending), each
 * entry replaced by what `verdict` returns for it (`undefined` keeps it). With `sourceOf`
 * (which source the entry `it.entry()` returned last came from), a table also ends where a
 * run of `RUN_CUT_ENTRIES` or more from one source gives way to another, once it holds
 * `tableSizeBytesTarget / 16`. Yields to the event loop at least every `SLICE_DURATION_MS_MAX`. On any error,
 * `verdict` throwing included, every file it created is removed and the error rethrown.
 * Returns the tables, opened, in no particular order.
 */
export async function writeTables(
  ctx: TableWriterContext,
  it: EntryIterator,
  level: number,
  verdict: (e: Entry) => EntryVerdict = () => undefined,
  fences: readonly Uint8Array[] = [],
  sourceOf?: () => number,
): Promise<LiveTable[]> {
  const fs = ctx.fs;
  let fence = 0;
  let runSource = -1;
  let runLength = 0;
  const runCutBytes = ctx.tableSizeBytesTarget / RUN_CUT_SIZE_DIVISOR;
  const out: LiveTable[] = [];
  const created: string[] = [];
  try {
    while (it.valid()) {
      const fileNumber = ctx.nextFileNumber();
      const path = joinPath(ctx.dir, tableFileName(fileNumber));
      const file = fs.open(path, { write: true, createNew: true });
      created.push(path);
      const builder = new TableBuilder(file, {
        blockSizeBytes: ctx.blockSizeBytes,
        compression: ctx.compression,
        bloomBitsPerKey: ctx.bloomBitsPerKey,
      });
      let n = 0;
      let added = 0;
      let sliceStart = performance.now();
      try {
        while (it.valid()) {
          const e = it.entry();
          if (fence < fences.length && compareBytes(e.key, fences[fence]!) > 0) {
            // Past a table that stays in the level: no output may span it.
            while (fence < fences.length && compareBytes(e.key, fences[fence]!) > 0) fence++;
            if (added > 0) break;
          }
          if (sourceOf !== undefined) {
            const source = sourceOf();
            if (source !== runSource) {
              const cut = runLength >= RUN_CUT_ENTRIES &&
                builder.estimatedSizeBytes >= runCutBytes;
              runSource = source;
              runLength = 0;
              if (cut) break;
            }
            runLength++;
          }
          const v = verdict(e);
          if (v !== DROP) {
            builder.add(v ?? e);
            added++;
          }
          it.next();
          if (
            ++n % SLICE_CHECK_ENTRIES === 0 &&
            performance.now() - sliceStart >= SLICE_DURATION_MS_MAX
          ) {
            await yieldToEventLoop();
            sliceStart = performance.now();
            ctx.checkAlive();
          }
          if (builder.estimatedSizeBytes >= ctx.tableSizeBytesTarget) break;
        }
        if (added === 0) {
          builder.abandon();
          file.close();
          fs.remove(path);
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
        const table = Table.open(fs, path, { cache: ctx.cache, fileNumber });
        out.push({ meta, table, refs: 0, obsolete: false });
      } catch (err) {
        try {
          file.close();
        } catch { /* already closed */ }
        throw err;
      }
    }
    if (created.length > 0) await fs.syncDirAsync(ctx.dir);
    return out;
  } catch (err) {
    for (const t of out) t.table.close();
    for (const path of created) {
      try {
        fs.remove(path);
      } catch { /* a stray: removed at the next open */ }
    }
    throw err;
  }
}
