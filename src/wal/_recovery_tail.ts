/**
 * The torn-tail rule of WAL recovery: is a bad record in the newest segment holding records a
 * write that power loss tore (cut it), or damage to bytes that had been made durable (fail)?
 * Private to `src/wal/`; ARCHITECTURE.md § "Recovery rules" states the rules.
 *
 * Version 2: every record carries the offset through which its segment had been fdatasync'ed
 * when the record was written. A valid record after the bad one at X that says "synced through
 * S > X" proves X was durable before that record was even written: damage. Valid records that
 * say S <= X were in flight together with X (one unsynced write, whose pages a power loss may
 * persist in any order) and none of them was acknowledged in sync mode "always": a torn tail.
 * A SEAL (written after a sync, when the writer leaves a segment or recovery has checked it)
 * has S = its own offset, so a cleanly closed segment never has a torn tail: any bad record
 * before its SEAL is damage.
 *
 * Version 1 (read for old data directories): the segment header's `unsyncedBytesMax` bounds
 * the bytes one unsynced write could span; a valid record that far past the bad one is damage.
 *
 * @module
 */

import { WAL_FORMAT_VERSION_1, type WalRecord } from "./format.ts";
import { findValidRecord, forEachValidRecord } from "./_recovery_scan.ts";

/** What a bad record in the tail segment is. */
export type TailVerdict =
  | {
    torn: true;
    /** Valid records after it that were in flight with it (cut with it). */
    inFlightRecords: number;
    /** Offset of the first of them, when there is one. */
    firstInFlightAt: number | undefined;
  }
  | { torn: false; detail: string };

/**
 * Judges the bad record (or non-zero bytes after the end of data) at `at` of the tail
 * segment `buf` (format `version`, v1 bound `unsyncedBytesMax`), whose non-zero bytes end
 * before `to`; `lastSeq` is the last sequence replayed before it.
 */
export function judgeTail(
  buf: Uint8Array,
  at: number,
  to: number,
  header: { version: number; unsyncedBytesMax: number },
  lastSeq: number,
): TailVerdict {
  let inFlightRecords = 0;
  let firstInFlightAt: number | undefined;
  const count = (r: WalRecord) => {
    inFlightRecords++;
    firstInFlightAt ??= r.offset;
  };
  if (header.version === WAL_FORMAT_VERSION_1) {
    const bound = header.unsyncedBytesMax;
    if (bound > 0) {
      const y = findValidRecord(buf, at + bound, to, "body", lastSeq + 1);
      if (y !== undefined) {
        return {
          torn: false,
          detail:
            `a valid record follows at offset ${y.offset}, beyond the ${bound} bytes one unsynced write can span, so this is not a torn write`,
        };
      }
    }
    forEachValidRecord(buf, at + 1, to, "body", lastSeq + 1, count);
    return { torn: true, inFlightRecords, firstInFlightAt };
  }
  let detail: string | undefined;
  forEachValidRecord(buf, at + 1, to, "v2", lastSeq + 1, (r) => {
    if (r.syncedThrough > at) {
      detail = r.syncedThrough === r.offset && r.type !== 1
        ? `the segment was sealed at offset ${r.offset} after everything before it was fdatasync'ed, so this is damage, not a torn write`
        : `the valid record at offset ${r.offset} (sequence ${r.seq}) was written after the segment had been fdatasync'ed through offset ${r.syncedThrough}, so this is damage, not a torn write`;
      return false;
    }
    count(r);
  });
  if (detail !== undefined) return { torn: false, detail };
  return { torn: true, inFlightRecords, firstInFlightAt };
}
