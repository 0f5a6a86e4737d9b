/**
 * The write-ahead log: every batch is appended here, with group commit, before it is
 * acknowledged, and replayed at open past what the SSTables hold. ARCHITECTURE.md § "WAL".
 *
 * - `format.ts`: segment header, record framing, batch payload (`encodeBatch`/`decodeBatch`).
 * - `writer.ts`: `WalWriter` (group commit, sync modes, fatal errors); `_segment_chain.ts` its
 *   segments (placement in preallocated space, SEALs, disk full), `_commit_group.ts` its queue.
 * - `reader.ts`: `recoverWal` (replay and recovery rules; `_recovery_tail.ts` torn write or
 *   damage, `_recovery_scan.ts` the byte scans) and `readSegmentRecords`.
 *
 * @module
 */

export {
  batchPayloadBytes,
  decodeBatch,
  decodeSegmentHeader,
  encodeBatch,
  encodeRecord,
  encodeRecordV2,
  encodeSealRecord,
  encodeSegmentHeader,
  parseSegmentFileName,
  segmentFileName,
  type SegmentHeader,
  WAL_FORMAT_VERSION,
  WAL_FORMAT_VERSION_1,
  WAL_RECORD_TYPE_BATCH,
  WAL_RECORD_TYPE_SEAL,
  WAL_SEAL_RECORD_BYTES,
  WAL_SEGMENT_HEADER_BYTES,
  WAL_SEGMENT_MAGIC,
  type WalOp,
  type WalRecord,
  type WalRecordType,
} from "./format.ts";
export {
  listSegmentIds,
  readSegmentRecords,
  type RecoveredWal,
  recoverWal,
  type RecoverWalOptions,
  type SegmentInfo,
  type SkippedDamage,
  type TornTail,
  type WalDamage,
} from "./reader.ts";
export {
  type WalAppendResult,
  type WalSyncMode,
  WalWriter,
  type WalWriterOptions,
} from "./writer.ts";
