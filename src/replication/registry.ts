/**
 * The leader's list of known replicas and what each has acknowledged, persisted in
 * `<data>/replication/replicas.json` (written atomically) so that WAL retention keeps pinning
 * segments for an offline replica across leader restarts. ARCHITECTURE.md § "WAL retention
 * with replicas" and § "Who counts as a replica".
 *
 * Invariants:
 * - A replica enters the list only once it is verified: it authenticated (when the leader has
 *   a token) and acknowledged a sequence the leader had sent it (`verify`). A HELLO alone
 *   changes nothing here, so a stray or hostile connection neither pins WAL past its session
 *   nor survives a restart, nor counts in WAIT.
 * - Entries of an older file (version 1, written before verification existed) load as
 *   unverified: they keep pinning, never count in WAIT, and are dropped after
 *   `REPLICA_UNVERIFIED_EXPIRY_MS` unless the replica verifies.
 * - A persisted `ackedSeq` may lag the real one (writes are throttled): pins only need to be
 *   conservative, and a lower pin keeps more WAL, never less.
 * - Retention for pins is capped (`retainedBytesMax`, default
 *   `REPLICATION_RETENTION_BYTES_MAX_DEFAULT`).
 *
 * @module
 */

import { type FileSystem, joinPath, readWholeFile, writeFileAtomic } from "../fs/mod.ts";
import type { RetentionPins } from "../engine/mod.ts";
import {
  REPLICA_UNVERIFIED_EXPIRY_MS,
  REPLICATION_RETENTION_BYTES_MAX_DEFAULT,
} from "../limits.ts";

/** File holding the registry, under `<data>/replication/`. */
export const REPLICAS_FILE_NAME = "replicas.json";
/** Directory of replication state inside a data directory. */
export const REPLICATION_DIR_NAME = "replication";
/** Version of `replicas.json` this build writes (2 adds `verified`). */
const REPLICAS_FILE_VERSION = 2;

/** One known replica. */
export interface KnownReplica {
  /** Replica id (32 hex digits). */
  id: string;
  /** Last peer address it connected from. */
  address: string;
  /** Highest sequence it acknowledged as durable. */
  ackedSeq: number;
  /** Last frame received from it (Unix ms). */
  lastSeenMs: number;
  /** When it last acknowledged (Unix ms). */
  ackedAtMs: number;
  /** It acknowledged data this leader sent it (entries of a version-1 file: not yet). */
  verified: boolean;
  /** When an unverified entry was loaded (Unix ms): its expiry counts from here. */
  loadedMs: number;
  /** Connected now (not persisted). */
  connected: boolean;
}

/** Known replicas, their acknowledgements and the pins they put on WAL retention. */
export class ReplicaRegistry {
  readonly #fs: FileSystem;
  readonly #dir: string;
  readonly #replicas = new Map<string, KnownReplica>();
  #retainedBytesMax: number = REPLICATION_RETENTION_BYTES_MAX_DEFAULT;

  private constructor(fs: FileSystem, dataDir: string) {
    this.#fs = fs;
    this.#dir = joinPath(dataDir, REPLICATION_DIR_NAME);
  }

  /**
   * Loads the registry of the data directory `dataDir` (empty when there is no file), with
   * the disk cap on WAL kept for replicas (default `REPLICATION_RETENTION_BYTES_MAX_DEFAULT`).
   */
  static load(fs: FileSystem, dataDir: string, retainedBytesMax?: number): ReplicaRegistry {
    const registry = new ReplicaRegistry(fs, dataDir);
    if (retainedBytesMax !== undefined) registry.#retainedBytesMax = retainedBytesMax;
    const path = joinPath(registry.#dir, REPLICAS_FILE_NAME);
    if (fs.stat(path) === undefined) return registry;
    const parsed = JSON.parse(new TextDecoder().decode(readWholeFile(fs, path))) as {
      version?: number;
      replicas?: Partial<KnownReplica>[];
    };
    const now = Date.now();
    for (const r of parsed.replicas ?? []) {
      if (typeof r.id !== "string" || !Number.isSafeInteger(r.ackedSeq)) continue;
      registry.#replicas.set(r.id, {
        id: r.id,
        address: String(r.address ?? ""),
        ackedSeq: r.ackedSeq!,
        lastSeenMs: Number(r.lastSeenMs ?? 0),
        ackedAtMs: Number(r.ackedAtMs ?? 0),
        verified: (parsed.version ?? 1) >= 2 && r.verified === true,
        loadedMs: now,
        connected: false,
      });
    }
    return registry;
  }

  /** The disk cap on WAL kept for replicas (bytes). */
  get retainedBytesMax(): number {
    return this.#retainedBytesMax;
  }

  /** What WAL retention must respect now (`extraSeqs`: pins of sessions not yet verified). */
  pins(extraSeqs: readonly number[] = []): RetentionPins {
    const pinnedSeqs = [...this.#replicas.values()].map((r) => r.ackedSeq).concat(extraSeqs);
    return { pinnedSeqs, retainedBytesMax: this.#retainedBytesMax };
  }

  /** Every known replica. */
  list(): KnownReplica[] {
    return [...this.#replicas.values()];
  }

  /** The replica `id`, if known. */
  get(id: string): KnownReplica | undefined {
    return this.#replicas.get(id);
  }

  /** Number of known replicas. */
  get size(): number {
    return this.#replicas.size;
  }

  /**
   * Replica `id` acknowledged `ackedSeq`, a sequence this leader sent it in this session:
   * adds it (or refreshes it) as verified, at exactly that position (a replica restored from
   * a backup comes back behind what it acknowledged before, and pins from there). Persists.
   */
  verify(id: string, address: string, ackedSeq: number): KnownReplica {
    const now = Date.now();
    const replica: KnownReplica = this.#replicas.get(id) ?? {
      id,
      address,
      ackedSeq,
      lastSeenMs: now,
      ackedAtMs: now,
      verified: true,
      loadedMs: now,
      connected: true,
    };
    replica.address = address;
    replica.ackedSeq = ackedSeq;
    replica.ackedAtMs = now;
    replica.lastSeenMs = now;
    replica.verified = true;
    replica.connected = true;
    this.#replicas.set(id, replica);
    this.save();
    return replica;
  }

  /**
   * Drops unverified entries loaded more than `REPLICA_UNVERIFIED_EXPIRY_MS` ago; persists
   * when any went. Returns their ids.
   */
  expireUnverified(nowMs: number, expiryMs = REPLICA_UNVERIFIED_EXPIRY_MS): string[] {
    const gone: string[] = [];
    for (const r of this.#replicas.values()) {
      if (!r.verified && nowMs - r.loadedMs >= expiryMs) gone.push(r.id);
    }
    for (const id of gone) this.#replicas.delete(id);
    if (gone.length > 0) this.save();
    return gone;
  }

  /** Forgets `id`; persists. False when unknown. */
  forget(id: string): boolean {
    if (!this.#replicas.delete(id)) return false;
    this.save();
    return true;
  }

  /** Writes the registry atomically and durably. */
  save(): void {
    this.#fs.mkdirp(this.#dir);
    const replicas = [...this.#replicas.values()].map((r) => ({
      id: r.id,
      address: r.address,
      ackedSeq: r.ackedSeq,
      lastSeenMs: r.lastSeenMs,
      ackedAtMs: r.ackedAtMs,
      verified: r.verified,
    }));
    const text = JSON.stringify({ version: REPLICAS_FILE_VERSION, replicas }, null, 2) + "\n";
    writeFileAtomic(this.#fs, this.#dir, REPLICAS_FILE_NAME, new TextEncoder().encode(text));
  }
}
