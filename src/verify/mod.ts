/**
 * Offline reading and checking of a data directory, shared by `cityhall verify` and
 * `cityhall salvage` (ARCHITECTURE.md § "Verify and salvage"). Nothing here writes to the
 * directory it reads; `verify --repair`, which writes and knows a fleet hub's sites, is
 * `src/fleet/repair.ts`, a layer above.
 *
 * - `table_scan.ts`: `scanTable`, every part of one SSTable, with a sequential fallback when
 *   the footer or index is damaged.
 * - `wal_scan.ts`: `scanSegment`, every intact record of one WAL segment.
 * - `verify.ts`: `readDirectory` (manifests, tables, WAL) and `verifyDirectory` (plus the
 *   invariants between files and what `Database.open` would do).
 * - `findings.ts`: what is reported for each damaged part.
 *
 * @module
 */

export {
  type Finding,
  findingFields,
  type PartKind,
  printableKey,
  type Severity,
  type ValueCheck,
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
