/**
 * Reading the WAL back: `readSegmentRecords` (one segment, for tools and replication) and
 * `recoverWal` (every segment at open, with the torn-tail rules). Format: `format.ts` and
 * ARCHITECTURE.md § "WAL".
 *
 * Recovery rules:
 * - Segments are read in id order. A segment with a bad header (magic, version, checksum,
 *   reserved bytes, id not matching its name, size over `WAL_SEGMENT_SIZE_BYTES_MAX`) is
 *   corruption: headers are fsynced before a segment is renamed into place.
 * - A record whose checksum holds but whose content is invalid (unknown type, sequence 0, a
 *   batch that does not decode) was written whole: corruption wherever it is.
 * - Sequences are contiguous across records and segments: a repeat or a gap is corruption. So
 *   is a first record whose sequence is above `afterSeq + 1` (writes between the tables and the
 *   log are missing). Empty segments (no record) are skipped.
 * - The writer fdatasyncs a segment before it writes into the next one, so only the last
 *   segment that holds any record (the "tail segment") can end in a torn write. A bad record in
 *   any earlier segment is corruption.
 * - In the tail segment, everything from the first bad record (or from the end-of-data mark) to
 *   the last non-zero byte is the "tail". It is cut (overwritten with zeros, fdatasync'ed) and
 *   logged, unless it holds a valid record (checksum and type fine, sequence above the last
 *   good one) starting `unsyncedBytesMax` or more bytes after the first bad offset: in
 *   "always" mode the writer never has more than that many bytes in flight (a flush writes
 *   either one record or records totalling at most the cap, then syncs before the next flush),
 *   so such a record was written by a later flush, after the bad bytes had been synced: that is
 *   corruption, not a torn write. Segments written in "interval" or "none" mode
 *   (`unsyncedBytesMax` = 0) may have many unsynced writes in flight and the disk may persist
 *   them in any order, so their tail is cut at the first bad record whatever follows; that loss
 *   is inside the documented window of those modes.
 * - The cut makes the result durable before the writer starts: the next recovery sees a clean
 *   end of data there, and the new writer always starts a fresh segment.
 * - `onBatch` gets only the ops with a sequence above `afterSeq`; a record straddling
 *   `afterSeq` is passed with its older ops removed.
 *
 * @module
 */

import { CorruptionError } from "../errors.ts";
import { type FileSystem, joinPath, readWholeFile } from "../fs/mod.ts";
import { BATCH_OPS_MAX, WAL_SEGMENT_SIZE_BYTES_MAX } from "../limits.ts";
import { assert } from "../util/assert.ts";
import type { Entry } from "../util/entry.ts";
import type { Logger } from "../util/log.ts";
import {
  batchOpCount,
  decodeBatch,
  decodeSegmentHeader,
  parseRecordAt,
  parseSegmentFileName,
  type SegmentHeader,
  WAL_SEGMENT_HEADER_BYTES,
  WAL_TMP_SUFFIX,
  type WalRecord,
} from "./format.ts";

/** What the writer and recovery know of one segment file. */
export interface SegmentInfo {
  /** Segment id (the number in the file name). */
  id: number;
  /** Path of the segment file. */
  path: string;
  /** Sequence of the first op in the segment; 0 when it holds no record. */
  firstSeq: number;
  /** Sequence of the last op in the segment; 0 when it holds no record. */
  lastSeq: number;
  /** Bytes in use: the header plus every record (not the preallocated zeros). */
  sizeBytes: number;
}

/** Options of `recoverWal`. */
export interface RecoverWalOptions {
  /** Ops with a sequence at or below this are already stored elsewhere; default 0. */
  afterSeq?: number;
  /** Called in sequence order with the ops of each record above `afterSeq`. */
  onBatch?: (seq: number, entries: Entry[]) => void;
  /** Receives a warning when a torn tail is cut. */
  logger?: Logger;
}

/** Where recovery cut a torn tail. */
export interface TornTail {
  /** The segment file. */
  path: string;
  /** Offset of the first byte cut (the bad record or the end-of-data mark). */
  offset: number;
  /** Bytes overwritten with zeros. */
  bytes: number;
  /** Why the first record there was rejected. */
  reason: string;
}

/** The result of `recoverWal`. */
export interface RecoveredWal {
  /** Every segment, in id order, including empty ones. */
  segments: SegmentInfo[];
  /** Highest sequence found in the WAL (0 when it holds no record). */
  lastSeq: number;
  /** The id the writer should use for its first segment. */
  nextSegmentId: number;
  /** Set when a torn tail was cut. */
  tornTail?: TornTail;
}

/** Ids of the segments in `dir`, ascending. */
export function listSegmentIds(fs: FileSystem, dir: string): number[] {
  const ids: number[] = [];
  for (const name of fs.readDir(dir)) {
    const id = parseSegmentFileName(name);
    if (id !== undefined) ids.push(id);
  }
  return ids.sort((a, b) => a - b);
}

/** Removes `NNNNNN.wal.tmp` files a crash left mid-preallocation; returns how many. */
export function removeTempSegments(fs: FileSystem, dir: string): number {
  let removed = 0;
  for (const name of fs.readDir(dir)) {
    if (name.endsWith(WAL_TMP_SUFFIX)) {
      fs.remove(joinPath(dir, name));
      removed++;
    }
  }
  if (removed > 0) fs.syncDir(dir);
  return removed;
}

function readSegmentFile(fs: FileSystem, path: string): Uint8Array {
  const info = fs.stat(path);
  if (info && info.size > WAL_SEGMENT_SIZE_BYTES_MAX) {
    throw new CorruptionError(
      `Cannot read WAL segment: size ${info.size} exceeds the limit of ${WAL_SEGMENT_SIZE_BYTES_MAX} bytes at offset 0 in ${path}`,
    );
  }
  return readWholeFile(fs, path);
}

function checkHeader(buf: Uint8Array, path: string, id: number | undefined): SegmentHeader {
  const header = decodeSegmentHeader(buf, path);
  if (id !== undefined && header.id !== id) {
    throw new CorruptionError(
      `Cannot read WAL segment header: id ${header.id} does not match the file name at offset 16 in ${path}`,
    );
  }
  return header;
}

/**
 * Yields the records of one segment from `fromOffset` (a record boundary; default the first
 * record) up to the end-of-data mark. Checks the header first. A bad record throws
 * `CorruptionError` naming the file and offset: this reader never guesses about torn tails
 * (recovery has already cut them). Payloads are views into one buffer read at the start.
 */
export function* readSegmentRecords(
  fs: FileSystem,
  path: string,
  fromOffset: number = WAL_SEGMENT_HEADER_BYTES,
): Generator<WalRecord, void, undefined> {
  assert(fromOffset >= WAL_SEGMENT_HEADER_BYTES, "fromOffset inside the segment header");
  const buf = readSegmentFile(fs, path);
  const name = path.slice(path.lastIndexOf("/") + 1);
  checkHeader(buf, path, parseSegmentFileName(name));
  let at = fromOffset;
  while (at < buf.length) {
    const parsed = parseRecordAt(buf, at);
    if (parsed.status === "end") return;
    if (parsed.status === "bad") {
      throw new CorruptionError(
        `Cannot read WAL record: ${parsed.reason} at offset ${at} in ${path}`,
      );
    }
    yield parsed.record;
    at = parsed.record.endOffset;
  }
}

/** True when the segment holds at least one non-zero byte where its first record goes. */
function hasRecords(fs: FileSystem, path: string): boolean {
  const file = fs.open(path);
  try {
    const probe = new Uint8Array(17);
    const n = file.readAt(probe, WAL_SEGMENT_HEADER_BYTES);
    for (let i = 0; i < n; i++) if (probe[i] !== 0) return true;
    return false;
  } finally {
    file.close();
  }
}

/** Index of the last non-zero byte at or after `from`, or -1. */
function lastNonZero(buf: Uint8Array, from: number): number {
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

/** First offset in `[from, to)` where a valid record with `seq > afterSeq` starts, or -1. */
function findValidRecord(buf: Uint8Array, from: number, to: number, afterSeq: number): number {
  for (let y = from; y < to; y++) {
    // A valid record's length is ≥ 1: skip offsets whose 4 length bytes are all zero.
    if (buf[y] === 0 && buf[y + 1] === 0 && buf[y + 2] === 0 && buf[y + 3] === 0) continue;
    const parsed = parseRecordAt(buf, y);
    if (parsed.status === "record" && parsed.record.seq > afterSeq) return y;
  }
  return -1;
}

const ZERO_CHUNK_BYTES = 1 << 20;

function zeroRange(fs: FileSystem, path: string, from: number, to: number): void {
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

/**
 * Replays every segment in `dir` in sequence order (see the module comment for the rules),
 * removes leftover `.wal.tmp` files, cuts a torn tail and returns what the writer needs.
 * Throws `CorruptionError` naming file and offset on anything that cannot be a torn write.
 */
export function recoverWal(
  fs: FileSystem,
  dir: string,
  options: RecoverWalOptions = {},
): RecoveredWal {
  const afterSeq = options.afterSeq ?? 0;
  const log = options.logger;
  assert(Number.isSafeInteger(afterSeq) && afterSeq >= 0, "afterSeq out of range");
  const removed = removeTempSegments(fs, dir);
  if (removed > 0) log?.("info", "removed unfinished WAL segments", { dir, files: removed });

  const ids = listSegmentIds(fs, dir);
  const paths = ids.map((id) => joinPath(dir, `${String(id).padStart(6, "0")}.wal`));
  let tailIndex = -1;
  for (let i = ids.length - 1; i >= 0; i--) {
    if (hasRecords(fs, paths[i]!)) {
      tailIndex = i;
      break;
    }
  }

  const segments: SegmentInfo[] = [];
  let lastSeq = 0;
  let tornTail: TornTail | undefined;
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i]!;
    const path = paths[i]!;
    const buf = readSegmentFile(fs, path);
    const header = checkHeader(buf, path, id);
    const info: SegmentInfo = { id, path, firstSeq: 0, lastSeq: 0, sizeBytes: buf.length };
    let at = WAL_SEGMENT_HEADER_BYTES;
    let stop: { reason: string } | undefined;
    while (at < buf.length) {
      const parsed = parseRecordAt(buf, at);
      if (parsed.status === "end") break;
      const fail = (reason: string): never => {
        throw new CorruptionError(`Cannot read WAL record: ${reason} at offset ${at} in ${path}`);
      };
      if (parsed.status === "bad") {
        if (parsed.checksummed) fail(`${parsed.reason} (the checksum holds, so not a torn write)`);
        stop = { reason: parsed.reason };
        break;
      }
      const record = parsed.record;
      if (lastSeq === 0 && record.seq > afterSeq + 1) {
        fail(
          `first record has sequence ${record.seq} but recovery starts after ${afterSeq} (records are missing)`,
        );
      }
      if (lastSeq !== 0 && record.seq !== lastSeq + 1) {
        fail(`sequence ${record.seq} where ${lastSeq + 1} was expected (gap or repeat)`);
      }
      let count: number;
      try {
        count = batchOpCount(record.payload);
        if (count < 1 || count > BATCH_OPS_MAX) fail(`bad batch op count ${count}`);
        if (record.seq + count - 1 > afterSeq) {
          const entries = decodeBatch(record.payload, record.seq);
          const newer = record.seq > afterSeq ? entries : entries.slice(afterSeq - record.seq + 1);
          options.onBatch?.(newer[0]!.seq, newer);
        }
      } catch (err) {
        if (!(err instanceof CorruptionError) || err.message.startsWith("Cannot read WAL")) {
          throw err;
        }
        fail(`bad batch (${err.message})`);
      }
      if (info.firstSeq === 0) info.firstSeq = record.seq;
      lastSeq = record.seq + count! - 1;
      info.lastSeq = lastSeq;
      at = record.endOffset;
    }
    info.sizeBytes = at;

    if (i < tailIndex) {
      if (stop) {
        throw new CorruptionError(
          `Cannot read WAL record: ${stop.reason} at offset ${at} in ${path} (a later segment holds records, so this is not a torn write)`,
        );
      }
    } else if (i === tailIndex) {
      const last = lastNonZero(buf, at);
      if (last >= 0) {
        const reason = stop?.reason ?? "non-zero bytes after the end-of-data mark";
        const bound = header.unsyncedBytesMax;
        const scanTo = last + 1;
        if (bound > 0) {
          const y = findValidRecord(buf, at + bound, scanTo, lastSeq);
          if (y >= 0) {
            throw new CorruptionError(
              `Cannot read WAL record: ${reason} at offset ${at} in ${path} (a valid record follows at offset ${y}, beyond the ${bound} bytes one unsynced write can span, so this is not a torn write)`,
            );
          }
        }
        const validAfter = findValidRecord(buf, at + 1, scanTo, lastSeq);
        zeroRange(fs, path, at, scanTo);
        tornTail = { path, offset: at, bytes: scanTo - at, reason };
        log?.("warn", "cut torn tail of WAL segment", {
          file: path,
          offset: at,
          bytes: scanTo - at,
          reason,
          validRecordDroppedAt: validAfter >= 0 ? validAfter : undefined,
        });
      }
    }
    segments.push(info);
  }
  const result: RecoveredWal = {
    segments,
    lastSeq,
    nextSegmentId: ids.length > 0 ? ids[ids.length - 1]! + 1 : 1,
  };
  if (tornTail) result.tornTail = tornTail;
  return result;
}
