/**
 * The leader's list of known replicas and what each has acknowledged, persisted in
 * `<data>/replication/replicas.json` (written atomically) so that WAL retention keeps pinning
 * segments for an offline replica across leader restarts.
 *
 * A persisted `ackedSeq` may lag the real one (writes are throttled): pins only need to be
 * conservative, and a lower pin keeps more WAL, never less.
 *
 * @module
 */

import { type FileSystem, joinPath, readWholeFile, writeFileAtomic } from "../fs/mod.ts";
import type { RetentionPins } from "../engine/mod.ts";

/** File holding the registry, under `<data>/replication/`. */
export const REPLICAS_FILE_NAME = "replicas.json";
/** Directory of replication state inside a data directory. */
export const REPLICATION_DIR_NAME = "replication";

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
  /** Connected now (not persisted). */
  connected: boolean;
}

/** Known replicas, their acknowledgements and the pins they put on WAL retention. */
export class ReplicaRegistry {
  readonly #fs: FileSystem;
  readonly #dir: string;
  readonly #replicas = new Map<string, KnownReplica>();
  #retainedBytesMax: number | undefined;

  private constructor(fs: FileSystem, dataDir: string) {
    this.#fs = fs;
    this.#dir = joinPath(dataDir, REPLICATION_DIR_NAME);
  }

  /** Loads the registry of the data directory `dataDir` (empty when there is no file). */
  static load(fs: FileSystem, dataDir: string, retainedBytesMax?: number): ReplicaRegistry {
    const registry = new ReplicaRegistry(fs, dataDir);
    registry.#retainedBytesMax = retainedBytesMax;
    const path = joinPath(registry.#dir, REPLICAS_FILE_NAME);
    if (fs.stat(path) === undefined) return registry;
    const parsed = JSON.parse(new TextDecoder().decode(readWholeFile(fs, path))) as {
      replicas?: Partial<KnownReplica>[];
    };
    for (const r of parsed.replicas ?? []) {
      if (typeof r.id !== "string" || !Number.isSafeInteger(r.ackedSeq)) continue;
      registry.#replicas.set(r.id, {
        id: r.id,
        address: String(r.address ?? ""),
        ackedSeq: r.ackedSeq!,
        lastSeenMs: Number(r.lastSeenMs ?? 0),
        ackedAtMs: Number(r.ackedAtMs ?? 0),
        connected: false,
      });
    }
    return registry;
  }

  /** The disk cap on WAL kept for replicas (bytes), if any. */
  get retainedBytesMax(): number | undefined {
    return this.#retainedBytesMax;
  }

  /** What WAL retention must respect now. */
  pins(): RetentionPins {
    const pinnedSeqs = [...this.#replicas.values()].map((r) => r.ackedSeq);
    return this.#retainedBytesMax === undefined
      ? { pinnedSeqs }
      : { pinnedSeqs, retainedBytesMax: this.#retainedBytesMax };
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
   * Registers (or refreshes) replica `id` that starts from `ackedSeq`; a replica that comes back
   * behind what it acknowledged before (restored from a backup) pins from where it is now.
   * Persists when it is new or moved back.
   */
  register(id: string, address: string, ackedSeq: number): KnownReplica {
    const now = Date.now();
    const known = this.#replicas.get(id);
    if (known) {
      known.address = address;
      known.lastSeenMs = now;
      known.connected = true;
      if (ackedSeq !== known.ackedSeq) {
        known.ackedSeq = ackedSeq;
        this.save();
      }
      return known;
    }
    const replica: KnownReplica = {
      id,
      address,
      ackedSeq,
      lastSeenMs: now,
      ackedAtMs: now,
      connected: true,
    };
    this.#replicas.set(id, replica);
    this.save();
    return replica;
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
    }));
    const text = JSON.stringify({ version: 1, replicas }, null, 2) + "\n";
    writeFileAtomic(this.#fs, this.#dir, REPLICAS_FILE_NAME, new TextEncoder().encode(text));
  }
}
