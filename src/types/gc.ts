/**
 * Garbage of the member types: the members of a version no key holds any more (its key was
 * deleted, overwritten, expired, emptied, or a *STORE/COPY crashed before its last batch).
 * DEL only tombstones the metadata record (O(1)); the members go at compaction, Kvrocks style.
 * ARCHITECTURE.md § "Member types" (garbage).
 *
 * Two parts:
 * - The sweep walks the registry (`0xFF 0x20 version -> user key`) in bounded rounds; for each
 *   version whose user key no longer holds it, one write replaces the registry entry by a dead
 *   marker (`0xFF 0x26 version -> empty`): O(1) per key whatever its size. It also deletes the
 *   markers of versions whose members are all gone.
 * - The compaction filter (`types-members`) drops every member entry whose version has a dead
 *   marker that is durable (its sequence <= the WAL's synced sequence).
 *
 * Why the marker and its durability: the filter reads the database, which holds writes not yet
 * fsynced. Were it to trust a DEL still only in the memtable, a crash could lose the DEL after
 * the compaction had dropped the members, and the key would come back empty-handed. The marker
 * is written after the state that killed the version (WAL order), so a durable marker means a
 * durable death; and a dead version never lives again (versions are never reused), so the
 * verdict holds for every later compaction too.
 *
 * @module
 */

import type { CompactionFilter, Database, WriteOp } from "../engine/mod.ts";
import { CorruptionError } from "../errors.ts";
import {
  INTERNAL_KEY_PREFIX,
  SPACE_HASH_FIELD,
  SPACE_LIST_ITEM,
  SPACE_TYPES_DEAD,
  SPACE_TYPES_REGISTRY,
} from "../keyspace/mod.ts";
import { KIND_META } from "../util/entry.ts";
import { decodeMeta, readU64, successor, versionEnd, versionPrefix } from "./layout.ts";
import { isMemberType, TYPE_SPACES } from "./keyspace_ops.ts";
import { TYPES_GC_KEYS_PER_ROUND } from "../limits.ts";

const ALL_SPACES = [...new Set([...TYPE_SPACES.values()].flat())];

/** Name of the member types' compaction filter (logs, `CompactionFilterError`). */
export const MEMBER_FILTER_NAME = "types-members";

/** True when `userKey` no longer holds data version `version`. */
export function isDeadVersion(db: Database, userKey: Uint8Array, version: number): boolean {
  const e = db.getEntry(userKey);
  if (e === undefined || e.kind !== KIND_META || !isMemberType(e.value)) return true;
  return decodeMeta(e.value, e.expireAtMs).version !== version;
}

/** `0xFF 0x26 version`: the dead marker of a version. */
export function deadMarkerKey(version: number): Uint8Array {
  return versionPrefix(SPACE_TYPES_DEAD, version);
}

/** True when `version` has a dead marker that is durable in the WAL. */
export function isDurablyDead(db: Database, version: number): boolean {
  const marker = db.getEntry(deadMarkerKey(version));
  return marker !== undefined && marker.seq <= db.durableSeq;
}

/**
 * The compaction filter that drops members of dead versions (register it with
 * `db.registerCompactionFilter`). It reads the database, against the general rule for filters:
 * a durable dead marker is a verdict that never changes (see the module comment), so the result
 * does not depend on when the compaction runs, only on how much garbage it may free. A member key
 * too short to hold a version throws (the compaction fails, its tables stay).
 */
export function memberCompactionFilter(db: Database): CompactionFilter {
  // Members of one version are adjacent in a compaction's key order: one lookup per version.
  // A "dead" verdict is final; a "live" one is reused only within the same compaction (nowMs).
  let lastVersion = -1;
  let lastDead = false;
  let lastNowMs = -1;
  return {
    name: MEMBER_FILTER_NAME,
    prefix: new Uint8Array([INTERNAL_KEY_PREFIX]),
    filter(entry, context) {
      const key = entry.key;
      if (key.length < 2) return "keep";
      const space = key[1]!;
      if (space < SPACE_HASH_FIELD || space > SPACE_LIST_ITEM) return "keep";
      if (key.length < 10) {
        throw new CorruptionError(`Member key of ${key.length} bytes is shorter than its version`);
      }
      const version = readU64(key, 2);
      if (version !== lastVersion || (!lastDead && context.nowMs !== lastNowMs)) {
        lastVersion = version;
        lastDead = isDurablyDead(db, version);
        lastNowMs = context.nowMs;
      }
      return lastDead ? "drop" : "keep";
    },
  };
}

/** True when no member of `version` is left in any space. */
function membersGone(db: Database, version: number): boolean {
  for (const space of ALL_SPACES) {
    const range = { start: versionPrefix(space, version), end: versionEnd(space, version) };
    if (db.readRange(range, { limit: 1 }).length > 0) return false;
  }
  return true;
}

/** Where a sweep goes on, and what it did. */
export interface SweepResult {
  /** Registry or marker key to go on from next round (`undefined`: the pass is over). */
  cursor: Uint8Array | undefined;
  /** Versions found dead and marked this round. */
  versionsMarked: number;
  /** Markers deleted this round (their members were all compacted away). */
  markersDeleted: number;
}

/**
 * One bounded round: checks up to `TYPES_GC_KEYS_PER_ROUND` entries from `cursor`, first of the
 * registry (`0xFF 0x20 ...`), then, in later rounds, of the markers (`0xFF 0x26 ...`); marks dead
 * versions and deletes spent markers in one batch, and syncs the WAL when it marked any (so the
 * filter may act on them even with `--sync none`). Writes replicate as any write.
 */
export async function sweepOnce(
  db: Database,
  cursor: Uint8Array | undefined,
): Promise<SweepResult> {
  const start = cursor ?? versionPrefix(SPACE_TYPES_REGISTRY, 0);
  const markers = start[1] === SPACE_TYPES_DEAD;
  const space = markers ? SPACE_TYPES_DEAD : SPACE_TYPES_REGISTRY;
  const end = new Uint8Array([INTERNAL_KEY_PREFIX, space + 1]);
  const rows = db.readRange({ start, end }, { limit: TYPES_GC_KEYS_PER_ROUND });
  const ops: WriteOp[] = [];
  let versionsMarked = 0;
  let markersDeleted = 0;
  for (const [key, value] of rows) {
    if (key.length !== 10) continue;
    const version = readU64(key, 2);
    if (!markers) {
      if (!isDeadVersion(db, value, version)) continue;
      ops.push({ type: "delete", key }, { type: "put", key: deadMarkerKey(version), value: EMPTY });
      versionsMarked++;
    } else if (membersGone(db, version)) {
      ops.push({ type: "delete", key });
      markersDeleted++;
    }
  }
  // Nothing is awaited between the checks and the write: the verdicts still hold.
  if (ops.length > 0) await db.write(ops);
  if (versionsMarked > 0) await db.sync();
  const last = rows[rows.length - 1];
  let next: Uint8Array | undefined;
  if (rows.length === TYPES_GC_KEYS_PER_ROUND && last !== undefined) next = successor(last[0]);
  else if (!markers) next = versionPrefix(SPACE_TYPES_DEAD, 0);
  return { cursor: next, versionsMarked, markersDeleted };
}

const EMPTY = new Uint8Array(0);

/**
 * Runs `sweepOnce` every `intervalMs` on a writable database, and registers the members'
 * compaction filter (on replicas too: the markers arrive with the leader's writes).
 */
export class TypeGarbageCollector {
  readonly #db: Database;
  #cursor: Uint8Array | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;
  #running: Promise<void> | undefined;
  #onError: (err: unknown) => void;
  #unregister: (() => void) | undefined;

  /** A collector over `db`; `onError` logs a failed round (the next one retries). */
  constructor(db: Database, onError: (err: unknown) => void) {
    this.#db = db;
    this.#onError = onError;
  }

  /** Registers the compaction filter and starts the timer (0 = never: tests call `sweep`). */
  start(intervalMs: number): void {
    this.#unregister ??= this.#db.registerCompactionFilter(memberCompactionFilter(this.#db));
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

  /** Sweeps one whole pass over the registry and the markers (tests, tools). */
  async sweepAll(): Promise<void> {
    let cursor: Uint8Array | undefined;
    do {
      const r = await sweepOnce(this.#db, cursor);
      cursor = r.cursor;
    } while (cursor !== undefined);
  }

  /** Stops the timer, waits for a round in progress and removes the filter. */
  async close(): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    await this.#running;
    this.#unregister?.();
    this.#unregister = undefined;
  }
}
