/**
 * Getting data out of a damaged data directory (ARCHITECTURE.md § "Verify and salvage"):
 * `salvageDirectory` exports every live key/value still readable into the checksummed export
 * format of `export_format.ts`; `importExport` loads such an export into a fresh directory.
 *
 * @module
 */

export {
  EXPORT_FORMAT_VERSION,
  EXPORT_HEADER_BYTES,
  EXPORT_MAGIC,
  type ExportEntry,
  type ExportItem,
  type ExportTotals,
  ExportWriter,
  readExport,
} from "./export_format.ts";
export { importExport, type ImportOptions, type ImportSummary } from "./import.ts";
export { salvageDirectory, type SalvageOptions, type SalvageSummary } from "./salvage.ts";
