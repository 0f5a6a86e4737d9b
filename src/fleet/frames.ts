/**
 * The fleet's frame bodies: what an edge's uplink and a hub say to each other beyond the
 * replication frames they reuse (FETCH, ACK, HEARTBEAT, ERROR, SNAPSHOT_*, FILE_*), and the
 * reader policies of each phase. ARCHITECTURE.md § "Fleet frames" draws every byte.
 *
 * ```
 * UPLINK_HELLO (12)  magic 8 | version u16 | siteLength u8 | shipMode u8 | edgeId 16 |
 *                    expectedHubId 16 | edgeDurableSeq u64 | edgeFirstSeq u64 |
 *                    rateLimit u32 | tokenLength u16 | site | token
 * UPLINK_WELCOME(13) hubId 16 | position u64 | heartbeatMs u32 | idleTimeoutMs u32
 * RECORDS (14)       firstSeq u64 | lastSeq u64 | edgeDurableSeq u64 | behindBytes u64 |
 *                    behindMs u64 | recordCount u32 | (varint length | batch payload)…
 * RESUME (15)        crc u32 | bodyLength u32 | haveBytes u32
 * RESUME_DATA (16)   status u8 | crc u32 | offset u32 | the frame's bytes from offset
 * CHUNKS (17)        RECORDS' body | varint groups | (varint after | varint n |
 *                    n × (varint version | varint length | chunk))…   (catch-up, `catchup.ts`)
 * ```
 *
 * Invariants:
 * - Integers are little-endian; sequence numbers are u64 holding values ≤ 2^53 − 1.
 * - A RECORDS frame's records are contiguous by construction: the first record starts at
 *   `firstSeq`, each next one at the previous one's sequence + its op count, and the last
 *   ends at `lastSeq`. `checkRecordsFrame` verifies all of that, and decodes every op, before
 *   the hub applies any of it.
 *
 * @module
 */

import { ProtocolError } from "../errors.ts";
import { assert } from "../util/assert.ts";
import { getU64, getVarint, putU64, putVarint, varintLength } from "../util/coding.ts";
import type { Entry } from "../util/entry.ts";
import { batchOpCount, decodeBatch } from "../wal/format.ts";
import {
  AUTH_TOKEN_BYTES_MAX,
  CATCHUP_CHUNK_SAMPLES_MAX,
  CONTROL_BODY_BYTES_MAX,
  ERROR_BODY_BYTES_MAX,
  FRAME_WIRE_BODY_BYTES_MAX,
  RECORDS_HEADER_BYTES,
  SITE_NAME_BYTES_MAX,
  UPLINK_HELLO_BODY_BYTES_MAX,
  UPLINK_HELLO_FIXED_BYTES,
  UPLINK_WELCOME_BYTES,
} from "../limits.ts";
import {
  FRAME_ACK,
  FRAME_CHUNKS,
  FRAME_ERROR,
  FRAME_FETCH,
  FRAME_FILE_CHUNK,
  FRAME_FILE_FETCH,
  FRAME_HEARTBEAT,
  FRAME_RECORDS,
  FRAME_RESUME,
  FRAME_RESUME_DATA,
  FRAME_SNAPSHOT_BEGIN,
  FRAME_SNAPSHOT_REQUEST,
  FRAME_UPLINK_HELLO,
  FRAME_UPLINK_WELCOME,
  ID_BYTES,
  SYNC_MAGIC,
} from "../replication/frame.ts";
import type { FramePolicy } from "../replication/frame_reader.ts";
import type { VersionSamples } from "./hub_series.ts";
import { type ChunkGroup, encodeGroups, groupsBytes } from "./catchup.ts";
import { chunkHeader, decodeChunk } from "../timeseries/codec.ts";

/** Uplink protocol version this build speaks. */
export const UPLINK_PROTOCOL_VERSION = 1;
/** `shipMode` of UPLINK_HELLO: every record. */
export const SHIP_RAW = 0;
/** `shipMode`: of the time series, only those downsampling rules feed (`--uplink-ship rollups`). */
export const SHIP_ROLLUPS = 1;

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder("utf-8", { fatal: true });

function fail(what: string, reason: string): never {
  throw new ProtocolError(`Cannot decode ${what}: ${reason}`);
}

function viewOf(body: Uint8Array, bytes: number, what: string): DataView {
  if (body.length < bytes) fail(what, `body has ${body.length} bytes, needs ${bytes}`);
  return new DataView(body.buffer, body.byteOffset, body.length);
}

function u64(view: DataView, at: number, what: string): number {
  try {
    return getU64(view, at);
  } catch {
    return fail(what, `u64 at offset ${at} exceeds 2^53 - 1`);
  }
}

// ---------------------------------------------------------------- UPLINK_HELLO

/** UPLINK_HELLO: the edge introduces itself. */
export interface UplinkHello {
  version: number;
  /** The site this edge sends as. */
  site: string;
  /** `SHIP_RAW` (0) or `SHIP_ROLLUPS` (1). */
  shipMode: number;
  /** The edge database's id (`databaseId`, random at creation). */
  edgeId: Uint8Array;
  /** The hub id the edge recorded at first contact; all zeros before. */
  expectedHubId: Uint8Array;
  /** Newest sequence durable on the edge. */
  edgeDurableSeq: number;
  /** Oldest sequence still in the edge's WAL (`edgeDurableSeq + 1` when it holds none). */
  edgeFirstSeq: number;
  /** The edge's `--uplink-rate-limit` in bytes per second; 0 = none. */
  rateLimitBytesPerSec: number;
  /** The site's token as the edge read it. */
  token: Uint8Array;
}

/** Encodes UPLINK_HELLO. */
export function encodeUplinkHello(h: UplinkHello): Uint8Array {
  const site = utf8.encode(h.site);
  assert(site.length >= 1 && site.length <= SITE_NAME_BYTES_MAX, "site name length");
  assert(h.token.length <= AUTH_TOKEN_BYTES_MAX, "token too long");
  const body = new Uint8Array(UPLINK_HELLO_FIXED_BYTES + site.length + h.token.length);
  const view = new DataView(body.buffer);
  body.set(SYNC_MAGIC, 0);
  view.setUint16(8, h.version, true);
  body[10] = site.length;
  body[11] = h.shipMode;
  body.set(h.edgeId, 12);
  body.set(h.expectedHubId, 28);
  putU64(view, 44, h.edgeDurableSeq);
  putU64(view, 52, h.edgeFirstSeq);
  view.setUint32(60, h.rateLimitBytesPerSec, true);
  view.setUint16(64, h.token.length, true);
  body.set(site, UPLINK_HELLO_FIXED_BYTES);
  body.set(h.token, UPLINK_HELLO_FIXED_BYTES + site.length);
  return body;
}

/** Decodes UPLINK_HELLO; the version is judged by the hub (`judgeUplinkHello`). */
export function decodeUplinkHello(body: Uint8Array): UplinkHello {
  const what = "UPLINK_HELLO";
  const view = viewOf(body, UPLINK_HELLO_FIXED_BYTES, what);
  for (let i = 0; i < SYNC_MAGIC.length; i++) {
    if (body[i] !== SYNC_MAGIC[i]) fail(what, "bad magic (not a CityHall uplink)");
  }
  const siteLength = body[10]!;
  const tokenLength = view.getUint16(64, true);
  if (siteLength < 1 || siteLength > SITE_NAME_BYTES_MAX) fail(what, `site length ${siteLength}`);
  if (
    tokenLength > AUTH_TOKEN_BYTES_MAX ||
    body.length !== UPLINK_HELLO_FIXED_BYTES + siteLength + tokenLength
  ) {
    fail(what, `bad token length ${tokenLength}`);
  }
  let site: string;
  try {
    site = utf8Decoder.decode(
      body.subarray(UPLINK_HELLO_FIXED_BYTES, UPLINK_HELLO_FIXED_BYTES + siteLength),
    );
  } catch {
    return fail(what, "site name is not UTF-8");
  }
  return {
    version: view.getUint16(8, true),
    site,
    shipMode: body[11]!,
    edgeId: body.slice(12, 28),
    expectedHubId: body.slice(28, 44),
    edgeDurableSeq: u64(view, 44, what),
    edgeFirstSeq: u64(view, 52, what),
    rateLimitBytesPerSec: view.getUint32(60, true),
    token: body.slice(UPLINK_HELLO_FIXED_BYTES + siteLength),
  };
}

// ---------------------------------------------------------------- UPLINK_WELCOME

/** UPLINK_WELCOME: the hub accepts and says where it stands for the site. */
export interface UplinkWelcome {
  /** The hub database's id. */
  hubId: Uint8Array;
  /** Every edge sequence ≤ position is applied and fdatasync'ed at the hub (0 = none). */
  position: number;
  heartbeatMs: number;
  idleTimeoutMs: number;
}

/** Encodes UPLINK_WELCOME. */
export function encodeUplinkWelcome(w: UplinkWelcome): Uint8Array {
  const body = new Uint8Array(UPLINK_WELCOME_BYTES);
  const view = new DataView(body.buffer);
  body.set(w.hubId, 0);
  putU64(view, 16, w.position);
  view.setUint32(24, w.heartbeatMs, true);
  view.setUint32(28, w.idleTimeoutMs, true);
  return body;
}

/** Decodes UPLINK_WELCOME. */
export function decodeUplinkWelcome(body: Uint8Array): UplinkWelcome {
  const what = "UPLINK_WELCOME";
  const view = viewOf(body, UPLINK_WELCOME_BYTES, what);
  if (body.length !== UPLINK_WELCOME_BYTES) fail(what, `body has ${body.length} bytes`);
  return {
    hubId: body.slice(0, ID_BYTES),
    position: u64(view, 16, what),
    heartbeatMs: view.getUint32(24, true),
    idleTimeoutMs: view.getUint32(28, true),
  };
}

// ---------------------------------------------------------------- RECORDS

/** RECORDS: WAL batch payloads from `firstSeq` to `lastSeq`, and where the edge stands. */
export interface RecordsFrame {
  /** Sequence of the first record's first op (the FETCH's `fromSeq` when empty). */
  firstSeq: number;
  /** Sequence of the last op of the last record (`firstSeq − 1` when empty). */
  lastSeq: number;
  /** Newest durable sequence on the edge when the frame was made. */
  edgeDurableSeq: number;
  /** WAL bytes the edge holds above `lastSeq` (estimated from segment sizes). */
  behindBytes: number;
  /** How long ago, by the edge's clock, `lastSeq + 1` became durable (0 = nothing pending). */
  behindMs: number;
  /** The records' WAL batch payloads, in order. */
  payloads: Uint8Array[];
  /** CHUNKS only: per-series chunks placed after records (`catchup.ts`). */
  groups?: ChunkGroup[];
}

/** Encodes RECORDS, or CHUNKS when `r.groups` is set (the groups section follows). */
export function encodeRecords(r: RecordsFrame): Uint8Array {
  let size = RECORDS_HEADER_BYTES;
  for (const p of r.payloads) size += varintLength(p.length) + p.length;
  if (r.groups !== undefined) size += groupsBytes(r.groups);
  const body = new Uint8Array(size);
  const view = new DataView(body.buffer);
  putU64(view, 0, r.firstSeq);
  putU64(view, 8, r.lastSeq);
  putU64(view, 16, r.edgeDurableSeq);
  putU64(view, 24, r.behindBytes);
  putU64(view, 32, r.behindMs);
  view.setUint32(40, r.payloads.length, true);
  let at = RECORDS_HEADER_BYTES;
  for (const p of r.payloads) {
    at = putVarint(body, at, p.length);
    body.set(p, at);
    at += p.length;
  }
  if (r.groups !== undefined) encodeGroups(body, at, r.groups);
  return body;
}

/** One checked record of a RECORDS frame, decoded. */
export interface CheckedRecord {
  /** Sequence of its first op. */
  seq: number;
  /** Its ops, with their sequences. */
  entries: Entry[];
  /** Samples a CHUNKS frame moved out of its records, applied after this record's ops. */
  samples?: VersionSamples[];
}

/** A RECORDS frame checked whole (`checkRecordsFrame`). */
export interface CheckedRecords {
  header: Omit<RecordsFrame, "payloads">;
  records: CheckedRecord[];
  /** Payload bytes (what the edge's WAL held, without record headers). */
  payloadBytes: number;
}

/**
 * Decodes a RECORDS body and checks it whole before anything is applied: the header, each
 * payload's length and ops (decoded), the count, that the sequences run from `firstSeq` to
 * `lastSeq` without a gap, and that the first record holds `expectedSeq` or starts right at
 * it (never after: a gap). Throws `ProtocolError`.
 */
export function checkRecordsFrame(
  body: Uint8Array,
  expectedSeq: number,
  chunks = false,
): CheckedRecords {
  const what = chunks ? "CHUNKS" : "RECORDS";
  const view = viewOf(body, RECORDS_HEADER_BYTES, what);
  const header = {
    firstSeq: u64(view, 0, what),
    lastSeq: u64(view, 8, what),
    edgeDurableSeq: u64(view, 16, what),
    behindBytes: u64(view, 24, what),
    behindMs: u64(view, 32, what),
  };
  const count = view.getUint32(40, true);
  const records: CheckedRecord[] = [];
  let at = RECORDS_HEADER_BYTES;
  let seq = header.firstSeq;
  let payloadBytes = 0;
  while (at < body.length && !(chunks && records.length === count)) {
    if (records.length >= count) fail(what, `more records than the ${count} declared`);
    let length: { value: number; offset: number };
    try {
      length = getVarint(body, at);
    } catch {
      return fail(what, `bad record length at offset ${at}`);
    }
    if (length.value < 1 || length.value > body.length - length.offset) {
      fail(what, `record length ${length.value} runs past the end at offset ${at}`);
    }
    const payload = body.subarray(length.offset, length.offset + length.value);
    let entries: Entry[];
    try {
      const ops = batchOpCount(payload);
      if (ops < 1) throw new Error("no operations");
      entries = decodeBatch(payload, seq);
    } catch (err) {
      return fail(what, `bad record at offset ${at}: ${(err as Error).message}`);
    }
    records.push({ seq, entries });
    seq += entries.length;
    payloadBytes += payload.length;
    at = length.offset + length.value;
  }
  if (records.length !== count) fail(what, `${records.length} records, header says ${count}`);
  if (chunks) checkGroups(body, at, records, what);
  if (seq - 1 !== header.lastSeq) {
    fail(what, `records end at ${seq - 1}, header says ${header.lastSeq}`);
  }
  if (records.length > 0 && header.firstSeq > expectedSeq) {
    fail(what, `first record ${header.firstSeq} leaves a gap after ${expectedSeq - 1}`);
  }
  if (records.length === 0 && header.firstSeq !== expectedSeq) {
    fail(what, `empty frame at ${header.firstSeq} where ${expectedSeq} was asked`);
  }
  if (header.edgeDurableSeq < header.lastSeq) {
    fail(what, `edge durable ${header.edgeDurableSeq} is below the frame's last ${header.lastSeq}`);
  }
  return { header, records, payloadBytes };
}

/**
 * The groups section of CHUNKS: `varint groups`, then per group `varint after` (a record
 * index, strictly increasing) and `varint chunks`, then per chunk `varint version`, `varint
 * length` and a chunk (checksum checked, at most `CATCHUP_CHUNK_SAMPLES_MAX` samples, read
 * from its header before anything is allocated). Decoded samples go on their record.
 */
function checkGroups(body: Uint8Array, at: number, records: CheckedRecord[], what: string): void {
  const varint = (label: string): number => {
    try {
      const v = getVarint(body, at);
      at = v.offset;
      return v.value;
    } catch {
      return fail(what, `bad ${label} at offset ${at}`);
    }
  };
  const groups = varint("group count");
  let previous = -1;
  for (let g = 0; g < groups; g++) {
    const after = varint("record index");
    if (after <= previous || after >= records.length) {
      fail(what, `group after record ${after} is out of order or past the records`);
    }
    previous = after;
    const n = varint("chunk count");
    const samples: VersionSamples[] = [];
    for (let i = 0; i < n; i++) {
      const version = varint("series version");
      const length = varint("chunk length");
      if (length > body.length - at) fail(what, `chunk runs past the end at offset ${at}`);
      const chunk = body.subarray(at, at + length);
      try {
        if (chunkHeader(chunk).count > CATCHUP_CHUNK_SAMPLES_MAX) {
          throw new Error("too many samples");
        }
        const c = decodeChunk(chunk);
        samples.push({ version, ts: c.ts, values: c.values });
      } catch (err) {
        fail(what, `bad chunk at offset ${at}: ${(err as Error).message}`);
      }
      at += length;
    }
    records[after]!.samples = samples;
  }
  if (at !== body.length) fail(what, `${body.length - at} bytes after the groups`);
}

// ---------------------------------------------------------------- RESUME, RESUME_DATA

/** RESUME: the hub holds `haveBytes` of the frame with this header crc and body length. */
export interface Resume {
  crc: number;
  bodyLength: number;
  haveBytes: number;
}

/** Encodes RESUME. */
export function encodeResume(r: Resume): Uint8Array {
  const body = new Uint8Array(12);
  const view = new DataView(body.buffer);
  view.setUint32(0, r.crc, true);
  view.setUint32(4, r.bodyLength, true);
  view.setUint32(8, r.haveBytes, true);
  return body;
}

/** Decodes RESUME. */
export function decodeResume(body: Uint8Array): Resume {
  const view = viewOf(body, 12, "RESUME");
  return {
    crc: view.getUint32(0, true),
    bodyLength: view.getUint32(4, true),
    haveBytes: view.getUint32(8, true),
  };
}

/** RESUME_DATA status: the rest of the frame follows. */
export const RESUME_REST = 0;
/** RESUME_DATA status: the edge no longer holds that frame (the hub FETCHes instead). */
export const RESUME_GONE = 1;

/** Encodes RESUME_DATA. */
export function encodeResumeData(
  status: number,
  crc: number,
  offset: number,
  rest: Uint8Array,
): Uint8Array {
  const body = new Uint8Array(9 + rest.length);
  const view = new DataView(body.buffer);
  body[0] = status;
  view.setUint32(1, crc, true);
  view.setUint32(5, offset, true);
  body.set(rest, 9);
  return body;
}

/** Decodes RESUME_DATA. */
export function decodeResumeData(
  body: Uint8Array,
): { status: number; crc: number; offset: number; rest: Uint8Array } {
  const view = viewOf(body, 9, "RESUME_DATA");
  const status = body[0]!;
  if (status !== RESUME_REST && status !== RESUME_GONE) fail("RESUME_DATA", `status ${status}`);
  return {
    status,
    crc: view.getUint32(1, true),
    offset: view.getUint32(5, true),
    rest: body.subarray(9),
  };
}

// ---------------------------------------------------------------- reader policies

/** Hub, before UPLINK_HELLO is accepted: that frame only, small and uncompressed. */
export const HUB_BEFORE_HELLO: FramePolicy = {
  phase: "before UPLINK_HELLO",
  bodyBytesMax: new Map([[FRAME_UPLINK_HELLO, UPLINK_HELLO_BODY_BYTES_MAX]]),
  snappy: false,
};

/** Hub, from an authenticated edge: records, snapshot files, zstd allowed. */
export const HUB_FROM_EDGE: FramePolicy = {
  phase: "from an edge",
  bodyBytesMax: new Map([
    [FRAME_ERROR, ERROR_BODY_BYTES_MAX],
    [FRAME_RECORDS, FRAME_WIRE_BODY_BYTES_MAX],
    [FRAME_CHUNKS, FRAME_WIRE_BODY_BYTES_MAX],
    [FRAME_RESUME_DATA, FRAME_WIRE_BODY_BYTES_MAX],
    [FRAME_HEARTBEAT, 16],
    [FRAME_SNAPSHOT_BEGIN, CONTROL_BODY_BYTES_MAX],
    [FRAME_FILE_CHUNK, FRAME_WIRE_BODY_BYTES_MAX],
  ]),
  snappy: false,
  zstd: true,
};

/** Edge, before UPLINK_WELCOME: that frame or ERROR, uncompressed. */
export const EDGE_BEFORE_WELCOME: FramePolicy = {
  phase: "before UPLINK_WELCOME",
  bodyBytesMax: new Map([
    [FRAME_UPLINK_WELCOME, UPLINK_WELCOME_BYTES],
    [FRAME_ERROR, ERROR_BODY_BYTES_MAX],
  ]),
  snappy: false,
};

/** Edge, from the hub it syncs with: the hub's small requests; a hub never compresses. */
export const EDGE_FROM_HUB: FramePolicy = {
  phase: "from the hub",
  bodyBytesMax: new Map([
    [FRAME_ERROR, ERROR_BODY_BYTES_MAX],
    [FRAME_FETCH, 16],
    [FRAME_ACK, 8],
    [FRAME_HEARTBEAT, 16],
    [FRAME_SNAPSHOT_REQUEST, 0],
    [FRAME_FILE_FETCH, 20],
    [FRAME_RESUME, 12],
  ]),
  snappy: false,
};

/** Hex of an id, for logs and files. */
export function hex(bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}
