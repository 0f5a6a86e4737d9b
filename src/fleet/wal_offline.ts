/**
 * Reading an edge's WAL without opening its database (the edge may be stopped, or running:
 * segments are append-only and the newest one may end in a record still being written), for
 * `cityhall export` and `cityhall uplink status`.
 *
 * A bad record ends the newest segment that holds records (a write in flight, or a torn tail
 * recovery will cut); anywhere else it is corruption and throws `CorruptionError`, like
 * `Database.open` would.
 *
 * @module
 */

import { CityHallError, CorruptionError } from "../errors.ts";
import { type FileSystem, joinPath } from "../fs/mod.ts";
import { batchOpCount, parseRecordAt, WAL_SEGMENT_HEADER_BYTES } from "../wal/format.ts";
import { listSegmentIds, readSegmentRecords, segmentFileName } from "../wal/mod.ts";

/** One record read offline. */
export interface OfflineRecord {
  /** Sequence of its first op. */
  seq: number;
  /** Ops in it. */
  ops: number;
  /** Its batch payload. */
  payload: Uint8Array;
}

/** One segment as seen offline. */
export interface OfflineSegment {
  id: number;
  path: string;
  /** First sequence in it; 0 when it holds no record. */
  firstSeq: number;
  sizeBytes: number;
}

function walDir(dataDir: string): string {
  return joinPath(dataDir, "wal");
}

/** The first record's sequence of a segment (0 when empty), reading only its start. */
function firstSeqOf(fs: FileSystem, path: string): number {
  const file = fs.open(path);
  try {
    const head = new Uint8Array(WAL_SEGMENT_HEADER_BYTES + 17);
    const n = file.readAt(head, 0);
    if (n < head.length) return 0;
    const view = new DataView(head.buffer, WAL_SEGMENT_HEADER_BYTES);
    if (view.getUint32(0, true) === 0) return 0;
    const lo = view.getUint32(8, true);
    const hi = view.getUint32(12, true);
    return hi * 2 ** 32 + lo;
  } finally {
    file.close();
  }
}

/** The segments of `dataDir`'s WAL, oldest first. */
export function walSegmentsOffline(fs: FileSystem, dataDir: string): OfflineSegment[] {
  const dir = walDir(dataDir);
  if (fs.stat(dir) === undefined) return [];
  return listSegmentIds(fs, dir).map((id) => {
    const path = joinPath(dir, segmentFileName(id));
    return { id, path, firstSeq: firstSeqOf(fs, path), sizeBytes: fs.stat(path)?.size ?? 0 };
  });
}

/**
 * Records from the one holding `fromSeq` to the end of the WAL, in order. Throws
 * `CityHallError` when the WAL does not hold `fromSeq` (its records start later), and
 * `CorruptionError` on damage outside the newest segment's tail.
 */
export function* readWalOffline(
  fs: FileSystem,
  dataDir: string,
  fromSeq: number,
): Generator<OfflineRecord, void, undefined> {
  const segments = walSegmentsOffline(fs, dataDir).filter((s) => s.firstSeq > 0);
  const first = segments[0]?.firstSeq;
  if (first !== undefined && first > fromSeq) {
    throw new CityHallError(
      `The WAL no longer holds sequence ${fromSeq} (it starts at ${first})`,
    );
  }
  const start = segments.findLastIndex((s) => s.firstSeq <= fromSeq);
  let next = -1;
  for (let i = Math.max(0, start); i < segments.length; i++) {
    const segment = segments[i]!;
    const newest = i === segments.length - 1;
    try {
      for (const record of readSegmentRecords(fs, segment.path)) {
        const ops = batchOpCount(record.payload);
        if (next !== -1 && record.seq !== next) {
          throw new CorruptionError(
            `Cannot read WAL record: sequence ${record.seq} where ${next} was expected in ${segment.path}`,
          );
        }
        next = record.seq + ops;
        if (next - 1 < fromSeq) continue;
        yield { seq: record.seq, ops, payload: record.payload };
      }
    } catch (err) {
      // The newest segment may end in a record being written right now.
      if (!newest || !(err instanceof CorruptionError) || /sequence/.test(err.message)) throw err;
    }
  }
}

/** The last sequence in `dataDir`'s WAL (0 when it holds none), reading only the newest segment. */
export function lastSeqOffline(fs: FileSystem, dataDir: string): number {
  const segments = walSegmentsOffline(fs, dataDir).filter((s) => s.firstSeq > 0);
  const newest = segments[segments.length - 1];
  if (newest === undefined) return 0;
  let last = newest.firstSeq - 1;
  const file = fs.open(newest.path);
  try {
    const buf = new Uint8Array(newest.sizeBytes);
    file.readAt(buf, 0);
    let at = WAL_SEGMENT_HEADER_BYTES;
    // Bounded: each pass moves past a record.
    while (at < buf.length) {
      const parsed = parseRecordAt(buf, at);
      if (parsed.status !== "record") break;
      last = parsed.record.seq + batchOpCount(parsed.record.payload) - 1;
      at = parsed.record.endOffset;
    }
  } finally {
    file.close();
  }
  return last;
}
