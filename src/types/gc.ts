/**
 * Garbage of the member types: the members of a version no key holds any more (its key was
 * deleted, overwritten, expired or emptied). DEL only tombstones the metadata record (O(1));
 * this sweep walks the registry (`0xFF 0x20 version → user key`) and deletes, in bounded
 * rounds, the members of every version whose user key no longer holds it, then its registry
 * entry. ARCHITECTURE.md § "Member types" (garbage).
 *
 * The seam for the engine's compaction filters: `isDeadVersion` is the one question a filter
 * would ask of a member key; once filters land, a registered filter can drop members of dead
 * versions during compaction and this sweep only has to delete registry entries.
 *
 * @module
 */

import type { Database, WriteOp } from "../engine/mod.ts";
import { SPACE_TYPES_REGISTRY } from "../keyspace/mod.ts";
import { KIND_META } from "../util/entry.ts";
import { decodeMeta, members, readU64, successor, versionPrefix } from "./layout.ts";
import { isMemberType, TYPE_SPACES } from "./keyspace_ops.ts";
import { TYPES_GC_DELETES_PER_ROUND, TYPES_GC_KEYS_PER_ROUND } from "../limits.ts";

const ALL_SPACES = [...new Set([...TYPE_SPACES.values()].flat())];

/** True when `userKey` no longer holds data version `version`. */
export function isDeadVersion(db: Database, userKey: Uint8Array, version: number): boolean {
  const e = db.getEntry(userKey);
  if (e === undefined || e.kind !== KIND_META || !isMemberType(e.value)) return true;
  return decodeMeta(e.value, e.expireAtMs).version !== version;
}

/** Where a sweep goes on, and what it did. */
export interface SweepResult {
  /** Registry key to go on from next round (`undefined`: start over). */
  cursor: Uint8Array | undefined;
  /** Versions whose members were all deleted this round. */
  versionsFreed: number;
  /** Member entries deleted this round. */
  membersDeleted: number;
}

/**
 * One bounded round: checks up to `TYPES_GC_KEYS_PER_ROUND` registry entries from `cursor`
 * and deletes up to `TYPES_GC_DELETES_PER_ROUND` members of dead versions (a big key is freed
 * over several rounds). Writes go straight to the engine (they replicate as any write).
 */
export async function sweepOnce(
  db: Database,
  cursor: Uint8Array | undefined,
): Promise<SweepResult> {
  const start = cursor ?? versionPrefix(SPACE_TYPES_REGISTRY, 0);
  const end = new Uint8Array([0xff, SPACE_TYPES_REGISTRY + 1]);
  const rows = db.readRange({ start, end }, { limit: TYPES_GC_KEYS_PER_ROUND });
  let budget = TYPES_GC_DELETES_PER_ROUND;
  let versionsFreed = 0;
  let membersDeleted = 0;
  let next: Uint8Array | undefined;
  for (const [regKey, userKey] of rows) {
    const version = readU64(regKey, 2);
    if (!isDeadVersion(db, userKey, version)) {
      next = successor(regKey);
      continue;
    }
    const ops: WriteOp[] = [];
    let complete = true;
    for (const space of ALL_SPACES) {
      for (const [k] of members(db, space, version)) {
        if (ops.length >= budget) {
          complete = false;
          break;
        }
        ops.push({ type: "delete", key: k });
      }
      if (!complete) break;
    }
    membersDeleted += ops.length;
    budget -= ops.length;
    if (complete) {
      ops.push({ type: "delete", key: regKey });
      versionsFreed++;
      next = successor(regKey);
    }
    // Nothing is awaited between the check and the write: the verdict still holds.
    const written = ops.length > 0 ? db.write(ops) : undefined;
    if (!complete || budget <= 0) {
      await written;
      return { cursor: complete ? next : regKey, versionsFreed, membersDeleted };
    }
    if (written !== undefined) await written;
  }
  return {
    cursor: rows.length < TYPES_GC_KEYS_PER_ROUND ? undefined : next,
    versionsFreed,
    membersDeleted,
  };
}

/** Runs `sweepOnce` every `intervalMs` on a writable database. */
export class TypeGarbageCollector {
  readonly #db: Database;
  #cursor: Uint8Array | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;
  #running: Promise<void> | undefined;
  #onError: (err: unknown) => void;

  /** A collector over `db`; `onError` logs a failed round (the next one retries). */
  constructor(db: Database, onError: (err: unknown) => void) {
    this.#db = db;
    this.#onError = onError;
  }

  /** Starts the timer (0 = never: tests call `sweep`). */
  start(intervalMs: number): void {
    if (intervalMs <= 0) return;
    this.#timer = setInterval(() => void this.sweep(), intervalMs);
    Deno.unrefTimer(this.#timer);
  }

  /** One round now (a round in progress is awaited instead). */
  sweep(): Promise<void> {
    if (this.#running !== undefined) return this.#running;
    if (this.#db.readOnly) return Promise.resolve();
    this.#running = (async () => {
      try {
        this.#cursor = (await sweepOnce(this.#db, this.#cursor)).cursor;
      } catch (err) {
        this.#onError(err);
      } finally {
        this.#running = undefined;
      }
    })();
    return this.#running;
  }

  /** Sweeps until one whole pass found nothing to free (tests, FLUSHDB). */
  async sweepAll(): Promise<void> {
    let cursor: Uint8Array | undefined;
    do {
      const r = await sweepOnce(this.#db, cursor);
      cursor = r.cursor;
    } while (cursor !== undefined);
  }

  /** Stops the timer and waits for a round in progress. */
  async close(): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    await this.#running;
  }
}
