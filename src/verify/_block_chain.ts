/**
 * Finding SSTable blocks without the footer or index: every block is followed by a 5-byte
 * trailer (type u8 ∈ {0, 1}, then the masked CRC32C of the block bytes and the type byte), so
 * the end of a block that starts at `o` is the first `o + s` where that trailer holds. The
 * chain of blocks from offset 0 then gives every block in order (ARCHITECTURE.md § "Verify and
 * salvage", "Reading a table without its index").
 *
 * A false match needs a 32-bit CRC collision at a byte that also looks like a type (about
 * 2^-39 per byte). When a block is damaged its trailer no longer matches and the chain breaks;
 * the search then resynchronizes by trying every later offset as a block start, which costs
 * up to (region size × block size) CRC steps, bounded by `SALVAGE_RESYNC_STEPS_MAX` per table.
 *
 * @module
 */

import { BLOCK_SIZE_BYTES_MAX, SALVAGE_RESYNC_STEPS_MAX } from "../limits.ts";
import { COMPRESSION_NONE, COMPRESSION_SNAPPY } from "../sstable/mod.ts";
import { crc32cExtend, unmaskCrc } from "../util/crc32c.ts";

/** A block found by its trailer. */
export interface ChainedBlock {
  /** Offset of the block in the file. */
  offset: number;
  /** Stored size without the trailer. */
  sizeBytes: number;
  /** Compression type from the trailer. */
  type: number;
}

/** A stretch of the file where no block trailer was found. */
export interface ChainGap {
  /** Offset of the first unreadable byte. */
  offset: number;
  /** Bytes skipped. */
  sizeBytes: number;
  /** True when the resync budget ran out (the rest of the range was not searched). */
  gaveUp: boolean;
}

/** The blocks found in a range, in file order, and the gaps between them. */
export interface Chain {
  /** Blocks whose trailer checks. */
  blocks: ChainedBlock[];
  /** Regions in which no block was found. */
  gaps: ChainGap[];
}

const TRAILER_BYTES = 5;

/** Mutable budget of CRC steps shared by one table's searches. */
interface Budget {
  left: number;
}

/**
 * Size of the block starting at `start` whose trailer ends at or before `limit`: the first
 * size s ≤ `maxSizeBytes` with a matching trailer at `start + s`. -1 when there is none.
 */
function findBlockSize(
  buf: Uint8Array,
  start: number,
  limit: number,
  maxSizeBytes: number,
  budget: Budget,
): number {
  let crc = 0;
  const last = Math.min(limit - TRAILER_BYTES, start + maxSizeBytes);
  for (let t = start; t <= last; t++) {
    const type = buf[t]!;
    // The CRC of the block bytes followed by the type byte is the running CRC extended by
    // the byte at t, which is also the next running CRC when t is not the trailer.
    const next = crc32cExtend(crc, buf, t, t + 1);
    if (type === COMPRESSION_NONE || type === COMPRESSION_SNAPPY) {
      const stored = (buf[t + 1]! | (buf[t + 2]! << 8) | (buf[t + 3]! << 16) |
        (buf[t + 4]! << 24)) >>> 0;
      if (unmaskCrc(stored) === next) return t - start;
    }
    crc = next;
    if (--budget.left <= 0) return -1;
  }
  return -1;
}

/**
 * Chains blocks from `start` up to `end` (exclusive; a block's trailer must end at or before
 * it): each block starts where the previous trailer ended; a stretch without a trailer becomes
 * a gap and the search resumes at the next offset where a block checks.
 */
export function chainBlocks(
  buf: Uint8Array,
  start: number,
  end: number,
): Chain {
  const budget: Budget = { left: SALVAGE_RESYNC_STEPS_MAX };
  const blocks: ChainedBlock[] = [];
  const gaps: ChainGap[] = [];
  let largest = 0;
  let o = start;
  while (o < end) {
    // An intact block is found at its own size; a damaged one costs the whole search.
    const size = findBlockSize(buf, o, end, BLOCK_SIZE_BYTES_MAX, budget);
    if (size >= 0) {
      blocks.push({ offset: o, sizeBytes: size, type: buf[o + size]! });
      largest = Math.max(largest, size);
      o += size + TRAILER_BYTES;
      continue;
    }
    // Resynchronize: the next block starts somewhere after o. Blocks of one table are about
    // the same size, so a start is tried with a search bounded by twice the largest seen.
    const window = 2 * Math.max(largest, 4096);
    let resumed = -1;
    for (let p = o + 1; p < end && budget.left > 0; p++) {
      if (findBlockSize(buf, p, end, window, budget) >= 0) {
        resumed = p;
        break;
      }
    }
    const gaveUp = resumed < 0 && budget.left <= 0;
    gaps.push({ offset: o, sizeBytes: (resumed < 0 ? end : resumed) - o, gaveUp });
    if (resumed < 0) break;
    o = resumed;
  }
  return { blocks, gaps };
}
