/**
 * Twin databases for the write fast paths' tests (`write_two_test.ts`, `write_log_one_test.ts`):
 * the same batches written to one database as usual and to a twin whose write guard forces the
 * batch path (a guarded write never takes a fast path), then their WAL records compared.
 */

import { assertEquals } from "@std/assert";
import { Database, type WriteOp } from "../../src/mod.ts";
import { FaultFs } from "../../src/fs/fault_fs.ts";
import { readSegmentRecords } from "../../src/wal/reader.ts";

/** Every WAL record of `db` as [seq, payload bytes]. */
export function walRecords(db: Database, fs: FaultFs): [number, number[]][] {
  const out: [number, number[]][] = [];
  for (const segment of db.walSegments()) {
    for (const r of readSegmentRecords(fs, segment.path)) out.push([r.seq, [...r.payload]]);
  }
  return out;
}

/** Both databases after `batches`, with equal sequences and WAL records, one record a batch. */
export async function writeTwins(dir: string, batches: WriteOp[][]): Promise<{
  fast: Database;
  slow: Database;
  fastFs: FaultFs;
}> {
  const fastFs = new FaultFs();
  const slowFs = new FaultFs();
  const fast = await Database.open(dir, { fs: fastFs });
  const slow = await Database.open(dir, { fs: slowFs });
  slow.setWriteGuard(() => {});
  for (const batch of batches) {
    await fast.write(batch);
    await slow.write(batch);
    assertEquals(fast.lastSeq, slow.lastSeq);
  }
  assertEquals(walRecords(fast, fastFs), walRecords(slow, slowFs));
  assertEquals(walRecords(fast, fastFs).length, batches.length);
  return { fast, slow, fastFs };
}

/** What a fast path must count as the batch path does. */
export function writeStats(db: Database): number[] {
  const s = db.stats();
  return [s.puts, s.deletes, s.bytesWritten];
}
