/**
 * `Table`: an open, immutable SSTable (LevelDB's `table/table.cc` and
 * `table/two_level_iterator.cc`). See ARCHITECTURE.md § "Table layout", and `format.ts`.
 *
 * `open` reads the footer, then the properties, filter and index blocks into memory, and checks
 * that everything agrees before the table is used:
 * - the footer's magic, CRC and format version;
 * - each block's CRC (over the stored bytes and the type byte) and compression type;
 * - the blocks tile the file: data blocks from offset 0 back to back, then filter, properties,
 *   index and footer, with nothing past the end of the file;
 * - index keys strictly ascend, every data block is <= `BLOCK_SIZE_BYTES_MAX`, the block count
 *   matches the properties and the last index key is the table's largest key.
 *
 * Data blocks are read on demand with synchronous `File.readAt`, CRC-checked, decompressed and
 * validated, then kept in the shared `BlockCache`. Every problem with the bytes of the file is
 * a `CorruptionError` naming the file and offset; no other exception escapes decoding.
 *
 * @module
 */

import { CorruptionError } from "../errors.ts";
import type { File, FileSystem } from "../fs/mod.ts";
import { BLOCK_SIZE_BYTES_MAX } from "../limits.ts";
import { assert } from "../util/assert.ts";
import { compareBytes, equalBytes } from "../util/bytes.ts";
import { crc32c, unmaskCrc } from "../util/crc32c.ts";
import { type Entry, type EntryIterator, KIND_PUT, type PairBuffer } from "../util/entry.ts";
import { snappyUncompress, snappyUncompressedLength } from "./_snappy.ts";
import { Block } from "./block.ts";
import { BlockIterator, blockIterator } from "./block_iterator.ts";
import type { BlockCache, CachedBlock } from "./block_cache.ts";
import { BloomFilter, bloomHash } from "./bloom.ts";
import {
  BLOCK_TRAILER_SIZE_BYTES,
  type BlockHandle,
  COMPRESSION_NONE,
  COMPRESSION_SNAPPY,
  decodeFooter,
  decodeProperties,
  FOOTER_SIZE_BYTES,
  type TableProperties,
  type TableStats,
} from "./format.ts";

/** How to open a table. */
export interface TableOpenOptions {
  /** The block cache shared by all tables. */
  cache: BlockCache;
  /** The table's file number: its key in the block cache. */
  fileNumber: number;
}

/** Options of `Table.iterator`. */
export interface TableIteratorOptions {
  /**
   * Keep the data blocks read by this iterator in the block cache (default true). Compactions
   * pass false so that one pass over a table does not flush the cache.
   */
  fillCache?: boolean;
}

const EMPTY_BLOCK = new Block(new Uint8Array(4), "in an empty block");

/** An open SSTable. Reads are synchronous and never mutate the file. */
export class Table {
  /** The path the table was opened from. */
  readonly path: string;
  /** The table's file number. */
  readonly fileNumber: number;
  /** Summary from the properties block; `sizeBytes` is the file size. */
  readonly properties: TableProperties;
  /** Further statistics from the properties block. */
  readonly stats: TableStats;
  readonly #file: File;
  readonly #cache: BlockCache;
  readonly #filter: BloomFilter | undefined;
  /** Index keys back to back: compared in place, no pointer chasing per probe. */
  #indexKeyBytes: Uint8Array = new Uint8Array(0);
  /** Index key i is `#indexKeyBytes[#indexKeyStarts[i], #indexKeyStarts[i + 1])`. */
  #indexKeyStarts: Uint32Array = new Uint32Array(1);
  #blockCount = 0;
  readonly #blockOffsets: number[] = [];
  readonly #blockSizes: number[] = [];
  /**
   * The block cache's handle of each data block, once this table looked it up or cached it:
   * a hit then needs no map lookup (the handle goes empty when the cache evicts the block).
   */
  #cached: (CachedBlock | undefined)[] = [];
  #closed = false;

  /** Opens and validates the table at `path`; throws `CorruptionError` when it is malformed. */
  static open(fs: FileSystem, path: string, options: TableOpenOptions): Table {
    const file = fs.open(path);
    try {
      return new Table(file, path, options);
    } catch (err) {
      file.close();
      throw err;
    }
  }

  private constructor(file: File, path: string, options: TableOpenOptions) {
    this.#file = file;
    this.path = path;
    this.fileNumber = options.fileNumber;
    this.#cache = options.cache;

    const fileSize = file.size();
    if (fileSize < FOOTER_SIZE_BYTES) {
      throw new CorruptionError(
        `Cannot open table: file of ${fileSize} bytes is shorter than the ${FOOTER_SIZE_BYTES}-byte footer in ${path}`,
      );
    }
    const footerOffset = fileSize - FOOTER_SIZE_BYTES;
    const footer = decodeFooter(
      this.#readExact(footerOffset, FOOTER_SIZE_BYTES),
      path,
      footerOffset,
    );

    // The blocks must tile the file: data, filter (maybe absent), properties, index, footer.
    const handleEnd = (h: BlockHandle) => h.offset + h.sizeBytes + BLOCK_TRAILER_SIZE_BYTES;
    const badLayout = (what: string) =>
      new CorruptionError(
        `Cannot open table: ${what} in footer at offset ${footerOffset} in ${path}`,
      );
    for (const h of [footer.filter, footer.properties, footer.index]) {
      if (h.offset > footerOffset || h.sizeBytes > footerOffset) {
        throw badLayout("block handle past the end of the file");
      }
    }
    const dataEnd = footer.filter.offset;
    const filterEnd = footer.filter.sizeBytes === 0 ? dataEnd : handleEnd(footer.filter);
    if (footer.properties.offset !== filterEnd) throw badLayout("properties block misplaced");
    if (footer.index.offset !== handleEnd(footer.properties)) {
      throw badLayout("index block misplaced");
    }
    if (handleEnd(footer.index) !== footerOffset) throw badLayout("index block misplaced");

    const propsBytes = this.#readBlock(footer.properties, false);
    const { properties, stats } = decodeProperties(
      propsBytes,
      fileSize,
      `at offset ${footer.properties.offset} in ${path}`,
    );
    this.properties = properties;
    this.stats = stats;

    if (footer.filter.sizeBytes > 0) {
      const filter = BloomFilter.decode(this.#readBlock(footer.filter, false));
      if (filter === undefined) {
        throw new CorruptionError(
          `Cannot read filter: malformed at offset ${footer.filter.offset} in ${path}`,
        );
      }
      this.#filter = filter;
    }

    this.#loadIndex(footer.index, dataEnd);
  }

  #loadIndex(handle: BlockHandle, dataEnd: number): void {
    const where = `at offset ${handle.offset} in ${this.path}`;
    const bad = (what: string) => new CorruptionError(`Cannot read index: ${what} ${where}`);
    const block = new Block(this.#readBlock(handle, false), where);
    const it = blockIterator(block);
    let expectedOffset = 0;
    let prevKey: Uint8Array | undefined;
    const keys: Uint8Array[] = [];
    for (it.seekToFirst(); it.valid(); it.next()) {
      const e = it.entry();
      if (e.seq !== 0 || e.kind !== KIND_PUT || e.expireAtMs !== 0) {
        throw bad("bad entry metadata");
      }
      if (prevKey !== undefined && compareBytes(prevKey, e.key) >= 0) {
        throw bad("keys out of order");
      }
      const offset = readHandleVarint(e.value, 0);
      const sizeAt = varintEndOffset;
      const sizeBytes = offset < 0 ? -1 : readHandleVarint(e.value, sizeAt);
      if (offset < 0 || sizeBytes < 0 || varintEndOffset !== e.value.length) {
        throw bad("malformed block handle");
      }
      if (offset !== expectedOffset) throw bad(`data block at ${offset} misplaced`);
      if (sizeBytes > BLOCK_SIZE_BYTES_MAX) throw bad(`data block of ${sizeBytes} bytes too large`);
      expectedOffset = offset + sizeBytes + BLOCK_TRAILER_SIZE_BYTES;
      if (expectedOffset > dataEnd) throw bad("data block past the data area");
      keys.push(e.key);
      this.#blockOffsets.push(offset);
      this.#blockSizes.push(sizeBytes);
      prevKey = e.key;
    }
    if (expectedOffset !== dataEnd) throw bad("data blocks do not fill the data area");
    const props = this.properties;
    if (keys.length !== this.stats.dataBlocks) {
      throw bad("block count differs from the properties");
    }
    const starts = new Uint32Array(keys.length + 1);
    let total = 0;
    for (let i = 0; i < keys.length; i++) {
      starts[i] = total;
      total += keys[i]!.length;
    }
    starts[keys.length] = total;
    const bytes = new Uint8Array(total);
    for (let i = 0; i < keys.length; i++) bytes.set(keys[i]!, starts[i]!);
    this.#indexKeyBytes = bytes;
    this.#indexKeyStarts = starts;
    this.#blockCount = keys.length;
    this.#cached = new Array<CachedBlock | undefined>(keys.length).fill(undefined);
    if (props.entries > 0) {
      const lastKey = keys[keys.length - 1]!;
      const firstKey = keys[0]!;
      if (!equalBytes(lastKey, props.largestKey)) throw bad("last key differs from properties");
      if (compareBytes(props.smallestKey, firstKey) > 0) {
        throw bad("smallest key above the first block's key");
      }
    }
  }

  /** True when the table may hold `key` (bloom filter check; true without a filter). */
  mayContain(key: Uint8Array): boolean {
    return this.#filter === undefined || this.#filter.mayContain(key);
  }

  /**
   * The table's entry for `key` (tombstones included), or `undefined`. The entry's value is a
   * view into the decoded block, never mutated; its key is `key` itself (equal bytes, and no
   * copy made), so the caller must not change `key` while it holds the entry.
   */
  get(key: Uint8Array): Entry | undefined {
    return this.getHashed(key, bloomHash(key));
  }

  /** `get` for a key whose `bloomHash` the caller computed (once for every table it asks). */
  getHashed(key: Uint8Array, hash: number): Entry | undefined {
    assert(!this.#closed, "table is open");
    if (this.#filter !== undefined && !this.#filter.mayContainHash(hash)) return undefined;
    const i = this.#findBlock(key);
    if (i >= this.#blockCount) return undefined;
    return this.#dataBlock(i, true).get(key);
  }

  /** A bidirectional iterator over all entries, unpositioned. */
  iterator(options: TableIteratorOptions = {}): EntryIterator {
    assert(!this.#closed, "table is open");
    const fillCache = options.fillCache ?? true;
    return new TableIterator({
      count: this.#blockCount,
      findBlock: (key) => this.#findBlock(key),
      block: (i) => this.#dataBlock(i, fillCache),
    });
  }

  /** Closes the file. Cached blocks stay until `BlockCache.evictFile`. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#file.close();
  }

  /** Index of the first data block whose index key is >= `key` (block count when none). */
  #findBlock(key: Uint8Array): number {
    const bytes = this.#indexKeyBytes;
    const starts = this.#indexKeyStarts;
    const keyLen = key.length;
    let lo = 0;
    let hi = this.#blockCount;
    // Keys in [lo, hi) lie between two keys sharing `lcpLo` and `lcpHi` bytes with `key`, so
    // they share at least the smaller of the two: comparisons start there.
    let lcpLo = 0;
    let lcpHi = 0;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const start = starts[mid]!;
      const len = starts[mid + 1]! - start;
      const n = len < keyLen ? len : keyLen;
      let j = lcpLo < lcpHi ? lcpLo : lcpHi;
      while (j < n && bytes[start + j] === key[j]) j++;
      const less = j === n ? len < keyLen : bytes[start + j]! < key[j]!;
      if (less) {
        lo = mid + 1;
        lcpLo = j;
      } else {
        hi = mid;
        lcpHi = j;
      }
    }
    return lo;
  }

  #dataBlock(i: number, fillCache: boolean): Block {
    assert(!this.#closed, "table is open");
    const cache = this.#cache;
    const held = this.#cached[i];
    if (held !== undefined) {
      const block = cache.touch(held);
      if (block !== undefined) return block;
      this.#cached[i] = undefined;
    }
    const offset = this.#blockOffsets[i]!;
    // Another reader of the same file number (none today) may have cached the block.
    const found = cache.lookup(this.fileNumber, offset);
    if (found !== undefined && found.block !== undefined) {
      this.#cached[i] = found;
      return found.block;
    }
    const handle = { offset, sizeBytes: this.#blockSizes[i]! };
    const block = new Block(this.#readBlock(handle, true), `at offset ${offset} in ${this.path}`);
    if (fillCache) this.#cached[i] = cache.insert(this.fileNumber, offset, block);
    return block;
  }

  /** Reads exactly `length` bytes at `offset`; `CorruptionError` when the file is shorter. */
  #readExact(offset: number, length: number): Uint8Array {
    const buf = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const n = this.#file.readAt(buf.subarray(done), offset + done);
      if (n <= 0) break;
      done += n;
    }
    if (done !== length) {
      throw new CorruptionError(
        `Cannot read block: truncated file at offset ${offset + done} in ${this.path}`,
      );
    }
    return buf;
  }

  /** Reads a block, checks its CRC and decompresses it (only data blocks may be compressed). */
  #readBlock(handle: BlockHandle, mayBeCompressed: boolean): Uint8Array {
    const buf = this.#readExact(handle.offset, handle.sizeBytes + BLOCK_TRAILER_SIZE_BYTES);
    return decodeStoredBlock(buf, handle.offset, this.path, mayBeCompressed);
  }
}

/**
 * Checks and unpacks one stored block: `stored` holds the block bytes and their 5-byte
 * trailer, read from `offset` in `path`. Checks the CRC before anything else, then the
 * compression type and the Snappy length; returns the block contents (a view into `stored`
 * when raw). Throws `CorruptionError` naming the file and offset. Shared by `Table` and the
 * offline readers of `src/verify/`.
 */
export function decodeStoredBlock(
  stored: Uint8Array,
  offset: number,
  path: string,
  mayBeCompressed: boolean,
): Uint8Array {
  assert(stored.length >= BLOCK_TRAILER_SIZE_BYTES, "stored block includes its trailer");
  const sizeBytes = stored.length - BLOCK_TRAILER_SIZE_BYTES;
  const buf = stored;
  const type = buf[sizeBytes]!;
  const p = sizeBytes + 1;
  const crc = (buf[p]! | (buf[p + 1]! << 8) | (buf[p + 2]! << 16) | (buf[p + 3]! << 24)) >>> 0;
  if (unmaskCrc(crc) !== crc32c(buf, 0, sizeBytes + 1)) {
    throw new CorruptionError(
      `Cannot read block: checksum mismatch at offset ${offset} in ${path}`,
    );
  }
  const contents = buf.subarray(0, sizeBytes);
  if (type === COMPRESSION_NONE) return contents;
  if (type === COMPRESSION_SNAPPY && mayBeCompressed) {
    const length = snappyUncompressedLength(contents);
    if (length < 0 || length > BLOCK_SIZE_BYTES_MAX) {
      throw new CorruptionError(
        `Cannot read block: bad Snappy length ${length} at offset ${offset} in ${path}`,
      );
    }
    let raw: Uint8Array;
    try {
      raw = snappyUncompress(contents, BLOCK_SIZE_BYTES_MAX);
    } catch (err) {
      throw new CorruptionError(
        `Cannot read block: invalid Snappy data at offset ${offset} in ${path}`,
        { cause: err },
      );
    }
    if (raw.length !== length) {
      throw new CorruptionError(
        `Cannot read block: Snappy length mismatch at offset ${offset} in ${path}`,
      );
    }
    return raw;
  }
  throw new CorruptionError(
    `Cannot read block: unexpected compression type ${type} at offset ${offset} in ${path}`,
  );
}

// Set by `readHandleVarint`: the offset just past the varint it decoded.
let varintEndOffset = 0;

/** Decodes a varint of a block handle; -1 when truncated or too large. */
function readHandleVarint(buf: Uint8Array, p: number): number {
  let result = 0;
  let scale = 1;
  for (let i = 0; i < 8; i++) {
    if (p >= buf.length) return -1;
    const b = buf[p++]!;
    result += (b & 0x7f) * scale;
    if (b < 0x80) {
      varintEndOffset = p;
      return Number.isSafeInteger(result) ? result : -1;
    }
    scale *= 128;
  }
  return -1;
}

/** The data blocks a `TableIterator` walks: a table's index, or the blocks salvage found. */
export interface BlockSource {
  /** Number of data blocks. */
  count: number;
  /** Index of the first block that may hold a key >= `key` (`count` when none). */
  findBlock(key: Uint8Array): number;
  /** The decoded block `index`. */
  block(index: number): Block;
}

/**
 * Two-level iterator: a position in the in-memory index picks a data block, a
 * `BlockIterator` walks it. Empty stretches are skipped with bounded loops, not recursion.
 */
export class TableIterator implements EntryIterator {
  readonly #src: BlockSource;
  readonly #it = new BlockIterator();
  #blockIndex = -1;

  /** An unpositioned iterator over the blocks of `src`. */
  constructor(src: BlockSource) {
    this.#src = src;
    this.#it.reset(EMPTY_BLOCK);
  }

  valid(): boolean {
    return this.#it.valid();
  }

  entry(): Entry {
    return this.#it.entry();
  }

  seekToFirst(): void {
    if (this.#src.count === 0) return this.#invalidate();
    this.#load(0);
    this.#it.seekToFirst();
    this.#skipForward();
  }

  seekToLast(): void {
    if (this.#src.count === 0) return this.#invalidate();
    this.#load(this.#src.count - 1);
    this.#it.seekToLast();
    this.#skipBackward();
  }

  seek(target: Uint8Array): void {
    const i = this.#src.findBlock(target);
    if (i >= this.#src.count) return this.#invalidate();
    this.#load(i);
    this.#it.seek(target);
    this.#skipForward();
  }

  seekForPrev(target: Uint8Array): void {
    const i = this.#src.findBlock(target);
    if (i >= this.#src.count) return this.seekToLast();
    this.#load(i);
    this.#it.seekForPrev(target);
    this.#skipBackward();
  }

  next(): void {
    assert(this.valid(), "table iterator is valid");
    this.#it.next();
    this.#skipForward();
  }

  prev(): void {
    assert(this.valid(), "table iterator is valid");
    this.#it.prev();
    this.#skipBackward();
  }

  /** `EntryIterator.collectLive`, block after block. */
  collectLive(
    out: PairBuffer,
    max: number,
    stop: Uint8Array | undefined,
    nowMs: number,
  ): number {
    let moved = 0;
    for (;;) {
      moved += this.#it.collectLive(out, max, stop, nowMs);
      // Stopped inside the block (at stop or full), or past the table's last block.
      if (this.#it.valid() || this.#blockIndex < 0) return moved;
      this.#skipForward();
    }
  }

  #load(i: number): void {
    if (i === this.#blockIndex) return;
    this.#it.reset(this.#src.block(i));
    this.#blockIndex = i;
  }

  #invalidate(): void {
    this.#it.reset(EMPTY_BLOCK);
    this.#blockIndex = -1;
  }

  #skipForward(): void {
    while (!this.#it.valid()) {
      if (this.#blockIndex < 0 || this.#blockIndex + 1 >= this.#src.count) {
        return this.#invalidate();
      }
      this.#load(this.#blockIndex + 1);
      this.#it.seekToFirst();
    }
  }

  #skipBackward(): void {
    while (!this.#it.valid()) {
      if (this.#blockIndex <= 0) return this.#invalidate();
      this.#load(this.#blockIndex - 1);
      this.#it.seekToLast();
    }
  }
}
