/**
 * The leader's change feed: reads committed WAL records from sequence N out of the segment
 * files, through the database's file system, for one replica session.
 *
 * Only records at or below the database's `durableSeq` are returned: a replica never holds a
 * write the leader could still lose. Records are returned as the exact bytes of each record's
 * body in the segment (header and payload; a version-2 record's trailer and a segment's SEAL
 * stay on disk), each checked with its CRCs before it leaves (the replica checks again).
 *
 * Invariants:
 * - Records come out in sequence order, contiguous: each starts at the previous last + 1.
 * - The cursor only moves forward; a request for another position relocates it by scanning
 *   the segment that holds that position from its start.
 *
 * @module
 */

import type { Database } from "../engine/mod.ts";
import { replicationPort } from "../engine/mod.ts";
import { CorruptionError } from "../errors.ts";
import type { File } from "../fs/mod.ts";
import { WAL_RECORD_HEADER_BYTES, WAL_RECORD_TRAILER_BYTES } from "../limits.ts";
import type { SegmentInfo } from "../wal/mod.ts";
import {
  batchOpCount,
  framingOf,
  parseRecordAt,
  WAL_FORMAT_VERSION,
  WAL_RECORD_TYPE_SEAL,
  WAL_SEGMENT_HEADER_BYTES,
} from "../wal/format.ts";

/** The result of `WalFeed.read`. */
export type FeedResult =
  | {
    status: "records";
    bytes: Uint8Array;
    count: number;
    firstSeq: number;
    lastSeq: number;
    segmentId: number;
    /** Where the feed stands after these records (another feed may `adopt` it). */
    end: FeedPosition;
  }
  | { status: "wait" }
  | { status: "gone"; firstAvailableSeq: number };

/** A feed's position: the next record's sequence, its segment and file offset. */
export interface FeedPosition {
  nextSeq: number;
  segment: SegmentInfo;
  offset: number;
}

const READ_CHUNK_BYTES = 256 * 1024;

/** Reads the leader's records for one session. */
export class WalFeed {
  readonly #db: Database;
  #segment: SegmentInfo | undefined;
  #file: File | undefined;
  /** File offset of the next record in `#segment`. */
  #offset = 0;
  /** Sequence of the next record's first op. */
  #nextSeq = 0;
  /** Read cache: bytes of the open segment from file offset `#chunkOffset`. */
  #chunk = new Uint8Array(0);
  #chunkOffset = 0;

  /** A feed over `db`'s WAL. */
  constructor(db: Database) {
    this.#db = db;
  }

  /** Oldest sequence the WAL still holds (durableSeq + 1 when it holds none). */
  firstAvailableSeq(): number {
    // The contiguous run of segments that ends with the newest: older ones before a hole
    // (WAL damage below flushedSeq that recovery skipped) cannot be streamed past it.
    const segments = this.#db.walSegments().filter((s) => s.firstSeq > 0);
    let first = segments.at(-1)?.firstSeq ?? this.#db.durableSeq + 1;
    for (let i = segments.length - 2; i >= 0 && segments[i]!.lastSeq + 1 === first; i--) {
      first = segments[i]!.firstSeq;
    }
    return first;
  }

  /** Closes the open segment file. */
  close(): void {
    try {
      this.#file?.close();
    } catch {
      // Already closed.
    }
    this.#file = undefined;
    this.#segment = undefined;
  }

  /**
   * Records from `fromSeq`, whole, totalling at most `maxBytes` (at least one record), none
   * above `durableSeq`. "wait" when nothing is durable past `fromSeq - 1`; "gone" when
   * `fromSeq` is older than the WAL. Throws `CorruptionError` on a bad record.
   */
  read(fromSeq: number, maxBytes: number): FeedResult {
    const durable = this.#db.durableSeq;
    if (fromSeq > durable) return { status: "wait" };
    if (this.#segment === undefined || this.#nextSeq !== fromSeq) {
      const located = this.#locate(fromSeq);
      if (located !== undefined) return located;
    }
    const parts: Uint8Array[] = [];
    let bytes = 0;
    let count = 0;
    let firstSeq = 0;
    let segmentId = 0;
    // Bounded: every pass consumes a record, moves to a newer segment, or stops.
    for (let pass = 0; pass < 10_000_000; pass++) {
      if (this.#nextSeq > durable || (count > 0 && bytes >= maxBytes)) break;
      const segment = this.#segment!;
      let record = this.#recordAt(this.#offset, false);
      // Cached bytes may predate the latest appends to the active segment: look again.
      if (record === undefined) record = this.#recordAt(this.#offset, true);
      if (record === undefined) {
        if (this.#advanceSegment()) continue;
        // The next segment starts past this one's end: WAL damage below flushedSeq was
        // skipped there (ARCHITECTURE.md § "Recovery rules"). What lies between is in tables
        // only: the replica needs a snapshot, it must not wait for records that never come.
        const next = this.#db.walSegments().find((s) => s.id > segment.id && s.firstSeq > 0);
        if (count === 0 && next !== undefined && next.firstSeq > this.#nextSeq) {
          return { status: "gone", firstAvailableSeq: next.firstSeq };
        }
        break;
      }
      if (record.seal) {
        this.#offset += record.diskBytes;
        continue;
      }
      if (record.seq !== this.#nextSeq) {
        throw new CorruptionError(
          `Cannot read WAL record for replication: sequence ${record.seq} where ${this.#nextSeq} was expected at offset ${this.#offset} in ${segment.path}`,
        );
      }
      if (count > 0 && bytes + record.bytes.length > maxBytes) break;
      parts.push(record.bytes);
      bytes += record.bytes.length;
      if (count++ === 0) firstSeq = record.seq;
      segmentId = segment.id;
      this.#nextSeq = record.seq + batchOpCount(record.payload);
      this.#offset += record.diskBytes;
    }
    const lastSeq = this.#nextSeq - 1;
    if (count === 0) return { status: "wait" };
    const out = new Uint8Array(bytes);
    let off = 0;
    for (const p of parts) {
      out.set(p, off);
      off += p.length;
    }
    const end = { nextSeq: this.#nextSeq, segment: this.#segment!, offset: this.#offset };
    return { status: "records", bytes: out, count, firstSeq, lastSeq, segmentId, end };
  }

  /**
   * The whole record at file offset `offset` of the open segment, from the read cache unless
   * `fresh`, or `undefined` at the end of data: `bytes` is its body (what is shipped),
   * `diskBytes` what it takes in the segment. Throws `CorruptionError` on a bad record.
   */
  #recordAt(
    offset: number,
    fresh: boolean,
  ):
    | { seq: number; payload: Uint8Array; bytes: Uint8Array; diskBytes: number; seal: boolean }
    | undefined {
    let header = this.#cached(offset, WAL_RECORD_HEADER_BYTES, fresh);
    if (header.length < WAL_RECORD_HEADER_BYTES) return undefined;
    const length = new DataView(header.buffer, header.byteOffset, 4).getUint32(0, true);
    if (length === 0) return undefined;
    const framing = framingOf(this.#segment!.version ?? WAL_FORMAT_VERSION);
    const diskBytes = WAL_RECORD_HEADER_BYTES + length +
      (framing === "v2" ? WAL_RECORD_TRAILER_BYTES : 0);
    header = this.#cached(offset, diskBytes, fresh);
    const parsed = parseRecordAt(header, 0, offset, framing);
    if (parsed.status === "end") return undefined;
    if (parsed.status === "bad") {
      throw new CorruptionError(
        `Cannot read WAL record for replication: ${parsed.reason} at offset ${offset} in ${
          this.#segment!.path
        }`,
      );
    }
    const r = parsed.record;
    return {
      seq: r.seq,
      payload: r.payload,
      bytes: header.subarray(0, r.bodyEndOffset - offset),
      diskBytes,
      seal: r.type === WAL_RECORD_TYPE_SEAL,
    };
  }

  /** `bytes` bytes at `offset` (fewer at the end of the file), through the read cache. */
  #cached(offset: number, bytes: number, fresh: boolean): Uint8Array {
    const c = this.#chunk;
    if (
      !fresh && offset >= this.#chunkOffset && offset + bytes <= this.#chunkOffset + c.length
    ) {
      return c.subarray(offset - this.#chunkOffset, offset - this.#chunkOffset + bytes);
    }
    const size = Math.max(READ_CHUNK_BYTES, bytes);
    const buf = new Uint8Array(size);
    let done = 0;
    while (done < size) {
      const n = this.#file!.readAt(buf.subarray(done), offset + done);
      if (n === 0) break;
      done += n;
    }
    this.#chunk = buf.subarray(0, done);
    this.#chunkOffset = offset;
    return this.#chunk.subarray(0, Math.min(bytes, done));
  }

  /**
   * Moves to `position` (taken from another feed's result over the same WAL), so that a
   * session that was sent a shared frame continues after it without rescanning.
   */
  adopt(position: FeedPosition): void {
    if (this.#segment?.id !== position.segment.id) this.#open(position.segment);
    this.#offset = position.offset;
    this.#nextSeq = position.nextSeq;
  }

  #open(segment: SegmentInfo): void {
    this.close();
    this.#file = replicationPort(this.#db).fileSystem.open(segment.path);
    this.#segment = segment;
    // Past damage recovery skipped (the records before it are in tables).
    this.#offset = segment.firstOffset ?? WAL_SEGMENT_HEADER_BYTES;
    this.#chunk = new Uint8Array(0);
    this.#chunkOffset = 0;
  }

  /** Moves to the next segment holding records, if it starts at `#nextSeq`. */
  #advanceSegment(): boolean {
    const current = this.#segment!;
    const next = this.#db.walSegments().find((s) => s.id > current.id && s.firstSeq > 0);
    if (next === undefined || next.firstSeq !== this.#nextSeq) return false;
    this.#open(next);
    return true;
  }

  /** Positions the cursor on the record holding `fromSeq`; a result when it cannot. */
  #locate(fromSeq: number): FeedResult | undefined {
    const segments = this.#db.walSegments();
    const first = this.firstAvailableSeq();
    if (fromSeq < first) return { status: "gone", firstAvailableSeq: first };
    const holder = segments.find((s) =>
      s.firstSeq > 0 && s.firstSeq <= fromSeq && fromSeq <= s.lastSeq
    );
    if (holder === undefined) return { status: "gone", firstAvailableSeq: first };
    this.#open(holder);
    this.#nextSeq = holder.firstSeq;
    // Skip the records wholly below fromSeq (bounded by the segment's size).
    while (this.#nextSeq <= fromSeq) {
      const record = this.#recordAt(this.#offset, false);
      if (record === undefined) {
        throw new CorruptionError(
          `Cannot read WAL record for replication: end of data before sequence ${fromSeq} at offset ${this.#offset} in ${holder.path}`,
        );
      }
      if (record.seal) break; // the segment ends before fromSeq: the reader moves on
      const next = record.seq + batchOpCount(record.payload);
      if (next > fromSeq) break; // this record holds fromSeq: send it (the replica trims)
      this.#nextSeq = next;
      this.#offset += record.diskBytes;
    }
    return undefined;
  }
}
