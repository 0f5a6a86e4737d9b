/**
 * The memtable: an ordered in-memory table with the newest entry per user key, and its
 * iterator. See `memtable.ts` and ARCHITECTURE.md § "Memtable".
 *
 * @module
 */

export { Memtable, MEMTABLE_ENTRY_OVERHEAD_BYTES, MemtableIterator } from "./memtable.ts";
