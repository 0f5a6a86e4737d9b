/**
 * The sneakernet file, `.chsync` (ARCHITECTURE.md § "Export file (.chsync)"): what an edge's
 * hub has not acknowledged, carried on a USB stick and imported at the hub. The file is a
 * sequence of CityHall Sync frames and nothing else, so it is checked by the same frame
 * reader as a link:
 *
 * ```
 * EXPORT_BEGIN (18)  magic 8 | version u16 | siteLength u8 | reserved u8 | edgeId 16 |
 *                    hubId 16 | fromSeq u64 | createdMs u64 | site
 * RECORDS (14) or   as on a link (zstd when it helps), contiguous from fromSeq; a frame
 * CHUNKS (17) …      whose records hold plain sample records is CHUNKS (`catchup.ts`), as
 *                    an uplink catching up sends it: about one byte per sample
 * EXPORT_END (19)    frames u64 | records u64 | lastSeq u64 | crcOfCrcs u32
 * ```
 *
 * Version 1 files (RECORDS only) are still read; this build writes version 2.
 *
 * `crcOfCrcs` is `maskCrc(crc32c(…))` over the 4-byte CRC field of every frame before it, in
 * order: a missing, repeated or reordered frame, or a file cut short, is caught even though
 * each frame on its own is intact.
 *
 * @module
 */

import { CityHallError, ProtocolError } from "../errors.ts";
import { assert } from "../util/assert.ts";
import { getU64, putU64 } from "../util/coding.ts";
import { crc32cExtend, maskCrc } from "../util/crc32c.ts";
import {
  CONTROL_BODY_BYTES_MAX,
  FRAME_WIRE_BODY_BYTES_MAX,
  SITE_NAME_BYTES_MAX,
} from "../limits.ts";
import {
  encodeFrame,
  type Frame,
  FRAME_CHUNKS,
  FRAME_EXPORT_BEGIN,
  FRAME_EXPORT_END,
  FRAME_RECORDS,
  ID_BYTES,
  SYNC_MAGIC,
} from "../replication/frame.ts";
import { type FramePolicy, FrameReader } from "../replication/frame_reader.ts";
import { type CheckedRecords, checkRecordsFrame, encodeRecords } from "./frames.ts";
import { toCatchUp } from "./catchup.ts";

/** Version of the `.chsync` format this build writes (2: CHUNKS frames may appear). */
export const CHSYNC_VERSION = 2;
/** Oldest `.chsync` version this build reads (1: RECORDS frames only). */
const CHSYNC_VERSION_MIN = 1;
/** Bytes of EXPORT_BEGIN before the site name. */
const BEGIN_FIXED_BYTES = 68;
/** Bytes of EXPORT_END. */
const END_BYTES = 28;

/** What EXPORT_BEGIN says. */
export interface ExportHeader {
  site: string;
  /** The edge database the records come from. */
  edgeId: Uint8Array;
  /** The hub the edge syncs with (all zeros when it never reached one). */
  hubId: Uint8Array;
  /** First sequence the file holds (the edge's acknowledged position + 1). */
  fromSeq: number;
  createdMs: number;
}

/** The policy of a `.chsync` reader: its four frame types, zstd allowed. */
const CHSYNC_POLICY: FramePolicy = {
  phase: "in a .chsync file",
  bodyBytesMax: new Map([
    [FRAME_EXPORT_BEGIN, CONTROL_BODY_BYTES_MAX],
    [FRAME_RECORDS, FRAME_WIRE_BODY_BYTES_MAX],
    [FRAME_CHUNKS, FRAME_WIRE_BODY_BYTES_MAX],
    [FRAME_EXPORT_END, END_BYTES],
  ]),
  snappy: false,
  zstd: true,
};

/** Encodes EXPORT_BEGIN's body. */
export function encodeExportBegin(h: ExportHeader): Uint8Array {
  const site = new TextEncoder().encode(h.site);
  assert(site.length >= 1 && site.length <= SITE_NAME_BYTES_MAX, "site name length");
  const body = new Uint8Array(BEGIN_FIXED_BYTES + site.length);
  const view = new DataView(body.buffer);
  body.set(SYNC_MAGIC, 0);
  view.setUint16(8, CHSYNC_VERSION, true);
  body[10] = site.length;
  body.set(h.edgeId, 12);
  body.set(h.hubId, 28);
  putU64(view, 44, h.fromSeq);
  putU64(view, 52, h.createdMs);
  body.set(site, BEGIN_FIXED_BYTES);
  return body;
}

function decodeExportBegin(body: Uint8Array): ExportHeader {
  const fail = (reason: string): never => {
    throw new ProtocolError(`Cannot read .chsync file: ${reason}`);
  };
  if (body.length < BEGIN_FIXED_BYTES) fail("EXPORT_BEGIN is too short");
  for (let i = 0; i < SYNC_MAGIC.length; i++) if (body[i] !== SYNC_MAGIC[i]) fail("bad magic");
  const view = new DataView(body.buffer, body.byteOffset, body.length);
  const version = view.getUint16(8, true);
  if (version < CHSYNC_VERSION_MIN || version > CHSYNC_VERSION) {
    fail(`format version ${version} (this build reads ${CHSYNC_VERSION_MIN} to ${CHSYNC_VERSION})`);
  }
  const siteLength = body[10]!;
  if (siteLength < 1 || body.length !== BEGIN_FIXED_BYTES + siteLength) fail("bad site length");
  return {
    site: new TextDecoder().decode(body.subarray(BEGIN_FIXED_BYTES)),
    edgeId: body.slice(12, 12 + ID_BYTES),
    hubId: body.slice(28, 28 + ID_BYTES),
    fromSeq: getU64(view, 44),
    createdMs: getU64(view, 52),
  };
}

/** Writes a `.chsync` file frame by frame through `write`. */
export class ExportWriter {
  readonly #write: (bytes: Uint8Array) => Promise<void>;
  readonly #level: number;
  #crc = 0;
  #frames = 0;
  #records = 0;
  #next: number;
  #finished = false;

  private constructor(write: (bytes: Uint8Array) => Promise<void>, next: number, level: number) {
    this.#write = write;
    this.#next = next;
    this.#level = level;
  }

  /** Starts a file with its EXPORT_BEGIN. */
  static async begin(
    header: ExportHeader,
    write: (bytes: Uint8Array) => Promise<void>,
    zstdLevel: number,
  ): Promise<ExportWriter> {
    const w = new ExportWriter(write, header.fromSeq, zstdLevel);
    await w.#frame(encodeFrame(FRAME_EXPORT_BEGIN, encodeExportBegin(header)));
    return w;
  }

  async #frame(bytes: Uint8Array): Promise<void> {
    this.#crc = crc32cExtend(this.#crc, bytes, 8, 12);
    await this.#write(bytes);
  }

  /**
   * Appends one frame holding `payloads`, the records from `firstSeq` on: CHUNKS when their
   * samples can travel as chunks (a file is all catch-up), RECORDS when nothing is gathered.
   */
  async records(firstSeq: number, lastSeq: number, payloads: Uint8Array[]): Promise<void> {
    assert(!this.#finished && payloads.length > 0, "records after finish or empty");
    const converted = toCatchUp(payloads);
    const chunks = converted.groups.length > 0;
    const body = encodeRecords({
      firstSeq,
      lastSeq,
      edgeDurableSeq: lastSeq,
      behindBytes: 0,
      behindMs: 0,
      ...(chunks ? { payloads: converted.payloads, groups: converted.groups } : { payloads }),
    });
    const type = chunks ? FRAME_CHUNKS : FRAME_RECORDS;
    await this.#frame(encodeFrame(type, body, { zstdLevel: this.#level }));
    this.#frames++;
    this.#records += payloads.length;
    this.#next = lastSeq + 1;
  }

  /** Ends the file with EXPORT_END; the last sequence it holds. */
  async finish(): Promise<{ frames: number; records: number; lastSeq: number }> {
    this.#finished = true;
    const body = new Uint8Array(END_BYTES);
    const view = new DataView(body.buffer);
    putU64(view, 0, this.#frames);
    putU64(view, 8, this.#records);
    putU64(view, 16, this.#next - 1);
    view.setUint32(24, maskCrc(this.#crc), true);
    await this.#write(encodeFrame(FRAME_EXPORT_END, body));
    return { frames: this.#frames, records: this.#records, lastSeq: this.#next - 1 };
  }
}

/** A `.chsync` file read and checked whole. */
export interface ExportRead {
  header: ExportHeader;
  /** Last sequence the file holds (`fromSeq − 1` when it holds none). */
  lastSeq: number;
  records: number;
}

/**
 * Reads a `.chsync` file from `source` (anything with `read`, a file), checking every frame
 * (CRC, zstd, records), their order and EXPORT_END, and hands each RECORDS frame to
 * `onRecords` (none when `onRecords` is absent: a check-only pass). Throws `CityHallError`
 * naming the problem.
 */
export async function readExport(
  source: { read(buf: Uint8Array): Promise<number | null> },
  onRecords?: (records: CheckedRecords) => void | Promise<void>,
): Promise<ExportRead> {
  const reader = new FrameReader(source as unknown as Deno.Conn, CHSYNC_POLICY);
  let crc = 0;
  const next = async (): Promise<Frame> => {
    let frame;
    try {
      frame = await reader.next();
    } catch (err) {
      throw new CityHallError(`Cannot read .chsync file: ${(err as Error).message}`);
    }
    if (frame === undefined) throw new CityHallError("Cannot read .chsync file: it ends early");
    return frame;
  };
  const first = await next();
  if (first.type !== FRAME_EXPORT_BEGIN) {
    throw new CityHallError("Cannot read .chsync file: it does not start with EXPORT_BEGIN");
  }
  const header = decodeExportBegin(first.body);
  crc = crcOfFrame(crc, first);
  let expected = header.fromSeq;
  let frames = 0;
  let records = 0;
  for (;;) {
    const frame = await next();
    if (frame.type === FRAME_EXPORT_END) {
      const view = new DataView(frame.body.buffer, frame.body.byteOffset, frame.body.length);
      if (frame.body.length !== END_BYTES) {
        throw new CityHallError("Cannot read .chsync file: bad EXPORT_END");
      }
      const ok = getU64(view, 0) === frames && getU64(view, 8) === records &&
        getU64(view, 16) === expected - 1 && view.getUint32(24, true) === maskCrc(crc);
      if (!ok) {
        throw new CityHallError(
          "Cannot read .chsync file: EXPORT_END does not match the frames before it (a frame is missing, repeated or out of order)",
        );
      }
      // Nothing may follow: neither a frame nor bytes that are none.
      const after = await reader.next().then((f) => f !== undefined, () => true);
      if (after) throw new CityHallError("Cannot read .chsync file: bytes after EXPORT_END");
      return { header, lastSeq: expected - 1, records };
    }
    let checked: CheckedRecords;
    try {
      if (frame.type !== FRAME_RECORDS && frame.type !== FRAME_CHUNKS) {
        throw new ProtocolError(`unexpected frame type ${frame.type}`);
      }
      checked = checkRecordsFrame(frame.body, expected, frame.type === FRAME_CHUNKS);
    } catch (err) {
      throw new CityHallError(`Cannot read .chsync file: ${(err as Error).message}`);
    }
    if (checked.records.length === 0 || checked.header.firstSeq !== expected) {
      throw new CityHallError(
        `Cannot read .chsync file: records at ${checked.header.firstSeq} where ${expected} was expected`,
      );
    }
    crc = crcOfFrame(crc, frame);
    frames++;
    records += checked.records.length;
    expected = checked.header.lastSeq + 1;
    await onRecords?.(checked);
  }
}

/** The running CRC over frames' CRC fields. */
function crcOfFrame(crc: number, frame: Frame): number {
  const field = new Uint8Array(4);
  new DataView(field.buffer).setUint32(0, frame.crc ?? 0, true);
  return crc32cExtend(crc, field, 0, 4);
}
