/** Shared helpers of the WAL tests. */

import type { FileSystem } from "../../src/fs/mod.ts";
import type { FaultFs } from "../../src/fs/fault_fs.ts";
import type { Entry } from "../../src/util/entry.ts";
import { KIND_DELETE, KIND_PUT } from "../../src/util/entry.ts";
import {
  encodeBatch,
  encodeRecord,
  encodeSegmentHeader,
  readSegmentRecords,
  type RecoveredWal,
  recoverWal,
  type RecoverWalOptions,
  segmentFileName,
  WAL_FORMAT_VERSION_1,
  WAL_RECORD_TYPE_BATCH,
  WAL_SEGMENT_HEADER_BYTES,
  type WalOp,
  type WalRecord,
  WalWriter,
  type WalWriterOptions,
} from "../../src/wal/mod.ts";
import { randomFn } from "../_helpers/random.ts";

/** The WAL directory every FaultFs test uses. */
export const DIR = "/db/wal";

const encoder = new TextEncoder();

/** A put (or every 7th a delete) whose key and value name `i`. */
export function op(i: number): WalOp {
  const key = encoder.encode(`key-${i}`);
  if (i % 7 === 6) return { kind: KIND_DELETE, key };
  return {
    kind: KIND_PUT,
    key,
    value: encoder.encode(`value-${i}`),
    expireAtMs: i % 3 === 0 ? i : 0,
  };
}

/** `n` ops numbered from `first`. */
export function ops(first: number, n: number): WalOp[] {
  return Array.from({ length: n }, (_, i) => op(first + i));
}

/**
 * Writes `batches` with a fresh writer, one flush each (awaiting every `durable`), and closes
 * it. Returns the sequence of each batch.
 */
export async function writeWal(
  fs: FileSystem,
  batches: WalOp[][],
  options: Partial<WalWriterOptions> = {},
  dir = DIR,
): Promise<number[]> {
  const writer = WalWriter.open(fs, dir, { nextSeq: 1, segmentSizeBytes: 4096, ...options });
  const seqs: number[] = [];
  for (const batch of batches) {
    const { seq, durable } = writer.append(batch);
    seqs.push(seq);
    await durable;
  }
  await writer.close();
  return seqs;
}

/** Recovers `DIR` and collects every entry passed to `onBatch`. */
export function recoverEntries(
  fs: FileSystem,
  options: Omit<RecoverWalOptions, "onBatch"> = {},
  dir = DIR,
): { result: RecoveredWal; entries: Entry[]; batches: [number, number][] } {
  const entries: Entry[] = [];
  const batches: [number, number][] = [];
  const result = recoverWal(fs, dir, {
    ...options,
    onBatch: (seq, batch) => {
      batches.push([seq, batch.length]);
      entries.push(...batch);
    },
  });
  return { result, entries, batches };
}

/** The records of one segment. */
export function records(fs: FileSystem, path: string): WalRecord[] {
  return [...readSegmentRecords(fs, path)];
}

/** Overwrites bytes of a file in place, creating it when missing, and syncs. */
export function patch(fs: FileSystem, path: string, offset: number, data: Uint8Array): void {
  const file = fs.open(path, { write: true, create: true });
  try {
    file.writeAt(data, offset);
    file.sync();
  } finally {
    file.close();
  }
}

/** Reads `n` bytes at `offset`. */
export function readBytes(fs: FileSystem, path: string, offset: number, n: number): Uint8Array {
  const file = fs.open(path);
  try {
    const buf = new Uint8Array(n);
    const got = file.readAt(buf, offset);
    return buf.subarray(0, got);
  } finally {
    file.close();
  }
}

/** Keys of entries as strings, for compact assertions. */
export function keysOf(entries: readonly Entry[]): string[] {
  return entries.map((e) => new TextDecoder().decode(e.key));
}

/** A seeded PRNG (mulberry32) returning [0, 1). */
export function seededRandom(seed: number): () => number {
  return randomFn(seed);
}

/**
 * Writes `batches` like `writeWal`, each acknowledged, but never closes the writer: the process
 * dies (`processCrash`), so the last segment has no SEAL, as after a `kill -9`.
 */
export async function writeWalCrashed(
  fs: FaultFs,
  batches: WalOp[][],
  options: Partial<WalWriterOptions> = {},
): Promise<void> {
  const writer = WalWriter.open(fs, DIR, { nextSeq: 1, segmentSizeBytes: 4096, ...options });
  for (const batch of batches) await writer.append(batch).durable;
  fs.processCrash();
}

/**
 * Appends `batches` in one turn of the event loop, so that one flush writes them with one
 * `pwrite` and one fdatasync, then the process dies.
 */
export async function writeOneGroupCrashed(
  fs: FaultFs,
  batches: WalOp[][],
  options: Partial<WalWriterOptions> = {},
): Promise<void> {
  const writer = WalWriter.open(fs, DIR, { nextSeq: 1, segmentSizeBytes: 4096, ...options });
  await Promise.all(batches.map((b) => writer.append(b).durable));
  fs.processCrash();
}

/**
 * A version-1 segment, as builds before the synced-through trailer wrote it: header with
 * `unsyncedBytesMax`, records without trailers, zeros to `sizeBytes`.
 */
export function writeV1Segment(
  fs: FileSystem,
  id: number,
  unsyncedBytesMax: number,
  batches: { seq: number; ops: WalOp[] }[],
  sizeBytes = 4096,
): string {
  const buf = new Uint8Array(sizeBytes);
  buf.set(encodeSegmentHeader(id, WAL_FORMAT_VERSION_1, unsyncedBytesMax));
  let at = WAL_SEGMENT_HEADER_BYTES;
  for (const b of batches) {
    const record = encodeRecord(b.seq, WAL_RECORD_TYPE_BATCH, encodeBatch(b.ops));
    buf.set(record, at);
    at += record.length;
  }
  fs.mkdirp(DIR);
  const path = `${DIR}/${segmentFileName(id)}`;
  patch(fs, path, 0, buf);
  return path;
}
