/**
 * A replica's files under `<data>/replication/`, each written atomically
 * (`writeFileAtomic`: tmp, fsync, rename, fsync the directory):
 *
 * - `replica.json`: the replica's stable random id and the leader id recorded at first
 *   contact (written before the first record is applied, so a replica never mixes histories).
 * - `status.json`: what `cityhall replica status` shows with the replica stopped: leader
 *   address and id, last applied sequence, last synced leader segment, total entries, last
 *   contact time, last time caught up, a refusal's reason. Rewritten at most every
 *   `STATUS_WRITE_INTERVAL_MS` while applying, when caught up, and at stop; after a `kill -9`
 *   it may trail the data by that window (the data itself is exact: the WAL is the position),
 *   and its `state` is what it was: `cityhall replica status` checks the data directory's
 *   lock to tell a running replica from a dead one.
 *
 * @module
 */

import { type FileSystem, joinPath, readWholeFile, writeFileAtomic } from "../fs/mod.ts";
import { hexId, ID_BYTES } from "./frame.ts";
import { REPLICATION_DIR_NAME } from "./registry.ts";

/** `replica.json`. */
export const IDENTITY_FILE_NAME = "replica.json";
/** `status.json`. */
export const STATUS_FILE_NAME = "status.json";

/** The replica's identity. */
export interface ReplicaIdentity {
  /** 32 hex digits, random, fixed at the first start. */
  replicaId: string;
  /** The leader's id (32 hex digits) recorded at first contact; `null` before. */
  leaderId: string | null;
}

/** What `status.json` holds. */
export interface ReplicaStatus {
  replicaId: string;
  leaderAddress: string;
  leaderId: string | null;
  /** Link state when written: connected, retrying, refused, stopped. */
  state: string;
  /** Newest sequence applied and fdatasync'ed. */
  lastAppliedSeq: number;
  /** The leader's WAL segment that held the last applied record (0 = unknown). */
  lastSyncedSegment: number;
  /** Write operations replicated (sequences count operations from 1). */
  totalEntries: number;
  /** Newest durable sequence the leader reported. */
  leaderDurableSeq: number;
  /** Last frame from the leader (Unix ms; 0 = never). */
  lastContactMs: number;
  /**
   * Last time the replica held everything the leader had reported durable (Unix ms; 0 =
   * never): reads are at most `now − lastCaughtUpMs` stale, as far as the replica knows.
   */
  lastCaughtUpMs: number;
  /** When this file was written (Unix ms). */
  updatedMs: number;
  /** Process id of the replica that wrote it (a later reader checks it still runs). */
  pid: number;
  /** Last error of the link, if any. */
  lastError?: string;
  /** Why the link is refused (state `refused`): the replica serves stale data meanwhile. */
  refusal?: string;
}

function readJson<T>(fs: FileSystem, path: string): T | undefined {
  if (fs.stat(path) === undefined) return undefined;
  return JSON.parse(new TextDecoder().decode(readWholeFile(fs, path))) as T;
}

function writeJson(fs: FileSystem, dataDir: string, name: string, value: unknown): void {
  const dir = joinPath(dataDir, REPLICATION_DIR_NAME);
  fs.mkdirp(dir);
  const text = JSON.stringify(value, null, 2) + "\n";
  writeFileAtomic(fs, dir, name, new TextEncoder().encode(text));
}

/** Loads the identity, creating (and persisting) a fresh one at the first start. */
export function loadOrCreateIdentity(fs: FileSystem, dataDir: string): ReplicaIdentity {
  const path = joinPath(dataDir, REPLICATION_DIR_NAME, IDENTITY_FILE_NAME);
  const found = readJson<ReplicaIdentity>(fs, path);
  if (found && typeof found.replicaId === "string") {
    return { replicaId: found.replicaId, leaderId: found.leaderId ?? null };
  }
  const identity: ReplicaIdentity = {
    replicaId: hexId(crypto.getRandomValues(new Uint8Array(ID_BYTES))),
    leaderId: null,
  };
  saveIdentity(fs, dataDir, identity);
  return identity;
}

/** Persists the identity. */
export function saveIdentity(fs: FileSystem, dataDir: string, identity: ReplicaIdentity): void {
  writeJson(fs, dataDir, IDENTITY_FILE_NAME, identity);
}

/** Persists the status. */
export function saveStatus(fs: FileSystem, dataDir: string, status: ReplicaStatus): void {
  writeJson(fs, dataDir, STATUS_FILE_NAME, status);
}

/** Reads the status file of a replica's data directory (works with the replica stopped). */
export function readReplicaStatus(fs: FileSystem, dataDir: string): ReplicaStatus | undefined {
  return readJson<ReplicaStatus>(fs, joinPath(dataDir, REPLICATION_DIR_NAME, STATUS_FILE_NAME));
}
