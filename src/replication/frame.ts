/**
 * CityHall Sync frames: the framing every replication message travels in, and the bodies of
 * each message type. ARCHITECTURE.md § "Replication (CityHall Sync)" draws every byte.
 *
 * ```
 * frame: | type u8 | flags u8 | reserved u16 = 0 | bodyLength u32 | crc u32 | body … |
 *   crc = maskCrc(crc32c(header bytes 0..7 ‖ body as sent)); flags bit 0 = body is Snappy
 * ```
 *
 * Frames are read by `frame_reader.ts` under the policy of the link's phase (what may arrive
 * before authentication, and how large).
 *
 * Invariants:
 * - A frame is checked whole (type and length against the phase's limits, then the checksum,
 *   then the Snappy stream, validated before it is decompressed, then the body's structure)
 *   before anything in it is used: a cut or corrupted frame is never partly applied.
 * - HELLO and WELCOME have a fixed part (`HELLO_FIXED_BYTES`, `WELCOME_FIXED_BYTES` in
 *   limits.ts) and one variable part (token, segment list). A field added to either grows the
 *   fixed part there, so the pre-authentication size limits follow.
 * - Integers are little-endian; sequence numbers are u64 holding values ≤ 2^53 − 1.
 *
 * @module
 */

import { ProtocolError } from "../errors.ts";
import { assert } from "../util/assert.ts";
import { getU64, putU64 } from "../util/coding.ts";
import { crc32cExtend, maskCrc } from "../util/crc32c.ts";
import { snappyCompress } from "../util/snappy.ts";
import { zstdCompress } from "../util/zstd.ts";
import {
  AUTH_TOKEN_BYTES_MAX,
  DATA_HEADER_BYTES,
  ERROR_MESSAGE_BYTES_MAX,
  FRAME_BODY_BYTES_MAX,
  FRAME_HEADER_BYTES,
  HELLO_FIXED_BYTES,
  WELCOME_FIXED_BYTES,
  WELCOME_SEGMENTS_MAX,
} from "../limits.ts";

/** Frame types. On the wire: never renumber. */
export const FRAME_HELLO = 1;
/** Leader → replica: handshake accepted. */
export const FRAME_WELCOME = 2;
/** Either way: a refusal or failure, then the sender closes. */
export const FRAME_ERROR = 3;
/** Replica → leader: send records from a sequence. */
export const FRAME_FETCH = 4;
/** Leader → replica: whole WAL records. */
export const FRAME_DATA = 5;
/** Replica → leader: applied and fdatasync'ed up to a sequence. */
export const FRAME_ACK = 6;
/** Either way: still here. */
export const FRAME_HEARTBEAT = 7;
/** Replica → leader: send me a snapshot (my position is not in your WAL). */
export const FRAME_SNAPSHOT_REQUEST = 8;
/** Leader → replica: a checkpoint's manifest and the list of its files. */
export const FRAME_SNAPSHOT_BEGIN = 9;
/** Replica → leader: bytes of one checkpoint file from an offset. */
export const FRAME_FILE_FETCH = 10;
/** Leader → replica: bytes of one checkpoint file. */
export const FRAME_FILE_CHUNK = 11;
// Fleet frames (src/fleet/, ARCHITECTURE.md § "Fleet frames"): an edge's uplink to a hub.
/** Edge → hub: an uplink introduces itself (site, token, the edge's id and WAL range). */
export const FRAME_UPLINK_HELLO = 12;
/** Hub → edge: uplink accepted; the hub's position for the site. */
export const FRAME_UPLINK_WELCOME = 13;
/** Edge → hub: WAL batch payloads without their per-record headers. */
export const FRAME_RECORDS = 14;
/** Hub → edge: send the rest of a frame a cut link interrupted. */
export const FRAME_RESUME = 15;
/** Edge → hub: the rest of that frame, or "not kept". */
export const FRAME_RESUME_DATA = 16;
/** Edge → hub: RECORDS with samples moved into chunks, when catching up (`src/fleet/catchup.ts`). */
export const FRAME_CHUNKS = 17;
/** First frame of a `.chsync` export file (files only, never on a link). */
export const FRAME_EXPORT_BEGIN = 18;
/** Last frame of a `.chsync` export file: counts and a checksum of the frames before it. */
export const FRAME_EXPORT_END = 19;

/** Error codes of ERROR frames. On the wire: never renumber. */
export const ERROR_VERSION = 1;
/** The auth token did not match. */
export const ERROR_AUTH = 2;
/** The replica follows another leader (or a re-initialised one). */
export const ERROR_WRONG_LEADER = 3;
/** The sequence asked for is no longer in the leader's WAL. */
export const ERROR_POSITION_GONE = 4;
/** A frame failed its checks. */
export const ERROR_BAD_FRAME = 5;
/** The replica holds sequences the leader does not have. */
export const ERROR_REPLICA_AHEAD = 6;
/** The leader is shutting down. */
export const ERROR_SHUTDOWN = 7;
/** The leader tracks too many replicas, or this one was forgotten while connected. */
export const ERROR_REFUSED = 8;
/** The leader failed to read its own WAL. */
export const ERROR_INTERNAL = 9;

/** Frame flag: the body is Snappy-compressed. */
export const FLAG_SNAPPY = 1;
/** Frame flag: the body is one zstd frame (fleet frames; `src/util/zstd.ts`). */
export const FLAG_ZSTD = 2;

/** "CHSYNC\r\n": the first bytes of HELLO (a text tool mangling line ends is caught). */
export const SYNC_MAGIC = new Uint8Array([0x43, 0x48, 0x53, 0x59, 0x4e, 0x43, 0x0d, 0x0a]);
/** Protocol version this build speaks. */
export const SYNC_PROTOCOL_VERSION = 1;
/** Bytes of a leader id (the leader's `databaseId`) and of a replica id. */
export const ID_BYTES = 16;

const FRAME_TYPE_NAMES = [
  "",
  "HELLO",
  "WELCOME",
  "ERROR",
  "FETCH",
  "DATA",
  "ACK",
  "HEARTBEAT",
  "SNAPSHOT_REQUEST",
  "SNAPSHOT_BEGIN",
  "FILE_FETCH",
  "FILE_CHUNK",
  "UPLINK_HELLO",
  "UPLINK_WELCOME",
  "RECORDS",
  "RESUME",
  "RESUME_DATA",
  "CHUNKS",
  "EXPORT_BEGIN",
  "EXPORT_END",
];

/** `HELLO`, `DATA`, … or `unknown (N)` for a log line or an error message. */
export function frameTypeName(type: number): string {
  return FRAME_TYPE_NAMES[type] || `unknown (${type})`;
}

/** A decoded frame: type and the (decompressed) body. */
export interface Frame {
  type: number;
  body: Uint8Array;
  /** Bytes it took on the wire (header included). */
  wireBytes: number;
  /** Its checksum field as read (`.chsync` files chain them). */
  crc?: number;
}

/**
 * Encodes a frame. With `compress`, the body is Snappy-compressed when that makes it smaller;
 * with `{ zstdLevel }`, zstd-compressed at that level when that makes it smaller.
 */
export function encodeFrame(
  type: number,
  body: Uint8Array,
  compress: boolean | { zstdLevel: number } = false,
): Uint8Array {
  assert(body.length <= FRAME_BODY_BYTES_MAX, "frame body over FRAME_BODY_BYTES_MAX");
  let flags = 0;
  let wire = body;
  if (compress !== false && body.length >= 64) {
    const zstd = typeof compress === "object";
    const packed = zstd ? zstdCompress(body, compress.zstdLevel) : snappyCompress(body);
    if (packed.length < body.length) {
      wire = packed;
      flags |= zstd ? FLAG_ZSTD : FLAG_SNAPPY;
    }
  }
  const out = new Uint8Array(FRAME_HEADER_BYTES + wire.length);
  const view = new DataView(out.buffer);
  out[0] = type;
  out[1] = flags;
  view.setUint16(2, 0, true);
  view.setUint32(4, wire.length, true);
  out.set(wire, FRAME_HEADER_BYTES);
  let crc = crc32cExtend(0, out, 0, 8);
  crc = crc32cExtend(crc, out, FRAME_HEADER_BYTES, out.length);
  view.setUint32(8, maskCrc(crc), true);
  return out;
}

// ---------------------------------------------------------------- message bodies

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder();

function bodyFail(what: string, reason: string): never {
  throw new ProtocolError(`Cannot decode ${what}: ${reason}`);
}

function need(body: Uint8Array, bytes: number, what: string): DataView {
  if (body.length < bytes) bodyFail(what, `body has ${body.length} bytes, needs ${bytes}`);
  return new DataView(body.buffer, body.byteOffset, body.length);
}

function u64(view: DataView, at: number, what: string): number {
  try {
    return getU64(view, at);
  } catch {
    return bodyFail(what, `u64 at offset ${at} exceeds 2^53 - 1`);
  }
}

/** HELLO: the replica introduces itself. */
export interface Hello {
  version: number;
  replicaId: Uint8Array;
  /** The leader id the replica recorded at first contact; all zeros = none yet. */
  expectedLeaderId: Uint8Array;
  /** The next sequence the replica needs (its last applied + 1). */
  nextSeq: number;
  token: Uint8Array;
}

/** Encodes HELLO. */
export function encodeHello(h: Hello): Uint8Array {
  assert(h.token.length <= AUTH_TOKEN_BYTES_MAX, "token too long");
  const body = new Uint8Array(HELLO_FIXED_BYTES + h.token.length);
  const view = new DataView(body.buffer);
  body.set(SYNC_MAGIC, 0);
  view.setUint16(8, h.version, true);
  view.setUint16(10, 0, true);
  body.set(h.replicaId, 12);
  body.set(h.expectedLeaderId, 28);
  putU64(view, 44, h.nextSeq);
  view.setUint16(52, h.token.length, true);
  body.set(h.token, HELLO_FIXED_BYTES);
  return body;
}

/** Decodes HELLO; a bad magic or a version other than ours is reported by the caller. */
export function decodeHello(body: Uint8Array): Hello {
  const view = need(body, HELLO_FIXED_BYTES, "HELLO");
  for (let i = 0; i < SYNC_MAGIC.length; i++) {
    if (body[i] !== SYNC_MAGIC[i]) bodyFail("HELLO", "bad magic (not a CityHall Sync replica)");
  }
  const tokenLength = view.getUint16(52, true);
  if (tokenLength > AUTH_TOKEN_BYTES_MAX || body.length !== HELLO_FIXED_BYTES + tokenLength) {
    bodyFail("HELLO", `bad token length ${tokenLength}`);
  }
  return {
    version: view.getUint16(8, true),
    replicaId: body.slice(12, 28),
    expectedLeaderId: body.slice(28, 44),
    nextSeq: u64(view, 44, "HELLO"),
    token: body.slice(HELLO_FIXED_BYTES),
  };
}

/** One leader WAL segment as WELCOME lists it. */
export interface SegmentEntry {
  id: number;
  firstSeq: number;
  lastSeq: number;
  sizeBytes: number;
}

/** WELCOME: the leader accepts and says where it stands. */
export interface Welcome {
  leaderId: Uint8Array;
  /** Newest sequence durable on the leader. */
  durableSeq: number;
  /** Oldest sequence still in the leader's WAL (durableSeq + 1 when it holds none). */
  firstSeq: number;
  heartbeatMs: number;
  idleTimeoutMs: number;
  segments: SegmentEntry[];
}

/** Encodes WELCOME. */
export function encodeWelcome(w: Welcome): Uint8Array {
  const segments = w.segments.slice(-WELCOME_SEGMENTS_MAX);
  const body = new Uint8Array(WELCOME_FIXED_BYTES + 32 * segments.length);
  const view = new DataView(body.buffer);
  body.set(w.leaderId, 0);
  putU64(view, 16, w.durableSeq);
  putU64(view, 24, w.firstSeq);
  view.setUint32(32, w.heartbeatMs, true);
  view.setUint32(36, w.idleTimeoutMs, true);
  view.setUint32(40, segments.length, true);
  let at = WELCOME_FIXED_BYTES;
  for (const s of segments) {
    putU64(view, at, s.id);
    putU64(view, at + 8, s.firstSeq);
    putU64(view, at + 16, s.lastSeq);
    putU64(view, at + 24, s.sizeBytes);
    at += 32;
  }
  return body;
}

/** Decodes WELCOME. */
export function decodeWelcome(body: Uint8Array): Welcome {
  const view = need(body, WELCOME_FIXED_BYTES, "WELCOME");
  const count = view.getUint32(40, true);
  if (count > WELCOME_SEGMENTS_MAX || body.length !== WELCOME_FIXED_BYTES + 32 * count) {
    bodyFail("WELCOME", `bad segment count ${count}`);
  }
  const segments: SegmentEntry[] = [];
  for (let i = 0, at = WELCOME_FIXED_BYTES; i < count; i++, at += 32) {
    segments.push({
      id: u64(view, at, "WELCOME"),
      firstSeq: u64(view, at + 8, "WELCOME"),
      lastSeq: u64(view, at + 16, "WELCOME"),
      sizeBytes: u64(view, at + 24, "WELCOME"),
    });
  }
  return {
    leaderId: body.slice(0, 16),
    durableSeq: u64(view, 16, "WELCOME"),
    firstSeq: u64(view, 24, "WELCOME"),
    heartbeatMs: view.getUint32(32, true),
    idleTimeoutMs: view.getUint32(36, true),
    segments,
  };
}

/** Encodes ERROR: a code and a UTF-8 message. */
export function encodeError(code: number, message: string): Uint8Array {
  let text = utf8.encode(message);
  if (text.length > ERROR_MESSAGE_BYTES_MAX) {
    // Cut at a character boundary (never inside a UTF-8 sequence: continuation bytes 10xxxxxx).
    let end = ERROR_MESSAGE_BYTES_MAX;
    while (end > 0 && (text[end]! & 0xc0) === 0x80) end--;
    text = text.slice(0, end);
  }
  const body = new Uint8Array(2 + text.length);
  new DataView(body.buffer).setUint16(0, code, true);
  body.set(text, 2);
  return body;
}

/** Decodes ERROR. */
export function decodeError(body: Uint8Array): { code: number; message: string } {
  const view = need(body, 2, "ERROR");
  return { code: view.getUint16(0, true), message: utf8Decoder.decode(body.subarray(2)) };
}

/** FETCH: records from `fromSeq`, at most `maxBytes`, held up to `waitMs` when none is new. */
export interface Fetch {
  fromSeq: number;
  maxBytes: number;
  waitMs: number;
}

/** Encodes FETCH. */
export function encodeFetch(f: Fetch): Uint8Array {
  const body = new Uint8Array(16);
  const view = new DataView(body.buffer);
  putU64(view, 0, f.fromSeq);
  view.setUint32(8, f.maxBytes, true);
  view.setUint32(12, f.waitMs, true);
  return body;
}

/** Decodes FETCH. */
export function decodeFetch(body: Uint8Array): Fetch {
  const view = need(body, 16, "FETCH");
  if (body.length !== 16) bodyFail("FETCH", `body has ${body.length} bytes, not 16`);
  return {
    fromSeq: u64(view, 0, "FETCH"),
    maxBytes: view.getUint32(8, true),
    waitMs: view.getUint32(12, true),
  };
}

/** DATA: whole WAL records (exact bytes of the leader's segment) and where they stand. */
export interface Data {
  /** Sequence of the first record's first op (the FETCH's `fromSeq` when empty). */
  firstSeq: number;
  /** Sequence of the last op of the last record (`firstSeq - 1` when empty). */
  lastSeq: number;
  /** Newest durable sequence on the leader when the frame was made. */
  durableSeq: number;
  /** Leader segment the last record came from (0 when empty). */
  segmentId: number;
  /** Records in `records`. */
  recordCount: number;
  /** WAL records back to back: 17-byte header + payload each. */
  records: Uint8Array;
}

/** Encodes DATA. */
export function encodeData(d: Data): Uint8Array {
  const body = new Uint8Array(DATA_HEADER_BYTES + d.records.length);
  const view = new DataView(body.buffer);
  putU64(view, 0, d.firstSeq);
  putU64(view, 8, d.lastSeq);
  putU64(view, 16, d.durableSeq);
  putU64(view, 24, d.segmentId);
  view.setUint32(32, d.recordCount, true);
  body.set(d.records, DATA_HEADER_BYTES);
  return body;
}

/** Decodes DATA's header; the records are checked by the replica one by one. */
export function decodeData(body: Uint8Array): Data {
  const view = need(body, DATA_HEADER_BYTES, "DATA");
  return {
    firstSeq: u64(view, 0, "DATA"),
    lastSeq: u64(view, 8, "DATA"),
    durableSeq: u64(view, 16, "DATA"),
    segmentId: u64(view, 24, "DATA"),
    recordCount: view.getUint32(32, true),
    records: body.subarray(DATA_HEADER_BYTES),
  };
}

/** Encodes ACK or HEARTBEAT's first field: one u64 sequence, then (HEARTBEAT) a u64 time. */
export function encodeSeq(seq: number, timeMs?: number): Uint8Array {
  const body = new Uint8Array(timeMs === undefined ? 8 : 16);
  const view = new DataView(body.buffer);
  putU64(view, 0, seq);
  if (timeMs !== undefined) putU64(view, 8, timeMs);
  return body;
}

/** Decodes ACK (8 bytes) or HEARTBEAT (16 bytes): the sequence. */
export function decodeSeq(body: Uint8Array, what: string): number {
  const view = need(body, 8, what);
  return u64(view, 0, what);
}

/** One file of a snapshot as SNAPSHOT_BEGIN lists it. */
export interface SnapshotFile {
  fileNumber: number;
  sizeBytes: number;
  /** `maskCrc(crc32c(whole file))`. */
  crc: number;
}

/** SNAPSHOT_BEGIN: the checkpoint's encoded manifest and its files. */
export interface SnapshotBegin {
  /** Every write with a sequence ≤ seq is in the files; the stream continues at seq + 1. */
  seq: number;
  /** The checkpoint's manifest, encoded as on disk (§ "Manifest"), checksummed. */
  manifest: Uint8Array;
  files: SnapshotFile[];
}

/** Encodes SNAPSHOT_BEGIN. */
export function encodeSnapshotBegin(b: SnapshotBegin): Uint8Array {
  const body = new Uint8Array(16 + b.manifest.length + 20 * b.files.length);
  const view = new DataView(body.buffer);
  putU64(view, 0, b.seq);
  view.setUint32(8, b.manifest.length, true);
  body.set(b.manifest, 12);
  let at = 12 + b.manifest.length;
  view.setUint32(at, b.files.length, true);
  at += 4;
  for (const f of b.files) {
    putU64(view, at, f.fileNumber);
    putU64(view, at + 8, f.sizeBytes);
    view.setUint32(at + 16, f.crc, true);
    at += 20;
  }
  return body;
}

/** Decodes SNAPSHOT_BEGIN. */
export function decodeSnapshotBegin(body: Uint8Array): SnapshotBegin {
  const view = need(body, 16, "SNAPSHOT_BEGIN");
  const manifestLength = view.getUint32(8, true);
  if (12 + manifestLength + 4 > body.length) {
    bodyFail("SNAPSHOT_BEGIN", "manifest runs past the end");
  }
  const at0 = 12 + manifestLength;
  const count = view.getUint32(at0, true);
  if (body.length !== at0 + 4 + 20 * count) bodyFail("SNAPSHOT_BEGIN", `bad file count ${count}`);
  const files: SnapshotFile[] = [];
  for (let i = 0, at = at0 + 4; i < count; i++, at += 20) {
    files.push({
      fileNumber: u64(view, at, "SNAPSHOT_BEGIN"),
      sizeBytes: u64(view, at + 8, "SNAPSHOT_BEGIN"),
      crc: view.getUint32(at + 16, true),
    });
  }
  return { seq: u64(view, 0, "SNAPSHOT_BEGIN"), manifest: body.slice(12, at0), files };
}

/** FILE_FETCH / FILE_CHUNK: a file, an offset, and (FETCH) a byte budget or (CHUNK) the bytes. */
export interface FileRange {
  fileNumber: number;
  offset: number;
  maxBytes: number;
}

/** Encodes FILE_FETCH. */
export function encodeFileFetch(f: FileRange): Uint8Array {
  const body = new Uint8Array(20);
  const view = new DataView(body.buffer);
  putU64(view, 0, f.fileNumber);
  putU64(view, 8, f.offset);
  view.setUint32(16, f.maxBytes, true);
  return body;
}

/** Decodes FILE_FETCH. */
export function decodeFileFetch(body: Uint8Array): FileRange {
  const view = need(body, 20, "FILE_FETCH");
  return {
    fileNumber: u64(view, 0, "FILE_FETCH"),
    offset: u64(view, 8, "FILE_FETCH"),
    maxBytes: view.getUint32(16, true),
  };
}

/** Encodes FILE_CHUNK. */
export function encodeFileChunk(fileNumber: number, offset: number, data: Uint8Array): Uint8Array {
  const body = new Uint8Array(16 + data.length);
  const view = new DataView(body.buffer);
  putU64(view, 0, fileNumber);
  putU64(view, 8, offset);
  body.set(data, 16);
  return body;
}

/** Decodes FILE_CHUNK. */
export function decodeFileChunk(
  body: Uint8Array,
): { fileNumber: number; offset: number; data: Uint8Array } {
  const view = need(body, 16, "FILE_CHUNK");
  return {
    fileNumber: u64(view, 0, "FILE_CHUNK"),
    offset: u64(view, 8, "FILE_CHUNK"),
    data: body.subarray(16),
  };
}

/** Id bytes as lowercase hex. */
export function hexId(id: Uint8Array): string {
  return [...id].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Lowercase hex back to bytes, or `undefined` when it is not `ID_BYTES` of hex. */
export function parseHexId(hex: string): Uint8Array | undefined {
  if (!/^[0-9a-f]{32}$/.test(hex)) return undefined;
  const out = new Uint8Array(ID_BYTES);
  for (let i = 0; i < ID_BYTES; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}
