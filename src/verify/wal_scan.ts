/**
 * `scanSegment`: reads one WAL segment without trusting it, for `verify` and `salvage`
 * (ARCHITECTURE.md § "Verify and salvage"). It never writes (recovery's `recoverWal` cuts torn
 * tails; this only reports them) and it does not stop at a bad record: it resynchronizes on
 * the next offset where a record's length, checksum and type hold, so every intact record of
 * the segment is returned. The record format is `src/wal/format.ts`'s (`parseRecordAt`,
 * `decodeBatch`), so both readers agree on what a good record is.
 *
 * @module
 */

import { CorruptionError } from "../errors.ts";
import { type FileSystem, readWholeFile } from "../fs/mod.ts";
import { WAL_SEGMENT_SIZE_BYTES_MAX } from "../limits.ts";
import type { Entry } from "../util/entry.ts";
import {
  decodeBatch,
  decodeSegmentHeader,
  framingOf,
  parseRecordAt,
  parseSegmentFileName,
  type RecordFraming,
  WAL_FORMAT_VERSION,
  WAL_RECORD_TYPE_SEAL,
  WAL_SEGMENT_HEADER_BYTES,
} from "../wal/format.ts";
import { checkValues, type Finding, finding, type ValueCheck } from "./findings.ts";

/** Damage at the end of a segment, after its last intact record. */
export interface SegmentTail {
  /** Offset of the first bad byte. */
  offset: number;
  /** Bytes up to the last non-zero byte. */
  sizeBytes: number;
  /** Why the record there was rejected. */
  reason: string;
}

/** Everything `scanSegment` learned about one segment file. */
export interface SegmentScan {
  /** The file. */
  path: string;
  /** The id in its name. */
  id: number;
  /** Intact records read. */
  records: number;
  /** Sequence of the first op of the first intact record; 0 when none. */
  firstSeq: number;
  /** Sequence of the last op of the last intact record; 0 when none. */
  lastSeq: number;
  /** Damage before the last intact record, and header problems. */
  findings: Finding[];
  /** Damage after the last intact record: a torn write in the newest segment, else damage. */
  tail?: SegmentTail;
}

function lastNonZero(buf: Uint8Array, from: number): number {
  for (let i = buf.length - 1; i >= from; i--) if (buf[i] !== 0) return i;
  return -1;
}

/** The first offset at or after `from` where an intact record starts, or -1. */
function nextRecord(buf: Uint8Array, from: number, framing: RecordFraming): number {
  for (let y = from; y + 4 <= buf.length; y++) {
    // A record's length is at least 1: offsets with four zero length bytes cannot start one.
    if (buf[y] === 0 && buf[y + 1] === 0 && buf[y + 2] === 0 && buf[y + 3] === 0) continue;
    if (parseRecordAt(buf, y, 0, framing).status === "record") return y;
  }
  return -1;
}

/**
 * Reads every intact record of the segment at `path`, calling `onBatch(seq, entries)` for
 * each in file order, and reports what is damaged, values included (`checks`: a put whose
 * value fails one is a finding with the record's offset and the key). Never throws on bad
 * content.
 */
export function scanSegment(
  fs: FileSystem,
  path: string,
  onBatch?: (seq: number, entries: Entry[]) => void,
  checks: readonly ValueCheck[] = [],
): SegmentScan {
  const name = path.slice(path.lastIndexOf("/") + 1);
  const scan: SegmentScan = {
    path,
    id: parseSegmentFileName(name) ?? 0,
    records: 0,
    firstSeq: 0,
    lastSeq: 0,
    findings: [],
  };
  const size = fs.stat(path)?.size ?? 0;
  if (size > WAL_SEGMENT_SIZE_BYTES_MAX) {
    scan.findings.push(finding(
      "corrupt",
      path,
      "WAL segment",
      { offset: 0, sizeBytes: size },
      `Cannot read WAL segment: size ${size} exceeds the limit of ${WAL_SEGMENT_SIZE_BYTES_MAX} at offset 0 in ${path}`,
    ));
    return scan;
  }
  const buf = readWholeFile(fs, path);
  // A damaged header hides the version: this build's is the likely one.
  let framing: RecordFraming = framingOf(WAL_FORMAT_VERSION);
  try {
    const header = decodeSegmentHeader(buf, path);
    framing = framingOf(header.version);
    if (header.id !== scan.id) {
      throw new CorruptionError(
        `Cannot read WAL segment header: id ${header.id} does not match the file name at offset 16 in ${path}`,
      );
    }
  } catch (err) {
    if (!(err instanceof CorruptionError)) throw err;
    // The records after a damaged header are still worth reading.
    scan.findings.push(finding("corrupt", path, "WAL segment header", {
      offset: 0,
      sizeBytes: Math.min(buf.length, WAL_SEGMENT_HEADER_BYTES),
    }, err.message));
  }
  let at = WAL_SEGMENT_HEADER_BYTES;
  // After a damaged stretch the next intact record's sequence jumps by the ops lost there,
  // which the finding for that stretch already explains.
  let afterDamage = false;
  while (at < buf.length) {
    const parsed = parseRecordAt(buf, at, 0, framing);
    if (parsed.status === "record" && parsed.record.type === WAL_RECORD_TYPE_SEAL) {
      at = parsed.record.endOffset; // a SEAL closes the segment and holds no op
      continue;
    }
    if (parsed.status === "record") {
      const record = parsed.record;
      try {
        const entries = decodeBatch(record.payload, record.seq);
        if (scan.lastSeq !== 0 && record.seq !== scan.lastSeq + 1 && !afterDamage) {
          scan.findings.push(finding(
            "corrupt",
            path,
            "WAL record",
            { offset: at, sizeBytes: record.endOffset - at },
            `Cannot read WAL record: sequence ${record.seq} where ${
              scan.lastSeq + 1
            } was expected (gap or repeat) at offset ${at} in ${path}`,
          ));
        }
        if (scan.firstSeq === 0) scan.firstSeq = record.seq;
        scan.lastSeq = record.seq + entries.length - 1;
        scan.records++;
        afterDamage = false;
        if (checks.length > 0) {
          const where = { offset: at, sizeBytes: record.endOffset - at };
          for (const e of entries) checkValues(checks, e, path, where, "WAL record", scan.findings);
        }
        onBatch?.(record.seq, entries);
      } catch (err) {
        if (!(err instanceof CorruptionError)) throw err;
        scan.findings.push(finding(
          "corrupt",
          path,
          "WAL record",
          { offset: at, sizeBytes: record.endOffset - at },
          `Cannot read WAL record: bad batch (${err.message}) at offset ${at} in ${path}`,
        ));
        afterDamage = true;
      }
      at = record.endOffset;
      continue;
    }
    const reason = parsed.status === "end"
      ? "non-zero bytes after the end-of-data mark"
      : parsed.reason;
    const last = lastNonZero(buf, at);
    if (last < 0) break; // the end-of-data mark and zeros to the end: clean
    const resume = nextRecord(buf, at + 1, framing);
    if (resume < 0) {
      scan.tail = { offset: at, sizeBytes: last + 1 - at, reason };
      break;
    }
    scan.findings.push(finding(
      "corrupt",
      path,
      "WAL record",
      { offset: at, sizeBytes: resume - at },
      `Cannot read WAL record: ${reason} at offset ${at} in ${path} (an intact record follows at offset ${resume})`,
    ));
    afterDamage = true;
    at = resume;
  }
  return scan;
}
