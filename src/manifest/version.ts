/**
 * The live tables as the engine holds them (LevelDB's `Version`): one list per level, each
 * table with its open reader and a reference count, and the point lookup through them.
 * ARCHITECTURE.md § "Levels and lookups".
 *
 * Each level keeps one of three lookup orders, chosen after every change to it:
 * - `keys`: the tables' key ranges are disjoint (every level >= 1 of leveled compaction, and a
 *   tiered level holding a single run). Sorted by smallest key; a lookup binary-searches the
 *   one table whose range covers the key.
 * - `age`: sorted newest first (by `maxSeq`), and of any two tables whose key ranges overlap
 *   the first holds only newer sequences (level 0, tiered runs). A lookup returns the first
 *   hit.
 * - `mixed`: neither (a tree compacted by one style, then the other): a lookup asks every
 *   table covering the key and keeps the highest sequence.
 *
 * Invariants:
 * - For one key, every version in level i is newer than every version in level i + 1, so the
 *   first level that holds the key has its newest version.
 * - A table is closed and its file deleted only once it is `obsolete` (no manifest copy lists
 *   it) and no scan or checkpoint holds it (`refs` is 0).
 *
 * @module
 */

import { bloomHash } from "../sstable/bloom.ts";
import type { Table } from "../sstable/table.ts";
import { compareBytes } from "../util/bytes.ts";
import type { Entry } from "../util/entry.ts";
import type { TableMeta } from "./mod.ts";

/** One open table of the tree. */
export interface LiveTable {
  /** What the manifest says about it. */
  meta: TableMeta;
  /** Its open reader. */
  table: Table;
  /** Open scans, compactions and checkpoints holding this table. */
  refs: number;
  /** Removed from the manifest: close and delete when `refs` reaches 0. */
  obsolete: boolean;
}

/** How a level is ordered and searched (see the module comment). */
export type LevelOrder = "keys" | "age" | "mixed";

/** True when the key ranges `[a0, a1]` and `[b0, b1]` share a key. */
export function rangesOverlap(
  a0: Uint8Array,
  a1: Uint8Array,
  b0: Uint8Array,
  b1: Uint8Array,
): boolean {
  return compareBytes(a0, b1) <= 0 && compareBytes(b0, a1) <= 0;
}

function byAge(a: LiveTable, b: LiveTable): number {
  return b.meta.maxSeq - a.meta.maxSeq;
}

function byKey(a: LiveTable, b: LiveTable): number {
  return compareBytes(a.meta.smallestKey, b.meta.smallestKey);
}

/** Sorts `tables` in place into the order its lookups need and says which one it is. */
export function orderLevel(tables: LiveTable[]): LevelOrder {
  tables.sort(byKey);
  let disjoint = true;
  for (let i = 1; i < tables.length && disjoint; i++) {
    if (compareBytes(tables[i - 1]!.meta.largestKey, tables[i]!.meta.smallestKey) >= 0) {
      disjoint = false;
    }
  }
  if (disjoint) return "keys";
  tables.sort(byAge);
  for (let i = 0; i < tables.length; i++) {
    const a = tables[i]!.meta;
    for (let j = i + 1; j < tables.length; j++) {
      const b = tables[j]!.meta;
      if (
        a.minSeq <= b.maxSeq &&
        rangesOverlap(a.smallestKey, a.largestKey, b.smallestKey, b.largestKey)
      ) return "mixed";
    }
  }
  return "age";
}

/**
 * The most tables of `tables` that hold any one key: the number of sorted runs a lookup may
 * have to probe (tables written by one compaction share no key, so a run counts once).
 */
export function overlapDepth(tables: readonly LiveTable[]): number {
  const points: [Uint8Array, number][] = [];
  for (const t of tables) points.push([t.meta.smallestKey, 1], [t.meta.largestKey, -1]);
  // Starts before ends at the same key: ranges are inclusive.
  points.sort((a, b) => compareBytes(a[0], b[0]) || b[1] - a[1]);
  let depth = 0;
  let max = 0;
  for (const [, d] of points) {
    depth += d;
    if (depth > max) max = depth;
  }
  return max;
}

/** The levels of live tables, their lookup and their reference counts. */
export class Version {
  #levels: LiveTable[][] = [];
  #orders: LevelOrder[] = [];
  #generation = 0;
  readonly #drop: (t: LiveTable) => void;

  /** `drop` closes an obsolete, unreferenced table and deletes its file. */
  constructor(drop: (t: LiveTable) => void) {
    this.#drop = drop;
  }

  /** The levels, each in its lookup order. Do not modify. */
  get levels(): readonly (readonly LiveTable[])[] {
    return this.#levels;
  }

  /** Level `i`'s tables (empty past the deepest level). Do not modify. */
  level(i: number): readonly LiveTable[] {
    return this.#levels[i] ?? [];
  }

  /** Level `i`'s lookup order. */
  order(i: number): LevelOrder {
    return this.#orders[i] ?? "keys";
  }

  /**
   * Changes with every `apply` (and `closeAll`): what caches of lookup results (the row cache)
   * compare to know that the tables changed under them.
   */
  get generation(): number {
    return this.#generation;
  }

  /** Number of levels, the deepest non-empty one included (empty levels may follow). */
  get depth(): number {
    return this.#levels.length;
  }

  /** Every live table. */
  all(): LiveTable[] {
    return this.#levels.flat();
  }

  /** Bytes in level `i`. */
  levelBytes(i: number): number {
    let n = 0;
    for (const t of this.level(i)) n += t.meta.sizeBytes;
    return n;
  }

  /**
   * Applies an edit: removes the tables whose file numbers are in `removed` and adds `added`
   * at the level their `meta.level` names. The caller marks removed tables obsolete when no
   * manifest copy lists them any more.
   */
  apply(removed: ReadonlySet<number>, added: readonly LiveTable[]): void {
    this.#generation++;
    const touched = new Set<number>();
    if (removed.size > 0) {
      for (let l = 0; l < this.#levels.length; l++) {
        const before = this.#levels[l]!;
        const after = before.filter((t) => !removed.has(t.meta.fileNumber));
        if (after.length !== before.length) {
          this.#levels[l] = after;
          touched.add(l);
        }
      }
    }
    for (const t of added) {
      while (this.#levels.length <= t.meta.level) {
        this.#levels.push([]);
        this.#orders.push("keys");
      }
      this.#levels[t.meta.level]!.push(t);
      touched.add(t.meta.level);
    }
    for (const l of touched) this.#orders[l] = orderLevel(this.#levels[l]!);
  }

  /** Replaces every table (a snapshot install); returns the old ones. */
  replaceAll(tables: readonly LiveTable[]): LiveTable[] {
    const old = this.all();
    this.#levels = [];
    this.#orders = [];
    this.apply(new Set(), tables);
    return old;
  }

  /**
   * The newest version of `key` in the tables, tombstones and expired entries included.
   * `hash` is `bloomHash(key)`, computed once for every table's filter.
   */
  find(key: Uint8Array, hash: number = bloomHash(key)): Entry | undefined {
    const levels = this.#levels;
    for (let l = 0; l < levels.length; l++) {
      const tables = levels[l]!;
      if (tables.length === 0) continue;
      const order = this.#orders[l]!;
      if (order === "keys") {
        const t = tables[coveringIndex(tables, key)];
        if (t !== undefined && compareBytes(key, t.meta.smallestKey) >= 0) {
          const e = t.table.getHashed(key, hash);
          if (e) return e;
        }
        continue;
      }
      let best: Entry | undefined;
      for (const t of tables) {
        if (compareBytes(key, t.meta.smallestKey) < 0) continue;
        if (compareBytes(key, t.meta.largestKey) > 0) continue;
        const e = t.table.getHashed(key, hash);
        if (!e) continue;
        if (order === "age") return e;
        if (best === undefined || e.seq > best.seq) best = e;
      }
      if (best) return best;
    }
    return undefined;
  }

  /** Tables of level `i` whose key range overlaps `[smallest, largest]`. */
  overlapping(i: number, smallest: Uint8Array, largest: Uint8Array): LiveTable[] {
    return this.level(i).filter((t) =>
      rangesOverlap(t.meta.smallestKey, t.meta.largestKey, smallest, largest)
    );
  }

  /** Takes a reference on `tables` (they stay open until `release`). */
  hold(tables: readonly LiveTable[]): void {
    for (const t of tables) t.refs++;
  }

  /** Drops a reference on each of `tables`, deleting those that became unused and obsolete. */
  release(tables: readonly LiveTable[]): void {
    for (const t of tables) {
      t.refs--;
      this.dropIfUnused(t);
    }
  }

  /** Marks `tables` obsolete (no manifest lists them) and deletes the unused ones. */
  retire(tables: readonly LiveTable[]): void {
    for (const t of tables) {
      t.obsolete = true;
      this.dropIfUnused(t);
    }
  }

  /** Deletes `t` if it is obsolete and unreferenced (once). */
  dropIfUnused(t: LiveTable): void {
    if (!t.obsolete || t.refs > 0) return;
    t.obsolete = false; // drop once
    this.#drop(t);
  }

  /** Closes every table (the database closes). */
  closeAll(): void {
    this.#generation++;
    for (const t of this.all()) t.table.close();
    this.#levels = [];
    this.#orders = [];
  }
}

/** Index of the first table whose largest key is >= `key` (`tables.length` when none). */
function coveringIndex(tables: readonly LiveTable[], key: Uint8Array): number {
  let lo = 0;
  let hi = tables.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareBytes(tables[mid]!.meta.largestKey, key) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
