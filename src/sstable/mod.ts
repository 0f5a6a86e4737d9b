/**
 * SSTables: immutable sorted files of entries, one per user key, with prefix-compressed data
 * blocks, a whole-table bloom filter, an index block and a checksummed footer. See
 * ARCHITECTURE.md § "Table layout".
 *
 * - `TableBuilder` writes a table through a `File`; `Table.open` reads and validates one.
 * - `BlockCache` is the byte-bounded LRU cache of decoded data blocks shared by all tables.
 * - `RowCache` keeps whole entries that point reads found in tables.
 *
 * @module
 */

export {
  type BlockSource,
  decodeStoredBlock,
  Table,
  TableIterator,
  type TableIteratorOptions,
  type TableOpenOptions,
} from "./table.ts";
export {
  BLOOM_BITS_PER_KEY_MAX,
  shortestSeparator,
  TableBuilder,
  type TableBuilderOptions,
  WRITE_BUFFER_BYTES,
} from "./table_builder.ts";
export { BlockCache } from "./block_cache.ts";
export { type CachedRow, RowCache } from "./row_cache.ts";
export { Block } from "./block.ts";
export { BlockIterator, blockIterator } from "./block_iterator.ts";
export { BlockBuilder } from "./block_builder.ts";
export { BloomFilter, bloomHash, bloomProbeCount, buildBloomFilter } from "./bloom.ts";
export {
  BLOCK_TRAILER_SIZE_BYTES,
  type BlockHandle,
  COMPRESSION_NONE,
  COMPRESSION_SNAPPY,
  decodeFooter,
  decodeProperties,
  type Footer,
  FOOTER_SIZE_BYTES,
  TABLE_FORMAT_VERSION,
  TABLE_MAGIC,
  type TableProperties,
  type TableStats,
} from "./format.ts";
