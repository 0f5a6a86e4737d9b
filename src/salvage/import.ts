/**
 * `importExport`: loads a salvage export (`export_format.ts`) into a fresh data directory.
 * The directory must not exist or be empty. Entries are written in batches and flushed into
 * tables at the end; the export is checked as it is read (record checksums, key order, the END
 * record's counts and stream checksum), and if anything is wrong the directory is removed
 * again: a bad export changes nothing.
 *
 * @module
 */

import { CorruptionError, InvalidArgumentError } from "../errors.ts";
import { Database, type WriteOp } from "../engine/database.ts";
import { BATCH_OPS_MAX, BATCH_SIZE_BYTES_MAX } from "../limits.ts";
import type { Logger } from "../util/log.ts";
import { readExport } from "./export_format.ts";

/** What an import wrote. */
export interface ImportSummary {
  /** Entries written. */
  entries: number;
  /** Entries skipped because they had expired by the time of the import. */
  expired: number;
  /** Key and value bytes written. */
  keyValueBytes: number;
}

/** Options of `importExport`. */
export interface ImportOptions {
  /** Entries expired at this Unix time are skipped; default now. */
  nowMs?: number;
  /** The database's logger. */
  logger?: Logger;
}

function isEmptyOrMissing(dir: string): { exists: boolean; empty: boolean } {
  try {
    for (const _ of Deno.readDirSync(dir)) return { exists: true, empty: false };
    return { exists: true, empty: true };
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return { exists: false, empty: true };
    throw err;
  }
}

/**
 * Reads the export from `chunks` (`where` names it in errors) into a new database in
 * `dataDir`. Throws `InvalidArgumentError` when `dataDir` holds anything, `CorruptionError`
 * when the export is bad (then `dataDir` is as before).
 */
export async function importExport(
  chunks: AsyncIterable<Uint8Array>,
  where: string,
  dataDir: string,
  options: ImportOptions = {},
): Promise<ImportSummary> {
  const before = isEmptyOrMissing(dataDir);
  if (!before.empty) {
    throw new InvalidArgumentError(
      `Cannot import: ${dataDir} is not empty (import builds a fresh data directory)`,
    );
  }
  const nowMs = options.nowMs ?? Date.now();
  // No fsync per batch: the tables are flushed and fsynced at the end, and a failed import
  // is removed and run again.
  const db = await Database.open(dataDir, {
    syncMode: "none",
    ...(options.logger ? { logger: options.logger } : {}),
  });
  const summary: ImportSummary = { entries: 0, expired: 0, keyValueBytes: 0 };
  let complete = false;
  try {
    let batch: WriteOp[] = [];
    let batchBytes = 0;
    for await (const item of readExport(chunks, where)) {
      if (item.type === "end") {
        complete = true;
        break;
      }
      const { key, value, expireAtMs } = item.entry;
      if (expireAtMs !== 0 && expireAtMs <= nowMs) {
        summary.expired++;
        continue;
      }
      const bytes = key.length + value.length;
      if (batch.length >= BATCH_OPS_MAX || batchBytes + bytes > BATCH_SIZE_BYTES_MAX) {
        await db.write(batch);
        batch = [];
        batchBytes = 0;
      }
      batch.push(
        expireAtMs === 0 ? { type: "put", key, value } : { type: "put", key, value, expireAtMs },
      );
      batchBytes += bytes;
      summary.entries++;
      summary.keyValueBytes += bytes;
    }
    if (!complete) throw new CorruptionError(`Cannot read export: no END record in ${where}`);
    if (batch.length > 0) await db.write(batch);
    await db.flush();
    await db.close();
    return summary;
  } catch (err) {
    await db.close().catch(() => {});
    // Put the directory back as it was: missing, or empty.
    if (!before.exists) await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    else {
      for (const e of Deno.readDirSync(dataDir)) {
        await Deno.remove(`${dataDir}/${e.name}`, { recursive: true }).catch(() => {});
      }
    }
    throw err;
  }
}
