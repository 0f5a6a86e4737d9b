/**
 * Reading the WAL back: `readSegmentRecords` (one segment, for tools and replication) and
 * `recoverWal` (every segment at open, with the recovery rules). Format: `format.ts` and
 * ARCHITECTURE.md § "WAL" (§ "Recovery rules" states every rule below with its reason).
 *
 * Recovery rules:
 * - Segments are read in id order. A segment with a bad header (magic, version, checksum,
 *   reserved bytes, id not matching its name, size over `WAL_SEGMENT_SIZE_BYTES_MAX`) is
 *   corruption: headers are fsynced before a segment is renamed into place.
 * - A record whose checksums hold but whose content is invalid (unknown type, sequence 0, a
 *   batch that does not decode, an impossible synced-through offset) was written whole:
 *   corruption wherever it is.
 * - Sequences grow by one from record to record across segments. A repeat is corruption; so is
 *   a gap, unless every missing sequence is at or below `afterSeq` (already in tables).
 * - A bad record (or non-zero bytes after the end of data) is skipped when the next valid
 *   record after it starts at or below `afterSeq + 1`: everything it held is in tables.
 * - Otherwise, in any segment but the newest holding records (the "tail"), it is corruption:
 *   the writer fdatasyncs and seals a segment before it writes a byte into the next one.
 * - In the tail segment `judgeTail` (`_recovery_tail.ts`) tells a torn write from damage. A
 *   torn tail -- everything from the bad record to the last non-zero byte -- is cut: overwritten
 *   with zeros, fdatasync'ed and logged. Damage fails with `CorruptionError` naming file and
 *   offset, and changes nothing.
 * - Recovery then seals the tail segment (version 2) when its writer did not: every record in
 *   it has just been checked and is durable, so later damage to it is never taken for a tear.
 * - With `onDamage: "stop"` (an operator's explicit recovery past damage) the first damage
 *   ends the replay instead of failing: the result says where, what was kept and the highest
 *   sequence seen after it, and nothing is cut or sealed.
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
  encodeSealRecord,
  framingOf,
  type ParsedRecord,
  parseRecordAt,
  parseSegmentFileName,
  type RecordFraming,
  type SegmentHeader,
  WAL_FORMAT_VERSION_1,
  WAL_RECORD_TYPE_SEAL,
  WAL_SEAL_RECORD_BYTES,
  WAL_SEGMENT_HEADER_BYTES,
  WAL_TMP_SUFFIX,
  type WalRecord,
} from "./format.ts";
import {
  appendDurably,
  findValidRecord,
  forEachValidRecord,
  lastNonZero,
  lastSeqOf,
  zeroRange,
} from "./_recovery_scan.ts";
import { judgeTail } from "./_recovery_tail.ts";

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
  /** Format version (absent: this build's). */
  version?: number;
  /**
   * Offset of the first record readers may use (absent: right after the header). Recovery
   * sets it past damage it skipped: the records before it are in tables and are not shipped.
   */
  firstOffset?: number;
}

/** Options of `recoverWal`. */
export interface RecoverWalOptions {
  /** Ops with a sequence at or below this are already stored elsewhere; default 0. */
  afterSeq?: number;
  /** Called in sequence order with the ops of each record above `afterSeq`. */
  onBatch?: (seq: number, entries: Entry[]) => void;
  /** Receives a warning when a torn tail is cut or damage is skipped. */
  logger?: Logger;
  /**
   * "throw" (default): damage fails with `CorruptionError`. "stop": the replay ends at the
   * first damage, reported in `damage` (recovery past damage, by an operator's choice).
   */
  onDamage?: "throw" | "stop";
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

/** Damage recovery skipped because every record it held is at or below `afterSeq`. */
export interface SkippedDamage {
  /** The segment file. */
  path: string;
  /** Offset of the bad record. */
  offset: number;
  /** Why it is bad. */
  reason: string;
}

/** The damage that ended a replay with `onDamage: "stop"`. */
export interface WalDamage {
  /** The segment file. */
  path: string;
  /** Offset of the bad record. */
  offset: number;
  /** The error a default recovery would have thrown. */
  message: string;
  /** Last sequence replayed before it (at least `afterSeq`). */
  keptSeq: number;
  /** Highest sequence in any valid record after it (0 when none). */
  highestSeqAfter: number;
}

/** The result of `recoverWal`. */
export interface RecoveredWal {
  /** Every segment, in id order, including empty ones (up to the damaged one, on "stop"). */
  segments: SegmentInfo[];
  /** Highest sequence replayed (0 when none). */
  lastSeq: number;
  /** The id the writer should use for its first segment. */
  nextSegmentId: number;
  /** Set when a torn tail was cut. */
  tornTail?: TornTail;
  /** Damage skipped because it held nothing above `afterSeq` (empty when none). */
  skippedDamage: SkippedDamage[];
  /** Set, with `onDamage: "stop"`, when the replay ended at damage. */
  damage?: WalDamage;
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
 * Yields the BATCH records of one segment from `fromOffset` (a record boundary; default the
 * first record) up to the end of data, skipping its SEAL. Checks the header first. A bad record
 * throws `CorruptionError` naming the file and offset: this reader never guesses about torn
 * tails (recovery has already cut them). Payloads are views into one buffer read at the start.
 */
export function* readSegmentRecords(
  fs: FileSystem,
  path: string,
  fromOffset: number = WAL_SEGMENT_HEADER_BYTES,
): Generator<WalRecord, void, undefined> {
  assert(fromOffset >= WAL_SEGMENT_HEADER_BYTES, "fromOffset inside the segment header");
  const buf = readSegmentFile(fs, path);
  const name = path.slice(path.lastIndexOf("/") + 1);
  const framing = framingOf(checkHeader(buf, path, parseSegmentFileName(name)).version);
  let at = fromOffset;
  while (at < buf.length) {
    const parsed = parseRecordAt(buf, at, 0, framing);
    if (parsed.status === "end") return;
    if (parsed.status === "bad") {
      throw new CorruptionError(
        `Cannot read WAL record: ${parsed.reason} at offset ${at} in ${path}`,
      );
    }
    if (parsed.record.type !== WAL_RECORD_TYPE_SEAL) yield parsed.record;
    at = parsed.record.endOffset;
  }
}

/**
 * True when the segment holds a non-zero byte anywhere after its header. Not only where the
 * first record goes: a power loss may persist a later sector of the first write and lose the
 * first one, and that segment is then the one that ends torn.
 */
function hasRecords(fs: FileSystem, path: string): boolean {
  const file = fs.open(path);
  try {
    const chunk = new Uint8Array(PROBE_CHUNK_BYTES);
    for (let at = WAL_SEGMENT_HEADER_BYTES;; at += chunk.length) {
      const n = file.readAt(chunk, at);
      if (n === 0) return false;
      if (lastNonZero(chunk.subarray(0, n), 0) >= 0) return true;
    }
  } finally {
    file.close();
  }
}

const PROBE_CHUNK_BYTES = 1 << 20;

/** Damage found in a segment with nothing valid after it there: the next record decides. */
interface PendingDamage {
  path: string;
  offset: number;
  reason: string;
  info: SegmentInfo;
}

/** Thrown inside the replay to stop it at damage ("stop" mode). */
class StopAtDamage extends Error {
  constructor(readonly error: CorruptionError, readonly path: string, readonly offset: number) {
    super(error.message);
  }
}

/**
 * Replays every segment in `dir` in sequence order (see the module comment for the rules),
 * removes leftover `.wal.tmp` files, cuts a torn tail, seals the tail segment and returns what
 * the writer needs. Throws `CorruptionError` naming file and offset on damage (unless
 * `onDamage` is "stop").
 */
export function recoverWal(
  fs: FileSystem,
  dir: string,
  options: RecoverWalOptions = {},
): RecoveredWal {
  const afterSeq = options.afterSeq ?? 0;
  assert(Number.isSafeInteger(afterSeq) && afterSeq >= 0, "afterSeq out of range");
  const removed = removeTempSegments(fs, dir);
  if (removed > 0) {
    options.logger?.("info", "removed unfinished WAL segments", { dir, files: removed });
  }
  const ids = listSegmentIds(fs, dir);
  const paths = ids.map((id) => joinPath(dir, `${String(id).padStart(6, "0")}.wal`));
  const replay = new Replay(fs, options, afterSeq);
  let tailIndex = -1;
  for (let i = ids.length - 1; i >= 0; i--) {
    if (hasRecords(fs, paths[i]!)) {
      tailIndex = i;
      break;
    }
  }
  const result: RecoveredWal = {
    segments: replay.segments,
    lastSeq: 0,
    nextSegmentId: ids.length > 0 ? ids[ids.length - 1]! + 1 : 1,
    skippedDamage: replay.skipped,
  };
  try {
    for (let i = 0; i < ids.length; i++) replay.segment(ids[i]!, paths[i]!, i === tailIndex);
    replay.finish();
  } catch (err) {
    if (!(err instanceof StopAtDamage)) throw err;
    result.damage = {
      path: err.path,
      offset: err.offset,
      message: err.error.message,
      keptSeq: Math.max(replay.lastSeq, afterSeq),
      highestSeqAfter: highestSeqFrom(fs, paths, err.path, err.offset),
    };
  }
  result.lastSeq = replay.lastSeq;
  if (replay.tornTail) result.tornTail = replay.tornTail;
  return result;
}

/** The highest sequence in any valid record after `offset` of `path` and in later segments. */
function highestSeqFrom(fs: FileSystem, paths: string[], path: string, offset: number): number {
  let highest = 0;
  for (let i = paths.indexOf(path); i >= 0 && i < paths.length; i++) {
    let buf: Uint8Array;
    let framing: RecordFraming;
    try {
      buf = readSegmentFile(fs, paths[i]!);
      framing = framingOf(decodeSegmentHeader(buf, paths[i]!).version);
    } catch {
      continue;
    }
    const from = paths[i] === path ? offset + 1 : WAL_SEGMENT_HEADER_BYTES;
    forEachValidRecord(buf, from, lastNonZero(buf, from) + 1, framing, 1, (r) => {
      highest = Math.max(highest, lastSeqOf(r));
    });
  }
  return highest;
}

/** The state of one recovery pass. */
class Replay {
  readonly segments: SegmentInfo[] = [];
  readonly skipped: SkippedDamage[] = [];
  lastSeq = 0;
  tornTail: TornTail | undefined;
  #pending: PendingDamage | undefined;
  #tail: { path: string; info: SegmentInfo; sealed: boolean; capacity: number } | undefined;
  readonly #fs: FileSystem;
  readonly #options: RecoverWalOptions;
  readonly #afterSeq: number;

  constructor(fs: FileSystem, options: RecoverWalOptions, afterSeq: number) {
    this.#fs = fs;
    this.#options = options;
    this.#afterSeq = afterSeq;
  }

  #corrupt(path: string, offset: number, reason: string): never {
    const error = new CorruptionError(
      `Cannot read WAL record: ${reason} at offset ${offset} in ${path}`,
    );
    if (this.#options.onDamage === "stop") throw new StopAtDamage(error, path, offset);
    throw error;
  }

  /** True when a record at sequence `seq` may follow the records replayed so far. */
  #mayFollow(seq: number): boolean {
    return seq === this.lastSeq + 1 || (seq > this.lastSeq && seq <= this.#afterSeq + 1);
  }

  /** Replays one segment. */
  segment(id: number, path: string, isTail: boolean): void {
    let buf: Uint8Array;
    let header: SegmentHeader;
    try {
      buf = readSegmentFile(this.#fs, path);
      header = checkHeader(buf, path, id);
    } catch (err) {
      // A bad header is damage like any other; "stop" mode ends the replay there.
      if (!(err instanceof CorruptionError) || this.#options.onDamage !== "stop") throw err;
      throw new StopAtDamage(err, path, 0);
    }
    const framing = framingOf(header.version);
    const info: SegmentInfo = { id, path, firstSeq: 0, lastSeq: 0, sizeBytes: buf.length };
    if (header.version === WAL_FORMAT_VERSION_1) info.version = WAL_FORMAT_VERSION_1;
    this.segments.push(info);
    let sealed = false;
    let at = WAL_SEGMENT_HEADER_BYTES;
    for (;;) {
      const parsed: ParsedRecord = at < buf.length
        ? parseRecordAt(buf, at, 0, framing)
        : { status: "end" };
      let reason: string | undefined;
      if (sealed || parsed.status === "end") {
        // Nothing follows a SEAL: whatever is there, valid or not, is judged as stray bytes.
        if (lastNonZero(buf, at) < 0) break;
        reason = sealed
          ? "non-zero bytes after the segment's SEAL"
          : "non-zero bytes after the end-of-data mark";
      } else if (parsed.status === "bad") {
        if (parsed.checksummed) {
          this.#corrupt(path, at, `${parsed.reason} (the checksum holds, so not a torn write)`);
        }
        reason = parsed.reason;
      }
      if (reason !== undefined) {
        const next = this.#afterBad(buf, at, reason, { path, info, isTail, framing, header });
        if (next === undefined) break;
        at = next;
        continue;
      }
      if (parsed.status !== "record") break;
      const record = parsed.record;
      this.#resolvePending(record);
      if (record.type === WAL_RECORD_TYPE_SEAL) {
        if (!this.#mayFollow(record.seq)) {
          this.#corrupt(path, at, `SEAL with sequence ${record.seq} after ${this.lastSeq}`);
        }
        sealed = true;
      } else {
        this.#batch(record, path, at, info);
      }
      at = record.endOffset;
    }
    info.sizeBytes = at;
    if (isTail) this.#tail = { path, info, sealed, capacity: buf.length };
  }

  /** Replays one BATCH record. */
  #batch(record: WalRecord, path: string, at: number, info: SegmentInfo): void {
    const fail = (reason: string): never => this.#corrupt(path, at, reason);
    if (!this.#mayFollow(record.seq)) {
      fail(
        this.lastSeq === 0
          ? `first record has sequence ${record.seq} but recovery starts after ${this.#afterSeq} (records are missing)`
          : `sequence ${record.seq} where ${this.lastSeq + 1} was expected (gap or repeat)`,
      );
    }
    let count = 0;
    try {
      count = batchOpCount(record.payload);
      if (count < 1 || count > BATCH_OPS_MAX) fail(`bad batch op count ${count}`);
      if (record.seq + count - 1 > this.#afterSeq) {
        const entries = decodeBatch(record.payload, record.seq);
        const newer = record.seq > this.#afterSeq
          ? entries
          : entries.slice(this.#afterSeq - record.seq + 1);
        this.#options.onBatch?.(newer[0]!.seq, newer);
      }
    } catch (err) {
      if (
        err instanceof StopAtDamage ||
        !(err instanceof CorruptionError) || err.message.startsWith("Cannot read WAL")
      ) {
        throw err;
      }
      fail(`bad batch (${err.message})`);
    }
    if (info.firstSeq === 0) info.firstSeq = record.seq;
    this.lastSeq = record.seq + count - 1;
    info.lastSeq = this.lastSeq;
  }

  /**
   * Handles a bad record (or stray bytes) at `at`: skips it, defers it to the next segment,
   * cuts it as a torn tail or fails. Returns where the replay goes on in this segment, or
   * undefined when this segment is done.
   */
  #afterBad(
    buf: Uint8Array,
    at: number,
    reason: string,
    where: {
      path: string;
      info: SegmentInfo;
      isTail: boolean;
      framing: RecordFraming;
      header: SegmentHeader;
    },
  ): number | undefined {
    const { path, info, isTail } = where;
    const to = lastNonZero(buf, at) + 1;
    const next = findValidRecord(buf, at + 1, to, where.framing, this.lastSeq + 1);
    if (next !== undefined && next.seq <= this.#afterSeq + 1) {
      this.#skip(path, at, reason, info, next.offset);
      return next.offset;
    }
    if (!isTail) {
      if (next === undefined) {
        this.#pending = { path, offset: at, reason, info };
        return undefined;
      }
      this.#corrupt(
        path,
        at,
        `${reason} (a valid record follows at offset ${next.offset} in a segment the writer had synced, so this is not a torn write)`,
      );
    }
    const verdict = judgeTail(buf, at, to, where.header, this.lastSeq);
    if (!verdict.torn) this.#corrupt(path, at, `${reason} (${verdict.detail})`);
    if (this.#options.onDamage !== "stop") zeroRange(this.#fs, path, at, to);
    this.tornTail = { path, offset: at, bytes: to - at, reason };
    this.#options.logger?.("warn", "cut torn tail of WAL segment", {
      file: path,
      offset: at,
      bytes: to - at,
      reason,
      inFlightRecords: verdict.inFlightRecords,
      firstInFlightAt: verdict.firstInFlightAt,
    });
    return undefined;
  }

  #skip(path: string, offset: number, reason: string, info: SegmentInfo, resumeAt: number) {
    this.skipped.push({ path, offset, reason });
    // Readers of this segment (replication) start past the damage; what is before is in tables.
    info.firstOffset = resumeAt;
    info.firstSeq = 0;
    this.#options.logger?.("warn", "skipped WAL damage below the flushed sequence", {
      file: path,
      offset,
      reason,
      flushedSeq: this.#afterSeq,
    });
  }

  /** The first valid record after damage in an earlier segment decides what it was. */
  #resolvePending(record: WalRecord): void {
    const pending = this.#pending;
    if (pending === undefined) return;
    this.#pending = undefined;
    if (record.seq <= this.#afterSeq + 1) {
      this.#skip(pending.path, pending.offset, pending.reason, pending.info, pending.offset);
      pending.info.lastSeq = 0;
      return;
    }
    this.#corrupt(
      pending.path,
      pending.offset,
      `${pending.reason} (a later segment holds records, so this is not a torn write)`,
    );
  }

  /** After the last segment: unresolved damage fails; the tail segment gets its SEAL. */
  finish(): void {
    const pending = this.#pending;
    if (pending !== undefined) {
      this.#corrupt(
        pending.path,
        pending.offset,
        `${pending.reason} (a later segment was written after this one had been synced, so this is not a torn write)`,
      );
    }
    const tail = this.#tail;
    if (
      tail === undefined || tail.sealed || tail.info.version === WAL_FORMAT_VERSION_1 ||
      tail.info.lastSeq === 0 || this.#options.onDamage === "stop" ||
      tail.info.sizeBytes + WAL_SEAL_RECORD_BYTES > tail.capacity
    ) {
      return;
    }
    const at = tail.info.sizeBytes;
    appendDurably(this.#fs, tail.path, at, encodeSealRecord(tail.info.lastSeq + 1, at));
    tail.info.sizeBytes = at + WAL_SEAL_RECORD_BYTES;
  }
}
