/**
 * Every limit CityHall enforces, in one place (like denokv's `limits.rs`), each with the reason
 * it exists. Names carry their unit. Relationships between limits are asserted at load time.
 *
 * Past a limit the operation fails with `InvalidArgumentError` (engine) or a protocol error
 * (server) and nothing is changed.
 *
 * @module
 */

import { assert } from "./util/assert.ts";

const KiB = 1024;
const MiB = 1024 * KiB;

/** Largest key: keys live in index blocks and in memory for every scan; 16 KiB is generous. */
export const KEY_SIZE_BYTES_MAX = 16 * KiB;
/** Largest value: one value must fit in memory several times over on a small box. */
export const VALUE_SIZE_BYTES_MAX = 16 * MiB;
/** Most operations in one atomic batch: bounds the WAL record and the time a batch holds. */
export const BATCH_OPS_MAX = 10_000;
/** Largest atomic batch in key + value bytes: one WAL record must be read whole at recovery. */
export const BATCH_SIZE_BYTES_MAX = 64 * MiB;
/** Largest expiry time accepted (year 275760, the end of JavaScript's Date range). */
export const EXPIRE_AT_MS_MAX = 8_640_000_000_000_000;

/** Header of one WAL record: length u32, crc u32, sequence u64, type u8. */
export const WAL_RECORD_HEADER_BYTES = 17;
/** Largest WAL record payload: a full batch plus its per-op framing. */
export const WAL_RECORD_PAYLOAD_BYTES_MAX = BATCH_SIZE_BYTES_MAX +
  BATCH_OPS_MAX * 32;
/** Default WAL segment size; segments are preallocated so fdatasync does not change the size. */
export const WAL_SEGMENT_SIZE_BYTES_DEFAULT = 32 * MiB;
/** Largest WAL segment: a segment is scanned whole at recovery. */
export const WAL_SEGMENT_SIZE_BYTES_MAX = 1024 * MiB;
/** Most bytes one group commit writes before it syncs: bounds the latency of the first writer. */
export const WAL_GROUP_COMMIT_BYTES_MAX = 4 * MiB;

/** Default memtable size before it turns immutable and is flushed. */
export const MEMTABLE_SIZE_BYTES_DEFAULT = 64 * MiB;
/** Immutable memtables waiting for flush before writers are made to wait (backpressure). */
export const IMMUTABLE_MEMTABLES_MAX = 2;

/** Target uncompressed size of an SSTable data block. */
export const BLOCK_SIZE_BYTES_DEFAULT = 4 * KiB;
/** Largest data block accepted when reading: a corrupt length must not allocate gigabytes. */
export const BLOCK_SIZE_BYTES_MAX = VALUE_SIZE_BYTES_MAX + KEY_SIZE_BYTES_MAX +
  64 * KiB;
/** Keys between restart points in a data block. */
export const BLOCK_RESTART_INTERVAL = 16;
/** Default bloom filter bits per key: ~1% false positives. */
export const BLOOM_BITS_PER_KEY_DEFAULT = 10;
/** Default block cache size. */
export const BLOCK_CACHE_SIZE_BYTES_DEFAULT = 32 * MiB;
/** Target SSTable size written by compaction before starting a new file. */
export const SSTABLE_SIZE_BYTES_TARGET = 64 * MiB;

/** Largest manifest file: it lists table metadata only. */
export const MANIFEST_SIZE_BYTES_MAX = 64 * MiB;

assert(
  WAL_SEGMENT_SIZE_BYTES_DEFAULT <= WAL_SEGMENT_SIZE_BYTES_MAX,
  "segment default > max",
);
assert(
  WAL_RECORD_HEADER_BYTES + WAL_RECORD_PAYLOAD_BYTES_MAX <=
    WAL_SEGMENT_SIZE_BYTES_MAX,
  "a largest record must fit in the largest segment",
);
assert(
  KEY_SIZE_BYTES_MAX + VALUE_SIZE_BYTES_MAX <= BATCH_SIZE_BYTES_MAX,
  "one put fits a batch",
);
assert(BLOCK_SIZE_BYTES_DEFAULT < BLOCK_SIZE_BYTES_MAX, "block default < max");
