/**
 * The SSTable file format: block trailer, block handles, the properties block and the footer
 * (LevelDB's `table/format.cc`). See ARCHITECTURE.md § "Table layout".
 *
 * ```
 * [data block 0][trailer] ... [data block n-1][trailer]
 * [filter block][trailer]          (absent when bloomBitsPerKey is 0)
 * [properties block][trailer]
 * [index block][trailer]
 * [footer: 64 bytes]
 * ```
 *
 * Invariants:
 * - Every block is followed by a 5-byte trailer: compression type u8, then the masked CRC32C
 *   (u32 LE) of the stored block bytes followed by the type byte.
 * - The blocks tile the file with no gaps, in the order above; the footer is the last 64 bytes.
 * - The footer carries the handles of the filter, properties and index blocks, the format
 *   version, its own masked CRC32C and the magic `CITYHSST` in its last 8 bytes.
 * - Filter, properties and index blocks are never compressed; data blocks are Snappy-compressed
 *   only when that saves at least 12.5%.
 * - All fixed-width integers are little-endian.
 *
 * @module
 */

import { CorruptionError } from "../errors.ts";
import { assert } from "../util/assert.ts";
import { getU64, putU64, viewOf } from "../util/coding.ts";
import { crc32c, maskCrc, unmaskCrc } from "../util/crc32c.ts";

/** Magic number in the last 8 bytes of every table: ASCII "CITYHSST" (CityHall SSTable). */
export const TABLE_MAGIC: Uint8Array = new Uint8Array([
  0x43,
  0x49,
  0x54,
  0x59,
  0x48,
  0x53,
  0x53,
  0x54,
]);
/** Format version written in the footer; readers reject any other. */
export const TABLE_FORMAT_VERSION = 1;
/** Size of the fixed footer at the end of every table. */
export const FOOTER_SIZE_BYTES = 64;
/** Size of the trailer after every block: compression type u8 + masked CRC32C u32. */
export const BLOCK_TRAILER_SIZE_BYTES = 5;

/** Block compression types. On disk: never renumber. */
export const COMPRESSION_NONE = 0;
/** Snappy raw format (no framing). On disk: never renumber. */
export const COMPRESSION_SNAPPY = 1;

/** Where a block lives: `sizeBytes` counts the stored block without its trailer. */
export interface BlockHandle {
  /** Byte offset of the block in the file. */
  offset: number;
  /** Stored (possibly compressed) size, trailer excluded. */
  sizeBytes: number;
}

/** The decoded footer. */
export interface Footer {
  /** The whole-table bloom filter; `sizeBytes` 0 when the table has none. */
  filter: BlockHandle;
  /** The properties block. */
  properties: BlockHandle;
  /** The index block. */
  index: BlockHandle;
  /** The format version (`TABLE_FORMAT_VERSION`). */
  formatVersion: number;
}

/** Summary of a table, stored in its properties block and returned by `TableBuilder.finish`. */
export interface TableProperties {
  /** File size in bytes. */
  sizeBytes: number;
  /** Number of entries, tombstones included. */
  entries: number;
  /** The first key (empty for an empty table). */
  smallestKey: Uint8Array;
  /** The last key (empty for an empty table). */
  largestKey: Uint8Array;
  /** Smallest sequence number (0 for an empty table). */
  minSeq: number;
  /** Largest sequence number (0 for an empty table). */
  maxSeq: number;
  /** Number of tombstones. */
  tombstones: number;
}

/** Further statistics stored in the properties block. */
export interface TableStats {
  /** Number of data blocks. */
  dataBlocks: number;
  /** Sum of key lengths, before prefix compression. */
  rawKeyBytes: number;
  /** Sum of value lengths, before compression. */
  rawValueBytes: number;
  /** Stored bytes of all data blocks with their trailers. */
  dataBytes: number;
}

/** Encodes a footer into its 64 bytes. */
export function encodeFooter(footer: Footer): Uint8Array {
  const buf = new Uint8Array(FOOTER_SIZE_BYTES);
  const view = viewOf(buf);
  putU64(view, 0, footer.filter.offset);
  putU64(view, 8, footer.filter.sizeBytes);
  putU64(view, 16, footer.properties.offset);
  putU64(view, 24, footer.properties.sizeBytes);
  putU64(view, 32, footer.index.offset);
  putU64(view, 40, footer.index.sizeBytes);
  view.setUint32(48, footer.formatVersion, true);
  view.setUint32(52, maskCrc(crc32c(buf, 0, 52)), true);
  buf.set(TABLE_MAGIC, 56);
  return buf;
}

/**
 * Decodes and checks a footer read from `offset` in `path`: magic, CRC, version. Throws
 * `CorruptionError` on any mismatch. Handles are checked against the file by the caller.
 */
export function decodeFooter(buf: Uint8Array, path: string, offset: number): Footer {
  assert(buf.length === FOOTER_SIZE_BYTES, "footer buffer has the footer size");
  for (let i = 0; i < TABLE_MAGIC.length; i++) {
    if (buf[56 + i] !== TABLE_MAGIC[i]) {
      throw new CorruptionError(
        `Cannot open table: bad magic number at offset ${offset + 56} in ${path}`,
      );
    }
  }
  const view = viewOf(buf);
  const stored = view.getUint32(52, true);
  if (unmaskCrc(stored) !== crc32c(buf, 0, 52)) {
    throw new CorruptionError(
      `Cannot open table: footer checksum mismatch at offset ${offset} in ${path}`,
    );
  }
  const formatVersion = view.getUint32(48, true);
  if (formatVersion !== TABLE_FORMAT_VERSION) {
    throw new CorruptionError(
      `Cannot open table: unsupported format version ${formatVersion} at offset ${
        offset + 48
      } in ${path}`,
    );
  }
  try {
    return {
      filter: { offset: getU64(view, 0), sizeBytes: getU64(view, 8) },
      properties: { offset: getU64(view, 16), sizeBytes: getU64(view, 24) },
      index: { offset: getU64(view, 32), sizeBytes: getU64(view, 40) },
      formatVersion,
    };
  } catch (err) {
    throw new CorruptionError(
      `Cannot open table: footer handle out of range at offset ${offset} in ${path}`,
      { cause: err },
    );
  }
}

const PROPERTIES_FIXED_BYTES = 10 * 8 + 2 * 4;

/**
 * Encodes the properties block: ten u64 LE (entries, tombstones, minSeq, maxSeq, dataBlocks,
 * rawKeyBytes, rawValueBytes, dataBytes, reserved 0, reserved 0), then smallestKey and
 * largestKey, each as u32 LE length + bytes. `sizeBytes` is not stored: it is the file size.
 */
export function encodeProperties(props: TableProperties, stats: TableStats): Uint8Array {
  const buf = new Uint8Array(
    PROPERTIES_FIXED_BYTES + props.smallestKey.length + props.largestKey.length,
  );
  const view = viewOf(buf);
  const fields = [
    props.entries,
    props.tombstones,
    props.minSeq,
    props.maxSeq,
    stats.dataBlocks,
    stats.rawKeyBytes,
    stats.rawValueBytes,
    stats.dataBytes,
    0,
    0,
  ];
  let p = 0;
  for (const f of fields) {
    putU64(view, p, f);
    p += 8;
  }
  view.setUint32(p, props.smallestKey.length, true);
  p += 4;
  buf.set(props.smallestKey, p);
  p += props.smallestKey.length;
  view.setUint32(p, props.largestKey.length, true);
  p += 4;
  buf.set(props.largestKey, p);
  p += props.largestKey.length;
  assert(p === buf.length, "properties fill their buffer");
  return buf;
}

/** Decodes a properties block; throws `CorruptionError` (with `where`) when malformed. */
export function decodeProperties(
  buf: Uint8Array,
  sizeBytes: number,
  where: string,
): { properties: TableProperties; stats: TableStats } {
  const bad = (what: string) => new CorruptionError(`Cannot read properties: ${what} ${where}`);
  if (buf.length < PROPERTIES_FIXED_BYTES) throw bad("block too short");
  const view = viewOf(buf);
  const fields: number[] = [];
  try {
    for (let i = 0; i < 10; i++) fields.push(getU64(view, i * 8));
  } catch {
    throw bad("field out of range");
  }
  let p = 80;
  const smallLen = view.getUint32(p, true);
  p += 4;
  if (smallLen > buf.length - p - 4) throw bad("smallest key length out of range");
  const smallestKey = buf.slice(p, p + smallLen);
  p += smallLen;
  const largeLen = view.getUint32(p, true);
  p += 4;
  if (largeLen !== buf.length - p) throw bad("largest key length out of range");
  const largestKey = buf.slice(p, p + largeLen);
  const [entries, tombstones, minSeq, maxSeq, dataBlocks, rawKeyBytes, rawValueBytes, dataBytes] =
    fields as [number, number, number, number, number, number, number, number];
  if (tombstones > entries) throw bad("more tombstones than entries");
  if (minSeq > maxSeq) throw bad("minSeq above maxSeq");
  if ((entries === 0) !== (dataBlocks === 0)) throw bad("entry and block counts disagree");
  if (dataBlocks > entries) throw bad("more data blocks than entries");
  return {
    properties: { sizeBytes, entries, smallestKey, largestKey, minSeq, maxSeq, tombstones },
    stats: { dataBlocks, rawKeyBytes, rawValueBytes, dataBytes },
  };
}
