/**
 * Byte-level helpers of WAL recovery: finding the valid records that follow a bad one, the last
 * non-zero byte of a segment, and cutting a torn tail. Private to `src/wal/`; the rules that use
 * them are in `reader.ts` and `_recovery_tail.ts` (ARCHITECTURE.md § "Recovery rules").
 *
 * A scan for valid records after damage tries every byte offset, so it must be cheap where
 * nothing is: the type byte, the sequence range and (version 2) the trailer's synced-through
 * offset are checked before any checksum is computed, and after a valid record the scan goes
 * on record by record. A false match needs a CRC32C collision of 2^-32 per offset tried.
 *
 * @module
 */

import type { FileSystem } from "../fs/mod.ts";
import { WAL_RECORD_HEADER_BYTES, WAL_RECORD_TRAILER_BYTES } from "../limits.ts";
import {
  batchOpCount,
  parseRecordAt,
  type RecordFraming,
  WAL_RECORD_TYPE_BATCH,
  WAL_RECORD_TYPE_SEAL,
  WAL_SEGMENT_HEADER_BYTES,
  type WalRecord,
} from "./format.ts";

/** Index of the last non-zero byte at or after `from`, or -1. */
export function lastNonZero(buf: Uint8Array, from: number): number {
  let i = buf.length - 1;
  // Whole 32-bit words where the buffer is aligned: the tail is mostly preallocated zeros.
  if ((buf.byteOffset & 3) === 0) {
    const words = new Uint32Array(buf.buffer, buf.byteOffset, buf.length >>> 2);
    for (; i >= words.length * 4; i--) {
      if (i < from) return -1;
      if (buf[i] !== 0) return i;
    }
    let w = words.length - 1;
    while (w >= 0 && words[w] === 0 && w * 4 >= from) w--;
    i = w * 4 + 3;
  }
  for (; i >= from; i--) if (buf[i] !== 0) return i;
  return -1;
}

/** Cheap checks a record at `y` must pass before its checksum is worth computing. */
function plausible(buf: Uint8Array, y: number, to: number, framing: RecordFraming, minSeq: number) {
  if (y + WAL_RECORD_HEADER_BYTES > to) return false;
  const type = buf[y + 16];
  if (type !== WAL_RECORD_TYPE_BATCH && (type !== WAL_RECORD_TYPE_SEAL || framing === "body")) {
    return false;
  }
  const view = new DataView(buf.buffer, buf.byteOffset + y, WAL_RECORD_HEADER_BYTES);
  const length = view.getUint32(0, true);
  const trailer = framing === "v2" ? WAL_RECORD_TRAILER_BYTES : 0;
  if (length === 0 || length > to - y - WAL_RECORD_HEADER_BYTES - trailer) return false;
  const hi = view.getUint32(12, true);
  if (hi >= 0x20_0000) return false; // above 2^53
  const seq = hi * 0x1_0000_0000 + view.getUint32(8, true);
  if (seq < minSeq) return false;
  if (trailer > 0) {
    const synced = new DataView(
      buf.buffer,
      buf.byteOffset + y + WAL_RECORD_HEADER_BYTES + length,
      4,
    )
      .getUint32(0, true);
    if (synced < WAL_SEGMENT_HEADER_BYTES || synced > y) return false;
  }
  return true;
}

/**
 * The first valid record starting in `[from, to)` whose sequence is at least `minSeq`, or
 * undefined. `buf[0]` is file offset 0.
 */
export function findValidRecord(
  buf: Uint8Array,
  from: number,
  to: number,
  framing: RecordFraming,
  minSeq: number,
): WalRecord | undefined {
  for (let y = from; y < to; y++) {
    if (!plausible(buf, y, to, framing, minSeq)) continue;
    const parsed = parseRecordAt(buf.subarray(0, to), y, 0, framing);
    if (parsed.status === "record") return parsed.record;
  }
  return undefined;
}

/**
 * Calls `visit` with every valid record in `[from, to)` with a sequence >= `minSeq`, in file
 * order: record by record while they parse, scanning byte by byte for the next one after a bad
 * one. Stops early when `visit` returns false.
 */
export function forEachValidRecord(
  buf: Uint8Array,
  from: number,
  to: number,
  framing: RecordFraming,
  minSeq: number,
  visit: (record: WalRecord) => boolean | void,
): void {
  const data = buf.subarray(0, to);
  let at = from;
  while (at < to) {
    const found = findValidRecord(buf, at, to, framing, minSeq);
    if (found === undefined) return;
    let record: WalRecord | undefined = found;
    while (record !== undefined) {
      if (visit(record) === false) return;
      at = record.endOffset;
      const parsed = parseRecordAt(data, at, 0, framing);
      record = parsed.status === "record" && parsed.record.seq >= minSeq
        ? parsed.record
        : undefined;
    }
    at++;
  }
}

/** The sequence of the last op of a valid record (a SEAL holds none: its sequence - 1). */
export function lastSeqOf(record: WalRecord): number {
  if (record.type !== WAL_RECORD_TYPE_BATCH) return record.seq - 1;
  try {
    return record.seq + batchOpCount(record.payload) - 1;
  } catch {
    return record.seq;
  }
}

const ZERO_CHUNK_BYTES = 1 << 20;

/** Overwrites `[from, to)` of a file with zeros and fdatasyncs it. */
export function zeroRange(fs: FileSystem, path: string, from: number, to: number): void {
  const file = fs.open(path, { write: true });
  try {
    const zeros = new Uint8Array(Math.min(ZERO_CHUNK_BYTES, to - from));
    for (let at = from; at < to; at += zeros.length) {
      file.writeAt(at + zeros.length <= to ? zeros : zeros.subarray(0, to - at), at);
    }
    file.syncData();
  } finally {
    file.close();
  }
}

/** fdatasyncs a file, then writes `bytes` at `offset` and fdatasyncs again. */
export function appendDurably(
  fs: FileSystem,
  path: string,
  offset: number,
  bytes: Uint8Array,
): void {
  const file = fs.open(path, { write: true });
  try {
    file.syncData();
    file.writeAt(bytes, offset);
    file.syncData();
  } finally {
    file.close();
  }
}
