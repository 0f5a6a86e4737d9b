/**
 * Decoding the parts of an SSTable from its bytes, one at a time, for the offline readers:
 * each function checks one part completely and throws `CorruptionError` naming the file and
 * offset, so that the caller can report it and go on with the other parts. Formats:
 * ARCHITECTURE.md § "SSTable".
 *
 * @module
 */

import { CorruptionError } from "../errors.ts";
import { BLOCK_SIZE_BYTES_MAX, KEY_SIZE_BYTES_MAX, VALUE_SIZE_BYTES_MAX } from "../limits.ts";
import {
  Block,
  BLOCK_TRAILER_SIZE_BYTES,
  type BlockHandle,
  blockIterator,
  BloomFilter,
  decodeProperties,
  decodeStoredBlock,
  type TableProperties,
  type TableStats,
} from "../sstable/mod.ts";
import { compareBytes } from "../util/bytes.ts";
import { getVarint } from "../util/coding.ts";
import { type Entry, KIND_DELETE, KIND_PUT } from "../util/entry.ts";

/** What the checks of one data block learned. */
export interface DataBlockSummary {
  /** Offset of the block in the file. */
  offset: number;
  /** Stored size without the trailer. */
  sizeBytes: number;
  /** First key. */
  firstKey: Uint8Array;
  /** Last key. */
  lastKey: Uint8Array;
  /** Entries, tombstones included. */
  entries: number;
  /** Tombstones. */
  tombstones: number;
  /** Smallest sequence. */
  minSeq: number;
  /** Largest sequence. */
  maxSeq: number;
  /** Sum of key lengths. */
  rawKeyBytes: number;
  /** Sum of value lengths. */
  rawValueBytes: number;
}

/** The decoded index: one handle and one separator key per data block. */
export interface DecodedIndex {
  /** Data block handles, in order, tiling `[0, dataEnd)`. */
  handles: BlockHandle[];
  /** Separator keys, strictly ascending. */
  keys: Uint8Array[];
}

/** The stored bytes of the block at `h` (block and trailer), or `CorruptionError`. */
export function storedBlock(buf: Uint8Array, h: BlockHandle, path: string): Uint8Array {
  const end = h.offset + h.sizeBytes + BLOCK_TRAILER_SIZE_BYTES;
  if (end > buf.length) {
    throw new CorruptionError(
      `Cannot read block: ${h.sizeBytes} bytes past the end of the file at offset ${h.offset} in ${path}`,
    );
  }
  return buf.subarray(h.offset, end);
}

/** Reads a raw (uncompressed) metadata block. */
export function rawBlock(buf: Uint8Array, h: BlockHandle, path: string): Uint8Array {
  return decodeStoredBlock(storedBlock(buf, h, path), h.offset, path, false);
}

/** Decodes the properties block at `h`. */
export function readProperties(
  buf: Uint8Array,
  h: BlockHandle,
  path: string,
): { properties: TableProperties; stats: TableStats } {
  return decodeProperties(rawBlock(buf, h, path), buf.length, `at offset ${h.offset} in ${path}`);
}

/** Decodes the filter block at `h`. */
export function readFilter(buf: Uint8Array, h: BlockHandle, path: string): BloomFilter {
  const filter = BloomFilter.decode(rawBlock(buf, h, path));
  if (filter === undefined) {
    throw new CorruptionError(`Cannot read filter: malformed at offset ${h.offset} in ${path}`);
  }
  return filter;
}

/**
 * Decodes the index block at `h` and checks it as `Table.open` does: entry metadata, keys
 * strictly ascending, handles tiling `[0, dataEnd)`, block sizes within the limit.
 */
export function readIndex(
  buf: Uint8Array,
  h: BlockHandle,
  dataEnd: number,
  path: string,
): DecodedIndex {
  const where = `at offset ${h.offset} in ${path}`;
  const bad = (what: string) => new CorruptionError(`Cannot read index: ${what} ${where}`);
  const block = new Block(rawBlock(buf, h, path), where);
  const handles: BlockHandle[] = [];
  const keys: Uint8Array[] = [];
  let expected = 0;
  const it = blockIterator(block);
  for (it.seekToFirst(); it.valid(); it.next()) {
    const e = it.entry();
    if (e.seq !== 0 || e.kind !== KIND_PUT || e.expireAtMs !== 0) throw bad("bad entry metadata");
    const last = keys[keys.length - 1];
    if (last !== undefined && compareBytes(last, e.key) >= 0) throw bad("keys out of order");
    let offset: number;
    let sizeBytes: number;
    try {
      const a = getVarint(e.value, 0, e.value.length);
      const b = getVarint(e.value, a.offset, e.value.length);
      if (b.offset !== e.value.length) throw bad("malformed block handle");
      offset = a.value;
      sizeBytes = b.value;
    } catch {
      throw bad("malformed block handle");
    }
    if (offset !== expected) throw bad(`data block at ${offset} misplaced`);
    if (sizeBytes > BLOCK_SIZE_BYTES_MAX) throw bad(`data block of ${sizeBytes} bytes too large`);
    expected = offset + sizeBytes + BLOCK_TRAILER_SIZE_BYTES;
    if (expected > dataEnd) throw bad("data block past the data area");
    handles.push({ offset, sizeBytes });
    keys.push(e.key.slice());
  }
  if (expected !== dataEnd) throw bad("data blocks do not fill the data area");
  return { handles, keys };
}

/**
 * Decodes and checks one data block completely: CRC, compression, restart array, every
 * entry (varints, kind, tombstone shape, sequence ≥ 1, key and value sizes), keys strictly
 * ascending within the block and above `after` (the previous good block's last key). With a
 * filter, every key must pass it (a bloom filter has no false negatives).
 */
export function checkDataBlock(
  buf: Uint8Array,
  h: BlockHandle,
  path: string,
  after: Uint8Array | undefined,
  filter: BloomFilter | undefined,
  onEntry?: (e: Entry) => void,
): DataBlockSummary {
  const where = `at offset ${h.offset} in ${path}`;
  const contents = decodeStoredBlock(storedBlock(buf, h, path), h.offset, path, true);
  const block = new Block(contents, where);
  const bad = (what: string) => block.corrupt(what);
  const s: DataBlockSummary = {
    offset: h.offset,
    sizeBytes: h.sizeBytes,
    firstKey: new Uint8Array(0),
    lastKey: new Uint8Array(0),
    entries: 0,
    tombstones: 0,
    minSeq: Number.MAX_SAFE_INTEGER,
    maxSeq: 0,
    rawKeyBytes: 0,
    rawValueBytes: 0,
  };
  let prev = after;
  const it = blockIterator(block);
  for (it.seekToFirst(); it.valid(); it.next()) {
    const e = it.entry();
    if (prev !== undefined && compareBytes(prev, e.key) >= 0) {
      throw bad(s.entries === 0 ? "first key not above the previous block's" : "keys out of order");
    }
    if (e.seq < 1) throw bad(`entry ${s.entries} has sequence 0`);
    if (e.kind === KIND_DELETE && (e.value.length !== 0 || e.expireAtMs !== 0)) {
      throw bad(`tombstone ${s.entries} carries a value or an expiry`);
    }
    if (e.key.length > KEY_SIZE_BYTES_MAX || e.value.length > VALUE_SIZE_BYTES_MAX) {
      throw bad(`entry ${s.entries} exceeds the key or value size limit`);
    }
    if (filter !== undefined && !filter.mayContain(e.key)) {
      throw new CorruptionError(
        `Cannot read filter: key of entry ${s.entries} of the data block ${where} is missing from the bloom filter`,
      );
    }
    if (s.entries === 0) s.firstKey = e.key.slice();
    s.entries++;
    if (e.kind === KIND_DELETE) s.tombstones++;
    s.minSeq = Math.min(s.minSeq, e.seq);
    s.maxSeq = Math.max(s.maxSeq, e.seq);
    s.rawKeyBytes += e.key.length;
    s.rawValueBytes += e.value.length;
    onEntry?.(e);
    prev = e.key;
  }
  if (s.entries === 0) throw bad("data block holds no entry");
  s.lastKey = prev!.slice();
  return s;
}
