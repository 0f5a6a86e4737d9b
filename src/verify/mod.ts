/**
 * Offline reading and checking of a data directory, shared by `cityhall verify` and
 * `cityhall salvage` (ARCHITECTURE.md § "Verify and salvage"). Nothing here writes to the
 * directory it reads, but `repair.ts`.
 *
 * - `table_scan.ts`: `scanTable`, every part of one SSTable, with a sequential fallback when
 *   the footer or index is damaged.
 * - `wal_scan.ts`: `scanSegment`, every intact record of one WAL segment.
 * - `verify.ts`: `readDirectory` (manifests, tables, WAL) and `verifyDirectory` (plus the
 *   invariants between files and what `Database.open` would do).
 * - `findings.ts`: what is reported for each damaged part.
 * - `repair.ts`: `repairDirectory` (`verify --repair`), the one part that writes: a damaged
 *   table is moved aside only when its data can be had again (the WAL, a fleet site's edge).
 *
 * @module
 */

export {
  type Finding,
  findingFields,
  type PartKind,
  printableKey,
  type Severity,
} from "./findings.ts";
export { type DataBlockSummary, scanTable, type TableScan } from "./table_scan.ts";
export { scanSegment, type SegmentScan, type SegmentTail } from "./wal_scan.ts";
export {
  type DirectoryRead,
  type OpenVerdict,
  readDirectory,
  type ReadDirectoryOptions,
  verifyDirectory,
  type VerifyReport,
  WAL_DIR_NAME,
} from "./verify.ts";
export {
  DAMAGED_DIR_NAME,
  type RepairAction,
  repairDirectory,
  type RepairResult,
} from "./repair.ts";
