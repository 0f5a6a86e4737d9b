/**
 * The storage engine: `Database` and its options.
 *
 * @module
 */

export * from "./database.ts";
export * from "./options.ts";
export { deletableSegments } from "./retention.ts";
export {
  type CompactionFilter,
  type CompactionFilterContext,
  type CompactionFilterDecision,
  CompactionFilterError,
} from "../compaction/filter.ts";
