/**
 * `TableBuilder`: writes one SSTable sequentially (LevelDB's `table/table_builder.cc`). See
 * ARCHITECTURE.md § "Table layout", and `format.ts` for the byte layout.
 *
 * Invariants:
 * - Entries arrive in strictly ascending key order, one per user key (asserted).
 * - Data blocks are cut once they reach `blockSizeBytes`; a data block is never empty.
 * - Index entry i maps a separator key S to data block i's handle, with
 *   lastKey(block i) <= S < firstKey(block i + 1); the last block's separator is its last key,
 *   so the last index key is the table's largest key.
 * - Data blocks are Snappy-compressed only when the result is <= 7/8 of the raw size.
 * - Bytes go to `file.writeAt` in order, at increasing offsets from 0, in chunks of
 *   ~`WRITE_BUFFER_BYTES`. The builder never syncs and never closes the file: the caller
 *   syncs (`await file.syncAsync()`) after `finish`, and closes the file either way.
 *
 * @module
 */

import { InvalidArgumentError } from "../errors.ts";
import type { File } from "../fs/mod.ts";
import {
  BLOCK_SIZE_BYTES_DEFAULT,
  BLOCK_SIZE_BYTES_MAX,
  BLOOM_BITS_PER_KEY_DEFAULT,
  EXPIRE_AT_MS_MAX,
  KEY_SIZE_BYTES_MAX,
  VALUE_SIZE_BYTES_MAX,
} from "../limits.ts";
import { assert } from "../util/assert.ts";
import { compareBytes } from "../util/bytes.ts";
import { putVarint } from "../util/coding.ts";
import { crc32c, maskCrc } from "../util/crc32c.ts";
import { type Entry, KIND_DELETE, KIND_META, KIND_PUT } from "../util/entry.ts";
import { snappyCompress, snappyUncompressedLength } from "./_snappy.ts";
import { BlockBuilder } from "./block_builder.ts";
import { bloomHash, buildBloomFilter } from "./bloom.ts";
import {
  BLOCK_TRAILER_SIZE_BYTES,
  type BlockHandle,
  COMPRESSION_NONE,
  COMPRESSION_SNAPPY,
  encodeFooter,
  encodeProperties,
  FOOTER_SIZE_BYTES,
  TABLE_FORMAT_VERSION,
  type TableProperties,
  type TableStats,
} from "./format.ts";

/** Bytes buffered before one `writeAt`: large sequential writes are what disks like. */
export const WRITE_BUFFER_BYTES = 256 * 1024;
/** Largest accepted `bloomBitsPerKey`: beyond ~30 the false-positive rate stops improving. */
export const BLOOM_BITS_PER_KEY_MAX = 64;

/** Most bytes an entry adds to a block beyond its key and value: header and restart point. */
const ENTRY_OVERHEAD_BYTES_MAX = 64;

/** How a table is written. */
export interface TableBuilderOptions {
  /** Target uncompressed data block size (default `BLOCK_SIZE_BYTES_DEFAULT`). */
  blockSizeBytes?: number;
  /** Snappy-compress data blocks when that saves >= 12.5% (default true). */
  compression?: boolean;
  /** Bloom filter bits per key; 0 writes no filter (default `BLOOM_BITS_PER_KEY_DEFAULT`). */
  bloomBitsPerKey?: number;
}

type State = "open" | "finished" | "abandoned" | "failed";

/** Writes one SSTable through `file`, starting at offset 0. */
export class TableBuilder {
  readonly #file: File;
  readonly #blockSizeBytes: number;
  readonly #compression: boolean;
  readonly #bloomBitsPerKey: number;
  #state: State = "open";
  #data = new BlockBuilder();
  #index = new BlockBuilder({ restartInterval: 1 });
  #handleScratch = new Uint8Array(16);
  #out = new Uint8Array(WRITE_BUFFER_BYTES + 64 * 1024);
  #outLen = 0;
  /** File bytes handed to `writeAt` so far. */
  #flushedOffset = 0;
  /** Logical end of the table so far: flushed plus buffered bytes. */
  #offset = 0;
  #pendingHandle: BlockHandle | undefined = undefined;
  #pendingLastKey: Uint8Array = new Uint8Array(0);
  #hashes = new Uint32Array(1024);
  #entries = 0;
  #tombstones = 0;
  #minSeq = 0;
  #maxSeq = 0;
  #smallestKey: Uint8Array = new Uint8Array(0);
  #lastKey = new Uint8Array(64);
  #lastKeyLen = 0;
  #rawKeyBytes = 0;
  #rawValueBytes = 0;
  #dataBlocks = 0;
  #dataBytes = 0;

  /** Starts a table in `file` (empty, opened for writing). */
  constructor(file: File, options: TableBuilderOptions = {}) {
    const blockSizeBytes = options.blockSizeBytes ?? BLOCK_SIZE_BYTES_DEFAULT;
    if (
      !Number.isSafeInteger(blockSizeBytes) || blockSizeBytes < 1 ||
      blockSizeBytes > BLOCK_SIZE_BYTES_MAX
    ) {
      throw new InvalidArgumentError(
        `Invalid blockSizeBytes: ${blockSizeBytes} is not an integer in [1, ${BLOCK_SIZE_BYTES_MAX}]`,
      );
    }
    const bloomBitsPerKey = options.bloomBitsPerKey ?? BLOOM_BITS_PER_KEY_DEFAULT;
    if (
      !Number.isSafeInteger(bloomBitsPerKey) || bloomBitsPerKey < 0 ||
      bloomBitsPerKey > BLOOM_BITS_PER_KEY_MAX
    ) {
      throw new InvalidArgumentError(
        `Invalid bloomBitsPerKey: ${bloomBitsPerKey} is not an integer in [0, ${BLOOM_BITS_PER_KEY_MAX}]`,
      );
    }
    this.#file = file;
    this.#blockSizeBytes = blockSizeBytes;
    this.#compression = options.compression ?? true;
    this.#bloomBitsPerKey = bloomBitsPerKey;
  }

  /** Entries added so far. */
  get entries(): number {
    return this.#entries;
  }

  /** Approximate size of the finished table if it were finished now. */
  get estimatedSizeBytes(): number {
    return this.#offset + this.#data.estimatedSizeBytes + this.#index.estimatedSizeBytes +
      Math.ceil((this.#entries * this.#bloomBitsPerKey) / 8) + FOOTER_SIZE_BYTES;
  }

  /** Appends `entry`. REQUIRES: entry.key > the previous key; the entry is well-formed. */
  add(entry: Entry): void {
    assert(this.#state === "open", "table builder is open");
    const { key, seq, kind, expireAtMs, value } = entry;
    assert(key.length <= KEY_SIZE_BYTES_MAX, "key within KEY_SIZE_BYTES_MAX");
    assert(value.length <= VALUE_SIZE_BYTES_MAX, "value within VALUE_SIZE_BYTES_MAX");
    assert(Number.isSafeInteger(seq) && seq >= 1, "seq is a positive safe integer");
    assert(
      kind === KIND_PUT || kind === KIND_DELETE || kind === KIND_META,
      "kind is PUT, META or DELETE",
    );
    assert(
      Number.isSafeInteger(expireAtMs) && expireAtMs >= 0 && expireAtMs <= EXPIRE_AT_MS_MAX,
      "expireAtMs within [0, EXPIRE_AT_MS_MAX]",
    );
    assert(kind !== KIND_DELETE || value.length === 0, "tombstones have empty values");
    assert(kind !== KIND_DELETE || expireAtMs === 0, "tombstones never expire");
    // REQUIRES: key > lastKey
    assert(
      this.#entries === 0 ||
        compareBytes(this.#lastKey.subarray(0, this.#lastKeyLen), key) < 0,
      "table keys are strictly ascending",
    );

    // Cut the block early rather than let one more entry push it past BLOCK_SIZE_BYTES_MAX.
    if (
      this.#data.entries > 0 &&
      this.#data.estimatedSizeBytes + ENTRY_OVERHEAD_BYTES_MAX + key.length + value.length >
        BLOCK_SIZE_BYTES_MAX
    ) {
      this.#flushDataBlock();
    }
    if (this.#pendingHandle !== undefined) {
      this.#addIndexEntry(shortestSeparator(this.#pendingLastKey, key), this.#pendingHandle);
      this.#pendingHandle = undefined;
    }
    this.#data.add(key, seq, kind, expireAtMs, value);

    if (this.#bloomBitsPerKey > 0) {
      if (this.#entries === this.#hashes.length) {
        const grown = new Uint32Array(this.#hashes.length * 2);
        grown.set(this.#hashes);
        this.#hashes = grown;
      }
      this.#hashes[this.#entries] = bloomHash(key);
    }
    if (this.#entries === 0) {
      this.#smallestKey = key.slice();
      this.#minSeq = seq;
      this.#maxSeq = seq;
    } else {
      if (seq < this.#minSeq) this.#minSeq = seq;
      if (seq > this.#maxSeq) this.#maxSeq = seq;
    }
    if (key.length > this.#lastKey.length) {
      this.#lastKey = new Uint8Array(Math.max(key.length, this.#lastKey.length * 2));
    }
    this.#lastKey.set(key);
    this.#lastKeyLen = key.length;
    this.#entries++;
    if (kind === KIND_DELETE) this.#tombstones++;
    this.#rawKeyBytes += key.length;
    this.#rawValueBytes += value.length;

    if (this.#data.estimatedSizeBytes >= this.#blockSizeBytes) this.#flushDataBlock();
  }

  /**
   * Writes the remaining data block, the filter, properties and index blocks and the footer.
   * Does not sync or close the file.
   */
  finish(): TableProperties {
    assert(this.#state === "open", "table builder is open");
    try {
      this.#flushDataBlock();
      if (this.#pendingHandle !== undefined) {
        // The last block's index key is its last key: it is exact, which keeps
        // `largestKey` checkable against the index at open.
        this.#addIndexEntry(this.#pendingLastKey, this.#pendingHandle);
        this.#pendingHandle = undefined;
      }
      let filter: BlockHandle = { offset: this.#offset, sizeBytes: 0 };
      if (this.#bloomBitsPerKey > 0) {
        const bloom = buildBloomFilter(this.#hashes, this.#entries, this.#bloomBitsPerKey);
        filter = this.#writeBlock(bloom, false);
      }
      const properties: TableProperties = {
        sizeBytes: 0,
        entries: this.#entries,
        smallestKey: this.#smallestKey,
        largestKey: this.#lastKey.slice(0, this.#lastKeyLen),
        minSeq: this.#minSeq,
        maxSeq: this.#maxSeq,
        tombstones: this.#tombstones,
      };
      const stats: TableStats = {
        dataBlocks: this.#dataBlocks,
        rawKeyBytes: this.#rawKeyBytes,
        rawValueBytes: this.#rawValueBytes,
        dataBytes: this.#dataBytes,
      };
      const propsHandle = this.#writeBlock(encodeProperties(properties, stats), false);
      const indexHandle = this.#writeBlock(this.#index.finish(), false);
      const footer = encodeFooter({
        filter,
        properties: propsHandle,
        index: indexHandle,
        formatVersion: TABLE_FORMAT_VERSION,
      });
      this.#append(footer);
      this.#flushOut();
      assert(this.#flushedOffset === this.#offset, "every byte of the table was written");
      this.#state = "finished";
      properties.sizeBytes = this.#offset;
      return properties;
    } catch (err) {
      this.#state = "failed";
      throw err;
    }
  }

  /** Gives up on the table: nothing more is written. The caller closes and removes the file. */
  abandon(): void {
    assert(this.#state !== "finished", "a finished table cannot be abandoned");
    this.#state = "abandoned";
    this.#out = new Uint8Array(0);
    this.#outLen = 0;
    this.#hashes = new Uint32Array(0);
  }

  #addIndexEntry(key: Uint8Array, handle: BlockHandle): void {
    let p = putVarint(this.#handleScratch, 0, handle.offset);
    p = putVarint(this.#handleScratch, p, handle.sizeBytes);
    this.#index.add(key, 0, KIND_PUT, 0, this.#handleScratch.subarray(0, p));
  }

  #flushDataBlock(): void {
    if (this.#data.entries === 0) return;
    const raw = this.#data.finish();
    // Pair assertion: the reader rejects data blocks above BLOCK_SIZE_BYTES_MAX.
    assert(raw.length <= BLOCK_SIZE_BYTES_MAX, "data block within BLOCK_SIZE_BYTES_MAX");
    const handle = this.#writeBlock(raw, this.#compression);
    this.#pendingLastKey = this.#data.lastKey().slice();
    this.#pendingHandle = handle;
    this.#data.reset();
    this.#dataBlocks++;
    this.#dataBytes += handle.sizeBytes + BLOCK_TRAILER_SIZE_BYTES;
  }

  /** Appends `raw` (compressed when allowed and worth it) and its trailer. */
  #writeBlock(raw: Uint8Array, compress: boolean): BlockHandle {
    let stored = raw;
    let type = COMPRESSION_NONE;
    if (compress && raw.length > 0) {
      const compressed = snappyCompress(raw);
      // Keep the compressed form only when it saves at least 12.5% (LevelDB's rule).
      if (compressed.length * 8 <= raw.length * 7) {
        stored = compressed;
        type = COMPRESSION_SNAPPY;
        // Pair assertion: the reader checks the decoded length the Snappy header states.
        assert(snappyUncompressedLength(stored) === raw.length, "Snappy header holds raw size");
      }
    }
    const handle: BlockHandle = { offset: this.#offset, sizeBytes: stored.length };
    const total = stored.length + BLOCK_TRAILER_SIZE_BYTES;
    this.#reserve(total);
    const out = this.#out;
    const start = this.#outLen;
    out.set(stored, start);
    out[start + stored.length] = type;
    const crc = maskCrc(crc32c(out, start, start + stored.length + 1));
    const c = start + stored.length + 1;
    out[c] = crc & 0xff;
    out[c + 1] = (crc >>> 8) & 0xff;
    out[c + 2] = (crc >>> 16) & 0xff;
    out[c + 3] = (crc >>> 24) & 0xff;
    this.#outLen += total;
    this.#offset += total;
    if (this.#outLen >= WRITE_BUFFER_BYTES) this.#flushOut();
    return handle;
  }

  #append(bytes: Uint8Array): void {
    this.#reserve(bytes.length);
    this.#out.set(bytes, this.#outLen);
    this.#outLen += bytes.length;
    this.#offset += bytes.length;
  }

  #reserve(extra: number): void {
    const need = this.#outLen + extra;
    if (need <= this.#out.length) return;
    const grown = new Uint8Array(Math.max(need, this.#out.length * 2));
    grown.set(this.#out.subarray(0, this.#outLen));
    this.#out = grown;
  }

  #flushOut(): void {
    if (this.#outLen === 0) return;
    // Pair assertion: the bytes about to be written end exactly at the logical offset.
    assert(this.#flushedOffset + this.#outLen === this.#offset, "write buffer ends at offset");
    try {
      this.#file.writeAt(this.#out.subarray(0, this.#outLen), this.#flushedOffset);
    } catch (err) {
      this.#state = "failed";
      throw err;
    }
    this.#flushedOffset += this.#outLen;
    this.#outLen = 0;
    if (this.#out.length > 2 * WRITE_BUFFER_BYTES) {
      // A huge block grew the buffer; do not keep it for the life of the builder.
      this.#out = new Uint8Array(WRITE_BUFFER_BYTES + 64 * 1024);
    }
  }
}

/**
 * A short key S with `a` <= S < `b` (LevelDB's `FindShortestSeparator`): the common prefix plus
 * one incremented byte when that stays below `b`, else `a` itself. REQUIRES: a < b.
 */
export function shortestSeparator(a: Uint8Array, b: Uint8Array): Uint8Array {
  const n = a.length < b.length ? a.length : b.length;
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  if (i < n) {
    const byte = a[i]!;
    if (byte < 0xff && byte + 1 < b[i]!) {
      const s = a.slice(0, i + 1);
      s[i] = byte + 1;
      return s;
    }
  }
  return a.slice();
}
