/**
 * The WAL's on-disk format: segment header and record framing; the batch payload the records
 * carry is encoded in `batch_payload.ts` (re-exported here).
 * ARCHITECTURE.md § "WAL" draws the boxes, gives a worked example and the recovery rules.
 *
 * ```
 * segment file %06d.wal (preallocated with zeros to its full size):
 * +----------------+----------+----------+-----+----------+------+-------------------+
 * | header 32 B    | record 1 | record 2 | ... | record n | SEAL | 00 00 ... (to EOF)  |
 * +----------------+----------+----------+-----+----------+------+-------------------+
 *
 * segment header, 32 bytes (integers little-endian):
 *   offset  0  magic             8 B   "CHWALSEG" = 43 48 57 41 4c 53 45 47
 *   offset  8  version           u16   2 (1 is still read)
 *   offset 10  reserved          u16   0
 *   offset 12  unsyncedBytesMax  u32   version 1 only; 0 in version 2
 *   offset 16  segment id        u64   equals the number in the file name
 *   offset 24  reserved          u32   0
 *   offset 28  crc               u32   maskCrc(crc32c(bytes 0..27))
 *
 * record, version 2: the 17-byte header and payload of version 1 (what replication ships),
 * then an 8-byte trailer:
 * +------------+---------+---------+---------+-----------+-------------------+------------+
 * | length u32 | crc u32 | seq u64 | type u8 | payload   | syncedThrough u32 | tcrc u32   |
 * +------------+---------+---------+---------+-----------+-------------------+------------+
 *   crc  = maskCrc(crc32c(length || seq || type || payload))
 *   tcrc = maskCrc(crc32c(crc bytes || syncedThrough bytes))
 *
 * BATCH payload: varint count, then per op:
 *   kind u8 | varint keyLen | key | (PUT, META, LOG:) varint expireAtMs | varint valueLen | value
 *   kinds: 0 DELETE, 1 PUT, 2 META, 3 LOG (`src/util/entry.ts`); LOG ops carry expireAtMs 0
 * SEAL payload: one byte 0.
 * ```
 *
 * Invariants:
 * - A segment's header is written, fsynced and its directory entry fsynced (through
 *   `NNNNNN.wal.tmp` and a rename) before any record goes into the segment, so a `.wal` file
 *   with a bad header is corruption, never a torn write.
 * - Records are back to back from offset 32. Seventeen zero bytes where a record header would
 *   start mean "end of written data" (the preallocated zeros). No valid record has length 0: a
 *   batch holds at least one op.
 * - Sequence numbers are strictly increasing and contiguous: a BATCH holding n ops with
 *   sequence s is followed (in the same or the next non-empty segment) by a BATCH with
 *   sequence s + n. Op i of a record has sequence s + i. A SEAL carries the sequence the next
 *   batch would have and holds no op.
 * - `syncedThrough` (version 2) is the segment offset up to which the writer had fdatasync'ed
 *   this segment when it wrote the record: every byte before it was durable, the record and
 *   everything from `syncedThrough` on were not yet. So `32 <= syncedThrough <= offset`.
 * - A SEAL is written, with `syncedThrough` equal to its own offset, and fdatasync'ed when the
 *   writer leaves a segment that holds records (a switch to the next segment, `close`), and by
 *   recovery on the newest segment it replayed. Nothing follows a SEAL in its segment.
 * - `unsyncedBytesMax` (version 1) is the most bytes the writer of this segment ever had
 *   written but not fdatasync'ed at once, not counting a flush of one single record (0 = no
 *   bound: the segment was written with sync mode "interval" or "none").
 * - Every length is checked against the bytes that remain and against `src/limits.ts` before
 *   it is used; decoding throws `CorruptionError`, never `RangeError`.
 *
 * @module
 */

import { CorruptionError } from "../errors.ts";
import {
  WAL_RECORD_HEADER_BYTES,
  WAL_RECORD_PAYLOAD_BYTES_MAX,
  WAL_RECORD_TRAILER_BYTES,
} from "../limits.ts";
import { assert } from "../util/assert.ts";
import { getU64, putU64, viewOf } from "../util/coding.ts";
import { crc32c, crc32cExtend, crc32cExtendWord, crc32cOfWords, maskCrc } from "../util/crc32c.ts";

export {
  batchOpCount,
  batchPayloadBytes,
  decodeBatch,
  encodeBatch,
  encodeBatchInto,
  type EncodedOp,
  encodeOneInto,
  onePayloadBytes,
  type WalOp,
} from "./batch_payload.ts";

/** "CHWALSEG" as bytes: the first 8 bytes of every segment. */
export const WAL_SEGMENT_MAGIC = new Uint8Array([0x43, 0x48, 0x57, 0x41, 0x4c, 0x53, 0x45, 0x47]);
/** Segment format version written by this build (records carry a synced-through trailer). */
export const WAL_FORMAT_VERSION = 2;
/** The first format version (no trailer; torn tails bounded by `unsyncedBytesMax`): read only. */
export const WAL_FORMAT_VERSION_1 = 1;
/** Bytes in a segment header; the first record starts here. */
export const WAL_SEGMENT_HEADER_BYTES = 32;

/** Record types. On disk: never renumber. */
export const WAL_RECORD_TYPE_BATCH = 1;
/** Closes a segment whose records are all durable (version 2 only). */
export const WAL_RECORD_TYPE_SEAL = 2;

/** The record types this version understands. */
export type WalRecordType = typeof WAL_RECORD_TYPE_BATCH | typeof WAL_RECORD_TYPE_SEAL;

/** The payload of a SEAL: one reserved byte, 0. */
const SEAL_PAYLOAD = new Uint8Array([0]);
/** Bytes of a whole SEAL record (header, one payload byte, trailer). */
export const WAL_SEAL_RECORD_BYTES = WAL_RECORD_HEADER_BYTES + SEAL_PAYLOAD.length +
  WAL_RECORD_TRAILER_BYTES;

/** File-name suffix of a segment. */
export const WAL_SEGMENT_SUFFIX = ".wal";
/** File-name suffix of a segment being preallocated. */
export const WAL_TMP_SUFFIX = ".wal.tmp";

const SEGMENT_NAME = /^(\d{6,})\.wal$/;

/** The decoded segment header. */
export interface SegmentHeader {
  /** Segment id; equals the number in the file name. */
  id: number;
  /** Format version: 1 or 2. */
  version: number;
  /** Version 1: see the module invariants (0 = no bound). Always 0 in version 2. */
  unsyncedBytesMax: number;
}

/** `%06d.wal`: the file name of segment `id`. */
export function segmentFileName(id: number): string {
  assert(Number.isSafeInteger(id) && id >= 1, `bad segment id: ${id}`);
  return `${String(id).padStart(6, "0")}${WAL_SEGMENT_SUFFIX}`;
}

/** The segment id in a file name like `000012.wal`, or `undefined` for other names. */
export function parseSegmentFileName(name: string): number | undefined {
  const m = SEGMENT_NAME.exec(name);
  if (!m) return undefined;
  const id = Number(m[1]);
  return Number.isSafeInteger(id) && id >= 1 ? id : undefined;
}

/**
 * Encodes a segment header: version 2 (this build's), or version 1 with its
 * `unsyncedBytesMax` (for tests and tools that need old segments).
 */
export function encodeSegmentHeader(
  id: number,
  version: number = WAL_FORMAT_VERSION,
  unsyncedBytesMax = 0,
): Uint8Array {
  assert(version === WAL_FORMAT_VERSION || version === WAL_FORMAT_VERSION_1, "bad version");
  assert(Number.isSafeInteger(unsyncedBytesMax), "unsyncedBytesMax not an integer");
  assert(unsyncedBytesMax >= 0 && unsyncedBytesMax <= 0xffff_ffff, "unsyncedBytesMax > u32");
  assert(version === WAL_FORMAT_VERSION_1 || unsyncedBytesMax === 0, "v2 has no bound field");
  const buf = new Uint8Array(WAL_SEGMENT_HEADER_BYTES);
  const view = viewOf(buf);
  buf.set(WAL_SEGMENT_MAGIC, 0);
  view.setUint16(8, version, true);
  view.setUint16(10, 0, true);
  view.setUint32(12, unsyncedBytesMax, true);
  putU64(view, 16, id);
  view.setUint32(24, 0, true);
  view.setUint32(28, maskCrc(crc32c(buf, 0, 28)), true);
  return buf;
}

/**
 * Decodes and checks a segment header. `where` names the file in error messages. Throws
 * `CorruptionError` on a short buffer, bad magic, checksum, version or reserved bytes.
 */
export function decodeSegmentHeader(buf: Uint8Array, where: string): SegmentHeader {
  const fail = (reason: string): never => {
    throw new CorruptionError(`Cannot read WAL segment header: ${reason} at offset 0 in ${where}`);
  };
  if (buf.length < WAL_SEGMENT_HEADER_BYTES) {
    fail(`file has ${buf.length} bytes, fewer than the ${WAL_SEGMENT_HEADER_BYTES}-byte header`);
  }
  for (let i = 0; i < WAL_SEGMENT_MAGIC.length; i++) {
    if (buf[i] !== WAL_SEGMENT_MAGIC[i]) fail("bad magic (not a CityHall WAL segment)");
  }
  const view = viewOf(buf);
  const stored = view.getUint32(28, true);
  if (stored !== maskCrc(crc32c(buf, 0, 28))) fail("checksum mismatch");
  const version = view.getUint16(8, true);
  if (version !== WAL_FORMAT_VERSION && version !== WAL_FORMAT_VERSION_1) {
    fail(
      `unsupported format version ${version} (this build reads ${WAL_FORMAT_VERSION_1} and ${WAL_FORMAT_VERSION})`,
    );
  }
  if (view.getUint16(10, true) !== 0 || view.getUint32(24, true) !== 0) {
    fail("reserved bytes are not zero");
  }
  if (version === WAL_FORMAT_VERSION && view.getUint32(12, true) !== 0) {
    fail("reserved bytes are not zero");
  }
  let id = 0;
  try {
    id = getU64(view, 16);
  } catch {
    fail("segment id exceeds 2^53 - 1");
  }
  return { id, version, unsyncedBytesMax: view.getUint32(12, true) };
}

/**
 * Writes the 17-byte record header for the payload already at
 * `buf[offset + 17, offset + 17 + length)` and checksums it (the record's body: the version-1
 * record, and what replication ships).
 */
export function sealRecord(
  buf: Uint8Array,
  offset: number,
  length: number,
  seq: number,
  type: WalRecordType,
): void {
  // Bytes written one by one and checks with constant messages: a `DataView` per record and
  // a message built before each check cost more than the rest of the record (measured ~1 µs
  // per record in the 256-writer benchmark, against ~0.1 µs now).
  if (!(length >= 1 && length <= WAL_RECORD_PAYLOAD_BYTES_MAX)) {
    assert(false, `bad payload length ${length}`);
  }
  if (!(Number.isSafeInteger(seq) && seq >= 1)) assert(false, `bad sequence ${seq}`);
  const seqLo = seq >>> 0;
  const seqHi = Math.floor(seq / 0x1_0000_0000);
  putU32le(buf, offset, length);
  putU32le(buf, offset + 8, seqLo);
  putU32le(buf, offset + 12, seqHi);
  buf[offset + 16] = type;
  // The crc of length and seq from the values (no bytes read back), then type and payload.
  const head = crc32cExtendWord(crc32cOfWords(length, seqLo), seqHi);
  const crc = crc32cExtend(head, buf, offset + 16, offset + WAL_RECORD_HEADER_BYTES + length);
  putU32le(buf, offset + 4, maskCrc(crc));
}

/**
 * Writes the version-2 trailer of the record whose body starts at `buf[offset]` (already
 * sealed): `syncedThrough`, then the trailer checksum over the body's crc and it. The writer
 * calls this when it writes the record, the only time it knows how far the segment is synced.
 */
export function sealTrailer(buf: Uint8Array, offset: number, syncedThrough: number): void {
  const at = offset + WAL_RECORD_HEADER_BYTES + getU32le(buf, offset);
  if (!(at + WAL_RECORD_TRAILER_BYTES <= buf.length)) assert(false, "no room for the trailer");
  if (
    !(Number.isSafeInteger(syncedThrough) && syncedThrough >= WAL_SEGMENT_HEADER_BYTES &&
      syncedThrough <= 0xffff_ffff)
  ) {
    assert(false, `bad syncedThrough ${syncedThrough}`);
  }
  putU32le(buf, at, syncedThrough);
  putU32le(buf, at + 4, maskCrc(crc32cOfWords(getU32le(buf, offset + 4), syncedThrough)));
}

/** Writes `value` (a uint32) little-endian at `buf[at]`. */
function putU32le(buf: Uint8Array, at: number, value: number): void {
  buf[at] = value;
  buf[at + 1] = value >>> 8;
  buf[at + 2] = value >>> 16;
  buf[at + 3] = value >>> 24;
}

/** The little-endian uint32 at `buf[at]`. */
function getU32le(buf: Uint8Array, at: number): number {
  return (buf[at]! | (buf[at + 1]! << 8) | (buf[at + 2]! << 16) | (buf[at + 3]! << 24)) >>> 0;
}

/** Encodes one whole record body: header and payload (version 1, and replication's wire). */
export function encodeRecord(seq: number, type: WalRecordType, payload: Uint8Array): Uint8Array {
  const buf = new Uint8Array(WAL_RECORD_HEADER_BYTES + payload.length);
  buf.set(payload, WAL_RECORD_HEADER_BYTES);
  sealRecord(buf, 0, payload.length, seq, type);
  return buf;
}

/** Encodes one whole version-2 record: body and trailer. */
export function encodeRecordV2(
  seq: number,
  type: WalRecordType,
  payload: Uint8Array,
  syncedThrough: number,
): Uint8Array {
  const buf = new Uint8Array(WAL_RECORD_HEADER_BYTES + payload.length + WAL_RECORD_TRAILER_BYTES);
  buf.set(payload, WAL_RECORD_HEADER_BYTES);
  sealRecord(buf, 0, payload.length, seq, type);
  sealTrailer(buf, 0, syncedThrough);
  return buf;
}

/** Encodes the SEAL written at segment offset `offset`: `nextSeq` is the next batch's sequence. */
export function encodeSealRecord(nextSeq: number, offset: number): Uint8Array {
  return encodeRecordV2(nextSeq, WAL_RECORD_TYPE_SEAL, SEAL_PAYLOAD, offset);
}

/** Unmasked CRC32C of a record: length bytes, then seq, type and payload (skips the crc). */
function recordCrc(buf: Uint8Array, offset: number, length: number): number {
  const c = crc32cExtend(0, buf, offset, offset + 4);
  return crc32cExtend(c, buf, offset + 8, offset + WAL_RECORD_HEADER_BYTES + length);
}

/** Unmasked CRC32C of a trailer: the record's stored crc, then the synced-through offset. */
function trailerCrc(buf: Uint8Array, offset: number, trailerAt: number): number {
  const c = crc32cExtend(0, buf, offset + 4, offset + 8);
  return crc32cExtend(c, buf, trailerAt, trailerAt + 4);
}

/** A record read back from a segment. */
export interface WalRecord {
  /** File offset of the record's header. */
  offset: number;
  /** File offset just past the record (past its trailer in version 2). */
  endOffset: number;
  /** File offset just past the record's body (header and payload): what replication ships. */
  bodyEndOffset: number;
  /** Sequence of the record's first op (a SEAL: the next batch's sequence). */
  seq: number;
  /** Record type. */
  type: WalRecordType;
  /** The payload (a view into the read buffer). */
  payload: Uint8Array;
  /** Version 2: the offset the segment was fdatasync'ed through when this was written; else 0. */
  syncedThrough: number;
}

/** What is at an offset of a segment. */
export type ParsedRecord =
  | { status: "record"; record: WalRecord }
  | { status: "end" }
  | { status: "bad"; reason: string; checksummed: boolean };

/**
 * How records are framed: "body" is a version-1 segment's record and replication's wire
 * record (header and payload, BATCH only); "v2" is a version-2 segment's (plus the trailer).
 */
export type RecordFraming = "body" | "v2";

/** The record framing of a segment format version. */
export function framingOf(version: number): RecordFraming {
  return version === WAL_FORMAT_VERSION_1 ? "body" : "v2";
}

function bad(reason: string, checksummed = false): ParsedRecord {
  return { status: "bad", reason, checksummed };
}

/**
 * Parses the record at `buf[at]` where `buf[0]` is file offset `base` and the data ends at
 * `buf.length`. Returns "end" at 17 zero bytes (or fewer than 17 zero bytes before the end),
 * "bad" with a reason on a truncated, oversized, mis-checksummed record, and "bad" with
 * `checksummed: true` when the checksums hold but the content is invalid (unknown type,
 * sequence 0 or over 2^53 - 1, an impossible synced-through offset, a malformed SEAL): such a
 * record was written whole, so it is never a torn write.
 */
export function parseRecordAt(
  buf: Uint8Array,
  at: number,
  base = 0,
  framing: RecordFraming = "body",
): ParsedRecord {
  const end = buf.length;
  const headerEnd = Math.min(end, at + WAL_RECORD_HEADER_BYTES);
  let zero = true;
  for (let i = at; i < headerEnd; i++) {
    if (buf[i] !== 0) {
      zero = false;
      break;
    }
  }
  if (zero) return { status: "end" };
  if (end - at < WAL_RECORD_HEADER_BYTES) {
    return bad(`truncated record header (${end - at} bytes before the end)`);
  }
  const view = new DataView(buf.buffer, buf.byteOffset + at, WAL_RECORD_HEADER_BYTES);
  const length = view.getUint32(0, true);
  if (length === 0) return bad("bad record length 0");
  if (length > WAL_RECORD_PAYLOAD_BYTES_MAX) {
    return bad(
      `bad record length ${length} (limit ${WAL_RECORD_PAYLOAD_BYTES_MAX} bytes)`,
    );
  }
  const trailer = framing === "v2" ? WAL_RECORD_TRAILER_BYTES : 0;
  if (length + trailer > end - at - WAL_RECORD_HEADER_BYTES) {
    return bad(`truncated record (length ${length} runs past the end of the segment)`);
  }
  if (view.getUint32(4, true) !== maskCrc(recordCrc(buf, at, length))) {
    return bad("checksum mismatch");
  }
  const bodyEnd = at + WAL_RECORD_HEADER_BYTES + length;
  let syncedThrough = 0;
  if (trailer > 0) {
    const t = new DataView(buf.buffer, buf.byteOffset + bodyEnd, WAL_RECORD_TRAILER_BYTES);
    if (t.getUint32(4, true) !== maskCrc(trailerCrc(buf, at, bodyEnd))) {
      return bad("trailer checksum mismatch");
    }
    syncedThrough = t.getUint32(0, true);
  }
  const type = view.getUint8(16);
  if (type !== WAL_RECORD_TYPE_BATCH && (type !== WAL_RECORD_TYPE_SEAL || trailer === 0)) {
    return bad(`unknown record type ${type}`, true);
  }
  let seq: number;
  try {
    seq = getU64(view, 8);
  } catch {
    return bad("sequence exceeds 2^53 - 1", true);
  }
  if (seq < 1) return bad("sequence 0", true);
  const offset = base + at;
  if (trailer > 0 && (syncedThrough < WAL_SEGMENT_HEADER_BYTES || syncedThrough > offset)) {
    return bad(`synced-through offset ${syncedThrough} outside 32..${offset}`, true);
  }
  const payload = buf.subarray(at + WAL_RECORD_HEADER_BYTES, bodyEnd);
  if (
    type === WAL_RECORD_TYPE_SEAL && (length !== 1 || payload[0] !== 0 || syncedThrough !== offset)
  ) {
    return bad("malformed SEAL record", true);
  }
  return {
    status: "record",
    record: {
      offset,
      endOffset: base + bodyEnd + trailer,
      bodyEndOffset: base + bodyEnd,
      seq,
      type: type as WalRecordType,
      payload,
      syncedThrough,
    },
  };
}
