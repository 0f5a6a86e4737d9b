/**
 * The types of `Database`'s API: write operations, scan ranges, read results, and what
 * replication exchanges with the engine.
 *
 * @module
 */

import type { ManifestState } from "../manifest/mod.ts";
import type { EntryKind } from "../util/entry.ts";

/** What replication asks WAL retention to keep (see `ReplicationPort.setRetentionPins`). */
export interface RetentionPins {
  /** Highest sequence each known replica has acknowledged: it still needs everything above. */
  pinnedSeqs: readonly number[];
  /** Past this many bytes of WAL kept only for pins, the oldest segments go anyway. */
  retainedBytesMax?: number;
}

/** A checkpoint pinned for a snapshot (see `ReplicationPort.checkpoint`). */
export interface DatabaseCheckpoint {
  /** The durable manifest of the checkpoint: its tables and `flushedSeq`. */
  manifest: ManifestState;
  /** Paths of the tables' files, in `manifest.tables` order. */
  tablePaths: string[];
  /** Unpins the tables (compaction may delete their files again). */
  release(): void;
}

/** Hooks `Database.open` installs before its first retention decision (replication). */
export interface OpenHooks {
  /** Pins for WAL retention from the start (a leader's known replicas); see `setRetentionPins`. */
  retentionPins?: () => RetentionPins;
}

/** Bytes or a string (UTF-8 encoded). */
export type BytesLike = Uint8Array | string;

/**
 * One operation of an atomic batch. `meta` stores the metadata record of a non-string key
 * (`KIND_META`, ARCHITECTURE.md § "Keyspace"); `log` is a log-only op (`KIND_LOG`, § "Log
 * operations"): in the WAL and on replicas, never in the memtable.
 */
export type WriteOp =
  | { type: "put"; key: BytesLike; value: BytesLike; expireAtMs?: number }
  | { type: "meta"; key: BytesLike; value: BytesLike; expireAtMs?: number }
  | { type: "log"; key: BytesLike; value: BytesLike }
  | { type: "delete"; key: BytesLike };

/**
 * One op of a batch as the engine applied it (`Database.onApplied`): its kind (`KIND_PUT`,
 * `KIND_META`, `KIND_DELETE` or `KIND_LOG`), key and value (empty or absent for a delete).
 * Valid during the call only: a listener copies what it keeps.
 */
export interface AppliedOp {
  readonly kind: number;
  readonly key: Uint8Array;
  readonly value?: Uint8Array | undefined;
}

/** Hears the ops of each applied batch, in sequence order (`Database.onApplied`). */
export type AppliedListener = (ops: readonly AppliedOp[]) => void;

/** Options of `put`. */
export interface PutOptions {
  /** Unix time in milliseconds after which the entry is invisible; omitted = never. */
  expireAtMs?: number;
}

/** What to scan: every key with a prefix, or the keys in `[start, end)`. */
export type ScanRange = { prefix: BytesLike } | { start?: BytesLike; end?: BytesLike };

/** Options of `scan`. */
export interface ScanOptions {
  /** Most keys to return. */
  limit?: number;
  /** Return keys in descending order. */
  reverse?: boolean;
}

/**
 * A live value with its expiry. Read-only: a read may hand the same object to every reader of
 * the key (a row-cache hit).
 */
export interface ValueEntry {
  /** `KIND_PUT` (a string) or `KIND_META` (the metadata record of another type). */
  readonly kind: EntryKind;
  /** The value. */
  readonly value: Uint8Array;
  /** Expiry as Unix milliseconds; 0 = never. */
  readonly expireAtMs: number;
  /** Sequence number of the write that produced it. */
  readonly seq: number;
}
