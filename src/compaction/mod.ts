/**
 * Compaction: merging sources into new SSTables. So far only the merging iterator, which scans
 * also use. See `merge_iterator.ts` and ARCHITECTURE.md § "Merge iterator".
 *
 * @module
 */

export { MERGE_ITERATOR_CHILDREN_MAX, MergeIterator } from "./merge_iterator.ts";
export { type LevelFile, LevelIterator } from "./level_iterator.ts";
