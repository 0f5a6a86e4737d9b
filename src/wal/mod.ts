/**
 * The write-ahead log: every batch is appended here, with group commit, before it is
 * acknowledged, and replayed at open past what the SSTables hold. ARCHITECTURE.md § "WAL".
 *
 * - `format.ts`: segment header, record framing, batch payload (`encodeBatch`/`decodeBatch`).
 * - `writer.ts`: `WalWriter` (preallocated segments, group commit, sync modes, fatal errors).
 * - `reader.ts`: `recoverWal` (replay, torn-tail rules) and `readSegmentRecords`.
 *
 * @module
 */

export {
  batchPayloadBytes,
  decodeBatch,
  decodeSegmentHeader,
  encodeBatch,
  encodeRecord,
  encodeSegmentHeader,
  parseSegmentFileName,
  segmentFileName,
  type SegmentHeader,
  WAL_FORMAT_VERSION,
  WAL_RECORD_TYPE_BATCH,
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
  type TornTail,
} from "./reader.ts";
export {
  type WalAppendResult,
  type WalSyncMode,
  WalWriter,
  type WalWriterOptions,
} from "./writer.ts";
