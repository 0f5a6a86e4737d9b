/**
 * The manifest: which SSTables are live, at which level, and up to which sequence number the
 * SSTables cover the log. Format: ARCHITECTURE.md § "Manifest".
 *
 * The whole state is small (table metadata only), so it is rewritten as one file on every
 * change and replaced atomically: `MANIFEST.tmp` -> fsync -> rename over `MANIFEST` -> fsync the
 * directory (`writeFileAtomic`). After a crash `MANIFEST` is either the old or the new state.
 * The engine writes through `ManifestStore` (`store.ts`), which also keeps the state before
 * the current one in `MANIFEST.prev`, so that one damaged copy does not stop the database.
 *
 * Invariants:
 * - Every table listed is durable (fsynced and its directory entry fsynced) before the
 *   manifest that lists it is written.
 * - `flushedSeq` only grows: every write with `seq <= flushedSeq` is in a listed table, so the
 *   WAL is replayed from `flushedSeq + 1` and segments ending at or below it may go.
 * - `nextFileNumber` is greater than every file number listed or ever handed out before the
 *   manifest was written, so a file left by a crash never collides with a new one.
 * - `historyId` names the history the sequence numbers belong to: the database id until an
 *   operator recovers past WAL damage, which forks a new history (`ancestors` remembers the old
 *   ones and where each forked). A sequence number means one write within one history only.
 *   The file is written as version 1 while the history is the database's own, version 2 after.
 *
 * @module
 */

import { CorruptionError } from "../errors.ts";
import {
  type FileSystem,
  joinPath,
  readWholeFile,
  writeFileAtomic,
  writeFileAtomicAsync,
} from "../fs/mod.ts";
import { HISTORY_ANCESTORS_MAX, LSM_LEVELS_MAX, MANIFEST_SIZE_BYTES_MAX } from "../limits.ts";
import { assert } from "../util/assert.ts";
import { compareBytes } from "../util/bytes.ts";
import { getVarint, putVarint, varintLength, viewOf } from "../util/coding.ts";
import { crc32c, maskCrc, unmaskCrc } from "../util/crc32c.ts";

/** File name of the manifest inside the data directory. */
export const MANIFEST_FILE_NAME = "MANIFEST";
/** "CHMANIFS" as bytes. */
export const MANIFEST_MAGIC = new Uint8Array([0x43, 0x48, 0x4d, 0x41, 0x4e, 0x49, 0x46, 0x53]);
/** Manifest format version of a database whose history never forked. */
export const MANIFEST_FORMAT_VERSION = 1;
/** Manifest format version that adds the history id and its ancestors (after a fork). */
export const MANIFEST_FORMAT_VERSION_HISTORY = 2;
/** Bytes before the payload: magic 8, version u32, payload length u32, masked crc u32. */
export const MANIFEST_HEADER_BYTES = 20;
/** Bytes in a database id. */
export const DATABASE_ID_BYTES = 16;

/** One live SSTable. */
export interface TableMeta {
  /** The table's file number: its file is `%06d.sst`. */
  fileNumber: number;
  /** Level in the LSM tree (0 = newest). */
  level: number;
  /** File size in bytes. */
  sizeBytes: number;
  /** Entries stored (tombstones included). */
  entries: number;
  /** Smallest sequence number in the table. */
  minSeq: number;
  /** Largest sequence number in the table. */
  maxSeq: number;
  /** Smallest key. */
  smallestKey: Uint8Array;
  /** Largest key. */
  largestKey: Uint8Array;
}

/** A history this database's history forked from. */
export interface HistoryAncestor {
  /** That history's id. */
  historyId: Uint8Array;
  /** The last sequence it shares with the history that followed it. */
  forkSeq: number;
}

/** The durable state of the LSM tree. */
export interface ManifestState {
  /** Random id given at creation; never changes. */
  databaseId: Uint8Array;
  /**
   * The history the sequence numbers belong to (replication's leader id): the database id
   * until a recovery past WAL damage forks a new one.
   */
  historyId: Uint8Array;
  /** Older histories, oldest first, with the sequence where each forked (at most `HISTORY_ANCESTORS_MAX`). */
  ancestors: HistoryAncestor[];
  /** Next file number to hand out for an SSTable. */
  nextFileNumber: number;
  /** Every write with `seq <= flushedSeq` is in the tables listed. */
  flushedSeq: number;
  /** Live tables. Within a level, newest first. */
  tables: TableMeta[];
}

/** The name of the SSTable file with `fileNumber`. */
export function tableFileName(fileNumber: number): string {
  return `${String(fileNumber).padStart(6, "0")}.sst`;
}

/** A fresh state for a new database. */
export function newManifestState(): ManifestState {
  const databaseId = crypto.getRandomValues(new Uint8Array(DATABASE_ID_BYTES));
  return {
    databaseId,
    historyId: databaseId,
    ancestors: [],
    nextFileNumber: 1,
    flushedSeq: 0,
    tables: [],
  };
}

/** True when the state's history is not the database's own (version 2 is needed). */
function forked(state: ManifestState): boolean {
  return state.ancestors.length > 0 || !sameId(state.historyId, state.databaseId);
}

function sameId(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Encodes a state into the manifest file format. */
export function encodeManifest(state: ManifestState): Uint8Array {
  assert(state.databaseId.length === DATABASE_ID_BYTES, "database id length");
  assert(state.historyId.length === DATABASE_ID_BYTES, "history id length");
  assert(state.ancestors.length <= HISTORY_ANCESTORS_MAX, "too many ancestors");
  const history = forked(state);
  let size = DATABASE_ID_BYTES + varintLength(state.nextFileNumber) +
    varintLength(state.flushedSeq) + varintLength(state.tables.length);
  if (history) {
    size += DATABASE_ID_BYTES + varintLength(state.ancestors.length);
    for (const a of state.ancestors) size += DATABASE_ID_BYTES + varintLength(a.forkSeq);
  }
  for (const t of state.tables) {
    assert(t.fileNumber < state.nextFileNumber, "table file number below nextFileNumber");
    assert(compareBytes(t.smallestKey, t.largestKey) <= 0, "smallest key <= largest key");
    size += varintLength(t.fileNumber) + varintLength(t.level) + varintLength(t.sizeBytes) +
      varintLength(t.entries) + varintLength(t.minSeq) + varintLength(t.maxSeq) +
      varintLength(t.smallestKey.length) + t.smallestKey.length +
      varintLength(t.largestKey.length) + t.largestKey.length;
  }
  const out = new Uint8Array(MANIFEST_HEADER_BYTES + size);
  const view = viewOf(out);
  out.set(MANIFEST_MAGIC, 0);
  view.setUint32(8, history ? MANIFEST_FORMAT_VERSION_HISTORY : MANIFEST_FORMAT_VERSION, true);
  view.setUint32(12, size, true);
  let o = MANIFEST_HEADER_BYTES;
  out.set(state.databaseId, o);
  o += DATABASE_ID_BYTES;
  o = putVarint(out, o, state.nextFileNumber);
  o = putVarint(out, o, state.flushedSeq);
  o = putVarint(out, o, state.tables.length);
  for (const t of state.tables) {
    o = putVarint(out, o, t.fileNumber);
    o = putVarint(out, o, t.level);
    o = putVarint(out, o, t.sizeBytes);
    o = putVarint(out, o, t.entries);
    o = putVarint(out, o, t.minSeq);
    o = putVarint(out, o, t.maxSeq);
    o = putVarint(out, o, t.smallestKey.length);
    out.set(t.smallestKey, o);
    o += t.smallestKey.length;
    o = putVarint(out, o, t.largestKey.length);
    out.set(t.largestKey, o);
    o += t.largestKey.length;
  }
  if (history) {
    out.set(state.historyId, o);
    o += DATABASE_ID_BYTES;
    o = putVarint(out, o, state.ancestors.length);
    for (const a of state.ancestors) {
      assert(a.historyId.length === DATABASE_ID_BYTES, "ancestor id length");
      out.set(a.historyId, o);
      o += DATABASE_ID_BYTES;
      o = putVarint(out, o, a.forkSeq);
    }
  }
  assert(o === out.length, "manifest size accounting");
  view.setUint32(16, maskCrc(crc32c(out, MANIFEST_HEADER_BYTES)), true);
  return out;
}

/** Decodes and verifies a manifest file; throws `CorruptionError` naming `where`. */
export function decodeManifest(bytes: Uint8Array, where = MANIFEST_FILE_NAME): ManifestState {
  const fail = (what: string, offset: number): never => {
    throw new CorruptionError(`Cannot read manifest: ${what} at offset ${offset} in ${where}`);
  };
  if (bytes.length < MANIFEST_HEADER_BYTES) fail("file shorter than its header", 0);
  for (let i = 0; i < MANIFEST_MAGIC.length; i++) {
    if (bytes[i] !== MANIFEST_MAGIC[i]) fail("bad magic", 0);
  }
  const view = viewOf(bytes);
  const version = view.getUint32(8, true);
  if (version !== MANIFEST_FORMAT_VERSION && version !== MANIFEST_FORMAT_VERSION_HISTORY) {
    fail(`unsupported format version ${version}`, 8);
  }
  const size = view.getUint32(12, true);
  if (size !== bytes.length - MANIFEST_HEADER_BYTES) fail("payload length mismatch", 12);
  const stored = unmaskCrc(view.getUint32(16, true));
  if (crc32c(bytes, MANIFEST_HEADER_BYTES) !== stored) fail("checksum mismatch", 16);
  try {
    let o = MANIFEST_HEADER_BYTES;
    const end = bytes.length;
    const next = () => {
      const r = getVarint(bytes, o, end);
      o = r.offset;
      return r.value;
    };
    const take = (n: number) => {
      if (o + n > end) fail("truncated field", o);
      const b = bytes.slice(o, o + n);
      o += n;
      return b;
    };
    const databaseId = take(DATABASE_ID_BYTES);
    const nextFileNumber = next();
    const flushedSeq = next();
    const count = next();
    if (count > size) fail("table count too large", o);
    const tables: TableMeta[] = [];
    for (let i = 0; i < count; i++) {
      const fileNumber = next();
      const level = next();
      const sizeBytes = next();
      const entries = next();
      const minSeq = next();
      const maxSeq = next();
      const smallestKey = take(next());
      const largestKey = take(next());
      if (fileNumber >= nextFileNumber) fail("table file number not below nextFileNumber", o);
      if (minSeq > maxSeq) fail("table minSeq above maxSeq", o);
      if (level >= LSM_LEVELS_MAX) fail(`table level ${level} not below ${LSM_LEVELS_MAX}`, o);
      if (compareBytes(smallestKey, largestKey) > 0) fail("table smallest key above largest", o);
      tables.push({
        fileNumber,
        level,
        sizeBytes,
        entries,
        minSeq,
        maxSeq,
        smallestKey,
        largestKey,
      });
    }
    let historyId = databaseId;
    const ancestors: HistoryAncestor[] = [];
    if (version === MANIFEST_FORMAT_VERSION_HISTORY) {
      historyId = take(DATABASE_ID_BYTES);
      const n = next();
      if (n > HISTORY_ANCESTORS_MAX) fail(`${n} ancestor histories`, o);
      for (let i = 0; i < n; i++) {
        ancestors.push({ historyId: take(DATABASE_ID_BYTES), forkSeq: next() });
      }
    }
    if (o !== end) fail("trailing bytes", o);
    return { databaseId, historyId, ancestors, nextFileNumber, flushedSeq, tables };
  } catch (err) {
    if (err instanceof CorruptionError) {
      throw new CorruptionError(`Cannot read manifest: ${err.message} in ${where}`);
    }
    throw err;
  }
}

/** Loads the manifest in `dir`, or `undefined` when there is none (a new database). */
export function loadManifest(fs: FileSystem, dir: string): ManifestState | undefined {
  const path = joinPath(dir, MANIFEST_FILE_NAME);
  const info = fs.stat(path);
  if (!info) return undefined;
  if (info.size > MANIFEST_SIZE_BYTES_MAX) {
    throw new CorruptionError(`Cannot read manifest: ${info.size} bytes exceeds limit in ${path}`);
  }
  return decodeManifest(readWholeFile(fs, path), path);
}

/** Durably replaces the manifest in `dir` with `state` (temp, fsync, rename, fsync dir). */
export function saveManifest(fs: FileSystem, dir: string, state: ManifestState): void {
  writeFileAtomic(fs, dir, MANIFEST_FILE_NAME, encodeManifest(state));
}

/** `saveManifest` with its fsyncs off the event loop. */
export function saveManifestAsync(
  fs: FileSystem,
  dir: string,
  state: ManifestState,
): Promise<void> {
  return writeFileAtomicAsync(fs, dir, MANIFEST_FILE_NAME, encodeManifest(state));
}

export {
  type LoadedManifests,
  loadManifests,
  MANIFEST_DAMAGED_FILE_NAME,
  MANIFEST_PREVIOUS_FILE_NAME,
  type ManifestRead,
  ManifestStore,
  readManifestFile,
  type SaveOptions,
} from "./store.ts";
