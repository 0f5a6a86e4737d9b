/**
 * The edge's disk-full policy (ARCHITECTURE.md § "Disk-full policy"): `--disk-high-water 90%`
 * and `--disk-full drop-oldest-raw|refuse`. Once a second the policy measures the disk that
 * holds the data directory; at or above the mark it acts, in this order:
 *
 * 1. Drop what the hub has acknowledged and local retention no longer needs: flush the
 *    memtable and apply WAL retention (segments at or below both the tables and the hub's
 *    acknowledgement go).
 * 2. Still at or above the mark:
 *    - `drop-oldest-raw`: release the oldest WAL segments the hub has not acknowledged (only
 *      segments the tables cover: the edge's own data is never lost, only the record of how
 *      it changed). The uplink's pin moves past them (`evictedThroughSeq`, persisted), the
 *      eviction is counted (entries, bytes), logged and shown in status, and the hub gets a
 *      snapshot of the current data instead of the evicted history.
 *    - `refuse`: refuse new writes with a clear error until the disk is
 *      `DISK_HYSTERESIS_PERCENT` below the mark again (the hub's acknowledgements let
 *      retention free space); each refused write is counted.
 *
 * Never crashes and never drops silently. The disk is measured through `DiskSpace` (statfs
 * for real disks, anything for tests).
 *
 * @module
 */

import { replicationPort } from "../engine/mod.ts";
import * as nodeFs from "node:fs";
import type { Database, WriteOp } from "../engine/mod.ts";
import { IoError } from "../errors.ts";
import { DISK_CHECK_INTERVAL_MS, DISK_HYSTERESIS_PERCENT } from "../limits.ts";
import type { Logger } from "../util/log.ts";
import type { EdgeStateStore } from "./edge_state.ts";

/** How full a disk is. */
export interface DiskSpace {
  /** Total and available bytes of the file system holding `dir`, or undefined when unknown. */
  usage(dir: string): { totalBytes: number; availableBytes: number } | undefined;
}

/** statfs of the real file system. */
export const realDiskSpace: DiskSpace = {
  usage(dir) {
    try {
      const s = nodeFs.statfsSync(dir);
      return {
        totalBytes: Number(s.blocks) * Number(s.bsize),
        availableBytes: Number(s.bavail) * Number(s.bsize),
      };
    } catch {
      return undefined;
    }
  },
};

/** What to do when the disk stays above the mark. */
export type DiskFullMode = "drop-oldest-raw" | "refuse";

/** Options of `DiskPolicy`. */
export interface DiskPolicyOptions {
  /** Percent of the disk in use at which the policy acts (`--disk-high-water`). */
  highWaterPercent: number;
  /** `--disk-full`. */
  mode: DiskFullMode;
  /** How the disk is measured (default statfs). */
  space?: DiskSpace;
  logger: Logger;
}

/** The policy of one edge database. */
export class DiskPolicy {
  readonly #db: Database;
  readonly #store: EdgeStateStore;
  readonly #options: DiskPolicyOptions;
  readonly #space: DiskSpace;
  #timer: ReturnType<typeof setInterval> | undefined;
  #usedPercent = 0;
  #state: "ok" | "high" | "refusing" = "ok";
  #refusedWrites = 0;
  #rounds = 0;
  #running: Promise<void> | undefined;
  #stuckLogged = false;

  constructor(db: Database, store: EdgeStateStore, options: DiskPolicyOptions) {
    this.#db = db;
    this.#store = store;
    this.#options = options;
    this.#space = options.space ?? realDiskSpace;
  }

  /** Checks once a second until `stop`. */
  start(): void {
    this.#timer = setInterval(() => {
      this.#running ??= this.check().catch((err) => {
        this.#options.logger("warn", "disk policy check failed", { error: String(err) });
      }).finally(() => this.#running = undefined);
    }, DISK_CHECK_INTERVAL_MS);
    this.#timer.unref();
  }

  /** Stops checking; writes are accepted again. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#running;
    if (this.#state === "refusing") this.#db.setWriteGuard(undefined);
  }

  /** What status, INFO and `/metrics` show. */
  status(): Record<string, string | number> {
    const s = this.#store.state;
    return {
      used_percent: Math.round(this.#usedPercent * 10) / 10,
      high_water_percent: this.#options.highWaterPercent,
      policy: this.#options.mode,
      state: this.#state,
      evicted_entries_total: s.evictedEntries,
      evicted_bytes_total: s.evictedBytes,
      refused_writes_total: this.#refusedWrites,
    };
  }

  #measure(): number | undefined {
    const u = this.#space.usage(this.#db.dir);
    if (u === undefined || u.totalBytes <= 0) return undefined;
    this.#usedPercent = 100 * (1 - u.availableBytes / u.totalBytes);
    return this.#usedPercent;
  }

  /** One round of the policy (the timer's; tests call it directly). */
  async check(): Promise<void> {
    this.#rounds++;
    const high = this.#options.highWaterPercent;
    let used = this.#measure();
    if (used === undefined) return;
    if (this.#state === "refusing") {
      // The hub's acknowledgements may have made WAL deletable: free it, then look again.
      if (used >= high - DISK_HYSTERESIS_PERCENT) {
        await this.#free();
        used = this.#measure() ?? used;
      }
      if (used < high - DISK_HYSTERESIS_PERCENT) this.#accept(used);
      return;
    }
    if (used < high) {
      this.#state = "ok";
      this.#stuckLogged = false;
      return;
    }
    this.#state = "high";
    await this.#free();
    used = this.#measure() ?? used;
    if (used < high) return;
    if (this.#options.mode === "refuse") this.#refuse(used);
    else this.#evict(used);
  }

  /** Step 1: flush and apply retention (acknowledged, covered WAL goes). */
  async #free(): Promise<void> {
    await this.#db.flush();
    replicationPort(this.#db).applyRetention();
  }

  #refuse(used: number): void {
    this.#state = "refusing";
    const high = this.#options.highWaterPercent;
    this.#options.logger("warn", "disk above the high-water mark: refusing writes", {
      usedPercent: Math.round(used * 10) / 10,
      highWaterPercent: high,
      policy: "refuse",
    });
    this.#db.setWriteGuard((_ops: readonly WriteOp[]) => {
      this.#refusedWrites++;
      throw new IoError(
        `Cannot write: the disk is ${
          Math.round(this.#usedPercent)
        }% full (--disk-high-water ${high}%, --disk-full refuse): writes resume once the hub has acknowledged enough to free space`,
      );
    });
  }

  #accept(used: number): void {
    this.#state = "ok";
    this.#db.setWriteGuard(undefined);
    this.#options.logger("info", "disk below the high-water mark again: accepting writes", {
      usedPercent: Math.round(used * 10) / 10,
      refusedWrites: this.#refusedWrites,
    });
  }

  /** Step 2 of drop-oldest-raw: release the oldest unacknowledged, covered WAL segments. */
  #evict(used: number): void {
    const u = this.#space.usage(this.#db.dir);
    if (u === undefined) return;
    const target = this.#options.highWaterPercent - DISK_HYSTERESIS_PERCENT;
    let needBytes = Math.max(1, u.totalBytes * (used - target) / 100);
    const flushed = this.#db.stats().flushedSeq;
    const pin = this.#store.pin;
    const segments = this.#db.walSegments();
    const active = segments[segments.length - 1];
    let through = pin;
    let bytes = 0;
    for (const s of segments) {
      if (s === active || s.firstSeq === 0 || s.lastSeq <= pin) continue;
      // Only what the tables hold: the edge never loses its own data, only its history.
      if (s.lastSeq > flushed || needBytes <= 0) break;
      through = s.lastSeq;
      bytes += s.sizeBytes;
      needBytes -= replicationPort(this.#db).fileSystem.stat(s.path)?.size ?? s.sizeBytes;
    }
    if (through === pin) {
      if (!this.#stuckLogged) {
        this.#stuckLogged = true;
        this.#options.logger("error", "disk above the high-water mark and nothing left to evict", {
          usedPercent: Math.round(used * 10) / 10,
          ackedSeq: this.#store.state.ackedSeq,
          flushedSeq: flushed,
        });
      }
      return;
    }
    const s = this.#store.state;
    const entries = through - pin;
    s.evictedThroughSeq = through;
    s.evictedEntries += entries;
    s.evictedBytes += bytes;
    this.#store.save();
    replicationPort(this.#db).applyRetention();
    this.#options.logger(
      "warn",
      "disk above the high-water mark: evicted unshipped WAL (the hub gets a snapshot instead)",
      {
        usedPercent: Math.round(used * 10) / 10,
        highWaterPercent: this.#options.highWaterPercent,
        policy: "drop-oldest-raw",
        fromSeq: pin + 1,
        throughSeq: through,
        entries,
        bytes,
      },
    );
  }
}
